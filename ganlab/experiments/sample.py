"""`ganlab sample`: render images from a checkpoint, one per seed (paper Figs. 2-3).

G runs in eval mode, so each image depends only on its seed, never on its batch-mates.
The output kind follows the `--out` suffix: an image grid (.png/.jpg/.webp), a directory of
PNGs (no suffix), an array file (.h5/.npz with images, z and seeds), or "-" for a PNG grid
on stdout.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from ganlab.io.masks import load_mask

OUT_KINDS = ("image", "stdout", "dir", "array")


@dataclass
class SampleResult:
    out: str
    count: int
    seeds: str  # compact seed list, e.g. "0-63"
    checkpoint: str
    step: int


def sample(
    checkpoint: str | Path,
    seeds: list[int],
    out: str,
    annotate: bool = False,
    nrow: int | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    forget: str | Path | None = None,
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
    Returns:
        A SampleResult describing what was written.
    """
    kind = out_kind(out, OUT_KINDS)
    if not seeds:
        raise GanlabError("no seeds to sample: give -n N or --seeds like 0-63,100.")
    ckpt = load_checkpoint(checkpoint)
    mask = load_mask(forget, ckpt) if forget is not None else None
    z = z_from_seeds(seeds, ckpt.model_config.nz, ckpt.z_dist)  # (N, nz)
    images = generate(ckpt, z, device, batch_size, mask=mask)  # (N, C, S, S)
    if kind in ("image", "stdout"):
        labels = [str(s) for s in seeds] if annotate else None
        write_image(grid_image(images, nrow=nrow, labels=labels), out)
    elif kind == "array":
        provenance = {
            "checkpoint": str(ckpt.path),
            "checkpoint_sha256": ckpt.sha256(),
            "step": ckpt.step,
            "z_dist": ckpt.z_dist,
            "ganlab_version": __version__,
        }
        arrays = {"images": to_uint8(images).numpy(), "z": z.numpy(), "seeds": np.asarray(seeds)}
        write_arrays(out, arrays, provenance)  # (N, C, S, S) uint8, (N, nz), (N,)
    else:
        write_image_dir(out, images, [f"seed-{s}" for s in seeds])
    return SampleResult(
        out=out,
        count=len(seeds),
        seeds=format_seeds(seeds),
        checkpoint=str(ckpt.path),
        step=ckpt.step,
    )
