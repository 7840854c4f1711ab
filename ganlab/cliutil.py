"""Shared pieces of ganlab's Typer commands: option types, validators, error handling.

Each experiment's command lives beside its library module (e.g. ``cli_latent.py``) and is
registered on the app in ``cli.py``; they share these helpers.
"""

from __future__ import annotations

import functools
import json
import sys
from enum import Enum
from typing import Optional

import typer

from ganlab.errors import GanlabError


def choices(name: str, *values: str) -> type[Enum]:
    """A str Enum whose members are named by their values: an option Typer shows as a choice.

    The library modules own the lists; commands spell them here so that `ganlab --help` need
    not import torch (a test checks the two agree).
    """
    return Enum(name, {v: v for v in values}, type=str)


Device = choices("Device", "auto", "cpu", "cuda", "mps")
ZDist = choices("ZDist", "uniform", "normal")  # seeds.Z_DISTS
Amp = choices("Amp", "off", "bf16", "fp16")  # "off" + step.AMP_DTYPES
Arch = choices("Arch", "dcgan", "imagenet32")  # models.ARCHS


def check_seeds(value: Optional[str]) -> Optional[str]:
    from ganlab.seeds import parse_seeds
    if value is not None:
        try:
            parse_seeds(value)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from None
    return value


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


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()
