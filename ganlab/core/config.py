"""Typed training configuration with the paper's defaults (section 4).

The resolved TrainConfig is written into every run directory as config.json and into every
checkpoint, so a run can be resumed or re-created from its directory alone. Resolved means the
architecture's preset sizes are filled in: `TrainConfig(arch="imagenet32")` has nz 256 and
ngf = ndf = 128 (the paper's probe model), the same numbers `ganlab train --arch imagenet32`
uses, and config.json records those numbers, not "the preset".
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import sys
import typing
from dataclasses import dataclass, fields
from pathlib import Path

from ganlab.data.spec import DataSpec
from ganlab.errors import GanlabError
from ganlab.modelconfig import KERNEL_SIZES, SPECTRAL_NORMS, ModelConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, before it joined the standard library
    import tomli as tomllib

# Each architecture's (ganlab.core.models.ARCHS) latent size and widths, used where a config
# leaves them out (None).
ARCH_PRESETS = {
    "dcgan": {"nz": 100, "ngf": 64, "ndf": 64},  # the paper's (section 4 and Fig. 1)
    "imagenet32": {"nz": 256, "ngf": 128, "ndf": 128},  # the authors' 32px ImageNet model
}
PRESET_FIELDS = ("nz", "ngf", "ndf")

# Options that fix what a run *is* (option names): a resumed run must keep them.
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
    "conditional",
    "kernel_size",
    "g_dense",
    "bn_eps",
    "spectral_norm",
    "recipe",
)


# The data set options, in the CLI's and config.json's words, and the DataSpec field of each.
# A TrainConfig holds them as one DataSpec (`cfg.data`); its flat form (`to_dict`, config.json,
# `--config` files, `replace(image_size=...)`) spells them as `ganlab train`'s options.
DATA_OPTIONS = {
    "dataset": "name",
    "data_root": "root",
    "download": "download",
    "data": "prepared",
    "category": "category",
    "split": "split",
    "image_size": "image_size",
    "channels": "channels",
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything `ganlab train` needs. Defaults are the paper's unless noted."""

    data: DataSpec = DataSpec()  # the images: data set, root or prepared cache, split, size
    exclude: str | None = None  # a `ganlab dedup` file: leave out its near-duplicates
    arch: str = "dcgan"  # "dcgan" or "imagenet32" (the probe architecture)
    nz: int | None = None  # latent dimension; None: the arch's preset (dcgan 100, imagenet32 256)
    ngf: int | None = None  # generator width; None: the arch's preset (dcgan 64, imagenet32 128)
    ndf: int | None = None  # discriminator width; None: the arch's preset (64, 128)
    z_dist: str = "uniform"  # "uniform": U(-1, 1) as in the authors' code; or "normal"
    conditional: bool = False  # class-conditional G and D (the appendix MNIST model)
    kernel_size: int | None = None  # dcgan kernels 3, 4 or 5 (paper Fig. 1: 5); None: the arch's
    g_dense: bool = False  # G's projection a dense layer, BatchNorm per unit (the authors' code)
    bn_eps: float = 1e-5  # BatchNorm epsilon (PyTorch's; the authors' code: 1e-8)
    batch_size: int = 128  # minibatch size
    lr: float = 2e-4  # Adam learning rate (0.001 was too high)
    beta1: float = 0.5  # Adam beta1 (0.9 oscillated)
    beta2: float = 0.999  # Adam beta2
    weight_decay: float = 0.0  # L2 on weights (the authors' faces code used 1e-5)
    # --- the recipe (docs/recipes.md); "paper" is section 4's, the others set the options below
    recipe: str = "paper"  # paper, averaged, fast, small-data, regularized (core.recipes.RECIPES)
    loss: str = "bce"  # "bce" (paper's non-saturating), "hinge" or "lsgan"
    spectral_norm: str = "none"  # spectral norm on "d" (then no BatchNorm in D), "g" or "both"
    ema: float | None = None  # beta of an averaged copy of G (e.g. 0.999); None: no average
    lr_g: float | None = None  # G's learning rate (TTUR); None: --lr
    lr_d: float | None = None  # D's learning rate (TTUR); None: --lr
    d_steps: int = 1  # D updates per G update (each on the step's real batch, fresh noise)
    diffaug: str = ""  # DiffAugment policy: comma list of color, translation, cutout
    r1: float = 0.0  # R1 penalty gamma on real images, applied lazily every 16 steps; 0: off
    epochs: int = 25  # stop after this many epochs, counted from the run's start
    max_steps: int | None = None  # stop after this many optimizer steps (from the start)
    seed: int = 0  # seeds init, data order and noise
    device: str = "auto"  # auto | cpu | cuda | mps
    workers: int = 2  # DataLoader worker processes for file-backed datasets
    amp: str = "auto"  # "auto" (bf16 where measured faster), "off", "bf16" or "fp16" (CUDA)
    channels_last: bool = True  # NHWC memory format: faster convolutions on CPU and GPU
    compile: bool = False  # torch.compile both nets (slow start, faster steps)
    checkpoint_every: int = 1000  # steps between mid-epoch checkpoints (0: epoch ends only)
    keep: int = 3  # keep the last N checkpoints
    log_every: int = 50  # steps between metrics.jsonl records
    tensorboard: bool = False  # also write metrics and grids to RUN/tb (needs ganlab[tb])
    grid_seeds: str = "0-63"  # seeds of the fixed-noise grid rendered after each epoch
    eval_every: int = 0  # steps between FID/KID evaluations, keeping checkpoints/best (0: off)
    eval_n: int = 10_000  # generated images per evaluation (seeds 0..eval_n-1)
    eval_real_n: int = 50_000  # reference images (the training split; all if it is smaller)
    inception_weights: str | None = None  # FID Inception weights file (None: see docs)

    def __post_init__(self) -> None:
        """Fill nz, ngf and ndf left as None from the arch's preset (the config is frozen)."""
        if self.arch not in ARCH_PRESETS:
            raise ValueError(f"arch must be one of {', '.join(ARCH_PRESETS)}, got {self.arch!r}")
        for name, preset in ARCH_PRESETS[self.arch].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, preset)
        _check_recipe_options(self)
        if self.kernel_size is not None and self.kernel_size not in KERNEL_SIZES[self.arch]:
            sizes = " or ".join(map(str, KERNEL_SIZES[self.arch]))
            raise GanlabError(
                f"--kernel-size {self.kernel_size} does not fit --arch {self.arch}: use "
                f"{sizes}, or drop --kernel-size."
            )

    def model_config(self, image_size: int, channels: int, num_classes: int = 0) -> ModelConfig:
        """The nets' shape for this config on data of this size (num_classes: conditional)."""
        return ModelConfig(
            image_size=image_size,
            channels=channels,
            nz=self.nz,
            ngf=self.ngf,
            ndf=self.ndf,
            arch=self.arch,
            num_classes=num_classes if self.conditional else 0,
            kernel_size=self.kernel_size,
            g_dense=self.g_dense,
            bn_eps=self.bn_eps,
            spectral_norm=self.spectral_norm,
        )

    @property
    def g_lr(self) -> float:
        """G's learning rate: --lr-g, else --lr."""
        return self.lr if self.lr_g is None else self.lr_g

    @property
    def d_lr(self) -> float:
        """D's learning rate: --lr-d, else --lr."""
        return self.lr if self.lr_d is None else self.lr_d

    def to_dict(self) -> dict:
        """The flat form, keyed by option name: config.json's "config" and checkpoints'."""
        out = {}
        for f in fields(self):
            if f.name == "data":
                out.update({opt: getattr(self.data, attr) for opt, attr in DATA_OPTIONS.items()})
            else:
                out[f.name] = getattr(self, f.name)
        return out

    def option(self, name: str):
        """One value by its option name (`image_size`, `data_root`, `lr`...)."""
        if name in DATA_OPTIONS:
            return getattr(self.data, DATA_OPTIONS[name])
        return getattr(self, name)

    @classmethod
    def from_options(cls, **options) -> TrainConfig:
        """A config from option names, as `ganlab train` spells them:
        `TrainConfig.from_options(dataset="cifar10", data_root="~/data", epochs=5)`.

        A `recipe` sets its options (core.recipes); the other options given win."""
        return cls().replace(**options)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """Rebuild from a flat record (config.json, a checkpoint), ignoring keys a newer ganlab
        may have added. Records from before the DataSpec name an LSUN category for every data
        set; it is dropped for the others."""
        names = set(option_names())
        return cls.from_options(
            **_without_old_category({k: v for k, v in data.items() if k in names})
        )

    def replace(self, **changes) -> TrainConfig:
        """A copy with `changes` applied, resolved like a new config.

        `changes` are fields or option names: `data=DataSpec(...)` replaces the images as a
        whole, `image_size=32` or `data_root="~/data"` changes one part of them (and `data` as
        a path or None is the `--data` cache, as on the command line).

        Changing `recipe` sets the new recipe's options (core.recipes) that are not in
        `changes`, and the paper's value of those the old recipe set and the new one does not:
        `cfg.replace(recipe="small-data", ema=None)` is the small-data recipe without the
        average, and `cfg.replace(recipe="paper")` of a `fast` run trains in batches of 128
        again. Options neither recipe sets keep their values.

        Changing `arch` moves nz, ngf and ndf that are not in `changes` and still hold the old
        arch's preset to the new arch's preset, so `TrainConfig().replace(arch="imagenet32")`
        equals `TrainConfig(arch="imagenet32")`; sizes set to anything else are kept. A size
        given as None goes back to the (new) arch's preset.
        """
        spec = changes.pop("data") if isinstance(changes.get("data"), DataSpec) else self.data
        parts = {DATA_OPTIONS[k]: changes.pop(k) for k in list(changes) if k in DATA_OPTIONS}
        if parts:
            spec = spec.replace(**parts)
        if changes.get("recipe", self.recipe) != self.recipe:
            from ganlab.core.recipes import recipe_switch

            changes = {**recipe_switch(self.recipe, changes["recipe"]), **changes}
        arch = changes.get("arch", self.arch)
        if arch != self.arch:
            old = ARCH_PRESETS[self.arch]
            for name in PRESET_FIELDS:
                if name not in changes and getattr(self, name) == old[name]:
                    changes[name] = None
        return dataclasses.replace(self, data=spec, **changes)


def new_config(options: dict, from_file: dict | None = None) -> TrainConfig:
    """The config of a new run: the defaults, then a `--config` file's values, then the options
    given (None: not given). `core.train.resume_config` is the same for a resumed run."""
    given = {k: v for k, v in options.items() if v is not None}
    from_file = from_file or {}
    recipe = given.get("recipe", from_file.get("recipe", "paper"))
    # the recipe's values, then the file's, then the options given: the options win
    return TrainConfig.from_options(**{**from_file, "recipe": recipe}).replace(**given)


def option_names() -> list[str]:
    """Every option of a TrainConfig in its flat form, as `ganlab train` spells them (with _)."""
    names = []
    for f in fields(TrainConfig):
        names += list(DATA_OPTIONS) if f.name == "data" else [f.name]
    return names


def option_types() -> dict[str, object]:
    """{option name: its type}, for checking values read from a file."""
    hints = typing.get_type_hints(TrainConfig)
    spec_hints = typing.get_type_hints(DataSpec)
    out = {}
    for name in option_names():
        out[name] = spec_hints[DATA_OPTIONS[name]] if name in DATA_OPTIONS else hints[name]
    return out


# --- --config FILE ----------------------------------------------------------------------------

CONFIG_SUFFIXES = (".toml", ".json")


def _positive(v) -> bool:
    return v >= 1


def _non_negative(v) -> bool:
    return v >= 0


def _fraction(v) -> bool:
    return 0 <= v < 1


def _power_of_two(v) -> bool:
    return 16 <= v <= 256 and not v & (v - 1)


# The checks the CLI's options make, for values read from a file: field -> (test, the rule).
_VALUE_CHECKS = {
    "image_size": (_power_of_two, "a power of two from 16 to 256"),
    "channels": (lambda v: v in (1, 3), "1 (grey) or 3 (RGB)"),
    "nz": (_positive, "at least 1"),
    "ngf": (_positive, "at least 1"),
    "ndf": (_positive, "at least 1"),
    "kernel_size": (lambda v: v in (3, 4, 5), "3, 4 or 5 (3 only for imagenet32)"),
    "bn_eps": (lambda v: v > 0, "positive (the authors' code: 1e-8)"),
    "batch_size": (lambda v: v >= 2, "at least 2"),
    "lr": (lambda v: v > 0, "positive (paper: 0.0002)"),
    "beta1": (_fraction, "in [0, 1) (paper: 0.5)"),
    "beta2": (_fraction, "in [0, 1)"),
    "weight_decay": (_non_negative, "0 or more"),
    "ema": (_fraction, "in [0, 1), e.g. 0.999"),
    "lr_g": (lambda v: v > 0, "positive"),
    "lr_d": (lambda v: v > 0, "positive"),
    "d_steps": (_positive, "at least 1"),
    "r1": (_non_negative, "0 (off) or more, e.g. 0.1 for 32-64 px"),
    "epochs": (_positive, "at least 1"),
    "max_steps": (_positive, "at least 1"),
    "seed": (_non_negative, "0 or more"),
    "workers": (_non_negative, "0 or more"),
    "checkpoint_every": (_non_negative, "0 or more"),
    "keep": (_positive, "at least 1"),
    "log_every": (_positive, "at least 1"),
    "eval_every": (_non_negative, "0 or more"),
    "eval_n": (lambda v: v >= 2, "at least 2"),
    "eval_real_n": (lambda v: v >= 2, "at least 2"),
}


def read_config_file(path: str | Path) -> dict:
    """The TrainConfig values a `--config` file sets, checked like the options.

    The file is TOML or JSON with keys named like `ganlab train`'s options (`batch-size` or
    `batch_size`; `dataset` for the DATASET argument). A run's own config.json is valid: its
    TrainConfig is the "config" part, and the run's other records (model, dataset description,
    command...) are ignored, so `ganlab train --config runs/a/config.json --out runs/b` repeats
    run a.

    Args:
        path: a .toml or .json file.
    Returns:
        {TrainConfig field: value} for the keys the file sets, to apply with
        `TrainConfig().replace(**values)` before the options given on the command line.
    Raises:
        GanlabError: the file is missing or malformed, has a key that is not an option (the
            message names the closest one) or a value of the wrong type or range.
    """
    path = Path(path)
    if path.suffix.lower() not in CONFIG_SUFFIXES:
        raise GanlabError(f"--config {path}: use a .toml or .json file.")
    try:
        text = path.read_text()
    except OSError as e:
        raise GanlabError(f"cannot read --config {path}: {e.strerror or e}.") from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise GanlabError(f"--config {path} is not valid {path.suffix[1:].upper()}: {e}.") from None
    if isinstance(data, dict) and isinstance(data.get("config"), dict):
        data = data["config"]  # a run's config.json
    if not isinstance(data, dict):
        raise GanlabError(f"--config {path} must hold a table of option = value.")
    hints = option_types()
    values = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in hints:
            raise GanlabError(f"--config {path}: unknown key {key!r}{_closest(key, hints)}")
        values[name] = _checked(path, key, value, hints[name])
    return _without_old_category(values)


def _without_old_category(values: dict) -> dict:
    """Option values of a record from before the DataSpec, which named an LSUN category for
    every data set: the category is dropped where the record names another data set."""
    if values.get("dataset", "lsun") != "lsun":
        values = {k: v for k, v in values.items() if k != "category"}
    return values


def _closest(key: str, names) -> str:
    """'; did you mean 'batch_size'?' (in the key's own spelling), or '' if nothing is close."""
    match = difflib.get_close_matches(key.replace("-", "_"), list(names), n=1, cutoff=0.6)
    if not match:
        return f"; the keys are the options of `ganlab train --help`: {', '.join(names)}."
    return f"; did you mean {match[0].replace('_', '-') if '-' in key else match[0]!r}?"


def _checked(path: Path, key: str, value, hint):
    """`value` of field `key` if it has the field's type and passes its check; else raise."""
    name = key.replace("-", "_")
    types = typing.get_args(hint) or (hint,)
    if value is None:
        if type(None) in types:
            return None
        raise GanlabError(f"--config {path}: {key} cannot be null.")
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)  # `lr = 1` means 1.0
    # bool is an int in Python: a bool field takes only true/false, an int field no bool
    if not any(type(value) is t for t in types):
        wanted = " or ".join(t.__name__ for t in types if t is not type(None))
        raise GanlabError(f"--config {path}: {key} = {value!r} is not a {wanted}.")
    check = _VALUE_CHECKS.get(name)
    if check is not None and not check[0](value):
        raise GanlabError(f"--config {path}: {key} = {value!r} must be {check[1]}.")
    choices = _choices(name)
    if choices is not None and value not in choices:
        raise GanlabError(
            f"--config {path}: {key} = {value!r} is not one of {', '.join(map(str, choices))}."
        )
    if name == "grid_seeds":
        from ganlab.io.seedlist import parse_seeds

        try:
            parse_seeds(value)
        except ValueError as e:
            raise GanlabError(f"--config {path}: grid_seeds: {e}.") from None
    return value


def _choices(name: str):
    """The values a choice field may take (the libraries' lists), or None."""
    if name == "dataset":
        from ganlab.data import DATASETS

        return sorted(DATASETS)
    if name == "arch":
        return list(ARCH_PRESETS)
    if name == "z_dist":
        from ganlab.core.seeds import Z_DISTS

        return list(Z_DISTS)
    if name == "device":
        from ganlab.core.device import DEVICES

        return list(DEVICES)
    if name == "recipe":
        from ganlab.core.recipes import RECIPES

        return list(RECIPES)
    if name == "loss":
        from ganlab.core.losses import LOSSES

        return list(LOSSES)
    if name == "spectral_norm":
        return list(SPECTRAL_NORMS)
    return None


def _check_recipe_options(cfg: TrainConfig) -> None:
    """The recipe options' values, checked where every config is made (CLI, file, Python),
    by the same choices and rules as a `--config` file's values."""
    from ganlab.core.diffaug import parse_policy

    for name in ("recipe", "loss", "spectral_norm"):
        valid = _choices(name)
        if getattr(cfg, name) not in valid:
            raise GanlabError(
                f"--{name.replace('_', '-')} {getattr(cfg, name)!r} is not a choice: use one of "
                f"{', '.join(valid)} (docs/recipes.md)."
            )
    for name in ("ema", "lr_g", "lr_d", "d_steps", "r1"):
        value = getattr(cfg, name)
        test, rule = _VALUE_CHECKS[name]
        if value is not None and not test(value):
            raise GanlabError(f"--{name.replace('_', '-')} {value} must be {rule}.")
    parse_policy(cfg.diffaug)  # raises with the valid names
