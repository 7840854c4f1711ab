"""PIL layout of the arithmetic grids: tiles placed in slots, before/after blocks, row captions."""

from __future__ import annotations

import torch
from PIL import Image, ImageDraw, ImageFont

from ganlab.io.images import grid_image

PADDING = 2  # pixels between tiles, as in `ganlab sample`


def place(images: torch.Tensor, slots: list[tuple[int, int]], rows: int, cols: int) -> torch.Tensor:
    """Tiles (rows*cols, C, S, S) with images at their (row, col) slots, black elsewhere."""
    tiles = torch.full((rows * cols, *images.shape[1:]), -1.0)  # -1 is black after tanh
    for img, (r, c) in zip(images, slots, strict=True):
        tiles[r * cols + c] = img
    return tiles


def pairs_layout(
    images: torch.Tensor, n: int, nrow: int, text: str, photos: bool = False
) -> tuple[torch.Tensor, list[str], int]:
    """Before images over after images, `nrow` per row: (2*ceil(n/nrow)*cols, C, S, S).

    With `photos`, `images` is (photos, before, after), each n long, and each block is three
    rows: the photo, its projection (before), the result (after).
    """
    cols = min(nrow, n)
    blocks = -(-n // cols)
    per = 3 if photos else 2
    slots = [(per * (i // cols) + r, i % cols) for r in range(per) for i in range(n)]
    tiles = place(images, slots, per * blocks, cols)
    labels = ["before: z", f"after: {text}"]
    if photos:
        labels = ["photo", "before: its projection z", f"after: {text}"]
    return tiles, labels * blocks, cols


def captioned_grid(tiles: torch.Tensor, cols: int, labels: list[str] | None) -> Image.Image:
    """grid_image of the tiles with one caption per row in a left margin (None: no margin)."""
    grid = grid_image(tiles, nrow=cols, padding=PADDING)
    if not labels:
        return grid
    font = ImageFont.load_default()
    width = max(int(font.getlength(text)) for text in labels) + 8
    tile = tiles.shape[-2] + PADDING
    canvas = Image.new("RGB", (grid.width + width, grid.height))
    canvas.paste(grid.convert("RGB"), (width, 0))
    draw = ImageDraw.Draw(canvas)
    for row, text in enumerate(labels):
        y = PADDING + row * tile + tile // 2 - 1
        draw.text((4, y), text, fill=(255, 255, 255), font=font, anchor="lm")
    return canvas
