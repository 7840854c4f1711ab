"""Seeds -> latents: every z in ganlab comes from an integer seed.

Each seed owns one latent vector, drawn from its own generator, so z for seed 17 is the same
whether it is rendered alone, in a batch of 64, today or next year. Any image can therefore be
regenerated from (checkpoint, seed), and a concept is just a short list of seeds.
"""

from __future__ import annotations

import torch

from ganlab.io.concepts import Concept

Z_DISTS = ("uniform", "normal")


def position_generator(seed: int, step: int, rank: int, stream: int = 0) -> torch.Generator:
    """A CPU generator that is a pure function of the training position (seed, step, rank):
    what a step draws (its noise, its augmentations) needs no RNG state to resume exactly.

    Args:
        seed, step, rank: the run's seed, the optimizer step, the process.
        stream: separate draws of one position (0: the step's latents, the paper's).
    """
    key = (seed % 2**20) * 2**42 + step * 2**10 + rank % 2**10
    if stream:
        key = (key ^ (0x9E3779B97F4A7C15 * stream)) % 2**63
    return torch.Generator().manual_seed(key)


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


def concept_exemplars(concept: Concept, nz: int, dist: str) -> torch.Tensor:
    """Every exemplar's z (E, nz) of a concept: its seeds' first, then its projected images'."""
    z = z_from_seeds(concept.seeds, nz, dist)
    if not concept.latents:
        return z
    return torch.cat([z, torch.tensor(concept.latents, dtype=torch.float32)])


def concept_z(concept: Concept, nz: int, dist: str) -> torch.Tensor:
    """A concept's latent: the mean of its exemplars' z (nz,)."""
    return concept_exemplars(concept, nz, dist).mean(dim=0)
