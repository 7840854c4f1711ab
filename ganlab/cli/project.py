"""`ganlab project`: real images into z (GAN inversion), and the encoder that speeds it up."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ganlab.cli.options import (
    Amp,
    AmpOpt,
    ClassOpt,
    Device,
    DeviceOpt,
    JsonOpt,
    QuietOpt,
    RunArg,
    Weights,
    WeightsOpt,
    check_out,
    report,
    to_device,
    user_errors,
)

SHOWN = 20  # images listed one per line without --json; more are summarised


def _check_lr(value: float) -> float:
    if not value > 0:
        raise typer.BadParameter(f"{value} is not a positive learning rate")
    return value


@user_errors
def project_cli(
    run: RunArg,
    images: Annotated[
        Optional[list[str]],
        typer.Argument(
            help="Image files, folders of them, or one dataset name (e.g. fashion-mnist, with "
            "--split / -n / --data-root).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="The latents file (.h5): z, sources, losses.")
    ] = Path("latents.h5"),
    grid: Annotated[
        Optional[Path],
        typer.Option(help="Also write a grid (.png): each original over its reconstruction."),
    ] = None,
    data_root: Annotated[
        Optional[Path],
        typer.Option(help="Where the named dataset lies (default: the run's, for its dataset)."),
    ] = None,
    split: Annotated[
        Optional[str],
        typer.Option(help="Split of the named dataset (default: test where it has one)."),
    ] = None,
    num: Annotated[
        Optional[int],
        typer.Option("-n", "--num", min=1, help="The dataset's first N images (default: 64)."),
    ] = None,
    steps: Annotated[int, typer.Option(min=0, help="Optimisation steps (0: best start).")] = 200,
    lr: Annotated[
        float, typer.Option(callback=_check_lr, help="Adam learning rate, decayed to 0.")
    ] = 0.1,
    restarts: Annotated[
        int, typer.Option(min=0, help="Seeded random starts; the best one is optimised.")
    ] = 32,
    seed: Annotated[
        int,
        typer.Option(min=0, help="Picks the restart seeds: SEED*RESTARTS .. +RESTARTS-1."),
    ] = 0,
    feature_weight: Annotated[
        float,
        typer.Option(min=0.0, help="Weight of D's feature distance beside the pixel distance."),
    ] = 0.1,
    encoder: Annotated[
        bool,
        typer.Option(
            "--encoder/--no-encoder",
            help="Also start from the run's encoder (RUN/encoder.pt), when it has one.",
        ),
    ] = True,
    train_encoder: Annotated[
        bool,
        typer.Option(
            "--train-encoder",
            help="First fit an encoder on G's samples and store it with the run.",
        ),
    ] = False,
    encoder_steps: Annotated[
        int, typer.Option(min=1, help="With --train-encoder: its Adam steps.")
    ] = 1000,
    device: DeviceOpt = Device.auto,
    amp: AmpOpt = Amp.auto,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Images optimised together (results do not change).")
    ] = 64,
    class_: ClassOpt = None,
    weights: WeightsOpt = Weights.auto,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Find the z whose image G(z) is closest to each real image (GAN inversion).

    Loss: pixel MSE + D's conv-feature distance (paper section 5), G and D in eval mode.

    z stays inside the run's prior; images are cropped and resized like its training images.

    --out gets z, the sources and the per-image errors: render it with `sample --latents`.

    Examples:

      ganlab project runs/faces me.jpg friends/ --out me.h5 --grid recon.png

      ganlab project runs/fashion fashion-mnist --split test -n 100 --json

      ganlab project runs/faces --train-encoder
    """
    from ganlab.core.projection import ProjectionConfig
    from ganlab.experiments.project import project_images
    from ganlab.experiments.project import train_encoder as fit
    from ganlab.progress import Reporter

    if not images and not train_encoder:
        raise typer.BadParameter(
            "name image files, folders or a dataset to project (or pass --train-encoder)",
            param_hint="'IMAGES...'",
        )
    if grid is not None:
        check_out(grid, ("image",), option="--grid")
    if train_encoder and not encoder:
        raise typer.BadParameter(
            "--train-encoder fits the encoder that --no-encoder leaves out; drop one",
            param_hint="'--no-encoder'",
        )
    dev = to_device(device)
    reporter = Reporter(quiet=quiet)
    fitted = (
        fit(run, steps=encoder_steps, device=dev, reporter=reporter, weights=weights.value)
        if train_encoder
        else None
    )
    if not images:
        report(fitted, json_out, f"stored the encoder in {fitted.path}")
        return
    result = project_images(
        run,
        images,
        out,
        data_root=data_root,
        split=split,
        num=num,
        config=ProjectionConfig(
            steps=steps,
            lr=lr,
            restarts=restarts,
            seed=seed,
            feature_weight=feature_weight,
            batch_size=batch_size,
            amp=amp.value,
        ),
        use_encoder=encoder,
        grid=grid,
        device=dev,
        reporter=reporter,
        class_=class_,
        weights=weights.value,
    )
    result.encoder_fit = fitted
    if json_out:
        report(result, True, None)
        return
    for warning in result.warnings:
        typer.echo(f"ganlab: warning: {warning}", err=True)
    for item in result.images[:SHOWN]:
        typer.echo(
            f"{item['source']}: pixel mse {item['pixel_mse']:.4f} (PSNR {item['psnr']:.1f} "
            f"dB), D-feature distance {item['feature_dist']:.3f}, from {item['start']}",
            err=True,
        )
    s = result.summary
    line = (
        f"projected {result.count} image(s) in {result.seconds:.1f} s: mean pixel mse "
        f"{s['pixel_mse']['mean']:.4f} (PSNR {s['psnr']['mean']:.1f} dB), mean D-feature "
        f"distance {s['feature_dist']['mean']:.3f}; wrote {result.out}"
        + (f" and {result.grid}" if result.grid else "")
    )
    typer.echo(line, err=True)
