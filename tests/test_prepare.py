import h5py
import numpy as np
import pytest
import torch

import ganlab.experiments.prepare as prepare_mod
from ganlab.core.train import train
from ganlab.data import load_dataset
from ganlab.data.batches import batches
from ganlab.data.prepared import PreparedDataset, open_prepared
from ganlab.errors import DatasetError, GanlabError
from ganlab.experiments.prepare import prepare
from ganlab.io.checkpoint import load_checkpoint


@pytest.fixture
def folder(tmp_path, dataset_files):
    return dataset_files.write_folder(tmp_path / "pics", n=40, corrupt=3)


def test_prepare_folder_skips_corrupt_and_matches_decoding(folder, tmp_path):
    out = tmp_path / "cache.h5"
    result = prepare("folder", out, data_root=folder, image_size=16, workers=2, batch_size=8)
    assert out.is_file() and not (tmp_path / "cache.h5.partial").exists()
    assert result.skipped == 3 and result.images == 40
    source = load_dataset("folder", folder, image_size=16)
    cache = open_prepared(out, dataset="folder")
    assert len(cache) == 40 and cache.image_size == 16 and cache.channels == 3
    decoded = [source[i] for i in range(len(source))]
    good = [item for item in decoded if item is not None]
    assert torch.equal(cache.images, torch.stack([img for img, _ in good]))
    with h5py.File(out) as f:
        assert f.attrs["dataset"] == "folder" and f.attrs["skipped"] == 3
        assert "done" not in f.attrs


def test_interrupted_prepare_resumes(folder, tmp_path, monkeypatch):
    straight = tmp_path / "straight.h5"
    prepare("folder", straight, data_root=folder, image_size=16, workers=0, batch_size=8)
    real_batches = prepare_mod.batches

    def dying_batches(*args, **kwargs):
        for i, batch in enumerate(real_batches(*args, **kwargs)):
            if i == 3:
                raise KeyboardInterrupt  # Ctrl-C after three chunks were committed
            yield batch

    out = tmp_path / "cache.h5"
    monkeypatch.setattr(prepare_mod, "batches", dying_batches)
    with pytest.raises(KeyboardInterrupt):
        prepare("folder", out, data_root=folder, image_size=16, workers=0, batch_size=8)
    assert not out.exists() and (tmp_path / "cache.h5.partial").exists()
    monkeypatch.setattr(prepare_mod, "batches", real_batches)
    # a different request must not be mixed into the unfinished file
    with pytest.raises(GanlabError, match="different options"):
        prepare("folder", out, data_root=folder, image_size=32, workers=0, batch_size=8)
    result = prepare("folder", out, data_root=folder, image_size=16, workers=0, batch_size=8)
    assert result.resumed_from == 24
    with h5py.File(out) as a, h5py.File(straight) as b:
        for key in ("images", "labels", "valid"):
            np.testing.assert_array_equal(a[key][:], b[key][:])


def test_training_on_cache_equals_training_on_source(tmp_path, tiny_config, quiet):
    prepare("digits", tmp_path / "digits.h5", split="all", image_size=16)
    train(tiny_config(max_steps=6), out=tmp_path / "src", reporter=quiet)
    train(
        tiny_config(max_steps=6, data=str(tmp_path / "digits.h5")),
        out=tmp_path / "cache",
        reporter=quiet,
    )
    a = load_checkpoint(tmp_path / "src").state["generator"]
    b = load_checkpoint(tmp_path / "cache").state["generator"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_large_cache_is_read_lazily_in_workers(folder, tmp_path):
    out = tmp_path / "cache.h5"
    prepare("folder", out, data_root=folder, image_size=16, workers=0)
    lazy = open_prepared(out, in_memory=False)
    whole = open_prepared(out, in_memory=True)
    assert isinstance(lazy, PreparedDataset) and not hasattr(lazy, "images")
    images = torch.cat([b.images for b in batches(lazy, batch_size=10, workers=2)])
    assert torch.equal(images, whole.images)


def test_bad_caches_are_refused(folder, tmp_path):
    out = tmp_path / "cache.h5"
    prepare("folder", out, data_root=folder, image_size=16, workers=0)
    with pytest.raises(DatasetError, match="holds dataset 'folder'"):
        open_prepared(out, dataset="lsun")
    with pytest.raises(DatasetError, match="image_size"):
        open_prepared(out, image_size=32)
    truncated = tmp_path / "cut.h5"
    truncated.write_bytes(out.read_bytes()[:1000])
    with pytest.raises(DatasetError, match="truncated"):
        open_prepared(truncated)
    with pytest.raises(DatasetError, match="does not exist"):
        open_prepared(tmp_path / "none.h5")
    with pytest.raises(GanlabError, match="already exists"):
        prepare("folder", out, data_root=folder, image_size=16, workers=0)
