"""`ganlab sample`: render images from seeds (paper Figs. 2-3)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ganlab.cli.options import (
    BatchOpt,
    CheckpointOpt,
    ClassOpt,
    Device,
    DeviceOpt,
    JsonOpt,
    RunArg,
    Weights,
    WeightsOpt,
    check_out,
    choices,
    num_option,
    report,
    seed_list,
    seeds_option,
    to_device,
    user_errors,
    with_checkpoint,
)

SortBy = choices("SortBy", "d-score")  # experiments.sample.SORT_KEYS


@user_errors
def sample_cli(
    run: RunArg,
    checkpoint: CheckpointOpt = None,
    num: num_option(64) = None,
    seeds: seeds_option("Seeds to render") = None,
    out: Annotated[
        str,
        typer.Option(
            "--out",
            "-o",
            help="grid.png (also .jpg/.webp), a directory (one PNG per seed), "
            "samples.h5 / .npz (images, z, seeds), or - for a PNG on stdout.",
        ),
    ] = "samples.png",
    annotate: Annotated[bool, typer.Option(help="Print each tile's seed on the grid.")] = False,
    nrow: Annotated[Optional[int], typer.Option(min=1, help="Tiles per grid row.")] = None,
    device: DeviceOpt = Device.auto,
    batch_size: BatchOpt = 256,
    forget: Annotated[
        Optional[Path],
        typer.Option(
            help="Drop G's feature maps listed in a mask from `ganlab forget --save` (Fig. 6)."
        ),
    ] = None,
    latents: Annotated[
        Optional[Path],
        typer.Option(
            help="Render the z of a latents file (from `ganlab project`, or a samples .h5) "
            "instead of seeds.",
            show_default=False,
        ),
    ] = None,
    class_: ClassOpt = None,
    weights: WeightsOpt = Weights.auto,
    sort_by: Annotated[
        Optional[SortBy],
        typer.Option(
            help="d-score: order the images by D's probability of being real, highest first "
            "(the authors' ImageNet demo); --json reports each seed's score.",
            show_default=False,
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Render images from a trained generator (eval mode: an image depends only on its seed).

    Examples:

      ganlab sample runs/digits -n 64 --out grid.png

      ganlab sample runs/digits --seeds 0-15,100 --annotate --out grid.png

      ganlab sample runs/digits -n 1000 --out samples.h5

      ganlab sample runs/digits --seeds 7 --out - | display

      ganlab sample runs/faces --latents me.h5 --out me.png

      ganlab sample runs/authors-imagenet32 -n 400 --sort-by d-score --out sorted.png

      ganlab sample runs/fashion-cond --class shirt -n 16 --out shirts.png

      ganlab sample runs/fashion-cond -n 100 --out classes.png  (one row per class)

      ganlab sample runs/faces -n 64 --weights raw --out trained-g.png
    """
    from ganlab.experiments.sample import OUT_KINDS, sample

    run = with_checkpoint(run, checkpoint)
    check_out(out, OUT_KINDS, json_out)
    if latents is not None and (seeds is not None or num is not None):
        raise typer.BadParameter(
            "--latents renders every z in the file; drop --seeds / -n", param_hint="'--latents'"
        )
    result = sample(
        run,
        [] if latents is not None else seed_list(seeds, num, 64),
        out,
        annotate=annotate,
        nrow=nrow,
        device=to_device(device),
        batch_size=batch_size,
        forget=forget,
        latents=latents,
        class_=class_,
        sort_by=sort_by.value if sort_by else None,
        weights=weights.value,
    )
    report(
        result, json_out, None if out == "-" else f"wrote {result.count} image(s) to {result.out}"
    )
