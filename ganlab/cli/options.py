"""Every argument and option that more than one command takes, defined once, with its checks.

A command module imports what it needs from here, so `--device`, `--json`, a run argument or a
seed list reads, validates and fails the same way in every command: a usage mistake exits 2
(Typer's usage error, naming the flag), a runtime failure (GanlabError) exits 1 with one
paragraph and no traceback. Nothing here imports torch: `ganlab --help` stays fast.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from ganlab.errors import CheckpointError, GanlabError
from ganlab.io.runspec import RunSpec, is_spec


def choices(name: str, *values: str) -> type[Enum]:
    """A str Enum whose members are named by their values: an option Typer shows as a choice.

    The library modules own the lists; commands spell them here so that `ganlab --help` need
    not import torch (a test checks the two agree).
    """
    return Enum(name, {v: v for v in values}, type=str)


Device = choices("Device", "auto", "cpu", "cuda", "mps")  # core.device.DEVICES
ZDist = choices("ZDist", "uniform", "normal")  # core.seeds.Z_DISTS
Amp = choices("Amp", "auto", "off", "bf16", "fp16")  # core.amp.AMP_CHOICES
Arch = choices("Arch", "dcgan", "imagenet32")  # core.models.ARCHS
Mode = choices("Mode", "lerp", "slerp")  # experiments.interpolate.MODES
# core.recipes.RECIPES
Recipe = choices("Recipe", "paper", "averaged", "fast", "small-data", "regularized")
Loss = choices("Loss", "bce", "hinge", "lsgan")  # core.losses.LOSSES
SpectralNorm = choices("SpectralNorm", "none", "d", "g", "both")  # modelconfig.SPECTRAL_NORMS
Weights = choices("Weights", "auto", "ema", "raw")  # io.checkpoint.WEIGHTS


ARGV = "ganlab.argv"  # ctx.meta key: the command line, as `RootGroup` was given it


class RootGroup(TyperGroup):
    """The `ganlab` group. It keeps the arguments it was called with (in the context's meta,
    which every subcommand's context shares), so that a result can record the command line that
    made it (`provenance`). argv[0] is "ganlab" however it was called: the console script,
    `python -m ganlab` or a test's CliRunner."""

    def make_context(self, info_name, args, parent=None, **extra):
        argv = ["ganlab", *args]  # before parsing, which consumes `args`
        ctx = super().make_context(info_name, args, parent=parent, **extra)
        ctx.meta[ARGV] = argv
        return ctx


class ManyValuesCommand(TyperCommand):
    """A command whose `--images` takes several values after one flag: `--images a.jpg b.jpg`.

    Click gives an option one value per occurrence; this rewrites `--images a b` into
    `--images a --images b` before parsing, up to the next token that starts with "-" (name a
    file like "-a.jpg" as ./-a.jpg). Repeating the flag works too. Arguments go before it.
    """

    many = ("--images",)

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        return super().parse_args(ctx, spread_values(args, self.many))


def spread_values(args: Sequence[str], flags: Sequence[str]) -> list[str]:
    """`--images a b --x` -> `--images a --images b --x` for each of `flags` (see above)."""
    out: list[str] = []
    flag, given = None, 0
    for i, arg in enumerate(args):
        if arg == "--":
            out += args[i:]
            flag = None
            break
        if flag is not None and not arg.startswith("-"):
            out += [flag, arg]
            given += 1
            continue
        if flag is not None and given == 0:
            out.append(flag)  # no value: let Click say so
        flag = None
        if arg in flags:
            flag, given = arg, 0
        else:
            out.append(arg)
    if flag is not None and given == 0:
        out.append(flag)
    return out


# --- callbacks ------------------------------------------------------------------------------


def dataset_names() -> list[str]:
    from ganlab.data import DATASETS

    return sorted(DATASETS)


def check_dataset(value: Optional[str]) -> Optional[str]:
    if value is not None and value not in dataset_names():
        raise typer.BadParameter(
            f"unknown dataset {value!r}; choose one of {', '.join(dataset_names())}"
        )
    return value


def check_seeds(value: Optional[str]) -> Optional[str]:
    from ganlab.io.seedlist import parse_seeds

    if value is not None:
        try:
            parse_seeds(value)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from None
    return value


def check_image_size(value: Optional[int]) -> Optional[int]:
    if value is not None and (value < 16 or value > 256 or value & (value - 1)):
        raise typer.BadParameter(
            f"{value} is not a power of two from 16 to 256 (use 16, 32, 64, 128 or 256)"
        )
    return value


def check_channels(value: Optional[int]) -> Optional[int]:
    if value is not None and value not in (1, 3):
        raise typer.BadParameter(f"{value} channels: use 1 (grey) or 3 (RGB)")
    return value


def check_run(value: Optional[Path]) -> Optional[Path]:
    """An existing run directory or checkpoint file, or RUN:best / RUN:latest / RUN:STEP."""
    if value is None or RunSpec.parse(value).exists():
        return value
    raise typer.BadParameter(f"{str(value)!r} does not exist")


def check_checkpoint(value: Optional[str]) -> Optional[str]:
    if value is not None and not is_spec(value):
        raise typer.BadParameter(f"{value!r}: use latest, best or a step number")
    return value


def with_checkpoint(run: Path, checkpoint: Optional[str]) -> Path:
    """RUN and `--checkpoint SPEC` as the one path the library reads: RUN:SPEC."""
    try:
        return Path(str(RunSpec.parse(run).with_checkpoint(checkpoint)))
    except CheckpointError as e:
        raise typer.BadParameter(str(e).rstrip("."), param_hint="'--checkpoint'") from None


# --- shared arguments and options -----------------------------------------------------------

RunArg = Annotated[
    Path,
    typer.Argument(
        help="A run directory (its latest checkpoint), RUN:best (the lowest FID), RUN:STEP, or "
        "a checkpoint .pt file.",
        callback=check_run,
        show_default=False,
    ),
]
CheckpointOpt = Annotated[
    Optional[str],
    typer.Option(
        "--checkpoint",
        help="Which checkpoint of RUN: latest (default), best (the lowest FID, kept by `train "
        "--eval-every`) or a step number; the same as RUN:best.",
        callback=check_checkpoint,
        show_default=False,
    ),
]
RunOpt = Annotated[
    Path,
    typer.Option(
        "--run",
        help="The run directory whose concepts.json to use.",
        exists=True,
        show_default=False,
    ),
]
DataRootOpt = Annotated[
    Optional[Path],
    typer.Option(help="Directory holding the dataset in its published layout."),
]
RunDataRootOpt = Annotated[
    Optional[Path],
    typer.Option(
        help="Where the training data lies (default: the run's --data-root; built-in "
        "datasets need none)."
    ),
]
SplitOpt = Annotated[str, typer.Option(help="Dataset split.")]
CategoryOpt = Annotated[str, typer.Option(help="LSUN scene category.")]
ImageSizeOpt = Annotated[
    Optional[int],
    typer.Option(
        help="Image side in pixels, a power of two 16..256 (default: the dataset's).",
        callback=check_image_size,
    ),
]
ChannelsOpt = Annotated[
    Optional[int],
    typer.Option(help="1 (grey) or 3 (RGB) (default: the dataset's).", callback=check_channels),
]
DeviceOpt = Annotated[Device, typer.Option(help="Where the networks run.")]
AmpOpt = Annotated[
    Amp,
    typer.Option(
        help="Compute precision of the forward passes: auto (bf16 on a GPU that has it, or on a "
        "CPU with bf16 units where measured faster), off (float32), bf16, fp16 (CUDA)."
    ),
]
BatchOpt = Annotated[int, typer.Option(min=1, help="Images per forward pass.")]
ClassOpt = Annotated[
    Optional[str],
    typer.Option(
        "--class",
        help="For a class-conditional run (`train --conditional`): the class to render, by "
        "name (e.g. shirt) or index; an unknown name lists the run's classes.",
        show_default=False,
    ),
]
WeightsOpt = Annotated[
    Weights,
    typer.Option(
        help="Which G renders: auto (the averaged G if the run was trained with --ema, else "
        "the trained G), ema (the averaged G) or raw (the trained G).",
    ),
]
WorkersOpt = Annotated[
    int,
    typer.Option(min=0, help="Data loading processes for file datasets (LSUN, CelebA, folders)."),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the result as one JSON object on stdout.")
]


def num_option(default: int | str):
    """`-n/--num N`: seeds 0..N-1; `default` is what the command uses without it."""
    return Annotated[
        Optional[int],
        typer.Option("-n", "--num", min=1, help=f"Use seeds 0..N-1 (default: {default})."),
    ]


def seeds_option(what: str = "The seeds"):
    """`--seeds 0-15,100`: one reproducible z per seed, checked when parsed."""
    return Annotated[
        Optional[str],
        typer.Option(
            help=f"{what}, e.g. 0-15,100; each seed is one reproducible z.", callback=check_seeds
        ),
    ]


# --- cross-option checks --------------------------------------------------------------------


def seed_list(seeds: Optional[str], num: Optional[int], default: int) -> list[int]:
    """The seeds of `--seeds` or `-n` (0..N-1), or 0..default-1; both given is a usage error."""
    from ganlab.io.seedlist import parse_seeds

    if num is not None and seeds is not None:
        raise typer.BadParameter("give -n or --seeds, not both", param_hint="'--seeds'")
    return parse_seeds(seeds) if seeds is not None else list(range(num or default))


def check_out(
    out: str | Path, kinds: Sequence[str], json_out: bool = False, option: str = "--out"
) -> str:
    """Validate an output path against the kinds a command writes (see io.images.out_kind).

    Returns the kind. "-" (a PNG on stdout) and --json both want stdout: a usage error.
    """
    from ganlab.io.images import out_kind

    if str(out) == "-" and json_out:
        raise typer.BadParameter(
            f"{option} - already uses stdout for the PNG; drop --json", param_hint="'--json'"
        )
    try:
        return out_kind(str(out), kinds, option)
    except GanlabError as e:
        raise typer.BadParameter(str(e), param_hint=f"'{option}'") from None


def to_device(value: Device):
    """The torch.device for a --device choice (GanlabError when it is not available)."""
    from ganlab.core.device import resolve_device

    return resolve_device(value.value)


# --- output ---------------------------------------------------------------------------------


def user_errors(command):
    """Print a GanlabError as one paragraph on stderr and exit with its code, no traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except GanlabError as e:
            typer.echo(f"ganlab: error: {e}", err=True)
            raise typer.Exit(e.exit_code) from None

    return wrapper


def provenance() -> dict:
    """What the running command is and the command line that ran it, for its JSON result.

    Returns:
        {"kind": the command's path below `ganlab` ("sample", "concept mine"), "argv": the
        command line as a list, argv[0] "ganlab"}; {} outside a command (called from Python).
    """
    try:  # newer typer runs on its own copy of click
        from typer._click.globals import get_current_context
    except ImportError:
        from click import get_current_context

    ctx = get_current_context(silent=True)
    if ctx is None:
        return {}
    names, root = [], ctx
    while root.parent is not None:  # the root's own name is however the program was called
        names.append(root.info_name)
        root = root.parent
    argv = ctx.meta.get(ARGV) or ["ganlab", *sys.argv[1:]]  # not under RootGroup: sys.argv
    return {"kind": " ".join(reversed(names)), "argv": list(argv)}


def print_json(obj) -> None:
    """One JSON value on stdout, keys sorted. An object (a dataclass is converted) is a result:
    it also records its `kind` and `argv` (see `provenance`), so that a report reading it need
    not guess what made it. A list is printed as it is."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    if isinstance(obj, dict):
        mark = provenance()
        if clash := mark.keys() & obj.keys():
            raise ValueError(f"a result has its own {sorted(clash)}: print_json adds those")
        obj = {**obj, **mark}
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def report(result, json_out: bool, line: str | None) -> None:
    """A command's result: its warnings on stderr, then JSON on stdout or `line` on stderr."""
    for warning in getattr(result, "warnings", None) or []:
        typer.echo(f"ganlab: warning: {warning}", err=True)
    if json_out:
        print_json(result.to_dict() if hasattr(result, "to_dict") else result)
    elif line:
        typer.echo(line, err=True)
