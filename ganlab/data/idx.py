"""MNIST and Fashion-MNIST: the four idx files, each optionally gzipped.

The idx format (http://yann.lecun.com/exdb/mnist/): a big-endian magic number whose low bytes
give the element type (0x08: unsigned byte) and the number of dimensions, then one big-endian
uint32 per dimension, then the data in C order. torchvision's reader trusts the header; this one
checks it against the file size so a truncated download fails with a clear message.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ganlab.data.base import DatasetInfo, layout_error

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (N, rows, cols)
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (N,)
NUM_CLASSES = 10

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# Folders under --data-root searched in order: the root itself, torchvision's layout, a plain name.
SUBDIRS = {
    "mnist": ("", "MNIST/raw", "mnist"),
    "fashion-mnist": ("", "FashionMNIST/raw", "fashion-mnist"),
}
MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip


def _read_bytes(info: DatasetInfo, path: Path) -> bytearray:
    """Read a file whole, gunzipping ``.gz``; a bytearray so numpy views of it are writable."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return bytearray(f.read())
        return bytearray(path.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:
        raise layout_error(info, f"Could not read {path}: {exc}.") from None


def read_idx(info: DatasetInfo, path: Path, magic: int) -> np.ndarray:
    """Parse one idx file of unsigned bytes, validating its header against its size.

    Args:
        info: the dataset, for error messages.
        path: the idx file, plain or ``.gz``.
        magic: IMAGES_MAGIC or LABELS_MAGIC.

    Returns:
        uint8 array with the dimensions the header declares.
    """
    raw = _read_bytes(info, path)
    kind = "images" if magic == IMAGES_MAGIC else "labels"
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    found = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if found != magic:
        shown = "none (file shorter than 4 bytes)" if found is None else f"0x{found:08x}"
        raise layout_error(
            info,
            f"{path} is not an idx {kind} file: its magic number is {shown}, "
            f"expected 0x{magic:08x}.",
        )
    if len(raw) < header:
        raise layout_error(info, f"{path} is truncated inside its header ({len(raw)} bytes).")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "longer than its header says"
        raise layout_error(
            info,
            f"{path} is {state}: its header declares {kind} of shape {dims}, which needs "
            f"{expected} bytes, but the file has {len(raw)}.",
            "Download it again.",
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _find(directory: Path, stem: str) -> Path | None:
    """Return ``directory/stem`` or ``directory/stem.gz``, whichever exists (plain first)."""
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def locate_idx(info: DatasetInfo, root: Path, split: str) -> tuple[Path, Path] | None:
    """Find the images and labels files of ``split`` under root, or None when absent."""
    image_stem, label_stem = SPLIT_FILES[split]
    for sub in SUBDIRS[info.name]:
        directory = root / sub if sub else root
        images, labels = _find(directory, image_stem), _find(directory, label_stem)
        if images is not None and labels is not None:
            return images, labels
    return None


def read_idx_split(
    info: DatasetInfo, root: Path, split: str
) -> tuple[np.ndarray, np.ndarray, list[str], Path]:
    """Read one split of MNIST or Fashion-MNIST.

    Args:
        info: the registry entry ("mnist" or "fashion-mnist").
        root: --data-root.
        split: "train" or "test".

    Returns:
        ``(images, labels, class_names, folder)``: uint8 (N, 1, H, W), int64 (N,), the class
        names, and the folder the files were found in.
    """
    found = locate_idx(info, root, split)
    if found is None:
        searched = ", ".join(str(root / sub) for sub in SUBDIRS[info.name])
        names = " and ".join(f"{stem}[.gz]" for stem in SPLIT_FILES[split])
        raise layout_error(
            info, f"The {split} split of {info.name} was not found: no {names} in {searched}."
        )
    image_path, label_path = found
    images = read_idx(info, image_path, IMAGES_MAGIC)  # (N, rows, cols)
    labels = read_idx(info, label_path, LABELS_MAGIC)  # (N,)
    if images.shape[1] != images.shape[2] or images.shape[1] == 0:
        raise layout_error(info, f"{image_path} holds {images.shape[1:]} images; expected square.")
    if images.shape[0] != labels.shape[0]:
        raise layout_error(
            info,
            f"{image_path} holds {images.shape[0]} images but {label_path} holds "
            f"{labels.shape[0]} labels.",
        )
    if labels.size and labels.max() >= NUM_CLASSES:
        raise layout_error(
            info, f"{label_path} holds label {labels.max()}; labels must be 0..{NUM_CLASSES - 1}."
        )
    classes = FASHION_CLASSES if info.name == "fashion-mnist" else MNIST_CLASSES
    return images[:, None], labels.astype(np.int64), list(classes), image_path.parent
