"""D as a feature extractor (paper section 5): max-pool each conv layer's map to a grid.

For each chosen conv layer of D, the post-activation map (B, C_l, H_l, W_l) is max-pooled to
(B, C_l, grid, grid), flattened, and the layers are concatenated: F = grid^2 * sum_l C_l
(the paper's 6-layer 32x32 ImageNet D: 16 x 1792 = 28672 dims).

A class-conditional D (`train --conditional`) is given no class (an all-zero label input), so
real and generated images without labels are embedded alike.

BatchNorm statistics: a D saved by ``ganlab train`` carries running means/variances averaged
(exponentially) over its last training batches, real and generated alike. The authors' probe
script instead re-estimated them over the probe's own training images before extracting;
``recompute_bn_stats`` does that (``ganlab probe --bn-stats recompute``, the default).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.core.amp import FLOAT32, AmpChoice
from ganlab.core.models import NO_CLASS, Discriminator, reestimating_batchnorm
from ganlab.io.images import to_unit
from ganlab.modelconfig import ModelConfig


def feature_dim(D: Discriminator, layers: Sequence[int] | None = None, grid: int = 4) -> int:
    """Length of the pooled feature vector for `layers` (default all) at `grid` x `grid`."""
    shapes = D.feature_shapes()
    chosen = range(len(shapes)) if layers is None else layers
    return sum(shapes[i][0] for i in chosen) * grid * grid


def pool_features(
    feats: list[torch.Tensor], layers: Sequence[int] | None = None, grid: int = 4
) -> torch.Tensor:
    """Max-pool and concatenate D's per-layer maps.

    Args:
        feats: D's per-layer outputs, each (B, C_l, H_l, W_l).
        layers: indices into feats (default all), input-to-output order.
        grid: output cells per side; a map smaller than the grid is used as is after
            nearest upsampling (so every layer contributes grid^2 cells).
    Returns:
        (B, F) float tensor.
    """
    chosen = range(len(feats)) if layers is None else layers
    pooled = []
    for i in chosen:
        f = feats[i]
        if f.shape[-1] < grid:  # e.g. a 4x4 last layer with grid 8
            f = F.interpolate(f, size=(grid, grid), mode="nearest")
        pooled.append(F.adaptive_max_pool2d(f, grid).flatten(1))  # (B, C_l * grid^2)
    return torch.cat(pooled, dim=1)


def d_embedding(
    D: Discriminator, x: torch.Tensor, layers: Sequence[int] | None = None, grid: int = 4
) -> torch.Tensor:
    """D's section 5 features of images: the one D-feature embedding every command uses.

    Args:
        D: the discriminator (eval mode for features that do not depend on the batch); a
            conditional D gets no class, so every image is embedded alike.
        x: images (B, C, S, S) in [-1, 1].
        layers, grid: see `pool_features` (default: every layer at 4x4, the paper's).
    Returns:
        (B, F): differentiable in x (projection's loss needs that).
    """
    y = _no_class(D, x)  # None: unconditional, or a net that holds its own class
    _, feats = D(x, features=True) if y is None else D(x, y, features=True)
    return pool_features(feats, layers, grid)


def d_features(
    D: Discriminator,
    images: torch.Tensor,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    layers: Sequence[int] | None = None,
    grid: int = 4,
) -> torch.Tensor:
    """`d_embedding` of uint8 images (N, C, S, S) held in memory, batched: (N, F) float32."""
    batches = (images[i : i + batch_size] for i in range(0, len(images), batch_size))
    return torch.cat(list(extract_features(D, batches, layers, grid, device)))


@torch.no_grad()
def extract_features(
    D: Discriminator,
    batches: Iterator[torch.Tensor],
    layers: Sequence[int] | None = None,
    grid: int = 4,
    device: str | torch.device = "cpu",
    precision: AmpChoice = FLOAT32,
) -> Iterator[torch.Tensor]:
    """Yield pooled features (B, F) on the CPU for each uint8 image batch (B, C, S, S).

    D should be in eval mode (running BatchNorm statistics) so a feature does not depend on
    the other images in its batch. `precision` (default float32) sets the compute precision;
    the features come back in float32 either way.
    """
    device = torch.device(device)
    for images in batches:
        x = to_unit(images.to(device))  # (B, C, S, S) in [-1, 1]
        with precision.autocast(device):
            pooled = d_embedding(D, x, layers, grid)
        yield pooled.float().cpu()


@torch.no_grad()
def recompute_bn_stats(
    D: Discriminator,
    batches: Iterator[torch.Tensor],
    device: str | torch.device = "cpu",
    precision: AmpChoice = FLOAT32,
) -> int:
    """Re-estimate every BatchNorm's population mean and variance over `batches`, then eval.

    Each BatchNorm's running statistics are reset and its momentum set to None (a cumulative
    average over batches); the uint8 image batches (B, C, S, S) go through D in train mode
    without gradients; D is left in eval mode with the new statistics and its old momentum.

    Args:
        D: the discriminator (changed in place).
        batches: uint8 image batches, e.g. the probe's training images in minibatches of 128.
        device: where D lives.
        precision: the compute precision of the convolutions (BatchNorm is float32 always).
    Returns:
        The number of batches averaged (0 when D has no BatchNorm).
    """
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules()):
        return 0
    count = 0
    with reestimating_batchnorm(D):
        for images in batches:
            with precision.autocast(torch.device(device)):
                x = to_unit(images.to(device))
                D(x, _no_class(D, x))
            count += 1
    if count == 0:
        raise ValueError("recompute_bn_stats needs at least one batch of images")
    return count


def _no_class(D: Discriminator, x: torch.Tensor) -> torch.Tensor | None:
    """A conditional D's label input for unlabelled images: NO_CLASS (zero one-hot) each."""
    if not isinstance(D, Discriminator) or not D.cfg.num_classes:
        return None
    return torch.full((x.shape[0],), NO_CLASS, dtype=torch.int64, device=x.device)


def bn_buffers(D: Discriminator) -> dict[str, torch.Tensor]:
    """D's BatchNorm running means and variances by state-dict name (to store or restore)."""
    return {
        k: v.detach().cpu().clone()
        for k, v in D.state_dict().items()
        if k.endswith(("running_mean", "running_var"))
    }


def random_discriminator(cfg: ModelConfig, seed: int = 0) -> Discriminator:
    """An untrained D of shape `cfg` (the paper's init, seeded; global RNG untouched), eval mode.

    The baseline a trained D's features must beat: random conv features are already a fair
    representation, so the gap measures what adversarial training added.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Discriminator(cfg).eval()
