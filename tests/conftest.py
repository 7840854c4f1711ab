"""Shared test helpers: tiny seeded configs of the real thing, and a CLI runner."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from ganlab.config import TrainConfig
from ganlab.progress import Reporter


def tiny_config(**changes) -> TrainConfig:
    """The real digits dataset with a tiny model: a few steps take well under a second."""
    base = TrainConfig(dataset="digits", split="all", image_size=16, ngf=8, ndf=8, nz=16,
                       batch_size=64, epochs=1, device="cpu", workers=0, log_every=5,
                       checkpoint_every=0, grid_seeds="0-15")
    return base.replace(**changes)


@pytest.fixture
def quiet() -> Reporter:
    return Reporter(quiet=True)


@pytest.fixture
def cli():
    """Run `ganlab ARGS...` in-process; returns the click Result (exit_code, stdout, stderr)."""
    from ganlab.cli import app

    runner = CliRunner()

    def run(*args: str, input: bytes | None = None):
        return runner.invoke(app, [str(a) for a in args], input=input)

    return run


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The tests' models are tiny: one thread is fastest, and extra threads only spin-wait on
    a shared, loaded CPU (measured up to 40x slower). Subprocesses are not affected."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """One tiny digits run (one epoch, 28 steps) shared by every test file that only reads it.

    Copy it before writing into it (concepts, resumes).
    """
    from ganlab.train import train

    out = tmp_path_factory.mktemp("tiny-run") / "run"
    train(tiny_config(epochs=1), out=out)
    return out
