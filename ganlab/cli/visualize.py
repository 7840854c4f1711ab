"""`ganlab visualize`: guided backpropagation of D's features (paper Fig. 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ganlab.cli.options import (
    Device,
    DeviceOpt,
    JsonOpt,
    QuietOpt,
    RunArg,
    RunDataRootOpt,
    WorkersOpt,
    check_out,
    report,
    to_device,
    user_errors,
)


@user_errors
def visualize_cli(
    run: RunArg,
    data_root: RunDataRootOpt = None,
    features: Annotated[
        int, typer.Option(min=1, help="The first N features (channels) of the layer, one row each.")
    ] = 6,
    layer: Annotated[
        Optional[int],
        typer.Option(
            help="D's conv layer, 0 = first; negative counts from the last (default: the last, "
            "as in the paper)."
        ),
    ] = None,
    top: Annotated[
        int, typer.Option(min=1, help="Images per feature, strongest response first.")
    ] = 8,
    random_init: Annotated[
        bool,
        typer.Option(
            help="Use an untrained D of the same shape (the paper's random-filter baseline)."
        ),
    ] = False,
    with_images: Annotated[
        bool, typer.Option(help="Put each real image before its guided-backprop image.")
    ] = False,
    images: Annotated[
        int,
        typer.Option(
            min=0,
            help="Real images scanned for maximal responses, a seeded random subset (0: all).",
        ),
    ] = 20_000,
    seed: Annotated[
        int, typer.Option(min=0, help="Seeds the subset and the --random-init weights.")
    ] = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG to write.")] = Path("guided.png"),
    batch_size: Annotated[int, typer.Option(min=1, help="Images per step.")] = 256,
    workers: WorkersOpt = 2,
    device: DeviceOpt = Device.auto,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Guided backpropagation of D's features on their strongest real images (Fig. 5).

    Examples:

      ganlab visualize runs/bedrooms --data-root ~/data/lsun --out guided.png

      ganlab visualize runs/bedrooms --random-init --out guided-random.png

      ganlab visualize runs/digits --layer 1 --features 8 --with-images --out l1.png
    """
    from ganlab.experiments.visualize import visualize
    from ganlab.progress import Reporter

    check_out(out, ("image",))
    result = visualize(
        run,
        out,
        features=features,
        layer=layer,
        top=top,
        random_init=random_init,
        with_images=with_images,
        data_root=data_root,
        images=images,
        seed=seed,
        batch_size=batch_size,
        workers=workers,
        device=to_device(device),
        reporter=Reporter(quiet=quiet),
    )
    report(
        result,
        json_out,
        f"wrote {result.out}: {features} features of layer {result.layer} x "
        f"{top} images ({'random' if random_init else 'trained'} D)",
    )
