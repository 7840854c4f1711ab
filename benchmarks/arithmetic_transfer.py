"""Does concept arithmetic move samples between classes? (paper Fig. 7, measured)

For a run trained on a labelled built-in dataset (digits, mnist, ...): mine one concept per
class exactly as `ganlab concept mine` does (logistic regression on the run's D features),
take fresh seeds (never in the mining pool) that the classifier assigns to class A, add
mean(B) - mean(A), and count how many the classifier now assigns to B. The control adds a
random direction of the same norm instead. Prints a table; writes nothing.

    python benchmarks/arithmetic_transfer.py --run runs/demo
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ganlab.core.device import resolve_device
from ganlab.core.features import d_features
from ganlab.core.generate import generate
from ganlab.core.nets import load_discriminator
from ganlab.core.seeds import concept_z, z_from_seeds
from ganlab.experiments.concept import load_labelled, mine
from ganlab.io.checkpoint import load_checkpoint
from ganlab.io.images import to_uint8


def classify(ckpt, D, clf, z, device) -> np.ndarray:
    """Class indices (N,) the mining classifier gives G(z)."""
    images = to_uint8(generate(ckpt, z, device))
    return clf.predict_proba(d_features(D, images, device).numpy()).argmax(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="run directory or checkpoint")
    ap.add_argument("--pool", type=int, default=2000, help="mining pool (seeds 0..N-1)")
    ap.add_argument("--per-concept", type=int, default=3)
    ap.add_argument("-n", type=int, default=32, help="fresh seeds per source class")
    ap.add_argument("--first-fresh-seed", type=int, default=1_000_000)
    ap.add_argument("--scan", type=int, default=20000, help="fresh seeds scanned at most")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    start = time.perf_counter()
    device = resolve_device(args.device)
    ckpt = load_checkpoint(args.run)
    nz, dist = ckpt.model_config.nz, ckpt.z_dist
    concepts, (clf,), notes = mine(ckpt, load_labelled(ckpt), args.pool, args.per_concept, device)
    for note in notes:
        print("note:", note)
    D = load_discriminator(ckpt, device)
    index = {c: k for k, c in enumerate(clf.classes)}
    means = {c.name: concept_z(c, nz, dist) for c in concepts}  # class name -> (nz,)
    classes = [c for c in clf.classes if c in means]

    # fresh seeds per class, as the classifier sees them
    fresh: dict[str, list[int]] = {c: [] for c in classes}
    seed = args.first_fresh_seed
    while seed < args.first_fresh_seed + args.scan and min(map(len, fresh.values())) < args.n:
        seeds = list(range(seed, seed + 1000))
        for s, k in zip(
            seeds, classify(ckpt, D, clf, z_from_seeds(seeds, nz, dist), device), strict=True
        ):
            name = clf.classes[k]
            if name in fresh and len(fresh[name]) < args.n:
                fresh[name].append(s)
        seed += 1000

    gen = torch.Generator().manual_seed(0)
    rows = []  # (A, B, n, to_B, still_A, random_to_B, random_still_A)
    for a in classes:
        if not fresh[a]:
            continue
        z = z_from_seeds(fresh[a], nz, dist)  # (n, nz)
        for b in classes:
            if b == a:
                continue
            offset = means[b] - means[a]
            rand = torch.randn(nz, generator=gen)
            rand = rand / rand.norm() * offset.norm()
            moved = classify(ckpt, D, clf, z + offset, device)
            control = classify(ckpt, D, clf, z + rand, device)
            rows.append(
                (
                    a,
                    b,
                    len(z),
                    (moved == index[b]).mean(),
                    (moved == index[a]).mean(),
                    (control == index[b]).mean(),
                    (control == index[a]).mean(),
                )
            )

    print(
        f"run {ckpt.path} (step {ckpt.step}, nz {nz}, {dist} z); classifier held-out "
        f"accuracy {clf.heldout_accuracy:.3f} on {clf.n_heldout} real images"
    )
    print(
        f"concepts: {len(concepts)} classes x {args.per_concept} exemplars from a "
        f"{args.pool}-seed pool; fresh seeds per class: "
        + ", ".join(f"{c}:{len(fresh[c])}" for c in classes)
    )
    print()
    print("per source class A (mean over targets B):")
    print(f"{'A':>12} {'n':>4} {'->B':>7} {'stay A':>7} {'rand->B':>8} {'rand stay':>10}")
    for a in classes:
        r = [row for row in rows if row[0] == a]
        if r:
            m = np.mean([row[3:] for row in r], axis=0)
            print(f"{a:>12} {r[0][2]:>4} {m[0]:>7.3f} {m[1]:>7.3f} {m[2]:>8.3f} {m[3]:>10.3f}")
    avg = np.mean([row[3:] for row in rows], axis=0)
    print()
    print(f"{'offset added to z':<34} {'-> class B':>10} {'stays A':>8}")
    print(f"{'mean(B) - mean(A)':<34} {avg[0]:>10.3f} {avg[1]:>8.3f}")
    print(f"{'random, same norm (control)':<34} {avg[2]:>10.3f} {avg[3]:>8.3f}")
    print(
        f"averaged over {len(rows)} ordered class pairs; chance for B is "
        f"{1 / len(clf.classes):.3f}; {time.perf_counter() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
