"""The training options beside the paper's recipe (docs/recipes.md): each resumes exactly, the
paper's recipe is the old step operation for operation, and bad values get clear errors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from ganlab.core.config import TrainConfig, new_config
from ganlab.core.diffaug import aug_generator, diff_augment, parse_policy
from ganlab.core.ema import GeneratorEMA
from ganlab.core.models import build_models
from ganlab.core.nets import load_discriminator
from ganlab.core.order import step_noise
from ganlab.core.seeds import sample_z
from ganlab.core.step import gan_step, prepare_models
from ganlab.core.train import resume_config, train
from ganlab.errors import GanlabError
from ganlab.io.checkpoint import load_checkpoint
from ganlab.modelconfig import ModelConfig

OPTION_SETS = {
    "ema": {"ema": 0.9},
    "hinge+sn": {"loss": "hinge", "spectral_norm": "d"},
    "lsgan+sn-g": {"loss": "lsgan", "spectral_norm": "g"},
    "ttur+d-steps": {"lr_g": 1e-4, "lr_d": 4e-4, "d_steps": 2},
    "diffaug": {"diffaug": "color,translation,cutout"},
    "r1": {"r1": 0.5},
    "small-data": {"recipe": "small-data"},
    "regularized": {"recipe": "regularized"},
}


def all_weights(run_dir) -> dict:
    state = load_checkpoint(run_dir).state
    out = {}
    for part in ("generator", "discriminator", "generator_ema"):
        out.update({f"{part}.{k}": v for k, v in state.get(part, {}).items()})
    return out


@pytest.mark.parametrize("name", list(OPTION_SETS))
def test_resume_after_interruption_is_exact(tmp_path, quiet, tiny_config, name):
    """Interrupted at step 9 and resumed to 20 (across the lazy R1 steps 0 and 16), each
    option gives the weights, the averaged G and D of a run that never stopped."""
    cfg = tiny_config(max_steps=20, **OPTION_SETS[name])
    train(cfg, out=tmp_path / "straight", reporter=quiet)
    train(cfg.replace(max_steps=9), out=tmp_path / "resumed", reporter=quiet)
    resumed = resume_config(tmp_path / "resumed", {"max_steps": 20})
    assert train(resumed, resume=tmp_path / "resumed", reporter=quiet).step == 20
    a, b = all_weights(tmp_path / "straight"), all_weights(tmp_path / "resumed")
    assert a.keys() == b.keys()
    assert any(k.startswith("generator_ema.") for k in a) == (cfg.ema is not None)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # and the options changed the run: its nets are not the paper recipe's (--ema alone
    # trains the paper's nets and adds an average that differs from them)
    train(tiny_config(max_steps=20), out=tmp_path / "paper", reporter=quiet)
    p = all_weights(tmp_path / "paper")
    if name == "ema":
        p = {
            f"generator_ema.{k[len('generator.') :]}": v for k, v in p.items() if "generator." in k
        }
    assert any(not torch.equal(p[k], a[k]) for k in p if k in a and p[k].is_floating_point())


def _old_gan_step(G, D, opt_g, opt_d, x, z):
    """ganlab's step before the recipe options (commit f2db122), float32, channels-first."""
    bce = F.binary_cross_entropy_with_logits
    fake = G(z)
    real_logits = D(x, None).float()
    fake_logits = D(fake.detach(), None).float()
    loss_d = bce(real_logits, torch.ones_like(real_logits)) + bce(
        fake_logits, torch.zeros_like(fake_logits)
    )
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    D.requires_grad_(False)
    gen_logits = D(fake, None).float()
    loss_g = bce(gen_logits, torch.ones_like(gen_logits))
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    D.requires_grad_(True)


def test_paper_recipe_is_the_old_step_bit_for_bit():
    """`--recipe paper` runs the step ganlab ran before the options existed: same weights,
    bit for bit, after several steps (and so the same sample bytes); its noise is the old
    noise."""
    mcfg = ModelConfig(image_size=16, channels=1, nz=16, ngf=8, ndf=8)
    cfg = TrainConfig.from_options(recipe="paper")
    assert (cfg.loss, cfg.spectral_norm, cfg.ema, cfg.diffaug, cfg.r1, cfg.d_steps) == (
        "bce", "none", None, "", 0.0, 1
    )  # fmt: skip
    nets = []
    for _ in range(2):
        torch.manual_seed(0)
        G, D = build_models(mcfg)
        opts = [torch.optim.Adam(n.parameters(), lr=2e-4, betas=(0.5, 0.999)) for n in (G, D)]
        nets.append((G, D, *opts))
    m = prepare_models(*nets[0][:2], nets[0][2], nets[0][3], torch.device("cpu"))
    gen = torch.Generator().manual_seed(1)
    for step in range(5):
        x = torch.rand(32, 1, 16, 16, generator=gen) * 2 - 1
        z = step_noise(0, step, 0, 32, 16, "uniform")
        gan_step(m, x, [z], position=(0, step, 0))
        _old_gan_step(*nets[1], x, z)
    for a, b in zip(
        nets[0][0].state_dict().values(), nets[1][0].state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    for a, b in zip(
        nets[0][1].state_dict().values(), nets[1][1].state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    old = torch.Generator().manual_seed(3 * 2**42 + 7 * 2**10 + 1)  # the old derivation
    assert torch.equal(step_noise(3, 7, 1, 4, 16, "normal"), sample_z(4, 16, "normal", old))
    assert not torch.equal(
        step_noise(3, 7, 1, 4, 16, "normal", part=1), step_noise(3, 7, 1, 4, 16, "normal")
    )


def test_spectral_norm_keeps_each_layers_largest_singular_value_near_one(
    tmp_path, quiet, tiny_config
):
    train(
        tiny_config(max_steps=25, spectral_norm="d", loss="hinge"),
        out=tmp_path / "r",
        reporter=quiet,
    )
    D = load_discriminator(load_checkpoint(tmp_path / "r"))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())  # SN replaces BN
    convs = [m for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == len(D.blocks) + 1
    for conv in convs:
        w = conv.weight.reshape(conv.weight.shape[0], -1)  # the normalised weight (eval mode)
        sigma = torch.linalg.matrix_norm(w, ord=2).item()  # exact largest singular value
        assert abs(sigma - 1) < 0.05, sigma
        raw = conv.parametrizations.weight.original.reshape(w.shape[0], -1)
        assert torch.linalg.matrix_norm(raw, ord=2).item() < 0.9  # it does rescale (init 0.02)


def test_diffaug_is_seeded_by_position_and_differentiable():
    x = torch.rand(6, 3, 16, 16) * 2 - 1
    policy = parse_policy("color,translation,cutout")
    a = diff_augment(x, policy, aug_generator(0, 5, 0, 1))
    b = diff_augment(x, policy, aug_generator(0, 5, 0, 1))
    assert torch.equal(a, b)
    assert a.shape == x.shape and not torch.equal(a, x)
    for other in (aug_generator(0, 6, 0, 1), aug_generator(0, 5, 1, 1), aug_generator(0, 5, 0, 2)):
        assert not torch.equal(diff_augment(x, policy, other), a)
    # cutout zeroes a square of half the side in every image
    cut = diff_augment(torch.ones(4, 1, 16, 16), ("cutout",), aug_generator(1, 0, 0, 0))
    assert ((cut == 0).flatten(1).sum(1) > 0).all()
    # gradients reach the input, so G learns through D's view of its augmented fakes
    leaf = x.clone().requires_grad_(True)
    diff_augment(leaf, policy, aug_generator(0, 5, 0, 1)).square().sum().backward()
    assert leaf.grad is not None and leaf.grad.abs().sum() > 0


def test_gradients_reach_g_through_diffaug():
    mcfg = ModelConfig(image_size=16, channels=1, nz=16, ngf=8, ndf=8)
    torch.manual_seed(0)
    G, D = build_models(mcfg)
    opt_g, opt_d = (torch.optim.SGD(n.parameters(), lr=0.0) for n in (G, D))
    m = prepare_models(
        G, D, opt_g, opt_d, torch.device("cpu"), diffaug=parse_policy("translation,cutout")
    )
    gan_step(m, torch.rand(8, 1, 16, 16) * 2 - 1, torch.rand(8, 16), position=(0, 3, 0))
    grads = [p.grad for p in G.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0


def test_ema_follows_the_formula_with_warmup():
    mcfg = ModelConfig(image_size=16, channels=1, nz=16, ngf=8, ndf=8)
    G, _ = build_models(mcfg)
    ema = GeneratorEMA(G, 0.99, 16, "uniform")
    start = [p.detach().clone() for p in G.parameters()]
    with torch.no_grad():
        for p in G.parameters():
            p.add_(1.0)
    ema.update(0)  # beta_0 = min(0.99, 1/10)
    for s, p in zip(start, ema.G.parameters(), strict=True):
        assert torch.allclose(p, s + 0.9)
    assert ema.decay(10_000) == 0.99 and ema.decay(0) == pytest.approx(0.1)


def test_the_recipe_options_paper_values_are_the_configs_defaults():
    """The paper's values that a recipe switch puts back are TrainConfig's own defaults, and
    every recipe sets only recipe options."""
    from ganlab.core.recipes import RECIPE_OPTIONS, RECIPES

    default = TrainConfig()
    assert {k: getattr(default, k) for k in RECIPE_OPTIONS} == RECIPE_OPTIONS
    assert all(set(own) <= set(RECIPE_OPTIONS) for own in RECIPES.values())


def test_recipes_set_options_and_options_override_them():
    small = new_config({"dataset": "digits", "recipe": "small-data"})
    assert (small.loss, small.spectral_norm, small.ema) == ("bce", "none", 0.999)
    assert small.diffaug == "color,translation,cutout" and (small.g_lr, small.d_lr) == (2e-4, 2e-4)
    fast = new_config({"dataset": "digits", "recipe": "fast"})
    assert (fast.batch_size, fast.ema, fast.lr, fast.r1) == (32, 0.999, 2e-4, 0.1)
    assert small.batch_size == 128  # the paper's
    # --batch-size overrides the recipe's; another recipe brings the paper's back
    assert new_config({"dataset": "digits", "recipe": "fast", "batch_size": 64}).batch_size == 64
    assert (fast.replace(recipe="averaged").batch_size, fast.replace(recipe="averaged").r1) == (
        128,
        0.0,
    )
    # options neither recipe sets keep their values across a switch
    mine = TrainConfig.from_options(dataset="digits", batch_size=64, loss="hinge", ema=0.9)
    assert (mine.replace(recipe="small-data").batch_size, mine.replace(recipe="fast").loss) == (
        64,
        "hinge",
    )
    assert mine.replace(recipe="fast").ema == 0.999  # the new recipe's own values win
    mine = new_config({"dataset": "digits", "recipe": "averaged", "loss": "hinge", "ema": None})
    assert mine.loss == "hinge" and mine.ema == 0.999  # None: not given
    # Python: replacing the recipe sets its options, and drops the old recipe's
    assert small.replace(recipe="paper").ema is None
    assert small.replace(recipe="averaged", ema=0.99).ema == 0.99
    # regularized: the averaged recipe at 5x the paper's rate with R1; --lr overrides it, and
    # going back to the paper's recipe brings the paper's rate back
    reg = new_config({"dataset": "digits", "recipe": "regularized"})
    assert (reg.lr, reg.g_lr, reg.d_lr, reg.r1, reg.ema, reg.batch_size) == (
        1e-3,
        1e-3,
        1e-3,
        0.1,
        0.999,
        128,
    )
    assert new_config({"dataset": "digits", "recipe": "regularized", "lr": 5e-4}).d_lr == 5e-4
    assert (reg.replace(recipe="paper").lr, reg.replace(recipe="small-data").r1) == (2e-4, 0.0)
    assert TrainConfig(lr=3e-4).replace(recipe="fast").lr == 3e-4  # fast does not set it
    # a --config file's values win over its recipe, the command line over both
    from_file = {"recipe": "small-data", "lr_d": 1e-3}
    cfg = new_config({"dataset": "digits", "diffaug": "color"}, from_file)
    assert (cfg.recipe, cfg.lr_d, cfg.diffaug, cfg.ema) == ("small-data", 1e-3, "color", 0.999)
    # config.json holds the resolved options, so a run rebuilds without the recipe table
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["--ema", "1.5"], 2, ["[0, 1)", "0.999"]),
        (["--diffaug", "colour"], 1, ["color", "translation", "cutout"]),
        (["--loss", "wgan"], 2, ["bce", "hinge", "lsgan"]),
        (["--spectral-norm", "D"], 2, ["none", "both"]),
        (["--recipe", "fancy"], 2, ["paper", "averaged", "fast", "small-data", "regularized"]),
    ],
)
def test_bad_values_get_one_paragraph_errors(cli, tmp_path, args, code, words):
    r = cli("train", "digits", "--max-steps", "1", "--out", str(tmp_path / "r"), *args)
    assert r.exit_code == code, r.output
    text = " ".join(r.output.split())
    assert all(w in text for w in words), text
    assert "Traceback" not in r.output and not (tmp_path / "r").exists()


def test_config_file_values_are_checked(tmp_path):
    from ganlab.core.config import read_config_file

    path = tmp_path / "c.toml"
    path.write_text('loss = "wgan"\n')
    with pytest.raises(GanlabError, match="bce, hinge, lsgan"):
        read_config_file(path)
    path.write_text("ema = 1.0\n")
    with pytest.raises(GanlabError, match=r"\[0, 1\)"):
        read_config_file(path)


def _replayed_ema(run_dir, beta: float, steps: int) -> dict:
    """The average of G recomputed from the run's per-step checkpoints and its initial G."""
    first = load_checkpoint(run_dir / "checkpoints" / "step-00000001.pt")
    cfg = TrainConfig.from_dict(first.train_config)
    torch.manual_seed(cfg.seed)
    G, _ = build_models(first.model_config)
    ema = {k: v.clone() for k, v in G.named_parameters()}
    for t in range(steps):
        g = load_checkpoint(run_dir / "checkpoints" / f"step-{t + 1:08d}.pt").state["generator"]
        w = 1 - min(beta, (1 + t) / (10 + t))
        ema = {k: torch.lerp(v, g[k], w) for k, v in ema.items()}
    return ema


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    cmd = [*run, "--master_addr", "127.0.0.1", "--master_port", str(port), "-m", "ganlab", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.slow
def test_ddp_ema_is_the_average_of_the_synced_g(tmp_path, cli):
    """Under torchrun (2 processes, gloo) the saved average is the EMA of the trained G's
    weights step by step, as in one process. (The two runs' G differ by BatchNorm, which
    normalises over each process's half of the batch, so the check is against each run's
    own G trajectory.)"""
    tiny = ["--image-size", "16", "--ngf", "8", "--ndf", "8", "--nz", "16", "--batch-size",
            "64", "--device", "cpu", "--amp", "off", "--checkpoint-every", "1", "--keep", "50",
            "--max-steps", "6", "--ema", "0.9", "--r1", "0.5"]  # fmt: skip
    ddp = _torchrun("train", "digits", *tiny, "--out", str(tmp_path / "ddp"), "--quiet")
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    one = cli("train", "digits", *tiny, "--workers", "0", "--out", str(tmp_path / "one"), "--quiet")
    assert one.exit_code == 0, one.output
    for run in ("ddp", "one"):
        saved = load_checkpoint(tmp_path / run).state["generator_ema"]
        replayed = _replayed_ema(tmp_path / run, 0.9, 6)
        for k, v in replayed.items():
            torch.testing.assert_close(saved[k], v, rtol=1e-5, atol=1e-6)
    assert load_checkpoint(tmp_path / "ddp").state["world_size"] == 2
