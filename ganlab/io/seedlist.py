"""Seed lists as people write them: "0,3,10-12" <-> [0, 3, 10, 11, 12].

Every latent in ganlab comes from an integer seed (`ganlab.core.seeds` turns seeds into z); this
is the text form of a list of them, read from options and written in summaries and files.
"""

from __future__ import annotations

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
