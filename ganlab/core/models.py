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
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

ARCHS = ("dcgan", "imagenet32")
MAX_WIDTH_MULT = 8  # widths are capped at 8*ngf / 8*ndf (see module docstring)


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a G/D pair; stored in every checkpoint so a model can be rebuilt exactly."""

    image_size: int = 64  # output side in pixels: a power of two, 16..256
    channels: int = 3  # 1 (grey) or 3 (RGB)
    nz: int = 100  # latent dimension (paper: 100)
    ngf: int = 64  # G width: channels of G's last hidden layer
    ndf: int = 64  # D width: channels of D's first layer
    arch: str = "dcgan"  # "dcgan" (paper Fig. 1) or "imagenet32" (the probe's 6-layer D)

    def __post_init__(self) -> None:
        check_model_config(self)

    def to_dict(self) -> dict:
        return asdict(self)


def check_model_config(cfg: ModelConfig) -> None:
    """Raise ValueError naming the field when a ModelConfig cannot be built."""
    if cfg.arch not in ARCHS:
        raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {cfg.arch!r}")
    size = cfg.image_size
    if size < 16 or size > 256 or size & (size - 1):
        raise ValueError(f"image_size must be a power of two from 16 to 256, got {size}")
    if cfg.arch == "imagenet32" and size != 32:
        raise ValueError(f"the imagenet32 architecture is 32x32 only, got image_size {size}")
    if cfg.channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {cfg.channels}")
    for name in ("nz", "ngf", "ndf"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"{name} must be positive, got {getattr(cfg, name)}")


def num_stages(image_size: int) -> int:
    """Stride-2 stages between the 4x4 map and the image (64 px -> 4)."""
    return int(math.log2(image_size)) - 2


def _width(base: int, level: int) -> int:
    """Channels at `level` stages above the image resolution (level 0 = full size)."""
    return base * min(2**level, MAX_WIDTH_MULT)


class BatchNorm2d(nn.BatchNorm2d):
    """BatchNorm whose statistics are float32 under autocast (bf16 convolutions around it).

    DCGAN's batch statistics drive both nets (the paper's fix for training instability), so they
    are not computed in bf16; the output returns in the input's dtype for the next convolution.
    In float32 this is exactly nn.BatchNorm2d (same state dict).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float32:
            return super().forward(x)
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x.float()).to(x.dtype)


class Generator(nn.Module):
    """z (B, nz) -> image (B, C, S, S) in [-1, 1]."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.main = _dcgan_generator(cfg) if cfg.arch == "dcgan" else _imagenet32_generator(cfg)
        init_weights(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # (B, nz) -> (B, nz, 1, 1): the projection is a transposed conv over a 1x1 input
        return self.main(z.reshape(z.shape[0], self.cfg.nz, 1, 1))


class Discriminator(nn.Module):
    """Image (B, C, S, S) -> one logit per image (B,); optionally every conv layer's output.

    ``forward(x, features=True)`` returns ``(logits, feats)`` where ``feats`` is a list with
    the post-activation map of each conv layer before the final 4x4 -> 1 conv, in input to
    output order (the feature extractor of the paper's section 5).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        blocks = _dcgan_disc_blocks(cfg) if cfg.arch == "dcgan" else _imagenet32_disc_blocks(cfg)
        self.blocks = nn.ModuleList(blocks)
        last = blocks[-1][0].out_channels
        # (B, last, 4, 4) -> (B, 1, 1, 1); the sigmoid lives in the loss (BCE with logits)
        self.head = nn.Conv2d(last, 1, 4, 1, 0, bias=False)
        init_weights(self)

    def forward(self, x: torch.Tensor, features: bool = False):
        feats = []
        for block in self.blocks:
            x = block(x)
            if features:
                feats.append(x)
        logits = self.head(x).flatten()  # (B,)
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
    layers: list[nn.Module] = [
        # (B, nz, 1, 1) -> (B, w, 4, 4)
        nn.ConvTranspose2d(cfg.nz, _width(cfg.ngf, n - 1), 4, 1, 0, bias=False),
        BatchNorm2d(_width(cfg.ngf, n - 1)),
        nn.ReLU(True),
    ]
    for level in range(n - 1, 0, -1):
        # (B, w(level), s, s) -> (B, w(level-1), 2s, 2s)
        c_in, c_out = _width(cfg.ngf, level), _width(cfg.ngf, level - 1)
        layers += [
            nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
            BatchNorm2d(c_out),
            nn.ReLU(True),
        ]
    # (B, ngf, S/2, S/2) -> (B, C, S, S); no BatchNorm on G's output
    layers += [nn.ConvTranspose2d(cfg.ngf, cfg.channels, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


def _dcgan_disc_blocks(cfg: ModelConfig) -> list[nn.Sequential]:
    n = num_stages(cfg.image_size)
    # (B, C, S, S) -> (B, ndf, S/2, S/2); no BatchNorm on D's input layer
    blocks = [
        nn.Sequential(
            nn.Conv2d(cfg.channels, cfg.ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)
        )
    ]
    for level in range(1, n):
        # (B, w(level-1), s, s) -> (B, w(level), s/2, s/2)
        c_in, c_out = _width(cfg.ndf, level - 1), _width(cfg.ndf, level)
        blocks.append(
            nn.Sequential(
                nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False),
                BatchNorm2d(c_out),
                nn.LeakyReLU(0.2, inplace=True),
            )
        )
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
        conv = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        norm = [BatchNorm2d(c_out)] if i > 0 else []
        blocks.append(nn.Sequential(conv, *norm, nn.LeakyReLU(0.2, inplace=True)))
        c_in = c_out
    return blocks


def _imagenet32_generator(cfg: ModelConfig) -> nn.Sequential:
    c_in = 4 * cfg.ngf
    layers: list[nn.Module] = [
        nn.ConvTranspose2d(cfg.nz, c_in, 4, 1, 0, bias=False),  # (B, 4g, 4, 4)
        BatchNorm2d(c_in),
        nn.ReLU(True),
    ]
    for mult, stride in _IMAGENET32_G:
        c_out = cfg.ngf * mult
        # (B, c_in, s, s) -> (B, c_out, s * stride, s * stride)
        conv = nn.ConvTranspose2d(c_in, c_out, 3, stride, 1, output_padding=stride - 1, bias=False)
        layers += [conv, BatchNorm2d(c_out), nn.ReLU(True)]
        c_in = c_out
    # (B, g, 32, 32) -> (B, C, 32, 32); no BatchNorm on G's output
    layers += [nn.ConvTranspose2d(c_in, cfg.channels, 3, 1, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


def init_weights(module: nn.Module) -> None:
    """The paper's init: conv weights ~ N(0, 0.02); BatchNorm scale ~ N(1, 0.02), bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def build_models(cfg: ModelConfig) -> tuple[Generator, Discriminator]:
    """A fresh, initialised (G, D) pair for `cfg`."""
    return Generator(cfg), Discriminator(cfg)
