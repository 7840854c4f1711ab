"""`concept mine --define`: concepts that combine labels, such as the paper's "man with glasses".

A definition names a concept and the label values it needs, all at once:

    "man with glasses=Male,Eyeglasses"          CelebA: an attribute's name for its presence,
    "woman without glasses=-Male,-Eyeglasses"   -NAME for its absence ("not Male" works too)
    "young woman=gender=woman,age=young"        a CSV: COLUMN=VALUE (or a value that only one
                                                column holds); -COLUMN=VALUE for any other value

The run's D-feature classifier of each attribute scores the pool; a concept's exemplars are the
pool samples that every classifier puts on the defined side, ranked by their joint probability
(the product of the per-attribute probabilities), so the first exemplars are the samples the
classifiers are jointly surest of.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ganlab.errors import GanlabError
from ganlab.experiments.concept.classifier import LabelClassifier, fit_classifier
from ganlab.experiments.concept.labels import LabelColumn, LabelledImages
from ganlab.experiments.concept.pool import (
    EXEMPLAR_CHOICES,
    boundary_record,
    boundary_source,
    classifier_record,
    pick_exemplars,
    pool_boundary,
    score_pool,
)
from ganlab.experiments.concept.provenance import provenance
from ganlab.io.checkpoint import Checkpoint
from ganlab.io.concepts import Concept, check_name
from ganlab.io.seedlist import format_seeds

SHOWN_VALUES = 12  # values listed per CSV column in an error message


@dataclass(frozen=True)
class Part:
    """One condition of a definition: the column's value is `value` (or, negated, is not)."""

    column: str
    value: str
    negated: bool  # only for a column of more than two values: any value but `value`
    written: str  # as the user wrote it ("-Eyeglasses")


@dataclass(frozen=True)
class Definition:
    name: str  # the concept's name
    text: str  # the parts as written: "Male,-Eyeglasses"
    parts: tuple[Part, ...]


def parse_definitions(
    texts: Sequence[str], columns: Sequence[LabelColumn], source: str
) -> list[Definition]:
    """Parse `--define NAME=PART,PART...` against a label file's columns.

    Args:
        texts: the definitions as written.
        columns: every label column of the file (read_label_table's), values included.
        source: the label file, for messages.
    Returns:
        One Definition per text, each part resolved to a column and value; a negated part of a
        two-valued column becomes the other value.
    Raises:
        GanlabError: a malformed definition, a repeated name or column, or a part that names
            no attribute (the message lists the file's attributes).
    """
    names, ambiguous = _part_names(columns)
    values = {c.name: sorted({v for v in c.values if v}) for c in columns}
    out: list[Definition] = []
    for text in texts:
        name, sep, body = (s.strip() for s in text.partition("="))
        written = [p.strip() for p in body.split(",")]
        if not sep or not name or not any(written):
            raise GanlabError(
                f'--define {text!r}: write NAME=PARTS, e.g. --define "man with glasses='
                'Male,Eyeglasses" (an attribute for its presence, -ATTRIBUTE for its absence).'
            )
        try:
            check_name(name)
        except GanlabError as e:
            raise GanlabError(f"--define {text!r}: {e}") from None
        if any(d.name == name for d in out):
            raise GanlabError(f"--define names {name!r} twice; give each concept one definition.")
        parts: list[Part] = []
        for w in written:
            if not w:
                raise GanlabError(f"--define {text!r} has an empty part; separate parts with ','.")
            negated, key = False, w
            if w not in names and w.startswith("-"):  # "-Eyeglasses": its absence
                negated, key = True, w[1:].strip()
            if key not in names:
                hint = (
                    f" {key!r} is in several columns: write COLUMN={key}."
                    if key in ambiguous
                    else ""
                )
                raise GanlabError(
                    f"--define {name!r}: {w!r} is not an attribute of {source}.{hint} Write an "
                    "attribute's name for its presence and -NAME for its absence; "
                    f"{_listing(columns)}"
                )
            column, value = names[key]
            if any(p.column == column for p in parts):
                raise GanlabError(
                    f"--define {name!r} names {column!r} twice; name each attribute once."
                )
            others = [v for v in values[column] if v != value]
            if negated and len(others) == 1:  # "not Male" on a yes/no column: its other value
                negated, value = False, others[0]
            parts.append(Part(column, value, negated, w))
        out.append(Definition(name, ",".join(written), tuple(parts)))
    return out


def _part_names(columns: Sequence[LabelColumn]) -> tuple[dict[str, tuple[str, str]], set[str]]:
    """What a part may be called -> (column, value): each value's concept name as the label
    reader gives it ("Eyeglasses", "not Eyeglasses"; "gender=woman"), COLUMN=VALUE, and a bare
    value that only one column holds. Also the bare values several columns hold."""
    names: dict[str, tuple[str, str]] = {}
    bare: dict[str, list[str]] = {}
    for col in columns:
        for v in sorted({v for v in col.values if v}):
            names.setdefault(col.concept_names.get(v, f"{col.name}={v}"), (col.name, v))
            names.setdefault(f"{col.name}={v}", (col.name, v))
            bare.setdefault(v, []).append(col.name)
    ambiguous = {v for v, cols in bare.items() if len(cols) > 1}
    for v, cols in bare.items():
        if len(cols) == 1:
            names.setdefault(v, (cols[0], v))
    return names, ambiguous - set(names)


def _listing(columns: Sequence[LabelColumn]) -> str:
    """The file's attributes (CelebA: names) or columns and values (a CSV), for messages."""
    attrs, other = [], []
    for col in columns:
        if set(col.concept_names.values()) == {col.name, f"not {col.name}"}:
            attrs.append(col.name)
        else:
            vals = sorted({v for v in col.values if v})
            more = ", ..." if len(vals) > SHOWN_VALUES else ""
            other.append(f"{col.name} ({', '.join(vals[:SHOWN_VALUES])}{more})")
    text = f"its attributes are: {', '.join(attrs)}." if attrs else ""
    if other:
        text += (" " if text else "") + (
            "its label columns (values) are: " + "; ".join(other) + " (write COLUMN=VALUE)."
        )
    return text


def needed_columns(definitions: Sequence[Definition]) -> list[str]:
    """The label columns the definitions name, in first-use order."""
    out: list[str] = []
    for d in definitions:
        out += [p.column for p in d.parts if p.column not in out]
    return out


def mine_defined(
    ckpt: Checkpoint,
    real: LabelledImages,
    definitions: Sequence[Definition],
    pool: int = 2000,
    per_concept: int = 50,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    exemplars: str = "extreme",
) -> tuple[list[Concept], list[LabelClassifier], list[str]]:
    """Mine defined concepts in memory: one classifier per named column, a seeded pool.

    Args:
        ckpt: the run's checkpoint; its D gives the features, its G the pool.
        real: labelled real images at the run's size, holding every column the definitions name.
        definitions: from parse_definitions.
        pool: score generated samples of seeds 0..pool-1.
        per_concept: exemplar seeds per concept.
        device: where G and D run.
        batch_size: images per forward pass.
        exemplars: "extreme" (the jointly surest) or "stratified" (see pick_exemplars).
    Returns:
        (concepts, classifiers, warnings). Each concept's source records its definition, each
        part's classifier accuracy and how many pool samples qualified.
    Raises:
        GanlabError: fewer than `per_concept` pool samples satisfy a definition (all such
            definitions in one message, with the pool size that would do).
    """
    if exemplars not in EXEMPLAR_CHOICES:
        raise GanlabError(f"exemplars {exemplars!r}: use 'extreme' or 'stratified'.")
    by_name = {c.name: c for c in real.columns}
    for d in definitions:  # every value must be among the images actually read
        for p in d.parts:
            if p.value not in by_name[p.column].values:
                raise GanlabError(
                    f"--define {d.name!r}: no readable labelled image has {p.column}={p.value}, "
                    "so no classifier can learn it; check --data-root and --max-images."
                )
    scored = score_pool(ckpt, real, pool, device, batch_size)
    classifiers: dict[str, LabelClassifier] = {}
    proba: dict[str, np.ndarray] = {}  # column -> (P, K)
    for column in needed_columns(definitions):
        clf = fit_classifier(column, scored.real_features, by_name[column].values)
        classifiers[column] = clf
        proba[column] = clf.predict_proba(scored.pool_features)
    found = []  # (definition, qualifying (P,) bool, joint probability (P,))
    for d in definitions:
        ok, joint = np.ones(pool, dtype=bool), np.ones(pool)
        for p in d.parts:
            pr = proba[p.column]
            k = classifiers[p.column].classes.index(p.value)
            hit = pr.argmax(axis=1) == k
            ok &= ~hit if p.negated else hit
            joint *= 1.0 - pr[:, k] if p.negated else pr[:, k]
        found.append((d, ok, joint))
    short = [(d, int(ok.sum())) for d, ok, _ in found if ok.sum() < per_concept]
    if short:
        raise _too_few(short, pool, per_concept)
    concepts, notes = [], []
    base = provenance(ckpt, "mined")
    for d, ok, joint in found:
        idx = np.flatnonzero(ok)
        best = pick_exemplars(idx, joint[idx], per_concept, exemplars)
        boundary = pool_boundary(scored, ok)
        if boundary is None:
            notes.append(
                f"{d.name!r}: {len(idx)} of {pool} pool samples qualify, too many or too few "
                "for a boundary in z against the rest (--direction boundary needs one)."
            )
        parts = [
            {
                "column": p.column,
                "value": p.value,
                "negated": p.negated,
                "written": p.written,
                "heldout_accuracy": round(classifiers[p.column].heldout_accuracy, 4),
                "n_train": classifiers[p.column].n_train,
                "n_heldout": classifiers[p.column].n_heldout,
            }
            for p in d.parts
        ]
        source = {
            **base,
            "labels": real.source,
            "definition": d.text,
            "parts": parts,
            **classifier_record(scored),
            "pool_seeds": format_seeds(scored.seeds),
            "pool_qualified": int(len(idx)),
            "exemplars": exemplars,
            "scores": [round(float(joint[i]), 4) for i in best],  # joint probabilities
        } | ({"boundary": boundary_source(boundary, pool)} if boundary else {})
        seeds = [scored.seeds[i] for i in best]
        concepts.append(Concept(d.name, seeds, source, boundary=boundary_record(boundary)))
    return concepts, list(classifiers.values()), notes


def _too_few(short: list[tuple[Definition, int]], pool: int, per_concept: int) -> GanlabError:
    worst = min(n for _, n in short)
    # at the same rate, this pool gives every short definition its exemplars (twice: margin)
    need = 2 * per_concept * pool // worst if worst else 10 * pool
    listed = "; ".join(f"{d.name!r} ({d.text}): {n} of {pool}" for d, n in short)
    return GanlabError(
        f"too few pool samples satisfy {len(short)} definition(s) under the run's classifiers "
        f"for --per-concept {per_concept}: {listed}. Raise --pool (e.g. --pool {need}), or "
        "lower --per-concept (the paper used 3 exemplars); a combination G seldom draws needs "
        "a larger pool."
    )
