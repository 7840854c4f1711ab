"""`ganlab forget`: make G forget an object class (paper Fig. 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ganlab.cli.options import (
    Device,
    DeviceOpt,
    JsonOpt,
    RunArg,
    Weights,
    WeightsOpt,
    check_out,
    report,
    seeds_option,
    to_device,
    user_errors,
)


@user_errors
def forget_cli(
    run: RunArg,
    boxes: Annotated[
        Path,
        typer.Option(
            help="JSON: seed -> list of boxes (x0, y0, x1, y1 in sample pixels), e.g. "
            '{"7": [[10, 4, 30, 20]]}.',
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="PNG: the seeds as drawn (left, boxes in red) and with the maps dropped (right).",
        ),
    ] = Path("forget.png"),
    save: Annotated[
        Optional[Path],
        typer.Option(help="Write the dropped maps to this JSON, for `ganlab sample --forget`."),
    ] = None,
    top: Annotated[
        Optional[int],
        typer.Option(
            min=1,
            help="Drop only the K maps with the largest weights (default: every map "
            "with weight > 0).",
        ),
    ] = None,
    seeds: seeds_option("Seeds to render (default: the boxed ones)") = None,
    layer: Annotated[
        int,
        typer.Option(
            min=1, help="G's hidden layer counted from the top (2: the paper's second-highest)."
        ),
    ] = 2,
    draw_boxes: Annotated[bool, typer.Option(help="Outline the boxes on the left.")] = True,
    seed: Annotated[int, typer.Option(min=0, help="Seeds the negative positions.")] = 0,
    device: DeviceOpt = Device.auto,
    weights: WeightsOpt = Weights.auto,
    json_out: JsonOpt = False,
) -> None:
    """Make G forget what the boxes mark: drop the feature maps that predict it (Fig. 6).

    Examples:

      ganlab sample runs/bedrooms --seeds 0-149 --annotate --out pick.png   # draw boxes

      ganlab forget runs/bedrooms --boxes windows.json --save no-windows.json --out fig6.png

      ganlab sample runs/bedrooms -n 64 --forget no-windows.json --out grid.png
    """
    from ganlab.experiments.forget import forget
    from ganlab.io.seedlist import parse_seeds

    check_out(out, ("image",))
    result = forget(
        run,
        boxes,
        out,
        save=save,
        top=top,
        seeds=parse_seeds(seeds) if seeds is not None else None,
        layer_from_top=layer,
        draw_boxes=draw_boxes,
        seed=seed,
        device=to_device(device),
        weights=weights.value,
    )
    report(
        result,
        json_out,
        f"dropped {result.dropped} of {result.channels} maps; pixel change inside "
        f"the boxes / outside: {result.ratio:.2f} (as many random maps: "
        f"{result.random_ratio:.2f}); wrote {result.out}",
    )
