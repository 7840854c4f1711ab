"""The HDF5 feature store: D's pooled features per dataset split, with where they came from.

Layout of ``feats.h5``::

    /                     attrs: format, format_version, ganlab_version, complete, and the
                          request (checkpoint_sha256, source, init_seed, dataset, image_size,
                          channels, layers, grid, bn_stats, feature_dim, splits, ...)
    /train/features       (N, F) float32 or float16, chunked by rows
    /train/labels         (N,) int64
    /test/...             the same for each split named in the `splits` attribute
    /bn_stats/<name>      the BatchNorm statistics used (bn_stats = recompute), for the record

Writing goes to ``.feats.h5.partial`` beside the target: rows are appended batch by batch and
each split records how many source items it has consumed, so a killed extraction resumes where
it stopped. When every split is complete the partial file is fsynced and renamed over the
target (``os.replace``): a reader sees a complete file or none. A complete file whose identity
attributes match a request is reused; one that differs is refused, naming what differs.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import h5py
import numpy as np
import torch

from ganlab import __version__
from ganlab.errors import FeatureStoreError

FORMAT = "ganlab-features"
FORMAT_VERSION = 1
DTYPES = ("float32", "float16")
# attributes that decide whether a stored file answers a request (the rest is provenance)
IDENTITY = (
    "source",
    "checkpoint_sha256",
    "init_seed",
    "dataset",
    "image_size",
    "channels",
    "layers",
    "grid",
    "bn_stats",
    "feature_dim",
    "splits",
)
CHUNK_BYTES = 4 << 20  # HDF5 chunk size: a few MiB of whole rows
READ_ROWS_BYTES = 64 << 20  # rows read per block when loading


def partial_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


def _encode(value):
    """Attribute values: lists/dicts as JSON text so that they compare exactly on reading."""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return value


def _decode(value):
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _fmt(value) -> str:
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def differences(stored: dict, wanted: dict) -> list[str]:
    """Identity attributes in `wanted` that `stored` disagrees with, as readable phrases."""
    out = []
    for key in IDENTITY:
        if key in wanted and wanted[key] is not None and stored.get(key) != wanted[key]:
            out.append(f"{key} {_fmt(stored.get(key))} (asked for {_fmt(wanted[key])})")
    return out


def _open(path: Path, mode: str = "r") -> h5py.File:
    try:
        return h5py.File(path, mode, rdcc_nbytes=16 << 20)
    except (OSError, ValueError) as e:
        raise FeatureStoreError(
            f"cannot read features file {path}: it is truncated or corrupt, or not HDF5 "
            f"({str(e).splitlines()[0][:160]}). Delete it and run the same command to extract "
            "the features again."
        ) from None


class FeatureFile:
    """A complete features file opened for reading.

    Args:
        path: the ``.h5`` file written by ``ganlab probe``.
    Raises:
        FeatureStoreError: unreadable, not a ganlab features file, newer format, incomplete.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FeatureStoreError(
                f"features file {self.path} does not exist. Extract it "
                "with `ganlab probe DATASET --checkpoint RUN --features "
                f"{self.path}`."
            )
        self.h5 = _open(self.path)
        try:
            self.attrs = {k: _decode(v) for k, v in self.h5.attrs.items()}
            self._validate()
        except BaseException:
            self.h5.close()
            raise

    def _validate(self) -> None:
        a, p = self.attrs, self.path
        if a.get("format") != FORMAT:
            raise FeatureStoreError(
                f"{p} is not a ganlab features file (no '{FORMAT}' "
                "marker). Pass a file written by `ganlab probe --features`."
            )
        if not isinstance(a.get("format_version"), int) or a["format_version"] > FORMAT_VERSION:
            raise FeatureStoreError(
                f"{p} has features format {a.get('format_version')!r}, "
                f"newer than this ganlab ({__version__}) reads; upgrade."
            )
        if not a.get("complete"):
            raise FeatureStoreError(
                f"{p} is an incomplete features file. Delete it and extract again."
            )
        for split in a.get("splits", []):
            try:
                feats, labels = self.h5[split]["features"], self.h5[split]["labels"]
                ok = (
                    feats.ndim == 2
                    and feats.shape[1] == a.get("feature_dim")
                    and labels.shape == (feats.shape[0],)
                )
            except (KeyError, OSError, ValueError, TypeError):
                ok = False
            if not ok:
                raise FeatureStoreError(
                    f"{p} is damaged: split {split!r} lacks consistent "
                    "features and labels. Delete it and extract again."
                )

    def close(self) -> None:
        self.h5.close()

    def __enter__(self) -> FeatureFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def splits(self) -> list[str]:
        return list(self.attrs["splits"])

    @property
    def feature_dim(self) -> int:
        return int(self.attrs["feature_dim"])

    def rows(self, split: str) -> int:
        return int(self.h5[split]["features"].shape[0])

    def labels(self, split: str) -> torch.Tensor:
        """(N,) int64 labels of `split`."""
        return torch.from_numpy(self._read(self.h5[split]["labels"], slice(None)).astype(np.int64))

    def _read(self, dset, sel) -> np.ndarray:
        try:
            return dset[sel]
        except (OSError, ValueError) as e:
            raise FeatureStoreError(
                f"cannot read {dset.name} from {self.path}: the file is truncated or corrupt "
                f"({str(e).splitlines()[0][:160]}). Delete it and extract again."
            ) from None

    def block_rows(self) -> int:
        return max(1, READ_ROWS_BYTES // (4 * self.feature_dim))

    def iter_blocks(
        self, split: str, rows: int | None = None
    ) -> Iterator[tuple[int, torch.Tensor]]:
        """Yield (start, float32 (b, F)) blocks of `split` in order: bounded memory reads."""
        dset = self.h5[split]["features"]
        step = rows or self.block_rows()
        for start in range(0, dset.shape[0], step):
            block = self._read(dset, slice(start, start + step))
            yield start, torch.from_numpy(block).float()

    def load(
        self, split: str, index: torch.Tensor | None = None, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Rows `index` of `split` (all by default), in that order, as one float32 tensor.

        Reads contiguous blocks and scatters the wanted rows, so only one block is held
        besides the result.

        Args:
            split: a split name.
            index: (m,) int64 row numbers (any order, no repeats), or None for all rows.
            out: an (m, F) float32 tensor to fill (e.g. on the GPU), allocated if None.
        Returns:
            (m, F) float32.
        """
        n = self.rows(split)
        index = torch.arange(n) if index is None else index.to(torch.int64).cpu()
        if out is None:
            out = torch.empty(len(index), self.feature_dim, dtype=torch.float32)
        where = torch.full((n,), -1, dtype=torch.int64)  # source row -> destination row
        where[index] = torch.arange(len(index))
        for start, block in self.iter_blocks(split):
            dest = where[start : start + block.shape[0]]
            src = (dest >= 0).nonzero()[:, 0]  # the block's wanted rows
            if len(src) == 0:
                continue
            if len(src) < len(block):
                block, dest = block.index_select(0, src), dest[src]
            # index_copy_, not out[dest[keep]] = block[keep]: measured 0.6 s against 11 s for
            # 60,000 x 28,672 (boolean-mask indexing and index_put_ copy row by row)
            out.index_copy_(0, dest.to(out.device), block.to(out.device))
        return out


def read_attrs(path: str | Path) -> dict:
    """The attributes of a complete features file (validated)."""
    with FeatureFile(path) as f:
        return dict(f.attrs)


class FeatureWriter:
    """Writes a features file for `attrs` through a resumable partial file.

    Args:
        path: the final file name.
        attrs: the request (identity attributes plus provenance); must hold feature_dim and
            splits.
        dtype: "float32" or "float16" storage.
        log: called with one-line messages (resume, restart).
    """

    def __init__(
        self,
        path: str | Path,
        attrs: dict,
        dtype: str = "float32",
        log: Callable[[str], None] = lambda _m: None,
    ):
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.attrs = {**attrs, "dtype": dtype}
        self.dtype = dtype
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.h5 = self._open_partial(log)
        self._last_flush = time.monotonic()

    def _open_partial(self, log) -> h5py.File:
        if self.partial.exists():
            try:
                h5 = h5py.File(self.partial, "a")
                stored = {k: _decode(v) for k, v in h5.attrs.items()}
                if not differences(stored, self.attrs) and stored.get("dtype") == self.dtype:
                    done = {
                        s: int(h5[s].attrs.get("items", 0)) for s in self.attrs["splits"] if s in h5
                    }
                    log(
                        f"resuming the interrupted extraction in {self.partial} "
                        f"(items done: {done})"
                    )
                    return h5
                h5.close()
                log(f"discarding {self.partial}: it was for a different request")
            except (OSError, ValueError, KeyError):
                log(f"discarding {self.partial}: it is damaged (killed mid-write)")
            self.partial.unlink()
        h5 = h5py.File(self.partial, "w")
        h5.attrs.update({k: _encode(v) for k, v in self.attrs.items() if v is not None})
        h5.attrs.update(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "ganlab_version": __version__,
                "complete": False,
            }
        )
        return h5

    # --- per split ----------------------------------------------------------------------------

    def items_done(self, split: str) -> int:
        """Source items already consumed for `split` (0 for a new split)."""
        return int(self.h5[split].attrs["items"]) if split in self.h5 else 0

    def is_complete(self, split: str) -> bool:
        return split in self.h5 and bool(self.h5[split].attrs.get("complete", False))

    def begin(self, split: str, total_items: int, source_split: str) -> None:
        """Create `split`'s datasets for up to `total_items` rows (no-op when resuming)."""
        if split in self.h5:
            return
        F = int(self.attrs["feature_dim"])
        row_bytes = F * np.dtype(self.dtype).itemsize
        chunk_rows = max(1, min(total_items, CHUNK_BYTES // row_bytes))
        g = self.h5.create_group(split)
        g.create_dataset(
            "features",
            shape=(total_items, F),
            maxshape=(None, F),
            dtype=self.dtype,
            chunks=(chunk_rows, F),
        )
        g.create_dataset(
            "labels",
            shape=(total_items,),
            maxshape=(None,),
            dtype="int64",
            chunks=(max(1, min(total_items, 1 << 16)),),
        )
        g.attrs.update(
            {
                "rows": 0,
                "items": 0,
                "total_items": total_items,
                "skipped": 0,
                "source_split": source_split,
                "complete": False,
            }
        )
        self.h5.flush()

    def append(self, split: str, feats: torch.Tensor, labels: torch.Tensor, items: int) -> None:
        """Append a batch of rows; `items` source items were consumed to produce them."""
        g = self.h5[split]
        r, b = int(g.attrs["rows"]), feats.shape[0]
        if b:
            g["features"][r : r + b] = feats.numpy().astype(self.dtype, copy=False)
            g["labels"][r : r + b] = labels.numpy().astype(np.int64, copy=False)
        # the counters move only after the rows are written: a kill in between redoes a batch
        g.attrs["rows"] = r + b
        g.attrs["items"] = int(g.attrs["items"]) + items
        g.attrs["skipped"] = int(g.attrs["skipped"]) + items - b
        if time.monotonic() - self._last_flush > 2.0:
            self.h5.flush()
            self._last_flush = time.monotonic()

    def finish(self, split: str) -> None:
        """Trim `split` to the rows written (items that failed to decode leave none)."""
        g = self.h5[split]
        rows = int(g.attrs["rows"])
        g["features"].resize(rows, axis=0)
        g["labels"].resize(rows, axis=0)
        g.attrs["complete"] = True
        self.h5.flush()

    # --- BatchNorm statistics -----------------------------------------------------------------

    def bn_state(self) -> dict[str, torch.Tensor] | None:
        """The BatchNorm statistics saved by an interrupted run, if any."""
        if "bn_stats" not in self.h5 or not self.h5["bn_stats"].attrs.get("complete"):
            return None
        g = self.h5["bn_stats"]
        return {k.replace("|", "."): torch.from_numpy(g[k][()]) for k in g}

    def save_bn_state(self, state: dict[str, torch.Tensor]) -> None:
        if "bn_stats" in self.h5:
            del self.h5["bn_stats"]
        g = self.h5.create_group("bn_stats")
        for k, v in state.items():
            g.create_dataset(k.replace(".", "|"), data=v.numpy())
        g.attrs["complete"] = True
        self.h5.flush()

    # --- publish ------------------------------------------------------------------------------

    def publish(self) -> Path:
        """Mark complete, fsync and rename the partial file over the target."""
        missing = [s for s in self.attrs["splits"] if not self.is_complete(s)]
        if missing:
            raise RuntimeError(f"splits {missing} are not complete")
        self.h5.attrs["complete"] = True
        self.h5.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.h5.close()
        with open(self.partial, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(self.partial, self.path)
        return self.path

    def close(self) -> None:
        """Flush and close (keeps the partial file for a resume)."""
        if self.h5.id.valid:
            self.h5.flush()
            self.h5.close()
