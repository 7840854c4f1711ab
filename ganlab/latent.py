"""Latent walks (paper Fig. 4): interpolate through a series of seeded points in z.

A smooth walk (a window appears, a TV turns into a window) shows the model has learned a
continuous space rather than memorised images. Each row is one walk through K points, each
point a seed, with S frames between consecutive points; the knot frames are exactly the
images `ganlab sample --seeds` renders for those seeds.

Straight lines (lerp) suit the paper's uniform prior: the cube U(-1, 1)^nz is convex, so a
line between two samples stays inside it. Under N(0, I) almost all mass lies near the sphere
of radius sqrt(nz), and the midpoint of a line between two samples has only ~0.7 of that norm,
a region G never saw in training; spherical interpolation (slerp) keeps the norm.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from ganlab.atomic import write_bytes
from ganlab.checkpoint import load_checkpoint
from ganlab.errors import GanlabError
from ganlab.images import grid_image, png_bytes
from ganlab.sample import generate
from ganlab.seeds import z_from_seeds

MODES = ("lerp", "slerp")
ANIMATION_SUFFIXES = (".gif", ".webp")


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Straight-line interpolation.

    Args:
        a, b: latents (nz,).
        t: fractions (T,) in [0, 1].
    Returns:
        (T, nz); rows where t is exactly 0 or 1 are exactly a or b.
    """
    t = t.to(a.dtype)[:, None]  # (T, 1)
    out = (1 - t) * a + t * b  # (T, nz)
    return _pin_ends(out, a, b, t[:, 0])


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation: moves along the great circle and interpolates the norm.

    The angle comes from the directions of a and b; the formula is applied to the vectors
    themselves, so for |a| = |b| the norm is kept all the way. Nearly parallel vectors fall back
    to lerp (the angle is then too small to divide by).

    Args:
        a, b: latents (nz,).
        t: fractions (T,) in [0, 1].
    Returns:
        (T, nz); rows where t is exactly 0 or 1 are exactly a or b.
    """
    a64, b64, t64 = a.double(), b.double(), t.double()[:, None]  # (T, 1)
    cos = torch.dot(a64 / a64.norm(), b64 / b64.norm()).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-6 or not torch.isfinite(omega):
        return lerp(a, b, t)
    out = (torch.sin((1 - t64) * omega) * a64 + torch.sin(t64 * omega) * b64) / torch.sin(omega)
    return _pin_ends(out.to(a.dtype), a, b, t)


def _pin_ends(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Make t == 0 / t == 1 rows bit-exact copies of a / b (no rounding in the formula)."""
    out[t == 0] = a
    out[t == 1] = b
    return out


def walk(points: torch.Tensor, steps: int, mode: str = "lerp") -> torch.Tensor:
    """A path through points with `steps` frames strictly between consecutive points.

    Args:
        points: (K, nz) latents, K >= 2.
        steps: in-between frames per segment, >= 0.
        mode: "lerp" or "slerp".
    Returns:
        (K + (K - 1) * steps, nz); row i * (steps + 1) is exactly points[i].
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if len(points) < 2:
        raise ValueError("a walk needs at least two points")
    fn = lerp if mode == "lerp" else slerp
    t = torch.arange(steps + 1, dtype=torch.float64) / (steps + 1)  # [0, 1): the next knot
    segments = [fn(points[i], points[i + 1], t) for i in range(len(points) - 1)]
    return torch.cat([*segments, points[-1:]])  # (K + (K-1)*steps, nz)


def default_mode(z_dist: str) -> str:
    """The paper's uniform prior: lerp; a normal prior: slerp (see module docstring)."""
    return "slerp" if z_dist == "normal" else "lerp"


@dataclass
class InterpolateResult:
    out: str
    gif: str | None
    mode: str
    rows: list[list[int]]  # the seeds each walk passes through
    steps: int
    frames_per_row: int
    checkpoint: str
    step: int
    warnings: list[str] = field(default_factory=list)


def interpolate(checkpoint: str | Path, seeds: list[int], points: int, steps: int, out: str,
                mode: str | None = None, gif: str | None = None, fps: float = 12.0,
                annotate: bool = False, device: str | torch.device = "cpu",
                batch_size: int = 256) -> InterpolateResult:
    """Render latent walks as a grid, one row per walk, and optionally as an animation.

    Args:
        checkpoint: a run directory (its latest checkpoint) or a checkpoint file.
        seeds: the knot seeds, row after row; len(seeds) must be a multiple of `points`.
        points: knots per walk (the paper: 9).
        steps: frames strictly between consecutive knots.
        out: the grid file (.png, .webp or .jpg), or "-" for a PNG on stdout.
        mode: "lerp" or "slerp"; None picks by the run's prior (default_mode).
        gif: an animation file (.gif or .webp) whose frame j shows frame j of every walk.
        fps: animation frames per second.
        annotate: print each knot's seed on its tile.
        device: where G runs.
        batch_size: images per forward pass.
    Returns:
        An InterpolateResult.
    """
    if points < 2:
        raise GanlabError(f"--points {points}: a walk needs at least 2 points.")
    if not seeds or len(seeds) % points:
        raise GanlabError(f"{len(seeds)} seed(s) do not make whole walks of --points {points}; "
                          f"give a multiple of {points} seeds, or set --points to their count.")
    if gif is not None and Path(gif).suffix.lower() not in ANIMATION_SUFFIXES:
        raise GanlabError(f"--gif {gif}: the animation must be a .gif or .webp file.")
    image_format(out)  # fail on a bad suffix before any work
    ckpt = load_checkpoint(checkpoint)
    mode = mode or default_mode(ckpt.z_dist)
    nz = ckpt.model_config.nz
    rows = [seeds[i:i + points] for i in range(0, len(seeds), points)]
    knots = z_from_seeds(seeds, nz, ckpt.z_dist).view(len(rows), points, nz)  # (R, K, nz)
    z = torch.cat([walk(k, steps, mode) for k in knots])  # (R * F, nz)
    frames = points + (points - 1) * steps
    images = generate(ckpt, z, device, batch_size)  # (R * F, C, S, S)
    grid = grid_image(images, nrow=frames)
    if annotate:
        grid = _label_knots(grid, rows, steps, images.shape[-1])
    anim = _animation(images.view(len(rows), frames, *images.shape[1:]), gif, fps) if gif else None
    write_image(grid, out)
    if anim is not None:
        write_bytes(gif, anim)
    warnings = []
    if ckpt.z_dist == "normal" and mode == "lerp":
        warnings.append("lerp on a N(0, I) prior passes through low-norm latents G never saw; "
                        "--mode slerp keeps the walk on the shell where samples live.")
    return InterpolateResult(out=out, gif=gif, mode=mode, rows=rows, steps=steps,
                             frames_per_row=frames, checkpoint=str(ckpt.path), step=ckpt.step,
                             warnings=warnings)


def _label_knots(grid: Image.Image, rows: list[list[int]], steps: int, side: int,
                 padding: int = 2) -> Image.Image:
    """Print each knot's seed on its tile, as `ganlab sample --annotate` does.

    Drawn here rather than by grid_image(labels=...), which would also mark the unlabelled
    in-between tiles with an empty label box.
    """
    grid = grid.convert("RGB")
    draw = ImageDraw.Draw(grid)
    for r, row in enumerate(rows):
        for k, seed in enumerate(row):
            x = padding + k * (steps + 1) * (side + padding)
            y = padding + r * (side + padding)
            draw.rectangle([x, y, x + 6 * len(str(seed)) + 2, y + 10], fill=(0, 0, 0))
            draw.text((x + 1, y), str(seed), fill=(255, 255, 0))
    return grid


def _animation(images: torch.Tensor, path: str, fps: float) -> bytes:
    """Encode frames (R, F, C, S, S): frame j tiles frame j of every walk in one column.

    The walk plays forwards then backwards (a seamless loop).
    """
    f = images.shape[1]
    order = list(range(f)) + list(range(f - 2, 0, -1))
    frames = [grid_image(images[:, j], nrow=1) for j in order]  # one column: (R tiles)
    buf = io.BytesIO()
    fmt = "WEBP" if Path(path).suffix.lower() == ".webp" else "GIF"
    extra = {"lossless": True} if fmt == "WEBP" else {}
    frames[0].save(buf, format=fmt, save_all=True, append_images=frames[1:], loop=0,
                   duration=round(1000 / fps), **extra)
    return buf.getvalue()


def image_format(out: str) -> str:
    """PIL format name for a grid destination; GanlabError for an unsupported suffix."""
    if out == "-":
        return "PNG"
    fmt = {".png": "PNG", ".webp": "WEBP", ".jpg": "JPEG", ".jpeg": "JPEG"}.get(
        Path(out).suffix.lower())
    if fmt is None:
        raise GanlabError(f"--out {out}: use a .png (or .webp/.jpg) file, or - for a PNG on "
                          "stdout.")
    return fmt


def write_image(img: Image.Image, out: str) -> None:
    """Write a grid atomically (or to stdout for "-"); PNGs carry no varying metadata."""
    fmt = image_format(out)
    if fmt == "PNG":
        data = png_bytes(img)
    else:
        buf = io.BytesIO()
        img.save(buf, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
        data = buf.getvalue()
    if out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        write_bytes(out, data)
