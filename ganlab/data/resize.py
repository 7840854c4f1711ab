"""Resizing and channel conversion of whole uint8 image tensors, done once at load time."""

from __future__ import annotations

import torch
import torch.nn.functional as F

# ITU-R BT.601 luma weights, the same grey conversion Pillow's convert("L") uses.
LUMA = (0.299, 0.587, 0.114)
# Pixels converted per step. Small float32 chunks stay in cache: on the full Fashion-MNIST train
# split 2**20 is 3x faster than one big step, which also needs GiBs of scratch at 256 px.
CHUNK_PIXELS = 2**20


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Convert float images between grey and RGB.

    Args:
        images: float (N, C, H, W) with C 1 or 3.
        channels: the wanted C, 1 or 3.

    Returns:
        float (N, channels, H, W); the input itself when C already matches.
    """
    if images.shape[1] == channels:
        return images
    if channels == 3:
        return images.expand(-1, 3, -1, -1)
    weights = torch.tensor(LUMA, dtype=images.dtype).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def resize_images(images: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    """Bring uint8 images to (size, size) and ``channels`` channels.

    Resizing is antialiased bilinear on float, rounded back to uint8.

    Args:
        images: uint8 (N, C, H, W).
        size: output side S.
        channels: output channels, 1 or 3.

    Returns:
        uint8 (N, channels, S, S), contiguous; the input itself when nothing changes.
    """
    n, c, h, w = images.shape
    if (h, w) == (size, size) and c == channels:
        return images.contiguous()
    out = torch.empty((n, channels, size, size), dtype=torch.uint8)
    step = max(1, CHUNK_PIXELS // (max(c, channels) * max(h * w, size * size)))
    for start in range(0, n, step):
        x = images[start : start + step].float()  # (b, C, H, W)
        # Reduce channels before resizing (less work), expand them after.
        if channels < c:
            x = convert_channels(x, channels)
        if (h, w) != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
        x = convert_channels(x, channels)  # (b, channels, S, S)
        out[start : start + step] = x.round().clamp_(0, 255).to(torch.uint8)
    return out
