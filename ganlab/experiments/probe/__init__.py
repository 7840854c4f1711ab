"""`ganlab probe`: D as a feature extractor, scored by a linear classifier (paper section 5).

Pipeline: images of the probe dataset at the checkpoint's size -> D (eval mode, BatchNorm
statistics re-estimated on the training images by default) -> every conv layer's map max-pooled
to 4x4 and concatenated -> an HDF5 feature store -> divided by one global scale (or
standardised) -> one-vs-rest L2-SVM with C chosen on a validation split -> test accuracy.

Modules:

- ``config``: ProbeConfig, ProbeResult and the cross-option checks.
- ``features``: extraction of D's pooled features into the store (or reuse of a matching file).
- ``stats``: feature statistics (moments, mean and std, global scale) and in-place scaling.
- ``svm``: the one-vs-rest linear solvers (torch Newton-CG, and liblinear as the reference).
- ``precond``: the torch solver's preconditioner (a Nystrom sketch of X^T X, exact on its span).
- ``woodbury``: exact Newton steps for the classes with few margin rows that CG is slowest on.
- ``products``: the torch solver's matrix products with X and its CPU thread policy.
- ``path``: the C search as a regularisation path (warm starts, early stop, cost per C).
- ``protocols``: splits, label draws and the paper's cifar10 and svhn protocols.

Usage::

    from ganlab.experiments.probe import ProbeConfig, probe
    result = probe(ProbeConfig(dataset="digits", checkpoint="runs/digits"))
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from ganlab.experiments.probe.config import (
    BN_MODES,
    PROTOCOLS,
    ProbeConfig,
    ProbeResult,
    check_config,
)
from ganlab.experiments.probe.features import check_file_answers, ensure_features
from ganlab.experiments.probe.protocols import run_protocol
from ganlab.io.featstore import FeatureFile
from ganlab.progress import Reporter

__all__ = ["BN_MODES", "PROTOCOLS", "ProbeConfig", "ProbeResult", "probe"]


def probe(cfg: ProbeConfig, reporter: Reporter | None = None) -> ProbeResult:
    """Extract (or reuse) D's features and score them with the paper's protocol.

    Args:
        cfg: the probe configuration (validated here).
        reporter: progress output; default quiet.
    Returns:
        A ProbeResult (test fields None with ``extract_only``).
    Raises:
        GanlabError: bad options, unusable checkpoint or data, mismatching features file.
    """
    from ganlab.core.device import resolve_device

    rep = reporter or Reporter(quiet=True)
    check_config(cfg)
    device = resolve_device(cfg.device)
    with tempfile.TemporaryDirectory(prefix="ganlab-probe-") as tmp:
        path = Path(cfg.features) if cfg.features else Path(tmp) / "features.h5"
        t0 = time.perf_counter()
        reused = path.is_file()
        extracts = cfg.checkpoint is not None or cfg.random_init  # else fit from the file
        if extracts:
            ensure_features(cfg, path, device, rep)
        extract_s = 0.0 if reused else time.perf_counter() - t0
        with FeatureFile(path) as ff:
            if not extracts:
                check_file_answers(ff, cfg)
            a = ff.attrs
            result = ProbeResult(
                dataset=a["dataset"],
                protocol={},
                feature_dim=ff.feature_dim,
                classifier=cfg.classifier,
                solver=cfg.solver,
                standardize=cfg.standardize,
                features=str(path) if cfg.features else None,
                features_reused=reused,
                checkpoint=a.get("checkpoint"),
                checkpoint_sha256=a.get("checkpoint_sha256"),
                random_init=a.get("source") == "random-init",
                d_shape=a.get("d_shape"),
                model_config=a.get("model_config") or {},
                layers=list(a["layers"]),
                grid=int(a["grid"]),
                bn_stats=a["bn_stats"],
                extract_s=round(extract_s, 3),
                device=str(device),
            )
            if cfg.extract_only:
                result.protocol = {"name": None, "extract_only": True}
                return result
            run_protocol(ff, cfg, device, rep, result)
    return result
