"""Reading a prepared cache written by `ganlab prepare` (HDF5, decoded once).

Layout of the file:
    images  uint8 (N, C, S, S), chunked by rows (~64 KiB chunks, no compression: fast reads)
    labels  int64 (N,), -1 when unlabelled
    valid   bool (N,): False where the source image could not be decoded
    attrs   format, format_version, dataset, split, category, image_size, channels,
            class_names, source, n_source, skipped, ganlab_version

A cache that fits comfortably in memory is loaded whole and behaves like the built-in
in-memory datasets (the trainer indexes its tensor directly); a larger one (LSUN's 3M
bedrooms are ~37 GB at 64 px) is read image by image, each worker process with its own handle.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import torch

from ganlab.data.base import ImageDataset, Item
from ganlab.data.memory import InMemoryDataset
from ganlab.data.registry import DATASETS
from ganlab.errors import DatasetError

FORMAT = "ganlab-prepared"
FORMAT_VERSION = 1
IN_MEMORY_BYTES = 4 << 30  # load caches up to 4 GiB whole


def open_prepared(
    path: str | Path,
    dataset: str | None = None,
    image_size: int | None = None,
    channels: int | None = None,
    in_memory: bool | None = None,
) -> ImageDataset:
    """Open a prepared cache, checking it is what the caller expects.

    Args:
        path: the .h5 file written by `ganlab prepare`.
        dataset: the dataset kind the user named; must match the cache's.
        image_size, channels: when given, must match the cache's.
        in_memory: force loading whole (True) or lazily (False); default by size.
    Returns:
        An InMemoryDataset (small caches) or a PreparedDataset (large ones).
    Raises:
        DatasetError: missing, truncated or foreign file, or a mismatch.
    """
    path = Path(path)
    attrs = read_attrs(path)
    for key, want in (("dataset", dataset), ("image_size", image_size), ("channels", channels)):
        if want is not None and attrs[key] != want:
            raise DatasetError(
                f"{path} holds {key} {attrs[key]!r} but {want!r} was asked for. Use a cache "
                f"prepared with those options (ganlab prepare ... --out NEW.h5) or drop the "
                "conflicting option."
            )
    info = DATASETS[attrs["dataset"]]
    common = dict(
        root=path.parent,
        split=attrs["split"],
        image_size=attrs["image_size"],
        channels=attrs["channels"],
        class_names=list(attrs["class_names"]),
        source=path,
    )
    extra = {
        "prepared": str(path),
        "prepared_from": attrs["source"],
        "skipped_when_prepared": attrs["skipped"],
    }
    with h5py.File(path, "r") as f:
        rows = np.flatnonzero(f["valid"][:])
        nbytes = len(rows) * int(np.prod(f["images"].shape[1:]))
        if in_memory or (in_memory is None and nbytes <= IN_MEMORY_BYTES):
            images = f["images"][:]
            if len(rows) < len(images):
                images = images[rows]
            labels = f["labels"][:][rows]
            return InMemoryDataset(info, images, labels, extra=extra, **common)
    return PreparedDataset(path, rows, info=info, extra=extra, **common)


def read_attrs(path: Path) -> dict:
    """The cache's attributes, validated; DatasetError for anything else."""
    if not path.is_file():
        raise DatasetError(
            f"prepared cache {path} does not exist. Create it with "
            "`ganlab prepare DATASET --data-root DIR --out FILE.h5`."
        )
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: _plain(v) for k, v in f.attrs.items()}
            missing = [k for k in ("images", "labels", "valid") if k not in f]
            shape = f["images"].shape if "images" in f else None
    except OSError as e:
        raise DatasetError(
            f"cannot read prepared cache {path}: the file is truncated or not "
            f"HDF5 ({e}). Run `ganlab prepare` again."
        ) from None
    if attrs.get("format") != FORMAT or missing:
        raise DatasetError(
            f"{path} is not a cache written by `ganlab prepare` (format "
            f"{attrs.get('format')!r}, missing {missing})."
        )
    if attrs.get("format_version", 0) > FORMAT_VERSION:
        raise DatasetError(
            f"{path} was written by a newer ganlab (cache format "
            f"{attrs['format_version']}); upgrade ganlab."
        )
    if attrs.get("dataset") not in DATASETS:
        raise DatasetError(f"{path} names an unknown dataset {attrs.get('dataset')!r}.")
    if shape is None or tuple(shape[1:]) != (
        attrs["channels"],
        attrs["image_size"],
        attrs["image_size"],
    ):
        raise DatasetError(
            f"{path} is inconsistent: images {shape} vs attributes "
            f"{attrs['channels']}x{attrs['image_size']}px."
        )
    return attrs


class PreparedDataset(ImageDataset):
    """A cache too large for memory, read one image at a time (a handle per process)."""

    def __init__(self, path: Path, rows: np.ndarray, **kwargs) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.rows = rows  # (N,) int64 indices of the decodable images
        self._file: h5py.File | None = None
        self._pid = -1

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Item:
        if self._file is None or self._pid != os.getpid():  # a forked worker: reopen
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        row = int(self.rows[index])
        return torch.from_numpy(self._file["images"][row]), int(self._file["labels"][row])

    def __getstate__(self) -> dict:  # spawned workers get a path, not an open handle
        return {**self.__dict__, "_file": None, "_pid": -1}


def _plain(value):
    """h5py attribute -> plain Python (numpy scalars and arrays become int/str/list)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return [v.decode() if isinstance(v, bytes) else _plain(v) for v in value.tolist()]
    if isinstance(value, bytes):
        return value.decode()
    return value
