"""The registry of datasets and ``load_dataset``, which validates options and picks a reader."""

from __future__ import annotations

from pathlib import Path

from ganlab.data.base import DatasetInfo, ImageDataset, layout_error
from ganlab.data.memory import InMemoryDataset
from ganlab.errors import DatasetError

IMAGE_SIZES = (16, 32, 64, 128, 256)
IDX_FILES = (
    "the four idx files train-images-idx3-ubyte, train-labels-idx1-ubyte, "
    "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each optionally .gz)"
)
# Published as arrays: read whole into memory and resized there (data.resize), see _read.
ARRAY_DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "svhn")
# Debian's dataset-fashion-mnist package installs here; used when no --data-root is given.
DEFAULT_ROOTS = {"fashion-mnist": Path("/usr/share/datasets/fashion-mnist")}

DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            "digits", 32, 1, True, False,
            "UCI handwritten digits: 1797 8x8 grey images bundled with scikit-learn",
            splits=("train", "test", "all"),
            layout="nothing (bundled with scikit-learn)",
            source="https://archive.ics.uci.edu/dataset/80",
        ),
        DatasetInfo(
            "mnist", 32, 1, True, True,
            "MNIST handwritten digits: 70k 28x28 grey images (http://yann.lecun.com/exdb/mnist/)",
            splits=("train", "test"),
            layout=f"{IDX_FILES}, directly or in MNIST/raw/ (torchvision's layout) or mnist/",
            source="http://yann.lecun.com/exdb/mnist/",
            downloadable=True,
        ),
        DatasetInfo(
            "fashion-mnist", 32, 1, True, True,
            "Fashion-MNIST: 70k 28x28 grey Zalando article images "
            "(https://github.com/zalandoresearch/fashion-mnist)",
            splits=("train", "test"),
            layout=f"{IDX_FILES}, directly or in FashionMNIST/raw/ or fashion-mnist/",
            source="https://github.com/zalandoresearch/fashion-mnist (on Debian, apt-get install "
            "dataset-fashion-mnist and omit --data-root)",
            downloadable=True,
        ),
        DatasetInfo(
            "cifar10", 32, 3, True, True,
            "CIFAR-10: 60k 32x32 colour images in 10 classes "
            "(https://www.cs.toronto.edu/~kriz/cifar.html)",
            splits=("train", "test"),
            layout="cifar-10-batches-py/ holding data_batch_1 .. data_batch_5, test_batch and "
            "batches.meta, i.e. cifar-10-python.tar.gz unpacked (--data-root may also be "
            "that folder itself)",
            source="https://www.cs.toronto.edu/~kriz/cifar.html",
            downloadable=True,
        ),
        DatasetInfo(
            "svhn", 32, 3, True, True,
            "SVHN cropped digits: 32x32 house-number images "
            "(http://ufldl.stanford.edu/housenumbers/)",
            splits=("train", "test", "extra"),
            layout="train_32x32.mat, test_32x32.mat and extra_32x32.mat (format 2, cropped digits)",
            source="http://ufldl.stanford.edu/housenumbers/",
            downloadable=True,
        ),
        DatasetInfo(
            "lsun", 64, 3, False, True,
            "LSUN scene categories as LMDB, bedrooms by default (https://github.com/fyu/lsun)",
            splits=("train", "val"),
            layout="one LMDB folder per category and split, named {category}_{split}_lmdb/ "
            "(e.g. bedroom_train_lmdb/) and holding data.mdb (--data-root may also be the LMDB "
            "folder itself)",
            source="https://github.com/fyu/lsun (download.py -c bedroom, then unzip)",
        ),
        DatasetInfo(
            "celeba", 64, 3, False, True,
            "CelebA aligned faces: 202,599 178x218 JPEGs "
            "(https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html)",
            layout="img_align_celeba/ holding the aligned JPEGs (000001.jpg ...), or "
            "celeba/img_align_celeba/ (torchvision's layout)",
            source="https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (img_align_celeba.zip)",
        ),
        DatasetInfo(
            "imagenet", 32, 3, True, True,
            "ImageNet-1k (ILSVRC2012) class folders, centre crops as in the paper "
            "(https://image-net.org)",
            splits=("train", "val"),
            layout="train/<wnid>/*.JPEG and val/<wnid>/*.JPEG, one folder per class (for "
            "--split train, --data-root may also be the folder of class folders)",
            source="https://image-net.org/download.php (ILSVRC2012; registration required)",
        ),
        DatasetInfo(
            "folder", 64, 3, False, True,
            "any folder of images, labelled by subfolder when the images sit in subfolders",
            layout="image files (jpg, jpeg, png, bmp, gif, webp, tif, tiff) at any depth, or "
            "sorted into one subfolder per class",
        ),
    )
}  # fmt: skip


def _check_options(
    name: str, split: str, image_size: int | None, channels: int | None
) -> tuple[DatasetInfo, int, int]:
    """Validate the options; return the info and the resolved image size and channels."""
    if name not in DATASETS:
        raise DatasetError(f"Unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    info = DATASETS[name]
    if split not in info.splits:
        raise DatasetError(
            f"{name} has no split {split!r}; valid splits: {', '.join(info.splits)}."
        )
    size = info.default_image_size if image_size is None else image_size
    if type(size) is not int or size not in IMAGE_SIZES:
        raise DatasetError(
            f"--image-size {size} is not supported; use a power of two from 16 to 256 "
            f"({', '.join(map(str, IMAGE_SIZES))})."
        )
    chans = info.channels if channels is None else channels
    if type(chans) is not int or chans not in (1, 3):
        raise DatasetError(f"--channels {chans} is not supported; use 1 (grey) or 3 (RGB).")
    return info, size, chans


def _resolve_root(info: DatasetInfo, root: str | Path | None, download: bool) -> Path | None:
    """Return the data root as an absolute path, the default one, or None for bundled data."""
    if not info.needs_root:
        return None
    if root is None:
        default = DEFAULT_ROOTS.get(info.name)
        if default is not None and default.is_dir():
            return default
        problem = f"{info.name} needs --data-root." + (" --download too." if download else "")
        raise layout_error(info, problem)
    path = Path(root).expanduser().absolute()
    if not download and not path.exists():
        raise layout_error(info, f"--data-root {path} does not exist.")
    return path


def load_dataset(
    name: str,
    root: str | Path | None = None,
    *,
    split: str = "train",
    image_size: int | None = None,
    channels: int | None = None,
    download: bool = False,
    category: str = "bedroom",
) -> ImageDataset:
    """Load a registered dataset as uint8 (C, S, S) images with int labels.

    Args:
        name: a key of DATASETS.
        root: --data-root; None only for digits, and for fashion-mnist when Debian's
            dataset-fashion-mnist package is installed.
        split: one of the dataset's ``info.splits``.
        image_size: output side S, a power of two 16..256; None for the dataset's default.
        channels: 1 or 3; None for the dataset's native channels.
        download: fetch missing files first (mnist, fashion-mnist, cifar10, svhn only;
            a no-op for the bundled digits).
        category: the LSUN scene category.

    Returns:
        An InMemoryDataset (digits, mnist, fashion-mnist, cifar10, svhn), an LmdbDataset
        (lsun) or a FileDataset (celeba, imagenet, folder).

    Raises:
        DatasetError: for bad options and missing or malformed data.
    """
    info, size, chans = _check_options(name, split, image_size, channels)
    path = _resolve_root(info, root, download)
    if download and path is not None:
        from ganlab.data.download import download as fetch

        fetch(info, path, split)
    dataset = _read(info, path, split, size, chans, category)
    if len(dataset) == 0:
        raise layout_error(info, f"The {split} split of {name} holds no images.")
    return dataset


def _read(
    info: DatasetInfo, root: Path | None, split: str, size: int, channels: int, category: str
) -> ImageDataset:
    """Call the reader for ``info.name``, imported lazily (each needs other libraries)."""
    name = info.name
    common = {"root": root, "split": split, "image_size": size, "channels": channels}
    if name == "digits":
        from ganlab.data.digits import read_digits

        images, labels = read_digits(split)
        classes = [str(d) for d in range(10)]
        return InMemoryDataset(info, images, labels, class_names=classes, source=None, **common)
    assert root is not None  # every other dataset needs a root (checked in _resolve_root)
    if name in ("mnist", "fashion-mnist"):
        from ganlab.data.idx import read_idx_split

        images, labels, classes, source = read_idx_split(info, root, split)
        return InMemoryDataset(info, images, labels, class_names=classes, source=source, **common)
    if name == "cifar10":
        from ganlab.data.cifar import read_cifar10

        images, labels, classes, source = read_cifar10(info, root, split)
        return InMemoryDataset(info, images, labels, class_names=classes, source=source, **common)
    if name == "svhn":
        from ganlab.data.svhn import CLASSES, read_svhn

        images, labels, source = read_svhn(info, root, split)
        return InMemoryDataset(
            info, images, labels, class_names=list(CLASSES), source=source, **common
        )
    if name == "lsun":
        from ganlab.data.lsun import load_lsun

        return load_lsun(info, root, split, size, channels, category)
    from ganlab.data import files

    if name == "celeba":
        return files.load_celeba(info, root, size, channels)
    if name == "imagenet":
        return files.load_imagenet(info, root, split, size, channels)
    return files.load_folder(info, root, size, channels)


def decode_as(name: str, source, image_size: int, channels: int):
    """Decode one image file as dataset `name`'s reader prepares its training images.

    CelebA: the 108 px centre crop, then resize; the other file datasets (folder, imagenet,
    lsun): shorter side resized, then centre-cropped; the array datasets: centre square, then
    the antialiased resize their arrays get at load time.

    Args:
        name: a key of DATASETS (a run's dataset).
        source: an image file path or an open binary file.
        image_size: output side S.
        channels: 1 or 3.

    Returns:
        uint8 (channels, S, S), or None when the file cannot be decoded.
    """
    from ganlab.data.decode import decode_image, decode_square
    from ganlab.data.files import CELEBA_CROP

    if name in ARRAY_DATASETS:
        return decode_square(source, image_size, channels)
    crop = CELEBA_CROP if name == "celeba" else None
    return decode_image(source, image_size, channels, crop)
