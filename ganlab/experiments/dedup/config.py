"""What `ganlab dedup` is asked for (DedupConfig, checked on creation) and what it reports."""

from __future__ import annotations

from dataclasses import dataclass, field

from ganlab.errors import GanlabError

SIZE = 32  # side of the downsampled centre crops the autoencoder sees (paper: 32x32)
MAX_PROBE = 4  # 2^4 - 1 = 15 extra lookups per image; more merges unrelated images


@dataclass(frozen=True)
class DedupConfig:
    """The hash function and how it is fitted. Defaults: the paper's, plus probe 1."""

    code_bits: int = 128  # hidden (code) units: 3072-128-3072 for RGB, 1024-128-1024 for grey
    threshold: float = 0.0  # a bit is 1 when its ReLU activation exceeds this
    probe: int = 1  # least-confident bits also flipped at lookup (0: identical codes only)
    noise: float = 0.1  # denoising: std of Gaussian noise added to the [0, 1] input pixels
    dropout: float = 0.5  # dropout on the code while training
    epochs: int = 8  # autoencoder epochs over the training sample
    train_images: int = 50_000  # random images the autoencoder is fitted on (held in memory)
    batch_size: int = 256  # images per step, for training and hashing
    lr: float = 1e-3  # Adam learning rate of the autoencoder
    seed: int = 0  # seeds the sample, init, noise and dropout

    def __post_init__(self) -> None:
        if not 8 <= self.code_bits <= 256 or self.code_bits % 8:
            raise GanlabError(
                f"--code-bits must be a multiple of 8 from 8 to 256, got {self.code_bits}"
            )
        if not 0 <= self.probe <= MAX_PROBE:
            raise GanlabError(f"--probe must be 0..{MAX_PROBE}, got {self.probe}")
        if self.threshold < 0:
            raise GanlabError(f"--threshold must be >= 0 (a ReLU activation), got {self.threshold}")


@dataclass
class DedupResult:
    out: str
    sheet: str | None
    images: int
    unreadable: int
    groups: int
    excluded: int
    largest_group: int
    images_per_s: float  # hashing pass (decode + encode), images per second
    elapsed_s: float
    resumed: bool = False
    config: dict = field(default_factory=dict)
