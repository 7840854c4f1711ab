"""G and D from a checkpoint: the one place a stored record becomes networks.

The storage layer (`ganlab.io.checkpoint`) reads and validates the record (tensors, the
ModelConfig); this module builds the nets that config describes and loads the weights.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ganlab.core.models import Discriminator, Generator
from ganlab.errors import CheckpointError
from ganlab.io.checkpoint import Checkpoint


def load_generator(ckpt: Checkpoint, device: str | torch.device = "cpu") -> Generator:
    """G with the checkpoint's weights, in eval mode (an image must not depend on its batch).

    The weights are the averaged G's where the run kept one (`--ema`), unless the command
    chose the trained G (`ckpt.use_weights("raw")`, a command's `--weights raw`)."""
    g = Generator(ckpt.model_config)
    _load_weights(g, ckpt.generator_weights(), "generator", ckpt.path)
    return g.to(device).eval()


def load_discriminator(ckpt: Checkpoint, device: str | torch.device = "cpu") -> Discriminator:
    """D with the checkpoint's weights, in eval mode."""
    d = Discriminator(ckpt.model_config)
    _load_weights(d, ckpt.state["discriminator"], "discriminator", ckpt.path)
    return d.to(device).eval()


def _load_weights(net: torch.nn.Module, weights: dict, name: str, path: Path) -> None:
    try:
        net.load_state_dict(weights)
    except RuntimeError as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise CheckpointError(
            f"the {name} weights in {path} do not fit the architecture its "
            f"config describes ({first}). The file was edited or "
            "written by an incompatible tool."
        ) from None
