"""`--weights auto|ema|raw`: which G renders in every command that renders G, and in the API.

A run trained without `--ema` renders as before (auto = raw) and refuses `--weights ema` in one
paragraph; a run trained with it renders the averaged G by default, the trained G with
`--weights raw`, and every result and artifact records which one made it.
"""

import json
import shutil

import h5py
import pytest
import torch

import ganlab
from ganlab.core.models import Generator
from ganlab.core.seeds import z_from_seeds
from ganlab.errors import CheckpointError
from ganlab.experiments.eval import evaluate
from ganlab.io.checkpoint import load_checkpoint
from ganlab.io.images import grid_image, png_bytes

SEEDS = "0-7"
NO_AVERAGE = "has no averaged G"


def rendered(cli, run, *options, seeds: str = SEEDS) -> bytes:
    """The PNG `ganlab sample RUN --seeds SEEDS OPTIONS --out -` writes."""
    result = cli("sample", run, "--seeds", seeds, *options, "--out", "-")
    assert result.exit_code == 0, result.stderr
    return result.stdout_bytes


def by_hand(run, key: str) -> bytes:
    """The grid of seeds 0-7 rendered by a G built from the checkpoint's `key` weights alone."""
    ckpt = load_checkpoint(run)
    G = Generator(ckpt.model_config)
    G.load_state_dict(ckpt.state[key])
    with torch.no_grad():
        images = G.eval()(z_from_seeds(list(range(8)), ckpt.model_config.nz, ckpt.z_dist))
    return png_bytes(grid_image(images))


def json_result(result) -> dict:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_a_run_without_an_average_renders_as_before(cli, tiny_run, tmp_path):
    assert not load_checkpoint(tiny_run).has_ema
    auto = rendered(cli, tiny_run)
    assert rendered(cli, tiny_run, "--weights", "raw") == auto == by_hand(tiny_run, "generator")
    walk = [tiny_run, "--seeds", "0,1", "--steps", "2", "--json"]
    a = json_result(cli("interpolate", *walk, "--out", tmp_path / "a.png"))
    b = json_result(cli("interpolate", *walk, "--weights", "raw", "--out", tmp_path / "b.png"))
    assert a["weights"] == b["weights"] == "raw"
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    run = ganlab.load(tiny_run)
    assert run.weights == ganlab.load(tiny_run, weights="raw").weights == "raw"
    assert png_bytes(ganlab.grid(run.generate(seeds=range(8)))) == auto


@pytest.mark.parametrize(
    "command",
    [
        ["sample", "--seeds", "0"],
        ["interpolate", "--seeds", "0,1"],
        ["neighbors", "--seeds", "0"],
        ["export"],
        ["eval"],
    ],
)
def test_weights_ema_without_an_average_is_one_paragraph(cli, tiny_run, tmp_path, command):
    name, *options = command
    out = ["--out", tmp_path / ("g.pt" if name == "export" else "x.png")]
    result = cli(name, tiny_run, *options, "--weights", "ema", *(out if name != "eval" else []))
    assert result.exit_code == 1, result.output
    message = result.stderr.replace("\n", " ")
    assert NO_AVERAGE in message and "--ema" in message and "--weights raw" in message
    assert "Traceback" not in result.output and result.stderr.count("ganlab: error:") == 1
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "g.pt").exists()


def test_api_weights_ema_without_an_average_raises_the_clis_error(cli, tiny_run):
    with pytest.raises(CheckpointError, match=NO_AVERAGE) as e:
        ganlab.load(tiny_run, weights="ema")
    result = cli("sample", tiny_run, "--weights", "ema", "--out", "-")
    assert str(e.value) in result.stderr.replace("\n", " ")


def test_an_ema_run_renders_the_average_unless_told_raw(cli, ema_run):
    assert load_checkpoint(ema_run).has_ema
    auto, ema, raw = (rendered(cli, ema_run, "--weights", w) for w in ("auto", "ema", "raw"))
    assert auto == ema == by_hand(ema_run, "generator_ema")
    assert raw == by_hand(ema_run, "generator") and raw != ema
    assert rendered(cli, ema_run) == auto  # the default is auto
    # the per-epoch grid is the averaged G's too: `sample` reproduces it
    grid = rendered(cli, ema_run, seeds="0-15")
    assert grid == (ema_run / "samples" / "epoch-0001.png").read_bytes()


def test_results_and_artifacts_record_the_weights(cli, ema_run, tmp_path):
    for weights, expected in (("auto", "ema"), ("ema", "ema"), ("raw", "raw")):
        out = tmp_path / f"{weights}.h5"
        result = cli("sample", ema_run, "-n", "4", "--weights", weights, "--out", out, "--json")
        assert json_result(result)["weights"] == expected
        with h5py.File(out) as f:
            assert f.attrs["weights"] == expected
    walk = [ema_run, "--seeds", "0,1", "--steps", "1", "--json"]
    ema = json_result(cli("interpolate", *walk, "--out", tmp_path / "e.png"))
    raw = json_result(cli("interpolate", *walk, "--weights", "raw", "--out", tmp_path / "r.png"))
    assert (ema["weights"], raw["weights"]) == ("ema", "raw")
    assert (tmp_path / "e.png").read_bytes() != (tmp_path / "r.png").read_bytes()
    # latents made with one G and rendered with the other: a warning, not silence
    again = cli("sample", ema_run, "--latents", tmp_path / "auto.h5", "--weights", "raw",
                "--out", tmp_path / "l.png")  # fmt: skip
    assert again.exit_code == 0 and "--weights ema" in again.stderr.replace("\n", " ")
    same = cli("sample", ema_run, "--latents", tmp_path / "auto.h5", "--out", tmp_path / "m.png")
    assert same.exit_code == 0 and "warning" not in same.stderr


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.load: still the format
def test_export_is_the_chosen_g(cli, ema_run, tmp_path):
    for weights in ("ema", "raw"):
        result = cli("export", ema_run, "--weights", weights, "--out", tmp_path / f"{weights}.pt",
                     "--json")  # fmt: skip
        meta = json_result(result)["metadata"]
        assert meta["weights"] == weights and meta["net"] == "generator"
    ckpt = load_checkpoint(ema_run)
    z = z_from_seeds([0, 1], ckpt.model_config.nz, ckpt.z_dist)
    with torch.no_grad():
        ema, raw = (torch.jit.load(tmp_path / f"{w}.pt")(z) for w in ("ema", "raw"))
    assert not torch.equal(ema, raw)


def test_the_api_renders_the_chosen_g(cli, ema_run):
    auto, raw = ganlab.load(ema_run), ganlab.load(ema_run, weights="raw")
    assert (auto.weights, raw.weights) == ("ema", "raw") and "weights='ema'" in repr(auto)
    state = load_checkpoint(ema_run).state
    for run, key in ((auto, "generator_ema"), (raw, "generator")):
        for name, value in run.G.state_dict().items():
            assert torch.equal(value, state[key][name])
        images = run.generate(seeds=range(8))
        flag = "ema" if key == "generator_ema" else "raw"
        assert png_bytes(ganlab.grid(images)) == rendered(cli, ema_run, "--weights", flag)
    for name, value in auto.D.state_dict().items():  # D is the trained D in both
        assert torch.equal(value, state["discriminator"][name])


def test_eval_scores_the_chosen_g_and_says_which(ema_run, inception):
    common = dict(n=16, real_n=32, metrics=("kid",), inception_weights=inception.weights,
                  cache_dir=inception.cache)  # fmt: skip
    auto, raw = evaluate(ema_run, **common), evaluate(ema_run, **common, weights="raw")
    assert auto.results[0]["weights"] == auto.protocol["generated"]["weights"] == "ema"
    assert raw.results[0]["weights"] == raw.protocol["generated"]["weights"] == "raw"
    assert auto.results[0]["kid"] != raw.results[0]["kid"]
    through_api = ganlab.evaluate(ganlab.load(ema_run, weights="raw"), **common)
    assert through_api.results[0]["kid"] == raw.results[0]["kid"]


def test_a_forget_mask_is_for_the_g_it_was_fitted_on(cli, ema_run, tmp_path):
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"0": [[4, 4, 12, 12]], "3": [[0, 0, 8, 8]]}))
    mask = tmp_path / "mask.json"
    fitted = cli("forget", ema_run, "--boxes", boxes, "--save", mask, "--json",
                 "--out", tmp_path / "forget.png")  # fmt: skip
    assert json_result(fitted)["weights"] == "ema"
    assert json.loads(mask.read_text())["g_weights"] == "ema"
    same = cli("sample", ema_run, "-n", "4", "--forget", mask, "--out", tmp_path / "a.png")
    assert same.exit_code == 0, same.stderr
    other = cli("sample", ema_run, "-n", "4", "--forget", mask, "--weights", "raw",
                "--out", tmp_path / "b.png")  # fmt: skip
    assert other.exit_code == 1 and "Traceback" not in other.output
    assert "--weights ema" in other.stderr.replace("\n", " ")


def test_project_records_its_g_and_warns_of_an_encoder_fitted_to_the_other(cli, ema_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(ema_run, run)  # the encoder is stored in the run
    fit = cli("project", run, "--train-encoder", "--encoder-steps", "2", "--weights", "raw",
              "--json", "-q")  # fmt: skip
    assert json_result(fit)["weights"] == "raw"
    args = ["project", run, "digits", "-n", "2", "--steps", "2", "--restarts", "1", "--json"]
    raw = json_result(cli(*args, "--weights", "raw", "--out", tmp_path / "r.h5"))
    assert raw["weights"] == "raw" and raw["warnings"] == []
    auto = json_result(cli(*args, "--out", tmp_path / "a.h5"))
    assert auto["weights"] == "ema" and any("trained G" in w for w in auto["warnings"])
    with h5py.File(tmp_path / "r.h5") as r, h5py.File(tmp_path / "a.h5") as a:
        assert (r.attrs["weights"], a.attrs["weights"]) == ("raw", "ema")
