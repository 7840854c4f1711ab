"""Fetching the datasets torchvision knows how to download, into the layouts the readers accept.

URLs and checksums come from torchvision's dataset classes so they stay in one place; the files
are then read by ganlab's own validating readers.
"""

from __future__ import annotations

from pathlib import Path
from urllib.error import URLError

from ganlab.data import cifar
from ganlab.data.base import DatasetInfo
from ganlab.errors import DatasetError


def _mnist(info: DatasetInfo, root: Path) -> None:
    """Fetch the four gzipped idx files into torchvision's root/{MNIST,FashionMNIST}/raw."""
    from torchvision.datasets import MNIST, FashionMNIST
    from torchvision.datasets.utils import download_url

    source = FashionMNIST if info.name == "fashion-mnist" else MNIST
    raw = root / source.__name__ / "raw"
    for filename, md5 in source.resources:
        stem = filename.removesuffix(".gz")
        if (raw / stem).is_file() or (raw / filename).is_file():
            continue
        errors = []
        for mirror in source.mirrors:
            try:
                download_url(f"{mirror}{filename}", raw, filename, md5)
                break
            except (URLError, OSError, RuntimeError) as exc:
                errors.append(f"{mirror}{filename}: {exc}")
        else:
            raise OSError("; ".join(errors))


def _cifar10(root: Path) -> None:
    """Fetch and unpack cifar-10-python.tar.gz into root/cifar-10-batches-py."""
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import download_and_extract_archive

    if cifar.find_folder(root) is None:
        download_and_extract_archive(
            CIFAR10.url, root, filename=CIFAR10.filename, md5=CIFAR10.tgz_md5
        )


def _svhn(root: Path, split: str) -> None:
    """Fetch root/{split}_32x32.mat."""
    from torchvision.datasets import SVHN
    from torchvision.datasets.utils import download_url

    url, filename, md5 = SVHN.split_list[split]
    if not (root / filename).is_file():
        download_url(url, root, filename, md5)


def download(info: DatasetInfo, root: Path, split: str) -> None:
    """Download ``info``'s files into root unless they are already there.

    Args:
        info: the registry entry; refused unless ``info.downloadable``.
        root: --data-root (created if missing).
        split: the split about to be read (SVHN downloads one file per split).
    """
    if not info.downloadable:
        raise DatasetError(
            f"{info.name} cannot be downloaded automatically (only mnist, fashion-mnist, cifar10 "
            f"and svhn can). Get it from {info.source} and place it so that --data-root holds "
            f"{info.layout}."
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
        if info.name in ("mnist", "fashion-mnist"):
            _mnist(info, root)
        elif info.name == "cifar10":
            _cifar10(root)
        else:
            _svhn(root, split)
    except (URLError, OSError, RuntimeError) as exc:
        raise DatasetError(
            f"Downloading {info.name} into {root} failed ({exc}). Check the network, or "
            f"download it yourself from {info.source} and place it so that --data-root holds "
            f"{info.layout}."
        ) from None
