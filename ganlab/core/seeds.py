"""Seeds -> latents: every z in ganlab comes from an integer seed.

Each seed owns one latent vector, drawn from its own generator, so z for seed 17 is the same
whether it is rendered alone, in a batch of 64, today or next year. Any image can therefore be
regenerated from (checkpoint, seed), and a concept is just a short list of seeds.
"""

from __future__ import annotations

import torch

Z_DISTS = ("uniform", "normal")
MAX_SEED = 2**63 - 1


def parse_seeds(spec: str) -> list[int]:
    """Parse a seed list such as ``"0,3,10-12"`` into ``[0, 3, 10, 11, 12]``.

    Args:
        spec: comma-separated non-negative integers and inclusive ranges ``a-b``.
    Returns:
        The seeds in the order given (duplicates kept: the user asked for them).
    Raises:
        ValueError: with a message naming the bad part.
    """
    seeds: list[int] = []
    for part in spec.replace(" ", "").split(","):
        if not part:
            raise ValueError(f"empty item in seed list {spec!r} (use e.g. 0,3,10-12)")
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise ValueError(
                f"bad seed {part!r} in {spec!r}: use non-negative integers and ranges like 10-12"
            )
        a, b = int(lo), int(hi) if sep else int(lo)
        if b < a:
            raise ValueError(f"bad range {part!r}: the end is below the start")
        if b > MAX_SEED:
            raise ValueError(f"seed {b} is too large (at most {MAX_SEED})")
        if b - a >= 1_000_000:
            raise ValueError(f"range {part!r} has over a million seeds")
        seeds.extend(range(a, b + 1))
    return seeds


def format_seeds(seeds: list[int]) -> str:
    """Inverse of parse_seeds, compressing runs: [0, 1, 2, 5] -> "0-2,5"."""
    parts, i = [], 0
    while i < len(seeds):
        j = i
        while j + 1 < len(seeds) and seeds[j + 1] == seeds[j] + 1:
            j += 1
        parts.append(str(seeds[i]) if i == j else f"{seeds[i]}-{seeds[j]}")
        i = j + 1
    return ",".join(parts)


def sample_z(n: int, nz: int, dist: str, generator: torch.Generator) -> torch.Tensor:
    """Draw n latents (n, nz) on the CPU from `generator`: U(-1, 1) (paper) or N(0, 1)."""
    if dist == "uniform":
        return torch.rand(n, nz, generator=generator) * 2 - 1
    if dist == "normal":
        return torch.randn(n, nz, generator=generator)
    raise ValueError(f"z distribution must be one of {', '.join(Z_DISTS)}, got {dist!r}")


def z_from_seeds(seeds: list[int], nz: int, dist: str) -> torch.Tensor:
    """The latents (len(seeds), nz) owned by `seeds`; independent of batching and device."""
    out = torch.empty(len(seeds), nz)
    gen = torch.Generator()
    for i, seed in enumerate(seeds):
        gen.manual_seed(seed)
        out[i] = sample_z(1, nz, dist, gen)[0]
    return out
