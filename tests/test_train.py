import os
import signal

import pytest
import torch

import ganlab.core.order as order  # step_noise draws through its sample_z
from ganlab.core.train import resume_config, train
from ganlab.errors import GanlabError, Interrupted, TrainingDiverged
from ganlab.io.checkpoint import load_checkpoint
from ganlab.io.rundir import RunDir

# digits "all" = 1797 images; batch 64 -> 28 steps per epoch
STEPS_PER_EPOCH = 1797 // 64


def weights(run_dir) -> dict:
    ckpt = load_checkpoint(run_dir)
    return {
        **{f"G.{k}": v for k, v in ckpt.state["generator"].items()},
        **{f"D.{k}": v for k, v in ckpt.state["discriminator"].items()},
    }


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_run_directory_layout(tmp_path, quiet, tiny_config):
    result = train(tiny_config(epochs=2), out=tmp_path / "run", reporter=quiet)
    run = RunDir(tmp_path / "run")
    assert result.step == 2 * STEPS_PER_EPOCH and result.epoch == 2
    config = run.read_config()
    assert config["config"]["dataset"] == "digits"
    assert config["model"]["image_size"] == 16 and config["model"]["channels"] == 1
    assert config["steps_per_epoch"] == STEPS_PER_EPOCH
    assert sorted(p.name for p in run.samples_dir.iterdir()) == ["epoch-0001.png", "epoch-0002.png"]
    assert (run.checkpoints_dir / "latest").read_text().strip() == "step-00000056.pt"
    records = run.read_metrics()
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2]
    train_records = [r for r in records if r["kind"] == "train"]
    for key in ("loss_d", "loss_g", "d_x", "d_g_z", "images_per_s", "skipped", "step"):
        assert key in train_records[0]
    assert result.images_per_s > 0


def test_same_seed_same_weights(tmp_path, quiet, tiny_config):
    train(tiny_config(max_steps=6), out=tmp_path / "a", reporter=quiet)
    train(tiny_config(max_steps=6), out=tmp_path / "b", reporter=quiet)
    train(tiny_config(max_steps=6, seed=1), out=tmp_path / "c", reporter=quiet)
    assert_same_weights(tmp_path / "a", tmp_path / "b")
    with pytest.raises(AssertionError):
        assert_same_weights(tmp_path / "a", tmp_path / "c")


def test_resume_at_epoch_boundary_is_exact(tmp_path, quiet, tiny_config):
    train(tiny_config(epochs=2), out=tmp_path / "straight", reporter=quiet)
    train(tiny_config(epochs=1), out=tmp_path / "resumed", reporter=quiet)
    cfg = resume_config(tmp_path / "resumed", {"epochs": 2})
    result = train(cfg, resume=tmp_path / "resumed", reporter=quiet)
    assert result.step == 2 * STEPS_PER_EPOCH
    assert_same_weights(tmp_path / "straight", tmp_path / "resumed")
    # the optimizers' moments match too
    a = load_checkpoint(tmp_path / "straight").state["opt_g"]["state"]
    b = load_checkpoint(tmp_path / "resumed").state["opt_g"]["state"]
    assert all(torch.equal(a[k]["exp_avg"], b[k]["exp_avg"]) for k in a)


def test_resume_mid_epoch_with_max_steps(tmp_path, quiet, tiny_config):
    train(tiny_config(max_steps=40, epochs=2), out=tmp_path / "straight", reporter=quiet)
    train(tiny_config(max_steps=11, epochs=2), out=tmp_path / "resumed", reporter=quiet)
    # --max-steps counts from the start of the run: continue to step 40
    cfg = resume_config(tmp_path / "resumed", {"max_steps": 40})
    assert train(cfg, resume=tmp_path / "resumed", reporter=quiet).step == 40
    assert_same_weights(tmp_path / "straight", tmp_path / "resumed")
    events = [r for r in RunDir(tmp_path / "resumed").read_metrics() if r["kind"] == "event"]
    assert events[0]["event"] == "resume" and events[0]["step"] == 11
    # resubmitting the same slice is a no-op that writes nothing new
    before = sorted(p.name for p in (tmp_path / "resumed" / "checkpoints").iterdir())
    again = train(cfg, resume=tmp_path / "resumed", reporter=quiet)
    assert again.step == 40 and again.checkpoint.endswith("step-00000040.pt")
    assert sorted(p.name for p in (tmp_path / "resumed" / "checkpoints").iterdir()) == before


def test_resume_refuses_to_change_identity(tmp_path, quiet, tiny_config):
    train(tiny_config(max_steps=2), out=tmp_path / "run", reporter=quiet)
    with pytest.raises(GanlabError, match="--ngf 16"):
        resume_config(tmp_path / "run", {"ngf": 16})
    # repeating the stored value is fine, and runtime options may change
    cfg = resume_config(tmp_path / "run", {"ngf": 8, "lr": 1e-4, "max_steps": 3})
    assert cfg.lr == 1e-4 and cfg.max_steps == 3


def test_keep_prunes_old_checkpoints(tmp_path, quiet, tiny_config):
    train(
        tiny_config(max_steps=20, checkpoint_every=4, keep=2), out=tmp_path / "run", reporter=quiet
    )
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("*.pt"))
    assert names == ["step-00000016.pt", "step-00000020.pt"]


def test_signal_saves_checkpoint_and_resume_is_exact(tmp_path, quiet, monkeypatch, tiny_config):
    real_sample_z = order.sample_z
    calls = []

    def sample_z_then_signal(*args, **kwargs):
        calls.append(1)
        if len(calls) == 7:  # during step 7, as if the user pressed Ctrl-C
            os.kill(os.getpid(), signal.SIGTERM)
        return real_sample_z(*args, **kwargs)

    monkeypatch.setattr(order, "sample_z", sample_z_then_signal)
    with pytest.raises(Interrupted, match="--resume") as info:
        train(tiny_config(max_steps=15), out=tmp_path / "run", reporter=quiet)
    assert info.value.exit_code == 130
    assert load_checkpoint(tmp_path / "run").step == 7
    monkeypatch.setattr(order, "sample_z", real_sample_z)
    # the handler is gone again: SIGTERM's default action is restored
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    train(resume_config(tmp_path / "run", {}), resume=tmp_path / "run", reporter=quiet)
    train(tiny_config(max_steps=15), out=tmp_path / "straight", reporter=quiet)
    assert_same_weights(tmp_path / "straight", tmp_path / "run")


def test_divergence_stops_and_keeps_last_good_checkpoint(tmp_path, quiet, monkeypatch, tiny_config):
    real_sample_z = order.sample_z
    calls = []

    def poisoned(*args, **kwargs):
        calls.append(1)
        z = real_sample_z(*args, **kwargs)
        return z * float("nan") if len(calls) > 6 else z

    monkeypatch.setattr(order, "sample_z", poisoned)
    with pytest.raises(TrainingDiverged, match="NaN"):
        train(
            tiny_config(max_steps=20, checkpoint_every=3, log_every=100),
            out=tmp_path / "r",
            reporter=quiet,
        )
    ckpt = load_checkpoint(tmp_path / "r")
    assert ckpt.step == 6
    assert all(
        torch.isfinite(v).all() for v in ckpt.state["generator"].values() if v.is_floating_point()
    )


def test_too_small_dataset_for_batch(tmp_path, quiet, tiny_config):
    with pytest.raises(GanlabError, match="--batch-size"):
        train(tiny_config(batch_size=4096), out=tmp_path / "r", reporter=quiet)


def test_out_dir_must_be_new(tmp_path, quiet, tiny_config):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "x").write_text("keep me")
    with pytest.raises(GanlabError, match="not empty"):
        train(tiny_config(max_steps=1), out=tmp_path / "r", reporter=quiet)
    assert (tmp_path / "r" / "x").read_text() == "keep me"


@pytest.mark.slow
def test_real_digits_run_learns(tmp_path, quiet, tiny_config):
    """A short real run on digits: losses move, samples are varied and digit-like in tone."""
    result = train(
        tiny_config(image_size=32, ngf=32, ndf=32, nz=100, epochs=15, log_every=7),
        out=tmp_path / "run",
        reporter=quiet,
    )
    records = [r for r in RunDir(tmp_path / "run").read_metrics() if r["kind"] == "train"]
    losses_g = [r["loss_g"] for r in records]
    assert max(losses_g) - min(losses_g) > 0.3
    from ganlab.core.generate import generate
    from ganlab.core.seeds import z_from_seeds
    from ganlab.data import load_dataset
    from ganlab.io.images import to_unit

    ckpt = load_checkpoint(result.run_dir)
    images = generate(ckpt, z_from_seeds(list(range(64)), 100, "uniform"))
    flat = images.flatten(1)
    # pairwise distances between samples: a collapsed G gives near-identical images
    dists = torch.cdist(flat, flat)[~torch.eye(64, dtype=bool)]
    assert dists.mean() > 0.25 * flat.norm(dim=1).mean()
    # digits are bright strokes on a dark background; an untrained G gives grey mush (~0 %)
    real = to_unit(load_dataset("digits", split="all", image_size=32).images)
    background = (images < -0.5).float().mean().item()
    assert abs(background - (real < -0.5).float().mean().item()) < 0.2
    assert images.max() > 0.5


def test_cli_resume_reads_the_checkpoint_once(tmp_path, cli, monkeypatch):
    """`train --resume` checks the run's options against its latest checkpoint and restores
    from it: one read of the file, not one for each."""
    import ganlab.io.checkpoint as checkpoint

    out = tmp_path / "run"
    args = ("--image-size", "16", "--ngf", "4", "--ndf", "4", "--nz", "8", "--batch-size",
            "16", "--device", "cpu", "--workers", "0", "--amp", "off", "--quiet")  # fmt: skip
    r = cli("train", "digits", "--split", "all", "--max-steps", "2", "--checkpoint-every", "1",
            *args, "--out", out)  # fmt: skip
    assert r.exit_code == 0, r.output
    reads = []
    real = checkpoint.load_tensor_file
    monkeypatch.setattr(
        checkpoint, "load_tensor_file", lambda path, *a: reads.append(path) or real(path, *a)
    )
    r = cli("train", "--resume", out, "--max-steps", "3", "--quiet")
    assert r.exit_code == 0, r.output
    assert reads == [out / "checkpoints" / "step-00000002.pt"]
    assert RunDir(out).read_metrics()[-1]["step"] == 3
