"""DDP under torchrun: two CPU processes with gloo train, checkpoint and resume."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from ganlab.io.checkpoint import load_checkpoint
from ganlab.io.rundir import RunDir

TINY = [
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
    "--device",
    "cpu",
    "--log-every",
    "5",
    "--checkpoint-every",
    "0",
    "--amp",
    "off",  # jobs are compared bit for bit: not left to each job's bf16 probe
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        "-m",
        "ganlab",
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.slow
def test_two_process_gloo_train_checkpoint_resume(tmp_path):
    out = tmp_path / "run"
    first = torchrun("train", "digits", *TINY, "--max-steps", "12", "--out", str(out), "--json")
    assert first.returncode == 0, first.stderr[-3000:]
    # every rank prints the JSON result; all agree
    results = [json.loads(line) for line in first.stdout.splitlines() if line.startswith("{")]
    assert results and all(r["step"] == 12 for r in results)
    run = RunDir(out)
    assert run.read_config()["world_size"] == 2
    # rank 0 alone writes: one metrics record per log point, no duplicates
    steps = [r["step"] for r in run.read_metrics() if r["kind"] == "train"]
    assert steps == [5, 10, 12]
    ckpt = load_checkpoint(out)
    assert ckpt.step == 12 and ckpt.state["world_size"] == 2

    second = torchrun("train", "--resume", str(out), "--max-steps", "20", "--quiet")
    assert second.returncode == 0, second.stderr[-3000:]
    resumed = load_checkpoint(out)
    assert resumed.step == 20
    events = [r for r in run.read_metrics() if r["kind"] == "event"]
    assert [e["step"] for e in events] == [12]
    # the weights moved, and the result is the same as a job that never stopped
    assert not torch.equal(
        resumed.state["generator"]["main.0.weight"], ckpt.state["generator"]["main.0.weight"]
    )
    straight = torchrun(
        "train",
        "digits",
        *TINY,
        "--max-steps",
        "20",
        "--out",
        str(tmp_path / "straight"),
        "--quiet",
    )
    assert straight.returncode == 0, straight.stderr[-3000:]
    a = load_checkpoint(tmp_path / "straight").state["generator"]
    for k, v in resumed.state["generator"].items():
        assert torch.equal(v, a[k]), k
