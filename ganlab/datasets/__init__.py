"""Datasets for ganlab: every item is a uint8 (C, S, S) image tensor and an int label.

Usage::

    from ganlab.datasets import load_dataset, collate_skipping
    ds = load_dataset("cifar10", "data/", image_size=32)
    image, label = ds[0]  # uint8 (3, 32, 32), int

Scaling to [-1, 1] happens on the training device, not here.
"""

from ganlab.datasets.base import DatasetInfo, ImageDataset, collate_skipping
from ganlab.datasets.files import FileDataset
from ganlab.datasets.lsun import LmdbDataset
from ganlab.datasets.memory import InMemoryDataset
from ganlab.datasets.registry import DATASETS, IMAGE_SIZES, load_dataset

__all__ = [
    "DATASETS",
    "IMAGE_SIZES",
    "DatasetInfo",
    "FileDataset",
    "ImageDataset",
    "InMemoryDataset",
    "LmdbDataset",
    "collate_skipping",
    "load_dataset",
]
