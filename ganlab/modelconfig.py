"""The shape of a G/D pair: the record a checkpoint stores so that core can rebuild the nets.

It is plain data (no torch), so the storage layer (`ganlab.io`) can read and validate a
checkpoint's model config without knowing how the networks are built; `ganlab.core.models`
builds them from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

ARCHS = ("dcgan", "imagenet32")
KERNEL_SIZES = {"dcgan": (3, 4, 5), "imagenet32": (3,)}  # allowed ModelConfig.kernel_size
# Where spectral normalisation (Miyato et al. 2018) wraps the conv layers: none (the paper), D
# (the usual choice; D then has no BatchNorm), G, or both.
SPECTRAL_NORMS = ("none", "d", "g", "both")


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a G/D pair; stored in every checkpoint so a model can be rebuilt exactly."""

    image_size: int = 64  # output side in pixels: a power of two, 16..256
    channels: int = 3  # 1 (grey) or 3 (RGB)
    nz: int = 100  # latent dimension (paper: 100)
    ngf: int = 64  # G width: channels of G's last hidden layer
    ndf: int = 64  # D width: channels of D's first layer
    arch: str = "dcgan"  # "dcgan" (paper Fig. 1) or "imagenet32" (the probe's 6-layer D)
    num_classes: int = 0  # >0: class-conditional, the label goes to every layer (appendix)
    # The options below reproduce the authors' released models (`ganlab import authors`); their
    # defaults are the layers ganlab has always built, so older checkpoints (without the
    # fields) load unchanged.
    kernel_size: int | None = None  # dcgan: 4 (pytorch/examples), 5 (paper Fig. 1) or 3; None: 4
    g_dense: bool = False  # G's projection as a dense nz -> 16*w layer, BatchNorm per unit
    bn_eps: float = 1e-5  # BatchNorm epsilon (PyTorch's default; the authors' code: 1e-8)
    # `ganlab train --spectral-norm`; "none" (the paper's layers) for every older checkpoint
    spectral_norm: str = "none"

    def sn_d(self) -> bool:
        """Spectral norm on D's layers (and no BatchNorm in D)."""
        return self.spectral_norm in ("d", "both")

    def sn_g(self) -> bool:
        """Spectral norm on G's layers (G keeps its BatchNorm)."""
        return self.spectral_norm in ("g", "both")

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
    if cfg.num_classes < 0 or cfg.num_classes == 1:
        raise ValueError(f"num_classes must be 0 (unconditional) or 2+, got {cfg.num_classes}")
    if cfg.kernel_size is not None and cfg.kernel_size not in KERNEL_SIZES[cfg.arch]:
        sizes = ", ".join(map(str, KERNEL_SIZES[cfg.arch]))
        raise ValueError(f"kernel_size for {cfg.arch} must be {sizes}, got {cfg.kernel_size}")
    if not cfg.bn_eps > 0:
        raise ValueError(f"bn_eps must be positive, got {cfg.bn_eps}")
    if cfg.spectral_norm not in SPECTRAL_NORMS:
        raise ValueError(
            f"spectral_norm must be one of {', '.join(SPECTRAL_NORMS)}, got {cfg.spectral_norm!r}"
        )


# The DCGAN authors' released models' shapes (`ganlab import authors` reads their weights into
# these; `ganlab probe DATASET --random-init` without a run takes the paper's D from here).
AUTHORS_SHAPES = {
    # svhn_unsup_all_conv_dcgan_100z_gaussian_lr_0.0005_64mb (Table 2)
    "svhn": ModelConfig(
        image_size=32, channels=3, nz=100, ngf=64, ndf=64, kernel_size=5, g_dense=True,
        bn_eps=1e-8,
    ),
    # imagenet_gan_pretrain_128f_relu_lrelu_7l_3x3_256z (Table 1)
    "imagenet32": ModelConfig(
        image_size=32, channels=3, nz=256, ngf=128, ndf=128, arch="imagenet32", g_dense=True,
        bn_eps=1e-8,
    ),
}  # fmt: skip
