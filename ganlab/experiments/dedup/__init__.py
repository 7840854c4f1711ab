"""`ganlab dedup`: near-duplicate removal by semantic hashing (paper section 4.1.1).

The paper de-duplicated LSUN bedrooms with a 3072-128-3072 denoising, dropout-regularised ReLU
autoencoder on 32x32 downsampled centre crops; the 128-unit code, binarised by thresholding
the ReLU activations, is a hash key, so grouping is linear time: one hash-table insert per image
and no pairwise distances. This module does exactly that, in three resumable stages:

1. train the autoencoder on a random sample of at most ``train_images`` images (the only images
   ever held in memory; a few epochs on 50k images fix the hash function);
2. stream every image once in batches and store its packed 128-bit code (16 bytes), never the
   image: 3M LSUN images need 48 MB of codes;
3. group images with identical codes in a hash table.

Multi-probe (``probe``, default 1). A bit whose unit sits just at the threshold flips under a
JPEG re-encode or a resize, and one flipped bit out of 128 splits a pair. Each image is
therefore also looked up under its code with its ``probe`` least-confident bits (the units
whose pre-activation is nearest the threshold) flipped: 2^probe - 1 more hash lookups per image,
still linear time and no distances. ``probe=0`` is the paper's scheme exactly. Groups are the
connected components of "same code or probe hit"; every member but the lowest index is
excluded. benchmarks/dedup_quality.py measures the trade-off (docs/usage.md has the table).

Resume: work goes to ``<out>.partial/`` (autoencoder after each epoch, codes in chunk files),
each file written atomically; running the same command again continues from there. The final
HDF5 file appears complete or not at all, and the work folder is then removed.

Modules: ``config`` (DedupConfig, DedupResult), ``autoencoder`` (the hash function, its
fitting, and the encoding of a batch); the hashing pass, the grouping and the command are here.
"""

from __future__ import annotations

import itertools
import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from ganlab import __version__
from ganlab.data.batches import batches
from ganlab.data.exclusion import FORMAT, FORMAT_VERSION, dataset_identity
from ganlab.errors import GanlabError
from ganlab.experiments.dedup.autoencoder import Autoencoder, encode, train_autoencoder
from ganlab.experiments.dedup.config import SIZE, DedupConfig, DedupResult
from ganlab.io.atomic import atomic_path, write_json
from ganlab.io.images import grid_image, save_png
from ganlab.progress import Reporter

__all__ = ["DedupConfig", "DedupResult", "dedup", "find_duplicates", "group_codes"]

# --- the three stages ------------------------------------------------------------------------


def hash_dataset(
    data,
    ae: Autoencoder,
    cfg: DedupConfig,
    work: Path,
    device: torch.device,
    workers: int,
    chunk: int,
    rep: Reporter,
) -> tuple[int, float]:
    """Write codes-<start>.npz chunk files for every image not hashed yet.

    Returns:
        (images hashed now, seconds spent).
    """
    n = len(data)
    todo = [s for s in range(0, n, chunk) if not (work / f"codes-{s:012d}.npz").is_file()]
    if not todo:
        return 0, 0.0
    # one loader over all remaining chunks, whose batches never straddle a chunk boundary
    spans = [(s, min(s + chunk, n)) for s in todo]
    runs = [
        np.arange(b, min(b + cfg.batch_size, e))
        for s, e in spans
        for b in range(s, e, cfg.batch_size)
    ]
    indices = np.concatenate(runs)
    n_done = n - len(indices)
    t0 = time.perf_counter()
    rep.start("hashing", total=n, completed=n_done)
    nbytes = cfg.code_bits // 8
    try:
        batch_iter = batches(data, indices=indices, batch_size=cfg.batch_size, workers=workers)
        for s, e in spans:
            codes = np.zeros((e - s, nbytes), np.uint8)
            weakest = np.zeros((e - s, cfg.probe), np.uint8)
            readable = np.zeros(e - s, bool)
            for _ in range(s, e, cfg.batch_size):
                batch = next(batch_iter)
                if len(batch.indices):
                    c, w = encode(ae, batch.images, cfg, device)
                    rows = batch.indices.numpy() - s
                    codes[rows], weakest[rows], readable[rows] = c, w, True
            with atomic_path(work / f"codes-{s:012d}.npz") as tmp, open(tmp, "wb") as f:
                np.savez(f, codes=codes, weakest=weakest, readable=readable)
            n_done += e - s
            elapsed = time.perf_counter() - t0
            rate = (n_done - (n - len(indices))) / max(elapsed, 1e-9)
            rep.update(n_done, status=f"{rate:.0f} img/s")
            if not rep.live:
                rep.log(f"hashed {n_done}/{n} images ({rate:.0f} img/s)")
    finally:
        rep.stop()
    return len(indices), time.perf_counter() - t0


def load_codes(work: Path, n: int, chunk: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate the chunk files: codes (N, bytes), weakest (N, probe), readable (N,)."""
    parts = [np.load(work / f"codes-{s:012d}.npz") for s in range(0, n, chunk)]
    return (
        np.concatenate([p["codes"] for p in parts]),
        np.concatenate([p["weakest"] for p in parts]),
        np.concatenate([p["readable"] for p in parts]),
    )


def group_codes(codes: np.ndarray, weakest: np.ndarray, readable: np.ndarray) -> np.ndarray:
    """Group images by code in a hash table, with multi-probe lookups.

    Args:
        codes: (N, bytes) uint8 packed codes.
        weakest: (N, probe) uint8, each image's least-confident bit positions.
        readable: (N,) bool; unreadable images join no group.
    Returns:
        (N,) int64: the lowest index of the image's group, or -1 for an image alone.
    """
    n, nbytes = codes.shape
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)  # the root is always the lowest index

    # exact codes: one insert per image
    table: dict[bytes, int] = {}
    buf = np.ascontiguousarray(codes).tobytes()
    for i in np.flatnonzero(readable).tolist():
        key = buf[i * nbytes : (i + 1) * nbytes]
        first = table.setdefault(key, i)
        if first != i:
            union(first, i)
    # probes: every non-empty subset of each image's weakest bits, flipped
    rows = np.flatnonzero(readable)
    for r in range(1, weakest.shape[1] + 1):
        for subset in itertools.combinations(range(weakest.shape[1]), r):
            flipped = codes[rows].copy()
            for col in subset:
                bit = weakest[rows, col].astype(np.int64)
                flipped[np.arange(len(rows)), bit // 8] ^= (0x80 >> (bit % 8)).astype(np.uint8)
            fbuf = flipped.tobytes()
            for k, i in enumerate(rows.tolist()):
                j = table.get(fbuf[k * nbytes : (k + 1) * nbytes])
                if j is not None:
                    union(i, j)
    roots = np.fromiter((find(i) for i in range(n)), np.int64, n)
    sizes = np.bincount(roots, minlength=n)
    return np.where(sizes[roots] > 1, roots, -1)


# --- the command -----------------------------------------------------------------------------


def find_duplicates(
    data,
    out: str | Path,
    cfg: DedupConfig = DedupConfig(),
    sheet: str | Path | None = None,
    sheet_groups: int = 16,
    device: str | torch.device = "cpu",
    workers: int = 0,
    chunk: int = 65_536,
    reporter: Reporter | None = None,
) -> DedupResult:
    """De-duplicate a dataset: fit the hash, hash every image, group, write `out`.

    Args:
        data: an ImageDataset loaded at 32x32 (``load_dataset(..., image_size=32)``: the
            readers' min-side resize and centre crop give the paper's downsampled centre crops).
        out: the HDF5 file to write (see docs/usage.md for its layout).
        cfg: the hash function and its fitting.
        sheet: PNG contact sheet of example groups (None: none).
        sheet_groups: groups on the sheet, one row each.
        device: where the autoencoder runs.
        workers: DataLoader processes for file-backed datasets.
        chunk: images per resumable chunk file.
        reporter: progress output.
    Returns:
        A DedupResult.
    """
    rep = reporter or Reporter(quiet=True)
    device = torch.device(device)
    out = Path(out)
    if data.image_size != SIZE:
        raise GanlabError(
            f"the autoencoder hashes {SIZE}x{SIZE} centre crops; load the "
            f"dataset with image_size={SIZE} (got {data.image_size})."
        )
    if chunk % cfg.batch_size:
        chunk = (chunk // cfg.batch_size + 1) * cfg.batch_size
    t_start = time.perf_counter()
    work = out.with_name(out.name + ".partial")
    job = {
        "format": FORMAT,
        "dataset": dataset_identity(data),
        "config": asdict(cfg),
        "chunk": chunk,
    }
    resumed = _open_work(work, job)
    if resumed:
        rep.log(f"resuming from {work}")
    try:
        ae = train_autoencoder(data, cfg, work, device, workers, rep)
        hashed, hash_s = hash_dataset(data, ae, cfg, work, device, workers, chunk, rep)
        codes, weakest, readable = load_codes(work, len(data), chunk)
        if not readable.any():
            raise GanlabError(
                f"none of the {len(data)} images could be decoded; nothing to "
                "de-duplicate. Check the dataset's files."
            )
    except GanlabError:
        if not resumed:  # a bad dataset leaves nothing behind; an interruption keeps the work
            shutil.rmtree(work, ignore_errors=True)
        raise
    group = group_codes(codes, weakest, readable)
    members = np.flatnonzero(group >= 0)
    exclude = members[group[members] != members]  # all but the lowest index of each group
    n_groups = int((group[members] == members).sum())
    largest = int(np.bincount(group[members]).max()) if len(members) else 0
    rate = hashed / hash_s if hash_s > 0 else 0.0

    attrs = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "ganlab_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "images": len(data),
        "groups": n_groups,
        "excluded": len(exclude),
        "unreadable": int((~readable).sum()),
        "config": json.dumps(asdict(cfg), sort_keys=True),
        "dataset_json": json.dumps(data.describe(), sort_keys=True, default=str),
        **{f"dataset_{k}": v for k, v in dataset_identity(data).items()},
    }
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update(attrs)
        f.create_dataset("codes", data=codes, chunks=True, compression="gzip")
        f.create_dataset("weakest", data=weakest, chunks=True, compression="gzip")
        f.create_dataset("readable", data=readable, chunks=True, compression="gzip")
        f.create_dataset("group", data=group, chunks=True, compression="gzip")
        f.create_dataset("exclude", data=exclude.astype(np.int64))
        ids = _ids(data, exclude)
        if ids is not None:
            f.create_dataset("exclude_ids", data=ids)
        enc = f.create_group("autoencoder")  # the hash function, to hash new images alike
        for name, tensor in ae.state_dict().items():
            enc.create_dataset(name, data=tensor.cpu().numpy())
    sheet_path = None
    if sheet is not None and n_groups:
        save_png(contact_sheet(data, group, sheet_groups, cfg.seed), sheet)
        sheet_path = str(sheet)
    shutil.rmtree(work, ignore_errors=True)
    elapsed = time.perf_counter() - t_start
    rep.log(
        f"{len(data)} images: {n_groups} duplicate groups, {len(exclude)} images to "
        f"exclude ({attrs['unreadable']} unreadable); wrote {out}"
    )
    return DedupResult(
        out=str(out),
        sheet=sheet_path,
        images=len(data),
        unreadable=attrs["unreadable"],
        groups=n_groups,
        excluded=len(exclude),
        largest_group=largest,
        images_per_s=round(rate, 1),
        elapsed_s=round(elapsed, 3),
        resumed=resumed,
        config=asdict(cfg),
    )


def dedup(
    dataset: str,
    out: str | Path,
    data_root: str | Path | None = None,
    split: str = "train",
    category: str = "bedroom",
    channels: int | None = None,
    **kwargs,
) -> DedupResult:
    """`ganlab dedup`: load a registered dataset at 32x32 and call find_duplicates."""
    from ganlab.data import load_dataset

    data = load_dataset(
        dataset, data_root, split=split, image_size=SIZE, channels=channels, category=category
    )
    return find_duplicates(data, out, **kwargs)


def contact_sheet(data, group: np.ndarray, rows: int = 16, seed: int = 0, per_row: int = 8):
    """A PIL image: `rows` random duplicate groups, one per row, tiles labelled by index."""
    reps = np.flatnonzero(group == np.arange(len(group)))  # one representative per group
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(reps, min(rows, len(reps)), replace=False))
    tiles, labels = [], []
    blank = torch.zeros(data.channels, SIZE, SIZE, dtype=torch.uint8)
    for r in chosen:
        idx = np.flatnonzero(group == r)[:per_row]
        for k in range(per_row):
            item = data[int(idx[k])] if k < len(idx) else None
            tiles.append(item[0] if item is not None else blank)
            labels.append(str(int(idx[k])) if k < len(idx) else "")
    images = torch.stack(tiles).float().div(127.5).sub(1)  # (R * per_row, C, 32, 32)
    images = F.interpolate(images, scale_factor=2, mode="nearest")  # room for the labels
    return grid_image(images, nrow=per_row, labels=labels)


def _ids(data, indices: np.ndarray) -> np.ndarray | None:
    """LMDB keys or file paths of `indices`, for people and tools that do not index by number."""
    for attr in ("keys", "paths"):
        values = getattr(data, attr, None)
        if isinstance(values, np.ndarray):
            return values[indices]
    return None


def _open_work(work: Path, job: dict) -> bool:
    """Create the work folder, or check that an existing one is for the same job."""
    job_path = work / "job.json"
    if job_path.is_file():
        if json.loads(job_path.read_text()) != json.loads(json.dumps(job)):
            raise GanlabError(
                f"{work} holds an unfinished de-duplication with other options or another "
                "dataset. Repeat that command to finish it, or delete the folder to start over."
            )
        return True
    work.mkdir(parents=True, exist_ok=True)
    write_json(job_path, job)
    return False
