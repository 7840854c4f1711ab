"""The CLI through Typer's CliRunner: exit codes, stdout/stderr separation, error messages."""

import json
from pathlib import Path

import pytest
from PIL import Image


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from typer.testing import CliRunner

    from ganlab.cli import app

    out = tmp_path_factory.mktemp("cli") / "run"
    result = CliRunner().invoke(
        app,
        [
            "train",
            "digits",
            "--image-size",
            "16",
            "--ngf",
            "8",
            "--ndf",
            "8",
            "--nz",
            "16",
            "--batch-size",
            "64",
            "--max-steps",
            "3",
            "--out",
            str(out),
            "--device",
            "cpu",
            "--quiet",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    return out, result


def test_train_json_result_on_stdout(run_dir):
    out, result = run_dir
    data = json.loads(result.stdout)
    assert data["step"] == 3 and data["run_dir"] == str(out)
    assert set(data["final"]) == {"loss_d", "loss_g", "d_x", "d_g_z"}
    assert (out / "checkpoints" / "latest").is_file()


def test_resume_needs_no_other_argument(cli, run_dir):
    out, _ = run_dir
    result = cli("train", "--resume", out, "--max-steps", "5", "--json", "--quiet")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["step"] == 5


def test_resume_refuses_changed_shape(cli, run_dir):
    out, _ = run_dir
    result = cli("train", "--resume", out, "--ngf", "32", "--max-steps", "9")
    assert result.exit_code == 1
    assert "cannot change --ngf 32" in result.stderr
    assert "Traceback" not in result.output


def test_sample_cli(cli, tiny_run, tmp_path):
    result = cli(
        "sample", tiny_run, "-n", "4", "--out", tmp_path / "g.png", "--json", "--device", "cpu"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["count"] == 4
    assert Image.open(tmp_path / "g.png").size == (38, 38)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["train", "digits", "--image-size", "48"], "power of two"),
        (["train", "digits", "--batch-size", "0"], "batch-size"),
        (["train", "digits", "--lr", "0"], "learning rate"),
        (["train", "digits", "--device", "tpu"], "device"),
        (["train", "imagenet9"], "unknown dataset"),
        (["train"], "name a dataset"),
        (["sample", "no/such/run"], "does not exist"),
    ],
)
def test_usage_errors_exit_2(cli, args, fragment):
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert "Traceback" not in result.output


def test_sample_bad_options(cli, tiny_run, tmp_path):
    for args, fragment in [
        (["-n", "3", "--seeds", "1"], "not both"),
        (["--seeds", "3-1"], "below the start"),
        (["--out", tmp_path / "x.gif"], "cannot write"),
    ]:
        result = cli("sample", tiny_run, *args)
        assert result.exit_code == 2, result.output
        assert fragment in result.output


def test_missing_data_root_is_a_clear_runtime_error(cli, tmp_path):
    result = cli(
        "train",
        "cifar10",
        "--data-root",
        tmp_path / "nothing",
        "--max-steps",
        "1",
        "--out",
        tmp_path / "run",
    )
    assert result.exit_code == 1
    assert "cifar-10-batches-py" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "run").exists()  # nothing half-made


def test_not_a_checkpoint_is_a_clear_runtime_error(cli, tmp_path):
    (tmp_path / "x.pt").write_bytes(b"garbage")
    result = cli("sample", tmp_path / "x.pt", "--out", tmp_path / "g.png")
    assert result.exit_code == 1
    assert "truncated or corrupt" in result.stderr
    assert not (tmp_path / "g.png").exists()


def test_help_has_examples(cli):
    for command in ("train", "sample"):
        result = cli(command, "--help")
        assert result.exit_code == 0
        assert "Examples" in result.stdout and f"ganlab {command}" in result.stdout


def test_python_dash_m():
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "ganlab", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stdout.startswith("ganlab ")


def test_help_texts_survive_rich_markup():
    """Rich reads "[word ...]" in a help text as a style tag and drops it from --help."""
    import re

    import typer

    from ganlab.cli import app

    def walk(command, path):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, f"{path} {name}")

    tag = re.compile(r"\[[a-z#/@]")
    offenders, seen = [], 0
    for path, command in walk(typer.main.get_command(app), "ganlab"):
        for param in command.params:
            seen += 1
            if tag.search(getattr(param, "help", None) or ""):
                offenders.append(f"{path} {param.name}")
    assert seen > 50 and offenders == []


def test_cli_choices_match_the_library():
    """The CLI spells each choice list without importing torch; the library owns it."""
    from ganlab import modelconfig
    from ganlab.cli import options
    from ganlab.cli import probe as probe_cli
    from ganlab.core import amp, device, seeds
    from ganlab.experiments import interpolate, probe
    from ganlab.experiments.probe import svm
    from ganlab.io import featstore

    def names(enum):
        return [m.value for m in enum]

    assert names(options.Device) == list(device.DEVICES)
    assert names(options.ZDist) == list(seeds.Z_DISTS)
    assert names(options.Amp) == list(amp.AMP_CHOICES)
    assert names(options.Arch) == list(modelconfig.ARCHS)
    assert names(options.Mode) == list(interpolate.MODES)
    from ganlab.core import losses, recipes
    from ganlab.io import checkpoint

    assert names(options.Recipe) == list(recipes.RECIPES)
    assert names(options.Loss) == list(losses.LOSSES)
    assert names(options.SpectralNorm) == list(modelconfig.SPECTRAL_NORMS)
    assert names(options.Weights) == list(checkpoint.WEIGHTS)
    assert names(probe_cli.BnStats) == list(probe.BN_MODES)
    assert names(probe_cli.Protocol) == list(probe.PROTOCOLS)
    assert names(probe_cli.Classifier) == list(svm.CLASSIFIER_LOSS)
    assert names(probe_cli.Solver) == list(svm.SOLVERS)
    assert names(probe_cli.Dtype) == list(featstore.DTYPES)


def test_json_results_record_their_kind_and_argv(cli, tiny_run, tmp_path, capsys):
    """A --json result says which command made it and how, and only those two keys are added."""
    import dataclasses
    import shutil
    import subprocess
    import sys

    from ganlab.cli.options import print_json
    from ganlab.experiments.sample import SampleResult

    args = ["sample", str(tiny_run), "--seeds", "0-3", "--out", str(tmp_path / "g.png"), "--json"]
    result = cli(*args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["kind"] == "sample" and data["argv"] == ["ganlab", *args]
    fields = {f.name for f in dataclasses.fields(SampleResult)}
    assert set(data) == fields | {"kind", "argv"}
    assert data["count"] == 4 and data["seeds"] == "0-3"

    # a command of a group: its whole path; a list result keeps its shape
    run = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    result = cli("concept", "add", "round", "--seeds", "3", "--run", run, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["kind"] == "concept add" and data["argv"][:4] == [
        "ganlab",
        "concept",
        "add",
        "round",
    ]
    listed = json.loads(cli("concept", "list", "--run", run, "--json").stdout)
    assert isinstance(listed, list) and "kind" not in listed[0]

    # `python -m ganlab` records argv[0] as "ganlab" too
    again = [*args[:-2], str(tmp_path / "again.png"), "--json"]
    proc = subprocess.run(
        [sys.executable, "-m", "ganlab", *again], capture_output=True, text=True, check=True
    )
    assert json.loads(proc.stdout)["argv"] == ["ganlab", *again]

    # called from Python, outside any command: the object as it is
    capsys.readouterr()
    print_json({"count": 1})
    assert json.loads(capsys.readouterr().out) == {"count": 1}
