"""The hash function of `ganlab dedup`: a denoising autoencoder whose thresholded code is a key.

The paper's 3072-128-3072 denoising, dropout-regularised ReLU autoencoder on 32x32 centre
crops (1024-128-1024 for grey images): fitted once on a seeded sample of the data set, with a
checkpoint after every epoch so that an interrupted fit resumes exactly; `encode` turns a batch
into packed codes and each image's least-confident bits (for multi-probe lookups).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganlab.data.batches import batches
from ganlab.errors import GanlabError
from ganlab.experiments.dedup.config import SIZE, DedupConfig
from ganlab.io.atomic import atomic_path
from ganlab.io.tensorfile import load_tensor_file
from ganlab.progress import Reporter


class Autoencoder(nn.Module):
    """D-128-D denoising ReLU autoencoder over flattened 32x32 images (D = 1024 C).

    Inputs are uint8 images scaled to [0, 1] minus the training sample's per-pixel mean.
    """

    def __init__(self, inputs: int, code_bits: int = 128):
        super().__init__()
        self.encoder = nn.Linear(inputs, code_bits)
        self.decoder = nn.Linear(code_bits, inputs)
        self.register_buffer("mean", torch.zeros(inputs))

    def centre(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, 32, 32) -> float (B, D), centred."""
        return images.flatten(1).float().div_(255.0) - self.mean

    def preactivation(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, 32, 32) -> code pre-activations (B, code_bits)."""
        return self.encoder(self.centre(images))

    def loss(
        self, images: torch.Tensor, noise: float, dropout: float, gen: torch.Generator
    ) -> torch.Tensor:
        """Denoising loss: reconstruct the clean image from a noisy one through a dropped code."""
        x = self.centre(images)  # (B, D)
        noisy = x + noise * torch.randn(x.shape, generator=gen).to(x.device)
        h = F.relu(self.encoder(noisy))  # (B, code_bits)
        keep = (torch.rand(h.shape, generator=gen) >= dropout).to(h.device)
        h = h * keep / (1 - dropout) if dropout > 0 else h
        return F.mse_loss(self.decoder(h), x)


def train_autoencoder(
    data, cfg: DedupConfig, work: Path, device: torch.device, workers: int, rep: Reporter
) -> Autoencoder:
    """Fit (or finish fitting) the autoencoder on a seeded sample; checkpoint every epoch."""
    ae_path = work / "autoencoder.pt"
    inputs = data.channels * SIZE * SIZE
    ae = Autoencoder(inputs, cfg.code_bits)
    state = (
        load_tensor_file(
            ae_path,
            "dedup autoencoder",
            GanlabError,
            f"Delete {ae_path} to fit the autoencoder again.",
        )
        if ae_path.is_file()
        else None
    )
    if state is not None and state["epoch"] >= cfg.epochs:
        ae.load_state_dict(state["model"])
        return ae.to(device).eval()

    # the sample: a seeded choice of indices, read in index order (LMDB/file locality)
    rng = np.random.default_rng(cfg.seed)
    n_train = min(cfg.train_images, len(data))
    chosen = np.sort(rng.choice(len(data), n_train, replace=False))
    sample = torch.cat(
        [
            b.images
            for b in batches(data, indices=chosen, batch_size=cfg.batch_size, workers=workers)
        ]
    )  # (n, C, 32, 32) uint8
    if len(sample) < 2:
        raise GanlabError(
            "fewer than 2 readable images to fit the autoencoder on; check the "
            "dataset (are its files corrupt?)."
        )

    with torch.random.fork_rng(devices=[]):  # a seeded init that leaves the caller's RNG be
        torch.manual_seed(cfg.seed)
        ae = Autoencoder(inputs, cfg.code_bits)
    ae.mean.copy_(sample.flatten(1).float().mean(0) / 255.0)
    ae.to(device)
    opt = torch.optim.Adam(ae.parameters(), lr=cfg.lr)
    first = 0
    if state is not None:
        ae.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        first = state["epoch"]
    rep.start("autoencoder", total=cfg.epochs, completed=first)
    try:
        for epoch in range(first, cfg.epochs):
            # noise, dropout and order depend only on (seed, epoch): a resume is exact
            gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
            perm = torch.randperm(len(sample), generator=gen)
            total, steps = 0.0, 0
            ae.train()
            for s in range(0, len(sample), cfg.batch_size):
                loss = ae.loss(
                    sample[perm[s : s + cfg.batch_size]].to(device), cfg.noise, cfg.dropout, gen
                )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total, steps = total + loss.item(), steps + 1
            with atomic_path(ae_path) as tmp:
                torch.save(
                    {
                        "model": ae.state_dict(),
                        "optimizer": opt.state_dict(),
                        "epoch": epoch + 1,
                        "loss": total / steps,
                    },
                    tmp,
                )
            rep.update(epoch + 1, status=f"loss {total / steps:.4f}")
            if not rep.live:
                rep.log(f"autoencoder epoch {epoch + 1}/{cfg.epochs} loss {total / steps:.5f}")
    finally:
        rep.stop()
    return ae.eval()


@torch.no_grad()
def encode(
    ae: Autoencoder, images: torch.Tensor, cfg: DedupConfig, device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """Hash a batch.

    Args:
        ae: the fitted autoencoder.
        images: uint8 (B, C, 32, 32).
    Returns:
        (codes (B, code_bits / 8) uint8: bit i is 1 when unit i's ReLU activation exceeds the
        threshold, packed big-endian; weakest (B, probe) uint8: the units nearest the threshold,
        least confident first).
    """
    pre = ae.preactivation(images.to(device)).float().cpu()  # (B, code_bits)
    # relu(pre) > t  <=>  pre > t for t >= 0; the margin is the distance to the threshold
    codes = np.packbits((pre > cfg.threshold).numpy(), axis=1)
    margin = (pre - cfg.threshold).abs()
    weakest = margin.argsort(dim=1)[:, : cfg.probe].to(torch.uint8).numpy()
    return codes, weakest
