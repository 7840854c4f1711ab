"""SVHN, cropped digits: ``{train,test,extra}_32x32.mat`` (MATLAB v5, read with scipy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganlab.data.base import DatasetInfo, layout_error

CLASSES = [str(d) for d in range(10)]


def split_file(split: str) -> str:
    """Return the published file name of ``split``, e.g. ``train_32x32.mat``."""
    return f"{split}_32x32.mat"


def read_svhn(info: DatasetInfo, root: Path, split: str) -> tuple[np.ndarray, np.ndarray, Path]:
    """Read one split of SVHN.

    Args:
        info: the registry entry.
        root: --data-root.
        split: "train", "test" or "extra".

    Returns:
        ``(images, labels, path)``: uint8 (N, 3, 32, 32), int64 (N,) with digit 0 as label 0
        (the files store it as 10), and the file read.
    """
    from scipy.io import loadmat  # scipy.io is slow to import; only SVHN needs it
    from scipy.io.matlab import MatReadError

    path = root / split_file(split)
    if not path.is_file():
        raise layout_error(info, f"{path} does not exist.")
    try:
        mat = loadmat(path, variable_names=("X", "y"))
    except (OSError, ValueError, TypeError, NotImplementedError, MatReadError) as exc:
        raise layout_error(info, f"Could not read {path} as a MATLAB v5 file ({exc}).") from None
    x, y = mat.get("X"), mat.get("y")
    if (
        not isinstance(x, np.ndarray)
        or x.dtype != np.uint8
        or x.ndim != 4
        or x.shape[:3] != (32, 32, 3)
    ):
        shown = getattr(x, "shape", "missing")
        raise layout_error(info, f"{path}: X is {shown}; expected uint8 (32, 32, 3, N).")
    n = x.shape[3]
    if not isinstance(y, np.ndarray) or y.size != n:
        shown = getattr(y, "shape", "missing")
        raise layout_error(info, f"{path}: y is {shown}; expected ({n}, 1) labels.")
    labels = y.reshape(n).astype(np.int64)
    if n and (labels.min() < 1 or labels.max() > 10):
        raise layout_error(
            info, f"{path}: labels span {labels.min()}..{labels.max()}; expected 1..10."
        )
    images = np.ascontiguousarray(x.transpose(3, 2, 0, 1))  # (32, 32, 3, N) -> (N, 3, 32, 32)
    return images, labels % 10, path
