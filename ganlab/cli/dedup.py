"""`ganlab dedup`: near-duplicates by semantic hashing (paper section 4.1.1)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ganlab.cli.options import (
    CategoryOpt,
    ChannelsOpt,
    DataRootOpt,
    Device,
    DeviceOpt,
    JsonOpt,
    QuietOpt,
    SplitOpt,
    WorkersOpt,
    check_out,
    report,
    to_device,
    user_errors,
)


@user_errors
def dedup_cli(
    dataset: Annotated[
        str,
        typer.Argument(
            help="Dataset to de-duplicate: lsun, celeba, imagenet, folder, or an in-memory one "
            "(digits, mnist, fashion-mnist, cifar10, svhn).",
            show_default=False,
        ),
    ],
    data_root: DataRootOpt = None,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="HDF5 file to write: groups, codes and the exclusion list that "
            "`ganlab train --exclude` reads.",
        ),
    ] = Path("dups.h5"),
    sheet: Annotated[
        Optional[Path],
        typer.Option(
            help="Contact sheet PNG of example groups, for a person to check (default: --out "
            "with .png)."
        ),
    ] = None,
    sheet_groups: Annotated[
        int, typer.Option(min=1, help="Groups on the contact sheet, one per row.")
    ] = 16,
    split: SplitOpt = "train",
    category: CategoryOpt = "bedroom",
    channels: ChannelsOpt = None,
    epochs: Annotated[int, typer.Option(min=1, help="Autoencoder epochs.")] = 8,
    train_images: Annotated[
        int,
        typer.Option(min=2, help="Random images the autoencoder is fitted on (held in memory)."),
    ] = 50_000,
    code_bits: Annotated[
        int, typer.Option(min=8, max=256, help="Code units, the hash length in bits (paper: 128).")
    ] = 128,
    threshold: Annotated[
        float,
        typer.Option(min=0.0, help="A bit is 1 when its unit's ReLU activation exceeds this."),
    ] = 0.0,
    probe: Annotated[
        int,
        typer.Option(
            min=0,
            max=4,
            help="Also look each image up with its N least-confident bits flipped "
            "(0: identical codes only, the paper's scheme).",
        ),
    ] = 1,
    seed: Annotated[int, typer.Option(min=0, help="Seeds the sample and the fit.")] = 0,
    batch_size: Annotated[int, typer.Option(min=2, help="Images per step.")] = 256,
    workers: WorkersOpt = 2,
    device: DeviceOpt = Device.auto,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Find near-duplicate images by semantic hashing (paper section 4.1.1).

    Trains the paper's 3072-128-3072 denoising, dropout-regularised ReLU autoencoder on 32x32
    centre crops, hashes every image by thresholding its code, and groups equal codes in a
    hash table (linear time). Interrupted? Run the same command again to resume.

    Examples:

      ganlab dedup lsun --data-root ~/data/lsun --out bedroom-dups.h5

      ganlab dedup fashion-mnist --out fm-dups.h5 --json

      ganlab train lsun --data-root ~/data/lsun --exclude bedroom-dups.h5
    """
    from ganlab.experiments.dedup import DedupConfig, dedup
    from ganlab.progress import Reporter

    if out.suffix.lower() not in (".h5", ".hdf5"):
        raise typer.BadParameter(f"{out} is not an .h5 file name", param_hint="'--out'")
    sheet = sheet if sheet is not None else out.with_suffix(".png")
    check_out(sheet, ("image",), option="--sheet")
    cfg = DedupConfig(
        code_bits=code_bits,
        threshold=threshold,
        probe=probe,
        epochs=epochs,
        train_images=train_images,
        batch_size=batch_size,
        seed=seed,
    )
    result = dedup(
        dataset,
        out,
        data_root=data_root,
        split=split,
        category=category,
        channels=channels,
        cfg=cfg,
        sheet=sheet,
        sheet_groups=sheet_groups,
        device=to_device(device),
        workers=workers,
        reporter=Reporter(quiet=quiet),
    )
    report(result, json_out, None)
