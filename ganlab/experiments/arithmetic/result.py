"""What `ganlab arithmetic` reports: the result record and its one-line log summary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ganlab.io.seedlist import format_seeds


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
    exemplars: int | None = None  # each concept's first N exemplars were used (None: all)
    weights: str = "raw"  # the G that rendered: "ema" (the averaged G) or "raw" (the trained G)


def projected_images(proj, sources: Sequence[str]) -> list[dict]:
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


def describe(result: ArithmeticResult) -> str:
    """One line for the log: what was rendered where."""
    seeds = f" on seeds {format_seeds(result.seeds)}" if result.seeds else ""
    if result.images:
        seeds += f" on {len(result.images)} projected image(s)"
    return (
        f"wrote {result.grid[0]}x{result.grid[1]} grid of {result.expression}{seeds} "
        f"to {result.out}"
    )
