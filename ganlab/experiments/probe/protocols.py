"""The probe's protocols (paper Tables 1 and 2): splits, label draws, C selection, test scores.

- ``cifar10`` (Table 1, and the default for every dataset but SVHN): a stratified validation
  split (10% of the training set) is held out; C is chosen on it along a regularisation path
  (``path``: the grid fitted upwards, each fit warm-started from the previous C, stopping once
  validation accuracy has fallen for two C values in a row); the model is refit on the full
  training set, warm-started from the chosen C's solution, and scored once on the test set.
  With ``train_per_class`` (the paper's 400-per-class column) the few-label procedure below
  runs instead, with that many labels per class.
- ``svhn`` (Table 2): 10,000 validation examples are split off the (non-extra) training set;
  for each C, 10 random class-balanced draws of 1000 labels (100 per class) from the rest are
  fitted and scored on the validation split; with the best C, 100 further draws are scored on
  the test set: mean test error and 1.96 x its standard deviation (the authors' script).

Datasets without a test split (e.g. `folder`) hold out a stratified 20% as their test set.
`run_protocol` makes the splits once (a `Splits`) and dispatches to `cifar10_protocol` or
`few_label_protocol`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch

from ganlab.errors import GanlabError
from ganlab.experiments.probe.config import ProbeConfig, ProbeResult
from ganlab.experiments.probe.path import PathStep, cost_text, fit_step, regularisation_path
from ganlab.experiments.probe.precond import nystrom_preconditioner
from ganlab.experiments.probe.stats import standardize_, tensor_stats, train_stats
from ganlab.experiments.probe.svm import LinearModel, fit
from ganlab.io.featstore import FeatureFile
from ganlab.progress import Reporter

SVHN_VAL = 10_000  # the paper's validation examples split off SVHN's training set
SVHN_PER_CLASS = 100  # 1000 labels, uniformly class-distributed
SVHN_DRAWS = 100  # draws scored on the test set
PER_CLASS_DRAWS = 10  # default draws for --train-per-class with the cifar10 protocol
VAL_FRACTION = 0.1  # cifar10 protocol: validation split, a fraction of the training set
TEST_FRACTION = 0.2  # held out as the test set when a dataset has no test split


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
        rest, held = train_test_split(
            np.arange(n), test_size=size, random_state=state, stratify=labels
        )
    except ValueError:  # a class with one member cannot be stratified
        rest, held = train_test_split(np.arange(n), test_size=size, random_state=state)
    return np.sort(held), np.sort(rest)


def balanced_draw(labels: np.ndarray, per_class: int, seed) -> np.ndarray:
    """`per_class` random positions of every class, without replacement (sorted int64).

    Args:
        labels: (n,) class indices.
        per_class: positions drawn from each class.
        seed: anything numpy.random.default_rng accepts.
    Returns:
        (per_class x classes,) sorted positions into `labels`.
    """
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise GanlabError(
                f"class {int(c)} has only {len(members)} training examples "
                f"outside the validation split, fewer than --train-per-class "
                f"{per_class}. Use a smaller --train-per-class or --val-size."
            )
        picked.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(picked))


@dataclass(frozen=True, eq=False)
class Splits:
    """The rows a protocol fits, validates and tests on, and how their features are scaled.

    Rows are positions in the features file's train split, except `test_rows` (positions in
    `test_split`).
    """

    ff: FeatureFile  # the open features file
    labels: np.ndarray  # (n,) int64 class of every train-split row
    n_classes: int
    val: np.ndarray  # (n_val,) sorted validation rows
    rest: np.ndarray  # (n_rest,) sorted training rows outside val (and outside the test rows)
    test_split: str  # "test", or "train" when the test rows are held out of it
    test_rows: np.ndarray | None  # sorted rows of test_split to score; None: all of them
    mean: torch.Tensor | None  # (F,) float32 subtracted from every feature; None: not yet
    std: torch.Tensor | None  # (F,) float32 each feature is then divided by


def make_splits(
    ff: FeatureFile, cfg: ProbeConfig, protocol: str, rep: Reporter, stats: bool = True
) -> Splits:
    """Hold out the test rows (when the file has no test split) and the validation rows.

    Args:
        ff: the features file.
        cfg: the probe configuration (val_size, seed, standardize).
        protocol: "cifar10" or "svhn" (their default validation sizes differ).
        rep: progress output.
        stats: take the feature statistics of all training rows (val and rest) now, in one
            pass over the file; False leaves them to `load_pool`, which reads those rows anyway.
    Returns:
        The Splits.
    """
    y_all = ff.labels("train").numpy()
    n_classes = len(ff.attrs.get("class_names") or []) or int(y_all.max()) + 1
    if "test" in ff.splits:
        test_split, test_rows = "test", None
        pool = np.arange(len(y_all))
    else:  # no test split: hold a stratified part of the training set out
        test_rows, pool = stratified_holdout(
            y_all, round(TEST_FRACTION * len(y_all)), [cfg.seed, 2]
        )
        test_split = "train"
    val_size = cfg.val_size or (
        SVHN_VAL if protocol == "svhn" else max(n_classes, round(VAL_FRACTION * len(pool)))
    )
    val_pos, rest_pos = stratified_holdout(y_all[pool], val_size, [cfg.seed, 0])
    mean = std = None
    if stats:
        rep.log(f"computing feature statistics over {len(pool)} training rows")
        mean, std = train_stats(ff, pool, cfg.standardize)
    return Splits(
        ff=ff,
        labels=y_all,
        n_classes=n_classes,
        val=pool[val_pos],
        rest=pool[rest_pos],
        test_split=test_split,
        test_rows=test_rows,
        mean=mean,
        std=std,
    )


# --- protocols --------------------------------------------------------------------------------


def run_protocol(
    ff: FeatureFile, cfg: ProbeConfig, device: torch.device, rep: Reporter, result: ProbeResult
) -> None:
    """Fill `result` with the chosen protocol's validation and test scores.

    Args:
        ff: the features file.
        cfg: the probe configuration.
        device: where the classifiers are fitted.
        rep: progress output.
        result: filled in place (protocol, scores, sizes, timings).
    """
    name = cfg.protocol or ("svhn" if ff.attrs["dataset"] == "svhn" else "cifar10")
    few = name == "svhn" or cfg.train_per_class is not None
    # the cifar10 protocol loads every training row: it scales them in memory (`load_pool`)
    splits = make_splits(ff, cfg, name, rep, stats=few)
    protocol = {
        "name": name,
        "val_size": len(splits.val),
        "seed": cfg.seed,
        "standardize": cfg.standardize,
        "Cs": list(cfg.Cs),
        "test_split": "held out 20% of train"
        if splits.test_rows is not None
        else ff.h5["test"].attrs.get("source_split", "test"),
    }
    if few:
        per_class = cfg.train_per_class or SVHN_PER_CLASS
        draws = cfg.draws or (SVHN_DRAWS if name == "svhn" else PER_CLASS_DRAWS)
        protocol |= {
            "train_per_class": per_class,
            "labels_per_draw": per_class * splits.n_classes,
            "select_draws": cfg.select_draws,
            "test_draws": draws,
        }
        few_label_protocol(splits, cfg, device, rep, result, per_class=per_class, draws=draws)
    else:
        protocol |= {
            "train_size": len(splits.rest),
            "refit_size": len(splits.rest) + len(splits.val),
        }
        cifar10_protocol(splits, cfg, device, rep, result)
    result.protocol = protocol


def cifar10_protocol(
    s: Splits, cfg: ProbeConfig, device: torch.device, rep: Reporter, result: ProbeResult
) -> None:
    """C on the validation split, refit on all training rows, test once (paper Table 1).

    Args:
        s: the splits and feature scaling.
        cfg: the probe configuration (Cs, solver, classifier, seed).
        device: where the classifiers are fitted.
        rep: progress output.
        result: filled in place (C, val_accuracy, test scores, sizes, load_s, fit_s).
    """
    t0 = time.perf_counter()
    X, y, s = load_pool(s, device, cfg.standardize)  # (n_rest + n_val, F), (n_rest + n_val,)
    result.load_s = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    n_fit = len(s.rest)
    kw = {"n_classes": s.n_classes, "solver": cfg.solver, "classifier": cfg.classifier}
    shared, on_fit_rows = {}, {}
    if cfg.solver == "torch":  # one sketch and one X @ U serve the whole path and the refit
        precond = nystrom_preconditioner(X, seed=cfg.seed)
        XU = precond.basis(X)  # (n_rest + n_val, r)
        shared = {"precond": precond, "XU": XU}
        on_fit_rows = {"precond": precond, "XU": XU[:n_fit]}

    def log(step: PathStep, _model) -> None:
        cost = cost_text(step.to_dict())
        rep.log(f"C={step.C:g}: validation accuracy {step.val_accuracy:.4f} ({cost})")

    path = regularisation_path(
        X[:n_fit], y[:n_fit], X[n_fit:], y[n_fit:], cfg.Cs, **kw, **on_fit_rows, on_step=log
    )
    if path.stopped:
        rep.log(f"C search stopped: {path.stopped}")
    result.c_search = [step.to_dict() for step in path.steps + path.refined]
    result.val_accuracy = {  # each C's last fit: the refined one where there is one
        f"{st.C:g}": round(st.val_accuracy, 5) for st in path.steps + path.refined if not st.skipped
    }
    C = path.best.C
    final, step = fit_step(X, y, C, path.best if cfg.solver == "torch" else None, **kw, **shared)
    result.refit = {
        "C": C,
        "rows": X.shape[0],
        "fit_s": round(step.fit_s, 3),
        "warm_start": step.warm_start,
    } | step.iterations
    rep.log(f"refit C={C:g} on {X.shape[0]} rows ({cost_text(result.refit)})")
    del X
    result.fit_s = round(time.perf_counter() - t0, 3)
    correct, n_test = score_test(s, [final], device)
    result.C = C
    result.test_accuracy = round(correct[0] / n_test, 5)
    result.test_error = round(1 - correct[0] / n_test, 5)
    result.n_train, result.n_val, result.n_test = len(s.rest), len(s.val), n_test


def few_label_protocol(
    s: Splits,
    cfg: ProbeConfig,
    device: torch.device,
    rep: Reporter,
    result: ProbeResult,
    *,
    per_class: int,
    draws: int,
) -> None:
    """C from label draws scored on validation, then `draws` draws scored on test (Table 2).

    The svhn protocol, and the cifar10 protocol with --train-per-class.

    Args:
        s: the splits and feature scaling.
        cfg: the probe configuration (Cs, select_draws, solver, classifier, seed).
        device: where the classifiers are fitted.
        rep: progress output.
        result: filled in place (C, val_accuracy, mean test error and its 1.96 std, sizes).
        per_class: labels per class in each draw.
        draws: draws fitted with the chosen C and scored on the test rows.
    """
    y_rest = s.labels[s.rest]
    select = [
        s.rest[balanced_draw(y_rest, per_class, [cfg.seed, 1, d])] for d in range(cfg.select_draws)
    ]
    scored = [s.rest[balanced_draw(y_rest, per_class, [cfg.seed, 3, d])] for d in range(draws)]
    # load the validation rows and every drawn row once; draws index into that tensor
    drawn = np.unique(np.concatenate(select + scored))
    t0 = time.perf_counter()
    X = load_rows(s, np.concatenate([s.val, drawn]), device)  # (n_val + n_drawn, F)
    y = torch.from_numpy(s.labels[np.concatenate([s.val, drawn])]).to(device)
    result.load_s = round(time.perf_counter() - t0, 3)
    nv = len(s.val)

    def rows(draw: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(nv + np.searchsorted(drawn, draw)).to(device)

    t0 = time.perf_counter()
    kw = {"n_classes": s.n_classes, "solver": cfg.solver, "classifier": cfg.classifier}
    best_C, best_acc = None, -1.0
    rep.start("choosing C", total=len(cfg.Cs) * len(select))
    for i, C in enumerate(sorted(cfg.Cs)):
        accs, total = [], PathStep(C, fit_s=0.0)  # the draws' fit times and iterations summed
        for j, draw in enumerate(select):
            idx = rows(draw)
            model, step = fit_step(X[idx], y[idx], C, **kw)
            accs.append(_accuracy(model.predict(X[:nv]), y[:nv]))
            total.fit_s += step.fit_s
            for key, count in step.iterations.items():
                if isinstance(count, int):  # totals; a per-Newton list does not add up
                    total.iterations[key] = total.iterations.get(key, 0) + count
            rep.update(i * len(select) + j + 1)
        acc = total.val_accuracy = float(np.mean(accs))
        result.val_accuracy[f"{C:g}"] = round(acc, 5)
        result.c_search.append(total.to_dict() | {"draws": len(select)})
        if acc > best_acc:
            best_C, best_acc = C, acc
    rep.stop()
    rep.log(
        f"C={best_C:g} (mean validation accuracy {best_acc:.4f} over "
        f"{len(select)} draws); fitting {draws} draws"
    )
    models = []
    rep.start("test draws", total=draws)
    for d, draw in enumerate(scored):
        idx = rows(draw)
        models.append(fit(X[idx], y[idx], best_C, **kw))
        rep.update(d + 1)
    rep.stop()
    del X
    result.fit_s = round(time.perf_counter() - t0, 3)
    correct, n_test = score_test(s, models, device)
    errors = 1 - np.asarray(correct, dtype=np.float64) / n_test
    result.C = best_C
    result.test_error = round(float(errors.mean()), 5)
    result.test_error_ci95 = round(float(1.96 * errors.std()), 5)
    result.test_accuracy = round(1 - float(errors.mean()), 5)
    result.n_train, result.n_val, result.n_test = per_class * s.n_classes, nv, n_test


# --- loading and scoring ----------------------------------------------------------------------


def load_rows(s: Splits, rows: np.ndarray, device: torch.device) -> torch.Tensor:
    """Rows of the train split, in the given order, scaled in place: one (len(rows), F) copy."""
    out = torch.empty(len(rows), s.ff.feature_dim, dtype=torch.float32, device=device)
    s.ff.load("train", torch.from_numpy(rows), out=out)
    standardize_(out, s.mean.to(device), s.std.to(device))
    return out


def load_pool(
    s: Splits, device: torch.device, per_feature: bool
) -> tuple[torch.Tensor, torch.Tensor, Splits]:
    """Every training row (rest, then val), scaled, with one read of the file.

    The feature statistics are those of exactly these rows, so when `s` has none yet
    (`make_splits(..., stats=False)`) they are taken from the copy in memory: one read of
    the file instead of two (at 60,000 x 28,672, with the faster gather in `FeatureFile.load`:
    15.8 s against 33.1 s, warm page cache).

    Args:
        s: the splits; their statistics are used when present.
        device: where X goes.
        per_feature: --standardize (when the statistics are taken here).
    Returns:
        X (n_rest + n_val, F) float32 scaled, y (n_rest + n_val,) int64, and the Splits with
        their statistics.
    """
    order = np.concatenate([s.rest, s.val])  # fit rows first: both parts are views of one tensor
    y = torch.from_numpy(s.labels[order]).to(device)
    if s.mean is not None:
        return load_rows(s, order, device), y, s
    X = s.ff.load(
        "train",
        torch.from_numpy(order),
        out=torch.empty(len(order), s.ff.feature_dim, dtype=torch.float32, device=device),
    )
    mean, std = tensor_stats(X, per_feature)
    standardize_(X, mean.to(device), std.to(device))
    return X, y, dataclasses.replace(s, mean=mean, std=std)


def _accuracy(pred: torch.Tensor, y: torch.Tensor) -> float:
    return (pred == y).float().mean().item()


def score_test(s: Splits, models: list[LinearModel], device: torch.device) -> tuple[list[int], int]:
    """Correct predictions of each model on the test rows, streamed block by block.

    Returns:
        (correct count per model, number of test rows).
    """
    labels = s.ff.labels(s.test_split)
    mask = None
    if s.test_rows is not None:
        mask = np.zeros(len(labels), dtype=bool)
        mask[s.test_rows] = True
    k = models[0].W.shape[1]
    W = torch.cat([m.W for m in models], 1).to(device)  # (F, k * models)
    b = torch.cat([m.b for m in models]).to(device)
    mean, std = s.mean.to(device), s.std.to(device)
    correct = torch.zeros(len(models), dtype=torch.int64)
    n = 0
    for start, block in s.ff.iter_blocks(s.test_split):
        yb = labels[start : start + block.shape[0]]
        if mask is not None:
            keep = torch.from_numpy(mask[start : start + block.shape[0]])
            block, yb = block[keep], yb[keep]
        if not len(yb):
            continue
        block = block.to(device)
        standardize_(block, mean, std)
        pred = torch.addmm(b, block, W).view(len(yb), len(models), k).argmax(2)  # (B, models)
        correct += (pred.cpu() == yb[:, None]).sum(0)
        n += len(yb)
    return correct.tolist(), n
