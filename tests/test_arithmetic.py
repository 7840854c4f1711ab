"""Concept arithmetic (paper Fig. 7) and attribute walks (Fig. 8): layouts, tiles, CLI errors."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.core.generate import generate
from ganlab.core.seeds import sample_z, z_from_seeds
from ganlab.experiments.arithmetic import arithmetic, attribute_walk
from ganlab.experiments.concept import add_concept
from ganlab.io.checkpoint import load_checkpoint
from ganlab.io.images import to_uint8

NZ = 16
TILE = 16 + 2  # tiny runs render 16 px tiles with 2 px padding


@pytest.fixture(scope="module")
def run(tiny_run, tmp_path_factory):
    dst = tmp_path_factory.mktemp("arith") / "run"
    shutil.copytree(tiny_run, dst)
    add_concept(dst, "man with glasses", [1, 2, 3])
    add_concept(dst, "man", [4, 5])
    add_concept(dst, "woman", [6, 7, 8])
    return dst


@pytest.fixture
def fresh(run, tmp_path):
    """A copy of the run whose concepts.json a test may break."""
    dst = tmp_path / "copy"
    shutil.copytree(run, dst)
    return dst


def render(run, z):
    """uint8 (N, 16, 16) images of latents z (N, nz), as the grid stores them."""
    return to_uint8(generate(load_checkpoint(run), z))[:, 0].numpy()


def mean(seeds):
    return z_from_seeds(seeds, NZ, "uniform").mean(0)


def test_fig7_layout_and_tiles(run, tmp_path, grid_tiles):
    out = tmp_path / "fig7.png"
    result = arithmetic(
        run,
        plus=["woman"],
        minus=["man"],
        base="man with glasses",
        out=str(out),
        samples=8,
        noise=0.25,
        captions=False,
    )
    assert result.grid == [4, 10] and result.expression == "man with glasses - man + woman"
    t = grid_tiles(out, 4, 10).reshape(4, 10, 16, 16)
    exemplars = render(run, z_from_seeds([1, 2, 3], NZ, "uniform"))
    np.testing.assert_array_equal(t[0, :3], exemplars)  # exemplar row
    y = mean([1, 2, 3]) - mean([4, 5]) + mean([6, 7, 8])
    noisy = y + sample_z(8, NZ, "uniform", torch.Generator().manual_seed(0)) * 0.25
    expect = render(run, torch.stack([mean([1, 2, 3]), mean([4, 5]), mean([6, 7, 8]), y]))
    np.testing.assert_array_equal(t[:, 9], expect)  # the averages, then Y, in the last column
    np.testing.assert_array_equal(t[3, :8], render(run, noisy))
    assert not t[1, 2:9].any()  # "man" has two exemplars: the rest of its row is blank
    captioned = tmp_path / "cap.png"
    arithmetic(run, plus=["woman"], minus=["man"], base="man with glasses", out=str(captioned))
    w, h = Image.open(captioned).size
    assert h == 4 * TILE + 2 and w > 10 * TILE + 2


def test_pairs_layout_without_base(run, tmp_path, grid_tiles):
    out = tmp_path / "pairs.png"
    result = arithmetic(
        run,
        plus=["woman"],
        minus=["man"],
        seeds=[10, 11, 12, 13, 14],
        nrow=3,
        out=str(out),
        captions=False,
    )
    assert result.grid == [4, 3] and result.mode == "pairs"
    t = grid_tiles(out, 4, 3).reshape(4, 3, 16, 16)
    z = z_from_seeds([10, 11, 12, 13, 14], NZ, "uniform")
    before, after = render(run, z), render(run, z + mean([6, 7, 8]) - mean([4, 5]))
    np.testing.assert_array_equal(t[0], before[:3])
    np.testing.assert_array_equal(t[1], after[:3])
    np.testing.assert_array_equal(t[2, :2], before[3:])
    np.testing.assert_array_equal(t[3, :2], after[3:])
    assert not t[2:, 2].any()


def test_attribute_walk_layout(run, tmp_path, grid_tiles):
    out = tmp_path / "walk.png"
    result = attribute_walk(
        run,
        "man",
        "woman",
        str(out),
        steps=4,
        bases=["man with glasses"],
        seeds=[0, 1],
        captions=False,
    )
    assert result.grid == [3, 4] and result.mode == "walk"
    t = grid_tiles(out, 3, 4).reshape(3, 4, 16, 16)
    d = mean([6, 7, 8]) - mean([4, 5])
    z0 = z_from_seeds([0], NZ, "uniform")[0]
    expect = render(run, torch.stack([mean([1, 2, 3]), z0, z0 + d / 3, z0 + d]))
    np.testing.assert_array_equal(t[0, 0], expect[0])
    np.testing.assert_array_equal(t[1, [0, 1, 3]], expect[1:])


def test_cli_byte_identical_and_json(cli, run, tmp_path):
    args = [
        "arithmetic",
        run,
        "--base",
        "man with glasses",
        "--minus",
        "man",
        "--plus",
        "woman",
        "--device",
        "cpu",
        "--json",
    ]
    first = cli(*args, "--out", tmp_path / "a.png")
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert data["concepts"] == {"man with glasses": [1, 2, 3], "man": [4, 5], "woman": [6, 7, 8]}
    assert data["out"] == str(tmp_path / "a.png") and data["noise"] == 0.25
    assert cli(*args, "--out", tmp_path / "b.png").exit_code == 0
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    walk = [
        "arithmetic",
        run,
        "--walk",
        "man:woman",
        "--steps",
        "5",
        "--seeds",
        "3,4",
        "--device",
        "cpu",
    ]
    assert cli(*walk, "--out", tmp_path / "w1.png").exit_code == 0
    assert cli(*walk, "--out", tmp_path / "w2.png").exit_code == 0
    assert (tmp_path / "w1.png").read_bytes() == (tmp_path / "w2.png").read_bytes()
    pairs = cli(
        "arithmetic",
        run,
        "--plus",
        "woman",
        "--minus",
        "man",
        "-n",
        "4",
        "--out",
        tmp_path / "p.png",
        "--device",
        "cpu",
        "--json",
    )
    assert json.loads(pairs.stdout)["seeds"] == [0, 1, 2, 3]


def _set(path, **changes):
    data = json.loads((path / "concepts.json").read_text())
    for key, value in changes.items():
        if key == "empty":
            data["concepts"]["empty"] = {"seeds": [], "source": {}}
        else:
            data[key] = value
    (path / "concepts.json").write_text(json.dumps(data))


@pytest.mark.parametrize(
    "args, setup, code, fragment",
    [
        (["--base", "man with glasses", "--plus", "wman"], None, 1, "no concept named 'wman'"),
        (["--base", "empty", "--plus", "woman"], {"empty": True}, 1, "has no exemplar seeds"),
        (["--plus", "woman"], "delete", 1, "has no concepts yet"),
        (["--base", "man", "--plus", "woman"], {"nz": 32}, 1, "nz=32"),
        (["--walk", "man:woman", "--seeds", "1"], {"nz": 32}, 1, "nz=32"),
        (["--walk", "man-woman"], None, 2, "LEFT:RIGHT"),
        (["--walk", "man:nobody"], None, 1, "no concept named 'nobody'"),
        (["--plus", "woman", "--steps", "4"], None, 2, "--walk"),
        (["--base", "man", "--plus", "woman", "--seeds", "1"], None, 2, "not both"),
        ([], None, 1, "--plus or --minus"),
    ],
)
def test_cli_errors_one_line_and_nothing_written(cli, fresh, tmp_path, args, setup, code, fragment):
    if setup == "delete":
        (fresh / "concepts.json").unlink()
    elif setup:
        _set(fresh, **setup)
    out = tmp_path / "out.png"
    result = cli("arithmetic", fresh, "--out", out, "--device", "cpu", *args)
    assert result.exit_code == code, result.output
    assert fragment in result.stderr
    assert "Traceback" not in result.output
    if code == 1:
        assert len(result.stderr.strip().splitlines()) == 1  # one clear line
    assert not out.exists()
