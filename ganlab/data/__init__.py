"""Datasets for ganlab: every item is a uint8 (C, S, S) image tensor and an int label.

Usage::

    from ganlab.data import load_dataset
    ds = load_dataset("cifar10", "data/", image_size=32)
    image, label = ds[0]  # uint8 (3, 32, 32), int

Scaling to [-1, 1] happens on the training device, not here. `ganlab.data.batches` streams
a dataset in batches, skipping (and counting) images that cannot be decoded.
"""

from ganlab.data.base import DatasetInfo, ImageDataset
from ganlab.data.files import FileDataset
from ganlab.data.lsun import LmdbDataset
from ganlab.data.memory import InMemoryDataset
from ganlab.data.registry import DATASETS, IMAGE_SIZES, load_dataset

__all__ = [
    "DATASETS",
    "IMAGE_SIZES",
    "DatasetInfo",
    "FileDataset",
    "ImageDataset",
    "InMemoryDataset",
    "LmdbDataset",
    "load_dataset",
]
