"""The `ganlab` command line: parses and validates options, then calls one library function.

Conventions: logs and progress on stderr, machine output (--json, --out -) on stdout;
usage errors exit 2 (Typer reports them), runtime failures (GanlabError) exit 1 with one
paragraph and no traceback; an interrupted training run exits 130 after checkpointing.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ganlab import __version__
from ganlab.cliutil import Amp, Arch, Device, ZDist, check_seeds, print_json, user_errors

app = typer.Typer(
    name="ganlab", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="DCGAN (Radford, Metz & Chintala, 2016) and its experiments, from a laptop to a "
         "GPU cluster. Run `ganlab COMMAND --help` for each command's options and examples.")


def _dataset_names() -> list[str]:
    from ganlab.datasets import DATASETS
    return sorted(DATASETS)


def _check_image_size(value: Optional[int]) -> Optional[int]:
    if value is not None and (value < 16 or value > 256 or value & (value - 1)):
        raise typer.BadParameter(f"{value} is not a power of two from 16 to 256 "
                                 "(use 16, 32, 64, 128 or 256)")
    return value


def _check_lr(value: Optional[float]) -> Optional[float]:
    if value is not None and not value > 0:
        raise typer.BadParameter(f"{value} is not a positive learning rate (paper: 0.0002)")
    return value


def _check_beta(value: Optional[float]) -> Optional[float]:
    if value is not None and not 0 <= value < 1:
        raise typer.BadParameter(f"{value} is outside [0, 1) (paper: 0.5)")
    return value


def _check_dataset(value: Optional[str]) -> Optional[str]:
    if value is not None and value not in _dataset_names():
        raise typer.BadParameter(f"unknown dataset {value!r}; choose one of "
                                 f"{', '.join(_dataset_names())}")
    return value


@app.callback(invoke_without_command=True)
def _root(version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False
          ) -> None:
    if version:
        typer.echo(f"ganlab {__version__}")
        raise typer.Exit()


@app.command("train")
@user_errors
def train_cli(
    dataset: Annotated[Optional[str], typer.Argument(
        help="Dataset to train on: digits (built in), mnist, fashion-mnist, cifar10, svhn, "
             "lsun, celeba, imagenet, folder. Not needed with --resume.",
        callback=_check_dataset, show_default=False)] = None,
    data_root: Annotated[Optional[Path], typer.Option(
        help="Directory holding the dataset in its published layout.")] = None,
    data: Annotated[Optional[Path], typer.Option(
        help="Read a cache made by `ganlab prepare` instead of decoding --data-root "
             "(DATASET then only names the kind of data).", exists=True, dir_okay=False)
    ] = None,
    exclude: Annotated[Optional[Path], typer.Option(
        help="Leave out the near-duplicates listed in a file from `ganlab dedup` (made on "
             "the same dataset and split).")] = None,
    download: Annotated[bool, typer.Option(
        help="Download the dataset into --data-root if missing (mnist, fashion-mnist, "
             "cifar10, svhn).")] = False,
    category: Annotated[Optional[str], typer.Option(
        help="LSUN scene category (default: bedroom).")] = None,
    image_size: Annotated[Optional[int], typer.Option(
        help="Image side in pixels, a power of two 16..256 (default: the dataset's).",
        callback=_check_image_size)] = None,
    channels: Annotated[Optional[int], typer.Option(
        min=1, max=3, help="1 (grey) or 3 (RGB) (default: the dataset's).")] = None,
    arch: Annotated[Optional[Arch], typer.Option(
        help="dcgan (the paper's Fig. 1 shape) or imagenet32 (the authors' 32px ImageNet "
             "model for the probe: 6-layer D, 3x3 kernels; nz 256, ngf/ndf 128 unless given) "
             "(default: dcgan).")] = None,
    epochs: Annotated[Optional[int], typer.Option(
        min=1, help="Epochs from the start of the run (default: 25).")] = None,
    max_steps: Annotated[Optional[int], typer.Option(
        min=1, help="Stop at this optimizer step, counted from the start of the run.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(
        min=2, help="Minibatch size (default: 128).")] = None,
    lr: Annotated[Optional[float], typer.Option(
        callback=_check_lr, help="Adam learning rate (default: 0.0002).")] = None,
    beta1: Annotated[Optional[float], typer.Option(
        callback=_check_beta, help="Adam beta1, in [0, 1) (default: 0.5).")] = None,
    weight_decay: Annotated[Optional[float], typer.Option(
        min=0.0, help="L2 weight decay (default: 0).")] = None,
    nz: Annotated[Optional[int], typer.Option(min=1, help="Latent size (default: 100).")] = None,
    ngf: Annotated[Optional[int], typer.Option(min=1, help="G width (default: 64).")] = None,
    ndf: Annotated[Optional[int], typer.Option(min=1, help="D width (default: 64).")] = None,
    z_dist: Annotated[Optional[ZDist], typer.Option(
        help="Latent prior: uniform U(-1,1) (paper) or normal N(0,1) (default: uniform).")
    ] = None,
    out: Annotated[Optional[Path], typer.Option(
        help="Run directory to create (default: runs/DATASET-TIMESTAMP).")] = None,
    resume: Annotated[Optional[Path], typer.Option(
        exists=True, file_okay=False, help="Continue this run directory from its latest "
                                           "checkpoint; other options override its config.")
    ] = None,
    seed: Annotated[Optional[int], typer.Option(min=0, help="Random seed (default: 0).")] = None,
    device: Annotated[Optional[Device], typer.Option(help="(default: auto)")] = None,
    workers: Annotated[Optional[int], typer.Option(
        min=0, help="Data loading processes for file datasets (default: 2).")] = None,
    amp: Annotated[Optional[Amp], typer.Option(
        help="Mixed precision on CUDA (bf16 or fp16 with loss scaling); ignored on the CPU "
             "(default: off).")] = None,
    channels_last: Annotated[Optional[bool], typer.Option(
        "--channels-last/--no-channels-last",
        help="NHWC memory format for faster convolutions (default: on).")] = None,
    compile: Annotated[Optional[bool], typer.Option(
        "--compile/--no-compile", help="torch.compile both nets (default: off).")] = None,
    keep: Annotated[Optional[int], typer.Option(
        min=1, help="Checkpoints to keep (default: 3).")] = None,
    checkpoint_every: Annotated[Optional[int], typer.Option(
        min=0, help="Steps between mid-epoch checkpoints; 0 = epoch ends only "
                    "(default: 1000).")] = None,
    log_every: Annotated[Optional[int], typer.Option(
        min=1, help="Steps between metrics.jsonl records (default: 50).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print the final result as one JSON object on stdout.")] = False,
) -> None:
    """Train a DCGAN.

    Examples:

      ganlab train digits --epochs 20 --out runs/digits

      ganlab train lsun --data-root /data/lsun --category bedroom --image-size 64

      ganlab train --resume runs/digits --max-steps 2000

      torchrun --nproc_per_node 4 -m ganlab train lsun --data-root /data/lsun --amp bf16
    """
    from ganlab.config import TrainConfig
    from ganlab.progress import Reporter
    from ganlab.train import resume_config, train

    options = {
        "dataset": dataset, "data_root": str(data_root) if data_root else None,
        "data": str(data) if data else None, "exclude": str(exclude) if exclude else None,
        "download": download or None, "category": category, "image_size": image_size,
        "channels": channels, "arch": arch.value if arch else None, "epochs": epochs,
        "max_steps": max_steps, "batch_size": batch_size, "lr": lr, "beta1": beta1,
        "weight_decay": weight_decay, "nz": nz, "ngf": ngf, "ndf": ndf,
        "z_dist": z_dist.value if z_dist else None, "seed": seed,
        "device": device.value if device else None, "workers": workers, "keep": keep,
        "amp": amp.value if amp else None, "channels_last": channels_last, "compile": compile,
        "checkpoint_every": checkpoint_every, "log_every": log_every}
    if channels == 2:
        raise typer.BadParameter("use 1 (grey) or 3 (RGB)", param_hint="'--channels'")
    if resume is not None:
        if out is not None:
            raise typer.BadParameter("--resume continues the run in place; drop --out",
                                     param_hint="'--out'")
        cfg = resume_config(resume, options)
    else:
        if dataset is None:
            raise typer.BadParameter("name a dataset (e.g. `ganlab train digits`) or give "
                                     "--resume RUN_DIR", param_hint="'DATASET'")
        if options["arch"] == "imagenet32":  # the paper's probe model: one flag away
            for key, paper in (("nz", 256), ("ngf", 128), ("ndf", 128)):
                options[key] = options[key] or paper
        cfg = TrainConfig().replace(**{k: v for k, v in options.items() if v is not None})
    result = train(cfg, out=out, resume=resume, reporter=Reporter(quiet=quiet),
                   command=["ganlab", *sys.argv[1:]])
    if json_out:
        print_json(dataclasses.asdict(result))


@app.command("sample")
@user_errors
def sample_cli(
    run: Annotated[Path, typer.Argument(
        help="A run directory (uses its latest checkpoint) or a checkpoint .pt file.",
        exists=True, show_default=False)],
    num: Annotated[Optional[int], typer.Option(
        "-n", "--num", min=1, help="Render seeds 0..N-1 (default: 64).")] = None,
    seeds: Annotated[Optional[str], typer.Option(
        help="Seeds to render, e.g. 0-63,100. Each seed is one reproducible z.",
        callback=check_seeds)] = None,
    out: Annotated[str, typer.Option(
        "--out", "-o", help="grid.png (also .jpg/.webp), a directory (one PNG per seed), "
                            "samples.h5 / .npz (images, z, seeds), or - for a PNG on stdout.")
    ] = "samples.png",
    annotate: Annotated[bool, typer.Option(help="Print each tile's seed on the grid.")] = False,
    nrow: Annotated[Optional[int], typer.Option(min=1, help="Tiles per grid row.")] = None,
    device: Annotated[Device, typer.Option(help="Where G runs.")] = Device.auto,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per forward pass.")] = 256,
    forget: Annotated[Optional[Path], typer.Option(
        help="Drop G's feature maps listed in a mask from `ganlab forget --save` (Fig. 6).")
    ] = None,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print what was written as JSON on stdout.")] = False,
) -> None:
    """Render images from a trained generator (eval mode: an image depends only on its seed).

    Examples:

      ganlab sample runs/digits -n 64 --out grid.png

      ganlab sample runs/digits --seeds 0-15,100 --annotate --out grid.png

      ganlab sample runs/digits -n 1000 --out samples.h5

      ganlab sample runs/digits --seeds 7 --out - | display
    """
    from ganlab.sample import output_kind, sample
    from ganlab.seeds import parse_seeds
    from ganlab.train import resolve_device

    if num is not None and seeds is not None:
        raise typer.BadParameter("give -n or --seeds, not both", param_hint="'--seeds'")
    if out == "-" and json_out:
        raise typer.BadParameter("--out - already uses stdout for the PNG; drop --json",
                                 param_hint="'--json'")
    try:
        output_kind(out)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="'--out'") from None
    seed_list = parse_seeds(seeds) if seeds is not None else list(range(num or 64))
    result = sample(run, seed_list, out, annotate=annotate, nrow=nrow,
                    device=resolve_device(device.value), batch_size=batch_size, forget=forget)
    if json_out:
        print_json(dataclasses.asdict(result))
    elif out != "-":
        typer.echo(f"wrote {result.count} image(s) to {result.out}", err=True)


@app.command("prepare")
@user_errors
def prepare_cli(
    dataset: Annotated[str, typer.Argument(
        help="Dataset to decode (any `ganlab train` dataset).", callback=_check_dataset,
        show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="The HDF5 cache to write.",
                                      show_default=False)],
    data_root: Annotated[Optional[Path], typer.Option(
        help="Directory holding the dataset in its published layout.")] = None,
    split: Annotated[str, typer.Option(help="Split to prepare.")] = "train",
    image_size: Annotated[Optional[int], typer.Option(
        help="Image side, a power of two 16..256 (default: the dataset's).",
        callback=_check_image_size)] = None,
    channels: Annotated[Optional[int], typer.Option(
        min=1, max=3, help="1 (grey) or 3 (RGB) (default: the dataset's).")] = None,
    category: Annotated[str, typer.Option(help="LSUN scene category.")] = "bedroom",
    workers: Annotated[int, typer.Option(min=0, help="Decoding processes.")] = 2,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print the result as JSON on stdout.")] = False,
) -> None:
    """Decode, crop and resize a dataset once into an HDF5 cache for fast training.

    An interrupted prepare resumes when the same command is run again.

    Examples:

      ganlab prepare lsun --data-root /data/lsun --image-size 64 --out bedroom64.h5

      ganlab train lsun --data bedroom64.h5
    """
    from ganlab.prepare import prepare
    from ganlab.progress import Reporter

    if channels == 2:
        raise typer.BadParameter("use 1 (grey) or 3 (RGB)", param_hint="'--channels'")
    result = prepare(dataset, out, data_root=data_root, split=split, image_size=image_size,
                     channels=channels, category=category, workers=workers,
                     reporter=Reporter(quiet=quiet))
    if json_out:
        print_json(dataclasses.asdict(result))


def main() -> None:
    """Console entry point (`ganlab`, `python -m ganlab`)."""
    app(prog_name="ganlab")


# --- commands defined beside their experiments (one file each); registered here -------------
from ganlab import cli_latent  # noqa: E402  (latent walks, concepts, arithmetic: Figs. 4, 7, 8)

app.command("interpolate")(cli_latent.interpolate_cli)
app.command("arithmetic")(cli_latent.arithmetic_cli)
app.add_typer(cli_latent.concept_app, name="concept")

from ganlab import cli_probe  # noqa: E402  (D as a feature extractor: Tables 1-2)

app.command("probe")(cli_probe.probe_cli)

from ganlab import cli_inspect  # noqa: E402  (dedup, memorisation, guided backprop, forgetting)

app.command("dedup")(cli_inspect.dedup_cli)
app.command("neighbors")(cli_inspect.neighbors_cli)
app.command("visualize")(cli_inspect.visualize_cli)
app.command("forget")(cli_inspect.forget_cli)
