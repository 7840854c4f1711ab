"""TrainConfig: the architecture presets are resolved in the config, not by the CLI."""

import pytest

from ganlab.core.config import ARCH_PRESETS, TrainConfig
from ganlab.core.models import ARCHS, ModelConfig
from ganlab.core.train import resume_config, train
from ganlab.errors import GanlabError
from ganlab.io.rundir import RunDir


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
