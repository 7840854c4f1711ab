"""Does the paper's face arithmetic (Fig. 7) give the faces it promises? An independent judge says.

The paper's two face equations,

    man with glasses - man without glasses + woman without glasses = woman with glasses
    smiling woman - neutral woman + neutral man = smiling man

are built as `ganlab concept mine --define` and `ganlab arithmetic --base/--minus/--plus` build
them: the concepts are mined in memory from CelebA's attributes (Male, Eyeglasses, Smiling) with
the run's D-feature classifiers (nothing is written into the run), and each concept's z is the
mean of its first N exemplars (the surest). The result Y = base - minus + plus is decoded with
the figure's uniform noise (`--samples` draws of scale `--noise`, seeded as the figure seeds
them), and a judge scores the images: the share that shows every target attribute (for the
first equation: not Male AND Eyeglasses). Beside it:

- the base concept alone: the base exemplars' mean z with the same noise (where the share
  starts);
- each direction `arithmetic` offers for the figure: `mean` (the paper's) and `boundary` (the
  mined concepts' boundary normals), each as it is and made orthogonal to the boundary normal
  of the attribute minus and plus share (`arithmetic --keep`: Eyeglasses for the glasses
  equation, Smiling for the smile one, mined as "with glasses" / "smiling"), each with the
  fixed step and stepped per noisy sample until the run's D-feature classifiers give the parts
  of the plus concept that minus does not share (`arithmetic --until-flip`: not Male for the
  glasses equation; up to `--flip-cap` times the offset, plus the command's margin, or with
  `--flip-confidence P` where each is at least that sure), and for
  each a random offset of the same norm (one random direction per image): what any step that
  long does;
- the paper's 3 exemplars against more (`--exemplars 3,10,30`), optionally over several
  disjoint exemplar sets (`--sets`: set j takes ranks j*N .. j*N+N-1), as the single set of the
  figure is one draw.

Before the equations, each concept alone: the share of its exemplars (each decoded alone) and
of their mean z with the noise that the judge sees as the concept's definition, which tells a
mining error from an averaging one.

The judge is not the mining classifier: a small CNN (benchmarks/judge.py's SmallCNN) with one
output per attribute of the file (40 for CelebA), trained with binary cross-entropy on the real
labelled images at the run's size (a seeded `--heldout` share kept out), so a result cannot pass
by fooling the run's D features. Its per-attribute accuracy on the held-out images is reported,
and for each target, the share of held-out real images with the target attributes that it
recognises (the ceiling) and of those without them that it calls the target (the floor).
`--judge-weighting balanced` weights each attribute's positives by its negatives/positives
ratio and flips half of each batch left-right, for rare attributes (Eyeglasses: 6.6% of CelebA).

Prints the tables and writes the numbers as JSON (atomically) to `--out`.

    python benchmarks/figure7.py --run runs/faces --labels celeba/list_attr_celeba.txt \
        --data-root celeba --out figure7.json
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch
from judge import SmallCNN, to_unit
from torch import nn

from ganlab.core.device import resolve_device
from ganlab.core.generate import generate
from ganlab.core.seeds import concept_z, sample_z
from ganlab.errors import GanlabError
from ganlab.experiments.arithmetic import (
    DIRECTIONS,
    FLIP_MARGIN,
    FlipTarget,
    edit_offset,
    step_until_flip,
)
from ganlab.experiments.concept import load_labelled, mine_defined, parse_definitions
from ganlab.io.atomic import write_json
from ganlab.io.checkpoint import load_checkpoint
from ganlab.io.concepts import Concept
from ganlab.io.images import to_uint8

# name -> (base, minus, plus, target, kept), each (concept name, definition as `--define` takes
# it); `kept` is the attribute minus and plus share, which the offset should not change: the
# rows "..., --keep" make the offset orthogonal to its boundary in z, as `arithmetic --keep` does
EQUATIONS = {
    "glasses": (
        ("man with glasses", "Male,Eyeglasses"),
        ("man without glasses", "Male,-Eyeglasses"),
        ("woman without glasses", "-Male,-Eyeglasses"),
        ("woman with glasses", "-Male,Eyeglasses"),
        ("with glasses", "Eyeglasses"),
    ),
    "smile": (
        ("smiling woman", "-Male,Smiling"),
        ("neutral woman", "-Male,-Smiling"),
        ("neutral man", "Male,-Smiling"),
        ("smiling man", "Male,Smiling"),
        ("smiling", "Smiling"),
    ),
}


# --- the judge ---------------------------------------------------------------------------------


def attribute_targets(real) -> tuple[torch.Tensor, list[str]]:
    """CelebA's 1/-1 attributes as a float (N, A) matrix of 1/0 and the attribute names."""
    names, cols = [], []
    for col in real.columns:
        if not set(col.values) <= {"1", "-1"}:
            raise SystemExit(
                f"figure7.py: column {col.name!r} of {real.source} is not a 1/-1 attribute; "
                "give CelebA's list_attr_celeba.txt (or a file in its format)."
            )
        names.append(col.name)
        cols.append([v == "1" for v in col.values])
    return torch.tensor(cols, dtype=torch.float32).T.contiguous(), names


def fit_judge(
    images: torch.Tensor,
    targets: torch.Tensor,
    train: torch.Tensor,
    epochs: int,
    device,
    gen,
    balanced: bool = False,
) -> SmallCNN:
    """A multi-label SmallCNN (one logit per attribute), Adam lr 1e-3, batch 128, BCE, eval mode.

    Args:
        images: uint8 (N, C, S, S).
        targets: float (N, A) of 1/0.
        train: indices of the training images; shuffled each epoch with `gen`.
        epochs: passes over them.
        device: where to train.
        gen: the shuffles' (and flips') generator (the weights' initialisation is seeded 0).
        balanced: weight each attribute's positives by its negatives/positives ratio in
            `train` (a rare attribute such as Eyeglasses counts as much present as absent)
            and flip half of each batch left-right (faces are symmetric enough; the labels
            stay).
    """
    torch.manual_seed(0)
    net = SmallCNN(images.shape[1], images.shape[-1], targets.shape[1]).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    pos = targets[train].mean(0).clamp(1e-3, 1 - 1e-3)  # (A,)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=((1 - pos) / pos).to(device) if balanced else None)
    net.train()
    for _ in range(epochs):
        for idx in train[torch.randperm(len(train), generator=gen)].split(128):
            x = to_unit(images[idx])  # (B, C, S, S)
            if balanced:
                flip = torch.rand(len(idx), generator=gen) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            loss = loss_fn(net(x.to(device)), targets[idx].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


@torch.no_grad()
def judge(net: SmallCNN, images: torch.Tensor, device) -> np.ndarray:
    """(N, A) bool: the attributes the judge sees in uint8 images (N, C, S, S)."""
    out = [net(to_unit(b.to(device))).cpu() > 0 for b in images.split(512)]
    return torch.cat(out).numpy()


def satisfied(verdicts: np.ndarray, parts, names: list[str]) -> np.ndarray:
    """(N, len(parts)) bool: each part of a definition as the judge sees it (CelebA: "1" is the
    attribute's presence, "-1" its absence)."""
    cols = [verdicts[:, names.index(p.column)] == (p.value == "1") for p in parts]
    return np.stack(cols, axis=1)


# --- the arithmetic ----------------------------------------------------------------------------


def exemplar_set(concept: Concept, n: int, j: int) -> Concept:
    """The concept with its exemplars of ranks j*n .. j*n+n-1 (j = 0: `arithmetic --exemplars
    n`'s; mined concepts list their seeds surest first)."""
    return dataclasses.replace(concept, seeds=concept.seeds[j * n : (j + 1) * n], latents=[])


def flip_aims(
    plus, minus, by_column: dict, sha256: str, confidence: float | None = None
) -> list[FlipTarget]:
    """What `arithmetic --until-flip` aims at for plus - minus: each part of the plus
    definition that the minus one does not share, as the run's classifier of its column."""
    shared = {(q.column, q.value, q.negated) for q in minus.parts}
    return [
        FlipTarget(by_column[q.column].arrays(sha256), q.value, confidence)
        for q in plus.parts
        if (q.column, q.value, q.negated) not in shared
    ]


def random_like(norm: float, n: int, nz: int, gen: torch.Generator) -> torch.Tensor:
    """n random directions (n, nz), each of length `norm`."""
    r = torch.randn(n, nz, generator=gen)
    return r / r.norm(dim=1, keepdim=True) * norm


def concept_rows(
    concepts: dict[str, Concept],
    defs,
    counts: list[int],
    noise: torch.Tensor,
    verdict,
    nz: int,
    dist: str,
) -> list[dict]:
    """Does the judge agree with the mining? For each concept and exemplar count (the first
    set): the share of its exemplars, each decoded alone, that the judge sees as the concept's
    definition, and the same share of their mean z decoded with the figure's noise. A low first
    share is the mining's error (the run's D-feature classifiers against the judge); a low second
    one with a high first is the averaging's (the mean of a few z decodes as another face)."""
    rows = []
    for d in defs:
        for n in counts:
            cut = exemplar_set(concepts[d.name], n, 0)
            each = torch.stack(
                [concept_z(exemplar_set(cut, 1, i), nz, dist) for i in range(len(cut.seeds))]
            )  # (n, nz)
            rows.append(
                {
                    "concept": d.name,
                    "definition": d.text,
                    "exemplars": n,
                    "exemplars_judged": round(verdict(each, d.parts)[0], 4),
                    "mean_judged": round(verdict(concept_z(cut, nz, dist) + noise, d.parts)[0], 4),
                }
            )
    return rows


def equation_rows(
    concepts: dict[str, Concept],
    names: tuple[str, str, str],
    kept: Concept,
    parts,
    counts: list[int],
    sets: int,
    noise: torch.Tensor,
    verdict,
    skipped: list[str],
    equation: str,
    nz: int,
    dist: str,
    flip=None,
) -> list[dict]:
    """One row per (exemplar count, set, result): the base alone, each direction as it is and
    made orthogonal to `kept`'s boundary normal (`arithmetic --keep`), each also stepped per
    noisy sample until the run's classifiers flip (`arithmetic --until-flip`; `flip(z, offset)`
    gives each sample's multiple), and a random offset of each one's norm (per sample where
    stepped), each decoded with the figure's noise and scored by `verdict`."""
    base_name, minus, plus = names
    rows = []
    for n in counts:
        for j in range(sets):
            cut = {k: exemplar_set(concepts[k], n, j) for k in names}
            base = concept_z(cut[base_name], nz, dist)  # (nz,)
            share, each = verdict(base + noise, parts)
            rows.append(_row(n, j, "base alone", 0.0, share, each))
            for method in DIRECTIONS:
                for keep in ((), (kept,)):
                    name = f"{method}, --keep {kept.name!r}" if keep else method
                    try:
                        offset = edit_offset(cut, [plus], [minus], nz, dist, method, keep)
                    except GanlabError as err:
                        if n == counts[0] and j == 0:
                            skipped.append(f"{equation}, {name}: {err}")
                        continue
                    norm = float(offset.norm())
                    steps = [("", torch.ones(len(noise)))]  # (label, per-sample multiple)
                    if flip is not None:
                        steps.append((", --until-flip", flip(base + noise, offset)))
                    for suffix, scale in steps:
                        share, each = verdict(base + noise + scale[:, None] * offset, parts)
                        mean_norm = float(scale.mean()) * norm
                        rows.append(_row(n, j, name + suffix, mean_norm, share, each))
                        gen = torch.Generator().manual_seed(j)
                        rand = random_like(1.0, len(noise), nz, gen) * (scale * norm)[:, None]
                        share, each = verdict(base + rand + noise, parts)
                        label = f"random (norm of {name}{suffix})"
                        rows.append(_row(n, j, label, mean_norm, share, each))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="run directory or checkpoint")
    ap.add_argument("--labels", required=True, help="CelebA's list_attr_celeba.txt (its format)")
    ap.add_argument(
        "--data-root",
        help="folder the listed images lie in (default: the run's own data root, then the "
        "label file's folder)",
    )
    ap.add_argument("--equations", default="glasses,smile", help="of: " + ", ".join(EQUATIONS))
    ap.add_argument("--exemplars", default="3,10,30", help="exemplars per concept to compare")
    ap.add_argument("--sets", type=int, default=1, help="disjoint exemplar sets per count")
    ap.add_argument("--pool", type=int, default=2000, help="mining pool (seeds 0..N-1)")
    ap.add_argument("--samples", type=int, default=64, help="noisy decodings of each result")
    ap.add_argument("--noise", type=float, default=0.25, help="half-width of the uniform noise")
    ap.add_argument("--noise-seed", type=int, default=0)
    ap.add_argument("--max-images", type=int, default=10000, help="labelled real images used")
    ap.add_argument("--heldout", type=float, default=0.1, help="judge's held-out share")
    ap.add_argument("--judge-epochs", type=int, default=10)
    ap.add_argument(
        "--judge-weighting",
        choices=["none", "balanced"],
        default="none",
        help="balanced: weight each attribute's positives by its negatives/positives ratio and "
        "flip half of each batch (raises a rare attribute's recall, e.g. Eyeglasses)",
    )
    ap.add_argument(
        "--flip-cap",
        type=float,
        default=8.0,
        help="the largest multiple of the offset the --until-flip rows search (as --scale caps "
        "`arithmetic --until-flip`)",
    )
    ap.add_argument(
        "--flip-confidence",
        type=float,
        help="the --until-flip rows stop only where the run's classifiers give each aimed-at "
        "value at least this probability (as `arithmetic --confidence`)",
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="figure7.json", help="the JSON results (written atomically)")
    args = ap.parse_args()
    start = time.perf_counter()
    names = [e.strip() for e in args.equations.split(",") if e.strip()]
    unknown = [e for e in names if e not in EQUATIONS]
    counts = sorted({int(n) for n in args.exemplars.split(",")})
    if unknown or not names:
        ap.error(f"--equations: use some of {', '.join(EQUATIONS)}")
    if min(counts) < 1 or args.sets < 1:
        ap.error("--exemplars and --sets: use counts >= 1")
    if args.flip_confidence is not None and not 0 < args.flip_confidence < 1:
        ap.error("--flip-confidence: use a probability between 0 and 1")
    device = resolve_device(args.device)
    ckpt = load_checkpoint(args.run)
    nz, dist = ckpt.model_config.nz, ckpt.z_dist
    data_root = args.data_root or ckpt.train_config.get("data_root") or Path(args.labels).parent
    real = load_labelled(ckpt, data_root, args.labels, max_images=args.max_images)
    targets, attrs = attribute_targets(real)

    # the judge: trained on real images, scored on a held-out share
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(real.images), generator=gen)
    cut = max(1, round(len(order) * args.heldout))
    test, train = order[:cut], order[cut:]
    balanced = args.judge_weighting == "balanced"
    net = fit_judge(real.images, targets, train, args.judge_epochs, device, gen, balanced)
    seen = judge(net, real.images[test], device)  # (T, A)
    truth = targets[test].numpy() > 0.5

    # the concepts, mined as `concept mine --define` mines them (in memory), and the targets
    wanted = {n: d for e in names for n, d in (*EQUATIONS[e][:3], EQUATIONS[e][4])}
    defs = parse_definitions([f"{n}={d}" for n, d in wanted.items()], real.columns, args.labels)
    goals = [f"{EQUATIONS[e][3][0]}={EQUATIONS[e][3][1]}" for e in names]
    goal_defs = parse_definitions(goals, real.columns, args.labels)
    target_parts = {e: d.parts for e, d in zip(names, goal_defs, strict=True)}
    try:
        mined, classifiers, notes = mine_defined(
            ckpt, real, defs, args.pool, max(counts) * args.sets, device, exemplars="extreme"
        )
    except GanlabError as e:
        raise SystemExit(
            f"figure7.py: {e} (here --per-concept is the largest --exemplars times --sets)"
        ) from None
    concepts = {c.name: c for c in mined}
    definitions = {d.name: d for d in defs}
    by_column = {c.column: c for c in classifiers}  # the run's D-feature classifiers

    used = sorted({p.column for e in names for p in target_parts[e]}, key=attrs.index)
    report = {
        "kind": "figure7 benchmark",
        "argv": ["python", *sys.argv],
        "run": str(args.run),
        "checkpoint": str(ckpt.path),
        "step": ckpt.step,
        "labels": str(args.labels),
        "pool": args.pool,
        "samples": args.samples,
        "noise": args.noise,
        "noise_seed": args.noise_seed,
        "flip_cap": args.flip_cap,
        "flip_margin": FLIP_MARGIN,
        "flip_confidence": args.flip_confidence,
        "exemplars": counts,
        "sets": args.sets,
        "judge": {
            "model": "SmallCNN, one logit per attribute, BCE",
            "weighting": args.judge_weighting,
            "n_train": len(train),
            "n_heldout": len(test),
            "epochs": args.judge_epochs,
            "attributes": {
                a: _accuracy(seen[:, attrs.index(a)], truth[:, attrs.index(a)]) for a in used
            },
        },
        "concepts": {
            c.name: {
                "definition": c.source["definition"],
                "pool_qualified": c.source["pool_qualified"],
                "heldout_accuracy": {p["column"]: p["heldout_accuracy"] for p in c.source["parts"]},
            }
            for c in mined
        },
        "notes": notes,
        "equations": {},
    }
    print(
        f"run {ckpt.path} (step {ckpt.step}, nz {nz}, {dist} z); {len(real.images)} labelled "
        f"images from {real.source}"
    )
    print(
        f"judge: SmallCNN with {len(attrs)} outputs ({args.judge_weighting} weighting), "
        f"{len(train)} training images, {len(test)} held out: "
        + ", ".join(
            f"{a} {v['accuracy']:.3f} (balanced {v['balanced_accuracy']})"
            for a, v in report["judge"]["attributes"].items()
        )
    )
    each = ", ".join(f"{c.name} {c.source['pool_qualified']}" for c in mined)
    print(f"pool samples that qualify (of {args.pool}): {each}")
    for note in notes:
        print("note:", note)

    noise = sample_z(args.samples, nz, "uniform", torch.Generator().manual_seed(args.noise_seed))
    noise = noise * args.noise  # (samples, nz), as `arithmetic --base` draws it

    def verdict(z: torch.Tensor, parts) -> tuple[float, list[float]]:
        """Share of G(z) with every target part, and with each part."""
        ok = satisfied(judge(net, to_uint8(generate(ckpt, z, device)), device), parts, attrs)
        return float(ok.all(axis=1).mean()), [float(v) for v in ok.mean(axis=0)]

    skipped: list[str] = []  # a direction the concepts do not support (no boundary)

    report["concept_checks"] = concept_rows(concepts, defs, counts, noise, verdict, nz, dist)
    print("\neach concept alone: the judge's share of its exemplars (each decoded alone) and of")
    print("their mean z with the figure's noise that show its definition")
    print("| concept | definition | exemplars | exemplars judged | mean judged |")
    print("| --- | --- | ---: | ---: | ---: |")
    for r in report["concept_checks"]:
        print(
            f"| {r['concept']} | {r['definition']} | {r['exemplars']} | "
            f"{r['exemplars_judged']:.2f} | {r['mean_judged']:.2f} |"
        )

    for e in names:
        (b, _), (m, _), (p, _), (t, t_def), (k, _) = EQUATIONS[e]
        parts = target_parts[e]
        has = satisfied(truth, parts, attrs).all(axis=1)
        called = satisfied(seen, parts, attrs).all(axis=1)
        ceiling = float(called[has].mean()) if has.any() else None
        floor = float(called[~has].mean()) if (~has).any() else None
        aims = flip_aims(
            definitions[p], definitions[m], by_column, ckpt.sha256(), args.flip_confidence
        )

        def flip(z: torch.Tensor, offset: torch.Tensor, aims=aims) -> torch.Tensor:
            """Each sample's multiple of `offset`: where the run's classifiers flip, + margin."""
            return step_until_flip(ckpt, z, offset, aims, args.flip_cap, FLIP_MARGIN, device)[2]

        rows = equation_rows(
            concepts, (b, m, p), concepts[k], parts, counts, args.sets, noise, verdict, skipped,
            e, nz, dist, flip,
        )  # fmt: skip
        report["equations"][e] = {
            "expression": f"{b} - {m} + {p} = {t}",
            "kept": k,
            "target": t_def,
            "parts": _part_names(parts),  # the order of each row's per_part shares
            "real_heldout_with_target": int(has.sum()),
            "ceiling": ceiling,
            "floor": floor,
            "rows": rows,
            "mean": _means(rows),
        }
        _print_equation(e, report["equations"][e])
    report["skipped"] = skipped
    write_json(args.out, report)
    for line in skipped:
        print("skipped:", line)
    print(f"\n{time.perf_counter() - start:.0f} s; wrote {args.out}")


def _accuracy(pred: np.ndarray, true: np.ndarray) -> dict:
    pos, neg = true.sum(), (~true).sum()
    tpr = float(pred[true].mean()) if pos else None
    tnr = float((~pred[~true]).mean()) if neg else None
    return {
        "accuracy": round(float((pred == true).mean()), 4),
        "balanced_accuracy": None if None in (tpr, tnr) else round((tpr + tnr) / 2, 4),
        "positive_rate": round(float(true.mean()), 4),
    }


def _row(n: int, j: int, result: str, norm: float, share: float, each: list[float]) -> dict:
    return {
        "exemplars": n,
        "set": j,
        "result": result,
        "offset_norm": round(norm, 4),
        "all_targets": round(share, 4),
        "per_part": [round(v, 4) for v in each],
    }


def _means(rows: list[dict]) -> list[dict]:
    """The rows averaged over exemplar sets: one per (exemplars, result)."""
    keys = list(dict.fromkeys((r["exemplars"], r["result"]) for r in rows))
    out = []
    for n, result in keys:
        group = [r for r in rows if (r["exemplars"], r["result"]) == (n, result)]
        out.append(
            {
                "exemplars": n,
                "result": result,
                "sets": len(group),
                "offset_norm": round(float(np.mean([r["offset_norm"] for r in group])), 4),
                "all_targets": round(float(np.mean([r["all_targets"] for r in group])), 4),
                "per_part": [
                    round(float(v), 4) for v in np.mean([r["per_part"] for r in group], axis=0)
                ],
            }
        )
    return out


def _part_names(parts) -> list[str]:
    """ "not Male", "Eyeglasses": each part as the tables name it."""
    return [("not " if p.value != "1" else "") + p.column for p in parts]


def _print_equation(name: str, eq: dict) -> None:
    ceiling = "-" if eq["ceiling"] is None else f"{eq['ceiling']:.2f}"
    floor = "-" if eq["floor"] is None else f"{eq['floor']:.2f}"
    print(f"\n{name}: {eq['expression']} (target {eq['target']})")
    print(
        f"judge on held-out real images: {ceiling} of the {eq['real_heldout_with_target']} "
        f"with the target called it (ceiling), {floor} of the others (floor)"
    )
    heads = eq["parts"]
    print("| exemplars | result | sets | offset norm | all targets | " + " | ".join(heads) + " |")
    print("| --- " * (5 + len(heads)) + "|")
    for r in eq["mean"]:
        each = " | ".join(f"{v:.2f}" for v in r["per_part"])
        print(
            f"| {r['exemplars']} | {r['result']} | {r['sets']} | {r['offset_norm']:.2f} | "
            f"{r['all_targets']:.2f} | {each} |"
        )


if __name__ == "__main__":
    try:
        main()
    except GanlabError as e:  # a bad file, an unknown attribute, too few qualifying samples
        raise SystemExit(f"figure7.py: {e}") from None
