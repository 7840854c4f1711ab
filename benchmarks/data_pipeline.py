"""Data path: JPEG folder vs prepared cache, loader-only and end to end.

Writes N synthetic 256x256 JPEGs (LSUN-sized; smooth random fields, so they compress like
photographs), then measures in one process:
  - loader-only images/s: decoding the JPEG folder (DataLoader, --workers processes), and
    reading the prepared cache (in memory, and lazily from disk);
  - `prepare` time;
  - end to end: `ganlab train folder` for --epochs epochs on the JPEGs, vs `prepare` +
    `ganlab train --data cache.h5` for the same epochs.

    python benchmarks/data_pipeline.py --n 1024 --epochs 3
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganlab.core.config import TrainConfig
from ganlab.core.train import train
from ganlab.data import load_dataset
from ganlab.data.batches import batches
from ganlab.data.prepared import open_prepared
from ganlab.experiments.prepare import prepare


def write_jpegs(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((256, 256), Image.BICUBIC)
        img.save(folder / f"img_{i:06d}.jpg", quality=90)


def loader_rate(data, workers: int, batch: int = 128) -> float:
    order = torch.randperm(len(data)).split(batch)  # a shuffled epoch, as training reads it
    t = time.perf_counter()
    n = sum(len(b.indices) for b in batches(data, order, workers=workers))
    return n / (time.perf_counter() - t)


def memory_rate(images: torch.Tensor, batch: int = 128) -> float:
    perm = torch.randperm(len(images))
    t = time.perf_counter()
    for i in range(0, len(images), batch):
        images[perm[i : i + batch]].float()
    return len(images) / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1024)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--size", type=int, default=64)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_jpegs(tmp / "jpegs", args.n)
        folder = load_dataset("folder", tmp / "jpegs", image_size=args.size)
        jpeg_rate = loader_rate(folder, args.workers)
        t = time.perf_counter()
        prepare(
            "folder",
            tmp / "cache.h5",
            data_root=tmp / "jpegs",
            image_size=args.size,
            workers=args.workers,
        )
        prepare_s = time.perf_counter() - t
        cache = open_prepared(tmp / "cache.h5")
        mem_rate = memory_rate(cache.images)
        lazy_rate = loader_rate(open_prepared(tmp / "cache.h5", in_memory=False), args.workers)

        base = TrainConfig.from_options(
            dataset="folder",
            data_root=str(tmp / "jpegs"),
            image_size=args.size,
            epochs=args.epochs,
            workers=args.workers,
            device="cpu",
            checkpoint_every=0,
        )
        t = time.perf_counter()
        train(base, out=tmp / "run-jpeg")
        jpeg_s = time.perf_counter() - t
        t = time.perf_counter()
        cache_run = train(base.replace(data=str(tmp / "cache.h5")), out=tmp / "run-cache")
        cache_s = time.perf_counter() - t

    train_rate = cache_run.images_per_s
    print(
        f"{args.n} JPEGs (256x256 -> {args.size}x{args.size}), {args.workers} workers, "
        f"{args.epochs} epochs, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(f"{'what':<44} {'value':>10}")
    print(f"{'loader only: JPEG folder (img/s)':<44} {jpeg_rate:10.1f}")
    print(f"{'loader only: cache in memory (img/s)':<44} {mem_rate:10.1f}")
    print(f"{'loader only: cache from disk, lazy (img/s)':<44} {lazy_rate:10.1f}")
    print(f"{'training from cache (img/s)':<44} {train_rate:10.1f}")
    print(f"{'cache in memory / training':<44} {mem_rate / train_rate:9.1f}x")
    print(f"{'cache from disk / training':<44} {lazy_rate / train_rate:9.1f}x")
    print(f"{'prepare (s)':<44} {prepare_s:10.2f}")
    print(f"{'train on JPEGs, all epochs (s)':<44} {jpeg_s:10.2f}")
    print(f"{'prepare + train on cache (s)':<44} {prepare_s + cache_s:10.2f}")
    print(
        f"{'per epoch: JPEGs / cache (s)':<44} "
        f"{jpeg_s / args.epochs:5.2f} / {cache_s / args.epochs:.2f}"
    )


if __name__ == "__main__":
    main()
