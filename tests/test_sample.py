import io
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.core.generate import generate
from ganlab.core.nets import load_discriminator
from ganlab.core.seeds import z_from_seeds
from ganlab.errors import GanlabError
from ganlab.experiments.sample import sample
from ganlab.io.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def run(tiny_run):
    return tiny_run  # read only: every test writes its samples under its own tmp_path


def test_grid_png_matches_training_grid(run, tmp_path):
    # the per-epoch grid uses seeds 0-15 with G in eval mode: `sample` must reproduce it exactly
    sample(run, list(range(16)), str(tmp_path / "g.png"))
    assert (tmp_path / "g.png").read_bytes() == (run / "samples" / "epoch-0001.png").read_bytes()


def test_grid_size_and_annotation(run, tmp_path):
    sample(run, list(range(10)), str(tmp_path / "g.png"), nrow=5)
    img = Image.open(tmp_path / "g.png")
    assert img.size == (5 * 18 + 2, 2 * 18 + 2)  # 16px tiles, 2px padding
    sample(run, list(range(10)), str(tmp_path / "a.png"), nrow=5, annotate=True)
    assert Image.open(tmp_path / "a.png").mode == "RGB"
    assert (tmp_path / "a.png").read_bytes() != (tmp_path / "g.png").read_bytes()


def test_image_depends_only_on_seed(run, tmp_path):
    ckpt = load_checkpoint(run)
    many = generate(ckpt, z_from_seeds([3, 42, 7], 16, "uniform"), batch_size=2)
    one = generate(ckpt, z_from_seeds([42], 16, "uniform"))
    torch.testing.assert_close(many[1], one[0])
    # ... and so do the files `sample` writes: seed 42's image is the same with other batch-mates
    sample(run, [3, 42, 7], str(tmp_path / "many.h5"))
    sample(run, [42], str(tmp_path / "one.h5"))
    with h5py.File(tmp_path / "many.h5") as f, h5py.File(tmp_path / "one.h5") as g:
        np.testing.assert_array_equal(f["images"][1], g["images"][0])


def test_array_outputs(run, tmp_path):
    sample(run, [5, 6, 9], str(tmp_path / "s.h5"))
    with h5py.File(tmp_path / "s.h5") as f:
        assert f["images"].shape == (3, 1, 16, 16) and f["images"].dtype == np.uint8
        assert list(f["seeds"][:]) == [5, 6, 9]
        assert f["z"].shape == (3, 16)
        assert len(f.attrs["checkpoint_sha256"]) == 64
        # seeds, not a latents file: no latent rows, no labels of an unconditional run
        assert "latent_index" not in f and "labels" not in f and "latents" not in f.attrs
    sample(run, [5, 6, 9], str(tmp_path / "s.npz"))
    data = np.load(tmp_path / "s.npz", allow_pickle=False)
    with h5py.File(tmp_path / "s.h5") as f:
        np.testing.assert_array_equal(data["images"], f["images"][:])
        np.testing.assert_array_equal(data["z"], f["z"][:])


def test_directory_output(run, tmp_path):
    sample(run, [1, 2, 30], str(tmp_path / "pngs"))
    names = sorted(p.name for p in (tmp_path / "pngs").iterdir())
    assert names == ["seed-1.png", "seed-2.png", "seed-30.png"]
    assert Image.open(tmp_path / "pngs" / "seed-30.png").size == (16, 16)
    with pytest.raises(GanlabError, match="not empty"):
        sample(run, [1], str(tmp_path / "pngs"))
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_png_to_stdout_in_a_pipeline(run):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ganlab",
            "sample",
            str(run),
            "--seeds",
            "0-3",
            "--out",
            "-",
            "--device",
            "cpu",
        ],
        capture_output=True,
        check=True,
    )
    img = Image.open(io.BytesIO(proc.stdout))
    assert img.format == "PNG" and img.size == (2 * 18 + 2, 2 * 18 + 2)


def test_sort_by_d_score_orders_by_d_and_keeps_each_seeds_image(run, tmp_path):
    from ganlab.experiments.sample import d_probabilities

    seeds = list(range(12))
    result = sample(run, seeds, str(tmp_path / "sorted.h5"), sort_by="d-score")
    plain = sample(run, seeds, str(tmp_path / "plain.h5"))
    assert plain.d_scores is None
    order = [s["seed"] for s in result.d_scores]
    scores = [s["d_score"] for s in result.d_scores]
    assert sorted(order) == seeds and scores == sorted(scores, reverse=True)
    ckpt = load_checkpoint(run)
    with h5py.File(tmp_path / "sorted.h5") as f, h5py.File(tmp_path / "plain.h5") as g:
        assert list(f["seeds"][:]) == order
        np.testing.assert_array_equal(f["images"][:], g["images"][:][order])
        # the scores are D's on the written images, recomputed independently here
        x = torch.from_numpy(g["images"][:]).float() / 127.5 - 1
        with torch.no_grad():
            p = torch.sigmoid(load_discriminator(ckpt)(x))
    np.testing.assert_allclose(scores, p[order].numpy(), rtol=1e-5)
    assert d_probabilities(ckpt, x, None, "cpu", 5).shape == (12,)
    with pytest.raises(GanlabError, match="--sort-by"):
        sample(run, seeds, str(tmp_path / "x.png"), sort_by="fid")
