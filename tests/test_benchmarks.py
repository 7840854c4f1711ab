"""The benchmarks run: each on a tiny input in its own process, exiting 0 with its table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

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
    summary = [line.split(" | ") for line in out.stdout.splitlines() if line.count("|") == 8]
    by_method = {cells[0].strip("| "): cells for cells in summary[2:]}
    assert set(by_method) == {"path", "independent", "sklearn"}
    chosen = {m: cells[3] for m, cells in by_method.items()}
    assert chosen["path"] == chosen["independent"] == chosen["sklearn"]
    for method in ("path", "independent", "sklearn"):
        assert f"| {method} | 0.01 |" in out.stdout  # a row per C and method
