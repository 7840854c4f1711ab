"""The scored pool both kinds of mining share: D features of the labelled real images and of a
seeded pool of generated samples, the choice of exemplars, and the records they leave.

`mine` keeps, per label value, the samples the classifier gives that value; `define` keeps the
samples that satisfy every part of a named conjunction ("man with glasses" = Male and
Eyeglasses). Both pick exemplars and fit boundaries in z the same way, here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ganlab.core.boundary import BOUNDARY_C, Boundary, fit_boundary
from ganlab.core.features import d_features
from ganlab.core.generate import generate
from ganlab.core.nets import load_discriminator
from ganlab.core.seeds import z_from_seeds
from ganlab.experiments.concept.classifier import C_REG, FEATURE_GRID, LabelClassifier
from ganlab.experiments.concept.labels import LabelledImages
from ganlab.io.checkpoint import Checkpoint
from ganlab.io.images import to_uint8
from ganlab.io.seedlist import format_seeds

CONFIDENT = 0.8  # "stratified" exemplars: spread over the pool samples scored at least this
MIN_SIDE = 5  # pool samples needed on each side of a boundary
EXEMPLAR_CHOICES = ("extreme", "stratified")


@dataclass
class ScoredPool:
    """D features of the real images and of the pool, and the pool's seeds and latents."""

    seeds: list[int]  # the pool: seeds 0..P-1
    z: torch.Tensor  # (P, nz)
    real_features: np.ndarray  # (N, F) of the labelled real images
    pool_features: np.ndarray  # (P, F) of G(z)


def score_pool(
    ckpt: Checkpoint,
    real: LabelledImages,
    pool: int,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
) -> ScoredPool:
    """The run's D features (every layer max-pooled, section 5) of the real images and of the
    samples of seeds 0..pool-1, all with D and G in eval mode."""
    D = load_discriminator(ckpt, device)
    real_feats = d_features(D, real.images, device, batch_size).numpy()  # (N, F)
    seeds = list(range(pool))
    z = z_from_seeds(seeds, ckpt.model_config.nz, ckpt.z_dist)  # (P, nz)
    pool_feats = d_features(
        D, to_uint8(generate(ckpt, z, device, batch_size)), device, batch_size
    ).numpy()  # (P, F)
    return ScoredPool(seeds, z, real_feats, pool_feats)


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


def pool_boundary(pool: ScoredPool, positive: np.ndarray) -> Boundary | None:
    """The boundary in z between the pool samples in `positive` (P,) bool and the rest, or None
    when either side has fewer than MIN_SIDE samples."""
    n = int(positive.sum())
    if not MIN_SIDE <= n <= len(positive) - MIN_SIDE:
        return None
    return fit_boundary(pool.z.numpy(), positive)


def boundary_source(b: Boundary, pool: int) -> dict:
    """How a concept's boundary in z was fitted, for its source record."""
    return {
        "method": f"LogisticRegression(C={BOUNDARY_C}, class_weight=balanced) on z, "
        "value vs rest, labelled by the classifier",
        "pool_seeds": format_seeds(list(range(pool))),
        "heldout_accuracy": round(b.heldout_accuracy, 4),
        "heldout_balanced_accuracy": round(b.heldout_balanced_accuracy, 4),
        "n_train": b.n_train,
        "n_heldout": b.n_heldout,
    }


def boundary_record(b: Boundary | None) -> dict | None:
    """The Concept.boundary of a fitted boundary (None stays None)."""
    if b is None:
        return None
    return {"normal": b.normal.tolist(), "pool_mean": b.pool_mean.tolist()}


def classifier_record(pool: ScoredPool) -> dict:
    """What the D-feature classifiers were, for a mined concept's source."""
    return {
        "classifier": f"LogisticRegression(C={C_REG}) on standardised D features",
        "features": {
            "layers": "all",
            "grid": FEATURE_GRID,
            "dim": int(pool.real_features.shape[1]),
        },
    }


def accuracy_record(clf: LabelClassifier) -> dict:
    """A classifier's held-out accuracy and its split sizes."""
    return {
        "heldout_accuracy": round(clf.heldout_accuracy, 4),
        "n_train": clf.n_train,
        "n_heldout": clf.n_heldout,
    }
