"""Concept arithmetic (paper Fig. 7), and an offset applied to seeds or projected images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ganlab.core.generate import generate, hold_class
from ganlab.core.projection import project_files
from ganlab.core.seeds import concept_exemplars, concept_z, sample_z, z_from_seeds
from ganlab.errors import GanlabError
from ganlab.experiments.arithmetic.directions import (
    PAPER_EXEMPLARS,
    edit_offset,
    first_exemplars,
    kept_concepts,
    open_run,
    pick_direction,
    shared_parts_note,
)
from ganlab.experiments.arithmetic.flip import (
    FLIP_MARGIN,
    FLIP_SCALE,
    resolve_flip,
    step_until_flip,
)
from ganlab.experiments.arithmetic.layout import captioned_grid, pairs_layout, place
from ganlab.experiments.arithmetic.result import ArithmeticResult, projected_images
from ganlab.io.images import out_kind, to_unit, write_image


def expression(base: str | None, plus: Sequence[str], minus: Sequence[str]) -> str:
    """The arithmetic as text: "man with glasses - man + woman" ("z - man + woman" for seeds)."""
    return " ".join([base or "z", *(f"- {m}" for m in minus), *(f"+ {p}" for p in plus)])


def arithmetic(
    run: str | Path,
    plus: Sequence[str],
    minus: Sequence[str],
    out: str,
    base: str | None = None,
    seeds: Sequence[int] = (),
    samples: int = 8,
    noise: float = 0.25,
    noise_seed: int = 0,
    nrow: int = 8,
    captions: bool = True,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    base_images: Sequence[str | Path] = (),
    scale: float | None = None,
    direction: str | None = None,
    keep: Sequence[str] = (),
    flip: bool | None = None,
    margin: float = FLIP_MARGIN,
    confidence: float | None = None,
    class_: str | int | None = None,
    exemplars: int | None = None,
    weights: str = "auto",
) -> ArithmeticResult:
    """Decode concept arithmetic and write the grid to `out`.

    With `base`: rows of each concept's exemplars with their averaged image at the right, then
    a row of `samples` results with uniform noise in [-noise, noise] added (drawn from
    `noise_seed`) and the result Y = base - minus + plus under the averages (paper Fig. 7).
    Without: the offset plus - minus is added to the latent of each of `seeds`; the grid
    shows a "before" row over an "after" row, `nrow` pairs wide. With `base_images` instead of
    seeds, their projections are the base latents, and a row of the photos (as the run sees
    them) tops each block.

    Args:
        run: a run directory (its latest checkpoint and concepts.json) or a checkpoint in one.
        plus, minus: concept names, each any number of times.
        out: the grid (.png, .webp, .jpg) or "-" for a PNG on stdout.
        base: the concept the offset is applied to, or None for `seeds`.
        seeds: base latents when `base` is None.
        samples: noisy results shown beside Y.
        noise: half-width of the uniform noise.
        noise_seed: seeds the noise (every latent comes from a seed).
        nrow: pairs per row without a base.
        captions: write what each row is in a left margin.
        device: where G runs.
        batch_size: images per forward pass.
        base_images: image files (or folders) whose projections are the base latents, when
            `base` and `seeds` are not given.
        scale: the multiple of the offset added (default 1; 0 gives the base itself). With
            `flip`, the largest multiple searched (default FLIP_SCALE).
        direction: "mean" or "boundary" (see edit_offset); default: "mean" with `base` (the
            paper's Fig. 7) or hand-picked concepts, else "boundary".
        keep: concepts or mined label columns the direction is made orthogonal to.
        flip: per sample, the smallest multiple at which the run's classifier gives every
            plus concept's value (but the definition parts every minus concept shares), plus
            `margin`; with `base`, each noisy result and Y are stepped. None (the default): on
            without `base` where the direction is "boundary", a plus concept is given, `scale`
            is not and the plus concepts' stored classifiers can be used on this checkpoint (a
            warning says why when they cannot, and the fixed step is used); False: the fixed
            step `scale` x offset.
        margin: added to each sample's flip multiple.
        confidence: with `flip`, the classifier must also give each plus value at least this
            probability (None: its choice is enough).
        class_: a conditional run's class (name or index), held fixed for every image.
        exemplars: each concept's first N exemplars are its z (and its row); default: the
            paper's 3 with `base` (Fig. 7), every exemplar otherwise.
        weights: which G renders (and projects base images): "auto" (the averaged G of a run
            trained with --ema, else the trained G), "ema" or "raw" (the trained G).
    Returns:
        An ArithmeticResult; with `flip`, `edits` holds each sample's multiple.
    """
    if not plus and not minus:
        raise GanlabError("nothing to add: give at least one --plus or --minus concept.")
    if sum(map(bool, (base, seeds, base_images))) > 1:
        raise GanlabError("give one of --base, --base-image and --seeds / -n.")
    if base is None and not seeds and not base_images:
        raise GanlabError(
            "give --base CONCEPT, --base-image FILE, or seeds (--seeds / -n) to apply the "
            "offset to."
        )
    if scale is not None and scale < 0:
        raise GanlabError(f"--scale {scale:g}: use a multiple >= 0 (0 gives the base itself).")
    if confidence is not None and not 0 < confidence < 1:
        raise GanlabError(f"--confidence {confidence:g}: use a probability between 0 and 1.")
    out_kind(out, ("image", "stdout"))  # fail on a bad suffix before any work
    ckpt, cs, concepts = open_run(run, [*([base] if base else []), *minus, *plus], weights)
    hold_class(ckpt, class_)  # a conditional run renders in one class (--class)
    if exemplars is None and base is not None:  # the paper's 3 at most; fewer need no warning
        concepts, short = first_exemplars(concepts, PAPER_EXEMPLARS)[0], []
        exemplars = PAPER_EXEMPLARS
    else:
        concepts, short = first_exemplars(concepts, exemplars)
    nz, dist = ckpt.model_config.nz, ckpt.z_dist
    moved = [concepts[n] for n in (*plus, *minus)]
    method = pick_direction(direction, moved, fig7=base is not None)
    kept = kept_concepts(cs, keep, moved)
    offset = edit_offset(concepts, plus, minus, nz, dist, method, kept)  # (nz,)
    hint = shared_parts_note(concepts, plus, minus, kept, cs) if base is not None else []
    # the Fig. 7 form takes the paper's fixed step unless --until-flip is given
    flip, targets, fallback = resolve_flip(
        run,
        ckpt,
        [concepts[n] for n in plus],
        method,
        scale,
        False if base and flip is None else flip,
        confidence,
        [concepts[n] for n in minus],
    )
    cap = (FLIP_SCALE if scale is None else scale) if flip else None
    scale = 1.0 if scale is None else scale
    text = expression(base, plus, minus)
    common = dict(
        concepts={n: c.seeds for n, c in concepts.items()},
        expression=text,
        offset_norm=round(float(offset.norm()), 4),
        checkpoint=str(ckpt.path),
        step=ckpt.step,
        warnings=short + fallback + hint + cs.stale(ckpt, [c.name for c in concepts.values()]),
        direction=method,
        scale=cap if flip else scale,
        keep=[c.name for c in kept],
        confidence=confidence,
        exemplars=exemplars,
        weights=ckpt.weights_used,
    )
    norm = float(offset.norm())

    def edit(z: torch.Tensor, labels: Sequence) -> torch.Tensor:
        """z plus the scaled offset, per sample with --until-flip (fills `edits`)."""
        if not flip:
            return z + scale * offset
        edited, flips, scales, notes = step_until_flip(
            ckpt, z, offset, targets, cap, margin, device, batch_size
        )
        common["warnings"] += notes
        common["edits"] = [
            {
                **label,
                "flip_at": f,
                "scale": cap if f is None else round(f + margin, 6),
                "norm": round(float(a) * norm, 4),
            }
            for label, f, a in zip(labels, flips, scales, strict=True)
        ]
        return edited

    if base_images:
        proj, real, notes = project_files(ckpt, base_images, device=device)
        z = proj.z  # (N, nz)
        after = edit(z, [{"source": src} for src in real.sources])
        images = generate(ckpt, torch.cat([z, after]), device, batch_size)  # (2N, C, S, S)
        photos = torch.cat([to_unit(real.images), images])  # (3N, C, S, S)
        tiles, labels, cols = pairs_layout(photos, len(z), nrow, text, photos=True)
        img = captioned_grid(tiles, cols, labels if captions else None)
        write_image(img, out)
        common["warnings"] = notes + common["warnings"]
        return ArithmeticResult(
            out=out,
            mode="pairs",
            seeds=[],
            grid=[len(tiles) // cols, cols],
            images=projected_images(proj, real.sources),
            **common,
        )
    if base is None:
        z = z_from_seeds(list(seeds), nz, dist)  # (N, nz)
        after = edit(z, [{"seed": s} for s in seeds])
        images = generate(ckpt, torch.cat([z, after]), device, batch_size)  # (2N, C, S, S)
        tiles, labels, cols = pairs_layout(images, len(seeds), nrow, text)
        img = captioned_grid(tiles, cols, labels if captions else None)
        write_image(img, out)
        return ArithmeticResult(
            out=out, mode="pairs", seeds=list(seeds), grid=[len(tiles) // cols, cols], **common
        )

    # Fig. 7: one row per term (exemplars ... mean), then the noisy results ... Y
    terms = [("", base)] + [("- ", m) for m in minus] + [("+ ", p) for p in plus]
    widest = max(len(concept_exemplars(concepts[name], nz, dist)) for _, name in terms)
    cols = max(widest, samples) + 2  # a blank column before the means / Y
    base_z = concept_z(concepts[base], nz, dist)  # (nz,)
    gen = torch.Generator().manual_seed(noise_seed)
    jitter = sample_z(samples, nz, "uniform", gen) * noise  # (samples, nz) U(-n, n)
    if flip:  # each noisy base, and the base itself (Y), stepped until the classifiers flip
        labels = [{"sample": i} for i in range(samples)] + [{"sample": "Y"}]
        moved = edit(base_z + torch.cat([jitter, torch.zeros(1, nz)]), labels)
        noisy, result = moved[:-1], moved[-1]
    else:
        result = base_z + scale * offset  # (nz,)
        noisy = result + jitter
    latents, slots = [], []  # slots: (row, column) of each latent's tile
    for row, (_, name) in enumerate(terms):
        ex = concept_exemplars(concepts[name], nz, dist)  # (E, nz)
        latents += [*ex, ex.mean(dim=0)]
        slots += [(row, j) for j in range(len(ex))] + [(row, cols - 1)]
    latents += [*noisy, result]
    slots += [(len(terms), j) for j in range(samples)] + [(len(terms), cols - 1)]
    images = generate(ckpt, torch.stack(latents), device, batch_size)  # (T, C, S, S)
    tiles = place(images, slots, len(terms) + 1, cols)
    labels = [f"{sign}{name}" for sign, name in terms]
    stepped = ", each stepped to its flip" if flip else ""
    labels.append("= result Y" + (f" (left: Y + noise {noise:g}{stepped})" if samples else ""))
    img = captioned_grid(tiles, cols, labels if captions else None)
    write_image(img, out)
    return ArithmeticResult(
        out=out,
        mode="base",
        seeds=[],
        grid=[len(terms) + 1, cols],
        noise=noise,
        noise_seed=noise_seed,
        samples=samples,
        **common,
    )
