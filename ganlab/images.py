"""Turning generator output into image files: grids, single PNGs, seed labels."""

from __future__ import annotations

import io
import math
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from ganlab.atomic import write_bytes


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) floats in [-1, 1] -> uint8 in [0, 255] on the CPU."""
    return ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, H, W) from a dataset -> floats in [-1, 1] (the range of G's tanh)."""
    return images.float().div_(127.5).sub_(1.0)


def grid_image(images: torch.Tensor, nrow: int | None = None, padding: int = 2,
               labels: list[str] | None = None) -> Image.Image:
    """Tile a batch into one PIL image.

    Args:
        images: (B, C, H, W) floats in [-1, 1].
        nrow: tiles per row; default the ceiling square root of B.
        padding: pixels between tiles.
        labels: optional text per tile (e.g. its seed), drawn in the tile's top-left corner.
    Returns:
        An RGB or L image.
    """
    from torchvision.utils import make_grid  # imported here: torchvision adds ~1 s to startup

    b, c, h, w = images.shape
    nrow = nrow or math.ceil(math.sqrt(b))
    grid = make_grid(to_uint8(images), nrow=nrow, padding=padding, pad_value=0)  # (3, H', W')
    img = tensor_to_pil(grid[:1] if c == 1 else grid)
    if labels:
        img = img.convert("RGB")
        draw = ImageDraw.Draw(img)
        for i, text in enumerate(labels):
            if not text:
                continue
            x = padding + (i % nrow) * (w + padding)
            y = padding + (i // nrow) * (h + padding)
            draw.rectangle([x, y, x + 6 * len(text) + 2, y + 10], fill=(0, 0, 0))
            draw.text((x + 1, y), text, fill=(255, 255, 0))
    return img


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """uint8 (C, H, W) -> PIL image (L for one channel, RGB for three)."""
    arr = image.permute(1, 2, 0).numpy()
    return Image.fromarray(arr[:, :, 0], "L") if arr.shape[2] == 1 else Image.fromarray(arr, "RGB")


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    # No timestamps or other varying metadata: the same image always gives the same bytes.
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def save_png(img: Image.Image, path: str | Path) -> None:
    """Write `img` as PNG atomically."""
    write_bytes(path, png_bytes(img))
