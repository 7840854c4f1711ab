"""The DCGAN generator and discriminator (Radford, Metz & Chintala, 2016, section 3).

Architecture rules from the paper, all followed here:
- no pooling: strided convolutions in D, fractionally-strided (transposed) convolutions in G;
- no fully connected hidden layers: G's first layer projects z to a 4x4 map (a transposed conv
  over a 1x1 input), D's last 4x4 map is reduced to one logit by a 4x4 conv;
- BatchNorm everywhere except G's output layer and D's input layer;
- ReLU in G with tanh on the output, LeakyReLU(0.2) in D;
- weights initialised from N(0, 0.02) (BatchNorm scale from N(1, 0.02), bias 0).

Any power-of-two image size from 16 to 256 works: each factor of two adds one stride-2 stage.
Channel widths double per stage going down in resolution (the paper's 64x64 G is
4x4x(8*ngf) -> 8x8x(4*ngf) -> 16x16x(2*ngf) -> 32x32xngf -> 64x64xC) and are capped at
8*ngf / 8*ndf so that 128 and 256 px models do not grow 2048-channel layers.

The "imagenet32" architecture is the authors' released 32x32 ImageNet model used for the
CIFAR-10 probe: 3x3 kernels, D with six conv layers (128, 128, 256, 256, 512, 512 channels at
32, 16, 16, 8, 8, 4 px), stride-1 layers between the strided ones, nz 256.

Three ModelConfig options give the layers of the authors' Theano code, as their released
models need (`ganlab import authors`): `kernel_size` (5x5 for their SVHN model), `g_dense` (G's
projection as a dense layer with BatchNorm over each unit of the 4x4 map) and `bn_eps` (1e-8).

`num_classes` K > 0 makes both nets class-conditional, as the authors' appendix MNIST model
(mnist/train_cond_dcgan.py): the label's one-hot joins the input of every layer, as a vector
on G's projection ([z, onehot]) and as K constant maps before every other (transposed) conv
and D's head. Each such layer is K input channels wider; K = 0 builds exactly the
unconditional layers (same modules, same state-dict keys and shapes).

`spectral_norm` (Miyato et al. 2018, `ganlab train --spectral-norm`) divides each conv's weight
by its largest singular value, estimated by one power iteration per training forward
(torch.nn.utils.parametrizations.spectral_norm). In D it replaces BatchNorm, as in SN-GAN's
standard CNN; in G the BatchNorms stay (as SAGAN). "none" builds the paper's layers.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
from torch import nn

from ganlab.errors import GanlabError
from ganlab.modelconfig import ModelConfig

NO_CLASS = -1  # a conditional net's label meaning "no class": an all-zero one-hot
MAX_WIDTH_MULT = 8  # widths are capped at 8*ngf / 8*ndf (see module docstring)


def num_stages(image_size: int) -> int:
    """Stride-2 stages between the 4x4 map and the image (64 px -> 4)."""
    return int(math.log2(image_size)) - 2


def _width(base: int, level: int) -> int:
    """Channels at `level` stages above the image resolution (level 0 = full size)."""
    return base * min(2**level, MAX_WIDTH_MULT)


class BatchNorm2d(nn.BatchNorm2d):
    """BatchNorm whose statistics are float32 under autocast (bf16 convolutions around it).

    DCGAN's batch statistics drive both nets (the paper's fix for training instability), so they
    are not computed in bf16. A bf16/fp16 input goes straight to PyTorch's mixed-precision
    kernel (fp32 weights and running statistics, fp32 accumulation, output in the input's dtype
    for the next convolution): the same as normalising `x.float()` and casting back up to float32
    summation order, without the two copies (benchmarks/profile_step.py). In float32 this is
    exactly nn.BatchNorm2d.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float32:
            return super().forward(x)
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x)


class BatchNorm1d(nn.BatchNorm1d):
    """BatchNorm over the units of G's dense projection (`g_dense`), float32 like BatchNorm2d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float32:
            return super().forward(x)
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x.float()).to(x.dtype)


class Generator(nn.Module):
    """z (B, nz) -> image (B, C, S, S) in [-1, 1]; a conditional G also takes labels y (B,).

    Conditional (num_classes K > 0), as the authors' appendix MNIST model: the label's one-hot
    is concatenated to the input of every layer, [z, onehot] for the projection and K one-hot
    maps before every later transposed conv (their in_channels are K wider).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.main = _dcgan_generator(cfg) if cfg.arch == "dcgan" else _imagenet32_generator(cfg)
        init_weights(self)
        if cfg.sn_g():
            _spectral_norm(self)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        # (B, nz) -> (B, nz, 1, 1): the projection is a transposed conv over a 1x1 input
        h = z.reshape(z.shape[0], self.cfg.nz, 1, 1)
        if not self.cfg.num_classes:
            return self.main(h)
        onehot = _onehot(y, self.cfg.num_classes, z.shape[0])  # (B, K)
        for layer in self.main:
            if isinstance(layer, (nn.ConvTranspose2d, nn.Conv2d, nn.Linear)):
                h = _with_label(h, onehot)  # (B, c + K, s, s) or (B, f + K)
            h = layer(h)
        return h


class Discriminator(nn.Module):
    """Image (B, C, S, S) -> one logit per image (B,); optionally every conv layer's output.

    ``forward(x, features=True)`` returns ``(logits, feats)`` where ``feats`` is a list with
    the post-activation map of each conv layer before the final 4x4 -> 1 conv, in input to
    output order (the feature extractor of the paper's section 5). A conditional D takes the
    labels y (B,) too: K one-hot maps join the input of every conv and of the head.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        blocks = _dcgan_disc_blocks(cfg) if cfg.arch == "dcgan" else _imagenet32_disc_blocks(cfg)
        self.blocks = nn.ModuleList(blocks)
        last = blocks[-1][0].out_channels
        # (B, last, 4, 4) -> (B, 1, 1, 1); the sigmoid lives in the loss (BCE with logits)
        self.head = nn.Conv2d(last + cfg.num_classes, 1, 4, 1, 0, bias=False)
        init_weights(self)
        if cfg.sn_d():
            _spectral_norm(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, features: bool = False):
        feats = []
        onehot = _onehot(y, self.cfg.num_classes, x.shape[0]) if self.cfg.num_classes else None
        for block in self.blocks:
            if onehot is not None:  # K one-hot maps before every conv (appendix model)
                x = _with_label(x, onehot)  # (B, c + K, s, s)
            x = block(x)
            if features:
                feats.append(x)
        logits = self.head(x if onehot is None else _with_label(x, onehot)).flatten()  # (B,)
        return (logits, feats) if features else logits

    def feature_shapes(self) -> list[tuple[int, int, int]]:
        """(channels, height, width) of each conv layer's output, input to output order."""
        size, shapes = self.cfg.image_size, []
        for block in self.blocks:
            conv = block[0]
            size = (size + 2 * conv.padding[0] - conv.kernel_size[0]) // conv.stride[0] + 1
            shapes.append((conv.out_channels, size, size))
        return shapes


def _dcgan_generator(cfg: ModelConfig) -> nn.Sequential:
    n = num_stages(cfg.image_size)
    ks, pad, opad = _stride2_geometry(cfg)
    # (B, nz, 1, 1) -> (B, w, 4, 4)
    layers: list[nn.Module] = [*_projection(cfg, _width(cfg.ngf, n - 1)), nn.ReLU(True)]
    for level in range(n - 1, 0, -1):
        # (B, w(level), s, s) -> (B, w(level-1), 2s, 2s)
        c_in, c_out = _width(cfg.ngf, level), _width(cfg.ngf, level - 1)
        layers += [
            nn.ConvTranspose2d(
                c_in + cfg.num_classes, c_out, ks, 2, pad, output_padding=opad, bias=False
            ),
            BatchNorm2d(c_out, eps=cfg.bn_eps),
            nn.ReLU(True),
        ]
    # (B, ngf, S/2, S/2) -> (B, C, S, S); no BatchNorm on G's output
    k = cfg.num_classes
    last = nn.ConvTranspose2d(
        cfg.ngf + k, cfg.channels, ks, 2, pad, output_padding=opad, bias=False
    )
    layers += [last, nn.Tanh()]
    return nn.Sequential(*layers)


def _dcgan_disc_blocks(cfg: ModelConfig) -> list[nn.Sequential]:
    n = num_stages(cfg.image_size)
    ks, pad, _ = _stride2_geometry(cfg)
    # (B, C, S, S) -> (B, ndf, S/2, S/2); no BatchNorm on D's input layer
    blocks = [
        nn.Sequential(
            nn.Conv2d(cfg.channels + cfg.num_classes, cfg.ndf, ks, 2, pad, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
        )
    ]
    for level in range(1, n):
        # (B, w(level-1), s, s) -> (B, w(level), s/2, s/2)
        c_in, c_out = _width(cfg.ndf, level - 1), _width(cfg.ndf, level)
        conv = nn.Conv2d(c_in + cfg.num_classes, c_out, ks, 2, pad, bias=False)
        blocks.append(nn.Sequential(conv, *_d_norm(cfg, c_out), nn.LeakyReLU(0.2, inplace=True)))
    return blocks


# The authors' 32x32 ImageNet model (probe architecture): 3x3 kernels throughout; D widths are
# 1,1,2,2,4,4 x ndf (ndf 128 = the paper's 128,128,256,256,512,512) at 32,16,16,8,8,4 px, which
# gives the paper's 16 x 1792 = 28672 probe features. G mirrors D.
_IMAGENET32_D = ((1, 1), (1, 2), (2, 1), (2, 2), (4, 1), (4, 2))  # (width mult, stride)
_IMAGENET32_G = ((4, 2), (2, 1), (2, 2), (1, 1), (1, 2))  # after the 4x4 projection


def _imagenet32_disc_blocks(cfg: ModelConfig) -> list[nn.Sequential]:
    blocks, c_in = [], cfg.channels
    for i, (mult, stride) in enumerate(_IMAGENET32_D):
        c_out = cfg.ndf * mult
        # (B, c_in, s, s) -> (B, c_out, s / stride, s / stride); no BatchNorm on the input layer
        conv = nn.Conv2d(c_in + cfg.num_classes, c_out, 3, stride, 1, bias=False)
        norm = _d_norm(cfg, c_out) if i > 0 else []
        blocks.append(nn.Sequential(conv, *norm, nn.LeakyReLU(0.2, inplace=True)))
        c_in = c_out
    return blocks


def _imagenet32_generator(cfg: ModelConfig) -> nn.Sequential:
    c_in = 4 * cfg.ngf
    layers: list[nn.Module] = [*_projection(cfg, c_in), nn.ReLU(True)]  # (B, 4g, 4, 4)
    for mult, stride in _IMAGENET32_G:
        c_out = cfg.ngf * mult
        # (B, c_in, s, s) -> (B, c_out, s * stride, s * stride)
        conv = nn.ConvTranspose2d(
            c_in + cfg.num_classes, c_out, 3, stride, 1, output_padding=stride - 1, bias=False
        )
        layers += [conv, BatchNorm2d(c_out, eps=cfg.bn_eps), nn.ReLU(True)]
        c_in = c_out
    # (B, g, 32, 32) -> (B, C, 32, 32); no BatchNorm on G's output
    layers += [
        nn.ConvTranspose2d(c_in + cfg.num_classes, cfg.channels, 3, 1, 1, bias=False),
        nn.Tanh(),
    ]
    return nn.Sequential(*layers)


def _d_norm(cfg: ModelConfig, channels: int) -> list[nn.Module]:
    """The normalisation after a hidden D conv: BatchNorm (paper), none under spectral norm."""
    return [] if cfg.sn_d() else [BatchNorm2d(channels, eps=cfg.bn_eps)]


def _spectral_norm(net: nn.Module) -> None:
    """Spectral-normalise every conv and dense layer of `net` in place (after the init)."""
    from torch.nn.utils.parametrizations import spectral_norm

    for m in list(net.modules()):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            # a transposed conv's weight is (in, out, k, k): its output dimension is 1
            spectral_norm(m, dim=1 if isinstance(m, nn.ConvTranspose2d) else 0)


def _stride2_geometry(cfg: ModelConfig) -> tuple[int, int, int]:
    """(kernel, padding, output_padding) of a dcgan stride-2 layer: s -> s/2 in D, s -> 2s in G.

    Padding (k - 1) // 2 halves the side for k = 3, 4, 5; G's transposed conv adds k % 2 rows
    (output_padding) to double it exactly, which also makes it the exact gradient of D's conv.
    """
    ks = cfg.kernel_size or 4
    return ks, (ks - 1) // 2, ks % 2


def _projection(cfg: ModelConfig, width: int) -> list[nn.Module]:
    """G's first layer, z (B, nz, 1, 1) -> (B, width, 4, 4), and its BatchNorm (no ReLU).

    Both forms are one matrix multiply; they differ in the BatchNorm. The default is a
    transposed conv over the 1x1 input with BatchNorm per channel (pytorch/examples); with
    `g_dense` it is a dense layer whose BatchNorm normalises each of its 16*width units, as in
    the authors' Theano code (their released models store a 16*width scale and shift).
    """
    nz = cfg.nz + cfg.num_classes
    if not cfg.g_dense:
        conv = nn.ConvTranspose2d(nz, width, 4, 1, 0, bias=False)
        return [conv, BatchNorm2d(width, eps=cfg.bn_eps)]
    return [
        nn.Flatten(),  # (B, nz)
        nn.Linear(nz, 16 * width, bias=False),  # (B, 16 * width)
        BatchNorm1d(16 * width, eps=cfg.bn_eps),
        nn.Unflatten(1, (width, 4, 4)),  # (B, width, 4, 4), the channel-major order of a reshape
    ]


def _onehot(y: torch.Tensor | None, num_classes: int, batch: int) -> torch.Tensor:
    """(B,) int labels -> (B, K) float one-hot; a conditional net without labels is an error.

    Label NO_CLASS (-1) gives an all-zero row: a conditional D's label-free features (the probe,
    nn-error in D-feature space), not used in training.
    """
    if y is None:
        raise GanlabError(
            "this model is class-conditional (trained with --conditional) and needs a class "
            "label per image: give --class NAME or an index (the classes are in the run's "
            "config.json) to a command that takes it; the others do not take conditional runs."
        )
    if y.shape != (batch,):
        raise ValueError(f"labels must have shape ({batch},), got {tuple(y.shape)}")
    y = y.long()
    return nn.functional.one_hot(y.clamp(min=0), num_classes).float() * (y >= 0)[:, None]


def _with_label(h: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
    """[h, label]: one-hot vectors on a flat (B, F) input, K constant maps on a (B, c, s, s) one.

    The authors' conv_cond_concat (mnist/train_cond_dcgan.py).
    """
    onehot = onehot.to(h.dtype)
    if h.dim() == 2:
        return torch.cat([h, onehot], dim=1)  # (B, F + K)
    maps = onehot[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])  # (B, K, s, s)
    return torch.cat([h, maps], dim=1)  # (B, c + K, s, s)


@contextlib.contextmanager
def reestimating_batchnorm(net: nn.Module) -> Iterator[None]:
    """Re-estimate `net`'s BatchNorm statistics from the batches run through it inside.

    Inside: `net` in train mode without gradients, each BatchNorm's running statistics reset
    and its momentum None (a cumulative average over the batches). After: `net` in eval mode
    with the new statistics and the old momenta. Used for D by the probe (`--bn-stats
    recompute`) and for both nets of an imported model, which stores no statistics.
    """
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    net.train()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        net.eval()


def init_weights(module: nn.Module) -> None:
    """The paper's init: conv weights ~ N(0, 0.02); BatchNorm scale ~ N(1, 0.02), bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def build_models(cfg: ModelConfig) -> tuple[Generator, Discriminator]:
    """A fresh, initialised (G, D) pair for `cfg`."""
    return Generator(cfg), Discriminator(cfg)
