"""Differentiable augmentation (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient
GAN Training"), `ganlab train --diffaug color,translation,cutout`.

D sees every image, real or generated, through the same random policy, in the D step and in the
G step, and the ops are differentiable so that G's gradient passes through them. The ops follow
the authors' DiffAugment-pytorch code (brightness, saturation and contrast jitter; translation
by up to 1/8 of the side with zero fill; one cutout square of half the side). Unlike theirs the
random draws come from a generator seeded by the training position (seed, step, rank, call), so
a resumed run repeats exactly the augmentations of a run that never stopped; the draws are small
(a few numbers per image) and made on the CPU, then moved to the images' device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganlab.core.seeds import position_generator
from ganlab.errors import GanlabError

AUG_STREAMS = 1 << 20  # generator streams of a position from here on are augmentation calls

OPS = ("color", "translation", "cutout")


def parse_policy(policy: str | None) -> tuple[str, ...]:
    """The ops of a policy: "color,translation" -> ("color", "translation"); "" or None -> ().

    Raises:
        GanlabError: an unknown name, listing the valid ones.
    """
    names = tuple(p.strip() for p in (policy or "").split(",") if p.strip())
    bad = [p for p in names if p not in OPS]
    if bad:
        raise GanlabError(
            f"--diffaug {policy!r}: unknown augmentation {', '.join(map(repr, bad))}. Use a "
            f"comma-separated list of {', '.join(OPS)} (the DiffAugment paper's policy for "
            "small data is color,translation,cutout), or leave --diffaug out."
        )
    if len(set(names)) != len(names):
        raise GanlabError(f"--diffaug {policy!r} names an augmentation twice; list each once.")
    return names


def aug_generator(seed: int, step: int, rank: int, call: int) -> torch.Generator:
    """The CPU generator of one augmentation call: a pure function of the training position."""
    return position_generator(seed, step, rank, stream=AUG_STREAMS + call)


def diff_augment(x: torch.Tensor, policy: tuple[str, ...], gen: torch.Generator) -> torch.Tensor:
    """`x` (B, C, H, W) in [-1, 1] through the policy's ops, each with per-image random draws.

    Args:
        x: images on any device (gradients flow through).
        policy: ops from OPS, applied in the order given.
        gen: a CPU generator (`aug_generator`); the same generator state gives the same result.
    Returns:
        (B, C, H, W), the same dtype and memory format as far as the ops keep them.
    """
    for op in policy:
        x = _OPS[op](x, gen)
    return x


def _rand(gen: torch.Generator, x: torch.Tensor, *shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=gen).to(device=x.device, dtype=x.dtype)


def _color(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    b = x.shape[0]
    x = x + (_rand(gen, x, b, 1, 1, 1) - 0.5)  # brightness
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(gen, x, b, 1, 1, 1) * 2) + mean  # saturation (no-op on grey)
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (_rand(gen, x, b, 1, 1, 1) + 0.5) + mean  # contrast


def _translation(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    tx = torch.randint(-sh, sh + 1, (b, 1, 1), generator=gen).to(x.device)
    ty = torch.randint(-sw, sw + 1, (b, 1, 1), generator=gen).to(x.device)
    gb, gx, gy = torch.meshgrid(
        torch.arange(b, device=x.device),
        torch.arange(h, device=x.device),
        torch.arange(w, device=x.device),
        indexing="ij",
    )
    gx = torch.clamp(gx + tx + 1, 0, h + 1)  # +1: the zero border of the padded image
    gy = torch.clamp(gy + ty + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])  # (B, C, H + 2, W + 2)
    return padded.permute(0, 2, 3, 1)[gb, gx, gy].permute(0, 3, 1, 2)  # (B, C, H, W)


def _cutout(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ox = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), generator=gen).to(x.device)
    oy = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), generator=gen).to(x.device)
    gb, gx, gy = torch.meshgrid(
        torch.arange(b, device=x.device),
        torch.arange(ch, device=x.device),
        torch.arange(cw, device=x.device),
        indexing="ij",
    )
    gx = torch.clamp(gx + ox - ch // 2, min=0, max=h - 1)
    gy = torch.clamp(gy + oy - cw // 2, min=0, max=w - 1)
    mask = torch.ones(b, h, w, dtype=x.dtype, device=x.device)
    mask[gb, gx, gy] = 0
    return x * mask.unsqueeze(1)  # (B, C, H, W), one square zeroed


_OPS = {"color": _color, "translation": _translation, "cutout": _cutout}
