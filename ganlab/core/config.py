"""Typed training configuration with the paper's defaults (section 4).

The resolved TrainConfig is written into every run directory as config.json and into every
checkpoint, so a run can be resumed or re-created from its directory alone. Resolved means the
architecture's preset sizes are filled in: `TrainConfig(arch="imagenet32")` has nz 256 and
ngf = ndf = 128 (the paper's probe model), the same numbers `ganlab train --arch imagenet32`
uses, and config.json records those numbers, not "the preset".
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, fields

from ganlab.core.models import ModelConfig

# Each architecture's (ganlab.core.models.ARCHS) latent size and widths, used where a config
# leaves them out (None).
ARCH_PRESETS = {
    "dcgan": {"nz": 100, "ngf": 64, "ndf": 64},  # the paper's (section 4 and Fig. 1)
    "imagenet32": {"nz": 256, "ngf": 128, "ndf": 128},  # the authors' 32px ImageNet model
}
PRESET_FIELDS = ("nz", "ngf", "ndf")

# Options that fix what a run *is*: a resumed run must keep them.
IDENTITY_FIELDS = (
    "dataset",
    "category",
    "split",
    "image_size",
    "channels",
    "nz",
    "ngf",
    "ndf",
    "arch",
    "z_dist",
    "seed",
    "batch_size",
    "exclude",
)


@dataclass(frozen=True)
class TrainConfig:
    """Everything `ganlab train` needs. Defaults are the paper's unless noted."""

    dataset: str = "digits"  # registry name (ganlab.data.DATASETS)
    data_root: str | None = None  # where the dataset lies in its published layout
    download: bool = False  # fetch the dataset into data_root if missing (where possible)
    data: str | None = None  # a cache from `ganlab prepare` to read instead of data_root
    exclude: str | None = None  # a `ganlab dedup` file: leave out its near-duplicates
    category: str = "bedroom"  # LSUN scene category
    split: str = "train"  # dataset split to train on
    image_size: int | None = None  # None: the dataset's default size
    channels: int | None = None  # None: the dataset's native channels
    arch: str = "dcgan"  # "dcgan" or "imagenet32" (the probe architecture)
    nz: int | None = None  # latent dimension; None: the arch's preset (dcgan 100, imagenet32 256)
    ngf: int | None = None  # generator width; None: the arch's preset (dcgan 64, imagenet32 128)
    ndf: int | None = None  # discriminator width; None: the arch's preset (64, 128)
    z_dist: str = "uniform"  # "uniform": U(-1, 1) as in the authors' code; or "normal"
    batch_size: int = 128  # minibatch size
    lr: float = 2e-4  # Adam learning rate (0.001 was too high)
    beta1: float = 0.5  # Adam beta1 (0.9 oscillated)
    beta2: float = 0.999  # Adam beta2
    weight_decay: float = 0.0  # L2 on weights (the authors' faces code used 1e-5)
    epochs: int = 25  # stop after this many epochs, counted from the run's start
    max_steps: int | None = None  # stop after this many optimizer steps (from the start)
    seed: int = 0  # seeds init, data order and noise
    device: str = "auto"  # auto | cpu | cuda | mps
    workers: int = 2  # DataLoader worker processes for file-backed datasets
    amp: str = "off"  # mixed precision on CUDA: "off", "bf16" or "fp16" (float32 on the CPU)
    channels_last: bool = True  # NHWC memory format: faster convolutions on CPU and GPU
    compile: bool = False  # torch.compile both nets (slow start, faster steps)
    checkpoint_every: int = 1000  # steps between mid-epoch checkpoints (0: epoch ends only)
    keep: int = 3  # keep the last N checkpoints
    log_every: int = 50  # steps between metrics.jsonl records
    grid_seeds: str = "0-63"  # seeds of the fixed-noise grid rendered after each epoch

    def __post_init__(self) -> None:
        """Fill nz, ngf and ndf left as None from the arch's preset (the config is frozen)."""
        if self.arch not in ARCH_PRESETS:
            raise ValueError(f"arch must be one of {', '.join(ARCH_PRESETS)}, got {self.arch!r}")
        for name, preset in ARCH_PRESETS[self.arch].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, preset)

    def model_config(self, image_size: int, channels: int) -> ModelConfig:
        return ModelConfig(
            image_size=image_size,
            channels=channels,
            nz=self.nz,
            ngf=self.ngf,
            ndf=self.ndf,
            arch=self.arch,
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """Rebuild from config.json, ignoring keys a newer ganlab may have added."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def replace(self, **changes) -> TrainConfig:
        """A copy with `changes` applied, resolved like a new config.

        Changing `arch` moves nz, ngf and ndf that are not in `changes` and still hold the old
        arch's preset to the new arch's preset, so `TrainConfig().replace(arch="imagenet32")`
        equals `TrainConfig(arch="imagenet32")`; sizes set to anything else are kept. A size
        given as None goes back to the (new) arch's preset.
        """
        arch = changes.get("arch", self.arch)
        if arch != self.arch:
            old = ARCH_PRESETS[self.arch]
            for name in PRESET_FIELDS:
                if name not in changes and getattr(self, name) == old[name]:
                    changes[name] = None
        return dataclasses.replace(self, **changes)
