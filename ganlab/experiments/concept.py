"""Concepts: named sets of exemplar seeds in one run's latent space (paper Figs. 7-8).

The paper found single samples per concept unstable and averaged z over three exemplars per
concept. A concept here is that list of seeds, stored per run in ``RUN/concepts.json``
(human-readable, written atomically) with a record of where it came from:

    {"format": "ganlab-concepts", "version": 1, "nz": 100, "z_dist": "uniform",
     "concepts": {"man with glasses": {"seeds": [3, 17, 42],
                                       "source": {"kind": "manual", "step": 880, ...}}}}

Concepts are picked by hand (`ganlab concept add`) or mined: a logistic regression on the
run's own D features of labelled real images scores a pool of generated samples, and each
label value keeps its most confidently classified seeds (or seeds spread over its confident
range). Mining makes the arithmetic reproducible without hand-picking.

Mining also fits, for each label value, a linear boundary in z between the pool samples the
classifier gives that value and the rest (InterFaceGAN, Shen et al. 2020): its unit normal is
a direction that changes the attribute while moving z as little as possible, unlike the mean
difference of a few exemplars, which also carries everything else those exemplars share.
"""

from __future__ import annotations

import csv
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ganlab.core.boundary import BOUNDARY_C, Boundary, fit_boundary
from ganlab.core.features import extract_features
from ganlab.core.generate import generate, hold_class
from ganlab.core.nets import load_discriminator
from ganlab.core.projection import project_files
from ganlab.core.seeds import z_from_seeds
from ganlab.data.batches import batches
from ganlab.errors import GanlabError
from ganlab.io.checkpoint import Checkpoint, load_checkpoint
from ganlab.io.concepts import (
    Concept,
    FeatureClassifier,
    check_name,
    load_concepts,
    open_concepts,
    save_classifier,
    save_concepts,
)
from ganlab.io.images import to_uint8
from ganlab.io.seedlist import format_seeds

FEATURE_GRID = 4  # D's maps max-pooled to 4x4 per layer, all layers (paper section 5)
HELDOUT = 0.2  # fraction of the labelled real images kept out of the fit, for the accuracy
C_REG = 0.1  # inverse L2 strength: thousands of features and ~1k images need some shrinkage
PER_CONCEPT = 50  # exemplars per concept: see benchmarks/exemplar_stability.py
CONFIDENT = 0.8  # "stratified" exemplars: spread over the pool samples scored at least this
MIN_SIDE = 5  # pool samples needed on each side of a boundary


def _provenance(ckpt: Checkpoint, kind: str) -> dict:
    return {
        "kind": kind,
        "checkpoint": str(ckpt.path),
        "checkpoint_sha256": ckpt.sha256(),
        "step": ckpt.step,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def add_concept(
    run: str | Path,
    name: str,
    seeds: list[int],
    replace: bool = False,
    images: Sequence[str | Path] = (),
    device: str | torch.device = "cpu",
    class_: str | int | None = None,
) -> Concept:
    """Store a hand-picked concept in RUN/concepts.json.

    Args:
        run: a run directory or a checkpoint file inside one.
        name: the concept's name (may contain spaces: "man with glasses").
        seeds: its exemplars; the paper averages three.
        replace: overwrite an existing concept of that name.
        images: image files (or folders) whose projections are exemplars too, projected as
            `ganlab project` projects them (the run's encoder included); their z, files and
            losses are stored.
        device: where the projection runs.
        class_: a conditional run's class (name or index) the images are projected in.
    Returns:
        The stored Concept (its source's "notes" hold conversions of the images, if any).
    """
    check_name(name)
    if not seeds and not images:
        raise GanlabError(
            f"concept {name!r} needs exemplars: seeds (--seeds 3,17,42) or images (--images "
            "a.jpg b.jpg c.jpg)."
        )
    ckpt = load_checkpoint(run)
    if images or class_ is not None:  # a conditional run projects in one class (--class)
        hold_class(ckpt, class_)
    cs = open_concepts(run, ckpt)
    if name in cs.concepts and not replace:
        raise GanlabError(
            f"concept {name!r} already exists in {cs.path} ({cs.concepts[name].describe()}); "
            "pass --replace to overwrite it."
        )
    source = _provenance(ckpt, "manual" if seeds else "images")
    latents = []
    if images:
        proj, real, notes = project_files(ckpt, images, device=device)
        latents = proj.z.tolist()  # float32 values, exact as JSON doubles
        source.update(
            images=real.sources,
            pixel_mse=[round(v, 6) for v in proj.pixel_mse.tolist()],
            feature_dist=[round(v, 6) for v in proj.feature_dist.tolist()],
            start=proj.start,
            notes=notes,
        )
    concept = Concept(name, list(seeds), source, latents)
    cs.concepts[name] = concept
    save_concepts(cs)
    return concept


def remove_concept(run: str | Path, name: str) -> Concept:
    """Delete a concept from RUN/concepts.json; returns what was removed."""
    cs = load_concepts(run)
    concept = cs.concepts.get(name) or cs.find(name)  # "woman" or "gender=woman"
    if concept is None:
        cs.require([name])  # raises the unknown-name error
    concept = cs.concepts.pop(concept.name)
    save_concepts(cs)
    return concept


# --- labelled real images ---------------------------------------------------------------------


@dataclass
class LabelColumn:
    """One label/attribute: a value per real image ("" when unknown) and each value's name."""

    name: str
    values: list[str]
    concept_names: dict[str, str]  # label value -> concept name


@dataclass
class LabelledImages:
    images: torch.Tensor  # uint8 (N, C, S, S) at the run's size and channels
    columns: list[LabelColumn]
    source: str  # where the labels came from, for provenance
    skipped: int = 0  # listed images that were missing or unreadable


def read_label_table(path: Path) -> tuple[list[str], list[LabelColumn]]:
    """Read image paths and label columns from a CSV or CelebA's list_attr_celeba.txt.

    A CSV has a header row naming the columns; the first column is the image path. One label
    column names its concepts by value ("smiling woman"); several name them "column=value".
    CelebA's format (a count line, a line of attribute names, then "file v1 v2 ..." with -1/1)
    names them "Eyeglasses" and "not Eyeglasses".

    Returns:
        (paths, columns) with one value per path in each column.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise GanlabError(f"cannot read --labels {path}: {e}") from None
    lines = text.splitlines()
    if len(lines) >= 2 and lines[0].strip().isdigit():  # CelebA: count, names, rows
        attrs = lines[1].split()
        rows = [line.split() for line in lines[2:] if line.strip()]
        bad = next((i for i, r in enumerate(rows) if len(r) != len(attrs) + 1), None)
        if bad is not None:
            raise GanlabError(
                f"--labels {path} line {bad + 3} has {len(rows[bad]) - 1} values "
                f"for {len(attrs)} attributes."
            )
        paths = [r[0] for r in rows]
        columns = []
        for j, attr in enumerate(attrs):
            values = [r[j + 1] for r in rows]
            columns.append(
                LabelColumn(
                    attr, values, {v: attr if v == "1" else f"not {attr}" for v in set(values)}
                )
            )
        return paths, columns
    rows = [r for r in csv.reader(lines) if any(cell.strip() for cell in r)]
    if len(rows) < 2 or len(rows[0]) < 2:
        raise GanlabError(
            f"--labels {path} needs a header row (e.g. path,label) and at least "
            "one row of an image path and one or more label columns."
        )
    header = [h.strip() for h in rows[0]]
    if Path(header[0]).suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif"):
        raise GanlabError(
            f"--labels {path} starts with {header[0]!r}: add a header row naming "
            "the columns (e.g. path,label) as its first line."
        )
    bad = next((i for i, r in enumerate(rows) if len(r) != len(header)), None)
    if bad is not None:
        raise GanlabError(
            f"--labels {path} row {bad + 1} has {len(rows[bad])} fields, the "
            f"header has {len(header)}."
        )
    paths = [r[0].strip() for r in rows[1:]]
    columns = []
    for j, col in enumerate(header[1:], start=1):
        values = [r[j].strip() for r in rows[1:]]
        names = {v: v if len(header) == 2 else f"{col}={v}" for v in set(values) if v}
        columns.append(LabelColumn(col, values, names))
    return paths, columns


def load_labelled(
    ckpt: Checkpoint,
    data_root: str | Path | None = None,
    labels: str | Path | None = None,
    columns: Sequence[str] | None = None,
    max_images: int = 10000,
    seed: int = 0,
) -> LabelledImages:
    """Labelled real images at the run's image size: from a label file or the run's dataset.

    Args:
        ckpt: the run's checkpoint (its dataset, size and channels).
        data_root: where the images (or the dataset) lie; for a label file, default its folder.
        labels: a CSV or list_attr_celeba.txt; None uses the run's built-in labelled dataset.
        columns: label columns to keep (default all); with one column kept, a CSV's concepts
            are named by value ("woman"), otherwise "column=value" ("gender=woman").
        max_images: at most this many images, a seeded random subset.
        seed: picks the subset.
    Returns:
        LabelledImages.
    """
    if labels is not None:
        real = _from_label_file(ckpt, Path(labels), data_root, max_images, seed)
    else:
        real = _from_dataset(ckpt, data_root, max_images, seed)
    if columns:
        known = [c.name for c in real.columns]
        unknown = [c for c in columns if c not in known]
        if unknown:
            raise GanlabError(
                f"--columns {', '.join(unknown)} not in {real.source}; its "
                f"label columns are: {', '.join(known)}."
            )
        real.columns = [c for c in real.columns if c.name in columns]
    if len(real.columns) == 1:  # one attribute: its values are names enough ("woman")
        col = real.columns[0]
        if all(n == f"{col.name}={v}" for v, n in col.concept_names.items()):
            col.concept_names = {v: v for v in col.concept_names}
    for col in real.columns:
        for name in col.concept_names.values():
            try:
                check_name(name)
            except GanlabError as e:
                raise GanlabError(
                    f"label {col.name!r} of {real.source} cannot name a concept: {e}"
                ) from None
    return real


def _subset(n: int, max_images: int, seed: int) -> list[int]:
    if n <= max_images:
        return list(range(n))
    gen = torch.Generator().manual_seed(seed)
    return sorted(torch.randperm(n, generator=gen)[:max_images].tolist())


def _from_dataset(ckpt: Checkpoint, data_root, max_images: int, seed: int) -> LabelledImages:
    from ganlab.data import DATASETS, load_dataset

    cfg, mc = ckpt.train_config, ckpt.model_config
    name, split = cfg.get("dataset"), cfg.get("split", "train")
    no_labels = GanlabError(
        f"the run's dataset {name} has no labels to mine concepts from: give --labels FILE (a "
        "CSV of image path and label columns, or CelebA's list_attr_celeba.txt) and "
        "--data-root DIR."
    )
    if name not in DATASETS or not DATASETS[name].labelled:  # checked before reading any data
        raise no_labels
    ds = load_dataset(
        name,
        data_root or cfg.get("data_root"),
        split=split,
        image_size=mc.image_size,
        channels=mc.channels,
        category=cfg.get("category", "bedroom"),
    )
    if not ds.class_names:
        raise no_labels
    keep = _subset(len(ds), max_images, seed)
    read = list(batches(ds, indices=keep))  # unreadable images are left out
    images = torch.cat([b.images for b in read])  # (N, C, S, S) uint8
    targets = torch.cat([b.labels for b in read]).tolist()
    values = [ds.class_names[t] if t >= 0 else "" for t in targets]
    column = LabelColumn("class", values, {c: c for c in ds.class_names})
    return LabelledImages(images, [column], f"dataset {name} (split {split})")


def _from_label_file(
    ckpt: Checkpoint, path: Path, data_root, max_images: int, seed: int
) -> LabelledImages:
    from ganlab.data.decode import decode_image
    from ganlab.data.files import CELEBA_CROP

    if not path.is_file():
        raise GanlabError(f"--labels {path} does not exist.")
    paths, columns = read_label_table(path)
    root = Path(data_root) if data_root is not None else path.parent
    if not root.is_dir():
        raise GanlabError(f"--data-root {root} is not a directory.")
    mc = ckpt.model_config
    # Preprocess exactly as the run's training images were: DCGAN's CelebA crop for celeba.
    crop = CELEBA_CROP if ckpt.train_config.get("dataset") == "celeba" else None
    keep = _subset(len(paths), max_images, seed)
    images, kept = [], []
    for i in keep:
        file = _find_image(root, paths[i])
        image = decode_image(file, mc.image_size, mc.channels, crop) if file else None
        if image is not None:
            images.append(image)
            kept.append(i)
    if not images:
        raise GanlabError(
            f"none of the {len(keep)} images listed in {path} could be read under "
            f"--data-root {root} (e.g. {root / paths[keep[0]]}); paths in the "
            "label file are relative to --data-root."
        )
    for col in columns:
        col.values = [col.values[i] for i in kept]
    return LabelledImages(torch.stack(images), columns, str(path), skipped=len(keep) - len(kept))


def _find_image(root: Path, rel: str) -> Path | None:
    from ganlab.data.files import CELEBA_FOLDERS

    # CelebA's attribute file names bare 000001.jpg; the images sit in img_align_celeba/.
    for base in (root, *(root / sub for sub in CELEBA_FOLDERS)):
        candidate = base / rel
        if candidate.is_file():
            return candidate
    return None


# --- the classifier -----------------------------------------------------------------------------


def d_features(
    D, images: torch.Tensor, device: str | torch.device = "cpu", batch_size: int = 256
) -> np.ndarray:
    """D's pooled features (N, F) float32 for uint8 images (N, C, S, S), D in eval mode."""
    batches = (images[i : i + batch_size] for i in range(0, len(images), batch_size))
    feats = extract_features(D, batches, layers=None, grid=FEATURE_GRID, device=device)
    return torch.cat(list(feats)).numpy()


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


# --- mining -------------------------------------------------------------------------------------


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
    real_feats = d_features(D, real.images, device, batch_size)  # (N, F)
    seeds = list(range(pool))
    z = z_from_seeds(seeds, ckpt.model_config.nz, ckpt.z_dist)  # (P, nz)
    pool_feats = d_features(
        D, to_uint8(generate(ckpt, z, device, batch_size)), device, batch_size
    )  # (P, F)
    concepts, classifiers, notes = [], [], []
    base = _provenance(ckpt, "mined")
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
