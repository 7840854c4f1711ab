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
    # the paper's training with an average of G (Yazici et al. 2019): the one change that lowered
    # the judge's FD at every checkpoint on both Fashion-MNIST and the CelebA faces, for 1% of
    # the step's time. Hinge + spectral norm (with or without TTUR) trained slower than the
    # paper's recipe over the budgets measured (docs/recipes.md), so no recipe sets them.
    "averaged": {"ema": 0.999},
    # the averaged recipe with DiffAugment's full policy (Zhao et al. 2020), for data sets of a
    # few thousand images: the lowest FD on the 10k CelebA faces (docs/recipes.md)
    "small-data": {"ema": 0.999, "diffaug": "color,translation,cutout"},
}


# The options a recipe sets, with the paper's values (TrainConfig's defaults)
RECIPE_OPTIONS = {
    "loss": "bce",
    "spectral_norm": "none",
    "ema": None,
    "lr_g": None,
    "lr_d": None,
    "d_steps": 1,
    "diffaug": "",
    "r1": 0.0,
}


def recipe_options(name: str) -> dict:
    """Every recipe option's value under recipe `name`: its own, else the paper's."""
    if name not in RECIPES:
        raise GanlabError(
            f"--recipe {name!r} is not a recipe: use one of {', '.join(RECIPES)} (docs/recipes.md)."
        )
    return {**RECIPE_OPTIONS, **RECIPES[name]}
