"""`ganlab interpolate`: latent walks (paper Fig. 4)."""

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
    Mode,
    RunArg,
    Weights,
    WeightsOpt,
    check_out,
    check_seeds,
    report,
    to_device,
    user_errors,
    with_checkpoint,
)


@user_errors
def interpolate_cli(
    run: RunArg,
    checkpoint: CheckpointOpt = None,
    rows: Annotated[
        Optional[int],
        typer.Option(min=1, help="Walks, one per grid row (default: 4, or from --seeds)."),
    ] = None,
    points: Annotated[
        Optional[int],
        typer.Option(
            min=2,
            help="Latent points each walk passes through (default: 9 as in the paper; with "
            "--seeds, their count / --rows).",
        ),
    ] = None,
    steps: Annotated[int, typer.Option(min=0, help="Frames between consecutive points.")] = 3,
    seeds: Annotated[
        Optional[str],
        typer.Option(
            help="The points, walk after walk (e.g. 3,17,42 is one walk through three seeds); "
            "the grid's knot tiles are exactly `ganlab sample --seeds` images "
            "(default: 0 .. rows*points-1).",
            callback=check_seeds,
        ),
    ] = None,
    images: Annotated[
        Optional[list[Path]],
        typer.Option(
            "--images",
            help="Walk between your own images instead of seeds: --images a.jpg b.jpg c.jpg "
            "(files or folders; each is projected as `ganlab project` does, the run's encoder "
            "included). One walk through all of them, or --points per walk.",
            show_default=False,
        ),
    ] = None,
    mode: Annotated[
        Optional[Mode],
        typer.Option(
            help="lerp: straight lines, right for the paper's uniform z (the cube holds every "
            "line between samples). slerp: great circles, right for --z-dist normal runs, "
            "where a straight line between two samples dips to ~0.7 of their norm, into "
            "space G never saw. (default: by the run's prior)",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        str,
        typer.Option(
            "--out", "-o", help="The grid: .png (or .webp/.jpg), or - for a PNG on stdout."
        ),
    ] = "interpolation.png",
    gif: Annotated[
        Optional[str],
        typer.Option(
            help="Also write an animation (.gif or .webp): frame j shows frame j of every walk."
        ),
    ] = None,
    fps: Annotated[
        float, typer.Option(min=0.1, max=100, help="Animation frames per second.")
    ] = 12.0,
    annotate: Annotated[bool, typer.Option(help="Print each point's seed on its tile.")] = False,
    device: DeviceOpt = Device.auto,
    batch_size: BatchOpt = 256,
    class_: ClassOpt = None,
    weights: WeightsOpt = Weights.auto,
    json_out: JsonOpt = False,
) -> None:
    """Walk through latent space between seeded points (paper Fig. 4).

    Smooth transitions show that G has learned a continuous space, not memorised images.

    Examples:

      ganlab interpolate runs/digits --rows 4 --out walk.png --gif walk.gif

      ganlab interpolate runs/digits --seeds 3,17,42 --steps 7 --out walk.png

      ganlab interpolate runs/faces --seeds 0-17 --rows 2 --mode slerp

      ganlab interpolate runs/faces --images me.jpg you.jpg --steps 7 --out us.png

      ganlab interpolate runs/fashion-cond --class sneaker --rows 2 --out sneakers.png
    """
    from ganlab.experiments.interpolate import interpolate
    from ganlab.io.seedlist import parse_seeds

    run = with_checkpoint(run, checkpoint)
    check_out(out, ("image", "stdout"), json_out)
    if images:
        if seeds is not None or rows is not None:
            raise typer.BadParameter(
                "--images are the walk's points: drop --seeds and --rows (--points splits the "
                "images into walks)",
                param_hint="'--images'",
            )
        seed_list, points = [], points or 0
    elif seeds is None:
        rows, points = rows or 4, points or 9
        seed_list = list(range(rows * points))
    else:
        seed_list = parse_seeds(seeds)
        n = len(seed_list)
        if points is None:
            points = n // (rows or 1)
        if points < 2 or n % points or (rows is not None and rows * points != n):
            raise typer.BadParameter(
                f"{n} seed(s) do not make {rows or 'whole'} walk(s) of {points} points; give "
                "rows * points seeds, or only one of --rows / --points",
                param_hint="'--seeds'",
            )
    result = interpolate(
        run,
        seed_list,
        points,
        steps,
        out,
        mode=mode.value if mode else None,
        gif=gif,
        fps=fps,
        annotate=annotate,
        device=to_device(device),
        batch_size=batch_size,
        images=images or (),
        class_=class_,
        weights=weights.value,
    )
    anim = f" and {result.gif}" if result.gif else ""
    line = (
        f"wrote {len(result.rows)} {result.mode} walk(s) of {result.frames_per_row} frames "
        f"to {result.out}{anim}"
    )
    report(result, json_out, None if out == "-" else line)
