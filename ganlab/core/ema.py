"""An exponential moving average of G's weights, `ganlab train --ema BETA` (Yazici et al. 2019,
"The Unusual Effectiveness of Averaging in GAN Training").

After every G update the averaged copy moves 1 - beta_t of the way to the trained G, with the
warm-up of TensorFlow's ExponentialMovingAverage: beta_t = min(beta, (1 + t) / (10 + t)) at step
t, so that the average forgets its random start within the first few hundred steps.

The copy's BatchNorm statistics are not averaged: running statistics of the trained G do not fit
the averaged weights. Before the copy renders anything or is saved, `refresh_batchnorm`
re-estimates them by running it on a fixed set of seeded latents (BigGAN's "standing
statistics"), so they depend on the averaged weights alone and a resumed run saves the same
copy as a run that never stopped.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ganlab.core.models import reestimating_batchnorm
from ganlab.core.seeds import sample_z

BN_BATCHES = 8  # batches of BN_BATCH latents that re-estimate the copy's statistics
BN_BATCH = 128
BN_SEED = 0x5EED_BA7C  # the latents' generator seed (fixed: the same latents every time)


class GeneratorEMA:
    """The averaged G of a run: `update` after each G step, `refresh_batchnorm` before use."""

    def __init__(self, G: nn.Module, beta: float, nz: int, z_dist: str):
        self.beta = beta
        self.nz, self.z_dist = nz, z_dist
        self.G = copy.deepcopy(G).eval().requires_grad_(False)
        self._refreshed_at: int | None = None
        self._src = list(G.parameters())
        self._dst = list(self.G.parameters())
        # other buffers than BatchNorm's (spectral norm's power-iteration vectors) follow G's
        self._buf_src = _non_bn_buffers(G)
        self._buf_dst = _non_bn_buffers(self.G)

    def decay(self, step: int) -> float:
        """beta_t of the update made after `step` G updates (TensorFlow's warm-up)."""
        return min(self.beta, (1 + step) / (10 + step))

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Move the copy towards the trained G: w_ema <- beta_t w_ema + (1 - beta_t) w."""
        self._refreshed_at = None
        torch._foreach_lerp_(self._dst, self._src, 1.0 - self.decay(step))
        for dst, src in zip(self._buf_dst, self._buf_src, strict=True):
            dst.copy_(src)

    @torch.no_grad()
    def refresh_batchnorm(self, step: int, class_count: int = 0) -> None:
        """Re-estimate the copy's BatchNorm statistics on the fixed latents (see module doc);
        once per step however often it is asked.

        Args:
            step: the training step (the copy's weights are those after it).
            class_count: a conditional G's classes; the latents cycle through them.
        """
        if self._refreshed_at == step:
            return
        self._refreshed_at = step
        has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.G.modules())
        if not has_bn:
            return
        device = next(self.G.parameters()).device
        gen = torch.Generator().manual_seed(BN_SEED)
        with reestimating_batchnorm(self.G):
            for _ in range(BN_BATCHES):
                z = sample_z(BN_BATCH, self.nz, self.z_dist, gen).to(device)
                if class_count:
                    y = torch.arange(BN_BATCH, device=device) % class_count
                    self.G(z, y)
                else:
                    self.G(z)
        self.G.requires_grad_(False)

    def state_dict(self) -> dict:
        return {k: v.contiguous() for k, v in self.G.state_dict().items()}

    def load_state_dict(self, weights: dict) -> None:
        self.G.load_state_dict(weights)
        self._refreshed_at = None


def _non_bn_buffers(net: nn.Module) -> list[torch.Tensor]:
    out = []
    for m in net.modules():
        if not isinstance(m, nn.modules.batchnorm._BatchNorm):
            out += list(m.buffers(recurse=False))
    return out
