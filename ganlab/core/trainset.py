"""The images a run trains on: from its config (training) or from its checkpoint (afterwards).

`neighbors` and `visualize` look at a run's own training set; they find it here, the same way
`train` opened it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ganlab.core.config import TrainConfig
from ganlab.data import load_dataset
from ganlab.data.base import ImageDataset
from ganlab.data.prepared import open_prepared
from ganlab.errors import GanlabError
from ganlab.io.checkpoint import Checkpoint


def open_training_data(cfg: TrainConfig) -> ImageDataset:
    """The dataset a config trains on: a prepared cache (--data) or the published files."""
    if cfg.data is not None:
        return open_prepared(
            cfg.data, dataset=cfg.dataset, image_size=cfg.image_size, channels=cfg.channels
        )
    return load_dataset(
        cfg.dataset,
        cfg.data_root,
        split=cfg.split,
        image_size=cfg.image_size,
        channels=cfg.channels,
        category=cfg.category,
        download=cfg.download,
    )


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


def training_data_of(ckpt: Checkpoint, data_root: str | Path | None = None) -> ImageDataset:
    """The dataset a checkpoint was trained on, at its image size and channels.

    Args:
        ckpt: a loaded Checkpoint.
        data_root: overrides the run's --data-root (built-in datasets need none); a run
            trained from a `ganlab prepare` cache reads that cache unless this is given.
    """
    cfg = TrainConfig.from_dict(ckpt.train_config).replace(
        image_size=ckpt.model_config.image_size,
        channels=ckpt.model_config.channels,
        download=False,
    )
    if data_root is not None:  # the published files there, not the run's prepared cache
        cfg = cfg.replace(data_root=str(data_root), data=None)
    return open_training_data(cfg)
