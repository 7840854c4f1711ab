"""Vector arithmetic on concepts (paper Fig. 7) and attribute walks (Fig. 8).

Single samples per concept were unstable in the paper, so a concept's z is the mean of its
exemplars' z (usually three). `arithmetic` decodes base - minus + plus, and eight more samples
of that vector plus uniform noise of scale 0.25, under rows showing each concept's exemplars
and their averaged image. Without a base, the offset (plus - minus) is applied to any seeds
and each before/after pair is shown. `attribute_walk` adds increasing multiples of
mean(right) - mean(left) (the paper's "turn" vector) to base latents, one row per base.

Base latents may also be a user's own images (`--base-image`), projected as `ganlab project`
projects them; the grid then shows each photo over its reconstruction and the result.

Two directions. "mean" is the paper's: mean(plus exemplars) - mean(minus exemplars); it moves
z by about as much as z's own norm and carries whatever else the exemplars share, so edited
samples lose who they were. "boundary" (mined concepts) is the unit normal of the linear
boundary in z that separates the concepts in the mining pool (InterFaceGAN), scaled to the
distance between the two concepts' pool means along it: it changes the attribute and little
else. Either can be made orthogonal to other mined attributes' normals (`keep`), and either
can be scaled per sample just past the point where the run's classifier changes its mind
(`until_flip`).

All images come from G in eval mode, so the same command gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ganlab.core.features import extract_features
from ganlab.core.generate import generate, hold_class
from ganlab.core.nets import load_discriminator
from ganlab.core.projection import project_files
from ganlab.core.seeds import concept_exemplars, concept_z, sample_z, z_from_seeds
from ganlab.errors import GanlabError
from ganlab.io.checkpoint import Checkpoint, load_checkpoint
from ganlab.io.concepts import (
    Concept,
    ConceptSet,
    FeatureClassifier,
    load_classifier,
    load_concepts,
)
from ganlab.io.images import grid_image, out_kind, to_uint8, to_unit, write_image
from ganlab.io.seedlist import format_seeds

PADDING = 2  # pixels between tiles, as in `ganlab sample`
DIRECTIONS = ("mean", "boundary")
FLIP_SCALE = 3.0  # --until-flip searches multiples of the offset up to this (or --scale)
FLIP_COARSE = 12  # evenly spaced multiples tried first, then ...
FLIP_BISECT = 4  # ... halvings of the bracket where the class changed (cap / 192 apart)
FLIP_MARGIN = 0.1  # added to each sample's flip multiple, so it is not left on the boundary


@dataclass
class ArithmeticResult:
    out: str
    mode: str  # "base" (Fig. 7), "pairs" (offset applied to seeds or images), "walk" (Fig. 8)
    concepts: dict[str, list[int]]  # every concept used -> its exemplar seeds
    expression: str  # e.g. "man with glasses - man + woman"
    seeds: list[int]  # base seeds (pairs, walk); empty otherwise
    offset_norm: float  # |plus - minus| (or |right - left| for a walk)
    grid: list[int]  # [rows, columns] of tiles
    checkpoint: str
    step: int
    noise: float | None = None
    noise_seed: int | None = None
    samples: int | None = None
    warnings: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)  # base images: source, errors, start
    direction: str = "mean"  # "mean" or "boundary"
    scale: float | None = None  # the multiple of the offset (the cap with --until-flip)
    keep: list[str] = field(default_factory=list)  # concepts the direction is orthogonal to
    edits: list[dict] = field(default_factory=list)  # --until-flip: each sample's multiple
    confidence: float | None = None  # --until-flip: the probability the classifier must reach


def _open(
    run: str | Path, names: Sequence[str]
) -> tuple[Checkpoint, ConceptSet, dict[str, Concept]]:
    """The checkpoint and the named concepts, all validated before anything is rendered.

    The dict maps each name as typed ("woman" or "gender=woman") to its concept.
    """
    ckpt = load_checkpoint(run)
    cs = load_concepts(run)
    cs.check_checkpoint(ckpt)
    concepts = dict(zip(names, cs.require(list(names)), strict=True))
    return ckpt, cs, concepts


def kept_concepts(cs: ConceptSet, keep: Sequence[str], moved: Sequence[Concept]) -> list[Concept]:
    """The mined concepts `keep` names: concept names, or label columns (each of its values).

    The concepts being moved (`moved`) are left out: a direction cannot be orthogonal to
    itself. So `--keep gender,age` while moving man -> woman keeps the age values only.
    """
    out: list[Concept] = []
    for item in keep:
        concept = cs.find(item)
        found = [concept] if concept else []
        if not found:
            found = [
                c
                for c in cs.concepts.values()
                if c.source.get("kind") == "mined" and c.source.get("column") == item
            ]
        if not found:
            columns = sorted({str(c.source["column"]) for c in cs.concepts.values() if c.boundary})
            raise GanlabError(
                f"--keep {item!r} is neither a concept nor a mined label column of {cs.path} "
                f"(mined columns: {', '.join(columns) or 'none'}; concepts: "
                f"{', '.join(sorted(cs.concepts)) or 'none'})."
            )
        for c in found:
            if c.boundary is None:
                raise GanlabError(
                    f"--keep {item!r}: concept {c.name!r} has no boundary in z (only mined "
                    "concepts do); mine it with `ganlab concept mine --columns COLUMN`."
                )
            if all(c is not m for m in (*moved, *out)):
                out.append(c)
    return out


def _project_out(v: torch.Tensor, normals: Sequence[torch.Tensor]) -> torch.Tensor:
    """v minus its component in the span of `normals` (nz,)."""
    if not normals:
        return v
    q, _ = torch.linalg.qr(torch.stack(normals).double().T)  # (nz, m) orthonormal columns
    v64 = v.double()
    return (v64 - q @ (q.T @ v64)).float()


def edit_offset(
    concepts: dict[str, Concept],
    plus: Sequence[str],
    minus: Sequence[str],
    nz: int,
    dist: str,
    direction: str = "mean",
    keep: Sequence[Concept] = (),
) -> torch.Tensor:
    """The offset added to z at scale 1 (nz,).

    Args:
        concepts: name (as typed) -> concept, for every name in plus and minus.
        plus, minus: concept names.
        nz, dist: the run's latent space.
        direction: "mean": sum of mean(plus exemplars) - sum of mean(minus exemplars).
            "boundary": the unit normal d of (sum of plus normals - sum of minus normals),
            times d . (sum of plus pool means - sum of minus pool means): the distance between
            the concepts' pool samples along d (from the prior's mean, 0, without minus).
        keep: concepts whose boundary normals the offset is made orthogonal to.
    Returns:
        The offset (nz,).
    """
    normals = [c.normal() for c in keep]
    if direction == "mean":
        return _project_out(offset_vector(concepts, plus, minus, nz, dist), normals)
    if direction != "boundary":
        raise GanlabError(f"direction {direction!r}: use one of {', '.join(DIRECTIONS)}.")
    missing = [n for n in (*plus, *minus) if concepts[n].boundary is None]
    if missing:
        raise GanlabError(
            f"concept {missing[0]!r} has no boundary in z (only mined concepts have one): use "
            "--direction mean, or mine it with `ganlab concept mine`."
        )
    d = sum((concepts[n].normal() for n in plus), torch.zeros(nz))
    d = d - sum((concepts[n].normal() for n in minus), torch.zeros(nz))
    d = _project_out(d, normals)
    if float(d.norm()) < 1e-6:
        raise GanlabError(
            "the boundary direction vanishes: --plus and --minus cancel, or --keep spans them."
        )
    d = d / d.norm()
    means = sum((concepts[n].pool_mean() for n in plus), torch.zeros(nz))
    means = means - sum((concepts[n].pool_mean() for n in minus), torch.zeros(nz))
    length = float(d @ means)
    if length <= 0:
        raise GanlabError(
            "along the boundary direction the --plus concepts' pool samples do not lie beyond "
            "the --minus ones' (the boundary fit is poor); use --direction mean."
        )
    return d * length


def pick_direction(direction: str | None, concepts: Sequence[Concept], fig7: bool = False) -> str:
    """--direction as given, or its default: "mean" for the paper's Fig. 7 form and for
    hand-picked concepts, "boundary" when every concept has one."""
    if direction is not None:
        if direction not in DIRECTIONS:
            raise GanlabError(f"--direction {direction!r}: use one of {', '.join(DIRECTIONS)}.")
        return direction
    if fig7 or any(c.boundary is None for c in concepts):
        return "mean"
    return "boundary"


@dataclass
class FlipTarget:
    """What "flipped" means: each classifier gives the plus concept's value (and, with a
    confidence, a probability of at least that to it)."""

    classifier: FeatureClassifier
    value: str
    confidence: float | None = None  # None: the classifier's choice is enough


def flip_targets(
    run: str | Path,
    ckpt: Checkpoint,
    concepts: Sequence[Concept],
    confidence: float | None = None,
) -> list[FlipTarget]:
    """The stored classifiers of the --plus concepts, checked against the checkpoint; each must
    give its value, with at least `confidence` probability when that is given."""
    targets = []
    for c in concepts:
        rel = c.source.get("classifier_file")
        if c.source.get("kind") != "mined" or not rel:
            raise GanlabError(
                f"--until-flip needs a classifier for {c.name!r}: only concepts mined with "
                "`ganlab concept mine` (this version) have one; mine them again with --replace."
            )
        clf = load_classifier(run, rel)
        if clf.checkpoint_sha256 != ckpt.sha256():
            raise GanlabError(
                f"the classifier of {c.name!r} was fitted on another checkpoint's D "
                f"(step {c.source.get('step')}) than {ckpt.path} (step {ckpt.step}); mine the "
                "concepts again on this checkpoint with `ganlab concept mine --replace`."
            )
        targets.append(FlipTarget(clf, str(c.source["value"]), confidence))
    return targets


def _reaches(
    ckpt: Checkpoint, D, z: torch.Tensor, targets: Sequence[FlipTarget], device, batch_size: int
) -> np.ndarray:
    """(N,) bool: every target classifier gives G(z) its value (with its confidence)."""
    images = to_uint8(generate(ckpt, z, device, batch_size))  # (N, C, S, S)
    ok = np.ones(len(z), dtype=bool)
    for grid in sorted({t.classifier.grid for t in targets}):
        chunks = (images[i : i + batch_size] for i in range(0, len(images), batch_size))
        feats = torch.cat(list(extract_features(D, chunks, grid=grid, device=device))).numpy()
        for t in targets:
            if t.classifier.grid == grid:
                ok &= np.array(t.classifier.predict(feats)) == t.value
                if t.confidence is not None:
                    column = t.classifier.classes.index(t.value)
                    ok &= t.classifier.probabilities(feats)[:, column] >= t.confidence
    return ok


def until_flip(
    ckpt: Checkpoint,
    z: torch.Tensor,
    offset: torch.Tensor,
    targets: Sequence[FlipTarget],
    cap: float = FLIP_SCALE,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
) -> list[float | None]:
    """Per sample, the smallest multiple a of `offset` at which the classifiers flip.

    Tries FLIP_COARSE + 1 evenly spaced multiples in [0, cap], then halves the bracket around
    the first flip FLIP_BISECT times, keeping the flipped end.

    Args:
        ckpt: the run's checkpoint (G renders, D gives the classifiers' features).
        z: (N, nz) latents.
        offset: (nz,) the edit at scale 1.
        targets: the classifiers and the values they must give.
        cap: the largest multiple tried.
        device, batch_size: where and how G and D run.
    Returns:
        N multiples (0 for a sample already classified as the target), None where no multiple
        up to `cap` flips it.
    """
    D = load_discriminator(ckpt, device)
    alphas = torch.linspace(0, cap, FLIP_COARSE + 1)  # (A,)
    grid_z = (z[:, None, :] + alphas[None, :, None] * offset).reshape(-1, z.shape[1])  # (N*A, nz)
    ok = _reaches(ckpt, D, grid_z, targets, device, batch_size).reshape(len(z), -1)  # (N, A)
    first = [int(np.argmax(row)) if row.any() else None for row in ok]
    lo = torch.tensor([float(alphas[j - 1]) if j else 0.0 for j in (f or 0 for f in first)])
    hi = torch.tensor([float(alphas[j]) if j is not None else cap for j in first])
    todo = torch.tensor([j is not None and j > 0 for j in first])
    for _ in range(FLIP_BISECT if bool(todo.any()) else 0):
        mid = (lo + hi) / 2
        idx = todo.nonzero()[:, 0]
        hit = torch.from_numpy(
            _reaches(ckpt, D, z[idx] + mid[idx, None] * offset, targets, device, batch_size)
        )
        hi[idx[hit]] = mid[idx[hit]]
        lo[idx[~hit]] = mid[idx[~hit]]
    return [None if j is None else float(h) for j, h in zip(first, hi, strict=True)]


def flip_scales(
    flips: Sequence[float | None], cap: float, margin: float
) -> tuple[torch.Tensor, list[str]]:
    """Each sample's multiple: its flip plus `margin` (`cap` where it never flipped) (N,)."""
    scales = torch.tensor([cap if f is None else f + margin for f in flips])
    missed = sum(f is None for f in flips)
    notes = []
    if missed:
        notes.append(
            f"{missed} of {len(flips)} sample(s) did not flip by {cap:g} x the offset; they "
            "are shown at that multiple (raise --scale to search further)."
        )
    return scales, notes


def offset_vector(
    concepts: dict[str, Concept], plus: Sequence[str], minus: Sequence[str], nz: int, dist: str
) -> torch.Tensor:
    """sum of mean z over `plus` minus the same over `minus`: (nz,)."""
    out = torch.zeros(nz)
    for name in plus:
        out += concept_z(concepts[name], nz, dist)
    for name in minus:
        out -= concept_z(concepts[name], nz, dist)
    return out


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
    flip: bool = False,
    margin: float = FLIP_MARGIN,
    confidence: float | None = None,
    class_: str | int | None = None,
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
            plus concept's value, plus `margin` (without `base` only).
        margin: added to each sample's flip multiple.
        confidence: with `flip`, the classifier must also give each plus value at least this
            probability (None: its choice is enough).
        class_: a conditional run's class (name or index), held fixed for every image.
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
    if flip and base is not None:
        raise GanlabError(
            "--until-flip picks a multiple per sample: use it with --seeds / -n or --base-image, "
            "not --base."
        )
    if scale is not None and scale < 0:
        raise GanlabError(f"--scale {scale:g}: use a multiple >= 0 (0 gives the base itself).")
    if confidence is not None and not flip:
        raise GanlabError("--confidence sets when --until-flip stops: add --until-flip.")
    if confidence is not None and not 0 < confidence < 1:
        raise GanlabError(f"--confidence {confidence:g}: use a probability between 0 and 1.")
    out_kind(out, ("image", "stdout"))  # fail on a bad suffix before any work
    ckpt, cs, concepts = _open(run, [*([base] if base else []), *minus, *plus])
    hold_class(ckpt, class_)  # a conditional run renders in one class (--class)
    nz, dist = ckpt.model_config.nz, ckpt.z_dist
    moved = [concepts[n] for n in (*plus, *minus)]
    method = pick_direction(direction, moved, fig7=base is not None)
    kept = kept_concepts(cs, keep, moved)
    offset = edit_offset(concepts, plus, minus, nz, dist, method, kept)  # (nz,)
    targets = flip_targets(run, ckpt, [concepts[n] for n in plus], confidence) if flip else []
    if flip and not targets:
        raise GanlabError("--until-flip needs a --plus concept: the class to flip to.")
    cap = (FLIP_SCALE if scale is None else scale) if flip else None
    scale = 1.0 if scale is None else scale
    text = expression(base, plus, minus)
    common = dict(
        concepts={n: c.seeds for n, c in concepts.items()},
        expression=text,
        offset_norm=round(float(offset.norm()), 4),
        checkpoint=str(ckpt.path),
        step=ckpt.step,
        warnings=cs.stale(ckpt, [c.name for c in concepts.values()]),
        direction=method,
        scale=cap if flip else scale,
        keep=[c.name for c in kept],
        confidence=confidence,
    )
    norm = float(offset.norm())

    def edit(z: torch.Tensor, labels: Sequence) -> torch.Tensor:
        """z plus the scaled offset, per sample with --until-flip (fills `edits`)."""
        if not flip:
            return z + scale * offset
        flips = until_flip(ckpt, z, offset, targets, cap, device, batch_size)
        scales, notes = flip_scales(flips, cap, margin)
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
        return z + scales[:, None] * offset

    if base_images:
        proj, real, notes = project_files(ckpt, base_images, device=device)
        z = proj.z  # (N, nz)
        after = edit(z, [{"source": src} for src in real.sources])
        images = generate(ckpt, torch.cat([z, after]), device, batch_size)  # (2N, C, S, S)
        photos = torch.cat([to_unit(real.images), images])  # (3N, C, S, S)
        tiles, labels, cols = _pairs_layout(photos, len(z), nrow, text, photos=True)
        img = captioned_grid(tiles, cols, labels if captions else None)
        write_image(img, out)
        common["warnings"] = notes + common["warnings"]
        return ArithmeticResult(
            out=out,
            mode="pairs",
            seeds=[],
            grid=[len(tiles) // cols, cols],
            images=_projected(proj, real.sources),
            **common,
        )
    if base is None:
        z = z_from_seeds(list(seeds), nz, dist)  # (N, nz)
        after = edit(z, [{"seed": s} for s in seeds])
        images = generate(ckpt, torch.cat([z, after]), device, batch_size)  # (2N, C, S, S)
        tiles, labels, cols = _pairs_layout(images, len(seeds), nrow, text)
        img = captioned_grid(tiles, cols, labels if captions else None)
        write_image(img, out)
        return ArithmeticResult(
            out=out, mode="pairs", seeds=list(seeds), grid=[len(tiles) // cols, cols], **common
        )

    # Fig. 7: one row per term (exemplars ... mean), then the noisy results ... Y
    terms = [("", base)] + [("- ", m) for m in minus] + [("+ ", p) for p in plus]
    widest = max(len(concept_exemplars(concepts[name], nz, dist)) for _, name in terms)
    cols = max(widest, samples) + 2  # a blank column before the means / Y
    result = concept_z(concepts[base], nz, dist) + scale * offset  # (nz,)
    gen = torch.Generator().manual_seed(noise_seed)
    noisy = result + sample_z(samples, nz, "uniform", gen) * noise  # (samples, nz) U(-n, n)
    latents, slots = [], []  # slots: (row, column) of each latent's tile
    for row, (_, name) in enumerate(terms):
        ex = concept_exemplars(concepts[name], nz, dist)  # (E, nz)
        latents += [*ex, ex.mean(dim=0)]
        slots += [(row, j) for j in range(len(ex))] + [(row, cols - 1)]
    latents += [*noisy, result]
    slots += [(len(terms), j) for j in range(samples)] + [(len(terms), cols - 1)]
    images = generate(ckpt, torch.stack(latents), device, batch_size)  # (T, C, S, S)
    tiles = _place(images, slots, len(terms) + 1, cols)
    labels = [f"{sign}{name}" for sign, name in terms]
    labels.append("= result Y" + (f" (left: Y + noise {noise:g})" if samples else ""))
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
    ckpt, cs, concepts = _open(run, [left, right, *bases])
    hold_class(ckpt, class_)  # a conditional run renders in one class (--class)
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
        projected, sources = _projected(proj, real.sources), real.sources
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
        warnings=notes + cs.stale(ckpt, [c.name for c in concepts.values()]),
        images=projected,
        direction=method,
        scale=scale,
        keep=[c.name for c in kept],
    )


def _projected(proj, sources: Sequence[str]) -> list[dict]:
    """Per projected base image: its file, errors and start (for the result's JSON)."""
    return [
        {
            "source": src,
            "pixel_mse": round(float(proj.pixel_mse[i]), 6),
            "feature_dist": round(float(proj.feature_dist[i]), 6),
            "start": proj.start[i],
        }
        for i, src in enumerate(sources)
    ]


def _place(
    images: torch.Tensor, slots: list[tuple[int, int]], rows: int, cols: int
) -> torch.Tensor:
    """Tiles (rows*cols, C, S, S) with images at their (row, col) slots, black elsewhere."""
    tiles = torch.full((rows * cols, *images.shape[1:]), -1.0)  # -1 is black after tanh
    for img, (r, c) in zip(images, slots, strict=True):
        tiles[r * cols + c] = img
    return tiles


def _pairs_layout(
    images: torch.Tensor, n: int, nrow: int, text: str, photos: bool = False
) -> tuple[torch.Tensor, list[str], int]:
    """Before images over after images, `nrow` per row: (2*ceil(n/nrow)*cols, C, S, S).

    With `photos`, `images` is (photos, before, after), each n long, and each block is three
    rows: the photo, its projection (before), the result (after).
    """
    cols = min(nrow, n)
    blocks = -(-n // cols)
    per = 3 if photos else 2
    slots = [(per * (i // cols) + r, i % cols) for r in range(per) for i in range(n)]
    tiles = _place(images, slots, per * blocks, cols)
    labels = ["before: z", f"after: {text}"]
    if photos:
        labels = ["photo", "before: its projection z", f"after: {text}"]
    return tiles, labels * blocks, cols


def captioned_grid(tiles: torch.Tensor, cols: int, labels: list[str] | None) -> Image.Image:
    """grid_image of the tiles with one caption per row in a left margin (None: no margin)."""
    grid = grid_image(tiles, nrow=cols, padding=PADDING)
    if not labels:
        return grid
    font = ImageFont.load_default()
    width = max(int(font.getlength(text)) for text in labels) + 8
    tile = tiles.shape[-2] + PADDING
    canvas = Image.new("RGB", (grid.width + width, grid.height))
    canvas.paste(grid.convert("RGB"), (width, 0))
    draw = ImageDraw.Draw(canvas)
    for row, text in enumerate(labels):
        y = PADDING + row * tile + tile // 2 - 1
        draw.text((4, y), text, fill=(255, 255, 255), font=font, anchor="lm")
    return canvas


def describe(result: ArithmeticResult) -> str:
    """One line for the log: what was rendered where."""
    seeds = f" on seeds {format_seeds(result.seeds)}" if result.seeds else ""
    if result.images:
        seeds += f" on {len(result.images)} projected image(s)"
    return (
        f"wrote {result.grid[0]}x{result.grid[1]} grid of {result.expression}{seeds} "
        f"to {result.out}"
    )
