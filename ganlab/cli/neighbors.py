"""`ganlab neighbors`: is G copying its training set? (paper Figs. 2-3)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganlab.cli.options import (
    ClassOpt,
    Device,
    DeviceOpt,
    JsonOpt,
    QuietOpt,
    RunArg,
    RunDataRootOpt,
    Weights,
    WeightsOpt,
    WorkersOpt,
    check_out,
    num_option,
    print_json,
    seed_list,
    seeds_option,
    to_device,
    user_errors,
)


@user_errors
def neighbors_cli(
    run: RunArg,
    data_root: RunDataRootOpt = None,
    num: num_option(16) = None,
    seeds: seeds_option("Seeds of the samples") = None,
    k: Annotated[int, typer.Option("-k", min=1, help="Neighbours per space.")] = 5,
    reference: Annotated[
        int,
        typer.Option(
            min=2,
            help="Training images whose nearest other training image gives the "
            "train-to-train baseline.",
        ),
    ] = 500,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="PNG: one row per sample: sample | k pixel-space neighbours | "
            "k D-feature-space neighbours.",
        ),
    ] = Path("neighbors.png"),
    annotate: Annotated[
        bool, typer.Option(help="Print seeds and distances on tiles of 32 px and more.")
    ] = True,
    batch_size: Annotated[int, typer.Option(min=1, help="Training images per step.")] = 512,
    workers: WorkersOpt = 2,
    device: DeviceOpt = Device.auto,
    quiet: QuietOpt = False,
    class_: ClassOpt = None,
    weights: WeightsOpt = Weights.auto,
    json_out: JsonOpt = False,
) -> None:
    """Is G copying its training set? Nearest training images of samples (Figs. 2-3).

    Exact nearest neighbours in pixel space and in D's feature space over the whole training
    set, and the distance statistics: sample-to-train against train-to-train.

    Examples:

      ganlab neighbors runs/digits -n 16 --out nn.png

      ganlab neighbors runs/bedrooms --data-root ~/data/lsun --seeds 0-7 --json
    """
    from ganlab.experiments.neighbors import neighbors
    from ganlab.progress import Reporter

    check_out(out, ("image",))
    result = neighbors(
        run,
        seed_list(seeds, num, 16),
        out,
        k=k,
        data_root=data_root,
        reference=reference,
        batch_size=batch_size,
        workers=workers,
        annotate=annotate,
        device=to_device(device),
        reporter=Reporter(quiet=quiet),
        class_=class_,
        weights=weights.value,
    )
    if json_out:
        print_json(result)
        return
    for space, s in result.stats.items():
        st, tt = s["sample_to_train"], s["train_to_train"]
        typer.echo(
            f"{space}: sample->train nearest median {st['median']:.4f} (min "
            f"{st['min']:.4f}); train->train nearest median {tt['median']:.4f} (p01 "
            f"{tt['p01']:.4f}); {s['samples_below_train_p01']:.0%} of samples nearer "
            "than 99% of training pairs",
            err=True,
        )
    typer.echo(f"wrote {result.out}", err=True)
