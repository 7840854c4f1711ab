"""How many exemplars make a stable mean offset? (`concept mine --per-concept`)

Mines as `ganlab concept mine` does (a logistic regression on the run's D features of
labelled real images scores a seeded pool), then, for class pairs A -> B and N exemplars per
concept, builds the mean offset mean(B) - mean(A) twice from two DISJOINT exemplar sets (the
classifier's ranking split into even and odd ranks, then N of each taken as `--exemplars`
would: the top N, or N spread over the confident range) and prints the cosine between the two
offsets, their norm, and the cosine to the offset of every pool sample of the two classes.
A direction is stable when two independent draws agree (cosine near 1); the paper's 3
exemplars give mostly noise: the mean of N uniform(-1, 1)^nz latents carries noise of norm
sqrt(nz / (3 N)), 5.8 / sqrt(N) for nz = 100.

    python benchmarks/exemplar_stability.py --run runs/fashion
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from ganlab.core.device import resolve_device
from ganlab.core.features import d_features
from ganlab.core.generate import generate
from ganlab.core.nets import load_discriminator
from ganlab.core.seeds import z_from_seeds
from ganlab.experiments.concept import (
    CONFIDENT,
    fit_classifier,
    load_labelled,
    pick_exemplars,
)
from ganlab.io.checkpoint import load_checkpoint
from ganlab.io.images import to_uint8

SIZES = (1, 3, 5, 10, 20, 30, 50, 80)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="run directory or checkpoint")
    ap.add_argument("--pool", type=int, default=2000, help="mining pool (seeds 0..N-1)")
    ap.add_argument("--pairs", type=int, default=20, help="class pairs measured at most")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    start = time.perf_counter()
    device = resolve_device(args.device)
    ckpt = load_checkpoint(args.run)
    nz, dist = ckpt.model_config.nz, ckpt.z_dist
    real = load_labelled(ckpt)
    D = load_discriminator(ckpt, device)
    col = real.columns[0]
    clf = fit_classifier(col.name, d_features(D, real.images, device).numpy(), col.values)
    zt = z_from_seeds(list(range(args.pool)), nz, dist)  # (P, nz)
    proba = clf.predict_proba(d_features(D, to_uint8(generate(ckpt, zt, device)), device).numpy())
    z = zt.numpy()
    assigned = proba.argmax(1)

    def halves(k: int, n: int, how: str) -> tuple[np.ndarray, np.ndarray] | None:
        """Two disjoint exemplar sets of n for class k: even and odd ranks, then picked."""
        idx = np.flatnonzero(assigned == k)
        ranked = idx[np.argsort(-proba[idx, k], kind="stable")]
        if len(ranked) < 2 * n:
            return None
        sets = []
        for part in (ranked[0::2], ranked[1::2]):
            sets.append(pick_exemplars(part, proba[part, k], n, how))
        return sets[0], sets[1]

    counts = np.bincount(assigned, minlength=len(clf.classes))
    usable = [k for k in range(len(clf.classes)) if counts[k] >= 2]
    pairs = list(itertools.permutations(usable, 2))[: args.pairs]
    print(
        f"run {ckpt.path} (step {ckpt.step}, nz {nz}, {dist} z); classifier held-out accuracy "
        f"{clf.heldout_accuracy:.3f}; pool {args.pool}: "
        + ", ".join(f"{clf.classes[k]}:{counts[k]}" for k in usable)
    )
    print(f"{len(pairs)} ordered class pairs; 'stratified' spreads over scores >= {CONFIDENT}")
    print()
    print(
        f"{'N':>4} {'exemplars':>11} {'pairs':>6} {'cos(half1, half2)':>18} "
        f"{'|offset|':>9} {'cos(half, all)':>15}"
    )
    for how in ("extreme", "stratified"):
        for n in SIZES:
            cos, norms, to_all = [], [], []
            for a, b in pairs:
                ha, hb = halves(a, n, how), halves(b, n, how)
                if ha is None or hb is None:
                    continue
                o1 = z[hb[0]].mean(0) - z[ha[0]].mean(0)
                o2 = z[hb[1]].mean(0) - z[ha[1]].mean(0)
                full = z[assigned == b].mean(0) - z[assigned == a].mean(0)
                cos.append(cosine(o1, o2))
                norms += [np.linalg.norm(o1), np.linalg.norm(o2)]
                to_all += [cosine(o1, full), cosine(o2, full)]
            if cos:
                print(
                    f"{n:>4} {how:>11} {len(cos):>6} {np.mean(cos):>18.3f} "
                    f"{np.mean(norms):>9.2f} {np.mean(to_all):>15.3f}"
                )
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
