import os

import pytest
import torch

import ganlab.io.checkpoint as ckpt_mod
from ganlab.core.nets import load_generator
from ganlab.core.train import train
from ganlab.errors import CheckpointError
from ganlab.io.checkpoint import load_checkpoint
from ganlab.io.runspec import resolve_checkpoint_path


@pytest.fixture
def run(tmp_path, quiet, tiny_config):
    train(tiny_config(max_steps=4, checkpoint_every=2), out=tmp_path / "run", reporter=quiet)
    return tmp_path / "run"


def test_checkpoint_is_complete_and_loads_weights_only(run):
    path = resolve_checkpoint_path(run)
    raw = torch.load(path, weights_only=True)  # must not need arbitrary unpickling
    for key in (
        "generator",
        "discriminator",
        "opt_g",
        "opt_d",
        "step",
        "epoch",
        "config",
        "model_config",
        "rng",
        "ganlab_version",
        "format_version",
    ):
        assert key in raw, key
    ckpt = load_checkpoint(run)
    assert ckpt.step == 4 and ckpt.model_config.image_size == 16
    assert not load_generator(ckpt).training  # eval mode for rendering


def test_malicious_checkpoint_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "ganlab-checkpoint", "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    assert not marker.exists()


def test_truncated_checkpoint_is_refused(run, tmp_path):
    data = resolve_checkpoint_path(run).read_bytes()
    for cut in (10, len(data) // 2, len(data) - 30):
        bad = tmp_path / f"cut{cut}.pt"
        bad.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="truncated or corrupt"):
            load_checkpoint(bad)


def test_kill_during_save_leaves_previous_checkpoint_valid(run, monkeypatch):
    """A save that dies half-way leaves no file under the final name and `latest` unchanged."""
    ckdir = run / "checkpoints"
    before = sorted(p.name for p in ckdir.iterdir())

    def dying_save(obj, f):
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt  # the process is killed mid-write

    monkeypatch.setattr(ckpt_mod.torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        ckpt_mod.save_checkpoint(ckdir / "step-00000006.pt", {"step": 6})
    assert sorted(p.name for p in ckdir.iterdir()) == before
    assert load_checkpoint(run).step == 4


def test_architecture_mismatch_is_refused(run, tmp_path):
    state = torch.load(resolve_checkpoint_path(run), weights_only=True)
    state["model_config"]["ngf"] = 16  # weights were trained with ngf 8
    path = tmp_path / "edited.pt"
    torch.save(state, path)
    ckpt = load_checkpoint(path)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_generator(ckpt)


def test_not_a_checkpoint_and_newer_format(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a ganlab checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    torch.save({"format": "ganlab-checkpoint", "format_version": 99}, tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match="upgrade"):
        load_checkpoint(tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match="no checkpoint yet"):
        load_checkpoint(tmp_path)


def test_training_state_round_trip_with_loss_scalers(tmp_path):
    """What `--amp fp16` adds (loss scalers) is saved and restored with the rest (CPU stand-in)."""
    from ganlab.core.models import ModelConfig, build_models

    mcfg = ModelConfig(image_size=16, channels=1, nz=4, ngf=4, ndf=4)

    def state(seed: int, init_scale: float) -> ckpt_mod.TrainingState:
        torch.manual_seed(seed)
        G, D = build_models(mcfg)
        return ckpt_mod.TrainingState(
            G,
            D,
            torch.optim.Adam(G.parameters()),
            torch.optim.Adam(D.parameters()),
            config={"dataset": "digits"},
            model_config=mcfg,
            steps_per_epoch=10,
            world_size=1,
            device=torch.device("cpu"),
            scaler_d=torch.amp.GradScaler("cpu", init_scale=init_scale),
            scaler_g=torch.amp.GradScaler("cpu", init_scale=init_scale / 2),
        )

    saved = state(seed=0, init_scale=1024.0)
    ckpt_mod.save_checkpoint(tmp_path / "s.pt", saved.snapshot(step=25))
    rng = torch.get_rng_state()
    torch.rand(3)  # move the global generator on: restore puts it back
    ckpt = load_checkpoint(tmp_path / "s.pt")
    assert (ckpt.step, ckpt.epoch) == (25, 2)
    fresh = state(seed=1, init_scale=8.0)
    assert fresh.restore(ckpt) == 25
    fresh.restore_scalers(ckpt)
    assert torch.equal(torch.get_rng_state(), rng)
    assert fresh.scaler_d.get_scale() == 1024.0 and fresh.scaler_g.get_scale() == 512.0
    for a, b in zip(saved.G.state_dict().values(), fresh.G.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("kind", ["plain pickle", "text", "empty"])
def test_foreign_file_as_checkpoint_is_one_quiet_paragraph(kind, tmp_path, cli):
    """No PyTorch warning reaches the terminal, and the message is ganlab's own: never
    PyTorch's advice to retry with weights_only=False, the unsafe load ganlab refuses."""
    import pickle
    import warnings

    path = tmp_path / "foreign.pt"
    if kind == "plain pickle":
        path.write_bytes(pickle.dumps({"generator": [1, 2, 3]}, protocol=4))
    else:
        path.write_text("not a checkpoint" if kind == "text" else "")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(CheckpointError, match="cannot read checkpoint") as e:
            load_checkpoint(path)
    assert caught == [], [str(w.message) for w in caught]
    assert "weights_only" not in str(e.value) and "torch.load" not in str(e.value)
    if kind == "plain pickle":
        assert "plain Python pickle" in str(e.value)
    result = cli("sample", path, "--seeds", "0", "--out", tmp_path / "x.png")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert not (tmp_path / "x.png").exists()
