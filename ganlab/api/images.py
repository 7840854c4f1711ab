"""Images from Python: the uint8 tensors `Run.generate` returns, as PIL images and grids."""

from __future__ import annotations

import torch
from PIL import Image

from ganlab.errors import GanlabError
from ganlab.io.images import tensor_to_pil, uint8_grid


def to_pil(images: torch.Tensor) -> Image.Image | list[Image.Image]:
    """uint8 (C, H, W) -> one PIL image; uint8 (N, C, H, W) -> a list of them (L or RGB)."""
    images = _checked(images)
    if images.ndim == 3:
        return tensor_to_pil(images)
    return [tensor_to_pil(image) for image in images]


def grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> Image.Image:
    """uint8 images (N, C, H, W) tiled into one PIL image, as `ganlab sample` writes a grid.

    Args:
        nrow: tiles per row; default the ceiling square root of N.
        padding: black pixels between and around the tiles.
    """
    images = _checked(images)
    return uint8_grid(images[None] if images.ndim == 3 else images, nrow, padding)


def _checked(images: torch.Tensor) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
        raise GanlabError(
            "images must be a uint8 tensor (N, C, H, W) or (C, H, W), as Run.generate returns; "
            "convert floats in [-1, 1] with ganlab.io.images.to_uint8."
        )
    if images.ndim not in (3, 4) or images.shape[-3] not in (1, 3):
        raise GanlabError(
            f"images must be (N, C, H, W) or (C, H, W) with 1 or 3 channels, got shape "
            f"{tuple(images.shape)}."
        )
    return images.cpu()
