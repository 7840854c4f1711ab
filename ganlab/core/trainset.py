"""The images a run trained on, found from its checkpoint, and the classes a conditional run needs.

`neighbors` and `visualize` look at a run's own training set; they find it here, the same way
`train` opened it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ganlab.core.config import TrainConfig
from ganlab.data.base import ImageDataset
from ganlab.data.spec import DataSpec, open_dataset
from ganlab.errors import GanlabError
from ganlab.io.checkpoint import Checkpoint


def conditional_classes(data: ImageDataset) -> list[str]:
    """The class names a conditional run trains on (label index order).

    Raises:
        GanlabError: the dataset carries no labels (LSUN, CelebA, a folder without class
            subfolders, a cache prepared from unlabelled data) or fewer than two classes.
    """
    names = list(data.class_names)
    if len(names) < 2:
        raise GanlabError(
            f"--conditional needs a labelled dataset with at least two classes, but "
            f"{data.info.name} ({data.split}) has {len(names) or 'no'} class label(s). Use "
            "digits, mnist, fashion-mnist, cifar10, svhn, imagenet or a folder with one "
            "subfolder per class, or train without --conditional."
        )
    labels = getattr(data, "labels", None)  # in-memory data: every label must name a class
    if (
        isinstance(labels, torch.Tensor)
        and len(labels)
        and (labels.min() < 0 or labels.max() >= len(names))
    ):
        raise GanlabError(
            f"--conditional: {data.info.name} ({data.split}) has images without a class label "
            f"(labels must be 0..{len(names) - 1}). Prepare the data from a labelled source."
        )
    return names


def data_spec_of(ckpt: Checkpoint, data_root: str | Path | None = None) -> DataSpec:
    """The images a checkpoint was trained on, at its image size and channels.

    Args:
        ckpt: a loaded Checkpoint.
        data_root: overrides the run's --data-root (built-in datasets need none); a run
            trained from a `ganlab prepare` cache reads that cache unless this is given.
    """
    spec = TrainConfig.from_dict(ckpt.train_config).data.replace(
        image_size=ckpt.model_config.image_size,
        channels=ckpt.model_config.channels,
        download=False,
    )
    if data_root is not None:  # the published files there, not the run's prepared cache
        spec = spec.replace(root=str(data_root), prepared=None)
    return spec


def training_data_of(ckpt: Checkpoint, data_root: str | Path | None = None) -> ImageDataset:
    """The dataset a checkpoint was trained on (see `data_spec_of`)."""
    return open_dataset(data_spec_of(ckpt, data_root))
