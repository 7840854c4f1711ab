"""`ganlab dedup` (paper section 4.1.1): hashing, grouping, resume, LMDB streaming, --exclude."""

import io
import json

import h5py
import lmdb
import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.data import InMemoryDataset, load_dataset
from ganlab.data.exclusion import kept_indices
from ganlab.errors import GanlabError
from ganlab.experiments.dedup import DedupConfig, find_duplicates, group_codes


@pytest.fixture(scope="module")
def digits32():
    return load_dataset("digits", split="all", image_size=32)


def with_copies(base, n_exact=20, n_near=20, seed=0):
    """digits + exact copies + copies with +-3 grey-level noise, appended after the originals."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randperm(len(base), generator=g)[: n_exact + n_near]
    exact = base.images[src[:n_exact]]
    near = base.images[src[n_exact:]].int()
    near = (near + torch.randint(-3, 4, near.shape, generator=g)).clamp(0, 255).to(torch.uint8)
    images = torch.cat([base.images, exact, near])
    data = InMemoryDataset(
        base.info,
        images,
        torch.zeros(len(images)),
        class_names=[],
        root=None,
        split="all",
        image_size=32,
        channels=1,
        source=None,
    )
    return data, src.numpy()


def read(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][:] for k in ("codes", "weakest", "readable", "group", "exclude")}


def test_group_codes_identical_codes_and_probes():
    codes = np.zeros((5, 2), np.uint8)
    codes[0] = codes[1] = [0b10100000, 0b00000001]
    codes[2] = [0b10110000, 0b00000001]  # image 0 with bit 3 flipped
    codes[3] = codes[4] = [0b01000000, 0b11000000]
    weakest = np.array([[9], [9], [3], [0], [0]], np.uint8)
    readable = np.array([True, True, True, True, False])
    assert group_codes(codes, weakest[:, :0], readable).tolist() == [0, 0, -1, -1, -1]
    # image 2's weakest bit is bit 3: flipping it finds image 0's code
    assert group_codes(codes, weakest, readable).tolist() == [0, 0, 0, -1, -1]


def test_finds_injected_copies(digits32, tmp_path):
    data, src = with_copies(digits32)
    n = len(digits32)
    result = find_duplicates(
        data, tmp_path / "d.h5", DedupConfig(epochs=3), sheet=tmp_path / "d.png"
    )
    out = read(tmp_path / "d.h5")
    group = out["group"]
    exact = [group[n + k] >= 0 and group[n + k] == group[src[k]] for k in range(20)]
    near = [group[n + 20 + k] >= 0 and group[n + 20 + k] == group[src[20 + k]] for k in range(20)]
    assert all(exact)
    assert np.mean(near) >= 0.8
    # originals grouped with something other than their own copies: false positives
    copied = set(src.tolist())
    false_pos = [i for i in range(n) if group[i] >= 0 and i not in copied]
    assert len(false_pos) / n < 0.02
    # the copies come later, so the exclusion list is (mostly) the copies
    assert set(range(n, n + 20)) <= set(out["exclude"].tolist())
    assert result.excluded == len(out["exclude"])
    assert out["codes"].shape == (len(data), 16)
    assert Image.open(tmp_path / "d.png").size[0] == 2 + 8 * (64 + 2)
    assert not (tmp_path / "d.h5.partial").exists()


def test_resume_after_interruptions_equals_straight_run(digits32, tmp_path, monkeypatch):
    import ganlab.experiments.dedup as dedup

    data, _ = with_copies(digits32, 5, 5)
    cfg = DedupConfig(epochs=3, batch_size=128)
    find_duplicates(data, tmp_path / "straight.h5", cfg, chunk=512)

    # 1) killed in the autoencoder's 2nd epoch, 2) killed after the first hashed chunk
    real_loss, calls = dedup.Autoencoder.loss, {"n": 0}

    def dying_loss(self, *args):
        calls["n"] += 1
        if calls["n"] == 20:  # 15 steps per epoch
            raise KeyboardInterrupt
        return real_loss(self, *args)

    monkeypatch.setattr(dedup.Autoencoder, "loss", dying_loss)
    with pytest.raises(KeyboardInterrupt):
        find_duplicates(data, tmp_path / "r.h5", cfg, chunk=512)
    monkeypatch.undo()
    real_encode, encodes = dedup.encode, {"n": 0}

    def dying_encode(*args):
        encodes["n"] += 1
        if encodes["n"] == 6:  # 4 batches per chunk: dies in the second chunk
            raise KeyboardInterrupt
        return real_encode(*args)

    monkeypatch.setattr(dedup, "encode", dying_encode)
    with pytest.raises(KeyboardInterrupt):
        find_duplicates(data, tmp_path / "r.h5", cfg, chunk=512)
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "r.h5.partial").iterdir()) == [
        "autoencoder.pt",
        "codes-000000000000.npz",
        "job.json",
    ]
    result = find_duplicates(data, tmp_path / "r.h5", cfg, chunk=512)
    assert result.resumed
    straight, resumed = read(tmp_path / "straight.h5"), read(tmp_path / "r.h5")
    for key in straight:
        np.testing.assert_array_equal(straight[key], resumed[key], err_msg=key)


def test_resume_refuses_other_options(digits32, tmp_path, monkeypatch):
    import ganlab.experiments.dedup as dedup

    monkeypatch.setattr(dedup, "encode", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        find_duplicates(digits32, tmp_path / "d.h5", DedupConfig(epochs=1))
    monkeypatch.undo()
    with pytest.raises(GanlabError, match="other options"):
        find_duplicates(digits32, tmp_path / "d.h5", DedupConfig(epochs=2))


def write_digit_lmdb(root, images, copies):
    """LSUN-layout LMDB of PNG-encoded digits; `copies` (i, j): image i's bytes again as j."""
    folder = root / "bedroom_train_lmdb"
    folder.mkdir(parents=True)
    values = []
    for img in images:
        buf = io.BytesIO()
        Image.fromarray(img[0].numpy()).save(buf, format="PNG")
        values.append(buf.getvalue())
    values += [values[i] for i, _ in copies]
    env = lmdb.open(str(folder), map_size=1 << 26)
    keys = [f"{k:040x}".encode() for k in np.random.default_rng(0).permutation(len(values))]
    with env.begin(write=True) as txn:
        for key, value in zip(keys, values, strict=True):
            txn.put(key, value)
    env.close()
    return keys


def test_cli_streams_lmdb_and_train_excludes(digits32, tmp_path, tiny_config, cli):
    distinct, n_copies = 150, 42
    copies = [(i, distinct + i) for i in range(n_copies)]
    keys = write_digit_lmdb(tmp_path / "lsun", digits32.images[:distinct], copies)
    out = tmp_path / "dups.h5"
    result = cli(
        "dedup",
        "lsun",
        "--data-root",
        tmp_path / "lsun",
        "--channels",
        "1",
        "--out",
        out,
        "--epochs",
        "2",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--quiet",
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["images"] == distinct + n_copies and summary["excluded"] >= n_copies
    assert (tmp_path / "dups.png").is_file()
    with h5py.File(out, "r") as f:
        excluded_keys = set(f["exclude_ids"][:].tolist())
        assert f.attrs["dataset_name"] == "lsun" and f.attrs["dataset_category"] == "bedroom"
    for i, j in copies:  # exactly one of each identical pair goes
        assert (keys[i] in excluded_keys) != (keys[j] in excluded_keys)

    # training honours the list: 192 images are 3 batches of 64, without the copies only 2
    data = load_dataset("lsun", tmp_path / "lsun", channels=1, image_size=16)
    assert len(kept_indices(out, data)) == distinct + n_copies - summary["excluded"]
    from ganlab.core.train import train

    cfg = tiny_config(
        dataset="lsun",
        data_root=str(tmp_path / "lsun"),
        split="train",
        channels=1,
        exclude=str(out),
    )
    run = train(cfg, out=tmp_path / "run")
    assert run.step == 2
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["steps_per_epoch"] == 2 and config["config"]["exclude"] == str(out)


def test_train_refuses_a_list_for_another_dataset(digits32, tmp_path, cli):
    data, _ = with_copies(digits32, 3, 0)
    find_duplicates(data, tmp_path / "d.h5", DedupConfig(epochs=1), sheet=None)
    result = cli(
        "train",
        "digits",
        "--exclude",
        tmp_path / "d.h5",
        "--out",
        tmp_path / "run",
        "--device",
        "cpu",
        "--max-steps",
        "1",
    )
    assert result.exit_code == 1
    assert "was made for digits all (1800 images)" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()
    result = cli("train", "digits", "--exclude", tmp_path / "missing.h5", "--out", tmp_path / "run")
    assert result.exit_code == 1 and "ganlab dedup" in result.stderr


def test_cli_empty_or_unreadable_dataset(tmp_path, cli):
    (tmp_path / "empty").mkdir()
    result = cli(
        "dedup",
        "folder",
        "--data-root",
        tmp_path / "empty",
        "--out",
        tmp_path / "d.h5",
        "--device",
        "cpu",
        "--workers",
        "0",
    )
    assert result.exit_code == 1
    assert "No image files found" in result.stderr and "Traceback" not in result.output
    (tmp_path / "bad").mkdir()
    for k in range(3):
        (tmp_path / "bad" / f"x{k}.jpg").write_bytes(bytes(range(200)))
    result = cli(
        "dedup",
        "folder",
        "--data-root",
        tmp_path / "bad",
        "--out",
        tmp_path / "d.h5",
        "--device",
        "cpu",
        "--workers",
        "0",
    )
    assert result.exit_code == 1
    assert "readable images" in result.stderr and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "empty"]  # nothing written
    result = cli("dedup", "digits", "--out", "d.txt")
    assert result.exit_code == 2 and "not an .h5 file" in result.stderr
