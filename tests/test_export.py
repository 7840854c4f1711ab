"""`ganlab export`: G (and D) as TorchScript or ONNX reproduce `ganlab sample` for the same z."""

from __future__ import annotations

import json
import sys
import warnings

import pytest
import torch

from ganlab.core.generate import generate
from ganlab.core.nets import load_discriminator
from ganlab.core.seeds import z_from_seeds
from ganlab.experiments.export import FORMATS, TOLERANCE, discriminator_path, export
from ganlab.io.checkpoint import load_checkpoint

SEEDS = list(range(8))


def latents(ckpt, seeds=SEEDS):
    return z_from_seeds(seeds, ckpt.model_config.nz, ckpt.z_dist)


def load_torchscript(path):
    files = {"ganlab.json": ""}
    with warnings.catch_warnings():  # torch.jit is deprecated upstream; the format still loads
        warnings.simplefilter("ignore", FutureWarning)
        module = torch.jit.load(str(path), _extra_files=files)
    return module, json.loads(files["ganlab.json"])


def test_torchscript_reproduces_generate(tiny_run, tmp_path):
    ckpt = load_checkpoint(tiny_run)
    result = export(tiny_run, "torchscript", out=tmp_path / "g.pt", with_discriminator=True)
    assert result.out == str(tmp_path / "g.pt") and result.max_abs_error <= TOLERANCE
    g, meta = load_torchscript(tmp_path / "g.pt")
    z = latents(ckpt, [*SEEDS, 1000])  # another batch size than the one traced
    expected = generate(ckpt, z)
    with torch.no_grad():
        assert (g(z) - expected).abs().max() <= TOLERANCE
    mc = ckpt.model_config
    assert meta["net"] == "generator" and meta["nz"] == mc.nz and meta["z_dist"] == "uniform"
    assert meta["z_prior"] == "U(-1, 1)" and meta["image_size"] == mc.image_size
    assert meta["channels"] == mc.channels and meta["step"] == ckpt.step
    assert meta["ganlab_version"] and meta["checkpoint_sha256"] == ckpt.sha256()

    d, d_meta = load_torchscript(tmp_path / "g-discriminator.pt")
    assert result.discriminator == str(tmp_path / "g-discriminator.pt")
    assert d_meta["net"] == "discriminator" and "logits" in d_meta["output"]
    with torch.no_grad():
        assert (d(expected) - load_discriminator(ckpt)(expected)).abs().max() <= TOLERANCE


@pytest.mark.slow  # torch.export-based ONNX export takes seconds per net
def test_onnx_reproduces_generate_in_onnxruntime(tiny_run, tmp_path):
    onnx = pytest.importorskip("onnx", reason="pip install 'ganlab[onnx]'")
    ort = pytest.importorskip("onnxruntime", reason="pip install 'ganlab[onnx]'")
    pytest.importorskip("onnxscript", reason="pip install 'ganlab[onnx]'")
    ckpt = load_checkpoint(tiny_run)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)  # a run directory holding one checkpoint
    checkpoint = run / "checkpoints" / ckpt.path.name
    checkpoint.write_bytes(ckpt.path.read_bytes())
    result = export(checkpoint, "onnx", with_discriminator=True)  # default: RUN/export/
    assert result.out == str(run / "export" / "generator.onnx")
    assert result.discriminator == str(run / "export" / "discriminator.onnx")

    model = onnx.load(result.out)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["nz"] == str(ckpt.model_config.nz) and meta["z_dist"] == "uniform"
    assert meta["image_size"] == str(ckpt.model_config.image_size) and meta["ganlab_version"]
    session = ort.InferenceSession(result.out, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["z"]
    z = latents(ckpt)
    expected = generate(ckpt, z)
    for batch in (z[:1], z):  # any batch size
        got = torch.from_numpy(session.run(None, {"z": batch.numpy()})[0])
        assert (got - expected[: len(batch)]).abs().max() <= TOLERANCE

    d = ort.InferenceSession(result.discriminator, providers=["CPUExecutionProvider"])
    logits = torch.from_numpy(d.run(None, {"images": expected.numpy()})[0])
    with torch.no_grad():
        assert (logits - load_discriminator(ckpt)(expected)).abs().max() <= TOLERANCE


def test_export_cli(tiny_run, tmp_path, cli, monkeypatch):
    from ganlab.cli.export import Format

    assert [f.value for f in Format] == list(FORMATS)  # the CLI spells the library's list
    r = cli("export", tiny_run, "--out", tmp_path / "g.pt", "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["format"] == "torchscript" and result["max_abs_error"] <= TOLERANCE
    # the suffix must name the format: a usage error, nothing written
    r = cli("export", tiny_run, "--format", "onnx", "--out", tmp_path / "g2.pt")
    assert r.exit_code == 2 and ".onnx" in r.output and not (tmp_path / "g2.pt").exists()
    # without the onnx extra: one paragraph with the install command, exit 1
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    r = cli("export", tiny_run, "--format", "onnx", "--out", tmp_path / "g.onnx")
    assert r.exit_code == 1 and "pip install 'ganlab[onnx]'" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "g.onnx").exists()


def test_discriminator_path():
    assert discriminator_path("a/generator.onnx").as_posix() == "a/discriminator.onnx"
    assert discriminator_path("g.pt").as_posix() == "g-discriminator.pt"
