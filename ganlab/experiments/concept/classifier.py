"""The label classifier mining uses: a logistic regression on the run's own D features."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ganlab.errors import GanlabError
from ganlab.io.concepts import FeatureClassifier

FEATURE_GRID = 4  # D's maps max-pooled to 4x4 per layer, all layers (paper section 5)
HELDOUT = 0.2  # fraction of the labelled real images kept out of the fit, for the accuracy
C_REG = 0.1  # inverse L2 strength: thousands of features and ~1k images need some shrinkage


@dataclass
class LabelClassifier:
    """A logistic regression on standardised D features for one label column."""

    column: str
    classes: list[str]  # label values, in the model's class order
    model: object  # sklearn Pipeline(StandardScaler, LogisticRegression)
    heldout_accuracy: float
    n_train: int
    n_heldout: int

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """(N, len(classes)) class probabilities for D features (N, F)."""
        return self.model.predict_proba(features)

    def arrays(self, checkpoint_sha256: str) -> FeatureClassifier:
        """The fitted model as plain arrays, to store beside concepts.json."""
        scaler, logreg = self.model[0], self.model[-1]
        return FeatureClassifier(
            column=self.column,
            classes=self.classes,
            mean=scaler.mean_,
            scale=scaler.scale_,
            coef=logreg.coef_,
            intercept=logreg.intercept_,
            grid=FEATURE_GRID,
            checkpoint_sha256=checkpoint_sha256,
        )


def fit_classifier(
    column: str, features: np.ndarray, values: Sequence[str], seed: int = 0
) -> LabelClassifier:
    """Fit on 80% of the labelled images, report accuracy on the other 20%.

    Args:
        column: the label column's name.
        features: (N, F) D features of the real images.
        values: the N label values; "" marks an unknown label (left out).
        seed: the train/held-out split.
    Returns:
        The fitted LabelClassifier.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    mask = np.array([v != "" for v in values])
    x, y = features[mask], np.array([v for v in values if v != ""])
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise GanlabError(
            f"label {column!r} has {len(classes)} distinct value(s) among the "
            "readable images; a classifier needs at least two."
        )
    stratify = y if counts.min() >= 2 else None
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=HELDOUT, random_state=seed, stratify=stratify
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C_REG, max_iter=500))
    # One BLAS thread: lbfgs makes many small matrix products, where OpenBLAS threads cost more
    # than they save (digits, 1149 x 7168 features on 2 busy cores: 0.7 s vs 4.4 s threaded).
    with warnings.catch_warnings(), threadpool_limits(1, user_api="blas"):
        # lbfgs may stop just short of its tolerance; the held-out accuracy is what matters
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_tr, y_tr)
    accuracy = float((model.predict(x_te) == y_te).mean())
    return LabelClassifier(
        column, [str(c) for c in model.classes_], model, accuracy, len(y_tr), len(y_te)
    )
