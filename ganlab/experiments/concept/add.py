"""`ganlab concept add` and `remove`: hand-picked concepts (seeds, or projected images)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ganlab.core.generate import hold_class
from ganlab.core.projection import project_files
from ganlab.errors import GanlabError
from ganlab.experiments.concept.provenance import provenance
from ganlab.io.checkpoint import load_checkpoint
from ganlab.io.concepts import (
    Concept,
    check_name,
    load_concepts,
    open_concepts,
    save_concepts,
)


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
    source = provenance(ckpt, "manual" if seeds else "images")
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
            weights=ckpt.weights_used,  # the G projected into: "ema" (the averaged G) or "raw"
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
