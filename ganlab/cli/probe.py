"""`ganlab probe`: D as a feature extractor (paper Tables 1-2); parse, call the probe, print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ganlab.cli.options import (
    Amp,
    AmpOpt,
    Device,
    DeviceOpt,
    JsonOpt,
    QuietOpt,
    check_dataset,
    check_run,
    choices,
    print_json,
    user_errors,
)

BnStats = choices("BnStats", "recompute", "running")  # probe.BN_MODES
Classifier = choices("Classifier", "svm", "logreg")  # svm.CLASSIFIER_LOSS
Solver = choices("Solver", "torch", "sklearn")  # svm.SOLVERS
Protocol = choices("Protocol", "cifar10", "svhn")  # probe.PROTOCOLS
Dtype = choices("Dtype", "float32", "float16")  # featstore.DTYPES


def parse_layers(value: Optional[str]) -> Optional[tuple[int, ...]]:
    """'0,2-4' -> (0, 2, 3, 4); 'all' or None -> None (every layer)."""
    if value is None or value.strip().lower() == "all":
        return None
    out: list[int] = []
    try:
        for part in value.split(","):
            lo, _, hi = part.strip().partition("-")
            out += range(int(lo), int(hi) + 1) if hi else [int(lo)]
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a list of layer numbers like 0,1,2 or "
            "3-5 (0 is D's first conv layer), or all"
        ) from None
    if not out or min(out) < 0 or len(set(out)) != len(out):
        raise typer.BadParameter(f"{value!r}: give distinct layer numbers >= 0")
    return tuple(sorted(out))


def parse_cs(value: str) -> tuple[float, ...]:
    """'1e-4,1e-3' -> (0.0001, 0.001), each positive."""
    try:
        cs = tuple(float(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a comma-separated list of numbers like 1e-4,1e-3,1e-2"
        ) from None
    if not cs or any(not c > 0 or c == float("inf") for c in cs):
        raise typer.BadParameter(f"{value!r}: every C must be a positive number")
    return cs


@user_errors
def probe_cli(
    dataset: Annotated[
        Optional[str],
        typer.Argument(
            help="Labelled dataset to probe with: cifar10, svhn, digits, mnist, fashion-mnist, "
            "imagenet or folder (class subfolders) (default: the run's own dataset, or the "
            "features file's).",
            callback=check_dataset,
            show_default=False,
        ),
    ] = None,
    checkpoint: Annotated[
        Optional[Path],
        typer.Option(
            "--checkpoint",
            "-c",
            callback=check_run,
            help="Run directory (latest checkpoint), RUN:best, RUN:STEP or .pt file whose D "
            "extracts the features.",
        ),
    ] = None,
    data_root: Annotated[
        Optional[Path],
        typer.Option(help="Directory holding the probe dataset in its published layout."),
    ] = None,
    features: Annotated[
        Optional[Path],
        typer.Option(
            dir_okay=False,
            help="HDF5 feature store: reused when its attributes match, refused "
            "when they differ, written (resumably) when missing. Alone, "
            "fits from the file (default: a temporary file).",
        ),
    ] = None,
    dtype: Annotated[
        Optional[Dtype], typer.Option(help="Storage type of new features files (default: float32).")
    ] = None,
    layers: Annotated[
        Optional[str],
        typer.Option(
            help="D's conv layers to pool, e.g. 0,1,2 or 3-5 (0 = input side) (default: all)."
        ),
    ] = None,
    grid: Annotated[
        Optional[int],
        typer.Option(
            min=1, max=32, help="Max-pool each layer's map to GRID x GRID cells (default: 4)."
        ),
    ] = None,
    bn_stats: Annotated[
        Optional[BnStats],
        typer.Option(
            help="recompute: re-estimate BatchNorm statistics over the probe's training images "
            "(the authors' script); running: keep the ones saved by training "
            "(default: recompute)."
        ),
    ] = None,
    random_init: Annotated[
        bool,
        typer.Option(
            "--random-init",
            help="Use an untrained D (seeded by --seed): the baseline a trained D must beat. "
            "With -c it has the run's shape; without, the paper's D for DATASET: the 32x32 "
            "ImageNet D of Table 1 for cifar10 and imagenet, the authors' SVHN D for svhn, "
            "ganlab's default dcgan at the dataset's size otherwise.",
        ),
    ] = False,
    extract_only: Annotated[
        bool, typer.Option("--extract-only", help="Stop after writing --features.")
    ] = False,
    classifier: Annotated[
        Classifier,
        typer.Option(
            help="svm: one-vs-rest L2-SVM (squared hinge, the paper's); logreg: logistic."
        ),
    ] = Classifier.svm,
    solver: Annotated[
        Solver,
        typer.Option(
            help="torch: batched Newton-CG on the device (fast); sklearn: liblinear "
            "(LinearSVC), the reference; same objective."
        ),
    ] = Solver.torch,
    cs: Annotated[
        str,
        typer.Option(
            "--C",
            help="C values searched on the validation split (upwards; the cifar10 "
            "protocol stops after two values in a row score no better than the best).",
        ),
    ] = "1e-5,1e-4,1e-3,1e-2",
    standardize: Annotated[
        bool,
        typer.Option(
            help="Standardise each feature with the training set's mean and std, instead of "
            "dividing all by one global scale (measured: no gain on Fashion-MNIST, 2 points "
            "lost on the digits)."
        ),
    ] = False,
    protocol: Annotated[
        Optional[Protocol],
        typer.Option(
            help="cifar10: validation split for C, refit on all training data, test once; svhn: "
            "class-balanced label draws, mean test error +- 1.96 std (default: svhn for "
            "svhn, cifar10 otherwise)."
        ),
    ] = None,
    train_per_class: Annotated[
        Optional[int],
        typer.Option(
            min=1,
            help="Labels per class for each draw (Table 1's 400 column: 400; svhn: "
            "100 = 1000 labels) (default: all for cifar10, 100 for svhn).",
        ),
    ] = None,
    val_size: Annotated[
        Optional[int],
        typer.Option(
            min=1,
            help="Validation examples held out of the training set (default: 10000 for "
            "svhn, 10% otherwise).",
        ),
    ] = None,
    draws: Annotated[
        Optional[int],
        typer.Option(
            min=1,
            help="Label draws scored on the test set (default: svhn 100, --train-per-class 10).",
        ),
    ] = None,
    select_draws: Annotated[
        int, typer.Option(min=1, help="Label draws per C on the validation split.")
    ] = 10,
    seed: Annotated[int, typer.Option(min=0, help="Seeds splits, draws and --random-init.")] = 0,
    device: DeviceOpt = Device.auto,
    amp: AmpOpt = Amp.auto,
    batch_size: Annotated[
        int,
        typer.Option(
            min=1,
            help="Images per forward pass (BatchNorm statistics always use minibatches "
            "of 128, the paper's).",
        ),
    ] = 128,
    workers: Annotated[
        int, typer.Option(min=0, help="Loader processes for file-backed datasets.")
    ] = 2,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Score D's pooled conv features with a linear L2-SVM (paper section 5, Tables 1-2).

    Examples:

      ganlab probe digits -c runs/digits

      ganlab probe digits -c runs/digits --random-init

      ganlab probe cifar10 --random-init --data-root ~/data

      ganlab probe cifar10 -c runs/imagenet32 --data-root ~/data --features cifar.h5

      ganlab probe cifar10 -c runs/imagenet32 --data-root ~/data --train-per-class 400

      ganlab probe svhn -c runs/svhn --data-root ~/data/svhn --json

      ganlab probe --features cifar.h5 --solver sklearn
    """
    from ganlab.experiments.probe import ProbeConfig, probe
    from ganlab.progress import Reporter

    if extract_only and features is None:
        raise typer.BadParameter(
            "--extract-only writes the features to --features FILE.h5; add it",
            param_hint="'--extract-only'",
        )
    if checkpoint is None and features is None and not random_init:
        raise typer.BadParameter(
            "give --checkpoint RUN to extract D's features, --random-init for an untrained "
            "D of the paper's shape, or --features FILE.h5 to fit from stored ones",
            param_hint="'--checkpoint'",
        )
    cfg = ProbeConfig(
        dataset=dataset,
        checkpoint=str(checkpoint) if checkpoint else None,
        data_root=str(data_root) if data_root else None,
        features=str(features) if features else None,
        layers=parse_layers(layers),
        grid=grid,
        bn_stats=bn_stats.value if bn_stats else None,
        random_init=random_init,
        dtype=dtype.value if dtype else None,
        extract_only=extract_only,
        classifier=classifier.value,
        solver=solver.value,
        Cs=parse_cs(cs),
        standardize=standardize,
        protocol=protocol.value if protocol else None,
        train_per_class=train_per_class,
        val_size=val_size,
        draws=draws,
        select_draws=select_draws,
        seed=seed,
        device=device.value,
        amp=amp.value,
        batch_size=batch_size,
        workers=workers,
    )
    reporter = Reporter(quiet=quiet)
    result = probe(cfg, reporter)
    if not quiet:
        _print_table(result, reporter.console)
    if json_out:
        print_json(result.to_dict())


def _c_search_text(r) -> str:
    """One line per C: validation accuracy and what its fit cost, or that it was skipped."""
    from ganlab.experiments.probe.path import PATIENCE, cost_text

    lines = []
    for step in r.c_search:
        head = f"C={step['C']:<7g}"
        if step["skipped"]:
            lines.append(f"{head} skipped (validation accuracy fell for {PATIENCE} C in a row)")
            continue
        draws = f" ({step['draws']} draws)" if "draws" in step else ""
        lines.append(f"{head} val {step['val_accuracy']:.4f}{draws}  {cost_text(step)}")
    return "\n".join(lines)


def _print_table(r, console) -> None:
    """The result for people, on stderr."""
    from rich.table import Table

    from ganlab.experiments.probe.path import cost_text

    t = Table(title=f"ganlab probe: {r.dataset}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    src = "random-init D" if r.random_init else "trained D"
    t.add_row(
        "features",
        f"{r.feature_dim} dims ({src}, layers "
        f"{','.join(map(str, r.layers))}, grid {r.grid}, BatchNorm {r.bn_stats})",
    )
    if r.d_shape:
        t.add_row("D shape", r.d_shape)
    if r.features:
        t.add_row("features file", r.features + (" (reused)" if r.features_reused else ""))
    if r.test_accuracy is not None:
        p = r.protocol
        detail = (
            f"{p['train_per_class']} labels/class, {p['test_draws']} draws"
            if "train_per_class" in p
            else f"train {r.n_train}, refit {p['refit_size']}"
        )
        t.add_row("protocol", f"{p['name']} ({detail}; validation {r.n_val}; test {r.n_test})")
        t.add_row(
            "classifier",
            f"{r.classifier}, solver {r.solver}, features "
            + ("standardised" if r.standardize else "scaled by their RMS"),
        )
        t.add_row("C search", _c_search_text(r))
        if r.refit:
            t.add_row("refit", f"C={r.C:g} on {r.refit['rows']} rows: {cost_text(r.refit)}")
        t.add_row("chosen C", f"{r.C:g}")
        t.add_row("test accuracy", f"{100 * r.test_accuracy:.2f}%")
        err = f"{100 * r.test_error:.2f}%"
        if r.test_error_ci95 is not None:
            err += f" +- {100 * r.test_error_ci95:.2f}% (1.96 std over draws)"
        t.add_row("test error", err)
    t.add_row(
        "time", f"extract {r.extract_s:.1f}s, load {r.load_s:.1f}s, fit {r.fit_s:.1f}s ({r.device})"
    )
    console.print(t)
