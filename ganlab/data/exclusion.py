"""Exclusion lists: the near-duplicates `ganlab dedup` found, left out by `train --exclude`.

The list is the `exclude` dataset of the HDF5 file `ganlab dedup` writes; its attributes name
the dataset it was made for (name, split, category, length), so a list is never applied to
other images than the ones it indexes.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from ganlab.errors import GanlabError

FORMAT = "ganlab-dedup"
FORMAT_VERSION = 1


def dataset_identity(data) -> dict:
    """What an exclusion list must match: the same images in the same order."""
    info = data.describe()
    return {
        "name": info["name"],
        "split": info["split"],
        "category": str(info.get("category", "")),
        "len": int(len(data)),
    }


def kept_indices(path: str | Path, data) -> np.ndarray:
    """Dataset indices left after removing the exclusion list in `path`.

    Args:
        path: a file written by `ganlab dedup`.
        data: the dataset about to be trained on; it must be the one that was de-duplicated.
    Returns:
        int64 (N - K,) sorted indices into `data`.
    Raises:
        GanlabError: the file is missing, not a dedup file, or for another dataset.
    """
    path = Path(path)
    if not path.is_file():
        raise GanlabError(f"--exclude {path} does not exist; write it with `ganlab dedup`.")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise GanlabError(f"--exclude {path} is not a file written by `ganlab dedup`.")
            found = {k: f.attrs[f"dataset_{k}"] for k in ("name", "split", "category", "len")}
            exclude = f["exclude"][:]
    except OSError as e:
        raise GanlabError(f"cannot read --exclude {path}: {e}") from None
    found = {k: (int(v) if k == "len" else str(v)) for k, v in found.items()}
    want = dataset_identity(data)
    if not (found["category"] and want["category"]):  # e.g. a prepared cache records none
        found["category"] = want["category"] = ""
    if found != want:
        raise GanlabError(
            f"--exclude {path} was made for {found['name']} {found['split']} "
            f"({found['len']} images{', ' + found['category'] if found['category'] else ''}) "
            f"but this run trains on {want['name']} {want['split']} ({want['len']} images); "
            "run `ganlab dedup` on the same dataset and split."
        )
    return np.setdiff1d(np.arange(len(data)), exclude)
