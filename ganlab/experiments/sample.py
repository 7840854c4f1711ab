"""`ganlab sample`: render images from a checkpoint, one per seed (paper Figs. 2-3).

G runs in eval mode, so each image depends only on its seed, never on its batch-mates.
The output kind follows the `--out` suffix: an image grid (.png/.jpg/.webp), a directory of
PNGs (no suffix), an array file (.h5/.npz with images, z and seeds), or "-" for a PNG grid
on stdout.

With a latents file (`ganlab project`'s, or a `sample --out FILE.h5`), its z are rendered
instead of seeds: a projected image is as reproducible as a seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ganlab import __version__
from ganlab.core.generate import generate
from ganlab.core.seeds import format_seeds, z_from_seeds
from ganlab.errors import GanlabError
from ganlab.io.checkpoint import load_checkpoint
from ganlab.io.images import (
    grid_image,
    out_kind,
    to_uint8,
    write_arrays,
    write_image,
    write_image_dir,
)
from ganlab.io.latents import read_latents
from ganlab.io.masks import load_mask

OUT_KINDS = ("image", "stdout", "dir", "array")


@dataclass
class SampleResult:
    out: str
    count: int
    seeds: str  # compact seed list, e.g. "0-63"
    checkpoint: str
    step: int
    latents: str | None = None  # the latents file rendered instead of seeds
    warnings: list[str] = field(default_factory=list)


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
    Returns:
        A SampleResult describing what was written.
    """
    kind = out_kind(out, OUT_KINDS)
    if latents is not None and seeds:
        raise GanlabError("give seeds or a latents file to sample, not both.")
    if not seeds and latents is None:
        raise GanlabError("no seeds to sample: give -n N or --seeds like 0-63,100.")
    ckpt = load_checkpoint(checkpoint)
    mask = load_mask(forget, ckpt) if forget is not None else None
    warnings = []
    if latents is not None:
        found = read_latents(latents)
        warnings = found.check(ckpt)
        z = found.z  # (N, nz)
        tags = [Path(label).stem[:8] for label in found.labels]
    else:
        z = z_from_seeds(seeds, ckpt.model_config.nz, ckpt.z_dist)  # (N, nz)
        tags = [str(s) for s in seeds]
    images = generate(ckpt, z, device, batch_size, mask=mask)  # (N, C, S, S)
    if kind in ("image", "stdout"):
        labels = tags if annotate else None
        write_image(grid_image(images, nrow=nrow, labels=labels), out)
    elif kind == "array":
        provenance = {
            "checkpoint": str(ckpt.path),
            "checkpoint_sha256": ckpt.sha256(),
            "step": ckpt.step,
            "z_dist": ckpt.z_dist,
            "ganlab_version": __version__,
        }
        arrays = {"images": to_uint8(images).numpy(), "z": z.numpy()}
        if latents is None:
            arrays["seeds"] = np.asarray(seeds)
        else:  # row i of the latents file; its sources stay there
            arrays["latent_index"] = np.arange(len(z))
            provenance["latents"] = str(latents)
        write_arrays(out, arrays, provenance)  # (N, C, S, S) uint8, (N, nz), (N,)
    else:
        names = [f"seed-{s}" for s in seeds] if latents is None else _row_names(len(z))
        write_image_dir(out, images, names)
    return SampleResult(
        out=out,
        count=len(z),
        seeds=format_seeds(seeds),
        checkpoint=str(ckpt.path),
        step=ckpt.step,
        latents=None if latents is None else str(latents),
        warnings=warnings,
    )


def _row_names(n: int) -> list[str]:
    """latent-000 ... : file stems for the rows of a latents file, in order when sorted."""
    width = len(str(n - 1))
    return [f"latent-{i:0{width}d}" for i in range(n)]
