"""Feature extraction (pooling, layers, grid, BatchNorm statistics) and the HDF5 feature store."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from ganlab.core.features import (
    extract_features,
    feature_dim,
    pool_features,
    random_discriminator,
    recompute_bn_stats,
)
from ganlab.core.models import ModelConfig
from ganlab.io.featstore import FeatureFile, FeatureStoreError, FeatureWriter, differences


def _images(n: int, channels: int, size: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8)


@pytest.mark.parametrize(
    "cfg, layers, grid, expected",
    [
        # dcgan D: channels ndf * (1, 2, 4, 8, 8...) at S/2, S/4, ... down to 4x4
        (ModelConfig(16, 1, 16, 8, 8), None, 4, (8 + 16) * 16),
        (
            ModelConfig(32, 3, 16, 8, 8),
            None,
            4,
            (8 + 16 + 32) * 16,
        ),  # authors' SVHN D at ndf 64: 7168
        (ModelConfig(64, 3, 16, 8, 8), None, 2, (8 + 16 + 32 + 64) * 4),
        (ModelConfig(128, 1, 16, 4, 4), [0, 4], 3, (4 + 32) * 9),  # widths capped at 8 * ndf
        (ModelConfig(32, 3, 16, 8, 8), [2], 8, 32 * 64),  # a 4x4 map under an 8x8 grid: upsampled
    ],
)
def test_feature_dim_matches_formula_and_forward(cfg, layers, grid, expected):
    D = random_discriminator(cfg)
    assert feature_dim(D, layers, grid) == expected
    feats = next(
        extract_features(D, iter([_images(2, cfg.channels, cfg.image_size)]), layers, grid)
    )
    assert feats.shape == (2, expected)


def test_paper_probe_d_has_28672_features():
    """The paper's imagenet32 D (ndf 128): 16 x (128+128+256+256+512+512) = 28672."""
    cfg = ModelConfig(image_size=32, channels=3, nz=256, ngf=128, ndf=128, arch="imagenet32")
    D = random_discriminator(cfg)
    assert [s[0] for s in D.feature_shapes()] == [128, 128, 256, 256, 512, 512]
    assert feature_dim(D) == 28672
    assert next(extract_features(D, iter([_images(1, 3, 32)]))).shape == (1, 28672)
    # the authors' SVHN script's 3-layer D (64, 128, 256 at 16, 8, 4 px): 7168
    assert feature_dim(random_discriminator(ModelConfig(32, 3, 100, 64, 64))) == 7168


def test_layers_and_grid_select_what_they_say():
    D = random_discriminator(ModelConfig(32, 1, 16, 8, 8))
    x = _images(3, 1, 32)
    full = next(extract_features(D, iter([x]), None, 4))  # (3, (8+16+32)*16)
    only_mid = next(extract_features(D, iter([x]), [1], 4))
    assert torch.equal(only_mid, full[:, 8 * 16 : (8 + 16) * 16])  # layer 1's slice, in order
    # a 1x1 grid is the max over each channel, i.e. the max over its 2x2-grid cells
    g2 = next(extract_features(D, iter([x]), [0], 2)).view(3, 8, 4)
    g1 = next(extract_features(D, iter([x]), [0], 1))
    assert torch.equal(g1, g2.amax(2))
    with torch.no_grad():
        _, maps = D(torch.zeros(1, 1, 32, 32), features=True)
    assert pool_features(maps, [2], 4).shape == (1, 32 * 16)


def test_recomputed_bn_stats_are_the_data_statistics():
    D = random_discriminator(ModelConfig(32, 1, 16, 8, 8))
    x = _images(256, 1, 32, seed=1)
    running = next(extract_features(D, iter([x[:4]])))
    bn = D.blocks[1][1]
    momentum = bn.momentum
    assert recompute_bn_stats(D, iter([x[:128], x[128:]])) == 2
    assert not D.training and bn.momentum == momentum
    recomputed = next(extract_features(D, iter([x[:4]])))
    assert not torch.allclose(running, recomputed, atol=1e-3)  # init stats (0, 1) are replaced
    # with the statistics of the data itself, eval-mode features ~ train-mode (batch) ones
    D2 = random_discriminator(ModelConfig(32, 1, 16, 8, 8))
    recompute_bn_stats(D2, iter([x]))
    eval_feats = next(extract_features(D2, iter([x])))
    D2.train()
    batch_feats = next(extract_features(D2, iter([x])))
    assert torch.allclose(eval_feats, batch_feats, rtol=0.02, atol=0.02)


# --- the store --------------------------------------------------------------------------------

ATTRS = {
    "source": "checkpoint",
    "checkpoint_sha256": "ab" * 32,
    "init_seed": -1,
    "dataset": "digits",
    "image_size": 16,
    "channels": 1,
    "layers": [0, 1],
    "grid": 4,
    "bn_stats": "recompute",
    "feature_dim": 6,
    "splits": ["train", "test"],
    "class_names": ["a", "b"],
}


def _write(path, n=10, dtype="float32", attrs=ATTRS, stop_after=None):
    """Write rows whose values encode (split, row); stop_after: interrupt after that many."""
    w = FeatureWriter(path, attrs, dtype)
    written = 0
    try:
        for s, split in enumerate(attrs["splits"]):
            w.begin(split, n, split)
            start = w.items_done(split)
            for i in range(start, n, 3):
                if stop_after is not None and written >= stop_after:
                    raise KeyboardInterrupt
                rows = torch.arange(i, min(n, i + 3))
                feats = (100 * s + rows[:, None] + torch.arange(6) / 8).float()
                w.append(split, feats, rows % 2, len(rows))
                written += 1
            w.finish(split)
        w.publish()
    finally:
        w.close()


def test_store_round_trip_with_attributes(tmp_path):
    path = tmp_path / "f.h5"
    _write(path, dtype="float16")
    assert not (tmp_path / ".f.h5.partial").exists()
    with FeatureFile(path) as f:
        assert f.attrs["layers"] == [0, 1] and f.attrs["dtype"] == "float16"
        assert f.attrs["ganlab_version"] and f.attrs["checkpoint_sha256"] == "ab" * 32
        assert f.h5["train/features"].dtype == np.float16
        assert f.h5["train/features"].chunks[1] == 6  # chunked by whole rows
        X = f.load("test", torch.tensor([7, 2]))
        assert torch.equal(X[:, 0], torch.tensor([107.0, 102.0]))
        assert f.labels("train").tolist() == [i % 2 for i in range(10)]


def test_load_gives_the_rows_asked_for_in_their_order(tmp_path, monkeypatch):
    """Rows in any order, across blocks, some blocks with no row wanted; into a given `out`."""
    from ganlab.io import featstore

    path = tmp_path / "f.h5"
    _write(path)
    monkeypatch.setattr(featstore, "READ_ROWS_BYTES", 4 * 6 * 3)  # blocks of 3 rows
    with FeatureFile(path) as f:
        assert f.block_rows() == 3
        index = torch.tensor([9, 0, 4, 3, 8])  # rows 6-7 (one block's) not wanted
        X = f.load("train", index)
        assert torch.equal(X[:, 0], index.float())  # column 0 of train holds the row number
        out = torch.full((5, 6), -1.0)
        assert f.load("train", index, out=out) is out and torch.equal(out, X)
        assert torch.equal(f.load("train")[:, 0], torch.arange(10).float())


def test_interrupted_write_resumes_to_the_same_file(tmp_path):
    straight, resumed = tmp_path / "a.h5", tmp_path / "b.h5"
    _write(straight)
    with pytest.raises(KeyboardInterrupt):
        _write(resumed, stop_after=5)  # train done (4 batches), 1 test batch written
    assert not resumed.exists() and (tmp_path / ".b.h5.partial").exists()
    messages = []
    w = FeatureWriter(resumed, ATTRS, log=messages.append)
    assert "resuming" in messages[0] and w.items_done("test") == 3 and w.is_complete("train")
    w.close()
    _write(resumed)
    with FeatureFile(straight) as a, FeatureFile(resumed) as b:
        for split in ("train", "test"):
            assert torch.equal(a.load(split), b.load(split))


def test_partial_file_of_another_request_is_discarded(tmp_path):
    path = tmp_path / "f.h5"
    with pytest.raises(KeyboardInterrupt):
        _write(path, stop_after=2)
    messages = []
    w = FeatureWriter(path, {**ATTRS, "grid": 2}, log=messages.append)
    assert "different request" in messages[0] and w.items_done("train") == 0
    w.close()


def test_differences_name_what_differs():
    stored = dict(ATTRS)
    assert differences(stored, dict(ATTRS)) == []
    diff = differences(stored, {**ATTRS, "grid": 2, "layers": [0]})
    assert diff == ["layers [0, 1] (asked for [0])", "grid 4 (asked for 2)"]
    assert differences(stored, {"dataset": None, "grid": 4}) == []  # None: not asked


def test_truncated_or_corrupt_file_is_a_clear_error(tmp_path):
    path = tmp_path / "f.h5"
    _write(path, n=300)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FeatureStoreError, match="truncated or corrupt"):
        FeatureFile(path)
    path.write_bytes(b"not hdf5 at all" * 100)
    with pytest.raises(FeatureStoreError, match="truncated or corrupt"):
        FeatureFile(path)
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(FeatureStoreError, match="not a ganlab features file"):
        FeatureFile(tmp_path / "other.h5")
    with pytest.raises(FeatureStoreError, match="does not exist"):
        FeatureFile(tmp_path / "missing.h5")


def test_damaged_split_is_reported(tmp_path):
    path = tmp_path / "f.h5"
    _write(path)
    with h5py.File(path, "a") as f:
        del f["test/labels"]
    with pytest.raises(FeatureStoreError, match="damaged: split 'test'"):
        FeatureFile(path)
