"""Reading a file that `torch.save` wrote, without running code from it, in ganlab's own words.

Checkpoints, encoders, the dedup autoencoder and Inception weights all load through
`load_tensor_file`: ``torch.load(weights_only=True)``, so a file can hold only tensors and
plain values. What goes wrong is said in one sentence that names the file and how to fix it,
never with PyTorch's advice to retry with ``weights_only=False`` (the unsafe load ganlab
refuses), and PyTorch's warnings about the pickle protocol of a foreign file stay off the
terminal.
"""

from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path

import torch

from ganlab.errors import GanlabError


def load_tensor_file(
    path: str | Path, what: str, error: type[GanlabError] = GanlabError, hint: str = ""
):
    """The object a `torch.save` file holds, loaded with tensors and plain values only.

    Args:
        path: the file.
        what: what the file should be, for the message ("checkpoint", "Inception weights").
        error: the GanlabError subclass to raise.
        hint: a sentence to end the message with: how to get a good file.
    Returns:
        The loaded object (on the CPU).
    Raises:
        error: the file is missing, not a `torch.save` file (a plain pickle, other bytes),
            truncated, or holds Python objects that would need code to unpickle.
    """
    path = Path(path)
    tail = f" {hint}" if hint else ""
    if not path.is_file():
        raise error(f"{what} {path} does not exist.{tail}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4 in the checkpoint"
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        refused = _refused_global(e)
        if refused is not None:
            raise error(
                f"refused to load {what} {path}: it contains Python objects that would need "
                f"arbitrary code to unpickle ({refused}); ganlab loads only tensors and plain "
                f"values.{tail}"
            ) from None
        raise error(f"cannot read {what} {path}: {_not_readable(path)}.{tail}") from None
    except Exception:  # noqa: BLE001  any failure on foreign bytes (KeyError, EOFError...)
        raise error(f"cannot read {what} {path}: {_not_readable(path)}.{tail}") from None


def _not_readable(path: Path) -> str:
    """Why a file did not load, from its bytes, not from PyTorch's message."""
    if path.stat().st_size == 0:
        return "the file is empty"
    if zipfile.is_zipfile(path):
        return "the file is truncated or corrupt"
    with open(path, "rb") as f:
        head = f.read(2)
    if head[:1] == b"\x80":  # a pickle's PROTO opcode: pickled by Python, not by torch.save
        return "it is a plain Python pickle, not a file written by torch.save"
    return "the file is truncated or corrupt, or not a file written by torch.save"


def _refused_global(e: BaseException) -> str | None:
    """The 'Unsupported global: GLOBAL os.system' part of torch's refusal, or None."""
    for line in str(e).splitlines():
        if "global" in line.lower():
            return line.strip()[:200]
    return None
