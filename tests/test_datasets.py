"""Tests of ganlab.data on tiny fixtures written in the real published formats."""

from __future__ import annotations

import gzip
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from ganlab.data import (
    DATASETS,
    FileDataset,
    InMemoryDataset,
    LmdbDataset,
    load_dataset,
)
from ganlab.data.batches import batches
from ganlab.errors import DatasetError

LAYOUT = "expects, under --data-root"  # every layout error states the expected layout


def mean_colour(image: torch.Tensor) -> np.ndarray:
    """Mean of a uint8 (C, S, S) image per channel."""
    return image.float().mean(dim=(1, 2)).numpy()


def assert_items(ds, n: int, channels: int, size: int) -> None:
    """Every item is a uint8 (C, S, S) tensor with an int label, and describe() is json."""
    assert len(ds) == n
    for i in range(n):
        image, label = ds[i]
        assert image.dtype == torch.uint8 and image.shape == (channels, size, size)
        assert isinstance(label, int)
    described = json.loads(json.dumps(ds.describe()))
    assert described["len"] == n and described["image_size"] == size
    assert described["channels"] == channels


# --- registry and options ---------------------------------------------------------------------


def test_registry_defaults():
    sizes = {name: info.default_image_size for name, info in DATASETS.items()}
    assert sizes == {
        "digits": 32, "mnist": 32, "fashion-mnist": 32, "cifar10": 32, "svhn": 32,
        "lsun": 64, "celeba": 64, "imagenet": 32, "folder": 64,
    }  # fmt: skip
    assert [n for n, i in DATASETS.items() if i.channels == 1] == [
        "digits",
        "mnist",
        "fashion-mnist",
    ]
    assert [n for n, i in DATASETS.items() if not i.needs_root] == ["digits"]
    assert all(info.description for info in DATASETS.values())
    downloadable = [n for n, i in DATASETS.items() if i.downloadable]
    assert downloadable == ["mnist", "fashion-mnist", "cifar10", "svhn"]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"name": "cifar100"}, "cifar10"),
        ({"name": "cifar10", "split": "val"}, "valid splits: train, test"),
        ({"name": "digits", "image_size": 48}, "power of two"),
        ({"name": "digits", "image_size": 512}, "power of two"),
        ({"name": "digits", "channels": 2}, "1 (grey) or 3"),
        ({"name": "cifar10"}, "needs --data-root"),
        ({"name": "svhn", "root": "/nonexistent/data"}, "does not exist"),
    ],
)
def test_bad_options(kwargs, needle):
    with pytest.raises(DatasetError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        load_dataset(**kwargs)


# --- digits -----------------------------------------------------------------------------------


def test_digits_splits_and_values():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    train, test = load_dataset("digits"), load_dataset("digits", split="test")
    full = load_dataset("digits", split="all", image_size=16, channels=3)
    assert (len(train), len(test), len(full)) == (1437, 360, 1797)
    assert_items(test, 360, 1, 32)
    assert full.images.shape == (1797, 3, 16, 16)
    assert train.labels.tolist() == bunch.target[:1437].tolist()
    assert test.labels.tolist() == bunch.target[1437:].tolist()
    assert train.class_names == [str(d) for d in range(10)]
    # 8 -> 32 bilinear keeps the overall brightness: the mean of 0..16 scaled to 0..255.
    expected = bunch.images[:1437].mean() * 255 / 16
    assert abs(train.images.float().mean().item() - expected) < 2
    assert train.images.max() == 255 and train.root is None


# --- MNIST / Fashion-MNIST --------------------------------------------------------------------


@pytest.mark.parametrize(("gz", "subdir"), [(True, ""), (False, "MNIST/raw"), (True, "mnist")])
def test_mnist_layouts_native_pixels(tmp_path, dataset_files, gz, subdir):
    root = dataset_files.write_mnist_idx(
        tmp_path, n_train=12, n_test=6, gz=gz, subdir=subdir, side=32
    )
    train = load_dataset("mnist", root)
    test = load_dataset("mnist", root, split="test")
    assert isinstance(train, InMemoryDataset)
    assert_items(train, 12, 1, 32)
    assert train.images.shape == (12, 1, 32, 32)
    for i in (0, 5, 11):
        assert np.array_equal(train.images[i].numpy(), dataset_files.fixture_pixels(i, 1, 32, 32))
    assert np.array_equal(
        test.images[3].numpy(),
        dataset_files.fixture_pixels(dataset_files.TEST_OFFSET + 3, 1, 32, 32),
    )
    assert train.labels.tolist() == [i % 10 for i in range(12)]
    assert train.class_names == [str(d) for d in range(10)]


def test_mnist_default_resize_and_rgb(tmp_path, dataset_files):
    root = dataset_files.write_mnist_idx(tmp_path)  # 28x28 as published
    ds = load_dataset("mnist", root)
    rgb = load_dataset("mnist", root, image_size=64, channels=3)
    assert ds.images.shape == (12, 1, 32, 32)
    assert rgb.images.shape == (12, 3, 64, 64)
    assert torch.equal(rgb.images[:, 0], rgb.images[:, 2])  # grey -> RGB repeats the plane
    native = dataset_files.fixture_pixels(0, 1, 28, 28).astype(float).mean()
    assert abs(ds.images[0].float().mean().item() - native) < 3


def test_fashion_mnist_torchvision_layout(tmp_path, dataset_files):
    root = dataset_files.write_mnist_idx(tmp_path, subdir="FashionMNIST/raw")
    ds = load_dataset("fashion-mnist", root, split="test")
    assert ds.class_names == dataset_files.FASHION_NAMES
    assert len(ds) == 6 and ds.describe()["source"].endswith("FashionMNIST/raw")


def test_idx_truncated(tmp_path, dataset_files):
    root = dataset_files.write_mnist_idx(tmp_path, gz=False)
    path = root / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetError, match="truncated") as err:
        load_dataset("mnist", root)
    assert LAYOUT in str(err.value) and "yann.lecun.com" in str(err.value)


def test_idx_truncated_gzip_stream(tmp_path, dataset_files):
    root = dataset_files.write_mnist_idx(tmp_path, gz=True)
    path = root / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(DatasetError, match=LAYOUT):
        load_dataset("mnist", root)


def test_idx_bad_magic_and_labels(tmp_path, dataset_files):
    root = dataset_files.write_mnist_idx(tmp_path, gz=False)
    labels = root / "train-labels-idx1-ubyte"
    data = bytearray(labels.read_bytes())
    data[8 + 3] = 10  # label of image 3
    labels.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=r"labels must be 0..9"):
        load_dataset("mnist", root)
    images = root / "t10k-images-idx3-ubyte"
    images.write_bytes(b"\x00\x00\x08\x01" + images.read_bytes()[4:])
    with pytest.raises(DatasetError, match="magic number is 0x00000801"):
        load_dataset("mnist", root, split="test")


def test_idx_count_mismatch(tmp_path, dataset_files):
    root = dataset_files.write_mnist_idx(tmp_path, n_train=12, gz=True)
    labels = np.arange(11, dtype=np.uint8) % 10
    header = (0x801).to_bytes(4, "big") + (11).to_bytes(4, "big")
    (root / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(header + labels.tobytes()))
    with pytest.raises(DatasetError, match="12 images but .* 11 labels"):
        load_dataset("mnist", root)


def test_mnist_missing_files(tmp_path, dataset_files):
    dataset_files.write_mnist_idx(tmp_path, subdir="elsewhere")
    with pytest.raises(DatasetError) as err:
        load_dataset("mnist", tmp_path)
    message = str(err.value)
    assert "train-images-idx3-ubyte" in message and "MNIST/raw" in message and LAYOUT in message


@pytest.mark.slow
def test_real_debian_fashion_mnist(fashion_mnist_root):
    train = load_dataset("fashion-mnist")  # no root: Debian's install location
    test = load_dataset("fashion-mnist", split="test", image_size=64, channels=3)
    assert train.root == fashion_mnist_root
    assert train.images.shape == (60000, 1, 32, 32) and test.images.shape == (10000, 3, 64, 64)
    assert torch.bincount(train.labels).tolist() == [6000] * 10
    assert torch.bincount(test.labels).tolist() == [1000] * 10
    assert train.labels[:3].tolist() == [9, 0, 0]  # Ankle boot, T-shirt/top, T-shirt/top
    assert train.class_names[9] == "Ankle boot"
    assert 60 < train.images.float().mean().item() < 80  # Fashion-MNIST's mean is 72.9 / 255


@pytest.mark.parametrize("required", [None, "0", "1"])
def test_missing_real_data_skips_or_fails(require_real_data, tmp_path, monkeypatch, required):
    """Absent real data skips with the install command; GANLAB_REQUIRE_REAL_DATA=1 fails."""
    if required is None:
        monkeypatch.delenv("GANLAB_REQUIRE_REAL_DATA", raising=False)
    else:
        monkeypatch.setenv("GANLAB_REQUIRE_REAL_DATA", required)
    missing = tmp_path / "no-such-data"
    outcome = pytest.fail.Exception if required == "1" else pytest.skip.Exception
    with pytest.raises(outcome) as info:
        require_real_data(missing, "dataset-example", "Example data")
    assert info.value.msg == (
        f"Example data is missing ({missing} does not exist): "
        "install it with `apt-get install dataset-example`"
    )
    missing.mkdir()
    assert require_real_data(missing, "dataset-example", "Example data") == missing


# --- CIFAR-10 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("py2", [True, False])
def test_cifar10_pixels_labels_names(tmp_path, dataset_files, py2):
    root = dataset_files.write_cifar10(tmp_path, n_train=10, n_test=5, py2=py2)
    train = load_dataset("cifar10", root)
    assert_items(train, 10, 3, 32)
    for i in range(10):
        assert np.array_equal(train.images[i].numpy(), dataset_files.fixture_pixels(i, 3, 32, 32))
    assert train.labels.tolist() == list(range(10))
    assert train.class_names == dataset_files.CIFAR_NAMES
    test = load_dataset("cifar10", root / "cifar-10-batches-py", split="test")
    assert np.array_equal(
        test.images[4].numpy(),
        dataset_files.fixture_pixels(dataset_files.TEST_OFFSET + 4, 3, 32, 32),
    )


def test_cifar10_grey_and_size(tmp_path, dataset_files):
    root = dataset_files.write_cifar10(tmp_path)
    grey = load_dataset("cifar10", root, channels=1)
    big = load_dataset("cifar10", root, image_size=64)
    rgb = dataset_files.fixture_pixels(2, 3, 32, 32).astype(float)
    luma = np.rint(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])
    assert np.abs(grey.images[2, 0].numpy().astype(float) - luma).max() <= 1
    assert big.images.shape == (10, 3, 64, 64)
    assert abs(big.images[2].float().mean().item() - rgb.mean()) < 3


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _ExecExploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.parametrize(("exploit", "name"), [(_Exploit, "system"), (_ExecExploit, "exec")])
def test_cifar10_malicious_pickle_refused(tmp_path, dataset_files, exploit, name):
    root = dataset_files.write_cifar10(tmp_path / "data")
    marker = tmp_path / "pwned"
    batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1], b"x": exploit(marker)}
    with (root / "cifar-10-batches-py" / "data_batch_3").open("wb") as f:
        pickle.dump(batch, f, protocol=2)
    with pytest.raises(DatasetError, match=f"[Rr]efused to load .*data_batch_3.*{name}"):
        load_dataset("cifar10", root)
    assert not marker.exists()


def test_cifar10_bad_labels_and_shape(tmp_path, dataset_files):
    root = dataset_files.write_cifar10(tmp_path)
    folder = root / "cifar-10-batches-py"
    bad = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}
    with (folder / "test_batch").open("wb") as f:
        pickle.dump(bad, f, protocol=2)
    with pytest.raises(DatasetError, match=r"expected 0\.\.9"):
        load_dataset("cifar10", root, split="test")
    bad = {b"data": np.zeros((2, 1024), np.uint8), b"labels": [0, 1]}
    with (folder / "test_batch").open("wb") as f:
        pickle.dump(bad, f, protocol=2)
    with pytest.raises(DatasetError, match="3072"):
        load_dataset("cifar10", root, split="test")


def test_cifar10_missing_batch(tmp_path, dataset_files):
    root = dataset_files.write_cifar10(tmp_path)
    (root / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(DatasetError, match="data_batch_4 missing") as err:
        load_dataset("cifar10", root)
    assert "cifar-10-batches-py" in str(err.value) and "toronto.edu" in str(err.value)


# --- SVHN -------------------------------------------------------------------------------------


def test_svhn_pixels_labels_splits(tmp_path, dataset_files):
    root = dataset_files.write_svhn(tmp_path, n_train=12, n_test=5, n_extra=3)
    train = load_dataset("svhn", root)
    assert_items(train, 12, 3, 32)
    assert np.array_equal(train.images[7].numpy(), dataset_files.fixture_pixels(7, 3, 32, 32))
    assert train.labels.tolist() == [i % 10 for i in range(12)]  # stored 10 -> digit 0
    extra = load_dataset("svhn", root, split="extra")
    assert np.array_equal(
        extra.images[1].numpy(),
        dataset_files.fixture_pixels(2 * dataset_files.TEST_OFFSET + 1, 3, 32, 32),
    )
    assert len(load_dataset("svhn", root, split="test")) == 5


def test_svhn_bad_labels_and_missing(tmp_path, dataset_files):
    from scipy.io import savemat

    root = dataset_files.write_svhn(tmp_path, n_test=0)
    with pytest.raises(DatasetError, match="test_32x32.mat does not exist") as err:
        load_dataset("svhn", root, split="test")
    assert "ufldl.stanford.edu" in str(err.value)
    x = np.zeros((32, 32, 3, 2), np.uint8)
    savemat(root / "test_32x32.mat", {"X": x, "y": np.array([[0], [3]], np.uint8)})
    with pytest.raises(DatasetError, match=r"expected 1\.\.10"):
        load_dataset("svhn", root, split="test")


# --- download (no network: torchvision's fetchers are replaced) -------------------------------


def test_download_places_files_where_readers_look(tmp_path, dataset_files, monkeypatch):
    import shutil

    import torchvision.datasets.utils as tv_utils

    published = dataset_files.write_mnist_idx(tmp_path / "published", gz=True)
    svhn_published = dataset_files.write_svhn(tmp_path / "svhn_published", n_train=3)
    fetched = []

    def fake_download_url(url, root, filename=None, md5=None, max_redirect_hops=3):
        fetched.append(url)
        source = svhn_published if filename.endswith(".mat") else published
        Path(root).mkdir(parents=True, exist_ok=True)
        shutil.copy(source / filename, Path(root) / filename)

    monkeypatch.setattr(tv_utils, "download_url", fake_download_url)
    ds = load_dataset("fashion-mnist", tmp_path / "data", download=True)
    assert len(ds) == 12 and (tmp_path / "data/FashionMNIST/raw/t10k-images-idx3-ubyte.gz").exists()
    assert len(fetched) == 4 and "fashion-mnist" in fetched[0]
    load_dataset("fashion-mnist", tmp_path / "data", download=True)  # present: nothing fetched
    assert len(fetched) == 4
    assert len(load_dataset("svhn", tmp_path / "svhn", download=True)) == 3
    assert fetched[-1].endswith("train_32x32.mat")


def test_download_failure_is_clear(tmp_path, monkeypatch):
    from urllib.error import URLError

    import torchvision.datasets.utils as tv_utils

    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", offline)
    with pytest.raises(DatasetError, match="Downloading cifar10 .* failed") as err:
        load_dataset("cifar10", tmp_path / "data", download=True)
    assert "cifar-10-batches-py" in str(err.value)
    with pytest.raises(DatasetError, match="cannot be downloaded automatically"):
        load_dataset("imagenet", tmp_path, download=True)


# --- LSUN -------------------------------------------------------------------------------------


def test_webp_available():
    from PIL import features

    assert features.check("webp"), "Pillow was built without webp: LSUN cannot be decoded"


def test_lsun_items_in_key_order(tmp_path, dataset_files):
    root = dataset_files.write_lsun(tmp_path, n=8)
    ds = load_dataset("lsun", root)
    assert isinstance(ds, LmdbDataset)
    assert_items(ds, 8, 3, 64)
    order = sorted(range(8), key=dataset_files.lsun_key)  # LMDB iterates in key order
    assert [bytes(k) for k in ds.keys] == [dataset_files.lsun_key(i) for i in order]
    for pos, i in enumerate(order):
        image, label = ds[pos]
        assert label == -1
        assert np.abs(mean_colour(image) - dataset_files.fixture_colour(i)).max() < 4
    assert ds.describe()["category"] == "bedroom" and ds.class_names == []


def test_lsun_options_and_direct_lmdb(tmp_path, dataset_files):
    root = dataset_files.write_lsun(tmp_path, category="tower", split="val", n=3, fmt="jpeg")
    ds = load_dataset("lsun", root / "tower_val_lmdb", image_size=32, channels=1)
    image, _ = ds[0]
    assert image.shape == (1, 32, 32)
    ds = load_dataset("lsun", root, category="tower", split="val", image_size=128)
    assert ds[2][0].shape == (3, 128, 128)


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_lsun_dataloader_workers(tmp_path, dataset_files, context):
    root = dataset_files.write_lsun(tmp_path, n=10)
    ds = load_dataset("lsun", root, image_size=16)
    parent = torch.stack([ds[i][0] for i in range(len(ds))])  # opens the env in this process
    # each worker process opens its own LMDB environment, under fork and spawn alike
    loader = DataLoader(
        ds, batch_size=4, num_workers=2, collate_fn=list, multiprocessing_context=context
    )
    items = [item for chunk in loader for item in chunk]
    assert all(item is not None for item in items)
    assert torch.equal(torch.stack([image for image, _ in items]), parent)
    assert [label for _, label in items] == [-1] * 10


def test_lsun_pickles_and_opens_twice(tmp_path, dataset_files):
    root = dataset_files.write_lsun(tmp_path, n=2)
    ds = load_dataset("lsun", root, image_size=16)
    ds[0]  # the environment is open in this process now
    clone = pickle.loads(pickle.dumps(ds))  # would fail on an open environment
    again = load_dataset("lsun", root / "bedroom_train_lmdb", image_size=16)
    assert torch.equal(clone[1][0], ds[1][0]) and torch.equal(again[1][0], ds[1][0])


def test_lsun_missing_category_and_download(tmp_path, dataset_files):
    root = dataset_files.write_lsun(tmp_path, n=2)
    with pytest.raises(DatasetError) as err:
        load_dataset("lsun", root, category="kitchen")
    message = str(err.value)
    assert "kitchen_train_lmdb" in message and "church_outdoor" in message
    assert "https://github.com/fyu/lsun" in message
    with pytest.raises(DatasetError, match="cannot be downloaded automatically") as err:
        load_dataset("lsun", root, download=True)
    assert "fyu/lsun" in str(err.value)


def test_lsun_corrupt_database(tmp_path):
    folder = tmp_path / "bedroom_train_lmdb"
    folder.mkdir()
    (folder / "data.mdb").write_bytes(os.urandom(8192))
    with pytest.raises(DatasetError, match="Could not read the LMDB"):
        load_dataset("lsun", tmp_path)


def test_lsun_corrupt_value_skipped(tmp_path, dataset_files):
    import lmdb

    root = dataset_files.write_lsun(tmp_path, n=4)
    env = lmdb.open(str(root / "bedroom_train_lmdb"), map_size=1 << 26)
    with env.begin(write=True) as txn:
        txn.put(dataset_files.lsun_key(99), b"RIFF\x00\x00\x00\x00WEBPnot really")
    env.close()
    ds = load_dataset("lsun", root, image_size=16)
    read = list(batches(ds, batch_size=5))
    assert [b.skipped for b in read] == [1] and read[0].images.shape == (4, 3, 16, 16)
    assert read[0].size == 5 and len(read[0].indices) == 4


# --- CelebA, ImageNet, folder -----------------------------------------------------------------


@pytest.mark.parametrize("nested", [False, True])
def test_celeba_centre_crop(tmp_path, dataset_files, nested):
    root = dataset_files.write_celeba(tmp_path, n=3, nested=nested)
    ds = load_dataset("celeba", root)
    assert isinstance(ds, FileDataset)
    assert_items(ds, 3, 3, 64)
    assert [bytes(p) for p in ds.paths] == [b"000001.jpg", b"000002.jpg", b"000003.jpg"]
    for i in range(3):
        image, label = ds[i]
        # The 108x108 crop holds only the face colour (JPEG bleeds the border into its edge
        # pixels); a min-side crop of the whole image would be a third border.
        assert label == -1
        assert np.abs(mean_colour(image[:, 4:-4, 4:-4]) - dataset_files.fixture_colour(i)).max() < 4
        assert np.abs(mean_colour(image) - dataset_files.fixture_colour(i)).max() < 12


def test_celeba_missing(tmp_path):
    with pytest.raises(DatasetError, match="img_align_celeba") as err:
        load_dataset("celeba", tmp_path)
    assert "mmlab.ie.cuhk.edu.hk" in str(err.value)


def test_imagenet_labels_and_splits(tmp_path, dataset_files):
    classes = ("n01440764", "n01443537", "n01484850")
    root = dataset_files.write_imagenet(tmp_path, classes=classes, per_class=2)
    train = load_dataset("imagenet", root)
    assert_items(train, 6, 3, 32)
    assert train.class_names == list(classes)
    assert train.labels.tolist() == [0, 0, 1, 1, 2, 2]
    for i in range(6):
        image, label = train[i]
        assert np.abs(mean_colour(image) - dataset_files.fixture_colour(label)).max() < 4
    val = load_dataset("imagenet", root, split="val", image_size=16)
    assert val.labels.tolist() == [0, 0, 1, 1, 2, 2] and val[5][0].shape == (3, 16, 16)
    direct = load_dataset("imagenet", root / "train")
    assert direct.class_names == list(classes) and len(direct) == 6


def test_imagenet_flat_val_explained(tmp_path, dataset_files):
    root = dataset_files.write_imagenet(tmp_path, per_class=1, splits=("train",))
    (root / "val").mkdir()
    (root / "train" / "n01440764" / "n01440764_0.JPEG").rename(root / "val" / "x.JPEG")
    with pytest.raises(DatasetError, match="one folder per class"):
        load_dataset("imagenet", root, split="val")


def test_folder_unlabelled_with_corrupt_file(tmp_path, dataset_files):
    root = dataset_files.write_folder(tmp_path, n=6, corrupt=1)
    ds = load_dataset("folder", root, image_size=32)
    assert len(ds) == 7 and ds.class_names == [] and ds.describe()["labelled"] is False
    for num_workers in (0, 2):
        read = list(batches(ds, batch_size=3, workers=num_workers))
        assert sum(b.skipped for b in read) == 1 and sum(b.size for b in read) == 7
        images = torch.cat([b.images for b in read])
        assert images.shape == (6, 3, 32, 32) and images.dtype == torch.uint8
        assert torch.cat([b.labels for b in read]).tolist() == [-1] * 6
        readable = [i for i in range(len(ds)) if ds[i] is not None]
        assert torch.cat([b.indices for b in read]).tolist() == readable


def test_folder_labelled_grey(tmp_path, dataset_files):
    root = dataset_files.write_folder(tmp_path, n=3, classes=("dogs", "cats"), corrupt=1)
    ds = load_dataset("folder", root, channels=1)
    assert ds.class_names == ["cats", "dogs"] and ds.describe()["labelled"] is True
    items = [ds[i] for i in range(len(ds))]
    assert sum(item is None for item in items) == 1
    kept = [item for item in items if item is not None]
    assert [label for _, label in kept] == [0, 0, 0, 1, 1, 1]
    assert all(image.shape == (1, 64, 64) for image, _ in kept)


def test_folder_empty(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "readme.txt").write_text("no images")
    with pytest.raises(DatasetError, match="No image files"):
        load_dataset("folder", tmp_path)


def test_batches_yields_an_all_unreadable_batch_empty(tmp_path, dataset_files):
    root = dataset_files.write_folder(tmp_path, n=2, corrupt=1)
    ds = load_dataset("folder", root, image_size=16)
    bad = [i for i in range(len(ds)) if ds[i] is None]
    (batch,) = batches(ds, index_batches=[bad])
    assert batch.images.shape == (0, 3, 16, 16) and batch.labels.shape == (0,)
    assert batch.skipped == 1 and batch.size == 1


def test_batches_slices_in_memory_data_in_the_given_order():
    ds = load_dataset("digits", split="all", image_size=16)
    order = torch.tensor([5, 0, 1796])
    (batch,) = batches(ds, index_batches=[order])
    assert torch.equal(batch.images, ds.images[order]) and batch.indices.tolist() == [5, 0, 1796]
    spans = [b.indices.tolist() for b in batches(ds, indices=[3, 1, 4, 1, 5], batch_size=2)]
    assert spans == [[3, 1], [4, 1], [5]]
    assert [len(b.indices) for b in batches(ds, start=1790, batch_size=4)] == [4, 3]
