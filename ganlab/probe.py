"""`ganlab probe`: D as a feature extractor, scored by a linear classifier (paper section 5).

Pipeline: images of the probe dataset at the checkpoint's size -> D (eval mode, BatchNorm
statistics re-estimated on the training images by default) -> every conv layer's map max-pooled
to 4x4 and concatenated -> an HDF5 feature store -> divided by one global scale (or
standardised) -> one-vs-rest L2-SVM with C chosen on a validation split -> test accuracy.

Protocols (paper Tables 1 and 2):

- ``cifar10`` (Table 1, and the default for every dataset but SVHN): a stratified validation
  split (10% of the training set) is held out; C is chosen on it from a grid searched upwards,
  each fit warm-started from the previous C, stopping once two C values in a row score no
  better than the best (larger C fits cost the most, and validation accuracy is unimodal in C
  in practice); the model is refit on the full training set and scored once on the test set.
  With ``train_per_class`` (the paper's 400-per-class column) the few-label procedure below
  runs instead, with that many labels per class.
- ``svhn`` (Table 2): 10,000 validation examples are split off the (non-extra) training set;
  for each C, 10 random class-balanced draws of 1000 labels (100 per class) from the rest are
  fitted and scored on the validation split; with the best C, 100 further draws are scored on
  the test set: mean test error and 1.96 x its standard deviation (the authors' script).

Datasets without a test split (e.g. `folder`) hold out a stratified 20% as their test set.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ganlab.errors import GanlabError
from ganlab.featstore import FeatureFile, FeatureStoreError, FeatureWriter, differences
from ganlab.features import (
    bn_buffers,
    extract_features,
    feature_dim,
    random_discriminator,
    recompute_bn_stats,
)
from ganlab.progress import Reporter
from ganlab.svm import fit, mean_std, moments, nystrom_preconditioner, standardize_

PROTOCOLS = ("cifar10", "svhn")
BN_MODES = ("recompute", "running")
DEFAULT_CS = (1e-5, 1e-4, 1e-3, 1e-2)  # the authors used 1e-4..1e-2 for 1000 labels
PATIENCE = 2  # cifar10 protocol: stop the C search after this many values in a row no better
SVHN_VAL = 10_000  # the paper's validation examples split off SVHN's training set
SVHN_PER_CLASS = 100  # 1000 labels, uniformly class-distributed
SVHN_DRAWS = 100  # draws scored on the test set
PER_CLASS_DRAWS = 10  # default draws for --train-per-class with the cifar10 protocol
SELECT_DRAWS = 10  # draws per C on the validation split (the authors' script)
VAL_FRACTION = 0.1  # cifar10 protocol: validation split, a fraction of the training set
TEST_FRACTION = 0.2  # held out as the test set when a dataset has no test split
BN_BATCH = 128  # minibatch of the BatchNorm statistics pass: the paper's (and training's)


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
    random_init: bool = False  # features of an untrained D of the same shape (the baseline)
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
    val_accuracy: dict = field(default_factory=dict)  # "C" -> validation accuracy
    feature_dim: int = 0
    classifier: str = "svm"
    solver: str = "torch"
    standardize: bool = False
    features: str | None = None  # the HDF5 file (None when it was temporary)
    features_reused: bool = False
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None
    random_init: bool = False
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
    from ganlab.train import resolve_device

    rep = reporter or Reporter(quiet=True)
    _check(cfg)
    device = resolve_device(cfg.device)
    with tempfile.TemporaryDirectory(prefix="ganlab-probe-") as tmp:
        path = Path(cfg.features) if cfg.features else Path(tmp) / "features.h5"
        t0 = time.perf_counter()
        reused = path.is_file()
        if cfg.checkpoint is not None:
            ensure_features(cfg, path, device, rep)
        extract_s = 0.0 if reused else time.perf_counter() - t0
        with FeatureFile(path) as ff:
            if cfg.checkpoint is None:
                _check_file_answers(ff, cfg)
            a = ff.attrs
            result = ProbeResult(
                dataset=a["dataset"], protocol={}, feature_dim=ff.feature_dim,
                classifier=cfg.classifier, solver=cfg.solver, standardize=cfg.standardize,
                features=str(path) if cfg.features else None, features_reused=reused,
                checkpoint=a.get("checkpoint"), checkpoint_sha256=a.get("checkpoint_sha256"),
                random_init=a.get("source") == "random-init", layers=list(a["layers"]),
                grid=int(a["grid"]), bn_stats=a["bn_stats"], extract_s=round(extract_s, 3),
                device=str(device))
            if cfg.extract_only:
                result.protocol = {"name": None, "extract_only": True}
                return result
            run_protocol(ff, cfg, device, rep, result)
    return result


def _check(cfg: ProbeConfig) -> None:
    """Cross-option checks (the CLI has checked each option alone)."""
    if cfg.checkpoint is None and cfg.features is None:
        raise GanlabError("give --checkpoint RUN (a run directory or .pt file) to extract "
                          "features from, or --features FILE.h5 to fit from stored features.")
    if cfg.checkpoint is None and cfg.features and not Path(cfg.features).is_file():
        raise FeatureStoreError(f"features file {cfg.features} does not exist; to extract it "
                                "add --checkpoint RUN.")
    if cfg.extract_only and cfg.features is None:
        raise GanlabError("--extract-only needs --features FILE.h5 to write the features to.")
    if cfg.checkpoint is None and cfg.random_init:
        raise GanlabError("--random-init needs --checkpoint RUN: the untrained D takes that "
                          "run's architecture.")
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


def _check_file_answers(ff: FeatureFile, cfg: ProbeConfig) -> None:
    """With --features alone, options given explicitly must agree with the file."""
    wanted = {"dataset": cfg.dataset, "grid": cfg.grid, "bn_stats": cfg.bn_stats,
              "layers": list(cfg.layers) if cfg.layers is not None else None}
    diff = differences(ff.attrs, wanted)
    if diff:
        raise FeatureStoreError(f"{ff.path} does not hold the features asked for: it has "
                                f"{'; '.join(diff)}. Drop those options to use the file as it "
                                "is, or add --checkpoint RUN and a new --features path to "
                                "extract them.")


# --- extraction -------------------------------------------------------------------------------

def ensure_features(cfg: ProbeConfig, path: Path, device: torch.device, rep: Reporter) -> None:
    """Make `path` a complete features file for `cfg`: reuse a matching one or extract it.

    Raises:
        FeatureStoreError: `path` exists but answers a different request.
    """
    from ganlab.checkpoint import load_checkpoint
    from ganlab.datasets import DATASETS

    ckpt = load_checkpoint(cfg.checkpoint)
    mc = ckpt.model_config
    dataset = cfg.dataset or ckpt.train_config.get("dataset")
    if dataset not in DATASETS:
        raise GanlabError(f"unknown dataset {dataset!r}; name the probe dataset, e.g. "
                          "`ganlab probe cifar10 --checkpoint RUN`.")
    info = DATASETS[dataset]
    if not info.labelled and dataset != "folder":  # a folder is labelled by its subfolders
        raise GanlabError(f"{dataset} has no class labels, so a classifier cannot be scored on "
                          "it. Probe a labelled dataset: digits, mnist, fashion-mnist, cifar10, "
                          "svhn, imagenet, or folder with one subfolder per class.")
    D = random_discriminator(mc, cfg.seed) if cfg.random_init else ckpt.discriminator()
    n_layers = len(D.feature_shapes())
    layers = list(range(n_layers)) if cfg.layers is None else list(cfg.layers)
    bad = [i for i in layers if not 0 <= i < n_layers]
    if bad:
        raise GanlabError(f"--layers {','.join(map(str, bad))} out of range: this D has "
                          f"{n_layers} conv layers, numbered 0 (input side) to {n_layers - 1}.")
    grid = cfg.grid or 4
    test_split = "test" if "test" in info.splits else "val" if "val" in info.splits else None
    request = {
        "source": "random-init" if cfg.random_init else "checkpoint",
        "checkpoint": str(ckpt.path), "checkpoint_sha256": ckpt.sha256(),
        "checkpoint_step": ckpt.step, "init_seed": cfg.seed if cfg.random_init else -1,
        "model_config": mc.to_dict(), "dataset": dataset, "data_root": cfg.data_root or "",
        "image_size": mc.image_size, "channels": mc.channels, "layers": layers, "grid": grid,
        "bn_stats": cfg.bn_stats or "recompute", "bn_batch_size": BN_BATCH,
        "feature_dim": feature_dim(D, layers, grid),
        "splits": ["train", "test"] if test_split else ["train"],
    }
    if path.is_file():
        with FeatureFile(path) as ff:
            diff = differences(ff.attrs, request)
            if cfg.dtype is not None and ff.attrs.get("dtype") != cfg.dtype:
                diff.append(f"dtype {ff.attrs.get('dtype')} (asked for {cfg.dtype})")
        if diff:
            raise FeatureStoreError(
                f"{path} holds different features: {'; '.join(diff)}. Use another --features "
                "path for this request, or delete the file to replace it.")
        rep.log(f"reusing features in {path} (they match this request)")
        return
    _extract(cfg, request, D, dataset, test_split, path, device, rep)


def _extract(cfg: ProbeConfig, request: dict, D, dataset: str, test_split: str | None,
             path: Path, device: torch.device, rep: Reporter) -> None:
    from ganlab.datasets import load_dataset

    sources = {"train": "train"} | ({"test": test_split} if test_split else {})
    data = {}
    for split, source in sources.items():
        data[split] = load_dataset(dataset, cfg.data_root, split=source,
                                   image_size=request["image_size"],
                                   channels=request["channels"])
    names = data["train"].class_names
    if not names:
        raise GanlabError(f"{dataset} at {cfg.data_root} has no classes (a folder needs one "
                          "subfolder per class) so a classifier cannot be scored on it.")
    request = {**request, "class_names": list(names)}
    D = D.to(device)
    writer = FeatureWriter(path, request, cfg.dtype or "float32", log=rep.log)
    try:
        if request["bn_stats"] == "recompute":
            state = writer.bn_state()
            if state is None:
                rep.log(f"re-estimating BatchNorm statistics over {len(data['train'])} "
                        f"{dataset} training images")
                n = recompute_bn_stats(D, _stat_batches(data["train"], cfg), device)
                rep.log(f"BatchNorm statistics averaged over {n} batches of {BN_BATCH}")
                writer.save_bn_state(bn_buffers(D))
            else:
                D.load_state_dict({**D.state_dict(), **state})
        D.eval()
        for split, ds in data.items():
            writer.begin(split, len(ds), sources[split])
            if writer.is_complete(split):
                continue
            done = writer.items_done(split)
            rep.start(f"features {dataset} {split}", total=len(ds), completed=done)
            for images, labels, consumed in _batches(ds, done, cfg.batch_size, cfg.workers):
                if images.shape[0]:
                    feats = next(extract_features(D, iter([images]), request["layers"],
                                                  request["grid"], device))
                else:  # every image of the batch failed to decode
                    feats = torch.empty(0, request["feature_dim"])
                writer.append(split, feats, labels, consumed)
                done += consumed
                rep.update(done)
            rep.stop()
            writer.finish(split)
            g = writer.h5[split].attrs
            rep.log(f"{split}: {int(g['rows'])} feature rows of {request['feature_dim']} "
                    f"({int(g['skipped'])} unreadable images skipped)")
        writer.publish()
    except BaseException:
        rep.stop()
        writer.close()
        if cfg.features:
            rep.log(f"extraction stopped; run the same command again to resume from "
                    f"{writer.partial}")
        raise
    rep.log(f"wrote {path}")


def _batches(ds, start: int, batch_size: int, workers: int
             ) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
    """(uint8 images, labels, items consumed) from item `start` on, in dataset order."""
    n = len(ds)
    if hasattr(ds, "images"):  # in memory: slice the tensors, no loader
        for i in range(start, n, batch_size):
            j = min(n, i + batch_size)
            yield ds.images[i:j], ds.labels[i:j], j - i
        return
    from torch.utils.data import DataLoader, Subset

    from ganlab.datasets import collate_skipping

    loader = DataLoader(Subset(ds, range(start, n)), batch_size=batch_size, shuffle=False,
                        num_workers=workers, collate_fn=collate_skipping)
    for images, labels, skipped in loader:
        yield images, labels, images.shape[0] + skipped


def _stat_batches(ds, cfg: ProbeConfig) -> Iterator[torch.Tensor]:
    """Training image batches for BatchNorm statistics; a short last batch is dropped.

    The batch size is fixed (BN_BATCH), not --batch-size: the average of per-batch variances
    depends on it, and the features must not depend on a speed setting.
    """
    n = len(ds)
    full = n // BN_BATCH
    for i, (images, _, _) in enumerate(_batches(ds, 0, BN_BATCH, cfg.workers)):
        if i >= full > 0:
            break
        if images.shape[0] > 1:  # BatchNorm needs two images for a variance
            yield images


# --- splits and draws -------------------------------------------------------------------------

def stratified_holdout(labels: np.ndarray, size: int, seed) -> tuple[np.ndarray, np.ndarray]:
    """Split positions 0..n-1 into (held out: `size`, rest), class proportions kept.

    Args:
        labels: (n,) class indices.
        size: how many to hold out, 0 < size < n.
        seed: anything numpy.random.default_rng accepts.
    Returns:
        (held, rest), each a sorted int64 array of positions.
    """
    from sklearn.model_selection import train_test_split

    n = len(labels)
    if not 0 < size < n:
        raise GanlabError(f"cannot hold out {size} of {n} examples; use a smaller --val-size.")
    state = int(np.random.default_rng(seed).integers(2**31 - 1))
    try:
        rest, held = train_test_split(np.arange(n), test_size=size, random_state=state,
                                      stratify=labels)
    except ValueError:  # a class with one member cannot be stratified
        rest, held = train_test_split(np.arange(n), test_size=size, random_state=state)
    return np.sort(held), np.sort(rest)


def balanced_draw(labels: np.ndarray, per_class: int, seed) -> np.ndarray:
    """`per_class` random positions of every class, without replacement (sorted int64)."""
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise GanlabError(f"class {int(c)} has only {len(members)} training examples "
                              f"outside the validation split, fewer than --train-per-class "
                              f"{per_class}. Use a smaller --train-per-class or --val-size.")
        picked.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(picked))


# --- protocols --------------------------------------------------------------------------------

def run_protocol(ff: FeatureFile, cfg: ProbeConfig, device: torch.device, rep: Reporter,
                 result: ProbeResult) -> None:
    """Fill `result` with the chosen protocol's validation and test scores."""
    name = cfg.protocol or ("svhn" if ff.attrs["dataset"] == "svhn" else "cifar10")
    y_all = ff.labels("train").numpy()
    n_classes = len(ff.attrs.get("class_names") or []) or int(y_all.max()) + 1
    if "test" in ff.splits:
        test_split, test_rows = "test", None
        pool = np.arange(len(y_all))
    else:  # no test split: hold a stratified part of the training set out
        test_rows, pool = stratified_holdout(y_all, round(TEST_FRACTION * len(y_all)),
                                             [cfg.seed, 2])
        test_split = "train"
    few = name == "svhn" or cfg.train_per_class is not None
    val_size = cfg.val_size or (SVHN_VAL if name == "svhn" else
                                max(n_classes, round(VAL_FRACTION * len(pool))))
    val_pos, rest_pos = stratified_holdout(y_all[pool], val_size, [cfg.seed, 0])
    val, rest = pool[val_pos], pool[rest_pos]
    rep.log(f"computing feature statistics over {len(pool)} training rows")
    mean, std = _train_stats(ff, pool, cfg.standardize)
    protocol = {"name": name, "val_size": len(val), "seed": cfg.seed,
                "standardize": cfg.standardize, "Cs": list(cfg.Cs),
                "test_split": "held out 20% of train" if test_rows is not None else
                ff.h5["test"].attrs.get("source_split", "test")}
    common = dict(ff=ff, cfg=cfg, device=device, rep=rep, result=result, y_all=y_all,
                  n_classes=n_classes, val=val, rest=rest, mean=mean, std=std,
                  test=(test_split, test_rows))
    if few:
        per_class = cfg.train_per_class or SVHN_PER_CLASS
        draws = cfg.draws or (SVHN_DRAWS if name == "svhn" else PER_CLASS_DRAWS)
        protocol |= {"train_per_class": per_class, "labels_per_draw": per_class * n_classes,
                     "select_draws": cfg.select_draws, "test_draws": draws}
        _few_label(per_class=per_class, draws=draws, **common)
    else:
        protocol |= {"train_size": len(rest), "refit_size": len(pool)}
        _full(**common)
    result.protocol = protocol


def _train_stats(ff: FeatureFile, rows: np.ndarray, per_feature: bool
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """What to subtract and divide by, from `rows` of the train split, streamed (O(F) memory).

    per_feature: each feature's mean and std (--standardize). Otherwise zero and one global
    scale, the root mean square of all training features: relative scales are kept (they carry
    information; standardising measured worse) but one C grid suits every D, whatever the
    overall size of its activations (e.g. a random D without BatchNorm statistics).
    """
    mask = np.zeros(ff.rows("train"), dtype=bool)
    mask[rows] = True
    F = ff.feature_dim
    n, s, ss = moments(block[torch.from_numpy(mask[start:start + block.shape[0]])]
                       for start, block in ff.iter_blocks("train"))
    if not per_feature:
        rms = (ss.sum() / (n * F)).sqrt().clamp(min=1e-30)
        return torch.zeros(F), torch.full((F,), rms.item())
    mean, std = mean_std(n, s, ss)
    return mean.float(), std.float()


def _load(ff: FeatureFile, rows: np.ndarray, mean, std, device: torch.device) -> torch.Tensor:
    """Rows of the train split, in the given order, standardised in place: one copy."""
    out = torch.empty(len(rows), ff.feature_dim, dtype=torch.float32, device=device)
    ff.load("train", torch.from_numpy(rows), out=out)
    standardize_(out, mean.to(device), std.to(device))
    return out


def _full(*, ff, cfg, device, rep, result, y_all, n_classes, val, rest, mean, std, test):
    """cifar10 protocol: C on the validation split, refit on all training rows, test once."""
    t0 = time.perf_counter()
    order = np.concatenate([rest, val])  # fit rows first: both parts are views of one tensor
    X = _load(ff, order, mean, std, device)
    y = torch.from_numpy(y_all[order]).to(device)
    result.load_s = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    n_fit = len(rest)
    kw = {"n_classes": n_classes, "solver": cfg.solver, "classifier": cfg.classifier}
    if cfg.solver == "torch":
        kw["precond"] = nystrom_preconditioner(X, seed=cfg.seed)  # shared by every fit
    best, best_acc, prev, worse = None, -1.0, None, 0
    for C in sorted(cfg.Cs):
        if worse >= PATIENCE:
            rep.log(f"C search stopped: the last {PATIENCE} values scored no better than "
                    f"C={best.C:g}")
            break
        warm = {"init": prev} if cfg.solver == "torch" else {}
        model = fit(X[:n_fit], y[:n_fit], C, **kw, **warm)
        acc = _accuracy(model.predict(X[n_fit:]), y[n_fit:])
        result.val_accuracy[f"{C:g}"] = round(acc, 5)
        rep.log(f"C={C:g}: validation accuracy {acc:.4f} ({model.info['fit_s']:.1f}s)")
        if acc > best_acc:
            best, best_acc, worse = model, acc, 0
        else:
            worse += 1
        prev = model
    warm = {"init": best} if cfg.solver == "torch" else {}
    final = fit(X, y, best.C, **kw, **warm)
    del X
    result.fit_s = round(time.perf_counter() - t0, 3)
    correct, n_test = _score(ff, test, [final], mean, std, device)
    result.C = best.C
    result.test_accuracy = round(correct[0] / n_test, 5)
    result.test_error = round(1 - correct[0] / n_test, 5)
    result.n_train, result.n_val, result.n_test = len(rest), len(val), n_test


def _few_label(*, ff, cfg, device, rep, result, y_all, n_classes, val, rest, mean, std, test,
               per_class, draws):
    """svhn protocol: C from draws scored on validation, then `draws` draws scored on test."""
    y_rest = y_all[rest]
    select = [rest[balanced_draw(y_rest, per_class, [cfg.seed, 1, d])]
              for d in range(cfg.select_draws)]
    scored = [rest[balanced_draw(y_rest, per_class, [cfg.seed, 3, d])] for d in range(draws)]
    # load the validation rows and every drawn row once; draws index into that tensor
    drawn = np.unique(np.concatenate(select + scored))
    t0 = time.perf_counter()
    X = _load(ff, np.concatenate([val, drawn]), mean, std, device)
    y = torch.from_numpy(y_all[np.concatenate([val, drawn])]).to(device)
    result.load_s = round(time.perf_counter() - t0, 3)
    nv = len(val)

    def rows(draw: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(nv + np.searchsorted(drawn, draw)).to(device)

    t0 = time.perf_counter()
    kw = {"n_classes": n_classes, "solver": cfg.solver, "classifier": cfg.classifier}
    best_C, best_acc = None, -1.0
    rep.start("choosing C", total=len(cfg.Cs) * len(select))
    for i, C in enumerate(sorted(cfg.Cs)):
        accs = []
        for j, draw in enumerate(select):
            idx = rows(draw)
            model = fit(X[idx], y[idx], C, **kw)
            accs.append(_accuracy(model.predict(X[:nv]), y[:nv]))
            rep.update(i * len(select) + j + 1)
        acc = float(np.mean(accs))
        result.val_accuracy[f"{C:g}"] = round(acc, 5)
        if acc > best_acc:
            best_C, best_acc = C, acc
    rep.stop()
    rep.log(f"C={best_C:g} (mean validation accuracy {best_acc:.4f} over "
            f"{len(select)} draws); fitting {draws} draws")
    models = []
    rep.start("test draws", total=draws)
    for d, draw in enumerate(scored):
        idx = rows(draw)
        models.append(fit(X[idx], y[idx], best_C, **kw))
        rep.update(d + 1)
    rep.stop()
    del X
    result.fit_s = round(time.perf_counter() - t0, 3)
    correct, n_test = _score(ff, test, models, mean, std, device)
    errors = 1 - np.asarray(correct, dtype=np.float64) / n_test
    result.C = best_C
    result.test_error = round(float(errors.mean()), 5)
    result.test_error_ci95 = round(float(1.96 * errors.std()), 5)
    result.test_accuracy = round(1 - float(errors.mean()), 5)
    result.n_train, result.n_val, result.n_test = per_class * n_classes, nv, n_test


def _accuracy(pred: torch.Tensor, y: torch.Tensor) -> float:
    return (pred == y).float().mean().item()


def _score(ff: FeatureFile, test: tuple, models: list, mean, std, device
           ) -> tuple[list[int], int]:
    """Correct predictions of each model on the test rows, streamed block by block."""
    split, rows = test
    labels = ff.labels(split)
    mask = None
    if rows is not None:
        mask = np.zeros(len(labels), dtype=bool)
        mask[rows] = True
    k = models[0].W.shape[1]
    W = torch.cat([m.W for m in models], 1).to(device)  # (F, k * models)
    b = torch.cat([m.b for m in models]).to(device)
    correct = torch.zeros(len(models), dtype=torch.int64)
    n = 0
    for start, block in ff.iter_blocks(split):
        yb = labels[start:start + block.shape[0]]
        if mask is not None:
            keep = torch.from_numpy(mask[start:start + block.shape[0]])
            block, yb = block[keep], yb[keep]
        if not len(yb):
            continue
        block = block.to(device)
        standardize_(block, mean.to(device), std.to(device))
        pred = torch.addmm(b, block, W).view(len(yb), len(models), k).argmax(2)  # (B, models)
        correct += (pred.cpu() == yb[:, None]).sum(0)
        n += len(yb)
    return correct.tolist(), n
