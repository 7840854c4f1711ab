"""Datasets held as one uint8 tensor in memory (digits, MNIST, Fashion-MNIST, CIFAR-10, SVHN)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganlab.data.base import DatasetInfo, ImageDataset, Item
from ganlab.data.resize import resize_images


class InMemoryDataset(ImageDataset):
    """Images resized once at load time and kept as tensors.

    The trainer and the probe may index ``images`` and ``labels`` directly in batches instead
    of going through a DataLoader.

    Attributes:
        images: uint8 (N, C, S, S).
        labels: int64 (N,), -1 when unlabelled.
    """

    def __init__(
        self,
        info: DatasetInfo,
        images: np.ndarray | torch.Tensor,
        labels: np.ndarray | torch.Tensor,
        *,
        class_names: list[str],
        root: Path | None,
        split: str,
        image_size: int,
        channels: int,
        source: Path | None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Wrap native images, resizing and converting them.

        Args:
            info: the registry entry.
            images: uint8 (N, C, H, W) at native size and channels.
            labels: integer (N,).
            class_names: label index -> name.
            root: the --data-root given (None for bundled data).
            split: the split these images are.
            image_size: wanted side S.
            channels: wanted channels, 1 or 3.
            source: the file or folder read.
            extra: more fields for ``describe()``.
        """
        super().__init__(
            info,
            root=root,
            split=split,
            image_size=image_size,
            channels=channels,
            class_names=class_names,
            source=source,
            extra=extra,
        )
        self.images = resize_images(torch.as_tensor(images), image_size, channels)
        self.labels = torch.as_tensor(labels).to(torch.int64)

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> Item:
        return self.images[index], int(self.labels[index])
