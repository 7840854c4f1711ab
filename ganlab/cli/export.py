"""`ganlab export`: parse and validate the options, then call `ganlab.experiments.export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ganlab.cli.options import (
    JsonOpt,
    RunArg,
    Weights,
    WeightsOpt,
    choices,
    report,
    user_errors,
)

Format = choices("Format", "torchscript", "onnx")  # experiments.export.FORMATS


@user_errors
def export_cli(
    run: RunArg,
    format: Annotated[
        Format,
        typer.Option(
            "--format",
            "-f",
            help="torchscript (.pt: torch.jit.load, no ganlab needed) or onnx (.onnx: "
            "onnxruntime and other runtimes; needs ganlab's onnx extra).",
        ),
    ] = Format.torchscript,
    out: Annotated[
        Optional[Path],
        typer.Option(
            "--out",
            "-o",
            help="G's file, .pt or .onnx (default: RUN/export/generator.pt or .onnx).",
            dir_okay=False,
        ),
    ] = None,
    with_discriminator: Annotated[
        bool,
        typer.Option(
            "--with-discriminator",
            help="Export D too, beside G (export/discriminator.pt; g.pt -> g-discriminator.pt).",
        ),
    ] = False,
    weights: WeightsOpt = Weights.auto,
    json_out: JsonOpt = False,
) -> None:
    """Export G (and D) in eval mode with nz, the z prior, the image size and the ganlab
    version as metadata. Each export is checked against `ganlab sample` on seeds 0-7.

    Examples:

      ganlab export runs/digits --format torchscript --out g.pt

      ganlab export runs/digits --format onnx --with-discriminator
    """
    from ganlab.errors import GanlabError
    from ganlab.experiments.export import check_out, export

    if out is not None:
        try:
            check_out(out, format.value)
        except GanlabError as e:
            raise typer.BadParameter(str(e), param_hint="'--out'") from None
    result = export(
        run, format.value, out=out, with_discriminator=with_discriminator, weights=weights.value
    )
    also = f" and D to {result.discriminator}" if result.discriminator else ""
    report(
        result,
        json_out,
        f"wrote G to {result.out}{also} ({format.value}; max |difference| from ganlab "
        f"sample {result.max_abs_error:.1e} on seeds 0-7)",
    )
