"""Vector arithmetic on concepts (paper Fig. 7) and attribute walks (Fig. 8).

Single samples per concept were unstable in the paper, so a concept's z is the mean of its
exemplars' z (usually three). `arithmetic` decodes base - minus + plus, and eight more samples
of that vector plus uniform noise of scale 0.25, under rows showing each concept's exemplars
and their averaged image. Without a base, the offset (plus - minus) is applied to any seeds
and each before/after pair is shown. `attribute_walk` adds increasing multiples of
mean(right) - mean(left) (the paper's "turn" vector) to base latents, one row per base.

Base latents may also be a user's own images (`--base-image`), projected as `ganlab project`
projects them; the grid then shows each photo over its reconstruction and the result.

All images come from G in eval mode, so the same command gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

from ganlab.core.generate import generate
from ganlab.core.projection import project_files
from ganlab.core.seeds import format_seeds, sample_z, z_from_seeds
from ganlab.errors import GanlabError
from ganlab.io.checkpoint import Checkpoint, load_checkpoint
from ganlab.io.concepts import Concept, ConceptSet, load_concepts
from ganlab.io.images import grid_image, out_kind, to_unit, write_image

PADDING = 2  # pixels between tiles, as in `ganlab sample`


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


def _open(
    run: str | Path, names: Sequence[str]
) -> tuple[Checkpoint, ConceptSet, dict[str, Concept]]:
    """The checkpoint and the named concepts, all validated before anything is rendered."""
    ckpt = load_checkpoint(run)
    cs = load_concepts(run)
    cs.check_checkpoint(ckpt)
    concepts = {c.name: c for c in cs.require(list(names))}
    return ckpt, cs, concepts


def offset_vector(
    concepts: dict[str, Concept], plus: Sequence[str], minus: Sequence[str], nz: int, dist: str
) -> torch.Tensor:
    """sum of mean z over `plus` minus the same over `minus`: (nz,)."""
    out = torch.zeros(nz)
    for name in plus:
        out += concepts[name].z(nz, dist)
    for name in minus:
        out -= concepts[name].z(nz, dist)
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
    Returns:
        An ArithmeticResult.
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
    out_kind(out, ("image", "stdout"))  # fail on a bad suffix before any work
    ckpt, cs, concepts = _open(run, [*([base] if base else []), *minus, *plus])
    nz, dist = ckpt.model_config.nz, ckpt.z_dist
    offset = offset_vector(concepts, plus, minus, nz, dist)  # (nz,)
    text = expression(base, plus, minus)
    common = dict(
        concepts={n: c.seeds for n, c in concepts.items()},
        expression=text,
        offset_norm=round(float(offset.norm()), 4),
        checkpoint=str(ckpt.path),
        step=ckpt.step,
        warnings=cs.stale(ckpt, list(concepts)),
    )
    if base_images:
        proj, real, notes = project_files(ckpt, base_images, device=device)
        z = proj.z  # (N, nz)
        images = generate(ckpt, torch.cat([z, z + offset]), device, batch_size)  # (2N, C, S, S)
        photos = torch.cat([to_unit(real.images), images])  # (3N, C, S, S)
        tiles, labels, cols = _pairs_layout(photos, len(z), nrow, text, photos=True)
        img = _captioned_grid(tiles, cols, labels if captions else None)
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
        images = generate(ckpt, torch.cat([z, z + offset]), device, batch_size)  # (2N, C, S, S)
        tiles, labels, cols = _pairs_layout(images, len(seeds), nrow, text)
        img = _captioned_grid(tiles, cols, labels if captions else None)
        write_image(img, out)
        return ArithmeticResult(
            out=out, mode="pairs", seeds=list(seeds), grid=[len(tiles) // cols, cols], **common
        )

    # Fig. 7: one row per term (exemplars ... mean), then the noisy results ... Y
    terms = [("", base)] + [("- ", m) for m in minus] + [("+ ", p) for p in plus]
    widest = max(len(concepts[name].exemplars(nz, dist)) for _, name in terms)
    cols = max(widest, samples) + 2  # a blank column before the means / Y
    result = concepts[base].z(nz, dist) + offset  # (nz,)
    gen = torch.Generator().manual_seed(noise_seed)
    noisy = result + sample_z(samples, nz, "uniform", gen) * noise  # (samples, nz) U(-n, n)
    latents, slots = [], []  # slots: (row, column) of each latent's tile
    for row, (_, name) in enumerate(terms):
        ex = concepts[name].exemplars(nz, dist)  # (E, nz)
        latents += [*ex, ex.mean(dim=0)]
        slots += [(row, j) for j in range(len(ex))] + [(row, cols - 1)]
    latents += [*noisy, result]
    slots += [(len(terms), j) for j in range(samples)] + [(len(terms), cols - 1)]
    images = generate(ckpt, torch.stack(latents), device, batch_size)  # (T, C, S, S)
    tiles = _place(images, slots, len(terms) + 1, cols)
    labels = [f"{sign}{name}" for sign, name in terms]
    labels.append("= result Y" + (f" (left: Y + noise {noise:g})" if samples else ""))
    img = _captioned_grid(tiles, cols, labels if captions else None)
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
    nz, dist = ckpt.model_config.nz, ckpt.z_dist
    direction = offset_vector(concepts, [right], [left], nz, dist)  # (nz,)
    starts = [concepts[b].z(nz, dist) for b in bases]
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
    img = _captioned_grid(images, steps, labels if captions else None)
    write_image(img, out)
    return ArithmeticResult(
        out=out,
        mode="walk",
        concepts={n: c.seeds for n, c in concepts.items()},
        expression=f"base + a * ({right} - {left}), a in [0, {scale:g}]",
        seeds=list(seeds),
        offset_norm=round(float(direction.norm()), 4),
        grid=[len(starts), steps],
        checkpoint=str(ckpt.path),
        step=ckpt.step,
        warnings=notes + cs.stale(ckpt, list(concepts)),
        images=projected,
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


def _captioned_grid(tiles: torch.Tensor, cols: int, labels: list[str] | None) -> Image.Image:
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
