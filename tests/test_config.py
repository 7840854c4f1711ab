"""TrainConfig: the architecture presets are resolved in the config, not by the CLI; a run's
config.json or a TOML/JSON file is a `train --config`."""

import json
import re

import pytest

from ganlab.core.config import ARCH_PRESETS, TrainConfig
from ganlab.core.train import resume_config, train
from ganlab.errors import GanlabError
from ganlab.io.rundir import RunDir
from ganlab.modelconfig import ARCHS, ModelConfig


def test_arch_presets_fill_unset_sizes():
    assert set(ARCH_PRESETS) == set(ARCHS)
    dcgan = TrainConfig()
    assert (dcgan.nz, dcgan.ngf, dcgan.ndf) == (100, 64, 64)
    probe = TrainConfig(arch="imagenet32")
    assert (probe.nz, probe.ngf, probe.ndf) == (256, 128, 128)
    assert probe.model_config(32, 3) == ModelConfig(
        image_size=32, channels=3, nz=256, ngf=128, ndf=128, arch="imagenet32"
    )
    # config.json and checkpoints record the numbers, and read back to an equal config
    assert {k: probe.to_dict()[k] for k in ("nz", "ngf", "ndf")} == {
        "nz": 256,
        "ngf": 128,
        "ndf": 128,
    }
    assert TrainConfig.from_dict(probe.to_dict()) == probe


def test_explicit_sizes_win_over_the_preset():
    cfg = TrainConfig(arch="imagenet32", ngf=96)
    assert (cfg.nz, cfg.ngf, cfg.ndf) == (256, 96, 128)
    assert TrainConfig(arch="imagenet32", nz=100).nz == 100  # even the dcgan number
    # a config.json written before the presets moved here (explicit ints) loads unchanged
    old = {**TrainConfig().to_dict(), "arch": "imagenet32", "nz": 256, "ngf": 128, "ndf": 32}
    assert TrainConfig.from_dict(old).ndf == 32


def test_replace_arch_moves_preset_sizes_only():
    assert TrainConfig().replace(arch="imagenet32") == TrainConfig(arch="imagenet32")
    assert TrainConfig(arch="imagenet32").replace(arch="dcgan") == TrainConfig()
    # the CLI's way: defaults, then the options given
    cfg = TrainConfig().replace(arch="imagenet32", ngf=96)
    assert (cfg.nz, cfg.ngf, cfg.ndf) == (256, 96, 128)
    # sizes set to something else stay; None goes back to the preset
    cfg = TrainConfig(ngf=8, ndf=8, nz=16).replace(arch="imagenet32")
    assert (cfg.nz, cfg.ngf, cfg.ndf) == (16, 8, 8)
    assert cfg.replace(ngf=None).ngf == 128
    # other changes leave the sizes alone
    assert TrainConfig(arch="imagenet32", ngf=96).replace(lr=1e-3).ngf == 96


def test_unknown_arch_is_refused():
    with pytest.raises(ValueError, match="arch must be one of"):
        TrainConfig(arch="resnet")


def test_resume_of_a_preset_run_keeps_its_identity(tmp_path, quiet, tiny_config):
    # tiny sizes for speed: the identity check compares resolved numbers either way
    cfg = tiny_config(arch="imagenet32", image_size=32, max_steps=1)
    train(cfg, out=tmp_path / "run", reporter=quiet)
    # what the CLI passes when only --arch is repeated: unset sizes are None
    options = {"arch": "imagenet32", "nz": None, "ngf": None, "ndf": None, "max_steps": 2}
    resumed = resume_config(tmp_path / "run", options)
    assert (resumed.nz, resumed.ngf, resumed.ndf) == (cfg.nz, cfg.ngf, cfg.ndf)
    assert resumed.max_steps == 2
    with pytest.raises(GanlabError, match="--arch dcgan"):
        resume_config(tmp_path / "run", {"arch": "dcgan"})


def test_cli_arch_imagenet32_trains_the_preset(tmp_path, cli):
    out = tmp_path / "run"
    r = cli(
        "train", "digits", "--arch", "imagenet32", "--image-size", "32", "--channels", "3",
        "--batch-size", "2", "--max-steps", "1", "--device", "cpu", "--workers", "0",
        "--out", out, "--quiet",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    config = RunDir(out).read_config()
    for part in ("config", "model"):  # config.json records the numbers
        assert [config[part][k] for k in ("nz", "ngf", "ndf")] == [256, 128, 128]


# --- --config FILE ----------------------------------------------------------------------------


def test_config_json_repeats_a_run(tmp_path, cli, tiny_run):
    """config.json -> `train --config` -> the same config.json but for the command and time."""
    out = tmp_path / "again"
    r = cli("train", "--config", tiny_run / "config.json", "--out", out, "--quiet")
    assert r.exit_code == 0, r.output
    before, after = RunDir(tiny_run).read_config(), RunDir(out).read_config()
    assert after["command"][0] == "ganlab"  # this run was made by a command
    for key in ("created", "command"):  # the time and the command line differ, by design
        before.pop(key), after.pop(key)
    assert after == before
    # and the repeat trains the same weights, since the config is the whole recipe
    steps = RunDir(tiny_run).read_config()["steps_per_epoch"]
    name = f"step-{steps:08d}.pt"
    assert (out / "checkpoints" / name).is_file()
    assert (out / "samples" / "epoch-0001.png").read_bytes() == (
        tiny_run / "samples" / "epoch-0001.png"
    ).read_bytes()


def test_config_toml_with_options_that_override_it(tmp_path, cli):
    config = tmp_path / "tiny.toml"
    config.write_text(
        "\n".join(
            [
                'dataset = "digits"',
                'split = "all"',
                "image-size = 16  # keys as the options are spelled, or with underscores",
                "ngf = 8",
                "ndf = 8",
                "nz = 16",
                "batch_size = 64",
                "max-steps = 3",
                'device = "cpu"',
                "workers = 0",
                'amp = "off"',
                "lr = 1  # an integer where a float is expected",
                'grid-seeds = "0-3"',
            ]
        )
    )
    out = tmp_path / "run"
    r = cli("train", "--config", config, "--lr", "0.0005", "--out", out, "--quiet")
    assert r.exit_code == 0, r.output
    cfg = RunDir(out).read_config()["config"]
    assert cfg["lr"] == 0.0005  # the option given wins over the file
    assert (cfg["image_size"], cfg["ngf"], cfg["max_steps"], cfg["grid_seeds"]) == (16, 8, 3, "0-3")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("batchsize = 64", "unknown key 'batchsize'; did you mean 'batch_size'?"),
        ("image-sise = 32", "unknown key 'image-sise'; did you mean 'image-size'?"),
        ("wibble = 1", "unknown key 'wibble'; the keys are the options"),
        ("image_size = 48", "image_size = 48 must be a power of two from 16 to 256"),
        ('lr = "fast"', "lr = 'fast' is not a float"),
        ("compile = 1", "compile = 1 is not a bool"),
        ("epochs = 0", "epochs = 0 must be at least 1"),
        ('dataset = "imagenette"', "dataset = 'imagenette' is not one of"),
        ('grid_seeds = "3-1"', "grid_seeds: bad range"),
        ("lr = ", "is not valid TOML"),
    ],
)
def test_config_file_errors_name_the_key(tmp_path, text, message):
    from ganlab.core.config import read_config_file

    path = tmp_path / "bad.toml"
    path.write_text(text + "\n")
    with pytest.raises(GanlabError, match=re.escape(message)):
        read_config_file(path)


def test_config_cli_errors(tmp_path, cli, tiny_run):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"config": {"dataset": "digits", "batchsize": 8}}))
    r = cli("train", "--config", bad, "--out", tmp_path / "x")
    assert r.exit_code == 1 and "did you mean 'batch_size'?" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "x").exists()
    (tmp_path / "c.yaml").write_text("dataset: digits\n")
    r = cli("train", "--config", tmp_path / "c.yaml", "--out", tmp_path / "x")
    assert r.exit_code == 1 and "use a .toml or .json file" in r.output
    r = cli("train", "--config", tiny_run / "config.json", "--resume", tiny_run)
    assert r.exit_code == 2 and "--config" in r.output
    (tmp_path / "nodata.toml").write_text("epochs = 1\n")
    r = cli("train", "--config", tmp_path / "nodata.toml")
    assert r.exit_code == 2 and "name a dataset" in r.output


def test_every_config_option_is_a_train_option():
    """`ganlab train`'s options are TrainConfig's fields: a new field cannot be forgotten in the
    CLI, and the CLI has no option that silently goes nowhere."""
    import typer

    from ganlab.cli.app import app
    from ganlab.core.config import option_names

    command = typer.main.get_command(app).commands["train"]
    params = {p.name for p in command.params}
    command_only = {"config", "out", "resume", "quiet", "json_out"}  # how to run, not what
    assert set(option_names()) <= params, set(option_names()) - params
    assert params - command_only == set(option_names())


def test_options_reach_the_config(tmp_path, cli):
    out = tmp_path / "run"
    r = cli(
        "train", "digits", "--split", "all", "--image-size", "16", "--ngf", "4", "--ndf", "4",
        "--nz", "8", "--beta2", "0.9", "--grid-seeds", "0-3", "--max-steps", "1",
        "--batch-size", "8", "--device", "cpu", "--workers", "0", "--amp", "off", "--out", out,
        "--quiet",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    config = RunDir(out).read_config()["config"]
    assert (config["split"], config["beta2"], config["grid_seeds"]) == ("all", 0.9, "0-3")
    assert config["category"] is None  # only LSUN runs record a scene category


def test_data_spec_is_one_record_in_flat_form():
    from ganlab.data.spec import DataSpec

    cfg = TrainConfig.from_options(dataset="lsun", data_root="/d", image_size=32, lr=1e-3)
    assert cfg.data == DataSpec("lsun", root="/d", image_size=32, category="bedroom")
    flat = cfg.to_dict()
    assert (flat["dataset"], flat["data_root"], flat["category"], flat["lr"]) == (
        "lsun", "/d", "bedroom", 1e-3,
    )  # fmt: skip
    assert TrainConfig.from_dict(flat) == cfg
    # another data set drops LSUN's category; a folder run's old record naming one loads
    assert cfg.replace(dataset="folder").data.category is None
    old = {**TrainConfig().to_dict(), "dataset": "folder", "category": "bedroom"}
    assert TrainConfig.from_dict(old).data.category is None
    with pytest.raises(GanlabError, match="--category"):
        TrainConfig.from_options(dataset="folder", category="kitchen")
