"""CIFAR-10, python version: pickled batches in ``cifar-10-batches-py/``.

The batches are pickles written by Python 2, and unpickling can run arbitrary code, so they are
read with an unpickler that only admits the numpy internals needed to rebuild an array.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ganlab.data.base import DatasetInfo, layout_error
from ganlab.errors import DatasetError

FOLDER = "cifar-10-batches-py"
SPLIT_FILES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip
PIXELS = 3 * 32 * 32  # one row: the R, G and B 32x32 planes, each row-major


def _latin1_encode(text: str, encoding: str) -> bytes:
    """Stand-in for ``_codecs.encode``, which Python 3 protocol-2 pickles use to store bytes."""
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


# The reconstructor lives in numpy.core.multiarray (numpy 1, and in files written with it) or
# numpy._core.multiarray (numpy 2); take it from ndarray itself to avoid the deprecated path.
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(0))[0]
ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle referenced something outside ``ALLOWED``."""


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays, lists, dicts and strings, and nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        """Return an allowed global; refuse everything else, so no file can run code."""
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise RefusedGlobal(f"{module}.{name}") from None


def load_batch(info: DatasetInfo, path: Path) -> dict[bytes, Any]:
    """Safely unpickle one CIFAR batch file.

    Args:
        info: the registry entry, for error messages.
        path: a batch file (``data_batch_1``, ``test_batch``, ``batches.meta``).

    Returns:
        The batch dict, keys as bytes.
    """
    try:
        with path.open("rb") as f:
            batch = SafeUnpickler(f, encoding="bytes").load()
    except RefusedGlobal as exc:
        raise DatasetError(
            f"Refused to load {path}: it references `{exc}`, which a CIFAR-10 batch never "
            "needs, so the file may have been crafted to run code when unpickled. Delete it and "
            f"download cifar-10-python.tar.gz again from {info.source}."
        ) from None
    except (
        OSError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        pickle.UnpicklingError,
    ) as exc:
        raise layout_error(info, f"Could not read {path} as a CIFAR-10 batch ({exc}).") from None
    if not isinstance(batch, dict):
        raise layout_error(
            info, f"{path} holds a {type(batch).__name__}, not a CIFAR-10 batch dict."
        )
    # Files pickled by Python 3 may carry str keys.
    return {k.encode() if isinstance(k, str) else k: v for k, v in batch.items()}


def _read_one(info: DatasetInfo, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read and validate one batch: uint8 (N, 3, 32, 32) images, int64 (N,) labels."""
    batch = load_batch(info, path)
    data, labels = batch.get(b"data"), batch.get(b"labels")
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != PIXELS
    ):
        shown = getattr(data, "shape", type(data).__name__)
        raise layout_error(
            info, f"{path}: b'data' is {shown}; expected a uint8 N x {PIXELS} array."
        )
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        labels = np.empty(0)
    if labels.shape != (data.shape[0],):
        raise layout_error(
            info, f"{path}: b'labels' should list {data.shape[0]} ints, one per image."
        )
    if labels.size and (labels.min() < 0 or labels.max() >= len(CLASSES)):
        raise layout_error(
            info, f"{path}: labels span {labels.min()}..{labels.max()}; expected 0..9."
        )
    return data.reshape(-1, 3, 32, 32), labels


def find_folder(root: Path) -> Path | None:
    """Return the folder holding the batches: root/cifar-10-batches-py, or root itself."""
    for folder in (root / FOLDER, root):
        if (folder / "test_batch").is_file() or (folder / "data_batch_1").is_file():
            return folder
    return None


def read_cifar10(
    info: DatasetInfo, root: Path, split: str
) -> tuple[np.ndarray, np.ndarray, list[str], Path]:
    """Read one split of CIFAR-10.

    Args:
        info: the registry entry.
        root: --data-root, or the ``cifar-10-batches-py`` folder itself.
        split: "train" (data_batch_1..5) or "test" (test_batch).

    Returns:
        ``(images, labels, class_names, folder)``: uint8 (N, 3, 32, 32), int64 (N,), the class
        names (from batches.meta when present), and the folder read.
    """
    folder = find_folder(root) or root / FOLDER
    missing = [name for name in SPLIT_FILES[split] if not (folder / name).is_file()]
    if missing:
        raise layout_error(
            info,
            f"The {split} split of cifar10 is incomplete: {', '.join(missing)} missing "
            f"from {folder}.",
        )
    parts = [_read_one(info, folder / name) for name in SPLIT_FILES[split]]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    classes = list(CLASSES)
    if (folder / "batches.meta").is_file():
        names = load_batch(info, folder / "batches.meta").get(b"label_names")
        if isinstance(names, list) and len(names) == len(CLASSES):
            classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    return images, labels, classes, folder
