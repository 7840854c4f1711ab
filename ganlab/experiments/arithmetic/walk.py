"""Attribute walks (paper Fig. 8): rows of base latents moved along one concept direction."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ganlab.core.generate import generate, hold_class
from ganlab.core.projection import project_files
from ganlab.core.seeds import concept_z, z_from_seeds
from ganlab.errors import GanlabError
from ganlab.experiments.arithmetic.directions import (
    edit_offset,
    first_exemplars,
    kept_concepts,
    open_run,
    pick_direction,
)
from ganlab.experiments.arithmetic.layout import captioned_grid
from ganlab.experiments.arithmetic.result import ArithmeticResult, projected_images
from ganlab.io.images import out_kind, write_image


def attribute_walk(
    run: str | Path,
    left: str,
    right: str,
    out: str,
    steps: int = 8,
    scale: float = 1.0,
    bases: Sequence[str] = (),
    seeds: Sequence[int] = (),
    captions: bool = True,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    base_images: Sequence[str | Path] = (),
    direction: str | None = None,
    keep: Sequence[str] = (),
    class_: str | int | None = None,
    exemplars: int | None = None,
    weights: str = "auto",
) -> ArithmeticResult:
    """Walk along mean(right) - mean(left) from each base latent (paper Fig. 8).

    Row i shows base_i + a * (mean(right) - mean(left)) for `steps` values of a evenly spaced
    from 0 to `scale`; the first column is the base itself.

    Args:
        run: a run directory or a checkpoint file in one.
        left, right: concept names; the direction points from left to right.
        out: the grid file, or "-" for a PNG on stdout.
        steps: frames per row, >= 2.
        scale: the last multiple of the direction.
        bases: concepts whose mean latents start rows.
        seeds: seeds whose latents start rows (after the bases and images).
        captions: write each row's base in a left margin.
        device: where G runs.
        batch_size: images per forward pass.
        base_images: image files (or folders) whose projections start rows (after the bases).
        direction: "mean" or "boundary" (see edit_offset; default: "boundary" when both
            concepts were mined, else "mean").
        keep: concepts or mined label columns the direction is made orthogonal to.
        class_: a conditional run's class (name or index), held fixed for every image.
        exemplars: each concept's first N exemplars are its z (default: all).
        weights: which G renders (and projects base images): "auto" (the averaged G of a run
            trained with --ema, else the trained G), "ema" or "raw" (the trained G).
    Returns:
        An ArithmeticResult.
    """
    if steps < 2:
        raise GanlabError(f"--steps {steps}: a walk needs at least 2 frames.")
    if not bases and not seeds and not base_images:
        raise GanlabError(
            "give --base CONCEPT, --base-image FILE or seeds (--seeds / -n) to start the walk from."
        )
    out_kind(out, ("image", "stdout"))  # fail on a bad suffix before any work
    ckpt, cs, concepts = open_run(run, [left, right, *bases], weights)
    hold_class(ckpt, class_)  # a conditional run renders in one class (--class)
    concepts, short = first_exemplars(concepts, exemplars)
    nz, dist = ckpt.model_config.nz, ckpt.z_dist
    ends = [concepts[left], concepts[right]]
    method = pick_direction(direction, ends)
    kept = kept_concepts(cs, keep, ends)
    direction = edit_offset(concepts, [right], [left], nz, dist, method, kept)  # (nz,)
    starts = [concept_z(concepts[b], nz, dist) for b in bases]
    projected, notes, sources = [], [], []
    if base_images:
        proj, real, notes = project_files(ckpt, base_images, device=device)
        starts += list(proj.z)
        projected, sources = projected_images(proj, real.sources), real.sources
    if seeds:
        starts += list(z_from_seeds(list(seeds), nz, dist))
    alphas = torch.linspace(0, scale, steps)  # (steps,)
    z = torch.stack([s + a * direction for s in starts for a in alphas])  # (rows*steps, nz)
    images = generate(ckpt, z, device, batch_size)
    labels = [*bases, *(Path(src).name for src in sources), *(f"seed {s}" for s in seeds)]
    img = captioned_grid(images, steps, labels if captions else None)
    write_image(img, out)
    return ArithmeticResult(
        out=out,
        mode="walk",
        concepts={n: c.seeds for n, c in concepts.items()},
        expression=f"base + a * ({right} - {left}), a in [0, {scale:g}]"
        + (" (boundary direction)" if method == "boundary" else ""),
        seeds=list(seeds),
        offset_norm=round(float(direction.norm()), 4),
        grid=[len(starts), steps],
        checkpoint=str(ckpt.path),
        step=ckpt.step,
        warnings=short + notes + cs.stale(ckpt, [c.name for c in concepts.values()]),
        images=projected,
        direction=method,
        scale=scale,
        keep=[c.name for c in kept],
        exemplars=exemplars,
        weights=ckpt.weights_used,
    )
