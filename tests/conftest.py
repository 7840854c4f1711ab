"""Shared test helpers, all as fixtures: test modules import neither this file nor each other.

- ``tiny_config``: factory of tiny seeded configs of the real thing; ``tiny_run``: one tiny
  trained run shared by the session (copy it before writing into it); ``ema_run``: the same
  trained with an averaged G (`--ema 0.9`); ``quiet``, ``cli``.
- ``attribute_run`` and ``attribute_file``: a tiny run trained a little longer, and attributes
  of real images in CelebA's list_attr_celeba.txt format for `concept mine --define`.
- ``dataset_files``: writers of tiny datasets in their real published on-disk formats.
- ``grid_tiles``: the tiles of a sample grid PNG of a tiny run.
- ``require_real_data`` / ``fashion_mnist_root``: the one gate for tests on real data sets.
  Absent data skips the test with the install command; with GANLAB_REQUIRE_REAL_DATA=1
  (CI, .ci/run) absent data fails it instead. ``chromium``: the same gate for the browser.
- ``inception``: a seeded random-weights FID Inception file (nothing is downloaded: every
  test runs with GANLAB_OFFLINE=1), a fresh reference cache, and a 75 px network input.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import struct
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from ganlab.core.config import TrainConfig
from ganlab.progress import Reporter


def make_tiny_config(**changes) -> TrainConfig:
    """The real digits dataset with a tiny model: a few steps take well under a second."""
    base = TrainConfig.from_options(
        dataset="digits",
        split="all",
        image_size=16,
        ngf=8,
        ndf=8,
        nz=16,
        batch_size=64,
        epochs=1,
        device="cpu",
        workers=0,
        log_every=5,
        checkpoint_every=0,
        grid_seeds="0-15",
        amp="off",  # float32: exact comparisons must not hinge on this CPU's bf16 probe
    )
    return base.replace(**changes)


@pytest.fixture(scope="session")
def tiny_config():
    """The factory ``tiny_config(**changes) -> TrainConfig`` (see ``make_tiny_config``)."""
    return make_tiny_config


@pytest.fixture
def quiet() -> Reporter:
    return Reporter(quiet=True)


@pytest.fixture
def cli():
    """Run `ganlab ARGS...` in-process; returns the click Result (exit_code, stdout, stderr)."""
    from ganlab.cli import app

    runner = CliRunner()

    def run(*args: str, input: bytes | None = None):
        return runner.invoke(app, [str(a) for a in args], input=input)

    return run


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The tests' models are tiny: one thread is fastest, and extra threads only spin-wait on
    a shared, loaded CPU (measured up to 40x slower). Subprocesses are not affected."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """One tiny digits run (one epoch, 28 steps) shared by every test file that only reads it.

    Copy it before writing into it (concepts, resumes).
    """
    from ganlab.core.train import train

    out = tmp_path_factory.mktemp("tiny-run") / "run"
    train(make_tiny_config(epochs=1), out=out)
    return out


# --- attributes in CelebA's format ------------------------------------------------------------

ATTRIBUTES = ("Male", "Eyeglasses", "Smiling", "Young")


@pytest.fixture(scope="session")
def attribute_run(tmp_path_factory):
    """A tiny digits run trained 4 epochs (copy it before writing into it). After one epoch G
    draws nearly one kind of sample; after four, `attribute_file`'s classifiers split its pool
    into every combination the paper's two face equations use."""
    from ganlab.core.train import train

    out = tmp_path_factory.mktemp("attribute-run") / "run"
    train(make_tiny_config(epochs=4), out=out)
    return out


@pytest.fixture(scope="session")
def attribute_file(tmp_path_factory) -> Path:
    """Attributes of real images in CelebA's published format, for a digits run.

    300 digits of the test split as ``img_align_celeba/000001.jpg ...`` (32 px JPEGs) and
    beside the folder ``list_attr_celeba.txt``: a count line, a line of attribute names, then
    ``000001.jpg`` and one 1/-1 per attribute. Each attribute is a property of its image:
    Male, a digit with a closed loop (0, 6, 8, 9); Eyeglasses, more of its ink in the top half
    than the median image has; Smiling, a 1, 5 or 7; Young, a digit below 5.

    Returns:
        The attribute file; its folder is the data root.
    """
    from ganlab.data import load_dataset

    ds = load_dataset("digits", split="test", image_size=32)
    root = tmp_path_factory.mktemp("attributes")
    folder = root / "img_align_celeba"
    folder.mkdir()
    images, digits = zip(*(ds[i] for i in range(300)), strict=True)
    ink = torch.stack(images).float()[:, 0]  # (300, 32, 32)
    top = ink[:, :16].sum((1, 2)) / ink.sum((1, 2))  # share of the ink in the top half
    rows = []
    for i, (image, digit) in enumerate(zip(images, digits, strict=True)):
        name = f"{i + 1:06d}.jpg"
        Image.fromarray(image[0].numpy(), "L").save(folder / name, quality=95)
        values = (digit in (0, 6, 8, 9), bool(top[i] > top.median()), digit in (1, 5, 7), digit < 5)
        rows.append(name + "".join(f" {1 if v else -1:2d}" for v in values))
    path = root / "list_attr_celeba.txt"
    path.write_text(f"{len(rows)}\n{' '.join(ATTRIBUTES)}\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="session")
def ema_run(tmp_path_factory):
    """The tiny run trained with `--ema 0.9`: its checkpoint holds an averaged G beside the
    trained one (read only, like ``tiny_run``)."""
    from ganlab.core.train import train

    out = tmp_path_factory.mktemp("ema-run") / "run"
    train(make_tiny_config(epochs=1, ema=0.9), out=out)
    return out


# --- real data sets ---------------------------------------------------------------------------

REQUIRE_REAL_DATA = "GANLAB_REQUIRE_REAL_DATA"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def real_data_or_skip(path: Path, package: str, what: str) -> Path:
    """Return ``path`` if it is a folder; else skip the test (fail it when
    GANLAB_REQUIRE_REAL_DATA=1) with a message naming the data and its install command."""
    path = Path(path)
    if path.is_dir():
        return path
    missing(
        f"{what} is missing ({path} does not exist): install it with `apt-get install {package}`"
    )


def missing(message: str):
    """Skip the test with `message`; fail it instead under GANLAB_REQUIRE_REAL_DATA=1 (CI)."""
    if os.environ.get(REQUIRE_REAL_DATA) == "1":  # CI: absent real data is an error
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def require_real_data():
    """The gate ``require_real_data(path, package, what) -> path`` every real-data fixture uses."""
    return real_data_or_skip


@pytest.fixture
def fashion_mnist_root() -> Path:
    """Debian's real Fashion-MNIST (package dataset-fashion-mnist), where ganlab looks for it
    when no --data-root is given; skips (fails under GANLAB_REQUIRE_REAL_DATA=1) when absent."""
    return real_data_or_skip(DEBIAN_FASHION_MNIST, "dataset-fashion-mnist", "Fashion-MNIST")


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium (package chromium), for the report's headless browser test; skips
    (fails under GANLAB_REQUIRE_REAL_DATA=1) when absent, like the real data sets."""
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return Path(shutil.which(name))
    missing("Chromium is missing (no chromium on PATH): install it with `apt-get install chromium`")


# --- sample grids -----------------------------------------------------------------------------

GRID_TILE = 16 + 2  # tiny runs render 16 px tiles with 2 px padding


def read_grid_tiles(path, rows: int, cols: int) -> np.ndarray:
    """(rows*cols, 16, 16) uint8 tiles of a tiny run's grid PNG, row-major."""
    arr = np.asarray(Image.open(path).convert("L"))
    assert arr.shape == (rows * GRID_TILE + 2, cols * GRID_TILE + 2)
    return np.stack(
        [
            arr[
                2 + r * GRID_TILE : r * GRID_TILE + GRID_TILE,
                2 + c * GRID_TILE : c * GRID_TILE + GRID_TILE,
            ]
            for r in range(rows)
            for c in range(cols)
        ]
    )


@pytest.fixture(scope="session")
def grid_tiles():
    """``grid_tiles(path, rows, cols)``: the (rows*cols, 16, 16) uint8 tiles of a grid PNG."""
    return read_grid_tiles


# --- datasets in their published on-disk formats (the ``dataset_files`` fixture) --------------
#
# Each ``write_*`` function creates files under ``root`` exactly as the dataset is distributed
# (or as torchvision lays it out) and returns the path to pass as ``--data-root``. Pixel content
# is deterministic: ``fixture_pixels`` for the array formats (exact round trip),
# ``fixture_colour`` for the lossy image formats (solid colours survive JPEG/webp and resizing).

TEST_OFFSET = 10_000  # test-split images use fixture indices from here, train ones from 0
FASHION_NAMES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
CIFAR_NAMES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip
CELEBA_BORDER = (250, 0, 250)  # colour outside the 108x108 centre crop of the CelebA fixture


def fixture_pixels(index: int, channels: int, height: int, width: int) -> np.ndarray:
    """Return the deterministic uint8 (channels, height, width) image number ``index``."""
    return np.random.default_rng(index).integers(0, 256, (channels, height, width), np.uint8)


def fixture_colour(index: int) -> tuple[int, int, int]:
    """Return the solid RGB colour of image number ``index`` in the lossy-format fixtures."""
    return (
        (40 + 67 * index) % 200 + 20,
        (90 + 41 * index) % 200 + 20,
        (150 + 29 * index) % 200 + 20,
    )


def _solid(index: int, width: int, height: int) -> Image.Image:
    return Image.new("RGB", (width, height), fixture_colour(index))


# --- CIFAR-10 ---------------------------------------------------------------------------------

_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(0))[0]


class _Python2Pickler(pickle._Pickler):  # type: ignore[name-defined]
    """Pickles as Python 2's cPickle did for the CIFAR-10 release: protocol 2, every str and
    bytes as a STRING opcode, numpy's reconstructor under ``numpy.core.multiarray``."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_py2_str(self, obj: str | bytes) -> None:
        data = obj.encode("ascii") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str

    def save_global(self, obj: Any, name: str | None = None) -> None:
        if obj is _RECONSTRUCT:
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)


def _dump(obj: Any, path: Path, py2: bool) -> None:
    with path.open("wb") as f:
        if py2:
            _Python2Pickler(f, protocol=2).dump(obj)
        else:
            pickle.dump(obj, f, protocol=2)


def cifar_batch(indices: list[int], name: str) -> dict[bytes, Any]:
    """Return a CIFAR batch dict of fixture images ``indices`` (labels: index % 10)."""
    data = np.stack([fixture_pixels(i, 3, 32, 32).reshape(3072) for i in indices])  # (N, 3072)
    return {
        b"batch_label": name.encode(),
        b"labels": [i % 10 for i in indices],
        b"data": data,
        b"filenames": [f"img_{i}.png".encode() for i in indices],
    }


def write_cifar10(root: Path, n_train: int = 10, n_test: int = 5, py2: bool = True) -> Path:
    """Write ``root/cifar-10-batches-py`` as in cifar-10-python.tar.gz.

    Args:
        root: where to write.
        n_train: training images, spread over data_batch_1..5 (fixture indices 0..n_train-1).
        n_test: test images in test_batch (fixture indices from TEST_OFFSET).
        py2: pickle as Python 2 did (the published files); False: Python 3's protocol 2.

    Returns:
        The data root.
    """
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for b, part in enumerate(np.array_split(np.arange(n_train), 5), start=1):
        batch = cifar_batch([int(i) for i in part], f"training batch {b} of 5")
        _dump(batch, folder / f"data_batch_{b}", py2)
    test = cifar_batch(list(range(TEST_OFFSET, TEST_OFFSET + n_test)), "testing batch 1 of 1")
    _dump(test, folder / "test_batch", py2)
    meta = {
        b"num_cases_per_batch": 10000,
        b"label_names": [n.encode() for n in CIFAR_NAMES],
        b"num_vis": 3072,
    }
    _dump(meta, folder / "batches.meta", py2)
    return Path(root)


# --- MNIST / Fashion-MNIST --------------------------------------------------------------------


def _idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist_idx(
    root: Path,
    n_train: int = 12,
    n_test: int = 6,
    gz: bool = True,
    subdir: str = "",
    side: int = 28,
) -> Path:
    """Write the four MNIST idx files (also Fashion-MNIST's format).

    Args:
        root: the data root.
        n_train: training images (fixture indices 0.., labels index % 10).
        n_test: test images (fixture indices from TEST_OFFSET).
        gz: gzip the files, as published.
        subdir: folder under root, e.g. "MNIST/raw" (torchvision) or "" (flat).
        side: image side; 28 as published, other values make a re-packed file.

    Returns:
        The data root.
    """
    folder = Path(root) / subdir if subdir else Path(root)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, start, n in (("train", 0, n_train), ("t10k", TEST_OFFSET, n_test)):
        indices = range(start, start + n)
        images = np.stack([fixture_pixels(i, 1, side, side)[0] for i in indices])
        labels = np.array([i % 10 for i in indices], dtype=np.uint8)
        for name, data in (
            (f"{prefix}-images-idx3-ubyte", _idx_bytes(images, 0x803)),
            (f"{prefix}-labels-idx1-ubyte", _idx_bytes(labels, 0x801)),
        ):
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
    return Path(root)


# --- SVHN -------------------------------------------------------------------------------------


def write_svhn(root: Path, n_train: int = 10, n_test: int = 5, n_extra: int = 0) -> Path:
    """Write ``{train,test,extra}_32x32.mat`` as published (X (32,32,3,N), y (N,1), 10 = digit 0).

    Fixture indices: train 0.., test TEST_OFFSET.., extra 2*TEST_OFFSET..; digit = index % 10.

    Returns:
        The data root.
    """
    from scipy.io import savemat

    Path(root).mkdir(parents=True, exist_ok=True)
    for split, start, n in (
        ("train", 0, n_train),
        ("test", TEST_OFFSET, n_test),
        ("extra", 2 * TEST_OFFSET, n_extra),
    ):
        if n == 0:
            continue
        indices = range(start, start + n)
        x = np.stack([fixture_pixels(i, 3, 32, 32).transpose(1, 2, 0) for i in indices], axis=3)
        y = np.array([[i % 10 or 10] for i in indices], dtype=np.uint8)  # (N, 1)
        savemat(Path(root) / f"{split}_32x32.mat", {"X": x, "y": y})
    return Path(root)


# --- LSUN -------------------------------------------------------------------------------------


def lsun_key(index: int) -> bytes:
    """Return the 40-hex-character key of LSUN fixture image ``index``."""
    return hashlib.sha1(f"lsun-{index}".encode()).hexdigest().encode()


def write_lsun(
    root: Path,
    category: str = "bedroom",
    n: int = 8,
    fmt: str = "webp",
    split: str = "train",
    size: tuple[int, int] = (96, 72),
) -> Path:
    """Write ``root/{category}_{split}_lmdb`` as the LSUN tools publish it.

    Args:
        root: the data root.
        category: scene name.
        n: images; image i is a solid ``fixture_colour(i)`` under key ``lsun_key(i)``.
        fmt: Pillow format of the values ("webp" as published, "jpeg", "png").
        split: "train" or "val".
        size: (width, height) of every image.

    Returns:
        The data root.
    """
    import lmdb

    folder = Path(root) / f"{category}_{split}_lmdb"
    folder.mkdir(parents=True, exist_ok=True)
    env = lmdb.open(str(folder), map_size=1 << 26)
    with env.begin(write=True) as txn:
        for i in range(n):
            buffer = _encode(_solid(i, *size), fmt)
            txn.put(lsun_key(i), buffer)
    env.close()
    return Path(root)


def _encode(img: Image.Image, fmt: str) -> bytes:
    import io

    out = io.BytesIO()
    img.save(out, format=fmt, quality=95)
    return out.getvalue()


# --- CelebA -----------------------------------------------------------------------------------


def write_celeba(root: Path, n: int = 4, nested: bool = False) -> Path:
    """Write ``img_align_celeba/000001.jpg ...``: 178x218 JPEGs whose 108x108 centre crop is
    ``fixture_colour(i)`` (i from 0) and whose border is CELEBA_BORDER.

    Args:
        root: the data root.
        n: images.
        nested: use torchvision's ``celeba/img_align_celeba`` instead.

    Returns:
        The data root.
    """
    folder = Path(root) / ("celeba/img_align_celeba" if nested else "img_align_celeba")
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = Image.new("RGB", (178, 218), CELEBA_BORDER)
        img.paste(fixture_colour(i), (35, 55, 35 + 108, 55 + 108))
        img.save(folder / f"{i + 1:06d}.jpg", quality=95)
    (folder.parent / "list_attr_celeba.txt").write_text(f"{n}\n")  # ignored, as in the release
    return Path(root)


# --- ImageNet ---------------------------------------------------------------------------------


def write_imagenet(
    root: Path,
    classes: tuple[str, ...] = ("n01440764", "n01443537", "n01484850"),
    per_class: int = 2,
    splits: tuple[str, ...] = ("train", "val"),
) -> Path:
    """Write ``{split}/<wnid>/*.JPEG`` class folders; class c's images are ``fixture_colour(c)``.

    Returns:
        The data root.
    """
    for split in splits:
        for c, wnid in enumerate(classes):
            folder = Path(root) / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for j in range(per_class):
                name = f"{wnid}_{j}.JPEG" if split == "train" else f"ILSVRC2012_val_{c}{j:07d}.JPEG"
                _solid(c, 50 + 10 * j, 40).save(folder / name, format="JPEG", quality=95)
    return Path(root)


# --- any folder -------------------------------------------------------------------------------

_FOLDER_FORMATS = (
    ("png", "PNG"),
    ("JPG", "JPEG"),
    ("bmp", "BMP"),
    ("webp", "WEBP"),
    ("gif", "GIF"),
)


def write_folder(
    root: Path, n: int = 6, classes: tuple[str, ...] | None = None, corrupt: int = 1
) -> Path:
    """Write a tree of images in mixed formats, plus ``corrupt`` random-byte ``.jpg`` files.

    Unlabelled (classes None): image 0 directly in root, the others in nested subfolders.
    Labelled: ``n`` images per class under ``root/<class>/``, some one level deeper; class c's
    images are ``fixture_colour(c)``. Corrupt files go in root (unlabelled) or the first class.

    Returns:
        The data root.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if classes is None:
        for i in range(n):
            sub = root if i == 0 else root / f"part{i % 2}" / ("deeper" if i % 3 == 0 else "")
            _save_mixed(sub, f"img_{i}", i)
        corrupt_dir = root
    else:
        for c, name in enumerate(classes):
            for j in range(n):
                sub = root / name / ("more" if j % 2 else "")
                _save_mixed(sub, f"{name}_{j}", c)
        corrupt_dir = root / classes[0]
    rng = np.random.default_rng(1)
    for k in range(corrupt):
        (corrupt_dir / f"corrupt_{k}.jpg").write_bytes(
            rng.integers(0, 256, 300, np.uint8).tobytes()
        )
    (root / "notes.txt").write_text("not an image\n")
    return root


def _save_mixed(folder: Path, stem: str, colour_index: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ext, fmt = _FOLDER_FORMATS[sum(map(ord, stem)) % len(_FOLDER_FORMATS)]
    _solid(colour_index, 40, 30).save(folder / f"{stem}.{ext}", format=fmt)


@pytest.fixture(scope="session")
def dataset_files() -> SimpleNamespace:
    """Writers of tiny datasets in their real published on-disk formats, and their contents.

    ``write_mnist_idx`` (also Fashion-MNIST), ``write_cifar10``, ``write_svhn``, ``write_lsun``,
    ``write_celeba``, ``write_imagenet``, ``write_folder``: ``(root, ...) -> data root``.
    ``fixture_pixels(i, c, h, w)``, ``fixture_colour(i)``, ``lsun_key(i)``, ``cifar_batch``:
    what image ``i`` holds; ``TEST_OFFSET``, ``FASHION_NAMES``, ``CIFAR_NAMES``,
    ``CELEBA_BORDER``: the constants the writers use.
    """
    return SimpleNamespace(
        TEST_OFFSET=TEST_OFFSET,
        FASHION_NAMES=FASHION_NAMES,
        CIFAR_NAMES=CIFAR_NAMES,
        CELEBA_BORDER=CELEBA_BORDER,
        fixture_pixels=fixture_pixels,
        fixture_colour=fixture_colour,
        lsun_key=lsun_key,
        cifar_batch=cifar_batch,
        write_cifar10=write_cifar10,
        write_mnist_idx=write_mnist_idx,
        write_svhn=write_svhn,
        write_lsun=write_lsun,
        write_celeba=write_celeba,
        write_imagenet=write_imagenet,
        write_folder=write_folder,
    )


# --- image-quality metrics (the ``inception`` fixture) ----------------------------------------


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test downloads anything: the Inception weights must come from a fixture."""
    monkeypatch.setenv("GANLAB_OFFLINE", "1")


def random_inception_state_dict(seed: int = 0) -> dict:
    from ganlab.core.inception import random_state_dict

    return random_state_dict(seed)


@pytest.fixture(scope="session")
def inception_weights_file(tmp_path_factory) -> Path:
    """A random-weights FID Inception .pth (95 MB), written once per session."""
    path = tmp_path_factory.mktemp("inception") / "inception-random.pth"
    torch.save(random_inception_state_dict(), path)
    return path


@pytest.fixture
def inception(inception_weights_file, tmp_path, monkeypatch):
    """``weights`` (random, seeded) and ``cache`` (an empty reference cache, also
    $GANLAB_CACHE_DIR); the network sees 75 px inputs instead of 299 px (its smallest valid
    size, ~16x faster on a CPU; ganlab and torch-fidelity alike, so comparisons still hold).
    BLAS runs one thread: FID's 2048x2048 eigenproblem is ~5x slower with two threads
    spin-waiting on a shared, loaded CPU."""
    from threadpoolctl import threadpool_limits
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    monkeypatch.setattr(FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", 75)
    cache = tmp_path / "reference-cache"
    monkeypatch.setenv("GANLAB_CACHE_DIR", str(cache))
    monkeypatch.delenv("GANLAB_INCEPTION_WEIGHTS", raising=False)
    with threadpool_limits(1, user_api="blas"):
        yield SimpleNamespace(weights=inception_weights_file, cache=cache)
