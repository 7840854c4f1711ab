"""An encoder E: image -> z that guesses a projection's starting point (as iGAN does).

E is fitted on G's own samples, whose z is known: draw z from the run's prior, render G(z) in
eval mode, regress E(G(z)) onto z. One forward pass then gives a start for `ganlab project`
that is usually far closer than the best of a few dozen random draws, so fewer optimisation
steps reach a given error. E is stored with the run (``RUN/encoder.pt``) and used by every later
projection of that run; ``--no-encoder`` leaves it out.

The file holds only tensors and plain values (loaded with ``weights_only=True``): the weights,
E's shape, the fit's settings and held-out errors, and the checkpoint (path, sha256, step) and
the G ("ema": the averaged G, or "raw") it was fitted to. A projection on another checkpoint of
the run, or with the other G, still uses it, with a warning: it only picks a start, and the
optimisation does the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganlab import __version__
from ganlab.core.models import num_stages
from ganlab.core.nets import load_generator
from ganlab.core.seeds import sample_z
from ganlab.errors import CheckpointError
from ganlab.io.atomic import atomic_path
from ganlab.io.checkpoint import Checkpoint
from ganlab.io.runspec import run_dir_of
from ganlab.io.tensorfile import load_tensor_file

ENCODER_FILE = "encoder.pt"
FORMAT = "ganlab-encoder"
FORMAT_VERSION = 1
HELDOUT = 512  # fresh samples the fitted encoder is scored on


@dataclass(frozen=True)
class EncoderConfig:
    """Shape of an encoder: it mirrors D's strided convolutions, with nz outputs."""

    image_size: int  # input side S (the run's)
    channels: int  # input channels (the run's)
    nz: int  # output size (the run's latent size)
    z_dist: str  # "uniform": outputs squashed into (-1, 1); "normal": left free
    nef: int = 64  # width of the first conv layer (doubles per stage, capped at 8x)


class Encoder(nn.Module):
    """Image (B, C, S, S) in [-1, 1] -> z (B, nz); inside (-1, 1) for a uniform prior."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        n = num_stages(cfg.image_size)
        width = [cfg.nef * min(2**level, 8) for level in range(n)]
        # (B, C, S, S) -> (B, nef, S/2, S/2); no BatchNorm on the input layer, as in D
        layers: list[nn.Module] = [
            nn.Conv2d(cfg.channels, width[0], 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for level in range(1, n):
            # (B, w(level-1), s, s) -> (B, w(level), s/2, s/2)
            layers += [
                nn.Conv2d(width[level - 1], width[level], 4, 2, 1, bias=False),
                nn.BatchNorm2d(width[level]),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        # (B, w, 4, 4) -> (B, nz, 1, 1)
        layers.append(nn.Conv2d(width[-1], cfg.nz, 4, 1, 0))
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.main(x).flatten(1)  # (B, nz)
        return torch.tanh(z) if self.cfg.z_dist == "uniform" else z


@dataclass
class EncoderFit:
    """How an encoder was fitted, and how well it inverts G on fresh samples."""

    steps: int
    batch_size: int
    lr: float
    seed: int
    latent_mse: float  # mean (E(G(z)) - z)^2 over HELDOUT fresh z
    pixel_mse: float  # mean (G(E(G(z))) - G(z))^2 on [0, 1] intensities, same z
    seconds: float


@dataclass
class StoredEncoder:
    """An encoder read from a run, with the checkpoint it was fitted to."""

    encoder: Encoder
    path: Path
    checkpoint_sha256: str
    step: int
    fit: dict
    weights: str | None = None  # the G it was fitted to: "ema" or "raw" (None: not recorded)

    def stale(self, ckpt: Checkpoint) -> str | None:
        """A warning when `ckpt` (or the G it renders) is not the one the encoder was fitted to."""
        if self.checkpoint_sha256 != ckpt.sha256():
            return (
                f"the encoder {self.path} was fitted to step {self.step}, this checkpoint is step "
                f"{ckpt.step}: its guesses start further away (refit it with `ganlab project RUN "
                "--train-encoder`)."
            )
        if self.weights is not None and self.weights != ckpt.weights_used:
            return (
                f"the encoder {self.path} was fitted to the {_G_NAMES[self.weights]}, this "
                f"projection uses the {_G_NAMES[ckpt.weights_used]}: its guesses start further "
                f"away (refit it with `ganlab project RUN --train-encoder --weights "
                f"{ckpt.weights_used}`)."
            )
        return None


_G_NAMES = {"ema": "averaged G (--weights ema)", "raw": "trained G (--weights raw)"}


def fit_encoder(
    ckpt: Checkpoint,
    steps: int = 1000,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    nef: int | None = None,
    device: str | torch.device = "cpu",
    on_step: Callable[[int, float], None] | None = None,
) -> tuple[Encoder, EncoderFit]:
    """Fit E on G's own samples: z from the run's prior, regress E(G(z)) onto z.

    Args:
        ckpt: the run's checkpoint (G in eval mode makes the training pairs: the G its
            `weights` picks).
        steps: Adam steps.
        batch_size: samples per step.
        lr: Adam's learning rate (beta1 0.5, as for the GAN).
        seed: seeds E's initialisation and the z of every step.
        nef: E's first-layer width (default: half the run's ndf: E only guesses a start).
        device: where G and E run.
        on_step: called as on_step(step, loss) after every step (progress).
    Returns:
        (E in eval mode, EncoderFit).
    """
    start = time.perf_counter()
    mc = ckpt.model_config
    cfg = EncoderConfig(mc.image_size, mc.channels, mc.nz, ckpt.z_dist, nef or max(mc.ndf // 2, 8))
    G = load_generator(ckpt, device).requires_grad_(False)
    with torch.random.fork_rng(devices=[]):  # seeded init, the global RNG untouched
        torch.manual_seed(seed)
        E = Encoder(cfg)
    E = E.to(device).train()
    opt = torch.optim.Adam(E.parameters(), lr=lr, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        z = sample_z(batch_size, mc.nz, ckpt.z_dist, gen).to(device)  # (B, nz)
        with torch.no_grad():
            x = G(z)  # (B, C, S, S)
        loss = F.mse_loss(E(x), z)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if on_step is not None:
            on_step(step + 1, float(loss.detach()))
    E.eval()
    latent_mse, pixel_mse = score_encoder(G, E, ckpt, seed, device)
    fit = EncoderFit(
        steps, batch_size, lr, seed, latent_mse, pixel_mse, round(time.perf_counter() - start, 2)
    )
    return E, fit


@torch.no_grad()
def score_encoder(
    G: nn.Module, E: Encoder, ckpt: Checkpoint, seed: int, device: str | torch.device
) -> tuple[float, float]:
    """(latent MSE, pixel MSE on [0, 1]) of E on HELDOUT fresh samples (a stream E never saw)."""
    gen = torch.Generator().manual_seed(seed + 1_000_003)  # not the fitting stream
    z = sample_z(HELDOUT, ckpt.model_config.nz, ckpt.z_dist, gen).to(device)
    x = G(z)
    guess = E(x)
    pixel = ((G(guess) - x) / 2).square().mean()  # [-1, 1] -> [0, 1] intensities
    return round(float((guess - z).square().mean()), 6), round(float(pixel), 6)


def encoder_path(run: str | Path) -> Path:
    """RUN/encoder.pt for a run directory or a checkpoint inside one."""
    return run_dir_of(run) / ENCODER_FILE


def save_encoder(run: str | Path, E: Encoder, fit: EncoderFit, ckpt: Checkpoint) -> Path:
    """Store E with the run, atomically; returns the file written."""
    path = encoder_path(run)
    record = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "ganlab_version": __version__,
        "config": asdict(E.cfg),
        "weights": {k: v.detach().cpu().contiguous() for k, v in E.state_dict().items()},
        "checkpoint": str(ckpt.path),
        "checkpoint_sha256": ckpt.sha256(),
        "step": ckpt.step,
        "g_weights": ckpt.weights_used,  # the G fitted to: "ema" (the averaged G) or "raw"
        "fit": asdict(fit),
    }
    with atomic_path(path) as tmp:
        torch.save(record, tmp)
    return path


def load_encoder(
    run: str | Path, ckpt: Checkpoint, device: str | torch.device = "cpu"
) -> StoredEncoder | None:
    """The run's stored encoder, in eval mode on `device`; None when the run has none.

    Raises:
        CheckpointError: the file is damaged, from a newer ganlab, or shaped for another
            latent space or image size than `ckpt`'s.
    """
    path = encoder_path(run)
    if not path.is_file():
        return None
    refit = "Refit it with `ganlab project RUN --train-encoder`, or pass --no-encoder."
    state = load_tensor_file(path, "encoder", CheckpointError, refit)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a ganlab encoder. {refit}")
    if not isinstance(state.get("format_version"), int) or state["format_version"] > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has encoder format {state.get('format_version')!r}, newer than this ganlab "
            f"reads (<= {FORMAT_VERSION}); upgrade ganlab. {refit}"
        )
    try:
        cfg = EncoderConfig(**state["config"])
        E = Encoder(cfg)
        E.load_state_dict(state["weights"])
    except (KeyError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"encoder {path} is incomplete or damaged ({e}). {refit}") from None
    mc = ckpt.model_config
    if (cfg.image_size, cfg.channels, cfg.nz, cfg.z_dist) != (
        mc.image_size,
        mc.channels,
        mc.nz,
        ckpt.z_dist,
    ):
        raise CheckpointError(
            f"encoder {path} maps {cfg.channels}x{cfg.image_size}px images to nz={cfg.nz} "
            f"{cfg.z_dist} latents, but checkpoint {ckpt.path} has {mc.channels}x"
            f"{mc.image_size}px images and nz={mc.nz} {ckpt.z_dist} latents. {refit}"
        )
    return StoredEncoder(
        E.to(device).eval(),
        path,
        str(state.get("checkpoint_sha256", "")),
        int(state.get("step", -1)),
        dict(state.get("fit", {})),
        state.get("g_weights") if state.get("g_weights") in ("ema", "raw") else None,
    )
