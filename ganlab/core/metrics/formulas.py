"""FID, KID, Inception Score and precision/recall: torch-fidelity's formulas, on features.

Every formula is torch-fidelity's (`metric_fid`, `metric_kid`, `metric_isc`, `metric_prc`),
applied to features of its FID Inception (core.inception), so a number here equals
`torch_fidelity.calculate_metrics` on the same images (the tests hold it to 1e-4). Each metric
of the registry scored on Inception features has one scorer here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ganlab import __version__
from ganlab.core.inception import FEATURES, LOGITS, fidelity_version
from ganlab.core.metrics.registry import IS_SPLITS, METRICS, PR_NEIGHBORHOOD

KID_SUBSETS = 100  # torch-fidelity's (and the KID paper's) defaults
KID_SUBSET_SIZE = 1000
RNG_SEED = 2020  # torch-fidelity's default: IS shuffling and KID subsets
SMALL_N = 10_000  # below this, FID's upward bias is large (docs/evaluation.md)


@dataclass
class ReferenceFeatures:
    """The reference's Inception features and FID statistics."""

    features: torch.Tensor  # (N, 2048) float32
    mu: np.ndarray  # (2048,) float32, as torch-fidelity computes it
    sigma: np.ndarray  # (2048, 2048) float64
    info: dict  # n, total (images in the split), skipped, dataset (its describe())
    cache: str | None = None  # the cache file, when caching
    cached: bool = False  # read from the cache (no real image read)
    images_read: int = 0  # real images decoded and run through the extractor
    warnings: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.features.shape[0])


# generated features ({FEATURES, LOGITS}), the reference's -> {result key: value}
Scorer = Callable[[dict[str, torch.Tensor], ReferenceFeatures], dict[str, float]]
SCORERS: dict[str, Scorer] = {}  # registry name -> its scorer


def scorer(name: str) -> Callable[[Scorer], Scorer]:
    """Register the function that scores the registered Inception metric `name`."""

    def register(fn: Scorer) -> Scorer:
        if name not in METRICS or not METRICS[name].inception:
            raise ValueError(f"{name!r} is no registered metric on Inception features")
        SCORERS[name] = fn
        return fn

    return register


def score(
    fake: dict[str, torch.Tensor], ref: ReferenceFeatures, metrics: tuple[str, ...]
) -> dict[str, float]:
    """The requested metrics of generated features against the reference's.

    Args:
        fake: `generator_features` output (FEATURES, and LOGITS for IS).
        ref: the reference features.
        metrics: registered metrics scored on Inception features (fid, kid, is, pr).
    Returns:
        {"fid", "kid", "kid_std", "is", "is_std", "precision", "recall"} for those requested,
        in the registry's order.
    """
    out: dict[str, float] = {}
    for name in METRICS:
        if name in metrics:
            out.update(SCORERS[name](fake, ref))
    return {k: float(v) for k, v in out.items()}


@scorer("fid")
def _fid(fake: dict[str, torch.Tensor], ref: ReferenceFeatures) -> dict[str, float]:
    mu, sigma = fid_statistics(fake[FEATURES])
    return {"fid": fid_from_statistics(mu, sigma, ref.mu, ref.sigma)}


@scorer("kid")
def _kid(fake: dict[str, torch.Tensor], ref: ReferenceFeatures) -> dict[str, float]:
    from torch_fidelity.metric_kid import (
        KEY_METRIC_KID_MEAN,
        KEY_METRIC_KID_STD,
        kid_features_to_metric,
    )

    f1, f2 = fake[FEATURES], ref.features  # torch-fidelity's input1 (generated), input2 (real)
    kid = kid_features_to_metric(
        f1,
        f2,
        kid_subsets=KID_SUBSETS,
        kid_subset_size=kid_subset_size(len(f1), len(f2)),
        rng_seed=RNG_SEED,
        verbose=False,
    )
    return {"kid": kid[KEY_METRIC_KID_MEAN], "kid_std": kid[KEY_METRIC_KID_STD]}


@scorer("is")
def _inception_score(fake: dict[str, torch.Tensor], ref: ReferenceFeatures) -> dict[str, float]:
    from torch_fidelity.metric_isc import (
        KEY_METRIC_ISC_MEAN,
        KEY_METRIC_ISC_STD,
        isc_features_to_metric,
    )

    isc = isc_features_to_metric(fake[LOGITS], IS_SPLITS, True, RNG_SEED)
    return {"is": isc[KEY_METRIC_ISC_MEAN], "is_std": isc[KEY_METRIC_ISC_STD]}


@scorer("pr")
def _precision_recall(fake: dict[str, torch.Tensor], ref: ReferenceFeatures) -> dict[str, float]:
    precision, recall = precision_recall(fake[FEATURES], ref.features)
    return {"precision": precision, "recall": recall}


def fid_statistics(features: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) of features (N, D), as torch-fidelity computes them."""
    from torch_fidelity.metric_fid import fid_features_to_statistics

    stats = fid_features_to_statistics(features)
    return stats["mu"], stats["sigma"]


def fid_from_statistics(mu1, sigma1, mu2, sigma2) -> float:
    """The Frechet distance of two Gaussians (torch-fidelity's `fid_statistics_to_metric`)."""
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric

    out = fid_statistics_to_metric(
        {"mu": mu1, "sigma": sigma1}, {"mu": mu2, "sigma": sigma2}, False
    )
    return out[KEY_METRIC_FID]


def kid_subset_size(n: int, n_real: int) -> int:
    """KID's subset size: 1000, or fewer when either side has fewer images."""
    return min(KID_SUBSET_SIZE, n, n_real)


def precision_recall(fake: torch.Tensor, real: torch.Tensor) -> tuple[float, float]:
    """Improved precision and recall (k=3 nearest-neighbour balls) of fake vs real features.

    Precision: the share of generated samples inside the real manifold; recall: the share of
    real samples inside the generated one. torch-fidelity's memory-bounded variant (distance
    blocks of 10,000), which gives the same numbers as its full-matrix one. (Not core.knn: the
    question is whether a sample lies in any k-NN ball of the other set, and the numbers must
    stay torch-fidelity's.)
    """
    from torch_fidelity.metric_prc import (
        KEY_METRIC_PRECISION,
        KEY_METRIC_RECALL,
        prc_features_to_metric,
    )

    prc = prc_features_to_metric(
        fake,
        real,
        prc_neighborhood=PR_NEIGHBORHOOD,
        prc_batch_size=10_000,
        save_cpu_ram=True,
        verbose=False,
    )
    return prc[KEY_METRIC_PRECISION], prc[KEY_METRIC_RECALL]


def protocol_versions() -> dict:
    """The library versions a protocol records."""
    return {
        "ganlab": __version__,
        "torch_fidelity": fidelity_version(),
        "torch": torch.__version__.split("+")[0],
    }
