"""How well does `ganlab dedup` find injected duplicates? Recall, false positives, speed.

Builds an LSUN-format LMDB (the reader `ganlab dedup lsun` uses at millions of images) from
Fashion-MNIST training images plus injected copies, runs
ganlab.experiments.dedup.find_duplicates on it through the ordinary LMDB reader, and prints
one table row per (scenario, probe):

- exact:   the same encoded bytes under another key;
- jpeg:    the image re-encoded as JPEG, quality 75..95;
- resized: resized by 1..3 pixels (either way), then JPEG 75..95.

Scenarios: `large` stores every image at 64x64 (Fashion-MNIST upsampled), like LSUN's photos
that the hash sees downsampled to 32x32; `native` stores the 28x28 originals, so the copies'
JPEG and resampling artifacts survive at full strength in the upsampled 32x32 crops.

recall: copies grouped with their original. FPR: distinct originals (exact pixel repeats in
Fashion-MNIST removed first) grouped with any image of another family. img/s: the hashing
pass (LMDB read + decode + resize + encode), one process.

    .venv/bin/python benchmarks/dedup_quality.py                 # ~20k distinct + 3k copies
    .venv/bin/python benchmarks/dedup_quality.py --distinct 5000 --copies 300
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import tempfile
import time
from pathlib import Path

import lmdb
import numpy as np
import torch
from PIL import Image

from ganlab.data import load_dataset
from ganlab.data.idx import read_idx_split
from ganlab.data.registry import DATASETS, DEFAULT_ROOTS
from ganlab.experiments.dedup import DedupConfig, find_duplicates, group_codes
from ganlab.progress import Reporter

KINDS = ("exact", "jpeg", "resized")


def encode(img: Image.Image, fmt: str, quality: int = 95) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, quality=quality) if fmt == "JPEG" else img.save(buf, format=fmt)
    return buf.getvalue()


def build_lmdb(
    folder: Path,
    raw: np.ndarray,
    distinct: np.ndarray,
    copies: int,
    scenario: str,
    rng: np.random.Generator,
) -> dict[bytes, tuple[int, str]]:
    """Write distinct originals and injected copies; return key -> (family, kind)."""
    side = 64 if scenario == "large" else 28

    def base(i: int) -> Image.Image:
        img = Image.fromarray(raw[i, 0])
        return img.resize((side, side), Image.Resampling.BICUBIC) if side != 28 else img

    records: list[tuple[int, str, bytes]] = []
    for fam in range(len(distinct)):
        records.append((fam, "original", encode(base(distinct[fam]), "PNG")))
    for kind in KINDS:
        for fam in rng.choice(len(distinct), copies, replace=False):
            img = base(distinct[fam])
            if kind == "exact":
                value = records[fam][2]
            else:
                if kind == "resized":
                    d = int(rng.choice([-3, -2, -1, 1, 2, 3]))
                    img = img.resize((side + d, side + d), Image.Resampling.BICUBIC)
                value = encode(img, "JPEG", int(rng.integers(75, 96)))
            records.append((int(fam), kind, value))
    truth = {}
    env = lmdb.open(str(folder), map_size=1 << 32)
    with env.begin(write=True) as txn:
        for k, (fam, kind, value) in enumerate(records):
            key = hashlib.sha1(f"{scenario}-{k}".encode()).hexdigest().encode()  # random order
            txn.put(key, value)
            truth[key] = (fam, kind)
    env.close()
    return truth


def metrics(group: np.ndarray, family: np.ndarray, kind: np.ndarray) -> dict:
    """Recall per copy kind and the false-positive rate among distinct originals."""
    n = len(group)
    gid = np.where(group >= 0, group, np.arange(n))  # singletons: their own group
    orig_of = {
        int(f): i for i, (f, k) in enumerate(zip(family, kind, strict=True)) if k == "original"
    }
    out = {}
    for k in KINDS:
        rows = np.flatnonzero(kind == k)
        out[k] = float(np.mean([gid[i] == gid[orig_of[int(family[i])]] for i in rows]))
    # a distinct original is a false positive when its group holds another family
    families_in = {}
    for i in range(n):
        families_in.setdefault(int(gid[i]), set()).add(int(family[i]))
    originals = np.flatnonzero(kind == "original")
    out["fpr"] = float(np.mean([len(families_in[int(gid[i])]) > 1 for i in originals]))
    sizes = np.bincount(gid, minlength=n)
    out["largest"] = int(sizes.max())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distinct", type=int, default=20_000)
    parser.add_argument("--copies", type=int, default=1_000, help="copies per kind")
    parser.add_argument("--scenarios", default="large,native")
    parser.add_argument("--probes", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=DedupConfig.epochs)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    probes = [int(p) for p in args.probes.split(",")]

    info = DATASETS["fashion-mnist"]
    raw, _, _, _ = read_idx_split(info, DEFAULT_ROOTS["fashion-mnist"], "train")
    raw = np.asarray(raw)  # (60000, 1, 28, 28)
    rng = np.random.default_rng(args.seed)
    # distinct originals: no two with identical pixels
    _, first = np.unique(raw.reshape(len(raw), -1), axis=0, return_index=True)
    distinct = rng.permutation(np.sort(first))[: args.distinct]
    print(
        f"Fashion-MNIST train: {len(raw)} images, {len(first)} pixel-distinct; using "
        f"{len(distinct)} distinct + {args.copies} copies x {len(KINDS)} kinds; torch threads "
        f"{torch.get_num_threads()}, loader workers {args.workers}",
        file=sys.stderr,
    )

    rows = []
    for scenario in args.scenarios.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "bench_train_lmdb"
            truth = build_lmdb(folder, raw, distinct, args.copies, scenario, rng)
            data = load_dataset("lsun", folder, channels=1, image_size=32)
            family = np.array([truth[bytes(k)][0] for k in data.keys])
            kind = np.array([truth[bytes(k)][1] for k in data.keys])
            cfg = DedupConfig(probe=max(probes), epochs=args.epochs, seed=args.seed)
            t0 = time.perf_counter()
            result = find_duplicates(
                data,
                Path(tmp) / "dups.h5",
                cfg,
                workers=args.workers,
                reporter=Reporter(quiet=True),
            )
            total_s = time.perf_counter() - t0
            import h5py

            with h5py.File(Path(tmp) / "dups.h5") as f:
                codes, weakest, readable = f["codes"][:], f["weakest"][:], f["readable"][:]
            for p in probes:
                t1 = time.perf_counter()
                group = group_codes(codes, weakest[:, :p], readable)
                group_s = time.perf_counter() - t1
                m = metrics(group, family, kind)
                rows.append((scenario, p, m, result.images_per_s, len(data) / group_s, total_s))

    print(
        "| scenario | probe | recall exact | recall jpeg | recall resized | recall all | "
        "FPR (distinct) | largest group | hash img/s | group img/s | total s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for scenario, p, m, rate, grate, total_s in rows:
        allrec = np.mean([m[k] for k in KINDS])
        print(
            f"| {scenario} | {p} | {m['exact']:.3f} | {m['jpeg']:.3f} | {m['resized']:.3f} | "
            f"{allrec:.3f} | {m['fpr']:.4f} | {m['largest']} | {rate:.0f} | {grate:.0f} | "
            f"{total_s:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
