"""`ganlab visualize`: guided backpropagation of D's features (paper Fig. 5).

For each of the first `features` channels of one conv layer of D (default the last), the real
images with the largest axis-aligned response (the channel's maximum over positions) are
found in one streamed pass, and the gradient of that single activation with respect to the
image is computed with guided backpropagation (Springenberg et al., 2015): at every
nonlinearity only positive gradient flows, and only where the forward input was positive.

LeakyReLU. D uses LeakyReLU(0.2). Guided backprop is defined for ReLU; here the backward rule
ignores the leaky slope: where the forward input was negative no gradient passes (the 0.2
is *not* used), and elsewhere only positive gradient passes. The forward pass is untouched
(still leaky), so the selected activation and every map feeding it are D's real values. Using
the 0.2 slope in the backward pass would let negative evidence leak through every layer and
blur the pictures towards plain gradients. BatchNorm (eval mode) is affine and passes
gradients unchanged.

`random_init` renders the same for a freshly initialised D (N(0, 0.02) weights, the paper's
baseline): its features respond to no particular structure.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganlab.core.models import Discriminator
from ganlab.core.nets import load_discriminator
from ganlab.core.trainset import training_data_of
from ganlab.data.batches import batches
from ganlab.errors import GanlabError
from ganlab.io.checkpoint import load_checkpoint
from ganlab.io.images import grid_image, save_png, to_unit
from ganlab.progress import Reporter


class _GuidedFn(torch.autograd.Function):
    """Forward: leaky ReLU. Backward: grad * [input > 0] * [grad > 0]."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, slope: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        return F.leaky_relu(x, slope)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad * (x > 0) * (grad > 0), None


class GuidedReLU(nn.Module):
    """A (leaky) ReLU whose backward pass follows the guided-backpropagation rule."""

    def __init__(self, slope: float = 0.0):
        super().__init__()
        self.slope = slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _GuidedFn.apply(x, self.slope)


def guided_copy(net: nn.Module) -> nn.Module:
    """A deep copy of `net` with every ReLU/LeakyReLU replaced by a GuidedReLU (same forward)."""
    net = copy.deepcopy(net)
    for module in list(net.modules()):
        for name, child in module.named_children():
            if isinstance(child, nn.LeakyReLU):
                setattr(module, name, GuidedReLU(child.negative_slope))
            elif isinstance(child, nn.ReLU):
                setattr(module, name, GuidedReLU(0.0))
    return net


def layer_map(D: Discriminator, x: torch.Tensor, layer: int) -> torch.Tensor:
    """Output (B, C_l, H_l, W_l) of conv block `layer` of D (after its activation)."""
    for block in D.blocks[: layer + 1]:
        x = block(x)
    return x


@torch.no_grad()
def max_responses(
    D: Discriminator,
    data,
    layer: int,
    features: int,
    top: int,
    indices: np.ndarray | None = None,
    batch_size: int = 256,
    workers: int = 0,
    device: str | torch.device = "cpu",
    reporter: Reporter | None = None,
):
    """The `top` images with the largest response of each of the first `features` channels.

    Returns:
        (values (features, top), indices (features, top)), largest first; the response of an
        image is the channel's maximum over spatial positions.
    """
    rep = reporter or Reporter(quiet=True)
    best_v = torch.empty(features, 0)
    best_i = torch.empty(features, 0, dtype=torch.int64)
    total = len(data) if indices is None else len(indices)
    rep.start("responses", total=total)
    done = 0
    try:
        for batch in batches(data, indices=indices, batch_size=batch_size, workers=workers):
            idx, images = batch.indices, batch.images
            done += batch_size
            rep.update(min(done, total))
            if not len(idx):
                continue
            fmap = layer_map(D, to_unit(images.to(device)), layer)[:, :features]  # (B, f, h, w)
            resp = fmap.flatten(2).amax(2).T.cpu()  # (f, B)
            all_v = torch.cat([best_v, resp], 1)
            all_i = torch.cat([best_i, idx.expand(features, -1)], 1)
            keep = all_v.topk(min(top, all_v.shape[1]), dim=1)
            best_v, best_i = keep.values, all_i.gather(1, keep.indices)
    finally:
        rep.stop()
    return best_v, best_i


def guided_backprop(
    D_guided: nn.Module, images: torch.Tensor, layer: int, feature: int
) -> torch.Tensor:
    """Guided gradients of channel `feature`'s maximal activation w.r.t. each image.

    Args:
        D_guided: a guided_copy of D, eval mode.
        images: (B, C, S, S) in [-1, 1].
    Returns:
        (B, C, S, S) gradients.
    """
    x = images.clone().requires_grad_(True)
    fmap = layer_map(D_guided, x, layer)[:, feature]  # (B, h, w)
    # one activation per image: the position of the channel's maximum (axis-aligned unit)
    fmap.flatten(1).amax(1).sum().backward()
    return x.grad.detach()


def to_display(grad: torch.Tensor) -> torch.Tensor:
    """Gradients (B, C, S, S) -> images in [-1, 1]: 0 mid grey, +-3 std (per image) white/black."""
    g = grad - grad.mean(dim=(1, 2, 3), keepdim=True)
    std = g.flatten(1).std(1).clamp(min=1e-12).view(-1, 1, 1, 1)
    return (g / (3 * std)).clamp(-1, 1)


@dataclass
class VisualizeResult:
    out: str
    checkpoint: str
    step: int
    random_init: bool
    layer: int
    features: int
    top: int
    images_scanned: int
    responses: list  # per feature: the top response values, largest first
    indices: list  # per feature: the dataset indices of those images


def visualize(
    checkpoint: str | Path,
    out: str | Path,
    features: int = 6,
    layer: int | None = None,
    top: int = 8,
    random_init: bool = False,
    with_images: bool = False,
    data_root: str | Path | None = None,
    images: int = 20_000,
    seed: int = 0,
    batch_size: int = 256,
    workers: int = 0,
    device: str | torch.device = "cpu",
    reporter: Reporter | None = None,
) -> VisualizeResult:
    """Render guided backpropagation for D's features, one row per feature.

    Args:
        checkpoint: a run directory or checkpoint file (its D, or with random_init its
            architecture with fresh weights).
        out: the PNG: `features` rows of `top` guided images (with_images: each preceded by
            the real image, 2 * top columns).
        features: the first this many channels of the layer.
        layer: index of D's conv layer, input to output (default: the last, as in the paper).
            Negative values count from the last.
        top: images per feature, strongest response first.
        random_init: use an untrained D (seeded by `seed`) instead of the checkpoint's.
        images: real images scanned for maximal responses, a seeded random subset (0: all).
    Returns:
        A VisualizeResult.
    """
    ckpt = load_checkpoint(checkpoint)
    n_layers = len(Discriminator(ckpt.model_config).blocks)
    layer = n_layers - 1 if layer is None else layer
    if not -n_layers <= layer < n_layers:
        raise GanlabError(
            f"--layer {layer} does not exist: D has {n_layers} conv layers "
            f"(0..{n_layers - 1}, or -1 for the last)."
        )
    layer %= n_layers
    if random_init:
        with torch.random.fork_rng(devices=[]):  # seeded, leaving the caller's RNG be
            torch.manual_seed(seed)
            D = Discriminator(ckpt.model_config).to(device).eval()
    else:
        D = load_discriminator(ckpt, device)
    channels = D.feature_shapes()[layer][0]
    if features > channels:
        raise GanlabError(
            f"--features {features} is more than layer {layer}'s {channels} channels."
        )
    data = training_data_of(ckpt, data_root)
    chosen = None
    if images and images < len(data):
        chosen = np.sort(np.random.default_rng(seed).choice(len(data), images, replace=False))
    values, idx = max_responses(
        D, data, layer, features, top, chosen, batch_size, workers, device, reporter
    )
    if idx.shape[1] < top:
        raise GanlabError(
            f"only {idx.shape[1]} readable image(s) scanned; --top {top} needs at least that many."
        )
    Dg = guided_copy(D)
    tiles = []
    for f in range(features):
        real = torch.stack([to_unit(data[int(i)][0]) for i in idx[f]]).to(device)
        shown = to_display(guided_backprop(Dg, real, layer, f)).cpu()
        for r, g in zip(real.cpu(), shown, strict=True):
            tiles += [r, g] if with_images else [g]
    grid = grid_image(torch.stack(tiles), nrow=top * (2 if with_images else 1))
    save_png(grid, out)
    return VisualizeResult(
        out=str(out),
        checkpoint=str(ckpt.path),
        step=ckpt.step,
        random_init=random_init,
        layer=layer,
        features=features,
        top=top,
        images_scanned=len(data) if chosen is None else len(chosen),
        responses=[[round(v, 5) for v in row] for row in values.tolist()],
        indices=idx.tolist(),
    )
