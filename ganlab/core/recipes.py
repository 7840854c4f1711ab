"""Named training recipes, `ganlab train --recipe NAME`: a recipe is a set of option values.

A recipe's values come before a `--config` file's and the command line's, so any option given
overrides it. "paper" is section 4 of the paper, ganlab's default; the others are chosen by
measurement (benchmarks/recipe_quality.py; the figures and the reasons are in docs/recipes.md).
"""

from __future__ import annotations

from ganlab.errors import GanlabError

RECIPES: dict[str, dict] = {
    # BCE loss, BatchNorm in D, one Adam (lr 2e-4, beta1 0.5) for both nets, no averaging
    "paper": {},
    # the paper's training with an average of G (Yazici et al. 2019): it lowered the judge's FD
    # at 32 of the 37 checkpoints measured on Fashion-MNIST and the CelebA faces (all 16 on the
    # faces), for 0-2% of the step's time. Hinge + spectral norm (with or without TTUR) trained
    # slower than the paper's recipe over the budgets measured (docs/recipes.md), so no recipe
    # sets them.
    "averaged": {"ema": 0.999},
    # the averaged recipe in batches of 32 (four updates of both nets per 128 images seen
    # instead of one), D held back by the R1 penalty (Mescheder et al. 2018). At the same
    # images seen the judge's FD was 0.16-0.32x the paper's on Fashion-MNIST from 64,000 to
    # 192,000 images (two seeds) and 0.07-0.15x on the CelebA faces (docs/recipes.md); without
    # R1 the small batches let D pull ahead on Fashion-MNIST after two epochs (0.79x at 192,000).
    # Each image costs more on hardware that a batch of 32 does not fill (1.21x at 64 px,
    # 1.35x at 32 px on a 2-core CPU)
    "fast": {"ema": 0.999, "batch_size": 32, "r1": 0.1},
    # the averaged recipe with DiffAugment's full policy (Zhao et al. 2020), for data sets of a
    # few thousand images trained for many epochs (it did not pay over 6 epochs of the 10k
    # CelebA faces at the higher rates measured: docs/recipes.md)
    "small-data": {"ema": 0.999, "diffaug": "color,translation,cutout"},
    # the averaged recipe at five times the paper's learning rate, D held back by the R1
    # penalty (Mescheder et al. 2018): for longer runs at the paper's batch of 128.
    # On Fashion-MNIST its FD was 0.25-0.42x the paper's from 64,000 to 192,000 images (two
    # seeds; without R1 0.46x and 0.66x at 192,000); on the faces 0.67x at 64,000. +6-10% a step
    "regularized": {"ema": 0.999, "lr": 1e-3, "r1": 0.1},
}


# The options a recipe sets, with the paper's values (TrainConfig's defaults)
RECIPE_OPTIONS = {
    "batch_size": 128,
    "lr": 2e-4,
    "loss": "bce",
    "spectral_norm": "none",
    "ema": None,
    "lr_g": None,
    "lr_d": None,
    "d_steps": 1,
    "diffaug": "",
    "r1": 0.0,
}


def recipe_switch(old: str, new: str) -> dict:
    """The option values that moving a config from recipe `old` to recipe `new` sets: the new
    recipe's own, and the paper's value of each option that only the old recipe set. Options
    neither recipe sets (a batch size chosen for memory, say) keep their values."""
    if new not in RECIPES:
        raise GanlabError(
            f"--recipe {new!r} is not a recipe: use one of {', '.join(RECIPES)} (docs/recipes.md)."
        )
    own = RECIPES[new]
    back = {k: RECIPE_OPTIONS[k] for k in RECIPES.get(old, {}) if k not in own}
    return {**back, **own}
