"""Latent walks (paper Fig. 4): lerp/slerp paths, the interpolate grid and its CLI."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.experiments.interpolate import default_mode, interpolate, lerp, slerp, walk
from ganlab.experiments.sample import sample

TILE = 16 + 2  # tiny runs render 16 px tiles with 2 px padding


@pytest.fixture(scope="module")
def run(tiny_run):
    return tiny_run


@pytest.mark.parametrize("mode", ["lerp", "slerp"])
def test_walk_passes_exactly_through_its_points(mode):
    points = torch.rand(4, 100, generator=torch.Generator().manual_seed(0)) * 2 - 1
    path = walk(points, steps=5, mode=mode)
    assert path.shape == (4 + 3 * 5, 100)
    for i in range(4):
        assert torch.equal(path[i * 6], points[i])
    assert not torch.equal(path[1], points[0])  # in-between frames move
    t = torch.tensor([0.0, 0.3, 1.0])
    fn = lerp if mode == "lerp" else slerp
    ends = fn(points[0], points[1], t)
    assert torch.equal(ends[0], points[0]) and torch.equal(ends[2], points[1])


def test_lerp_and_slerp_differ_as_they_should():
    gen = torch.Generator().manual_seed(1)
    a, b = torch.randn(100, generator=gen), torch.randn(100, generator=gen)
    b = b / b.norm() * a.norm()
    mid = torch.tensor([0.5])
    torch.testing.assert_close(lerp(a, b, mid)[0], (a + b) / 2)
    # slerp keeps the norm of equal-norm endpoints; lerp's midpoint falls to ~0.7 of it
    torch.testing.assert_close(slerp(a, b, mid)[0].norm(), a.norm())
    assert lerp(a, b, mid)[0].norm() < 0.8 * a.norm()
    # parallel vectors: no angle to divide by, falls back to the straight line
    torch.testing.assert_close(slerp(a, 2 * a, mid)[0], 1.5 * a)


def test_default_mode_follows_the_prior():
    assert default_mode("uniform") == "lerp" and default_mode("normal") == "slerp"


def test_walk_knots_are_the_sample_images(run, tmp_path, grid_tiles):
    seeds = [3, 17, 42, 5, 8, 13]
    result = interpolate(run, seeds, points=3, steps=2, out=str(tmp_path / "w.png"))
    assert result.rows == [[3, 17, 42], [5, 8, 13]] and result.frames_per_row == 7
    assert result.mode == "lerp"
    sample(run, seeds, str(tmp_path / "s.png"), nrow=6)
    walked = grid_tiles(tmp_path / "w.png", 2, 7)
    sampled = grid_tiles(tmp_path / "s.png", 1, 6)
    knots = [0, 3, 6, 7, 10, 13]
    for k, s in zip(knots, sampled, strict=True):
        np.testing.assert_array_equal(walked[k], s)
    assert not np.array_equal(walked[1], walked[0])
    # --annotate marks the knot tiles only
    interpolate(run, seeds, points=3, steps=2, out=str(tmp_path / "a.png"), annotate=True)
    annotated = grid_tiles(tmp_path / "a.png", 2, 7)
    changed = [i for i in range(14) if not np.array_equal(annotated[i], walked[i])]
    assert changed == knots


def test_interpolate_cli_grid_gif_and_byte_identical_rerun(cli, run, tmp_path):
    args = [
        "interpolate",
        run,
        "--rows",
        "2",
        "--points",
        "3",
        "--steps",
        "1",
        "--device",
        "cpu",
        "--gif",
        tmp_path / "w.gif",
        "--json",
    ]
    first = cli(*args, "--out", tmp_path / "a.png")
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert data["rows"] == [[0, 1, 2], [3, 4, 5]] and data["frames_per_row"] == 5
    assert Image.open(tmp_path / "a.png").size == (5 * TILE + 2, 2 * TILE + 2)
    gif = Image.open(tmp_path / "w.gif")
    assert gif.n_frames == 5 + 3  # forwards, then back without repeating the ends
    assert gif.size == (TILE + 2, 2 * TILE + 2)  # one column: frame j of every walk
    gif_bytes = (tmp_path / "w.gif").read_bytes()
    second = cli(*args, "--out", tmp_path / "b.png")
    assert second.exit_code == 0, second.output
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert (tmp_path / "w.gif").read_bytes() == gif_bytes


def test_interpolate_cli_seeds_make_one_walk(cli, run, tmp_path):
    result = cli(
        "interpolate",
        run,
        "--seeds",
        "7,9",
        "--steps",
        "2",
        "--mode",
        "slerp",
        "--out",
        tmp_path / "w.png",
        "--device",
        "cpu",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["rows"] == [[7, 9]] and data["mode"] == "slerp"


@pytest.mark.parametrize(
    "args, code, fragment",
    [
        (["--seeds", "1,2,3", "--points", "2"], 2, "do not make"),
        (["--seeds", "1,2,3,4", "--rows", "3"], 2, "do not make"),
        (["--seeds", "1"], 2, "do not make"),
        (["--out", "w.gif"], 2, ".png"),
        (["--gif", "w.mp4"], 1, ".gif or .webp"),
    ],
)
def test_interpolate_cli_errors_write_nothing(
    cli, run, tmp_path, monkeypatch, args, code, fragment
):
    monkeypatch.chdir(tmp_path)
    result = cli("interpolate", run, "--device", "cpu", *args)
    assert result.exit_code == code, result.output
    assert fragment in result.stderr
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []
