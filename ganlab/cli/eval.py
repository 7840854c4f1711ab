"""`ganlab eval`: FID, KID, IS, precision/recall and nn-error of a run, with the protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ganlab.cli.options import (
    Amp,
    AmpOpt,
    BatchOpt,
    Device,
    DeviceOpt,
    JsonOpt,
    QuietOpt,
    RunArg,
    Weights,
    WeightsOpt,
    WorkersOpt,
    choices,
    num_option,
    print_json,
    to_device,
    user_errors,
)
from ganlab.core.metrics.registry import DEFAULT, METRICS, parse_metrics
from ganlab.errors import EvalError

NNSpace = choices("NNSpace", "pixel", "d-features")  # core.metrics.nnerror.SPACES
METRICS_HELP = (
    "Comma-separated: " + "; ".join(f"{m.name} ({m.help})" for m in METRICS.values()) + "."
)


def check_metrics(value: str) -> str:
    """--metrics against the registry: an unknown name is a usage error naming the choices."""
    try:
        return ",".join(parse_metrics(value))
    except EvalError as e:
        raise typer.BadParameter(str(e)) from None


def check_which(value: Optional[str]) -> Optional[str]:
    if value is not None and value not in ("latest", "best", "all") and not value.isdigit():
        raise typer.BadParameter(f"{value!r}: use latest, best, all or a step number")
    return value


@user_errors
def eval_cli(
    run: RunArg,
    checkpoint: Annotated[
        Optional[str],
        typer.Option(
            "--checkpoint",
            help="latest, best (the lowest FID `train --eval-every` kept), a step, or all (every "
            "kept checkpoint: a curve) (default: latest, or RUN:SPEC's).",
            callback=check_which,
            show_default=False,
        ),
    ] = None,
    metrics: Annotated[
        str,
        typer.Option(help=METRICS_HELP, callback=check_metrics),
    ] = ",".join(DEFAULT),
    num: num_option("50000, the standard protocol") = None,
    real_num: Annotated[
        int,
        typer.Option(
            min=2,
            help="Reference images: all of the split if it is smaller, else the first N of a "
            "fixed permutation.",
        ),
    ] = 50_000,
    reference: Annotated[
        Optional[str],
        typer.Option(
            help="The real images: a data set name, a folder of images or a `ganlab prepare` "
            ".h5 file (default: the run's own data set), at the run's size and channels.",
            show_default=False,
        ),
    ] = None,
    data_root: Annotated[
        Optional[Path],
        typer.Option(help="Where the reference data set lies (default: the run's)."),
    ] = None,
    split: Annotated[
        Optional[str],
        typer.Option(help="Reference split (default: the run's, e.g. train).", show_default=False),
    ] = None,
    inception_weights: Annotated[
        Optional[Path],
        typer.Option(
            help="The FID Inception weights file (default: $GANLAB_INCEPTION_WEIGHTS, then "
            "torch-fidelity's cache, downloaded there when online).",
            show_default=False,
        ),
    ] = None,
    cache_dir: Annotated[
        Optional[Path],
        typer.Option(
            help="Where reference features are cached (default: $GANLAB_CACHE_DIR or "
            "~/.cache/ganlab/reference).",
            show_default=False,
        ),
    ] = None,
    cache: Annotated[
        bool, typer.Option("--cache/--no-cache", help="Read and write the reference cache.")
    ] = True,
    nn_space: Annotated[
        NNSpace,
        typer.Option(
            help="nn-error's distance: pixel (the authors') or d-features (each checkpoint's "
            "D, every layer max-pooled to 4x4)."
        ),
    ] = NNSpace.pixel,
    device: DeviceOpt = Device.auto,
    amp: AmpOpt = Amp.auto,
    weights: WeightsOpt = Weights.auto,
    batch_size: BatchOpt = 128,
    workers: WorkersOpt = 2,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Score generated images against real ones: FID, KID, IS, precision/recall (torch-fidelity).

    The protocol is printed with the numbers: only numbers made the same way compare.

    Examples:

      ganlab eval runs/cifar10

      ganlab eval runs/cifar10 --checkpoint all -n 10000 --metrics fid,kid

      ganlab eval runs/cifar10:best --metrics fid,kid,is,pr --json

      ganlab eval runs/celeba --reference ~/data/celeba-64px.h5 --inception-weights inception.pth

      ganlab eval runs/mnist-cond --metrics nn-error -n 10000
    """
    from ganlab.experiments.eval import evaluate
    from ganlab.progress import Reporter

    reporter = Reporter(quiet=quiet)
    result = evaluate(
        run,
        checkpoint=checkpoint,
        metrics=tuple(metrics.split(",")),
        n=50_000 if num is None else num,
        real_n=real_num,
        reference=reference,
        data_root=data_root,
        split=split,
        inception_weights=inception_weights,
        cache_dir=cache_dir,
        use_cache=cache,
        device=to_device(device),
        batch_size=batch_size,
        workers=workers,
        reporter=reporter,
        nn_space=nn_space.value,
        amp=amp.value,
        weights=weights.value,
    )
    for warning in result.warnings:
        typer.echo(f"ganlab: warning: {warning}", err=True)
    if not quiet:
        _print_tables(result, str(run), reporter.console)
    if json_out:
        print_json(result.to_dict())


def _print_tables(result, run: str, console) -> None:
    """The scores and the protocol, for people, on stderr."""
    from rich.table import Table

    scores = Table(title=f"ganlab eval: {run}", title_justify="left")
    columns = [
        ("fid", "FID", "{:.3f}"),
        ("kid", "KID", "{:.5f}"),
        ("is", "IS", "{:.3f}"),
        ("precision", "precision", "{:.4f}"),
        ("recall", "recall", "{:.4f}"),
        ("nn_error", "nn-error", "{:.4f}"),
        ("nn_error_real", "nn-error (real)", "{:.4f}"),
    ]
    present = [c for c in columns if any(c[0] in r for r in result.results)]
    scores.add_column("step", justify="right")
    scores.add_column("checkpoint")
    for _, title, _ in present:
        scores.add_column(title, justify="right")
    for r in result.results:
        name = Path(r["checkpoint"]).name + "".join(f" ({p})" for p in r["pointers"])
        cells = []
        for key, _, fmt in present:
            cell = fmt.format(r[key])
            if f"{key}_std" in r:
                cell += " ± " + fmt.format(r[f"{key}_std"])
            cells.append(cell)
        scores.add_row(str(r["step"]), name, *cells)
    console.print(scores)

    p = result.protocol
    g = p["generated"]
    t = Table(title="protocol", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    t.add_row(
        "generated",
        f"{g['n']} images, seeds {g['seeds']}, z {g['z_dist']}, G ({g['weights']}) in "
        f"{g['generator']}, "
        f"{g['image_size']}px x {g['channels']} channel(s), {g['quantisation']}"
        + (f", {g['classes']}" if "classes" in g else ""),
    )
    if "nn_error" in p:
        nn = p["nn_error"]
        t.add_row(
            "nn-error",
            f"{nn['distance']} in {nn['space']} space; classifies {nn['test']}; reference: "
            f"{nn['reference']}",
        )
    if "extractor" not in p:  # nn-error alone: no Inception network
        console.print(t)
        return
    ref, ex = p["reference"], p["extractor"]
    t.add_row(
        "reference",
        f"{ref['n']} images of {ref['dataset']} {ref['split']} ({ref['subset']} of "
        f"{ref['split_size']}), {ref['image_size']}px x {ref['channels']} channel(s), "
        f"from {ref['source']}",
    )
    t.add_row(
        "reference cache",
        f"{ref['cache']} ({'reused' if ref['cached'] else 'written'})" if ref["cache"] else "off",
    )
    t.add_row("extractor", f"{ex['name']}, features {ex['features']}")
    t.add_row("weights", f"{ex['weights']} (SHA-256 {ex['weights_sha256']})")
    t.add_row(
        "standard",
        "yes: the published FID Inception weights"
        if p["standard"]
        else "NO: not the published Inception weights; not comparable with published numbers",
    )
    t.add_row("input", f"{ex['input']}; {ex['resize']}")
    if p["settings"]:
        t.add_row("settings", ", ".join(f"{k} {v}" for k, v in p["settings"].items()))
    t.add_row("versions", ", ".join(f"{k} {v}" for k, v in p["versions"].items()))
    console.print(t)
