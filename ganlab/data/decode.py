"""Decoding one image file into a uint8 (C, S, S) tensor, for the file-backed datasets.

Pillow is used directly rather than torchvision's transforms: the two steps needed here
(min-side resize, centre crop) are a few lines, and importing torchvision would add about two
seconds to every CLI call and every spawned DataLoader worker.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image

from ganlab.data.resize import resize_images

# Pillow's decoders report malformed data through many exception types, not only OSError.
DECODE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    Image.DecompressionBombError,
)


def _to_tensor(img: Image.Image) -> torch.Tensor:
    """Convert an "L" or "RGB" PIL image to a uint8 (C, H, W) tensor."""
    array = np.array(img)  # (H, W) or (H, W, 3), a writable copy
    if array.ndim == 2:
        return torch.from_numpy(array).unsqueeze(0)
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def _centre_crop(img: Image.Image, side: int) -> Image.Image:
    """Crop the centred side x side square (offsets rounded as DCGAN's CelebA code does)."""
    left = round((img.width - side) / 2)
    top = round((img.height - side) / 2)
    return img.crop((left, top, left + side, top + side))


def decode_image(
    source: str | bytes | os.PathLike[str] | BinaryIO,
    size: int,
    channels: int,
    crop: int | None = None,
) -> torch.Tensor | None:
    """Decode an image to a uint8 (channels, size, size) tensor.

    Without ``crop`` the image is resized (bicubic, antialiased) so its shorter side is ``size``,
    then centre-cropped. With ``crop`` a centred crop x crop square (capped at the shorter side)
    is cut first and resized to size x size: DCGAN's CelebA preprocessing.

    Args:
        source: a file path or an open binary file (e.g. BytesIO of LMDB bytes).
        size: output side S.
        channels: 1 (converted to "L") or 3 ("RGB").
        crop: side of the centre crop taken before resizing, or None.

    Returns:
        uint8 (channels, S, S), or None when the image cannot be read or decoded.
    """
    mode = "L" if channels == 1 else "RGB"
    try:
        with Image.open(source) as img:
            if crop is None:
                # JPEG can decode at 1/2..1/8 scale for free; keep 2x margin so the bicubic
                # reduction below still does the antialiasing.
                img.draft(mode, (2 * size, 2 * size))
                img = img.convert(mode)
                scale = size / min(img.width, img.height)
                new = (max(size, round(img.width * scale)), max(size, round(img.height * scale)))
                img = _centre_crop(img.resize(new, Image.Resampling.BICUBIC), size)
            else:
                img = img.convert(mode)
                img = _centre_crop(img, min(crop, img.width, img.height))
                img = img.resize((size, size), Image.Resampling.BICUBIC)
            return _to_tensor(img)
    except DECODE_ERRORS:
        return None


def decode_square(
    source: str | bytes | os.PathLike[str] | BinaryIO, size: int, channels: int
) -> torch.Tensor | None:
    """Decode an image the way array datasets' images are brought to size (``data.resize``).

    The centred square of the shorter side is cut, then resized by ``resize_images``
    (antialiased bilinear): what MNIST's, CIFAR-10's and the other array datasets' native
    images go through at load time. For a user's image projected into a run on one of them.

    Args:
        source: a file path or an open binary file.
        size: output side S.
        channels: 1 (converted to "L") or 3 ("RGB").

    Returns:
        uint8 (channels, S, S), or None when the image cannot be read or decoded.
    """
    mode = "L" if channels == 1 else "RGB"
    try:
        with Image.open(source) as img:
            img.draft(mode, (2 * size, 2 * size))  # JPEG: decode large photos at a cheaper scale
            img = img.convert(mode)
            square = _to_tensor(_centre_crop(img, min(img.width, img.height)))  # (C, s, s)
    except DECODE_ERRORS:
        return None
    return resize_images(square[None], size, channels)[0]
