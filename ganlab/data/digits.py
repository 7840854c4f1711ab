"""The UCI handwritten digits bundled with scikit-learn: 1797 8x8 grey images, no files needed."""

from __future__ import annotations

import numpy as np

# sklearn's usual 80/20 split in file order: the first 1437 images train, the last 360 test.
N_TRAIN = 1437


def read_digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read the digits in ``split``.

    Args:
        split: "train" (first 1437), "test" (last 360) or "all" (1797).

    Returns:
        ``(images, labels)``: uint8 (N, 1, 8, 8) scaled from 0..16 to 0..255, int64 (N,).
    """
    from sklearn.datasets import load_digits  # sklearn is slow to import; only digits needs it

    bunch = load_digits()
    images = np.rint(bunch.images * (255 / 16)).astype(np.uint8)[:, None]  # (1797, 1, 8, 8)
    labels = bunch.target.astype(np.int64)
    part = {"train": slice(0, N_TRAIN), "test": slice(N_TRAIN, None), "all": slice(None)}[split]
    return images[part], labels[part]
