"""`ganlab neighbors` (Figs. 2-3): exact nearest training images, and a copying G is caught."""

import json

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ganlab.core.features import pool_features
from ganlab.core.models import Discriminator, ModelConfig
from ganlab.core.nets import load_generator
from ganlab.core.seeds import z_from_seeds
from ganlab.data import load_dataset
from ganlab.experiments.neighbors import nearest_training
from ganlab.io.checkpoint import load_checkpoint, save_checkpoint
from ganlab.io.images import to_unit


@pytest.fixture(scope="module")
def run(tiny_run):
    return tiny_run  # read only: the copying G and the sheets are written elsewhere


@pytest.fixture(scope="module")
def copying_run(run, tmp_path_factory):
    """The tiny run with G overfitted so that seed 0 draws training image TARGET."""
    ckpt = load_checkpoint(run)
    data = load_dataset("digits", split="all", image_size=16, channels=1)
    target = to_unit(data.images[TARGET : TARGET + 1])  # (1, 1, 16, 16)
    G = load_generator(ckpt)  # eval mode: BatchNorm uses its running statistics
    z = z_from_seeds([0], ckpt.model_config.nz, ckpt.z_dist)
    opt = torch.optim.Adam(G.parameters(), lr=0.01)
    torch.manual_seed(0)
    for _ in range(300):
        loss = F.mse_loss(G(z), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    path = tmp_path_factory.mktemp("copy") / "copy.pt"
    save_checkpoint(path, {**ckpt.state, "generator": G.state_dict()})
    return path


TARGET = 123


def test_exact_neighbours_match_brute_force():
    data = load_dataset("digits", split="all", image_size=16, channels=1)
    torch.manual_seed(0)
    D = Discriminator(ModelConfig(image_size=16, channels=1, ndf=8)).eval()
    queries = torch.cat([to_unit(data.images[[5, 700]]), torch.rand(3, 1, 16, 16) * 2 - 1])
    found, seen = nearest_training(D, queries, data, k=4, reference=50, batch_size=100)
    assert seen == len(data)
    with torch.no_grad():
        x = to_unit(data.images)
        train_pix = x.flatten(1).double()
        train_feat = F.normalize(pool_features(D(x, features=True)[1]).double(), dim=1)
        q_feat = F.normalize(pool_features(D(queries, features=True)[1]).double(), dim=1)
    brute = {
        "pixel": torch.cdist(queries.flatten(1).double(), train_pix) / 16,
        "feature": torch.cdist(q_feat, train_feat),
    }
    for space, dist in brute.items():
        d, i, _ = found[space]
        expect = dist.topk(4, dim=1, largest=False)
        torch.testing.assert_close(d, expect.values, atol=1e-6, rtol=0)
        torch.testing.assert_close(dist.gather(1, i), d, atol=1e-6, rtol=0)  # right indices
    # a training image is its own nearest neighbour, at distance 0 (to float64 rounding)
    assert found["pixel"][0][0, 0] < 1e-6 and found["pixel"][1][0, 0] == 5
    assert found["pixel"][0][1, 0] < 1e-6 and found["pixel"][1][1, 0] == 700


def test_copying_generator_is_caught(copying_run, cli, tmp_path):
    out = tmp_path / "nn.png"
    result = cli(
        "neighbors",
        copying_run,
        "--seeds",
        "0-3",
        "-k",
        "3",
        "--reference",
        "300",
        "--out",
        out,
        "--device",
        "cpu",
        "--workers",
        "0",
        "--quiet",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    first = data["nearest"][0]
    assert first["seed"] == 0 and first["pixel"]["index"][0] == TARGET
    assert first["pixel"]["distance"][0] < 0.05  # ~0: a copy
    pixel = data["stats"]["pixel"]
    assert first["pixel"]["distance"][0] < pixel["train_to_train"]["p01"]
    assert pixel["train_to_train"]["median"] > 0.1
    assert pixel["samples_below_train_p01"] == 0.25  # seed 0 of 4
    # rows: sample | 3 pixel neighbours | spacer | 3 feature neighbours
    assert Image.open(out).size == (2 + 8 * 18, 2 + 4 * 18)


def test_uncopied_samples_are_far(run):
    from ganlab.experiments.neighbors import neighbors

    result = neighbors(run, [0, 1, 2, 3], None, k=2, reference=200)
    pixel = result.stats["pixel"]
    assert pixel["samples_below_train_p01"] == 0.0
    assert pixel["sample_to_train"]["min"] > pixel["train_to_train"]["p01"]
    assert result.out is None and result.train_images == 1797


def test_cli_bad_input(run, cli, tmp_path):
    # a run whose dataset folder is empty
    ckpt = load_checkpoint(run)
    config = {
        **ckpt.train_config,
        "dataset": "folder",
        "split": "train",
        "data_root": str(tmp_path / "empty"),
    }
    (tmp_path / "empty").mkdir()
    save_checkpoint(tmp_path / "folder.pt", {**ckpt.state, "config": config})
    out = tmp_path / "nn.png"
    result = cli("neighbors", tmp_path / "folder.pt", "--out", out, "--device", "cpu")
    assert result.exit_code == 1
    assert "No image files found" in result.stderr and "Traceback" not in result.output
    result = cli("neighbors", tmp_path / "missing", "--out", out, "--device", "cpu")
    assert result.exit_code == 2 and "does not exist" in result.stderr  # as in every command
    assert not out.exists()
    result = cli("neighbors", run, "--out", "nn.gif")
    assert result.exit_code == 2 and "cannot write --out nn.gif" in result.stderr
