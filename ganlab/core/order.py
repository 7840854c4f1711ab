"""What a training step sees, as a function of its position: the real batches and the noise.

The position of a run is its global step alone: epoch = step // steps_per_epoch, the batches
of an epoch come from a permutation seeded by (seed, epoch), and the latents of a step from a
generator seeded by (seed, step, rank). Nothing here keeps state, so a resumed run continues
with exactly the batches and noise of a run that never stopped, at any world size.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ganlab.core.config import TrainConfig
from ganlab.core.seeds import position_generator, sample_z
from ganlab.data.batches import batches
from ganlab.data.memory import InMemoryDataset
from ganlab.progress import Reporter


def step_noise(
    seed: int, step: int, rank: int, n: int, nz: int, dist: str, part: int = 0
) -> torch.Tensor:
    """The latents (n, nz) of one step on one rank: a pure function of (seed, step, rank).

    Deriving noise from the position, not from a running generator, makes resume exact with
    no RNG state to save, at any world size. `part` k > 0 gives the latents of the step's
    (k+1)-th D update (`--d-steps`); part 0 is the paper's one batch.
    """
    return sample_z(n, nz, dist, position_generator(seed, step, rank, stream=part))


def resident_images(data, device: torch.device) -> torch.Tensor | None:
    """Keep an in-memory uint8 dataset on the GPU when it is small (no per-step copies)."""
    if not isinstance(data, InMemoryDataset) or device.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(device)
    if data.images.numel() > free // 4:
        return None
    return data.images.to(device)


def kept_indices(cfg: TrainConfig, data, rep: Reporter) -> torch.Tensor | None:
    """Dataset indices left after `--exclude` (None without it)."""
    if cfg.exclude is None:
        return None
    from ganlab.data import exclusion

    keep = torch.from_numpy(exclusion.kept_indices(cfg.exclude, data))
    rep.log(
        f"--exclude {cfg.exclude}: leaving out {len(data) - len(keep)} of {len(data)} "
        "images (near-duplicates)"
    )
    return keep


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, first: int) -> list:
    """Index batches of one epoch from batch `first` on: a permutation seeded by (seed, epoch)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=gen)
    steps = n // batch_size
    return [perm[i * batch_size : (i + 1) * batch_size] for i in range(first, steps)]


def real_batches(
    data, resident: torch.Tensor | None, index_batches: list, workers: int, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
    """The real images and labels of each index batch, in order.

    Args:
        data: the training ImageDataset.
        resident: its images already on the GPU (`resident_images`), or None.
        index_batches: (b,) int64 dataset indices of each batch.
        workers: decoding processes for a file-backed dataset.
        device: the training device (batches for CUDA are pinned).
    Returns:
        An iterator of (uint8 images (b', C, S, S), int64 labels (b',) on the CPU, unreadable
        images left out: b - b').
    """
    if resident is not None:  # the dataset is on the GPU already
        for idx in index_batches:
            yield resident[idx.to(device)], data.labels[idx], 0
        return
    for batch in batches(data, index_batches, workers=workers, pin_memory=device.type == "cuda"):
        yield batch.images, batch.labels, batch.skipped
