"""Concept arithmetic (paper Fig. 7) and attribute walks (Fig. 8): layouts, tiles, CLI errors."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.core.generate import generate
from ganlab.core.nets import load_discriminator
from ganlab.core.seeds import sample_z, z_from_seeds
from ganlab.experiments.arithmetic import FLIP_MARGIN, FLIP_SCALE, arithmetic, attribute_walk
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
        (["--plus", "woman", "--minus", "man", "--scale", "-1"], None, 1, "--scale -1"),
        (["--plus", "woman", "--until-flip"], None, 1, "needs a classifier for 'woman'"),
        (["--plus", "woman", "--direction", "boundary"], None, 1, "has no boundary in z"),
        (["--plus", "woman", "--keep", "age"], None, 1, "mined columns: none"),
        (["--plus", "woman", "--direction", "median"], None, 2, "mean or boundary"),
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


# --- directions that change one attribute: boundary, --scale, --until-flip, --keep -------------


@pytest.fixture(scope="module")
def mined(tiny_config, tmp_path_factory):
    """A tiny digits run trained a little longer (its pool reaches several classes), mined."""
    from ganlab.core.train import train
    from ganlab.experiments.concept import mine_concepts

    out = tmp_path_factory.mktemp("mined") / "run"
    train(tiny_config(epochs=4), out=out)
    mine_concepts(out, pool=400, per_concept=3, device="cpu")
    return out


def _with_boundaries(run):
    """(source, target): the mined concepts with boundaries, most pool samples first."""
    from ganlab.io.concepts import load_concepts

    cs = load_concepts(run)
    ranked = sorted(
        (c for c in cs.concepts.values() if c.boundary),
        key=lambda c: -c.source["pool_assigned"],
    )
    assert len(ranked) >= 2, "the tiny run's pool must reach two classes with boundaries"
    return ranked


def test_scale_zero_returns_the_before_images(cli, mined, tmp_path, grid_tiles):
    source, target = _with_boundaries(mined)[:2]
    for direction in ("mean", "boundary"):
        out = tmp_path / f"{direction}.png"
        result = cli(
            "arithmetic", mined, "--minus", source.name, "--plus", target.name, "-n", "6",
            "--scale", "0", "--direction", direction, "--no-captions", "--out", out,
            "--device", "cpu", "--json",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["scale"] == 0
        t = grid_tiles(out, 2, 6).reshape(2, 6, 16, 16)
        np.testing.assert_array_equal(t[1], t[0])  # after == before, byte for byte
    moved = arithmetic(
        mined, [target.name], [source.name], str(tmp_path / "s2.png"), seeds=[0, 1],
        scale=2.0, direction="mean", captions=False,
    )  # fmt: skip
    t = grid_tiles(tmp_path / "s2.png", 2, 2).reshape(2, 2, 16, 16)
    z = z_from_seeds([0, 1], NZ, "uniform")
    offset = mean(target.seeds) - mean(source.seeds)
    np.testing.assert_array_equal(t[1], render(mined, z + 2.0 * offset))
    assert moved.offset_norm == pytest.approx(float(offset.norm()), abs=1e-4)


def test_boundary_direction_is_the_normal_scaled_to_the_pool_means(mined, tmp_path):
    source, target = _with_boundaries(mined)[:2]
    result = arithmetic(
        mined, [target.name], [source.name], str(tmp_path / "b.png"), seeds=[0], captions=False
    )
    assert result.direction == "boundary"  # the default for mined concepts without --base
    # the unit difference of the two values' (value vs rest) normals, scaled to the distance
    # between their pool means along it
    from ganlab.experiments.arithmetic import edit_offset

    d = target.normal() - source.normal()
    d = d / d.norm()
    concepts = {source.name: source, target.name: target}
    offset = edit_offset(concepts, [target.name], [source.name], NZ, "uniform", "boundary")
    length = float(d @ (target.pool_mean() - source.pool_mean()))
    assert length > 0 and result.offset_norm == pytest.approx(length, abs=1e-4)
    torch.testing.assert_close(offset, d * length)
    fig7 = arithmetic(
        mined, [target.name], [source.name], str(tmp_path / "f.png"), base=source.name,
        captions=False,
    )  # fmt: skip
    assert fig7.direction == "mean"  # the paper's Fig. 7 form keeps the mean difference


def test_until_flip_steps_flip_the_runs_classifier(cli, mined, tmp_path):
    from ganlab.core.features import extract_features
    from ganlab.io.concepts import load_classifier

    source, target = _with_boundaries(mined)[:2]
    result = cli(
        "arithmetic", mined, "--minus", source.name, "--plus", target.name, "--seeds", "0-11",
        "--until-flip", "--scale", "6", "--out", tmp_path / "flip.png", "--device", "cpu",
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    edits = data["edits"]
    assert [e["seed"] for e in edits] == list(range(12)) and data["scale"] == 6
    flipped = [e for e in edits if e["flip_at"] is not None]
    assert flipped, "no sample flipped"
    ckpt = load_checkpoint(mined)
    clf = load_classifier(mined, target.source["classifier_file"])
    offset = torch.tensor(data["offset_norm"])  # the edit's length at scale 1
    from ganlab.experiments.arithmetic import edit_offset

    vec = edit_offset(
        {source.name: source, target.name: target}, [target.name], [source.name], NZ,
        "uniform", "boundary",
    )  # fmt: skip
    assert float(vec.norm()) == pytest.approx(float(offset), abs=1e-4)
    z = z_from_seeds([e["seed"] for e in flipped], NZ, "uniform")
    at = torch.tensor([e["flip_at"] for e in flipped])
    images = to_uint8(generate(ckpt, z + at[:, None] * vec))
    feats = torch.cat(list(extract_features(load_discriminator(ckpt), iter([images])))).numpy()
    assert clf.predict(feats) == [target.source["value"]] * len(flipped)
    for e in flipped:
        assert e["scale"] == pytest.approx(e["flip_at"] + FLIP_MARGIN, abs=1e-4)
    # a sample that needed a step was not the target before it
    before = to_uint8(generate(ckpt, z[at > 0]))
    feats = torch.cat(list(extract_features(load_discriminator(ckpt), iter([before])))).numpy()
    assert target.source["value"] not in clf.predict(feats)


def test_the_default_edit_of_mined_concepts_steps_until_the_classifier_flips(
    cli, mined, tmp_path, grid_tiles
):
    """Without --base, --scale or --fixed-step, a boundary edit of mined concepts steps each
    sample until the run's classifier gives the plus value, plus the default margin; a given
    --scale or --fixed-step adds the fixed multiple of the offset to every sample."""
    source, target = _with_boundaries(mined)[:2]
    args = ["arithmetic", mined, "--minus", source.name, "--plus", target.name, "--seeds", "0-5"]
    runs = {}
    for name, extra in (("default", []), ("fixed", ["--fixed-step"]), ("scale", ["--scale", "1"])):
        out = tmp_path / f"{name}.png"
        result = cli(*args, *extra, "--no-captions", "--out", out, "--device", "cpu", "--json")
        assert result.exit_code == 0, result.output
        runs[name] = json.loads(result.stdout)
        runs[name]["tiles"] = grid_tiles(out, 2, 6).reshape(2, 6, 16, 16)
    default = runs["default"]
    assert default["direction"] == "boundary" and default["scale"] == FLIP_SCALE
    assert [e["seed"] for e in default["edits"]] == list(range(6))
    for e in default["edits"]:
        want = FLIP_SCALE if e["flip_at"] is None else e["flip_at"] + FLIP_MARGIN
        assert e["scale"] == pytest.approx(want, abs=1e-4)
    for name in ("fixed", "scale"):
        assert runs[name]["edits"] == [] and runs[name]["scale"] == 1
        np.testing.assert_array_equal(runs[name]["tiles"], runs["fixed"]["tiles"])
    # the fixed step is z + offset for every sample; the default's steps differ per sample
    from ganlab.experiments.arithmetic import edit_offset

    vec = edit_offset(
        {source.name: source, target.name: target}, [target.name], [source.name], NZ,
        "uniform", "boundary",
    )  # fmt: skip
    z = z_from_seeds(list(range(6)), NZ, "uniform")
    np.testing.assert_array_equal(runs["fixed"]["tiles"][1], render(mined, z + vec))
    steps = torch.tensor([e["scale"] for e in default["edits"]])
    moved = render(mined, z + steps[:, None] * vec).astype(int)  # steps as --json rounds them
    assert np.abs(default["tiles"][1].astype(int) - moved).max() <= 1
    # the Fig. 7 form keeps the paper's mean difference and no per-sample step
    fig7 = cli(
        "arithmetic", mined, "--base", source.name, "--plus", target.name, "--out",
        tmp_path / "f.png", "--device", "cpu", "--json",
    )  # fmt: skip
    assert fig7.exit_code == 0, fig7.output
    assert json.loads(fig7.stdout)["edits"] == []


def test_the_default_edit_falls_back_to_the_fixed_step_on_a_stale_classifier(
    cli, mined, tmp_path, grid_tiles
):
    """A classifier fitted on another checkpoint's D cannot say where a sample flips: the
    default edit warns and adds the fixed step; an explicit --until-flip is refused."""
    source, target = _with_boundaries(mined)[:2]
    run = tmp_path / "run"
    shutil.copytree(mined, run)
    clf_path = run / target.source["classifier_file"]
    with np.load(clf_path, allow_pickle=False) as data:
        arrays = dict(data)
    arrays["checkpoint_sha256"] = np.array("0" * 64)  # as if fitted on another checkpoint
    np.savez(clf_path, **arrays)
    args = ["arithmetic", run, "--minus", source.name, "--plus", target.name, "--seeds", "0-5"]
    result = cli(*args, "--no-captions", "--out", tmp_path / "d.png", "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["edits"] == [] and data["scale"] == 1
    assert any("fixed step" in w and "another checkpoint" in w for w in data["warnings"])
    fixed = cli(*args, "--fixed-step", "--no-captions", "--out", tmp_path / "f.png")
    assert fixed.exit_code == 0, fixed.output
    np.testing.assert_array_equal(
        grid_tiles(tmp_path / "d.png", 2, 6), grid_tiles(tmp_path / "f.png", 2, 6)
    )
    refused = cli(*args, "--until-flip", "--out", tmp_path / "x.png")
    assert refused.exit_code == 1 and "another checkpoint" in refused.stderr
    assert not (tmp_path / "x.png").exists()


def test_until_flip_confidence_stops_where_the_classifier_is_that_sure(cli, mined, tmp_path):
    from ganlab.core.features import extract_features
    from ganlab.experiments.arithmetic import edit_offset
    from ganlab.io.concepts import load_classifier

    source, target = _with_boundaries(mined)[:2]
    runs = {}
    for confidence in (None, 0.5):  # the tiny run's classifier is rarely surer
        result = cli(
            "arithmetic", mined, "--minus", source.name, "--plus", target.name, "--seeds",
            "0-11", "--until-flip", "--scale", "6", "--out", tmp_path / f"c{confidence}.png",
            "--device", "cpu", "--json",
            *(["--confidence", str(confidence)] if confidence else []),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        runs[confidence] = json.loads(result.stdout)
    assert runs[0.5]["confidence"] == 0.5 and runs[None]["confidence"] is None
    sure = [e for e in runs[0.5]["edits"] if e["flip_at"] is not None and e["flip_at"] > 0]
    assert sure, "no sample reached 0.5"
    ckpt = load_checkpoint(mined)
    clf = load_classifier(mined, target.source["classifier_file"])
    vec = edit_offset(
        {source.name: source, target.name: target}, [target.name], [source.name], NZ,
        "uniform", "boundary",
    )  # fmt: skip
    z = z_from_seeds([e["seed"] for e in sure], NZ, "uniform")
    at = torch.tensor([e["flip_at"] for e in sure])
    images = to_uint8(generate(ckpt, z + at[:, None] * vec))
    feats = torch.cat(list(extract_features(load_discriminator(ckpt), iter([images])))).numpy()
    column = clf.classes.index(target.source["value"])
    assert (clf.probabilities(feats)[:, column] >= 0.5).all()
    assert clf.predict(feats) == [target.source["value"]] * len(sure)
    # being sure takes at least the step of being right, sample by sample
    plain = {e["seed"]: e["flip_at"] for e in runs[None]["edits"]}
    for e in runs[0.5]["edits"]:
        if e["flip_at"] is not None:
            assert plain[e["seed"]] is not None and e["flip_at"] >= plain[e["seed"]] - 1e-6
    assert any(e["flip_at"] is None for e in runs[0.5]["edits"] if plain[e["seed"]] is not None)
    refused = cli(
        "arithmetic", mined, "--minus", source.name, "--plus", target.name, "--confidence",
        "0.9", "--fixed-step", "--out", tmp_path / "x.png",
    )  # fmt: skip
    assert refused.exit_code == 2 and "--fixed-step" in refused.stderr
    meaningless = cli(  # the mean direction has no classifier to be sure with
        "arithmetic", mined, "--minus", source.name, "--plus", target.name, "--confidence",
        "0.9", "--direction", "mean", "--out", tmp_path / "x.png",
    )  # fmt: skip
    assert meaningless.exit_code == 1 and "--until-flip" in meaningless.stderr
    assert not (tmp_path / "x.png").exists()
    certain = cli(
        "arithmetic", mined, "--minus", source.name, "--plus", target.name, "--until-flip",
        "--confidence", "1", "--out", tmp_path / "y.png",
    )  # fmt: skip
    assert certain.exit_code == 1 and "between 0 and 1" in certain.stderr
    assert not (tmp_path / "y.png").exists()


def test_keep_makes_the_direction_orthogonal_to_the_kept_attribute(mined, tmp_path):
    from ganlab.experiments.arithmetic import edit_offset, kept_concepts
    from ganlab.io.concepts import load_concepts

    source, target, other = _with_boundaries(mined)[:3]
    cs = load_concepts(mined)
    concepts = {source.name: source, target.name: target}
    for direction in ("boundary", "mean"):
        free = edit_offset(concepts, [target.name], [source.name], NZ, "uniform", direction)
        kept = kept_concepts(cs, [other.name], [source, target])
        cond = edit_offset(concepts, [target.name], [source.name], NZ, "uniform", direction, kept)
        assert abs(float(free @ other.normal())) > 1e-3
        assert float(cond @ other.normal()) == pytest.approx(0, abs=1e-6)
    result = arithmetic(
        mined, [target.name], [source.name], str(tmp_path / "k.png"), seeds=[0],
        keep=[other.name], captions=False,
    )  # fmt: skip
    assert result.keep == [other.name]


def test_keep_by_column_spans_every_value(fresh):
    """Two mined attributes (gender, age): --keep age leaves both age normals untouched."""
    from ganlab.experiments.arithmetic import edit_offset, kept_concepts
    from ganlab.io.concepts import Concept, load_concepts, save_concepts

    cs = load_concepts(fresh)
    gen = torch.Generator().manual_seed(0)
    for column, values in (("gender", ("man", "woman")), ("age", ("young", "old", "child"))):
        for value in values:
            n = torch.randn(NZ, generator=gen)
            n = (n / n.norm()).tolist()  # each value's samples lie on its side: pool mean = n
            cs.concepts[value] = Concept(
                value,
                [1, 2],
                {"kind": "mined", "column": column, "value": value},
                boundary={"normal": n, "pool_mean": n},
            )
    save_concepts(cs)
    cs = load_concepts(fresh)
    moved = [cs.concepts["woman"], cs.concepts["man"]]
    kept = kept_concepts(cs, ["age"], moved)
    assert sorted(c.name for c in kept) == ["child", "old", "young"]
    assert kept_concepts(cs, ["gender", "age"], moved) == kept  # the moved attribute is skipped
    concepts = {"woman": cs.concepts["woman"], "gender=man": cs.concepts["man"]}
    for direction in ("boundary", "mean"):
        d = edit_offset(concepts, ["woman"], ["gender=man"], NZ, "uniform", direction, kept)
        for c in kept:
            assert float(d @ c.normal()) == pytest.approx(0, abs=1e-6)
    from ganlab.errors import GanlabError

    with pytest.raises(GanlabError, match="mined columns: age, gender"):
        kept_concepts(cs, ["race"], moved)


# --- the paper's Fig. 7 from concepts that combine labels ------------------------------------


@pytest.fixture(scope="module")
def defined(attribute_run, attribute_file, tmp_path_factory):
    """A run with the paper's glasses concepts mined with --define (10 exemplars each)."""
    from ganlab.experiments.concept import mine_concepts

    dst = tmp_path_factory.mktemp("defined") / "run"
    shutil.copytree(attribute_run, dst)
    define = [
        "man with glasses=Male,Eyeglasses",
        "man without glasses=Male,-Eyeglasses",
        "woman without glasses=-Male,-Eyeglasses",
    ]
    mine_concepts(dst, labels=attribute_file, define=define, pool=400, per_concept=10)
    return dst


FIG7 = [
    "--base", "man with glasses", "--minus", "man without glasses", "--plus",
    "woman without glasses",
]  # fmt: skip


def test_fig7_of_mined_concepts_is_the_papers_layout_byte_for_byte(
    cli, defined, tmp_path, grid_tiles
):
    from ganlab.io.concepts import load_concepts

    args = ["arithmetic", defined, *FIG7, "--no-captions", "--device", "cpu"]
    first = cli(*args, "--out", tmp_path / "a.png", "--json")
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    cs = load_concepts(defined)
    # the paper's 3 exemplars per concept: each mined concept's 3 surest
    assert data["exemplars"] == 3 and data["direction"] == "mean" and data["grid"] == [4, 10]
    assert data["concepts"] == {n: cs.concepts[n].seeds[:3] for n in data["concepts"]}
    assert cli(*args, "--out", tmp_path / "b.png").exit_code == 0
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    t = grid_tiles(tmp_path / "a.png", 4, 10).reshape(4, 10, 16, 16)
    base, minus, plus = (cs.concepts[n].seeds[:3] for n in FIG7[1::2])
    np.testing.assert_array_equal(t[0, :3], render(defined, z_from_seeds(base, NZ, "uniform")))
    y = mean(base) - mean(minus) + mean(plus)
    noisy = y + sample_z(8, NZ, "uniform", torch.Generator().manual_seed(0)) * 0.25
    np.testing.assert_array_equal(t[3, 9], render(defined, y[None])[0])
    np.testing.assert_array_equal(t[3, :8], render(defined, noisy))
    # more exemplars: wider rows, another Y; the boundary direction works on them too
    more = cli(*args, "--exemplars", "10", "--out", tmp_path / "c.png", "--json")
    assert more.exit_code == 0 and json.loads(more.stdout)["grid"] == [4, 12]
    bound = cli(*args, "--direction", "boundary", "--out", tmp_path / "d.png", "--json")
    assert bound.exit_code == 0 and json.loads(bound.stdout)["direction"] == "boundary"


def test_fig7_keeps_the_attribute_plus_and_minus_share(cli, defined, attribute_file, tmp_path):
    """Plus and minus both ask for -Eyeglasses: without --keep the figure says how to hold it;
    --keep Eyeglasses (a concept defined by that column alone) makes the offset orthogonal to
    that concept's boundary normal, and the hint goes."""
    from ganlab.experiments.concept import mine_concepts
    from ganlab.io.concepts import load_concepts

    run = tmp_path / "run"
    shutil.copytree(defined, run)
    args = ["arithmetic", run, *FIG7, "--no-captions", "--device", "cpu", "--json"]
    plain = cli(*args, "--out", tmp_path / "a.png")
    assert plain.exit_code == 0, plain.output
    hints = [w for w in json.loads(plain.stdout)["warnings"] if "both ask for" in w]
    assert len(hints) == 1 and "-Eyeglasses" in hints[0] and "--keep Eyeglasses" in hints[0]
    missing = cli(*args, "--keep", "Eyeglasses", "--out", tmp_path / "x.png")
    assert missing.exit_code == 1 and "--keep 'Eyeglasses'" in missing.stderr
    mine_concepts(
        run, labels=attribute_file, define=["with glasses=Eyeglasses"], pool=400, per_concept=10
    )
    kept = cli(*args, "--keep", "Eyeglasses", "--out", tmp_path / "k.png")
    assert kept.exit_code == 0, kept.output
    data = json.loads(kept.stdout)
    assert data["keep"] == ["with glasses"]
    assert not [w for w in data["warnings"] if "both ask for" in w]
    # once a concept of the column exists, the hint only says to keep it
    again = cli(*args, "--out", tmp_path / "b.png")
    hints = [w for w in json.loads(again.stdout)["warnings"] if "both ask for" in w]
    assert len(hints) == 1 and hints[0].endswith("To hold it, add --keep Eyeglasses.")
    cs = load_concepts(run)
    base, minus, plus = (cs.concepts[n].seeds[:3] for n in FIG7[1::2])
    offset = mean(plus) - mean(minus)
    normal = cs.concepts["with glasses"].normal()
    normal = normal / normal.norm()
    assert abs(float(offset @ normal)) > 1e-3  # there is something to take out
    offset = offset - (offset @ normal) * normal
    assert data["offset_norm"] == pytest.approx(float(offset.norm()), abs=1e-3)


def test_fig7_refuses_an_unknown_concept(cli, defined, tmp_path):
    out = tmp_path / "x.png"
    args = ["arithmetic", defined, *FIG7[:4], "--plus", "woman with glasses", "--out", out]
    result = cli(*args)
    assert result.exit_code == 1, result.output
    assert "no concept named 'woman with glasses'" in result.stderr
    assert "known: 'man with glasses', 'man without glasses', 'woman without glasses'" in (
        result.stderr
    )
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not out.exists()


def test_until_flip_aims_at_every_part_of_a_defined_concept(defined, tmp_path):
    from ganlab.experiments.arithmetic import flip_targets
    from ganlab.io.concepts import load_concepts

    ckpt = load_checkpoint(defined)
    concept = load_concepts(defined).concepts["woman without glasses"]
    targets = flip_targets(defined, ckpt, [concept])
    assert [(t.classifier.column, t.value) for t in targets] == [
        ("Male", "-1"),
        ("Eyeglasses", "-1"),
    ]
    # against "man without glasses", which shares -Eyeglasses, only Male is aimed at
    minus = load_concepts(defined).concepts["man without glasses"]
    targets = flip_targets(defined, ckpt, [concept], minus=[minus])
    assert [(t.classifier.column, t.value) for t in targets] == [("Male", "-1")]
    # a plus whose every part the minus shares leaves nothing to aim at: the default takes the
    # fixed step with a warning, an explicit search is refused
    from ganlab.errors import GanlabError
    from ganlab.experiments.arithmetic import resolve_flip

    same = ([concept], "boundary", None)
    flip, aims, notes = resolve_flip(defined, ckpt, *same, None, minus=[concept])
    assert (flip, aims) == (False, []) and "nothing to aim at" in notes[0]
    with pytest.raises(GanlabError, match="nothing to aim at"):
        resolve_flip(defined, ckpt, *same, True, minus=[concept])
    result = arithmetic(
        defined, ["woman without glasses"], ["man without glasses"], str(tmp_path / "f.png"),
        seeds=[0, 1, 2], flip=True, captions=False,
    )  # fmt: skip
    assert [e["seed"] for e in result.edits] == [0, 1, 2]


def test_fig7_until_flip_steps_each_result_until_the_classifier_flips(
    cli, defined, tmp_path, grid_tiles
):
    """--until-flip in the Fig. 7 form: each noisy result and Y start at the base's mean z
    (plus its noise) and step along the offset until the run's Male classifier says not Male
    (the part plus does not share with minus), then the margin; the tiles are those latents."""
    from ganlab.io.concepts import load_concepts

    args = ["arithmetic", defined, *FIG7, "--direction", "boundary", "--until-flip"]
    out = tmp_path / "f.png"
    result = cli(*args, "--scale", "6", "--no-captions", "--out", out, "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    edits = data["edits"]
    assert [e["sample"] for e in edits] == [*range(8), "Y"] and data["scale"] == 6
    assert any(e["flip_at"] is not None for e in edits), "nothing flipped"
    for e in edits:
        want = 6 if e["flip_at"] is None else e["flip_at"] + FLIP_MARGIN
        assert e["scale"] == pytest.approx(want, abs=1e-4)
    cs = load_concepts(defined)
    base, minus, plus = (cs.concepts[n] for n in FIG7[1::2])
    from ganlab.experiments.arithmetic import edit_offset

    vec = edit_offset(
        {minus.name: minus, plus.name: plus}, [plus.name], [minus.name], NZ, "uniform",
        "boundary",
    )  # fmt: skip
    jitter = sample_z(8, NZ, "uniform", torch.Generator().manual_seed(0)) * 0.25
    start = mean(base.seeds[:3]) + torch.cat([jitter, torch.zeros(1, NZ)])  # (9, nz)
    steps = torch.tensor([e["scale"] for e in edits])
    want = render(defined, start + steps[:, None] * vec).astype(int)  # as --json rounds them
    t = grid_tiles(out, 4, 10).reshape(4, 10, 16, 16).astype(int)
    got = np.concatenate([t[3, :8], t[3, 9:]])
    assert np.abs(got - want).max() <= 1
    # a flipped sample is not Male under the run's classifier; with a margin, beyond it
    ckpt = load_checkpoint(defined)
    from ganlab.core.features import extract_features
    from ganlab.io.concepts import load_classifier

    clf = load_classifier(defined, plus.source["parts"][0]["classifier_file"])
    flipped = [i for i, e in enumerate(edits) if e["flip_at"] is not None]
    at = torch.tensor([edits[i]["flip_at"] for i in flipped])
    images = to_uint8(generate(ckpt, start[flipped] + at[:, None] * vec))
    feats = torch.cat(list(extract_features(load_discriminator(ckpt), iter([images])))).numpy()
    assert clf.predict(feats) == ["-1"] * len(flipped)


def test_run_edit_steps_as_the_command_does(cli, mined, tmp_path):
    """ganlab.load(run).edit takes the command's default: per sample until the classifier
    flips (the same multiples as `arithmetic --json`), the fixed step with flip=False or a
    scale, and a GanlabWarning where it falls back."""
    import warnings

    import ganlab
    from ganlab.errors import GanlabError, GanlabWarning
    from ganlab.experiments.arithmetic import edit_offset

    source, target = _with_boundaries(mined)[:2]
    result = cli(
        "arithmetic", mined, "--minus", source.name, "--plus", target.name, "--seeds", "0-5",
        "--out", tmp_path / "d.png", "--device", "cpu", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    steps = torch.tensor([e["scale"] for e in json.loads(result.stdout)["edits"]])
    run = ganlab.load(mined)
    z = run.z(range(6))
    vec = edit_offset(
        {source.name: source, target.name: target}, [target.name], [source.name], NZ,
        "uniform", "boundary",
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GanlabWarning)  # samples that never flip, if any
        edited = run.edit(z, plus=target.name, minus=source.name)
    torch.testing.assert_close(edited, z + steps[:, None] * vec, atol=1e-5, rtol=0)
    assert not torch.allclose(edited, z + vec)  # the steps differ from the fixed step
    for fixed in (run.edit(z, plus=target.name, minus=source.name, flip=False),
                  run.edit(z, plus=target.name, minus=source.name, scale=1.0)):  # fmt: skip
        torch.testing.assert_close(fixed, z + vec)
    with pytest.raises(GanlabError, match="--confidence"):
        run.edit(z, plus=target.name, minus=source.name, flip=False, confidence=0.9)
    for bad in ({"scale": -1.0}, {"margin": -0.5}, {"confidence": 1.5}):
        with pytest.raises(GanlabError, match=next(iter(bad))):
            run.edit(z, plus=target.name, minus=source.name, **bad)
    # a classifier of another checkpoint: the default warns and takes the fixed step
    stale = tmp_path / "run"
    shutil.copytree(mined, stale)
    clf_path = stale / target.source["classifier_file"]
    with np.load(clf_path, allow_pickle=False) as data:
        arrays = dict(data)
    arrays["checkpoint_sha256"] = np.array("0" * 64)
    np.savez(clf_path, **arrays)
    with pytest.warns(GanlabWarning, match="fixed step.*another checkpoint"):
        moved = ganlab.load(stale).edit(z, plus=target.name, minus=source.name)
    torch.testing.assert_close(moved, z + vec)
    with pytest.raises(GanlabError, match="another checkpoint"):
        ganlab.load(stale).edit(z, plus=target.name, minus=source.name, flip=True)
