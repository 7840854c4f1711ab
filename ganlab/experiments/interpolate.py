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

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

from ganlab.core.generate import check_labels, generate, resolve_class
from ganlab.core.projection import project_files
from ganlab.core.seeds import z_from_seeds
from ganlab.errors import GanlabError
from ganlab.io.checkpoint import load_checkpoint
from ganlab.io.images import grid_image, out_kind, write_animation, write_image

MODES = ("lerp", "slerp")


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
    rows: list[list[int | str]]  # the seeds (or image files) each walk passes through
    steps: int
    frames_per_row: int
    checkpoint: str
    step: int
    warnings: list[str] = field(default_factory=list)
    projections: list[dict] = field(default_factory=list)  # with images: each one's errors
    weights: str = "raw"  # the G that rendered: "ema" (the averaged G) or "raw" (the trained G)


def interpolate(
    checkpoint: str | Path,
    seeds: list[int],
    points: int,
    steps: int,
    out: str,
    mode: str | None = None,
    gif: str | None = None,
    fps: float = 12.0,
    annotate: bool = False,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    images: Sequence[str | Path] = (),
    class_: str | int | None = None,
    weights: str = "auto",
) -> InterpolateResult:
    """Render latent walks as a grid, one row per walk, and optionally as an animation.

    Args:
        checkpoint: a run directory (its latest checkpoint) or a checkpoint file.
        seeds: the knot seeds, row after row; len(seeds) must be a multiple of `points`.
        points: knots per walk (the paper: 9); with `images`, 0 makes them one walk.
        steps: frames strictly between consecutive knots.
        out: the grid file (.png, .webp or .jpg), or "-" for a PNG on stdout.
        mode: "lerp" or "slerp"; None picks by the run's prior (default_mode).
        gif: an animation file (.gif or .webp) whose frame j shows frame j of every walk.
        fps: animation frames per second.
        annotate: print each knot's seed on its tile.
        device: where G runs.
        batch_size: images per forward pass.
        images: instead of seeds, image files (or folders) whose projections are the knots,
            found as `ganlab project` finds them (the run's encoder included).
        class_: a conditional run's class (name or index), held fixed along every walk;
            a conditional run needs one.
        weights: which G renders (and projects `images`): "auto" (the averaged G of a run
            trained with --ema, else the trained G), "ema" or "raw" (the trained G).
    Returns:
        An InterpolateResult.
    """
    if images:
        return _interpolate_images(
            checkpoint, images, points, steps, out, mode, gif, fps, annotate, device, batch_size,
            class_, weights,
        )  # fmt: skip
    if points < 2:
        raise GanlabError(f"--points {points}: a walk needs at least 2 points.")
    if not seeds or len(seeds) % points:
        raise GanlabError(
            f"{len(seeds)} seed(s) do not make whole walks of --points {points}; "
            f"give a multiple of {points} seeds, or set --points to their count."
        )
    out_kind(out, ("image", "stdout"))  # fail on a bad suffix before any work
    if gif is not None:
        out_kind(gif, ("animation",), "--gif")
    ckpt = load_checkpoint(checkpoint).use_weights(weights)
    label = resolve_class(ckpt, class_)
    knots = z_from_seeds(seeds, ckpt.model_config.nz, ckpt.z_dist)  # (R * K, nz)
    return _render(
        ckpt, knots, seeds, [str(s) for s in seeds], points, steps, out, mode, gif, fps,
        annotate, device, batch_size, label,
    )  # fmt: skip


def _interpolate_images(
    checkpoint, images, points, steps, out, mode, gif, fps, annotate, device, batch_size, class_,
    weights,
) -> InterpolateResult:  # fmt: skip
    """`interpolate` through the projections of image files (the walk's knots)."""
    out_kind(out, ("image", "stdout"))  # fail on a bad suffix before any work
    if gif is not None:
        out_kind(gif, ("animation",), "--gif")
    ckpt = load_checkpoint(checkpoint).use_weights(weights)
    label = resolve_class(ckpt, class_)
    check_labels(ckpt, label, 1)  # a conditional run without --class fails before projecting
    proj, real, notes = project_files(ckpt, images, device=device, label=label)
    n = len(real.sources)
    points = points or n
    if points < 2 or n % points:
        raise GanlabError(
            f"{n} image(s) do not make whole walks of --points {points}; a walk needs at least "
            "2 images, and --rows must divide their number."
        )
    result = _render(
        ckpt, proj.z, real.sources, [Path(s).stem[:8] for s in real.sources], points, steps,
        out, mode, gif, fps, annotate, device, batch_size, label,
    )  # fmt: skip
    result.warnings[:0] = notes
    result.projections = [
        {
            "source": src,
            "pixel_mse": round(float(proj.pixel_mse[i]), 6),
            "feature_dist": round(float(proj.feature_dist[i]), 6),
            "start": proj.start[i],
        }
        for i, src in enumerate(real.sources)
    ]
    return result


def _render(
    ckpt, knots, names, tags, points, steps, out, mode, gif, fps, annotate, device, batch_size,
    label,
) -> InterpolateResult:  # fmt: skip
    """Walk through knots (R * K, nz), K per row, and write the grid (and animation).

    `names` (seeds or files) fill the result's rows; `tags` label the knot tiles.
    """
    mode = mode or default_mode(ckpt.z_dist)
    nz = ckpt.model_config.nz
    rows = [list(names[i : i + points]) for i in range(0, len(names), points)]
    knots = knots.view(len(rows), points, nz)  # (R, K, nz)
    z = torch.cat([walk(k, steps, mode) for k in knots])  # (R * F, nz)
    frames = points + (points - 1) * steps
    images = generate(ckpt, z, device, batch_size, labels=label)  # (R * F, C, S, S)
    # knot tiles carry their seed (or file name); the frames between them stay unlabelled
    labels = (
        [
            tags[r * points + f // (steps + 1)] if f % (steps + 1) == 0 else ""
            for r in range(len(rows))
            for f in range(frames)
        ]
        if annotate
        else None
    )
    write_image(grid_image(images, nrow=frames, labels=labels), out)
    if gif is not None:
        write_animation(
            _animation_frames(images.view(len(rows), frames, *images.shape[1:])), gif, fps
        )
    warnings = []
    if ckpt.z_dist == "normal" and mode == "lerp":
        warnings.append(
            "lerp on a N(0, I) prior passes through low-norm latents G never saw; "
            "--mode slerp keeps the walk on the shell where samples live."
        )
    return InterpolateResult(
        out=out,
        gif=gif,
        mode=mode,
        rows=rows,
        steps=steps,
        frames_per_row=frames,
        checkpoint=str(ckpt.path),
        step=ckpt.step,
        warnings=warnings,
        weights=ckpt.weights_used,
    )


def _animation_frames(images: torch.Tensor) -> list[Image.Image]:
    """Frames (R, F, C, S, S) -> images: frame j tiles frame j of every walk in one column.

    The walk plays forwards then backwards (a seamless loop).
    """
    f = images.shape[1]
    order = list(range(f)) + list(range(f - 2, 0, -1))
    return [grid_image(images[:, j], nrow=1) for j in order]  # one column: (R tiles)
