"""The benchmarks run: each on a tiny input in its own process, exiting 0 with its table."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def run_benchmark(name: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(ROOT / "benchmarks" / name), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)


def test_probe_speed_on_one_shape():
    """One shape and the default C (two default shapes, two default Cs: it used to crash)."""
    out = run_benchmark("probe_speed.py", "--shapes", "300x64")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "| n x F | solver | C | fit s |" in out.stdout
    for solver in ("torch", "sklearn"):
        assert f"| 300 x 64 | {solver} | 0.001 |" in out.stdout
    wrong = run_benchmark("probe_speed.py", "--shapes", "300x64", "--C", "1e-3,1e-2,1e-1")
    assert wrong.returncode == 2 and "one per shape" in wrong.stderr


def test_probe_speed_on_a_features_file(tmp_path):
    """--features: the C search three ways on a stored file, with the probe's splits."""
    from ganlab.io.featstore import FeatureWriter

    g = torch.Generator().manual_seed(0)
    attrs = {
        "source": "synthetic",
        "dataset": "digits",
        "layers": [0],
        "grid": 4,
        "bn_stats": "recompute",
        "feature_dim": 48,
        "splits": ["train", "test"],
        "class_names": ["a", "b", "c"],
    }
    writer = FeatureWriter(tmp_path / "f.h5", attrs)
    centres = 2 * torch.randn(3, 48, generator=g)
    for split, n in (("train", 400), ("test", 120)):
        y = torch.arange(n) % 3
        X = torch.relu(centres[y] + torch.randn(n, 48, generator=g))  # non-negative, like D's
        writer.begin(split, n, split)
        writer.append(split, X, y, n)
        writer.finish(split)
    writer.publish()
    out = run_benchmark("probe_speed.py", "--features", tmp_path / "f.h5", "--Cs", "1e-3,1e-2,1e-1")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "360 training rows, 40 validation, 48 features" in out.stdout
    summary = [line.split(" | ") for line in out.stdout.splitlines() if line.count("|") == 9]
    by_method = {cells[0].strip("| "): cells for cells in summary[2:]}
    assert set(by_method) == {"path", "independent", "sklearn"}
    chosen = {m: cells[5] for m, cells in by_method.items()}
    assert chosen["path"] == chosen["independent"] == chosen["sklearn"]
    for cells in by_method.values():  # total = load (statistics and scaling included) + sweep
        load, sweep, total = (float(cells[i]) for i in (1, 2, 4))
        assert load > 0 and abs(total - (load + sweep)) < 0.011
    for method in ("path", "independent", "sklearn"):
        assert f"| {method} | 0.01 |" in out.stdout  # a row per C and method
    assert f"| path (refined) | {float(chosen['path']):g} |" in out.stdout  # the chosen C


# --- judge.py: CelebA's attribute file -------------------------------------------------------

ATTRIBUTES = ["Male", "Smiling", "Eyeglasses"]


@pytest.fixture
def attribute_folder(tmp_path):
    """12 faces-like JPEGs (000001.jpg ...) and their attributes in CelebA's format, spaced as
    list_attr_celeba.txt is; Male is whether the image is bright."""
    folder = tmp_path / "faces"
    folder.mkdir()
    rows = []
    for i in range(1, 13):
        value = 200 if i % 2 else 40
        Image.new("RGB", (22, 27), (value, value // 2, 30)).save(folder / f"{i:06d}.jpg")
        male, smiling, glasses = (1 if i % 2 else -1), (1 if i % 3 == 0 else -1), -1
        rows.append(f"{i:06d}.jpg {male:2d} {smiling:2d} {glasses:2d}\n")
    attr = tmp_path / "list_attr_celeba.txt"
    attr.write_text(f"{len(rows)}\n{' '.join(ATTRIBUTES)} \n" + "".join(rows))
    return folder, attr


def _judge_module(monkeypatch):
    """benchmarks/judge.py, imported for this test (the benchmarks import it as `judge`)."""
    spec = importlib.util.spec_from_file_location("judge", ROOT / "benchmarks" / "judge.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "judge", module)  # its dataclasses look themselves up
    spec.loader.exec_module(module)
    return module


def test_celeba_attribute_file_is_read_strictly(attribute_folder, tmp_path, monkeypatch):
    judge = _judge_module(monkeypatch)
    _, attr = attribute_folder
    table = judge.read_celeba_attributes(attr)
    assert table.names == ATTRIBUTES and len(table.files) == 12
    rows = table.of(["sub/000003.jpg", "000002.jpg"])  # by file name, in the order asked
    assert rows.tolist() == [[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    with pytest.raises(ValueError, match=r"1 of the 2 images have no row in .*000099\.jpg"):
        table.of(["000001.jpg", "000099.jpg"])
    lines = attr.read_text().splitlines()
    bad = tmp_path / "bad.txt"
    bad.write_text("\n".join([*lines[:3], "000002.jpg  1  2 -1", *lines[4:]]))
    with pytest.raises(ValueError, match="line 4 should be a file name and 3 values"):
        judge.read_celeba_attributes(bad)
    bad.write_text("\n".join(["13", *lines[1:]]))
    with pytest.raises(ValueError, match="says 13 images on line 1 but lists 12"):
        judge.read_celeba_attributes(bad)
    bad.write_text("\n".join([*lines, lines[-1]]).replace("12", "13", 1))
    with pytest.raises(ValueError, match="line 15 lists 000012.jpg a second time"):
        judge.read_celeba_attributes(bad)
    bad.write_text("\n".join(lines[1:]))  # no count line: a CSV or another format
    with pytest.raises(ValueError, match="not in CelebA's attribute format"):
        judge.read_celeba_attributes(bad)


# --- recipe_quality.py ---------------------------------------------------------------------------

TINY_RECIPES = [
    "--dataset", "digits", "--image-size", "16", "--steps", "4", "--checkpoint-every", "2",
    "--batch-size", "32", "--n-gen", "64", "--judge-epochs", "1",
    "--train-options", "--ngf 8 --ndf 8 --nz 16 --workers 0",
]  # fmt: skip


@pytest.fixture(scope="module")
def recipe_runs(tmp_path_factory):
    """Two recipes that differ only in --ema, trained 4 steps each and judged: (out, process)."""
    out = tmp_path_factory.mktemp("recipes")
    recipes = ["--recipes", "paper", "paper+ema=--recipe paper --ema 0.99", "--out", out]
    return out, run_benchmark("recipe_quality.py", *TINY_RECIPES, *recipes)


def test_recipe_quality_judges_every_checkpoint(recipe_runs):
    out, proc = recipe_runs
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((out / "recipe_quality.json").read_text())
    assert result["kind"] == "recipe_quality" and "--recipes" in result["argv"]
    assert result["judge"]["kind"] == "classes" and result["n"] == 64
    rows = {(r["row"], r["step"]): r for r in result["rows"]}
    assert set(rows) == {
        (name, step) for name in ("paper", "paper+ema (raw)", "paper+ema (ema)") for step in (2, 4)
    }
    for r in rows.values():
        assert math.isfinite(r["fd"]) and r["fd"] > 0
        assert 0 <= r["precision"] <= 1 and 0 <= r["recall"] <= 1
        assert r["s_per_step"] > 0 and r["images_seen"] == 32 * r["step"]
    # the same seed and images: the trained G of the --ema run is the paper run's, bit for bit
    assert rows[("paper+ema (raw)", 4)]["fd"] == rows[("paper", 4)]["fd"]
    assert rows[("paper+ema (ema)", 4)]["fd"] != rows[("paper", 4)]["fd"]
    # real images against real ones: far closer than 4 steps of training get
    floor = result["real_floor"]
    assert floor["fd"] < min(r["fd"] for r in rows.values()) and floor["recall"] > 0.5
    assert "| paper+ema (ema) | 4 | 128 |" in proc.stdout


def test_recipe_quality_reruns_judge_only_what_is_new(recipe_runs):
    out, _ = recipe_runs
    before = json.loads((out / "recipe_quality.json").read_text())
    again = run_benchmark(
        "recipe_quality.py", *TINY_RECIPES, "--recipes", "paper", "paper+ema=--recipe paper "
        "--ema 0.99", "--out", out,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    after = json.loads((out / "recipe_quality.json").read_text())
    assert [r["status"] for r in after["recipes"]] == ["trained before"] * 2
    assert "FD" not in again.stderr  # every checkpoint's numbers came from the last run's file
    assert [r["fd"] for r in after["rows"]] == [r["fd"] for r in before["rows"]]
    changed = run_benchmark(
        "recipe_quality.py", *TINY_RECIPES, "--recipes", "paper+ema=--recipe paper --ema 0.9",
        "--out", out,
    )  # fmt: skip
    assert changed.returncode != 0 and "ema 0.99 (the recipe gives 0.9)" in changed.stderr


def test_recipe_quality_compares_recipes_of_other_batch_sizes_at_the_same_images(tmp_path):
    """Without the script's --batch-size, a recipe's own batch size trains the same images in
    more steps, judged at the same numbers of images; a batch that does not divide them, or
    one beside the script's --batch-size, is refused before anything trains."""
    tiny = [
        "--dataset", "digits", "--image-size", "16", "--steps", "2", "--checkpoint-every", "1",
        "--n-gen", "16", "--judge-epochs", "1",
        "--train-options", "--ngf 8 --ndf 8 --nz 16 --workers 0",
    ]  # fmt: skip
    recipes = ["--recipes", "paper", "half=--recipe paper --batch-size 64"]
    proc = run_benchmark("recipe_quality.py", *tiny, *recipes, "--out", tmp_path / "a")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "a" / "recipe_quality.json").read_text())
    seen = {(r["row"], r["step"]): r["images_seen"] for r in result["rows"]}
    assert seen == {("paper", 1): 128, ("paper", 2): 256, ("half", 2): 128, ("half", 4): 256}
    assert [(r["batch_size"], r["steps"]) for r in result["recipes"]] == [(128, 2), (64, 4)]
    config = json.loads((tmp_path / "a" / "half" / "config.json").read_text())["config"]
    assert (config["batch_size"], config["max_steps"]) == (64, 4)
    assert "| half | 4 | 256 |" in proc.stdout and "ms/image" in proc.stdout
    odd = run_benchmark(
        "recipe_quality.py", *tiny, "--recipes", "odd=--batch-size 48", "--out", tmp_path / "b"
    )
    assert odd.returncode != 0 and "batches of 48, which do not divide" in odd.stderr
    fixed = run_benchmark(
        "recipe_quality.py", *tiny, "--batch-size", "32", "--recipes", "odd=--batch-size 64",
        "--out", tmp_path / "c",
    )  # fmt: skip
    assert fixed.returncode != 0 and "sets --batch-size 64" in fixed.stderr
    assert not (tmp_path / "b" / "odd").exists() and not (tmp_path / "c" / "odd").exists()


def test_recipe_quality_times_steps_round_robin(tmp_path):
    proc = run_benchmark(
        "recipe_quality.py", *TINY_RECIPES, "--recipes", "paper", "small-data", "--time-steps", "3",
        "--out", tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    timing = json.loads((tmp_path / "recipe_timing.json").read_text())
    assert [r["name"] for r in timing["recipes"]] == ["paper", "small-data"]
    assert timing["recipes"][0]["ratio"] == 1.0 and timing["recipes"][1]["s_per_step"] > 0
    first, second = timing["recipes"]
    assert first["ratio_per_image"] == 1.0 and first["batch_size"] == 32
    assert second["ms_per_image"] == pytest.approx(1000 * second["s_per_step"] / 32)
    assert not (tmp_path / "paper").exists()  # nothing trained


def test_recipe_quality_attribute_judge_on_a_folder(attribute_folder, tmp_path):
    """--labels: a multi-label judge of the folder's images; an image the file does not list
    stops it with the file's name."""
    folder, attr = attribute_folder
    args = [
        "--dataset", "folder", "--data-root", folder, "--labels", attr, "--image-size", "16",
        "--recipes", "paper", "--n-gen", "4", "--judge-epochs", "1", "--holdout", "0.34",
        "--eval-only",
    ]  # fmt: skip
    proc = run_benchmark("recipe_quality.py", *args, "--out", tmp_path / "a")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "a" / "recipe_quality.json").read_text())
    judge = result["judge"]
    assert judge["kind"] == "attributes" and judge["names"] == ATTRIBUTES
    assert (judge["train_images"], judge["heldout_images"], result["n"]) == (8, 4, 4)
    assert set(judge["accuracy"]) == set(ATTRIBUTES) and 0 <= judge["mean_accuracy"] <= 1
    assert result["rows"] == [] and result["recipes"][0]["status"] == "not trained yet"
    assert "3 attributes, held-out mean accuracy" in proc.stdout
    Image.new("RGB", (22, 27)).save(folder / "000099.jpg")
    proc = run_benchmark("recipe_quality.py", *args, "--out", tmp_path / "b")
    assert proc.returncode != 0 and "1 of the 13 images have no row in" in proc.stderr
    assert "000099.jpg" in proc.stderr


def test_figure7_balanced_judge_recalls_a_rare_attribute(monkeypatch):
    """--judge-weighting balanced: positives of a rare attribute weigh as much as its negatives,
    so the judge calls more of the held-out positives than the plain BCE judge does."""
    _judge_module(monkeypatch)  # figure7.py imports it as `judge`
    spec = importlib.util.spec_from_file_location("figure7", ROOT / "benchmarks" / "figure7.py")
    figure7 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figure7)
    g = torch.Generator().manual_seed(0)
    n = 1200
    rare = torch.rand(n, generator=g) < 0.06  # (N,): an Eyeglasses-like rate
    images = torch.randint(60, 196, (n, 1, 8, 8), generator=g, dtype=torch.uint8)
    images[rare, :, 3:5, 1:7] -= 40  # a faint dark band where the attribute is present
    targets = torch.stack([rare.float(), (torch.arange(n) % 2).float()], dim=1)  # (N, 2)
    train, test = torch.arange(200, n), torch.arange(200)
    recalls = {}
    for balanced in (False, True):
        net = figure7.fit_judge(
            images, targets, train, 3, "cpu", torch.Generator().manual_seed(1), balanced
        )
        called = figure7.judge(net, images[test], "cpu")[:, 0]  # (T,)
        recalls[balanced] = called[rare[test].numpy()].mean()
    assert rare[test].sum() >= 5
    assert recalls[True] > recalls[False] + 0.2, recalls


def test_figure7_scores_both_equations(attribute_run, attribute_file, tmp_path):
    """The paper's two face equations, end to end on a tiny run and CelebA-format attributes."""
    out = run_benchmark(
        "figure7.py", "--run", attribute_run, "--labels", attribute_file, "--pool", "400",
        "--exemplars", "1,3", "--samples", "8", "--judge-epochs", "2", "--out", tmp_path / "f.json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    head = "| exemplars | result | sets | offset norm | all targets |"
    assert f"{head} not Male | Eyeglasses |" in out.stdout
    assert f"{head} Male | Smiling |" in out.stdout
    data = json.loads((tmp_path / "f.json").read_text())
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]  # written atomically, no leftovers
    assert data["kind"] == "figure7 benchmark" and data["exemplars"] == [1, 3]
    assert set(data["judge"]["attributes"]) == {"Male", "Eyeglasses", "Smiling"}
    assert data["judge"]["n_heldout"] == 30 and data["skipped"] == []
    assert data["judge"]["weighting"] == "none"
    assert {c["pool_qualified"] >= 3 for c in data["concepts"].values()} == {True}
    glasses = data["equations"]["glasses"]
    assert glasses["expression"] == (
        "man with glasses - man without glasses + woman without glasses = woman with glasses"
    )
    assert glasses["parts"] == ["not Male", "Eyeglasses"]
    assert [eq["kept"] for eq in data["equations"].values()] == ["with glasses", "smiling"]
    for eq in data["equations"].values():
        kept = [
            m + k + f
            for m in ("mean", "boundary")
            for k in ("", f", --keep {eq['kept']!r}")
            for f in ("", ", --until-flip")
        ]
        results = ["base alone", *(r for m in kept for r in (m, f"random (norm of {m})"))]
        assert [(r["exemplars"], r["result"]) for r in eq["mean"]] == [
            (n, r) for n in (1, 3) for r in results
        ]
        rows = {(r["exemplars"], r["result"]): r for r in eq["rows"]}
        for n in (1, 3):
            for method in kept:  # the control steps as far as the method
                norm = rows[n, method]["offset_norm"]
                assert norm > 0 and rows[n, f"random (norm of {method})"]["offset_norm"] == norm
            # --keep takes the kept attribute's component out of the mean offset: never longer
            shorter = rows[n, f"mean, --keep {eq['kept']!r}"]["offset_norm"]
            assert shorter <= rows[n, "mean"]["offset_norm"] + 1e-4
        for r in eq["rows"]:
            assert 0 <= r["all_targets"] <= min(r["per_part"]) <= 1
    # each concept alone, judged against its own definition, for each exemplar count
    assert "| concept | definition | exemplars | exemplars judged | mean judged |" in out.stdout
    checks = data["concept_checks"]
    assert sorted((c["concept"], c["exemplars"]) for c in checks) == [
        (name, n) for name in sorted(data["concepts"]) for n in (1, 3)
    ]
    for c in checks:
        assert c["definition"] == data["concepts"][c["concept"]]["definition"]
        assert 0 <= c["mean_judged"] <= 1 and 0 <= c["exemplars_judged"] <= 1
        judged = c["exemplars_judged"] * c["exemplars"]  # a count of exemplars
        assert abs(judged - round(judged)) < 1e-3
