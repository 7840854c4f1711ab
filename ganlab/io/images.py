"""Turning generator output into files: grids, animations, image folders, arrays, stdout.

Every command that writes images validates its `--out` with `out_kind` and writes through the
functions here, so a suffix means the same in every command:

    .png .jpg .jpeg .webp   one grid image ("image"); PNGs carry no varying metadata and WebP
                            is lossless, so a seed gives the same bytes every time
    -                       a PNG grid on stdout ("stdout")
    .gif .webp              an animation ("animation", e.g. interpolate --gif)
    no suffix               a directory of one PNG per image ("dir")
    .h5 .hdf5 .npz          arrays: images, z, seeds, with provenance ("array")
"""

from __future__ import annotations

import io
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import torch
from PIL import Image, ImageDraw

from ganlab.errors import GanlabError
from ganlab.io.atomic import atomic_path, write_bytes

IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
ANIMATION_FORMATS = {".gif": "GIF", ".webp": "WEBP"}
ARRAY_SUFFIXES = (".h5", ".hdf5", ".npz")
_KIND_TEXT = {
    "image": "a .png (or .jpg/.webp) image",
    "stdout": "- for a PNG on stdout",
    "animation": "a .gif or .webp animation",
    "dir": "a directory name (no suffix; one PNG per image)",
    "array": "an .h5/.npz array file",
}


def out_kind(out: str, kinds: Sequence[str] = ("image", "stdout"), option: str = "--out") -> str:
    """The kind of output a path names, among the `kinds` a command writes.

    Args:
        out: the path, or "-" for stdout.
        kinds: what the command can write: "image", "stdout", "animation", "dir", "array".
        option: the flag name, for the error message.
    Returns:
        One of `kinds`.
    Raises:
        GanlabError: the path names none of them; the message lists what would do.
    """
    suffix = Path(out).suffix.lower()
    if out == "-":
        found = "stdout"
    elif "image" in kinds and suffix in IMAGE_FORMATS:
        found = "image"
    elif "animation" in kinds and suffix in ANIMATION_FORMATS:
        found = "animation"
    elif suffix in ARRAY_SUFFIXES:
        found = "array"
    elif suffix == "" or Path(out).is_dir():
        found = "dir"
    else:
        found = "image" if suffix in IMAGE_FORMATS else None
    if found not in kinds:
        options = "; ".join(_KIND_TEXT[k] for k in kinds)
        raise GanlabError(f"cannot write {option} {out}: use {options}.")
    return found


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) floats in [-1, 1] -> uint8 in [0, 255] on the CPU."""
    return ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, H, W) from a dataset -> floats in [-1, 1] (the range of G's tanh)."""
    return images.float().div_(127.5).sub_(1.0)


def grid_image(
    images: torch.Tensor, nrow: int | None = None, padding: int = 2, labels: list[str] | None = None
) -> Image.Image:
    """Tile a batch into one PIL image.

    Args:
        images: (B, C, H, W) floats in [-1, 1].
        nrow: tiles per row; default the ceiling square root of B.
        padding: pixels between tiles.
        labels: optional text per tile (e.g. its seed), drawn in the tile's top-left corner.
    Returns:
        An RGB or L image.
    """
    b, c, h, w = images.shape
    nrow = nrow or math.ceil(math.sqrt(b))
    img = uint8_grid(to_uint8(images), nrow, padding)
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


def uint8_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> Image.Image:
    """Tile uint8 images (B, C, H, W) into one PIL image (L or RGB), black between tiles.

    Args:
        images: uint8 (B, C, H, W), C 1 or 3.
        nrow: tiles per row; default the ceiling square root of B.
        padding: pixels between and around tiles.
    """
    from torchvision.utils import make_grid  # imported here: torchvision adds ~1 s to startup

    nrow = nrow or math.ceil(math.sqrt(len(images)))
    grid = make_grid(images, nrow=nrow, padding=padding, pad_value=0)  # (3, H', W')
    return tensor_to_pil(grid[:1] if images.shape[1] == 1 else grid)


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


def image_bytes(img: Image.Image, fmt: str) -> bytes:
    """Encode in a PIL format; PNGs via png_bytes, WebP lossless (grids are exact)."""
    if fmt == "PNG":
        return png_bytes(img)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    return buf.getvalue()


def write_image(img: Image.Image, out: str | Path) -> None:
    """Write one image atomically in the format its suffix names, or a PNG to stdout for "-"."""
    out = str(out)
    if out == "-":
        sys.stdout.buffer.write(png_bytes(img))
        sys.stdout.buffer.flush()
        return
    out_kind(out, ("image",))  # GanlabError for a suffix that names no image format
    write_bytes(out, image_bytes(img, IMAGE_FORMATS[Path(out).suffix.lower()]))


def write_animation(frames: list[Image.Image], out: str | Path, fps: float) -> None:
    """Write frames as a looping .gif or lossless .webp animation, atomically."""
    fmt = ANIMATION_FORMATS[Path(out).suffix.lower()]
    extra = {"lossless": True} if fmt == "WEBP" else {}
    buf = io.BytesIO()
    frames[0].save(
        buf,
        format=fmt,
        save_all=True,
        append_images=frames[1:],
        loop=0,
        duration=round(1000 / fps),
        **extra,
    )
    write_bytes(out, buf.getvalue())


def write_image_dir(out: str | Path, images: torch.Tensor, names: Sequence[str]) -> None:
    """One PNG per image, `name`.png; the directory appears complete or not at all.

    Args:
        out: the directory to create (it may exist if empty).
        images: (N, C, S, S) floats in [-1, 1].
        names: N file stems.
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise GanlabError(
            f"output directory {out} is not empty; choose a new --out so that "
            "existing images are not mixed with new ones."
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        for name, img in zip(names, to_uint8(images), strict=True):
            tensor_to_pil(img).save(tmp / f"{name}.png")
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_arrays(out: str | Path, arrays: dict[str, np.ndarray], attrs: dict) -> None:
    """Arrays to an .npz or HDF5 file atomically; HDF5 also records `attrs` (provenance)."""
    out = Path(out)
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".npz":
            with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a name
                np.savez(f, **arrays)
        else:
            with h5py.File(tmp, "w") as f:
                for name, value in arrays.items():
                    f.create_dataset(name, data=value, chunks=True if value.ndim > 2 else None)
                f.attrs.update(attrs)
