"""Projection (GAN inversion): the z whose image G(z) is closest to a real image.

The loss of latent z for real image x, with G and D in eval mode (so an image's result never
depends on its batch-mates):

    loss = pixel_mse(G(z), x) + feature_weight * feature_dist(G(z), x)^2

- pixel_mse: mean squared difference on [0, 1] intensities (PSNR = -10 log10 pixel_mse);
- feature_dist: distance between D's section 5 representations (every conv layer max-pooled
  to 4x4, concatenated, L2-normalised): 0 for the same features, sqrt(2) for orthogonal ones.
  It is the space `ganlab neighbors` measures in, so the two commands' numbers compare, and it
  needs no downloaded network: the run's own D has learned what its images look like.

z stays inside the run's prior, where G was trained:
- U(-1, 1): z = sin(w), with w free. sin keeps every coordinate in [-1, 1] and, unlike tanh,
  its gradient does not vanish near the cube's faces, where a uniform prior puts much of its mass.
- N(0, I): z = sqrt(nz) * w / |w|, on the shell where almost all of the prior's mass lies.

Starts: the latents of `restarts` seeds (a block of seeds picked by `seed`, so a start is a
seed `ganlab sample --seeds` renders) and, when the run has an encoder, its guess E(x). Each
image starts from whichever has its lowest loss. Then `steps` of Adam on w with a cosine-decayed
learning rate; the best z seen for each image is kept, so the result is never worse than its
start.

Precision: the search (every start's score and every Adam step) follows `--amp` like the other
heavy forward passes (core.amp): under bf16 autocast where that is faster. The chosen z
and its start are then scored once more in float32, so the reported errors are float32 numbers
whatever the search ran in, and `sample --latents` (float32) renders exactly what they describe.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.core.amp import resolve_amp
from ganlab.core.encoder import Encoder, load_encoder
from ganlab.core.features import d_embedding
from ganlab.core.generate import class_nets
from ganlab.core.seeds import z_from_seeds
from ganlab.core.trainset import data_spec_of
from ganlab.data.userimages import UserImages, read_user_images
from ganlab.errors import GanlabError
from ganlab.io.checkpoint import Checkpoint
from ganlab.io.images import to_unit

FEATURE_GRID = 4  # each of D's conv maps max-pooled to 4x4 (paper section 5)


@dataclass(frozen=True)
class ProjectionConfig:
    """How `project` searches; the defaults are `ganlab project`'s."""

    steps: int = 200  # Adam steps per image (0: the best start as is)
    lr: float = 0.1  # Adam learning rate on w, decayed to 0 along a cosine
    restarts: int = 32  # seeded random starts; the best one (or the encoder's guess) is used
    seed: int = 0  # picks the restart seeds: seed*restarts .. (seed+1)*restarts - 1
    feature_weight: float = 0.1  # weight of the squared D-feature distance beside pixel MSE
    batch_size: int = 64  # images optimised together (does not change any image's result)
    amp: str = "off"  # the search's precision: off (float32), auto, bf16 (core.amp)

    def check(self, has_encoder: bool) -> None:
        """GanlabError naming the option when the search cannot run."""
        if self.steps < 0:
            raise GanlabError(f"--steps {self.steps}: give 0 or more optimisation steps.")
        if not self.lr > 0:
            raise GanlabError(f"--lr {self.lr}: the learning rate must be positive.")
        if self.restarts < 0 or self.seed < 0:
            raise GanlabError("--restarts and --seed must be 0 or more.")
        if self.restarts == 0 and not has_encoder:
            raise GanlabError(
                "--restarts 0 leaves nothing to start from without an encoder: give --restarts "
                "1 or more, or fit one with `ganlab project RUN --train-encoder`."
            )
        if not self.feature_weight >= 0:
            raise GanlabError(f"--feature-weight {self.feature_weight} must be 0 or more.")
        if self.batch_size < 1:
            raise GanlabError(f"--batch-size {self.batch_size} must be 1 or more.")

    def restart_seeds(self) -> list[int]:
        """The seeds whose latents are the random starts."""
        return list(range(self.seed * self.restarts, (self.seed + 1) * self.restarts))


@dataclass
class Projection:
    """Projected latents and their errors, one row per image."""

    z: torch.Tensor  # (N, nz) float32 on the CPU, inside the prior
    loss: torch.Tensor  # (N,) pixel_mse + feature_weight * feature_dist^2
    pixel_mse: torch.Tensor  # (N,) on [0, 1] intensities
    feature_dist: torch.Tensor  # (N,) unit D-feature distance, in [0, 2]
    start: list[str]  # per image: "seed 17" or "encoder"
    start_loss: torch.Tensor  # (N,) the loss of that start
    precision: str = "off"  # what the search computed in; the errors above are float32

    @property
    def psnr(self) -> torch.Tensor:
        """(N,) peak signal-to-noise ratio in dB (intensities on [0, 1])."""
        return -10 * torch.log10(self.pixel_mse.clamp_min(1e-10))


# --- the prior's parametrisation --------------------------------------------------------------


def to_free(z: torch.Tensor, dist: str) -> torch.Tensor:
    """The free parameter w of latents z (N, nz); from_free(to_free(z)) is z inside the prior."""
    if dist == "uniform":
        return torch.asin(z.clamp(-1.0, 1.0))
    return z.clone()


def from_free(w: torch.Tensor, dist: str) -> torch.Tensor:
    """Latents (N, nz) inside the prior for free parameters w (N, nz) (see module docstring)."""
    if dist == "uniform":
        return torch.sin(w)
    return F.normalize(w, dim=1) * math.sqrt(w.shape[1])


# --- the loss ---------------------------------------------------------------------------------


def features(D: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """D's unit-length section 5 features (B, F) of images x (B, C, S, S) in [-1, 1]."""
    return F.normalize(d_embedding(D, x, grid=FEATURE_GRID), dim=1)


def pixel_mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B,) mean squared difference on [0, 1] intensities of images (B, C, S, S) in [-1, 1]."""
    return (a - b).square().flatten(1).mean(1) / 4


def losses(
    D: nn.Module, images: torch.Tensor, target: torch.Tensor, target_feats: torch.Tensor, w: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, pixel_mse, feature_dist), each (B,), of images against their targets.

    Args:
        D: the run's discriminator in eval mode.
        images: G's output (B, C, S, S) in [-1, 1].
        target: the real images (B, C, S, S) in [-1, 1].
        target_feats: features(D, target), (B, F).
        w: the feature term's weight.
    """
    pix = pixel_mse(images.float(), target)
    dist2 = (features(D, images).float() - target_feats).square().sum(1)  # (B,)
    return pix + w * dist2, pix, dist2.clamp_min(0).sqrt()


@torch.no_grad()
def _best_restarts(
    G: nn.Module,
    D: nn.Module,
    z: torch.Tensor,
    target: torch.Tensor,
    target_feats: torch.Tensor,
    w: float,
    batch_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each target, the index into z (R, nz) of its lowest loss, and that loss: (B,), (B,).

    All R x B losses come from one pass of G over the R starts, with the distances as matrix
    products (|a|^2 + |b|^2 - 2ab) in float64, so nothing of size R x B x pixels is held.
    """
    pix_t = target.flatten(1).double()  # (B, P)
    feat_t = target_feats.double()  # (B, F)
    best = torch.full((len(target),), math.inf, dtype=torch.float64, device=target.device)
    index = torch.zeros(len(target), dtype=torch.int64, device=target.device)
    for start in range(0, len(z), batch_size):
        images = G(z[start : start + batch_size])  # (r, C, S, S)
        pix = images.flatten(1).double()  # (r, P)
        feat = features(D, images).double()  # (r, F)
        sq = (pix_t.square().sum(1, keepdim=True) + pix.square().sum(1) - 2 * pix_t @ pix.T) / (
            4 * pix.shape[1]
        )  # (B, r): pixel MSE on [0, 1]
        d2 = (2 - 2 * feat_t @ feat.T).clamp_min(0)  # (B, r): unit vectors
        loss = sq.clamp_min(0) + w * d2
        low, arg = loss.min(dim=1)
        better = low < best
        best = torch.where(better, low, best)
        index = torch.where(better, arg + start, index)
    return index, best


def project(
    ckpt: Checkpoint,
    images: torch.Tensor,
    config: ProjectionConfig = ProjectionConfig(),
    encoder: Encoder | None = None,
    device: str | torch.device = "cpu",
    on_batch: Callable[[int], None] | None = None,
    label: int | None = None,
) -> Projection:
    """Project real images into the run's latent space (see module docstring).

    Args:
        ckpt: the run's checkpoint (G, D, nz and prior).
        images: uint8 (N, C, S, S) at the run's size and channels (``data.userimages``).
        config: the search's settings.
        encoder: a fitted encoder whose guess is one more start, or None.
        device: where G, D and E run.
        on_batch: called with the number of images done after each batch (progress).
        label: a conditional run's class, held fixed for G and D (`resolve_class`).
    Returns:
        A Projection; for a given config the same images always give the same z.
    """
    config.check(encoder is not None)
    mc, dist = ckpt.model_config, ckpt.z_dist
    if tuple(images.shape[1:]) != (mc.channels, mc.image_size, mc.image_size):
        raise GanlabError(
            f"images of shape {tuple(images.shape[1:])} do not fit {ckpt.path}, which makes "
            f"{mc.channels}x{mc.image_size}x{mc.image_size} images."
        )
    G, D = class_nets(ckpt, label, device)  # a conditional run's held to `label`
    G.requires_grad_(False)
    D.requires_grad_(False)
    precision = resolve_amp(config.amp, torch.device(device))
    seeds = config.restart_seeds()
    # starts pass through the parametrisation, so a normal start sits on the shell like the rest
    restarts = from_free(to_free(z_from_seeds(seeds, mc.nz, dist), dist), dist).to(device)
    out = {k: [] for k in ("z", "loss", "pixel_mse", "feature_dist", "start_loss")}
    starts: list[str] = []
    done = 0
    for first in range(0, len(images), config.batch_size):
        x = to_unit(images[first : first + config.batch_size].to(device))  # (B, C, S, S)
        with torch.no_grad():
            fx = features(D, x)  # (B, F)
        with precision.autocast(x.device):
            z0, start_loss, labels = _starts(G, D, x, fx, restarts, seeds, encoder, config, dist)
            z, loss, pix, dist_f = _optimise(G, D, x, fx, z0, start_loss, config, dist)
        if precision.amp != "off":  # report float32 errors whatever the search ran in
            with torch.no_grad():
                loss, pix, dist_f = losses(D, G(z), x, fx, config.feature_weight)
                start_loss = losses(D, G(z0), x, fx, config.feature_weight)[0].double()
        for key, value in zip(out, (z, loss, pix, dist_f, start_loss), strict=True):
            out[key].append(value.detach().float().cpu())
        starts += labels
        done += len(x)
        if on_batch is not None:
            on_batch(done)
    cat = {k: torch.cat(v) for k, v in out.items()}
    return Projection(
        cat["z"],
        cat["loss"],
        cat["pixel_mse"],
        cat["feature_dist"],
        starts,
        cat["start_loss"],
        precision.amp,
    )


def project_files(
    ckpt: Checkpoint,
    paths: Sequence[str | Path],
    config: ProjectionConfig = ProjectionConfig(),
    use_encoder: bool = True,
    device: str | torch.device = "cpu",
    label: int | None = None,
) -> tuple[Projection, UserImages, list[str]]:
    """Read image files (or folders) as the run sees them and project them.

    What `concept add --images`, `arithmetic --base-image` and `interpolate --images` use: the
    same search as `ganlab project` with its defaults, from the run's encoder when it has one.

    Args:
        ckpt: the run's checkpoint; its run directory may hold an encoder.
        paths: image files and folders.
        config: the search's settings.
        use_encoder: start from the run's stored encoder too, when it has one.
        device: where G, D and E run.
        label: a conditional run's class (`resolve_class`).
    Returns:
        (projection, the images as read, warnings: conversions, skipped files, a stale encoder).
    """
    real = read_user_images(data_spec_of(ckpt), paths)
    stored = load_encoder(ckpt.path, ckpt, device) if use_encoder else None
    warnings = list(real.notes)
    if stored is not None and (stale := stored.stale(ckpt)):
        warnings.append(stale)
    encoder = stored.encoder if stored else None
    proj = project(ckpt, real.images, config, encoder, device, label=label)
    return proj, real, warnings


def _starts(G, D, x, fx, restarts, seeds, encoder, config, dist):
    """Each image's start: its best restart seed, or the encoder's guess where that is better.

    Returns:
        (z0 (B, nz), start loss (B,), labels).
    """
    w = config.feature_weight
    if len(restarts):
        index, best = _best_restarts(G, D, restarts, x, fx, w, config.batch_size)
        z0 = restarts[index]
        labels = [f"seed {seeds[i]}" for i in index.tolist()]
    else:
        z0 = torch.zeros(len(x), restarts.shape[1], device=x.device)
        best = torch.full((len(x),), math.inf, dtype=torch.float64, device=x.device)
        labels = [""] * len(x)
    if encoder is not None:
        with torch.no_grad():
            guess = from_free(to_free(encoder(x), dist), dist)  # (B, nz)
            loss, _, _ = losses(D, G(guess), x, fx, w)
        better = loss.double() < best
        z0 = torch.where(better[:, None], guess, z0)
        best = torch.where(better, loss.double(), best)
        labels = ["encoder" if b else lab for b, lab in zip(better.tolist(), labels, strict=True)]
    return z0, best, labels


def _optimise(G, D, x, fx, z0, start_loss, config, dist):
    """Adam on the free parameter from z0; the best z seen per image and its errors."""
    w = to_free(z0, dist).requires_grad_(True)
    opt = torch.optim.Adam([w], lr=config.lr)
    best_z = z0.clone()
    best = torch.full_like(start_loss, math.inf, dtype=torch.float32)
    best_pix, best_dist = torch.zeros_like(best), torch.zeros_like(best)
    for step in range(config.steps + 1):  # the last pass only scores the final z
        z = from_free(w, dist)
        loss, pix, dist_f = losses(D, G(z), x, fx, config.feature_weight)
        with torch.no_grad():
            better = loss < best
            best = torch.where(better, loss, best)
            best_pix = torch.where(better, pix, best_pix)
            best_dist = torch.where(better, dist_f, best_dist)
            best_z = torch.where(better[:, None], z, best_z)
        if step == config.steps:
            break
        for group in opt.param_groups:  # cosine decay from lr to 0
            group["lr"] = config.lr * 0.5 * (1 + math.cos(math.pi * step / config.steps))
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()  # a sum: each image's gradient is its own, whatever the batch
        opt.step()
    return best_z, best, best_pix, best_dist
