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

from ganlab.core.generate import hold_class
from ganlab.errors import GanlabError
from ganlab.experiments.concept.classifier import LabelClassifier, fit_classifier
from ganlab.experiments.concept.define import mine_defined, needed_columns, parse_definitions
from ganlab.experiments.concept.labels import LabelledImages, load_labelled, read_label_table
from ganlab.experiments.concept.pool import (
    EXEMPLAR_CHOICES,
    accuracy_record,
    boundary_record,
    boundary_source,
    classifier_record,
    pick_exemplars,
    pool_boundary,
    score_pool,
)
from ganlab.experiments.concept.provenance import provenance
from ganlab.io.checkpoint import Checkpoint, load_checkpoint
from ganlab.io.concepts import Concept, open_concepts, save_classifier, save_concepts
from ganlab.io.seedlist import format_seeds

PER_CONCEPT = 50  # exemplars per concept: see benchmarks/exemplar_stability.py


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
    if exemplars not in EXEMPLAR_CHOICES:
        raise GanlabError(f"exemplars {exemplars!r}: use 'extreme' or 'stratified'.")
    scored = score_pool(ckpt, real, pool, device, batch_size)
    seeds = scored.seeds
    concepts, classifiers, notes = [], [], []
    base = {**provenance(ckpt, "mined"), "weights": ckpt.weights_used}  # the pool's G
    for col in real.columns:
        clf = fit_classifier(col.name, scored.real_features, col.values)
        classifiers.append(clf)
        proba = clf.predict_proba(scored.pool_features)  # (P, K)
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
            boundary = pool_boundary(scored, assigned == k)
            if boundary is None:
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
                        **classifier_record(scored),
                        **accuracy_record(clf),
                        "pool_seeds": format_seeds(seeds),
                        "pool_assigned": int(len(idx)),
                        "exemplars": exemplars,
                        "scores": [round(float(proba[i, k]), 4) for i in best],
                    }
                    | ({"boundary": boundary_source(boundary, pool)} if boundary else {}),
                    boundary=boundary_record(boundary),
                )
            )
    return concepts, classifiers, notes


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
    define: Sequence[str] = (),
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
        define: concepts that combine labels, "NAME=PART,PART..." (e.g. "man with glasses=
            Male,Eyeglasses"; "-Eyeglasses" for an attribute's absence; see `define`). With
            them, only the defined concepts are mined, from the columns they name; they need
            a label file and at least `per_concept` qualifying pool samples each.
    Returns:
        A MineResult; nothing is written when it raises.
    """
    definitions = []
    if define:
        if labels is None:
            raise GanlabError(
                "--define combines the columns of a label file: give --labels FILE (a CSV, or "
                "CelebA's list_attr_celeba.txt) and --data-root DIR."
            )
        if columns:
            raise GanlabError(
                "--define mines the concepts it names, from the columns they use: drop "
                "--columns (mine single values in a separate `ganlab concept mine`)."
            )
        # checked against the file's header before any image is read
        definitions = parse_definitions(define, read_label_table(Path(labels))[1], str(labels))
        columns = needed_columns(definitions)
    ckpt = load_checkpoint(run)
    hold_class(ckpt, class_)  # a conditional run generates its pool in one class (--class)
    cs = open_concepts(run, ckpt)
    real = load_labelled(ckpt, data_root, labels, columns, max_images)
    if definitions:
        names = [d.name for d in definitions]
    else:
        names = [n for col in real.columns for n in col.concept_names.values()]
    clash = sorted(set(names) & set(cs.concepts))
    if clash and not replace:
        raise GanlabError(
            f"{cs.path} already has concept(s) {', '.join(map(repr, clash))}; "
            "pass --replace to overwrite them with mined ones."
        )
    if definitions:
        concepts, classifiers, notes = mine_defined(
            ckpt, real, definitions, pool, per_concept, device, batch_size, exemplars
        )
    else:
        concepts, classifiers, notes = mine(
            ckpt, real, pool, per_concept, device, batch_size, exemplars
        )
    if real.skipped:
        notes.insert(0, f"{real.skipped} listed image(s) were missing or unreadable and skipped.")
    # the classifiers first: concepts.json never names a file that is not there
    files = {clf.column: save_classifier(run, clf.arrays(ckpt.sha256())) for clf in classifiers}
    for c in concepts:
        if "parts" in c.source:  # a defined concept: one classifier per part
            for part in c.source["parts"]:
                part["classifier_file"] = files[part["column"]]
        else:
            c.source["classifier_file"] = files[c.source["column"]]
        cs.concepts[c.name] = c
    save_concepts(cs)
    return MineResult(
        [_summary(c) for c in concepts], str(cs.path), pool, str(ckpt.path), ckpt.step, notes
    )


def _summary(c: Concept) -> dict:
    """A mined concept as `concept mine` reports it. A defined concept has no single column:
    its "heldout_accuracy" maps each column it names to its classifier's."""
    src = c.source
    out = {
        "name": c.name,
        "seeds": c.seeds,
        "column": src.get("column"),
        "heldout_accuracy": src.get("heldout_accuracy"),
        "scores": src["scores"],
        "boundary_heldout_accuracy": src.get("boundary", {}).get("heldout_accuracy"),
    }
    if "parts" in src:
        out["definition"] = src["definition"]
        out["heldout_accuracy"] = {p["column"]: p["heldout_accuracy"] for p in src["parts"]}
        out["pool_qualified"] = src["pool_qualified"]
    return out
