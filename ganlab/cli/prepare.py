"""`ganlab prepare`: decode a dataset once into an HDF5 cache."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganlab.cli.options import (
    CategoryOpt,
    ChannelsOpt,
    DataRootOpt,
    ImageSizeOpt,
    JsonOpt,
    QuietOpt,
    SplitOpt,
    check_dataset,
    report,
    user_errors,
)


@user_errors
def prepare_cli(
    dataset: Annotated[
        str,
        typer.Argument(
            help="Dataset to decode (any `ganlab train` dataset).",
            callback=check_dataset,
            show_default=False,
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="The HDF5 cache to write.", show_default=False)
    ],
    data_root: DataRootOpt = None,
    split: SplitOpt = "train",
    image_size: ImageSizeOpt = None,
    channels: ChannelsOpt = None,
    category: CategoryOpt = "bedroom",
    workers: Annotated[int, typer.Option(min=0, help="Decoding processes.")] = 2,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Decode, crop and resize a dataset once into an HDF5 cache for fast training.

    An interrupted prepare resumes when the same command is run again.

    Examples:

      ganlab prepare lsun --data-root /data/lsun --image-size 64 --out bedroom64.h5

      ganlab train lsun --data bedroom64.h5
    """
    from ganlab.experiments.prepare import prepare
    from ganlab.progress import Reporter

    result = prepare(
        dataset,
        out,
        data_root=data_root,
        split=split,
        image_size=image_size,
        channels=channels,
        category=category,
        workers=workers,
        reporter=Reporter(quiet=quiet),
    )
    report(result, json_out, None)
