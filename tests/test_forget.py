"""`ganlab forget` (Fig. 6) and `ganlab sample --forget`: boxes, the fit, the mask, errors."""

import json

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.core.generate import apply_mask
from ganlab.core.nets import load_generator
from ganlab.core.seeds import z_from_seeds
from ganlab.core.train import train
from ganlab.experiments.forget import (
    ForgetMask,
    cell_labels,
    change_ratio,
    hidden_layers,
    layer_features,
    load_boxes,
)
from ganlab.io.checkpoint import load_checkpoint

BOXES = {"0": [[4, 4, 12, 12]], "3": [[0, 0, 8, 8]], "5": [[8, 0, 16, 6], [0, 10, 5, 16]]}


@pytest.fixture(scope="module")
def run(tiny_run):
    return tiny_run  # read only: masks and images go under each test's tmp_path


@pytest.fixture
def boxes(tmp_path):
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps(BOXES))
    return path


def test_cell_labels_by_hand():
    # 16 px image, 4x4 map: cell centres at 2, 6, 10, 14 px
    inside = cell_labels([(4, 4, 12, 12)], 16, 4)
    assert inside.nonzero().tolist() == [[1, 1], [1, 2], [2, 1], [2, 2]]
    # a box holding no centre still marks the cell holding its own centre
    assert cell_labels([(8.5, 0.5, 9.5, 1.5)], 16, 4).nonzero().tolist() == [[0, 2]]


def test_change_ratio_by_hand():
    before = torch.zeros(1, 1, 4, 4)
    after = before.clone()
    after[0, 0, :2, :2] = 0.8  # inside changes by 0.8
    after[0, 0, 3, 3] = 0.6  # one of 12 outside pixels changes by 0.6
    inside = torch.zeros(1, 4, 4, dtype=torch.bool)
    inside[0, :2, :2] = True
    i, o, ratio = change_ratio(before, after, inside)
    assert (i, round(o, 6), round(ratio, 6)) == (pytest.approx(0.8), 0.05, 16.0)


def test_mask_zeroes_exactly_the_dropped_maps(run):
    ckpt = load_checkpoint(run)
    G = load_generator(ckpt)
    layer = hidden_layers(G)[-2]  # the second-highest hidden layer
    z = z_from_seeds([0, 1], ckpt.model_config.nz, ckpt.z_dist)
    plain = layer_features(G, z, layer)
    mask = ForgetMask(layer=layer, channels=plain.shape[1], dropped=[0, 3], checkpoint_sha256="")
    handle = apply_mask(G, mask)
    masked = layer_features(G, z, layer)
    handle.remove()
    assert masked[:, [0, 3]].abs().sum() == 0 and plain[:, [0, 3]].abs().sum() > 0
    keep = [c for c in range(plain.shape[1]) if c not in (0, 3)]
    assert torch.equal(masked[:, keep], plain[:, keep])
    assert torch.equal(layer_features(G, z, layer), plain)  # removed: G is itself again


def test_forget_then_sample_with_the_mask(run, boxes, cli, tmp_path):
    out, mask = tmp_path / "f.png", tmp_path / "mask.json"
    result = cli(
        "forget", run, "--boxes", boxes, "--save", mask, "--out", out, "--json", "--device", "cpu"
    )
    assert result.exit_code == 0, result.output
    res = json.loads(result.stdout)
    saved = json.loads(mask.read_text())
    assert res["seeds"] == "0,3,5" and res["dropped"] == len(saved["dropped"]) > 0
    assert res["ratio"] > 0 and res["random_ratio"] > 0
    assert saved["layer"] == hidden_layers(load_generator(load_checkpoint(run)))[-2]
    assert res["positives"] == res["negatives"] == 4 + 4 + 4  # cells inside the boxes
    assert all(w > 0 for c, w in enumerate(saved["weights"]) if c in saved["dropped"])
    # side by side: two 2x2 grids of 16 px tiles with an 8 px gap
    assert Image.open(out).size == (2 * (2 + 2 * 18) + 8, 2 + 2 * 18)

    # `sample --forget` draws exactly the right-hand images; without it, the left-hand ones
    for flag, name in (([], "plain.h5"), (["--forget", mask], "forgot.h5")):
        r = cli(
            "sample", run, "--seeds", "0,3,5", "--out", tmp_path / name, "--device", "cpu", *flag
        )
        assert r.exit_code == 0, r.output
    from ganlab.experiments.forget import render_pair
    from ganlab.io.masks import load_mask

    ckpt = load_checkpoint(run)
    z = z_from_seeds([0, 3, 5], ckpt.model_config.nz, ckpt.z_dist)
    before, after = render_pair(load_generator(ckpt), z, load_mask(mask, ckpt))
    from ganlab.io.images import to_uint8

    with h5py.File(tmp_path / "plain.h5") as f, h5py.File(tmp_path / "forgot.h5") as g:
        np.testing.assert_array_equal(f["images"][:], to_uint8(before).numpy())
        np.testing.assert_array_equal(g["images"][:], to_uint8(after).numpy())
        assert not np.array_equal(f["images"][:], g["images"][:])

    # --top K drops exactly K maps
    r = cli(
        "forget", run, "--boxes", boxes, "--top", "2", "--out", out, "--json", "--device", "cpu"
    )
    assert r.exit_code == 0 and json.loads(r.stdout)["dropped"] == 2


def test_boxes_where_one_map_peaks_pick_that_map(run, tmp_path):
    """Boxes drawn where map c is strongest: the regression's top weight is c, and dropping it
    changes the boxes more than dropping one random map does."""
    from ganlab.experiments.forget import fit_mask, forget

    ckpt = load_checkpoint(run)
    G = load_generator(ckpt)
    layer = hidden_layers(G)[-2]
    seeds = list(range(12))
    feats = layer_features(G, z_from_seeds(seeds, ckpt.model_config.nz, ckpt.z_dist), layer)
    cells = feats.shape[-1]
    step = 16 // cells
    for c in (0, 5):
        boxes = {}
        for k, s in enumerate(seeds):
            y, x = divmod(int(feats[k, c].argmax()), cells)
            boxes[str(s)] = [[x * step, y * step, (x + 1) * step, (y + 1) * step]]
        mask, _ = fit_mask(ckpt, {int(k): v for k, v in boxes.items()}, top=1)
        assert mask.dropped == [c]
        path = tmp_path / "b.json"
        path.write_text(json.dumps(boxes))
        result = forget(run, path, top=1)
        assert result.ratio > 1 and result.ratio > result.random_ratio


@pytest.mark.parametrize(
    "content, fragment",
    [
        (None, "does not exist"),
        ("{not json", "cannot read boxes file"),
        ('{"cat": [[0, 0, 4, 4]]}', "'cat' is not a seed"),
        ('{"-3": [[0, 0, 4, 4]]}', "'-3' is not a seed"),
        ('{"7": [[0, 0, 40, 4]]}', "outside the 16x16 image"),
        ('{"7": [[5, 0, 5, 4]]}', "is empty or outside"),
        ('{"7": [[0, 0, 4]]}', "is not [x0, y0, x1, y1]"),
        ("{}", "holds no boxes"),
        ('{"image_size": 64, "boxes": {"7": [[0, 0, 4, 4]]}}', "drawn on 64px samples"),
    ],
)
def test_cli_bad_boxes(run, cli, tmp_path, content, fragment):
    path = tmp_path / "boxes.json"
    if content is not None:
        path.write_text(content)
    out, mask = tmp_path / "f.png", tmp_path / "m.json"
    result = cli("forget", run, "--boxes", path, "--out", out, "--save", mask, "--device", "cpu")
    assert result.exit_code == 1, result.output
    assert fragment in result.stderr and "Traceback" not in result.output
    assert not out.exists() and not mask.exists()


def test_load_boxes_accepts_the_documented_forms(tmp_path):
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"image_size": 16, "boxes": BOXES}))
    assert load_boxes(path, 16)[5] == [(8, 0, 16, 6), (0, 10, 5, 16)]


def test_sample_refuses_a_mask_from_another_checkpoint(run, boxes, cli, tmp_path, tiny_config):
    mask = tmp_path / "mask.json"
    assert (
        cli(
            "forget",
            run,
            "--boxes",
            boxes,
            "--save",
            mask,
            "--out",
            tmp_path / "f.png",
            "--device",
            "cpu",
        ).exit_code
        == 0
    )
    other = tmp_path / "other"
    train(tiny_config(max_steps=2, seed=1), out=other)
    result = cli(
        "sample",
        other,
        "--seeds",
        "0",
        "--forget",
        mask,
        "--out",
        tmp_path / "s.png",
        "--device",
        "cpu",
    )
    assert result.exit_code == 1 and "fitted on another checkpoint" in result.stderr
    assert not (tmp_path / "s.png").exists()
    result = cli("sample", run, "--forget", tmp_path / "nope.json", "--out", tmp_path / "s.png")
    assert result.exit_code == 1 and "does not exist" in result.stderr
