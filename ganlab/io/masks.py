"""Forget masks (paper Fig. 6): the feature maps of one G layer that `ganlab forget` drops.

`ganlab forget --save mask.json` writes one; `ganlab sample --forget mask.json` applies it. The
file records the SHA-256 of the checkpoint it was fitted on and which of its G's (`--weights`:
"ema", the averaged G, or "raw", the trained one), and is refused for any other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from ganlab import __version__
from ganlab.errors import GanlabError
from ganlab.io.atomic import write_json
from ganlab.io.checkpoint import Checkpoint

MASK_FORMAT = "ganlab-forget-mask"
MASK_VERSION = 1


@dataclass
class ForgetMask:
    """Feature maps to zero in one hidden layer of G."""

    layer: int  # index into G.main of the ReLU whose output is masked
    channels: int  # maps in that layer
    dropped: list[int]  # the maps zeroed
    checkpoint_sha256: str  # the G the mask was fitted on
    weights: str | None = None  # which G of it: "ema" or "raw" (None: not recorded)

    def keep(self, device: str | torch.device = "cpu") -> torch.Tensor:
        """(1, channels, 1, 1): 0 for dropped maps, 1 elsewhere."""
        keep = torch.ones(1, self.channels, 1, 1, device=device)
        keep[0, self.dropped] = 0
        return keep


def save_mask(path: str | Path, mask: ForgetMask, ckpt: Checkpoint, extra: dict) -> None:
    """Write `mask` atomically, with its checkpoint and `extra` fields (how it was fitted)."""
    write_json(
        path,
        {
            "format": MASK_FORMAT,
            "format_version": MASK_VERSION,
            "ganlab_version": __version__,
            "checkpoint": str(ckpt.path),
            "checkpoint_sha256": mask.checkpoint_sha256,
            "step": ckpt.step,
            "layer": mask.layer,
            "channels": mask.channels,
            "dropped": mask.dropped,
            # "weights" is the fit's (the logistic regression's); this is which G
            **({"g_weights": mask.weights} if mask.weights else {}),
            **extra,
        },
    )


def load_mask(path: str | Path, ckpt: Checkpoint) -> ForgetMask:
    """Read a mask written by `ganlab forget --save` and check it fits `ckpt`.

    Raises:
        GanlabError: missing or malformed file, or a mask fitted on another checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise GanlabError(
            f"--forget {path} does not exist; write it with `ganlab forget RUN "
            "--boxes boxes.json --save mask.json`."
        )
    try:
        raw = json.loads(path.read_text())
        if raw.get("format") != MASK_FORMAT:
            raise ValueError(f"no '{MASK_FORMAT}' marker")
        mask = ForgetMask(
            layer=int(raw["layer"]),
            channels=int(raw["channels"]),
            dropped=[int(c) for c in raw["dropped"]],
            checkpoint_sha256=str(raw["checkpoint_sha256"]),
            weights=raw.get("g_weights") if raw.get("g_weights") in ("ema", "raw") else None,
        )
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise GanlabError(
            f"--forget {path} is not a mask written by `ganlab forget --save` ({e})."
        ) from None
    if mask.checkpoint_sha256 != ckpt.sha256():
        raise GanlabError(
            f"--forget {path} was fitted on another checkpoint "
            f"({raw.get('checkpoint')}); its feature maps mean nothing in "
            f"{ckpt.path}. Pass that checkpoint file, or fit a new mask."
        )
    if mask.weights is not None and mask.weights != ckpt.weights_used:
        raise GanlabError(
            f"--forget {path} was fitted on G with --weights {mask.weights}; this command "
            f"renders --weights {ckpt.weights_used}, whose feature maps differ. Pass --weights "
            f"{mask.weights}, or fit a new mask with --weights {ckpt.weights_used}."
        )
    return mask
