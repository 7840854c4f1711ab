"""The `--amp` policy: what `auto` picks and why, and bf16 training on the CPU."""

from __future__ import annotations

import json

import pytest
import torch

from ganlab.core import amp
from ganlab.core.amp import AmpChoice, resolve_amp
from ganlab.core.features import extract_features
from ganlab.core.models import BatchNorm2d
from ganlab.core.nets import load_discriminator
from ganlab.errors import GanlabError
from ganlab.io.checkpoint import load_checkpoint

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    ("units", "gain", "expected", "says"),
    [
        ([], None, "off", "no bf16 units"),
        (["AVX512-BF16"], 0.4, "off", "0.40x float32, not faster"),
        (["AMX", "AVX512-BF16"], 2.2, "bf16", "2.20x float32"),
    ],
)
def test_auto_on_the_cpu_follows_units_and_the_probe(monkeypatch, units, gain, expected, says):
    monkeypatch.setattr(amp, "cpu_bf16_units", lambda: units)
    measured = []

    def probe():
        measured.append(1)
        return gain

    monkeypatch.setattr(amp, "cpu_bf16_speedup", probe)
    choice = resolve_amp("auto", CPU)
    assert choice.amp == expected and says in choice.reason
    assert measured == ([] if not units else [1])  # no units: nothing is measured


def test_explicit_choices_and_errors(monkeypatch):
    monkeypatch.setattr(amp, "cpu_bf16_units", lambda: [])
    assert resolve_amp("off", CPU).amp == "off"
    forced = resolve_amp("bf16", CPU)
    assert forced.amp == "bf16" and "no bf16 units" in forced.reason
    with pytest.raises(GanlabError, match="needs a CUDA GPU"):
        resolve_amp("fp16", CPU)
    with pytest.raises(GanlabError, match="unknown --amp"):
        resolve_amp("fp8", CPU)
    assert resolve_amp("auto", torch.device("mps")).amp == "off"


def test_the_real_probe_measures_a_ratio():
    gain = amp.cpu_bf16_speedup(0.2)
    assert 0.01 < gain < 100


def test_batchnorm_statistics_stay_float32_under_bf16():
    torch.manual_seed(0)
    x = torch.randn(16, 8, 5, 5).to(torch.bfloat16)
    ours, plain = BatchNorm2d(8), torch.nn.BatchNorm2d(8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = ours(x)
    expected = plain(x.float())  # the same statistics, computed in float32 from the same inputs
    assert y.dtype == torch.bfloat16 and ours.running_var.dtype == torch.float32
    assert torch.equal(y, expected.to(torch.bfloat16))
    # float32 accumulation up to summation order (bf16 accumulation would be off by ~1e-3)
    torch.testing.assert_close(ours.running_mean, plain.running_mean, rtol=1e-6, atol=0)
    torch.testing.assert_close(ours.running_var, plain.running_var, rtol=1e-6, atol=0)
    xf = torch.randn(4, 8, 3, 3)
    assert torch.equal(BatchNorm2d(8)(xf), torch.nn.BatchNorm2d(8)(xf))  # float32: unchanged


def test_bf16_features_are_float32_and_close(tiny_run):
    D = load_discriminator(load_checkpoint(tiny_run))
    images = torch.randint(0, 256, (32, 1, 16, 16), dtype=torch.uint8)
    full = next(extract_features(D, iter([images])))
    half = next(extract_features(D, iter([images]), precision=AmpChoice("bf16", "test")))
    assert half.dtype == torch.float32 and half.shape == full.shape
    assert not torch.equal(half, full)  # bf16 did run
    assert (half - full).norm() / full.norm() < 0.05


def test_bf16_training_on_the_cpu_resumes_with_float32_checkpoints(tiny_config, tmp_path, quiet):
    from ganlab.core.train import resume_config, train

    run = tmp_path / "run"
    first = train(tiny_config(max_steps=6, amp="bf16"), out=run, reporter=quiet)
    assert all(torch.isfinite(torch.tensor(list(first.final.values()))))
    described = json.loads((run / "config.json").read_text())
    assert described["precision"]["amp"] == "bf16" and described["config"]["amp"] == "bf16"
    ckpt = load_checkpoint(run)
    tensors = [t for t in ckpt.state["generator"].values() if t.is_floating_point()]
    assert tensors and all(t.dtype == torch.float32 for t in tensors)
    resumed = train(resume_config(run, {"max_steps": 12}), resume=run, reporter=quiet)
    assert resumed.step == 12
    assert all(torch.isfinite(torch.tensor(list(resumed.final.values()))))
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    resume = [e for e in events if e.get("event") == "resume"]
    assert resume and resume[0]["precision"]["amp"] == "bf16"
