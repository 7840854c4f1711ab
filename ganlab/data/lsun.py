"""LSUN scenes: one LMDB per category and split, values are encoded images (webp).

An LMDB environment cannot be pickled or used across fork, and py-lmdb refuses to open the same
one twice in a process. So datasets hold only the path: each process opens an environment on
first use and shares it between datasets, and a forked child drops its parent's handles before
opening its own. The key index is a numpy array of fixed-width bytes: no Python object per key
(3M keys), and shared copy-on-write by forked DataLoader workers.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import lmdb
import numpy as np

from ganlab.data.base import DatasetInfo, ImageDataset, Item, layout_error
from ganlab.data.decode import decode_image

SCENES = (
    "bedroom", "bridge", "church_outdoor", "classroom", "conference_room",
    "dining_room", "kitchen", "living_room", "restaurant", "tower",
)  # fmt: skip
KEY_WIDTH = 40  # LSUN keys are 40 hex characters; longer keys widen the array


def find_lmdb(info: DatasetInfo, root: Path, category: str, split: str) -> Path:
    """Return the LMDB folder: root if it holds data.mdb, else root/{category}_{split}_lmdb."""
    for folder in (root, root / f"{category}_{split}_lmdb"):
        if (folder / "data.mdb").is_file():
            return folder
    raise layout_error(
        info,
        f"No LSUN database for category {category!r}, split {split!r}: "
        f"{root / f'{category}_{split}_lmdb' / 'data.mdb'} does not exist.",
        f"The scene categories are {', '.join(SCENES)}; choose one with --category.",
    )


def open_lmdb(path: Path) -> lmdb.Environment:
    """Open an LMDB folder read-only, without the lock file, for random reads."""
    # lock=False: nothing writes while training, and the data may sit on a read-only mount.
    return lmdb.open(
        str(path), readonly=True, lock=False, readahead=False, meminit=False, max_readers=1
    )


# This process's open environments by path, and the process they belong to.
_ENVS: dict[str, lmdb.Environment] = {}
_ENVS_PID = os.getpid()


def shared_env(path: Path) -> lmdb.Environment:
    """Return this process's environment for ``path``, opening it on first use.

    Args:
        path: an LMDB folder, resolved (so two spellings of one folder share one environment).

    Returns:
        The open, read-only environment.
    """
    global _ENVS_PID
    if _ENVS_PID != os.getpid():
        # A forked child: the inherited handles must not be used, and py-lmdb forgets them
        # only once they are released, so drop them all before opening any.
        _ENVS.clear()
        _ENVS_PID = os.getpid()
    key = str(path)
    if key not in _ENVS:
        _ENVS[key] = open_lmdb(path)
    return _ENVS[key]


def index_keys(env: lmdb.Environment) -> np.ndarray:
    """Return every key of ``env`` in cursor order as a fixed-width bytes array (N,)."""
    keys = np.empty(env.stat()["entries"], dtype=f"S{KEY_WIDTH}")
    with env.begin() as txn:
        for i, key in enumerate(txn.cursor().iternext(keys=True, values=False)):
            if len(key) > keys.itemsize:
                keys = keys.astype(f"S{len(key)}")
            if key.endswith(b"\0"):
                # numpy strips trailing NULs from fixed-width bytes, which would change the key.
                raise ValueError(f"key {key!r} ends in a NUL byte")
            keys[i] = key
    return keys


class LmdbDataset(ImageDataset):
    """LSUN images decoded per item from an LMDB; unlabelled (label -1).

    Attributes:
        path: the LMDB folder, resolved.
        keys: fixed-width bytes (N,), the database keys in cursor order.
    """

    def __init__(
        self,
        info: DatasetInfo,
        path: Path,
        *,
        root: Path,
        split: str,
        image_size: int,
        channels: int,
        category: str,
    ) -> None:
        super().__init__(
            info,
            root=root,
            split=split,
            image_size=image_size,
            channels=channels,
            class_names=[],
            source=path,
            extra={"category": category},
        )
        self.path = path.resolve()
        try:
            self.keys = index_keys(shared_env(self.path))
        except (lmdb.Error, ValueError) as exc:
            raise layout_error(info, f"Could not read the LMDB in {path} ({exc}).") from None
        if len(self.keys) == 0:
            raise layout_error(info, f"The LMDB in {path} is empty.")

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> Item | None:
        with shared_env(self.path).begin() as txn:
            value = txn.get(bytes(self.keys[index]))
        if value is None:
            return None
        image = decode_image(io.BytesIO(value), self.image_size, self.channels)
        return None if image is None else (image, -1)


def load_lsun(
    info: DatasetInfo, root: Path, split: str, image_size: int, channels: int, category: str
) -> LmdbDataset:
    """Open one LSUN category and split.

    Args:
        info: the registry entry.
        root: --data-root (holding ``{category}_{split}_lmdb/``) or the LMDB folder itself.
        split: "train" or "val".
        image_size: output side S.
        channels: 1 or 3.
        category: the scene, e.g. "bedroom".

    Returns:
        The dataset, with its key index built.
    """
    path = find_lmdb(info, root, category, split)
    return LmdbDataset(
        info,
        path,
        root=root,
        split=split,
        image_size=image_size,
        channels=channels,
        category=category,
    )
