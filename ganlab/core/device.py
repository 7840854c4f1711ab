"""Where the networks run: one resolution of `--device` for every command."""

from __future__ import annotations

import torch

from ganlab.errors import GanlabError

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str) -> torch.device:
    """`auto` picks cuda, then mps, then cpu; an unavailable explicit device is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise GanlabError(
            "--device cuda was asked for but PyTorch sees no CUDA GPU here. Use "
            "--device cpu (or auto), or install a CUDA build of PyTorch."
        )
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise GanlabError(
            "--device mps was asked for but MPS is not available here. Use --device cpu or auto."
        )
    if name not in ("cpu", "cuda", "mps"):
        raise GanlabError(f"unknown --device {name!r}: use auto, cpu, cuda or mps.")
    return torch.device(name)
