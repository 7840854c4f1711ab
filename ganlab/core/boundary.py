"""Linear boundaries in z (InterFaceGAN, Shen et al. 2020).

A generated sample's attribute, as a classifier sees it, is often close to a linear function of
its latent: fitting a linear classifier on latents labelled by that classifier gives a
hyperplane whose unit normal changes the attribute while moving z as little as possible.
`concept mine` fits one per label value (the value against the rest) and stores it for
`arithmetic --direction boundary`. (A boundary between two values alone, A against B, did no
better on Fashion-MNIST pairs than the difference of their value-vs-rest normals.)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

BOUNDARY_C = 1.0  # inverse L2 strength of the boundary in z (100 dims, ~2k pool samples)


@dataclass
class Boundary:
    """A linear boundary in z between the pool samples of one value and the others."""

    normal: np.ndarray  # (nz,) unit, pointing into the value
    pool_mean: np.ndarray  # (nz,) mean z of the pool samples given the value
    heldout_accuracy: float
    heldout_balanced_accuracy: float
    n_train: int
    n_heldout: int


def fit_boundary(
    z: np.ndarray, positive: np.ndarray, seed: int = 0, heldout: float = 0.2
) -> Boundary:
    """Fit positive-vs-other on part of the pool's latents, score the part held out.

    Args:
        z: (P, nz) pool latents.
        positive: (P,) bool, the pool samples the classifier gives the value (the others:
            the rest of the pool, or the samples of one other value).
        seed: the train/held-out split.
        heldout: the fraction of the pool held out for the accuracies.
    Returns:
        The Boundary; its normal is the fitted weight vector scaled to unit length.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import train_test_split

    stratify = positive if min(positive.sum(), (~positive).sum()) >= 2 else None
    z_tr, z_te, y_tr, y_te = train_test_split(
        z, positive, test_size=heldout, random_state=seed, stratify=stratify
    )
    # balanced: a value held by 10% of the pool must not be outvoted by the rest
    model = LogisticRegression(C=BOUNDARY_C, class_weight="balanced", max_iter=1000)
    model.fit(z_tr, y_tr)
    w = model.coef_[0]  # (nz,)
    pred = model.predict(z_te)
    with warnings.catch_warnings():  # a held-out part may lack one side on a tiny pool
        warnings.simplefilter("ignore", UserWarning)
        balanced = float(balanced_accuracy_score(y_te, pred))
    return Boundary(
        normal=w / np.linalg.norm(w),
        pool_mean=z[positive].mean(axis=0),
        heldout_accuracy=float((pred == y_te).mean()),
        heldout_balanced_accuracy=balanced,
        n_train=len(y_tr),
        n_heldout=len(y_te),
    )
