"""`ganlab sample`: render images from a checkpoint, one per seed (paper Figs. 2-3).

G runs in eval mode, so each image depends only on its seed, never on its batch-mates.
The output kind follows the `--out` suffix: an image grid (.png/.jpg/.webp), a directory of
PNGs (no suffix), an array file (.h5/.npz with images, z and seeds), or "-" for a PNG grid
on stdout.

With a latents file (`ganlab project`'s, or a `sample --out FILE.h5`), its z are rendered
instead of seeds: a projected image is as reproducible as a seed.

`--sort-by d-score` orders the images by D's probability of being real, highest first (the
authors' ImageNet demo), and reports each seed's score.

A class-conditional run renders every seed in the `--class` given; without one, the seeds are
laid out with one row per class (core.generate.class_grid).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ganlab import __version__
from ganlab.core.generate import check_labels, class_grid, generate, resolve_class
from ganlab.core.nets import load_discriminator
from ganlab.core.seeds import z_from_seeds
from ganlab.errors import GanlabError
from ganlab.io.checkpoint import Checkpoint, load_checkpoint
from ganlab.io.images import (
    grid_image,
    out_kind,
    to_uint8,
    to_unit,
    write_arrays,
    write_image,
    write_image_dir,
)
from ganlab.io.latents import read_latents
from ganlab.io.masks import load_mask
from ganlab.io.seedlist import format_seeds

OUT_KINDS = ("image", "stdout", "dir", "array")
SORT_KEYS = ("d-score",)  # --sort-by


@dataclass
class SampleResult:
    out: str
    count: int
    seeds: str  # compact seed list, e.g. "0-63"
    checkpoint: str
    step: int
    latents: str | None = None  # the latents file rendered instead of seeds
    warnings: list[str] = field(default_factory=list)
    class_name: str | None = None  # a conditional run's --class; None: one row per class
    d_scores: list[dict] | None = None  # --sort-by d-score: {seed, d_score}, highest first
    weights: str = "raw"  # the G that rendered: "ema" (the averaged G) or "raw" (the trained G)


def sample(
    checkpoint: str | Path,
    seeds: list[int],
    out: str,
    annotate: bool = False,
    nrow: int | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    forget: str | Path | None = None,
    latents: str | Path | None = None,
    class_: str | int | None = None,
    sort_by: str | None = None,
    weights: str = "auto",
) -> SampleResult:
    """Render one image per seed and write them to `out`.

    Args:
        checkpoint: a run directory (its latest checkpoint) or a checkpoint file.
        seeds: one image per seed; the same seed always gives the same z.
        out: destination; its suffix picks the format (see module docstring).
        annotate: print each tile's seed on a grid.
        nrow: tiles per grid row (default: square).
        device: where G runs.
        batch_size: images per forward pass (does not change the images).
        forget: a mask file from `ganlab forget --save`: G drops its feature maps.
        latents: a latents file (.h5) whose z to render instead of `seeds` (give no seeds).
        class_: a conditional run's class (name or index) for every image; None renders
            one row per class (a latents file needs a class).
        sort_by: "d-score" orders the images by D's probability of being real, highest
            first (the authors' ImageNet demo); None keeps the seeds' order.
        weights: which G renders: "auto" (the averaged G of a run trained with --ema, else
            the trained G), "ema" or "raw" (the trained G). D (--sort-by) is the trained D.
    Returns:
        A SampleResult describing what was written.
    """
    kind = out_kind(out, OUT_KINDS)
    if sort_by is not None and sort_by not in SORT_KEYS:
        raise GanlabError(f"--sort-by {sort_by}: use {', '.join(SORT_KEYS)}.")
    if latents is not None and seeds:
        raise GanlabError("give seeds or a latents file to sample, not both.")
    if not seeds and latents is None:
        raise GanlabError("no seeds to sample: give -n N or --seeds like 0-63,100.")
    ckpt = load_checkpoint(checkpoint).use_weights(weights)
    label = resolve_class(ckpt, class_)  # None: unconditional, or one row per class
    mask = load_mask(forget, ckpt) if forget is not None else None
    y = label  # the class of every image, or (N,) one per image
    warnings = []
    if latents is not None:
        found = read_latents(latents)
        warnings = found.check(ckpt)
        z = found.z  # (N, nz)
        tags = [Path(source).stem[:8] for source in found.labels]
    else:
        if label is None and ckpt.model_config.num_classes:  # rows = classes, columns = seeds
            tiles, y = class_grid(seeds, ckpt.model_config.num_classes)
            nrow = nrow or len(tiles) // ckpt.model_config.num_classes
            seeds = sorted(set(tiles))  # the seeds used, for the result
        else:
            tiles = seeds
        z = z_from_seeds(tiles, ckpt.model_config.nz, ckpt.z_dist)  # (N, nz)
        tags = [str(s) for s in tiles]
    images = generate(ckpt, z, device, batch_size, mask=mask, labels=y)  # (N, C, S, S)
    rows, d_scores = list(range(len(z))), None  # rows: the order written
    if sort_by == "d-score":  # highest P(real) first, as the authors' ImageNet demo renders
        probs = d_probabilities(ckpt, images, y, device, batch_size)  # (N,)
        rows = torch.argsort(probs, descending=True, stable=True).tolist()
        images, z = images[rows], z[rows]
        tags = [tags[i] for i in rows]
        if latents is None:
            tiles = [tiles[i] for i in rows]
        if isinstance(y, torch.Tensor):
            y = y[rows]
        key = "seed" if latents is None else "latent_index"
        src = tiles if latents is None else rows
        d_scores = [{key: s, "d_score": float(probs[i])} for s, i in zip(src, rows, strict=True)]
    if kind in ("image", "stdout"):
        labels = tags if annotate else None
        write_image(grid_image(images, nrow=nrow, labels=labels), out)
    elif kind == "array":
        provenance = {
            "checkpoint": str(ckpt.path),
            "checkpoint_sha256": ckpt.sha256(),
            "step": ckpt.step,
            "weights": ckpt.weights_used,
            "z_dist": ckpt.z_dist,
            "ganlab_version": __version__,
        }
        arrays = {"images": to_uint8(images).numpy(), "z": z.numpy()}
        if latents is None:
            arrays["seeds"] = np.asarray(tiles)
        else:  # row i of the latents file; its sources stay there
            arrays["latent_index"] = np.asarray(rows)
            provenance["latents"] = str(latents)
        if ckpt.model_config.num_classes:  # (N,) class of each image
            arrays["labels"] = np.broadcast_to(np.asarray(y), (len(z),)).copy()
            provenance["class_names"] = ckpt.class_names
        write_arrays(out, arrays, provenance)  # (N, C, S, S) uint8, (N, nz), (N,)
    else:
        names = [f"seed-{s}" for s in tiles] if latents is None else _row_names(len(z), rows)
        if ckpt.model_config.num_classes and label is None:  # every seed in every class
            classes = [ckpt.class_names[int(c)] for c in y]
            names = [f"{_file_safe(c)}-{name}" for c, name in zip(classes, names, strict=True)]
        write_image_dir(out, images, names)
    return SampleResult(
        out=out,
        count=len(z),
        seeds=format_seeds(seeds),
        checkpoint=str(ckpt.path),
        step=ckpt.step,
        latents=None if latents is None else str(latents),
        warnings=warnings,
        class_name=None if label is None else ckpt.class_names[label],
        d_scores=d_scores,
        weights=ckpt.weights_used,
    )


def _file_safe(name: str) -> str:
    """A class name as part of a file name: letters, digits, '-' and '_' kept."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _row_names(n: int, rows: list[int]) -> list[str]:
    """latent-000 ... : file stems for `rows` of a latents file, in order when sorted."""
    width = len(str(n - 1))
    return [f"latent-{i:0{width}d}" for i in rows]


@torch.no_grad()
def d_probabilities(
    ckpt: Checkpoint, images: torch.Tensor, labels, device: str | torch.device, batch_size: int
) -> torch.Tensor:
    """D's probability that each image (N, C, S, S) in [-1, 1] is real, (N,), D in eval mode.

    Images go through uint8, as files do, so a score is the one D gives the written image.
    """
    d = load_discriminator(ckpt, device)
    x = to_unit(to_uint8(images))  # (N, C, S, S)
    y = check_labels(ckpt, labels, len(x))  # (N,) for a conditional run, else None
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].to(device)
        logits = d(xb) if y is None else d(xb, y[i : i + batch_size].to(device))
        out.append(torch.sigmoid(logits.float()).cpu())
    return torch.cat(out)
