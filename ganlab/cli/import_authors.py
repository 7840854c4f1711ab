"""`ganlab import authors`: the DCGAN authors' released models as ganlab runs.

The module is named for the command's two words (`import` alone is a Python keyword).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ganlab.cli.options import (
    Device,
    DeviceOpt,
    JsonOpt,
    QuietOpt,
    provenance,
    report,
    to_device,
    user_errors,
)

import_app = typer.Typer(
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Turn models trained elsewhere into ganlab run directories.",
)


@import_app.command("authors")
@user_errors
def import_authors_cli(
    folder: Annotated[
        Path,
        typer.Argument(
            exists=True,
            file_okay=False,
            help="One of the authors' model folders: N_gen_params.jl, N_discrim_params.jl and "
            "their .npy arrays (models/<name> in their repository).",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="The run directory to create (new or empty)."),
    ],
    epoch: Annotated[
        Optional[int],
        typer.Option(min=0, help="Saved epoch to import (default: the latest in the folder)."),
    ] = None,
    bn_batches: Annotated[
        int,
        typer.Option(
            min=1,
            help="Batches of 128 generated images over which G's and D's BatchNorm statistics "
            "are estimated (the files hold none).",
        ),
    ] = 20,
    seed: Annotated[
        int, typer.Option(min=0, help="Seeds the z of those batches (same seed, same run).")
    ] = 0,
    device: DeviceOpt = Device.auto,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Convert the authors' released SVHN or 32x32 ImageNet G and D into a run.

    The .jl index files are parsed, never unpickled; every array is read with
    allow_pickle=False and checked against the shape the model needs.
    config.json records the source folder, the epoch and each file's SHA256.
    sample, interpolate, arithmetic, probe and eval then work on the run.

    Examples:

      ganlab import authors
      models/svhn_unsup_all_conv_dcgan_100z_gaussian_lr_0.0005_64mb
      --out runs/authors-svhn

      ganlab import authors
      models/imagenet_gan_pretrain_128f_relu_lrelu_7l_3x3_256z
      --out runs/authors-imagenet32
    """
    from ganlab.experiments.import_authors import import_authors
    from ganlab.progress import Reporter

    result = import_authors(
        folder,
        out,
        epoch=epoch,
        bn_batches=bn_batches,
        seed=seed,
        device=to_device(device),
        reporter=Reporter(quiet=quiet),
        command=provenance()["argv"],
    )
    report(
        result,
        json_out,
        f"imported the authors' {result.model} model (epoch {result.epoch}, {result.files} "
        f"files) into {result.run_dir} in {result.seconds:.1f}s",
    )
