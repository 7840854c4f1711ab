"""The GAN losses `ganlab train --loss` offers, on D's logits (float32).

Each entry is (D's loss on real and fake logits, G's loss on the logits of its fakes):

- `bce`: the paper's loss (Goodfellow et al. 2014) with G's non-saturating form, maximise
  log D(G(z)), as the authors' code trains it. The default.
- `hinge`: D minimises relu(1 - D(x)) + relu(1 + D(G(z))), G minimises -D(G(z)) (Lim & Ye 2017;
  Miyato et al. 2018 pair it with spectral norm).
- `lsgan`: least squares towards 1 (real) and 0 (fake) (Mao et al. 2017), halved as there.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

LossPair = tuple[
    Callable[[torch.Tensor, torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]
]


def _bce_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    bce = F.binary_cross_entropy_with_logits
    return bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))


def _bce_g(fake: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))


def _hinge_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def _hinge_g(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def _lsgan_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()


def _lsgan_g(fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((fake - 1) ** 2).mean()


LOSSES: dict[str, LossPair] = {
    "bce": (_bce_d, _bce_g),
    "hinge": (_hinge_d, _hinge_g),
    "lsgan": (_lsgan_d, _lsgan_g),
}
