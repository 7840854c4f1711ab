"""`ganlab train`: parse and validate the options, then call `ganlab.core.train.train`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ganlab.cli.options import (
    Amp,
    Arch,
    ChannelsOpt,
    DataRootOpt,
    Device,
    ImageSizeOpt,
    JsonOpt,
    Loss,
    QuietOpt,
    Recipe,
    SpectralNorm,
    ZDist,
    check_dataset,
    check_seeds,
    provenance,
    report,
    user_errors,
)


def _check_lr(value: Optional[float]) -> Optional[float]:
    if value is not None and not value > 0:
        raise typer.BadParameter(f"{value} is not a positive learning rate (paper: 0.0002)")
    return value


def _check_eps(value: Optional[float]) -> Optional[float]:
    if value is not None and not value > 0:
        raise typer.BadParameter(f"{value} is not a positive epsilon (the authors' code: 1e-8)")
    return value


def _check_beta(value: Optional[float]) -> Optional[float]:
    if value is not None and not 0 <= value < 1:
        raise typer.BadParameter(f"{value} is outside [0, 1) (paper: 0.5)")
    return value


def _check_beta2(value: Optional[float]) -> Optional[float]:
    if value is not None and not 0 <= value < 1:
        raise typer.BadParameter(f"{value} is outside [0, 1) (Adam's default: 0.999)")
    return value


def _check_ema(value: Optional[float]) -> Optional[float]:
    if value is not None and not 0 <= value < 1:
        raise typer.BadParameter(
            f"{value} is not a decay rate: give a beta in [0, 1), e.g. 0.999 (the averaged G "
            "moves 1 - beta of the way to the trained G each step)"
        )
    return value


def _option_value(value):
    """A parsed option as a TrainConfig value: enums by value, paths as text, off flags unset."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return value


@user_errors
def train_cli(
    dataset: Annotated[
        Optional[str],
        typer.Argument(
            help="Dataset to train on: digits (built in), mnist, fashion-mnist, cifar10, svhn, "
            "lsun, celeba, imagenet, folder. Not needed with --resume.",
            callback=check_dataset,
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Optional[Path],
        typer.Option(
            help="Read the options from a TOML or JSON file (keys named like the options, e.g. "
            "batch-size = 64), or a run's config.json to repeat that run; options given here "
            "override the file.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    data_root: DataRootOpt = None,
    data: Annotated[
        Optional[Path],
        typer.Option(
            help="Read a cache made by `ganlab prepare` instead of decoding --data-root "
            "(DATASET then only names the kind of data).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    exclude: Annotated[
        Optional[Path],
        typer.Option(
            help="Leave out the near-duplicates listed in a file from `ganlab dedup` (made on "
            "the same dataset and split)."
        ),
    ] = None,
    download: Annotated[
        bool,
        typer.Option(
            help="Download the dataset into --data-root if missing (mnist, fashion-mnist, "
            "cifar10, svhn)."
        ),
    ] = False,
    category: Annotated[
        Optional[str], typer.Option(help="LSUN scene category (default: bedroom).")
    ] = None,
    split: Annotated[
        Optional[str],
        typer.Option(
            help="The dataset's split to train on, e.g. train, test, all (default: train)."
        ),
    ] = None,
    image_size: ImageSizeOpt = None,
    channels: ChannelsOpt = None,
    arch: Annotated[
        Optional[Arch],
        typer.Option(
            help="dcgan (the paper's Fig. 1 shape) or imagenet32 (the authors' 32px ImageNet "
            "model for the probe: 6-layer D, 3x3 kernels; nz 256, ngf/ndf 128 unless given) "
            "(default: dcgan)."
        ),
    ] = None,
    epochs: Annotated[
        Optional[int], typer.Option(min=1, help="Epochs from the start of the run (default: 25).")
    ] = None,
    max_steps: Annotated[
        Optional[int],
        typer.Option(min=1, help="Stop at this optimizer step, counted from the start of the run."),
    ] = None,
    batch_size: Annotated[
        Optional[int], typer.Option(min=2, help="Minibatch size (default: 128).")
    ] = None,
    lr: Annotated[
        Optional[float],
        typer.Option(callback=_check_lr, help="Adam learning rate (default: 0.0002)."),
    ] = None,
    beta1: Annotated[
        Optional[float],
        typer.Option(callback=_check_beta, help="Adam beta1, in [0, 1) (default: 0.5)."),
    ] = None,
    beta2: Annotated[
        Optional[float],
        typer.Option(callback=_check_beta2, help="Adam beta2, in [0, 1) (default: 0.999)."),
    ] = None,
    weight_decay: Annotated[
        Optional[float], typer.Option(min=0.0, help="L2 weight decay (default: 0).")
    ] = None,
    recipe: Annotated[
        Optional[Recipe],
        typer.Option(
            help="A named set of the options below (docs/recipes.md): paper (section 4: BCE, "
            "BatchNorm in D, one learning rate, no averaging), averaged (paper + --ema 0.999), "
            "fast (averaged + --batch-size 32 + --r1 0.1: four updates per 128 images, "
            "better images for the same images seen), "
            "small-data (averaged + DiffAugment, for a few thousand images) or regularized "
            "(averaged + --lr 1e-3 + --r1 0.1, for runs of several epochs at batch 128). "
            "Options given override the recipe's (default: paper).",
        ),
    ] = None,
    loss: Annotated[
        Optional[Loss],
        typer.Option(
            help="GAN loss: bce (the paper's, non-saturating G), hinge or lsgan (default: bce)."
        ),
    ] = None,
    spectral_norm: Annotated[
        Optional[SpectralNorm],
        typer.Option(
            help="Spectral normalisation of the conv layers of d (then D has no BatchNorm), g "
            "or both (default: none).",
        ),
    ] = None,
    ema: Annotated[
        Optional[float],
        typer.Option(
            callback=_check_ema,
            help="Keep an exponential moving average of G with this beta, e.g. 0.999 (with a "
            "warm-up); commands that render use it (--weights raw: the trained G) "
            "(default: off).",
        ),
    ] = None,
    lr_g: Annotated[
        Optional[float],
        typer.Option(callback=_check_lr, help="G's learning rate (TTUR) (default: --lr)."),
    ] = None,
    lr_d: Annotated[
        Optional[float],
        typer.Option(callback=_check_lr, help="D's learning rate (TTUR) (default: --lr)."),
    ] = None,
    d_steps: Annotated[
        Optional[int],
        typer.Option(
            min=1,
            help="D updates per G update, each on the step's real batch with fresh noise "
            "(default: 1).",
        ),
    ] = None,
    diffaug: Annotated[
        Optional[str],
        typer.Option(
            help="DiffAugment for everything D sees, real and generated, in both steps: a "
            "comma list of color, translation, cutout (default: none).",
        ),
    ] = None,
    r1: Annotated[
        Optional[float],
        typer.Option(
            min=0.0,
            help="R1 gradient penalty gamma on real images, applied every 16 steps "
            "(default: 0, off).",
        ),
    ] = None,
    nz: Annotated[
        Optional[int],
        typer.Option(min=1, help="Latent size (default: 100; 256 with --arch imagenet32)."),
    ] = None,
    ngf: Annotated[
        Optional[int],
        typer.Option(min=1, help="G width (default: 64; 128 with --arch imagenet32)."),
    ] = None,
    ndf: Annotated[
        Optional[int],
        typer.Option(min=1, help="D width (default: 64; 128 with --arch imagenet32)."),
    ] = None,
    z_dist: Annotated[
        Optional[ZDist],
        typer.Option(
            help="Latent prior: uniform U(-1,1) (paper) or normal N(0,1) (default: uniform)."
        ),
    ] = None,
    conditional: Annotated[
        Optional[bool],
        typer.Option(
            "--conditional/--no-conditional",
            help="Class-conditional G and D, as the paper's appendix MNIST model: the label "
            "goes to every layer of both nets. Needs a labelled dataset (digits, mnist, "
            "fashion-mnist, cifar10, svhn, imagenet, a folder of class subfolders); sample a "
            "class with `ganlab sample RUN --class NAME` (default: off).",
        ),
    ] = None,
    kernel_size: Annotated[
        Optional[int],
        typer.Option(
            min=3,
            max=5,
            help="Kernel size of the dcgan convs: 4 (pytorch/examples), 5 (the paper's Fig. 1 "
            "and the authors' SVHN model) or 3 (default: 4; imagenet32 is 3x3).",
        ),
    ] = None,
    g_dense: Annotated[
        Optional[bool],
        typer.Option(
            "--g-dense/--no-g-dense",
            help="G's first layer as the authors' code: a dense nz -> 4x4xw layer with "
            "BatchNorm per unit, not per channel (default: off).",
        ),
    ] = None,
    bn_eps: Annotated[
        Optional[float],
        typer.Option(
            callback=_check_eps, help="BatchNorm epsilon (default: 1e-5; the authors' 1e-8)."
        ),
    ] = None,
    out: Annotated[
        Optional[Path],
        typer.Option(help="Run directory to create (default: runs/DATASET-TIMESTAMP)."),
    ] = None,
    resume: Annotated[
        Optional[Path],
        typer.Option(
            exists=True,
            file_okay=False,
            help="Continue this run directory from its latest "
            "checkpoint; other options override its config.",
        ),
    ] = None,
    seed: Annotated[Optional[int], typer.Option(min=0, help="Random seed (default: 0).")] = None,
    device: Annotated[Optional[Device], typer.Option(help="(default: auto)")] = None,
    workers: Annotated[
        Optional[int],
        typer.Option(min=0, help="Data loading processes for file datasets (default: 2)."),
    ] = None,
    amp: Annotated[
        Optional[Amp],
        typer.Option(
            help="Mixed precision: auto picks bf16 on a CUDA GPU that has it, and on a CPU with "
            "bf16 units (AMX, AVX512-BF16) where a short probe measures it faster; off is "
            "float32; bf16 forces it; fp16 (CUDA) adds loss scaling. The choice and its reason "
            "go into config.json (default: auto)."
        ),
    ] = None,
    channels_last: Annotated[
        Optional[bool],
        typer.Option(
            "--channels-last/--no-channels-last",
            help="NHWC memory format for faster convolutions (default: on).",
        ),
    ] = None,
    compile: Annotated[
        Optional[bool],
        typer.Option("--compile/--no-compile", help="torch.compile both nets (default: off)."),
    ] = None,
    keep: Annotated[
        Optional[int], typer.Option(min=1, help="Checkpoints to keep (default: 3).")
    ] = None,
    checkpoint_every: Annotated[
        Optional[int],
        typer.Option(
            min=0, help="Steps between mid-epoch checkpoints; 0 = epoch ends only (default: 1000)."
        ),
    ] = None,
    log_every: Annotated[
        Optional[int],
        typer.Option(min=1, help="Steps between metrics.jsonl records (default: 50)."),
    ] = None,
    tensorboard: Annotated[
        Optional[bool],
        typer.Option(
            "--tensorboard/--no-tensorboard",
            help="Also write the metrics and grids to RUN/tb for TensorBoard (needs ganlab's "
            "tb extra, i.e. the tensorboard package) (default: off).",
        ),
    ] = None,
    grid_seeds: Annotated[
        Optional[str],
        typer.Option(
            callback=check_seeds,
            help="Seeds of the fixed-noise grid saved after each epoch, e.g. 0-63 (default: 0-63).",
        ),
    ] = None,
    eval_every: Annotated[
        Optional[int],
        typer.Option(
            min=0,
            help="Steps between FID/KID evaluations (logged as eval records in metrics.jsonl); "
            "the checkpoint with the lowest FID is kept as checkpoints/best (RUN:best). Needs "
            "ganlab's eval extra and the Inception weights (docs/evaluation.md) (default: 0, "
            "off).",
        ),
    ] = None,
    eval_n: Annotated[
        Optional[int],
        typer.Option(min=2, help="Generated images per evaluation, seeds 0..N-1 (default: 10000)."),
    ] = None,
    eval_real_n: Annotated[
        Optional[int],
        typer.Option(
            min=2,
            help="Reference images from the training split (all if it is smaller; cached) "
            "(default: 50000).",
        ),
    ] = None,
    inception_weights: Annotated[
        Optional[Path],
        typer.Option(
            help="The FID Inception weights file for --eval-every (default: "
            "$GANLAB_INCEPTION_WEIGHTS, then torch-fidelity's cache).",
            show_default=False,
        ),
    ] = None,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Train a DCGAN.

    Examples:

      ganlab train digits --epochs 20 --out runs/digits

      ganlab train fashion-mnist --conditional --epochs 5 --out runs/fashion-cond

      ganlab train lsun --data-root /data/lsun --category bedroom --image-size 64

      ganlab train --resume runs/digits --max-steps 2000

      ganlab train --config runs/digits/config.json --seed 1 --out runs/digits-seed1

      ganlab train cifar10 --data-root ~/data --eval-every 5000 --eval-n 10000

      ganlab train folder --data-root ~/faces --recipe small-data --amp bf16

      torchrun --nproc_per_node 4 -m ganlab train lsun --data-root /data/lsun --amp bf16
    """
    params = dict(locals())  # every option as parsed, before anything else is bound
    from ganlab.core.config import new_config, option_names, read_config_file
    from ganlab.core.train import resume_config, train
    from ganlab.io.checkpoint import load_checkpoint
    from ganlab.progress import Reporter

    options = {k: _option_value(v) for k, v in params.items() if k in option_names()}
    if not download:  # a plain flag: only --download says anything
        options["download"] = None
    if resume is not None:
        if config is not None:
            raise typer.BadParameter(
                "--resume continues the run with its own config; drop --config (or start a "
                "new run from the file with --out)",
                param_hint="'--config'",
            )
        if out is not None:
            raise typer.BadParameter(
                "--resume continues the run in place; drop --out", param_hint="'--out'"
            )
        latest = load_checkpoint(resume)  # read once: checked here, restored by `train`
        cfg = resume_config(latest, options)
    else:
        from_file = read_config_file(config) if config is not None else {}
        if dataset is None and "dataset" not in from_file:
            raise typer.BadParameter(
                "name a dataset (e.g. `ganlab train digits`), or give --config FILE or "
                "--resume RUN_DIR",
                param_hint="'DATASET'",
            )
        cfg = new_config(options, from_file)
    result = train(
        cfg,
        out=out,
        resume=latest if resume is not None else None,
        reporter=Reporter(quiet=quiet),
        command=provenance()["argv"],
    )
    report(result, json_out, None)
