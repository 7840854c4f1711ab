"""What every ganlab dataset shares: its static facts and the item contract.

An item is ``(image, label)``: ``image`` a uint8 tensor of shape (C, S, S), ``label`` an int
(-1 when the dataset is unlabelled). Images stay uint8 until they reach the training device,
where they are scaled to [-1, 1]; that keeps loader traffic four times smaller than float32.
File-backed datasets return ``None`` for an image that cannot be decoded, and
``ganlab.data.batches`` drops and counts those.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from ganlab.errors import DatasetError

Item = tuple[torch.Tensor, int]


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about one registered dataset."""

    name: str  # registry name, e.g. "cifar10"
    default_image_size: int  # side in pixels when no --image-size is given
    channels: int  # native channels: 1 grey, 3 RGB
    labelled: bool  # whether items carry class labels
    needs_root: bool  # False only for data bundled with a library (digits)
    description: str  # one line: what it is, where it is published
    splits: tuple[str, ...] = ("train",)  # valid --split values
    layout: str = ""  # the files expected under --data-root, for error messages
    source: str = ""  # where the data is published, for error messages
    downloadable: bool = False  # whether --download can fetch it


def layout_error(info: DatasetInfo, problem: str, hint: str = "") -> DatasetError:
    """Build the one-paragraph error for a missing or malformed dataset.

    Args:
        info: the dataset the user asked for.
        problem: what was wrong, as one or two sentences ending in a full stop.
        hint: an optional extra sentence on how to fix it.

    Returns:
        A DatasetError naming the problem, the expected layout and where the data is published.
    """
    parts = [problem, f"{info.name} expects, under --data-root: {info.layout}."]
    if hint:
        parts.append(hint)
    if info.source:
        fetch = " (or pass --download)" if info.downloadable else ""
        parts.append(f"It is published at {info.source}{fetch}.")
    return DatasetError(" ".join(parts))


class ImageDataset(Dataset):
    """A dataset of uint8 (C, S, S) images with int labels; subclasses implement the storage.

    Attributes:
        info: the registry entry.
        image_size: S, the side of every returned image.
        channels: C, 1 (grey) or 3 (RGB).
        class_names: label index -> name; empty when unlabelled.
        root: the --data-root it was loaded from (None for bundled data).
        split: the split loaded ("train", "test", ...).
        source: the file or folder the items are actually read from, for the run's config.
    """

    def __init__(
        self,
        info: DatasetInfo,
        *,
        root: Path | None,
        split: str,
        image_size: int,
        channels: int,
        class_names: list[str],
        source: Path | None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.info = info
        self.root = root
        self.split = split
        self.image_size = image_size
        self.channels = channels
        self.class_names = class_names
        self.source = source
        self._extra = dict(extra or {})

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> Item | None:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Return a json-serialisable summary for the run's config.json."""
        return {
            "name": self.info.name,
            "split": self.split,
            "root": None if self.root is None else str(self.root),
            "source": None if self.source is None else str(self.source),
            "image_size": self.image_size,
            "channels": self.channels,
            "len": len(self),
            "labelled": self.info.labelled,
            "num_classes": len(self.class_names),
            **self._extra,
        }
