"""What `ganlab probe` is asked (ProbeConfig, checked by `check_config`) and what it answers."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ganlab.errors import GanlabError
from ganlab.io.featstore import FeatureStoreError

PROTOCOLS = ("cifar10", "svhn")
BN_MODES = ("recompute", "running")
DEFAULT_CS = (1e-5, 1e-4, 1e-3, 1e-2)  # the authors used 1e-4..1e-2 for 1000 labels
SELECT_DRAWS = 10  # draws per C on the validation split (the authors' script)


@dataclass(frozen=True)
class ProbeConfig:
    """Everything `ganlab probe` needs. None means "the default" or "what the file holds"."""

    dataset: str | None = None  # None: the features file's, else the checkpoint's own dataset
    checkpoint: str | None = None  # run directory or .pt; not needed to fit from --features
    data_root: str | None = None  # where the probe dataset lies
    features: str | None = None  # HDF5 file to reuse or write; None: a temporary file
    layers: tuple[int, ...] | None = None  # D's conv layers to pool (0 = input side); None: all
    grid: int | None = None  # pooled cells per side [4]
    bn_stats: str | None = None  # "recompute" (authors' script) or "running" [recompute]
    random_init: bool = False  # an untrained D (the baseline): the run's shape, else the paper's
    dtype: str | None = None  # storage: float32 or float16 [float32]
    extract_only: bool = False  # stop once the features file is written
    classifier: str = "svm"  # "svm" (squared hinge, the paper's L2-SVM) or "logreg"
    solver: str = "torch"  # "torch" (fast, any device) or "sklearn" (LinearSVC, reference)
    Cs: tuple[float, ...] = DEFAULT_CS  # C grid searched on the validation split
    standardize: bool = False  # per-feature mean/std; else one global scale (measured better)
    protocol: str | None = None  # "cifar10" or "svhn"; None: svhn for svhn, else cifar10
    train_per_class: int | None = None  # labels per class (svhn: 100); None: all (cifar10)
    val_size: int | None = None  # validation examples [svhn 10000, else 10% of train]
    draws: int | None = None  # few-label draws scored on test [svhn 100, per-class 10]
    select_draws: int = SELECT_DRAWS  # few-label draws per C on the validation split
    seed: int = 0  # seeds splits, draws and --random-init
    device: str = "auto"  # extraction and fitting device
    amp: str = "auto"  # extraction precision (core.amp): bf16 where measured faster
    batch_size: int = 128  # images per forward pass (BatchNorm statistics always use 128)
    workers: int = 2  # loader processes for file-backed datasets


@dataclass
class ProbeResult:
    """What `probe` reports (also `ganlab probe --json`)."""

    dataset: str
    protocol: dict
    test_accuracy: float | None = None
    test_error: float | None = None
    test_error_ci95: float | None = None  # 1.96 x std over draws (few-label protocols)
    C: float | None = None
    val_accuracy: dict = field(default_factory=dict)  # "C" -> validation accuracy (fitted Cs)
    c_search: list = field(default_factory=list)  # per C: val_accuracy, fit_s, iterations...
    refit: dict = field(default_factory=dict)  # the chosen C's refit: rows, fit_s, iterations
    feature_dim: int = 0
    classifier: str = "svm"
    solver: str = "torch"
    standardize: bool = False
    features: str | None = None  # the HDF5 file (None when it was temporary)
    features_reused: bool = False
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None
    random_init: bool = False
    d_shape: str | None = None  # which D: its architecture and where the shape came from
    model_config: dict = field(default_factory=dict)  # D's full shape (ModelConfig)
    layers: list = field(default_factory=list)
    grid: int = 4
    bn_stats: str = "recompute"
    n_train: int = 0
    n_val: int = 0
    n_test: int = 0
    extract_s: float = 0.0
    load_s: float = 0.0
    fit_s: float = 0.0
    device: str = "cpu"

    def to_dict(self) -> dict:
        return asdict(self)


def check_config(cfg: ProbeConfig) -> None:
    """Cross-option checks (the CLI has checked each option alone).

    Args:
        cfg: the probe configuration.
    Raises:
        GanlabError: options that cannot go together or values out of range.
        FeatureStoreError: a --features file to fit from that does not exist.
    """
    extracts = cfg.checkpoint is not None or cfg.random_init
    if not extracts and cfg.features is None:
        raise GanlabError(
            "give --checkpoint RUN (a run directory or .pt file) to extract "
            "features from, --random-init for an untrained D of the paper's shape, or "
            "--features FILE.h5 to fit from stored features."
        )
    if not extracts and cfg.features and not Path(cfg.features).is_file():
        raise FeatureStoreError(
            f"features file {cfg.features} does not exist; to extract it add --checkpoint RUN."
        )
    if cfg.extract_only and cfg.features is None:
        raise GanlabError("--extract-only needs --features FILE.h5 to write the features to.")
    if cfg.checkpoint is None and cfg.random_init and cfg.dataset is None:
        raise GanlabError(
            "--random-init without --checkpoint takes the paper's D for the dataset: name it, "
            "e.g. `ganlab probe cifar10 --random-init`."
        )
    if cfg.protocol is not None and cfg.protocol not in PROTOCOLS:
        raise GanlabError(f"unknown --protocol {cfg.protocol!r}; use cifar10 or svhn.")
    if cfg.bn_stats is not None and cfg.bn_stats not in BN_MODES:
        raise GanlabError(f"unknown --bn-stats {cfg.bn_stats!r}; use recompute or running.")
    if not cfg.Cs or any(not (c > 0 and math.isfinite(c)) for c in cfg.Cs):
        raise GanlabError("--C needs one or more positive values, e.g. 1e-4,1e-3,1e-2.")
    for name in ("grid", "train_per_class", "val_size", "draws", "select_draws", "batch_size"):
        value = getattr(cfg, name)
        if value is not None and value < 1:
            raise GanlabError(f"--{name.replace('_', '-')} must be at least 1, got {value}.")
