"""Rendering latents with a trained G: the one forward pass every image-making command uses."""

from __future__ import annotations

import torch

from ganlab.errors import GanlabError
from ganlab.io.checkpoint import Checkpoint


@torch.no_grad()
def generate(
    ckpt: Checkpoint,
    z: torch.Tensor,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    mask=None,
) -> torch.Tensor:
    """Images (N, C, S, S) in [-1, 1] on the CPU for latents z (N, nz), G in eval mode.

    `mask`: a ganlab.io.masks.ForgetMask whose feature maps G drops (Fig. 6), or None.
    """
    if z.shape[1] != ckpt.model_config.nz:
        raise GanlabError(
            f"latents have {z.shape[1]} dimensions but {ckpt.path} was trained "
            f"with nz={ckpt.model_config.nz}."
        )
    g = ckpt.generator(device)
    if mask is not None:
        mask.apply(g)
    return torch.cat(
        [g(z[i : i + batch_size].to(device)).cpu() for i in range(0, len(z), batch_size)]
    )
