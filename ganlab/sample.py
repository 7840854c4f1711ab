"""`ganlab sample`: render images from a checkpoint, one per seed (paper Figs. 2-3).

G runs in eval mode, so each image depends only on its seed, never on its batch-mates.
The output kind follows the `--out` suffix: an image grid (.png/.jpg/.webp), a directory of
PNGs (no suffix), an array file (.h5/.npz with images, z and seeds), or "-" for a PNG grid
on stdout.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch

from ganlab import __version__
from ganlab.atomic import atomic_path, write_bytes
from ganlab.checkpoint import Checkpoint, load_checkpoint
from ganlab.errors import GanlabError
from ganlab.images import grid_image, png_bytes, tensor_to_pil, to_uint8
from ganlab.seeds import format_seeds, z_from_seeds

GRID_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
ARRAY_SUFFIXES = (".h5", ".hdf5", ".npz")


@dataclass
class SampleResult:
    out: str
    count: int
    seeds: str  # compact seed list, e.g. "0-63"
    checkpoint: str
    step: int


def output_kind(out: str) -> str:
    """'stdout', 'grid', 'array' or 'dir' for an --out value; ValueError for a bad suffix."""
    if out == "-":
        return "stdout"
    suffix = Path(out).suffix.lower()
    if suffix in GRID_SUFFIXES:
        return "grid"
    if suffix in ARRAY_SUFFIXES:
        return "array"
    if suffix == "" or Path(out).is_dir():
        return "dir"
    raise ValueError(f"cannot write {out!r}: use a .png/.jpg/.webp grid, a .h5/.npz array "
                     "file, a directory name (no suffix), or - for a PNG grid on stdout")


@torch.no_grad()
def generate(ckpt: Checkpoint, z: torch.Tensor, device: str | torch.device = "cpu",
             batch_size: int = 256, mask=None) -> torch.Tensor:
    """Images (N, C, S, S) in [-1, 1] on the CPU for latents z (N, nz), G in eval mode.

    `mask`: a ganlab.forget.ForgetMask whose feature maps G drops (Fig. 6), or None.
    """
    if z.shape[1] != ckpt.model_config.nz:
        raise GanlabError(f"latents have {z.shape[1]} dimensions but {ckpt.path} was trained "
                          f"with nz={ckpt.model_config.nz}.")
    g = ckpt.generator(device)
    if mask is not None:
        mask.apply(g)
    return torch.cat([g(z[i:i + batch_size].to(device)).cpu()
                      for i in range(0, len(z), batch_size)])


def sample(checkpoint: str | Path, seeds: list[int], out: str, annotate: bool = False,
           nrow: int | None = None, device: str | torch.device = "cpu",
           batch_size: int = 256, forget: str | Path | None = None) -> SampleResult:
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
    kind = output_kind(out)
    if not seeds:
        raise GanlabError("no seeds to sample: give -n N or --seeds like 0-63,100.")
    ckpt = load_checkpoint(checkpoint)
    mask = None
    if forget is not None:
        from ganlab.forget import load_mask
        mask = load_mask(forget, ckpt)
    z = z_from_seeds(seeds, ckpt.model_config.nz, ckpt.z_dist)  # (N, nz)
    images = generate(ckpt, z, device, batch_size, mask=mask)  # (N, C, S, S)
    labels = [str(s) for s in seeds] if annotate else None
    if kind == "stdout":
        sys.stdout.buffer.write(png_bytes(grid_image(images, nrow=nrow, labels=labels)))
        sys.stdout.buffer.flush()
    elif kind == "grid":
        img = grid_image(images, nrow=nrow, labels=labels)
        buf = io.BytesIO()
        img.save(buf, format=_pil_format(out))
        write_bytes(out, buf.getvalue())
    elif kind == "array":
        _write_arrays(Path(out), to_uint8(images).numpy(), z.numpy(), np.asarray(seeds), ckpt)
    else:
        _write_dir(Path(out), images, seeds)
    return SampleResult(out=out, count=len(seeds), seeds=format_seeds(seeds),
                        checkpoint=str(ckpt.path), step=ckpt.step)


def _pil_format(out: str) -> str:
    return {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}.get(Path(out).suffix.lower(), "PNG")


def _write_arrays(out: Path, images: np.ndarray, z: np.ndarray, seeds: np.ndarray,
                  ckpt: Checkpoint) -> None:
    """images (N, C, S, S) uint8, z (N, nz) float32, seeds (N,) int64, with provenance."""
    provenance = {"checkpoint": str(ckpt.path), "checkpoint_sha256": ckpt.sha256(),
                  "step": ckpt.step, "z_dist": ckpt.z_dist, "ganlab_version": __version__}
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".npz":
            with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a name
                np.savez(f, images=images, z=z, seeds=seeds)
        else:
            with h5py.File(tmp, "w") as f:
                f.create_dataset("images", data=images, chunks=True)
                f.create_dataset("z", data=z)
                f.create_dataset("seeds", data=seeds)
                f.attrs.update(provenance)


def _write_dir(out: Path, images: torch.Tensor, seeds: list[int]) -> None:
    """seed-<seed>.png per image; the directory appears complete or not at all."""
    if out.exists() and any(out.iterdir()):
        raise GanlabError(f"output directory {out} is not empty; choose a new --out so that "
                          "existing images are not mixed with new ones.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        for seed, img in zip(seeds, to_uint8(images), strict=True):
            tensor_to_pil(img).save(tmp / f"seed-{seed}.png")
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
