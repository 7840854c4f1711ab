"""Datasets read from image files, decoded per item: CelebA, ImageNet and any folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ganlab.data.base import DatasetInfo, ImageDataset, Item, layout_error
from ganlab.data.decode import decode_image
from ganlab.data.scan import has_images, list_class_folders, list_images, subfolders

CELEBA_FOLDERS = ("img_align_celeba", "celeba/img_align_celeba")
# DCGAN's CelebA preprocessing: the centred 108x108 square of the aligned 178x218 face.
CELEBA_CROP = 108


class FileDataset(ImageDataset):
    """Image files under one folder, decoded, resized and centre-cropped per item.

    An unreadable or corrupt file gives ``None`` instead of an item; ``ganlab.data.batches``
    skips and counts it.

    Attributes:
        folder: the folder the paths are relative to.
        paths: fixed-width bytes (N,), file paths relative to ``folder``. A numpy array rather
            than a list of str: a million str objects would be copied into every forked worker
            as their reference counts change.
        labels: int64 (N,), -1 when unlabelled.
        crop: side of the centre crop taken before resizing, or None for min-side resize.
    """

    def __init__(
        self,
        info: DatasetInfo,
        folder: Path,
        paths: list[str],
        labels: list[int] | None,
        *,
        class_names: list[str],
        root: Path,
        split: str,
        image_size: int,
        channels: int,
        crop: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            info,
            root=root,
            split=split,
            image_size=image_size,
            channels=channels,
            class_names=class_names,
            source=folder,
            extra=extra,
        )
        self.folder = folder
        self._folder_bytes = os.fsencode(folder)
        self.paths = np.array([os.fsencode(p) for p in paths], dtype=np.bytes_)
        self.labels = (
            np.full(len(paths), -1, dtype=np.int64)
            if labels is None
            else np.asarray(labels, dtype=np.int64)
        )
        self.crop = crop

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Item | None:
        path = os.path.join(self._folder_bytes, bytes(self.paths[index]))
        image = decode_image(path, self.image_size, self.channels, crop=self.crop)
        return None if image is None else (image, int(self.labels[index]))


def _existing_dir(info: DatasetInfo, root: Path) -> None:
    """Raise the layout error when root is not a folder."""
    if not root.is_dir():
        raise layout_error(info, f"--data-root {root} is not a folder.")


def load_celeba(info: DatasetInfo, root: Path, image_size: int, channels: int) -> FileDataset:
    """Open CelebA's aligned faces (``img_align_celeba/*.jpg``), unlabelled.

    Args:
        info: the registry entry.
        root: --data-root, holding ``img_align_celeba/`` or ``celeba/img_align_celeba/``.
        image_size: output side S.
        channels: 1 or 3.

    Returns:
        The dataset, files in sorted name order.
    """
    _existing_dir(info, root)
    for sub in CELEBA_FOLDERS:
        folder = root / sub
        paths = list_images(folder, recursive=False) if folder.is_dir() else []
        if paths:
            return FileDataset(
                info,
                folder,
                paths,
                None,
                class_names=[],
                root=root,
                split="train",
                image_size=image_size,
                channels=channels,
                crop=CELEBA_CROP,
            )
    searched = " or ".join(str(root / sub) for sub in CELEBA_FOLDERS)
    raise layout_error(info, f"No CelebA images found in {searched}.")


def load_imagenet(
    info: DatasetInfo, root: Path, split: str, image_size: int, channels: int
) -> FileDataset:
    """Open ImageNet-1k class folders, labelled by sorted folder (wnid) name.

    Args:
        info: the registry entry.
        root: --data-root holding ``train/<wnid>/`` and ``val/<wnid>/``; for split "train" it
            may also be the folder of class folders itself.
        split: "train" or "val".
        image_size: output side S (min-side resize, then centre crop).
        channels: 1 or 3.

    Returns:
        The dataset.
    """
    _existing_dir(info, root)
    folder = root / split
    if not folder.is_dir() and split == "train" and not (root / "val").is_dir():
        folder = root
    if not folder.is_dir():
        raise layout_error(info, f"{folder} does not exist.")
    paths, labels, class_names = list_class_folders(folder)
    if not paths:
        hint = ""
        if has_images(folder):
            hint = (
                "The images sit directly in the folder: sort them into one folder per class "
                "(e.g. with torchvision.datasets.ImageNet or the usual valprep.sh)."
            )
        raise layout_error(info, f"No images in class folders under {folder}.", hint)
    return FileDataset(
        info,
        folder,
        paths,
        labels,
        class_names=class_names,
        root=root,
        split=split,
        image_size=image_size,
        channels=channels,
    )


def load_folder(info: DatasetInfo, root: Path, image_size: int, channels: int) -> FileDataset:
    """Open any tree of images.

    Labelled by subfolder when root itself holds no images and at least one of its immediate
    subfolders does (each class then takes the images at any depth below its folder); otherwise
    unlabelled, with every image found recursively.

    Args:
        info: the registry entry.
        root: the folder of images.
        image_size: output side S (min-side resize, then centre crop).
        channels: 1 or 3.

    Returns:
        The dataset.
    """
    _existing_dir(info, root)
    labelled = not has_images(root) and any(has_images(root / s) for s in subfolders(root))
    if labelled:
        paths, labels, class_names = list_class_folders(root)
    else:
        paths, labels, class_names = list_images(root, recursive=True), None, []
    if not paths:
        raise layout_error(info, f"No image files found under {root}.")
    return FileDataset(
        info,
        root,
        paths,
        labels,
        class_names=class_names,
        root=root,
        split="train",
        image_size=image_size,
        channels=channels,
        extra={"labelled": labelled},
    )
