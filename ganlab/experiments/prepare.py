"""`ganlab prepare`: decode, crop and resize a dataset once into an HDF5 cache.

Decoding JPEG/webp and resizing costs more CPU per image than a DCGAN step saves on a GPU, and
it is the same work every epoch. `prepare` does it once, in parallel worker processes, and
`ganlab train --data cache.h5` then reads uint8 rows. The file is built as `OUT.partial`
(committed chunk by chunk, with the number of finished rows in its attributes), so an
interrupted prepare resumes where it stopped; the finished file appears under its final name
atomically. Images that cannot be decoded are marked invalid and counted, never fatal.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ganlab import __version__
from ganlab.data import load_dataset
from ganlab.data.batches import batches
from ganlab.data.prepared import FORMAT, FORMAT_VERSION
from ganlab.errors import GanlabError
from ganlab.progress import Reporter

CHUNK_BYTES = 64 << 10  # HDF5 chunk size: small enough for cheap random reads of one image


@dataclass
class PrepareResult:
    out: str
    images: int  # rows written
    skipped: int  # undecodable source images
    resumed_from: int  # rows already done by an earlier, interrupted prepare
    seconds: float
    images_per_s: float


def prepare(
    dataset: str,
    out: str | Path,
    data_root: str | Path | None = None,
    split: str = "train",
    image_size: int | None = None,
    channels: int | None = None,
    category: str = "bedroom",
    workers: int = 2,
    batch_size: int = 256,
    reporter: Reporter | None = None,
) -> PrepareResult:
    """Write `dataset` as a uint8 HDF5 cache at `out`.

    Args:
        dataset, data_root, split, image_size, channels, category: as for `ganlab train`.
        out: the cache file; `out.partial` holds the work in progress.
        workers: decoding processes.
        batch_size: images decoded and written per chunk of work.
        reporter: progress output.
    Returns:
        A PrepareResult.
    """
    rep = reporter or Reporter(quiet=True)
    out = Path(out)
    if out.exists():
        raise GanlabError(
            f"{out} already exists; prepare writes a new file. Delete it or choose another --out."
        )
    data = load_dataset(
        dataset, data_root, split=split, image_size=image_size, channels=channels, category=category
    )
    n, c, s = len(data), data.channels, data.image_size
    attrs = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dataset": dataset,
        "split": split,
        "category": category if dataset == "lsun" else "",
        "image_size": s,
        "channels": c,
        "source": str(data.source or "bundled"),
        "n_source": n,
        "class_names": list(data.class_names) or [""],
        "ganlab_version": __version__,
    }
    partial = out.with_name(out.name + ".partial")
    start = _open_partial(partial, attrs, n, c, s, rep)
    t0 = time.perf_counter()
    rep.start(f"prepare {dataset} {s}px", total=n, completed=start)
    try:
        with h5py.File(partial, "a") as f:
            images, labels, valid = f["images"], f["labels"], f["valid"]
            lo = start
            for batch in batches(data, start=start, batch_size=batch_size, workers=workers):
                hi = lo + batch.size
                rows = (batch.indices - lo).numpy()  # readable rows; the rest stay zero, -1
                chunk = np.zeros((batch.size, c, s, s), np.uint8)
                chunk[rows] = batch.images.numpy()
                lab = np.full(batch.size, -1, np.int64)
                lab[rows] = batch.labels.numpy()
                ok = np.zeros(batch.size, bool)
                ok[rows] = True
                images[lo:hi], labels[lo:hi], valid[lo:hi] = chunk, lab, ok
                f.attrs["done"] = hi  # committed: a resume starts here
                f.flush()
                rep.update(hi)
                lo = hi
            skipped = int((~valid[:]).sum())
            f.attrs["skipped"] = skipped
            del f.attrs["done"]
    finally:
        rep.stop()
    with open(partial, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(partial, out)
    dt = time.perf_counter() - t0
    if skipped:
        rep.warn(f"skipped {skipped} undecodable image(s); they are marked invalid in {out}")
    rep.log(f"wrote {n - skipped} images ({c}x{s}x{s}) to {out} in {dt:.1f}s")
    return PrepareResult(
        out=str(out),
        images=n - skipped,
        skipped=skipped,
        resumed_from=start,
        seconds=round(dt, 3),
        images_per_s=round((n - start) / dt, 1),
    )


def _open_partial(partial: Path, attrs: dict, n: int, c: int, s: int, rep: Reporter) -> int:
    """Create `partial`, or reopen a compatible one; returns the first row still to do."""
    if partial.exists():
        try:
            with h5py.File(partial, "r") as f:
                old = {k: f.attrs.get(k) for k in attrs}
                done = int(f.attrs.get("done", 0))
        except OSError:
            rep.warn(f"{partial} is damaged (killed mid-write?); starting again")
            partial.unlink()
        else:
            differs = [
                k for k in attrs if k != "ganlab_version" and _norm(old[k]) != _norm(attrs[k])
            ]
            if differs:
                raise GanlabError(
                    f"{partial} is an unfinished prepare with different options "
                    f"({', '.join(differs)}). Delete it to start afresh, or repeat the "
                    "original command to finish it."
                )
            rep.log(f"resuming {partial} at image {done} of {n}")
            return done
    rows = min(n, max(1, CHUNK_BYTES // (c * s * s)))
    with h5py.File(partial, "w") as f:
        f.create_dataset("images", shape=(n, c, s, s), dtype=np.uint8, chunks=(rows, c, s, s))
        f.create_dataset("labels", shape=(n,), dtype=np.int64, fillvalue=-1)
        f.create_dataset("valid", shape=(n,), dtype=bool, fillvalue=False)
        f.attrs.update(attrs)
        f.attrs["done"] = 0
    return 0


def _norm(value):
    if isinstance(value, np.ndarray):
        return [v.decode() if isinstance(v, bytes) else v for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value
