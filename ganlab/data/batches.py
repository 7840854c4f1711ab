"""The one way ganlab streams a dataset in batches.

In-memory datasets (the built-in ones and prepared caches loaded whole) are sliced directly;
file-backed ones (LSUN, CelebA, folders, large caches) go through a DataLoader whose workers
decode images, and an image that cannot be decoded is left out of its batch and counted.
Every consumer (training, de-duplication, preparing a cache, probe features, neighbours,
guided backprop) reads through `batches`, so they all skip and count bad images alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset

from ganlab.data.base import ImageDataset
from ganlab.data.memory import InMemoryDataset


@dataclass
class Batch:
    """One batch of a dataset, with the positions it came from."""

    indices: torch.Tensor  # (B,) int64: dataset indices of the readable images, in order
    images: torch.Tensor  # (B, C, S, S) uint8
    labels: torch.Tensor  # (B,) int64 (-1 where the dataset is unlabelled)
    skipped: int  # indices of this batch whose image could not be decoded

    def pin_memory(self) -> Batch:
        """Called by DataLoader(pin_memory=True) in its pinning thread."""
        return Batch(self.indices, self.images.pin_memory(), self.labels, self.skipped)

    @property
    def size(self) -> int:
        """Indices this batch covered: readable images plus skipped ones."""
        return self.indices.shape[0] + self.skipped


def batches(
    data: ImageDataset,
    index_batches: Iterable[Sequence[int] | torch.Tensor] | None = None,
    *,
    indices: Sequence[int] | None = None,
    batch_size: int = 256,
    start: int = 0,
    workers: int = 0,
    pin_memory: bool = False,
) -> Iterator[Batch]:
    """Yield one Batch per index batch, in order; only a batch is in memory at once.

    Args:
        data: an ImageDataset.
        index_batches: the dataset indices of each batch (e.g. a shuffled epoch).
        indices: without `index_batches`, the dataset indices to visit, cut into consecutive
            batches of `batch_size`; default all indices from `start` on, in order.
        batch_size: batch length when `index_batches` is not given.
        start: first index when neither `index_batches` nor `indices` is given (resuming).
        workers: DataLoader processes for file-backed datasets (0: decode in this process).
        pin_memory: pin the batches' memory (for copies to a CUDA device).
    Returns:
        An iterator of Batch; a batch whose images all failed has B = 0 (it is still yielded,
        so callers can count positions).
    """
    if index_batches is None:
        flat = torch.arange(start, len(data)) if indices is None else torch.as_tensor(indices)
        index_batches = flat.to(torch.int64).split(batch_size)
    spans = [torch.as_tensor(b, dtype=torch.int64) for b in index_batches]
    if isinstance(data, InMemoryDataset):  # decoded already: index the tensors, no loader
        for idx in spans:
            yield Batch(idx, data.images[idx], data.labels[idx], 0)
        return
    shape = (data.channels, data.image_size, data.image_size)
    loader = DataLoader(
        _WithIndex(data),
        batch_sampler=[s.tolist() for s in spans],
        num_workers=workers,
        collate_fn=_Collate(shape),
        pin_memory=pin_memory,
        prefetch_factor=4 if workers else None,
    )
    yield from loader


class _WithIndex(Dataset):
    """Items (index, image, label) of a dataset; None where the image cannot be decoded."""

    def __init__(self, data: ImageDataset):
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        item = self.data[index]
        return None if item is None else (index, item[0], item[1])


class _Collate:
    """Stack the readable items of a batch; an all-unreadable batch gives empty tensors."""

    def __init__(self, shape: tuple[int, int, int]):
        self.shape = shape

    def __call__(self, items: list) -> Batch:
        kept = [it for it in items if it is not None]
        skipped = len(items) - len(kept)
        if not kept:
            return Batch(
                torch.empty(0, dtype=torch.int64),
                torch.empty((0, *self.shape), dtype=torch.uint8),
                torch.empty(0, dtype=torch.int64),
                skipped,
            )
        # stacking inside a worker puts the batch in shared memory: no copy on the way back
        return Batch(
            torch.tensor([it[0] for it in kept], dtype=torch.int64),
            torch.stack([it[1] for it in kept]),
            torch.tensor([int(it[2]) for it in kept], dtype=torch.int64),
            skipped,
        )
