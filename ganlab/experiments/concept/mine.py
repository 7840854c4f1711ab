"""`ganlab concept mine`: concepts chosen by the run's classifier from a pool of samples.

A logistic regression on the run's own D features of labelled real images scores a pool of
generated samples, and each label value keeps its most confidently classified seeds (or seeds
spread over its confident range). Mining makes the arithmetic reproducible without
hand-picking.

Mining also fits, for each label value, a linear boundary in z between the pool samples the
classifier gives that value and the rest (InterFaceGAN, Shen et al. 2020): its unit normal is
a direction that changes the attribute while moving z as little as possible, unlike the mean
difference of a few exemplars, which also carries everything else those exemplars share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ganlab.core.boundary import BOUNDARY_C, Boundary, fit_boundary
from ganlab.core.features import d_features
from ganlab.core.generate import generate, hold_class
from ganlab.core.nets import load_discriminator
from ganlab.core.seeds import z_from_seeds
from ganlab.errors import GanlabError
from ganlab.experiments.concept.classifier import (
    C_REG,
    FEATURE_GRID,
    LabelClassifier,
    fit_classifier,
)
from ganlab.experiments.concept.labels import LabelledImages, load_labelled
from ganlab.experiments.concept.provenance import provenance
from ganlab.io.checkpoint import Checkpoint, load_checkpoint
from ganlab.io.concepts import Concept, open_concepts, save_classifier, save_concepts
from ganlab.io.images import to_uint8
from ganlab.io.seedlist import format_seeds

PER_CONCEPT = 50  # exemplars per concept: see benchmarks/exemplar_stability.py
CONFIDENT = 0.8  # "stratified" exemplars: spread over the pool samples scored at least this
MIN_SIDE = 5  # pool samples needed on each side of a boundary


def pick_exemplars(idx: np.ndarray, scores: np.ndarray, n: int, how: str) -> np.ndarray:
    """n of the pool indices `idx` (scores: their classifier scores, same order).

    "extreme": the n highest scores. "stratified": n spread evenly over the ranked samples
    scored at least CONFIDENT (all of `idx` if fewer than n are), so the exemplars cover the
    value's confident range instead of only its most stereotyped samples.
    """
    ranked = idx[np.argsort(-scores, kind="stable")]
    if how == "extreme" or len(ranked) <= n:
        return ranked[:n]
    confident = int((scores >= CONFIDENT).sum())
    span = confident if confident >= n else len(ranked)
    return ranked[np.round(np.linspace(0, span - 1, n)).astype(int)]


@dataclass
class MineResult:
    concepts: list[dict]  # per stored concept: name, seeds, heldout_accuracy, scores
    path: str
    pool: int
    checkpoint: str
    step: int
    warnings: list[str] = field(default_factory=list)


def mine(
    ckpt: Checkpoint,
    real: LabelledImages,
    pool: int = 2000,
    per_concept: int = PER_CONCEPT,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    exemplars: str = "extreme",
) -> tuple[list[Concept], list[LabelClassifier], list[str]]:
    """Mine concepts in memory: fit one classifier per label column, score a seeded pool.

    Args:
        ckpt: the run's checkpoint; its D gives the features, its G the pool.
        real: labelled real images at the run's size.
        pool: score generated samples of seeds 0..pool-1.
        per_concept: seeds kept per label value (the paper averages 3).
        device: where G and D run.
        batch_size: images per forward pass.
        exemplars: "extreme" (the most confident) or "stratified" (see pick_exemplars).
    Returns:
        (concepts, classifiers, warnings); a value no pool sample is assigned to is left out
        with a warning. Each concept carries its boundary in z (Concept.boundary).
    """
    if exemplars not in ("extreme", "stratified"):
        raise GanlabError(f"exemplars {exemplars!r}: use 'extreme' or 'stratified'.")
    D = load_discriminator(ckpt, device)
    real_feats = d_features(D, real.images, device, batch_size).numpy()  # (N, F)
    seeds = list(range(pool))
    z = z_from_seeds(seeds, ckpt.model_config.nz, ckpt.z_dist)  # (P, nz)
    pool_feats = d_features(
        D, to_uint8(generate(ckpt, z, device, batch_size)), device, batch_size
    ).numpy()  # (P, F)
    concepts, classifiers, notes = [], [], []
    base = {**provenance(ckpt, "mined"), "weights": ckpt.weights_used}  # the pool's G
    for col in real.columns:
        clf = fit_classifier(col.name, real_feats, col.values)
        classifiers.append(clf)
        proba = clf.predict_proba(pool_feats)  # (P, K)
        assigned = proba.argmax(axis=1)
        for k, value in enumerate(clf.classes):
            name = col.concept_names[value]
            idx = np.flatnonzero(assigned == k)
            if len(idx) == 0:
                notes.append(
                    f"no sample of the {pool}-seed pool was classified as {name!r}; "
                    "it was not stored (try a larger --pool)."
                )
                continue
            best = pick_exemplars(idx, proba[idx, k], per_concept, exemplars)
            if len(best) < per_concept:
                notes.append(f"only {len(best)} pool sample(s) were classified as {name!r}.")
            boundary = None
            if MIN_SIDE <= len(idx) <= pool - MIN_SIDE:
                boundary = fit_boundary(z.numpy(), assigned == k)
            else:
                notes.append(
                    f"{name!r}: {len(idx)} of {pool} pool samples, too few on one side for a "
                    "boundary in z (try a larger --pool)."
                )
            concepts.append(
                Concept(
                    name,
                    [seeds[i] for i in best],
                    {
                        **base,
                        "labels": real.source,
                        "column": col.name,
                        "value": value,
                        "classifier": f"LogisticRegression(C={C_REG}) on standardised D features",
                        "features": {
                            "layers": "all",
                            "grid": FEATURE_GRID,
                            "dim": int(real_feats.shape[1]),
                        },
                        "heldout_accuracy": round(clf.heldout_accuracy, 4),
                        "n_train": clf.n_train,
                        "n_heldout": clf.n_heldout,
                        "pool_seeds": format_seeds(seeds),
                        "pool_assigned": int(len(idx)),
                        "exemplars": exemplars,
                        "scores": [round(float(proba[i, k]), 4) for i in best],
                    }
                    | ({"boundary": _boundary_source(boundary, pool)} if boundary else {}),
                    boundary={
                        "normal": boundary.normal.tolist(),
                        "pool_mean": boundary.pool_mean.tolist(),
                    }
                    if boundary
                    else None,
                )
            )
    return concepts, classifiers, notes


def _boundary_source(b: Boundary, pool: int) -> dict:
    return {
        "method": f"LogisticRegression(C={BOUNDARY_C}, class_weight=balanced) on z, "
        "value vs rest, labelled by the classifier",
        "pool_seeds": format_seeds(list(range(pool))),
        "heldout_accuracy": round(b.heldout_accuracy, 4),
        "heldout_balanced_accuracy": round(b.heldout_balanced_accuracy, 4),
        "n_train": b.n_train,
        "n_heldout": b.n_heldout,
    }


def mine_concepts(
    run: str | Path,
    data_root: str | Path | None = None,
    labels: str | Path | None = None,
    columns: Sequence[str] | None = None,
    pool: int = 2000,
    per_concept: int = PER_CONCEPT,
    max_images: int = 10000,
    replace: bool = False,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    exemplars: str = "extreme",
    class_: str | int | None = None,
) -> MineResult:
    """Mine concepts for a run and store them in RUN/concepts.json.

    Args:
        run: a run directory or a checkpoint file inside one.
        data_root: where the labelled images (or the run's dataset) lie.
        labels: a CSV (path + label columns, header row) or list_attr_celeba.txt; None uses
            the labels of the run's dataset (digits, mnist, fashion-mnist, cifar10, svhn).
        columns: label columns to mine (default all).
        pool: generated samples (seeds 0..pool-1) to choose exemplars from.
        per_concept: exemplar seeds per concept.
        exemplars: "extreme" (the most confident) or "stratified" (spread over the confident
            range).
        max_images: labelled real images used at most (a seeded subset).
        replace: overwrite existing concepts of the same names.
        device: where G and D run.
        batch_size: images per forward pass.
        class_: a conditional run's class (name or index) the pool is generated in.
    Returns:
        A MineResult; nothing is written when it raises.
    """
    ckpt = load_checkpoint(run)
    hold_class(ckpt, class_)  # a conditional run generates its pool in one class (--class)
    cs = open_concepts(run, ckpt)
    real = load_labelled(ckpt, data_root, labels, columns, max_images)
    names = [n for col in real.columns for n in col.concept_names.values()]
    clash = sorted(set(names) & set(cs.concepts))
    if clash and not replace:
        raise GanlabError(
            f"{cs.path} already has concept(s) {', '.join(map(repr, clash))}; "
            "pass --replace to overwrite them with mined ones."
        )
    concepts, classifiers, notes = mine(
        ckpt, real, pool, per_concept, device, batch_size, exemplars
    )
    if real.skipped:
        notes.insert(0, f"{real.skipped} listed image(s) were missing or unreadable and skipped.")
    # the classifiers first: concepts.json never names a file that is not there
    files = {clf.column: save_classifier(run, clf.arrays(ckpt.sha256())) for clf in classifiers}
    for c in concepts:
        c.source["classifier_file"] = files[c.source["column"]]
        cs.concepts[c.name] = c
    save_concepts(cs)
    summary = [
        {
            "name": c.name,
            "seeds": c.seeds,
            "column": c.source["column"],
            "heldout_accuracy": c.source["heldout_accuracy"],
            "scores": c.source["scores"],
            "boundary_heldout_accuracy": c.source.get("boundary", {}).get("heldout_accuracy"),
        }
        for c in concepts
    ]
    return MineResult(summary, str(cs.path), pool, str(ckpt.path), ckpt.step, notes)
