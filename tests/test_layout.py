"""The package layout's import contracts (pyproject's [tool.importlinter]) hold."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is a test dependency: pip install -e '.[test]'"
    result = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def _contracts() -> list[dict]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the same parser before it joined the standard library
        import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_the_layers_are_strict():
    """cli | api > experiments > core > io | data > plain records: io and data may not import core
    (a checkpoint is a record of tensors and a config; core builds the networks from it), and
    io and data are independent of each other."""
    layers = next(c for c in _contracts() if c["type"] == "layers")["layers"]
    assert layers == [
        "ganlab.cli | ganlab.api",
        "ganlab.experiments",
        "ganlab.core",
        "ganlab.io | ganlab.data",
        "ganlab.modelconfig | ganlab.errors | ganlab.progress",
    ]


def test_every_experiment_is_independent():
    """Each experiment package or module is listed in the independence contract, so a new one
    cannot import another experiment unnoticed."""
    listed = set(next(c for c in _contracts() if c["type"] == "independence")["modules"])
    found = {
        f"ganlab.experiments.{p.stem if p.is_file() else p.name}"
        for p in (ROOT / "ganlab" / "experiments").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    assert found == listed


def test_modules_stay_short():
    """A module has one job and reads in one sitting: none of ganlab's is over 500 lines."""
    long = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / "ganlab").rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 500
    }
    assert not long, long
