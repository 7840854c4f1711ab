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
    # spectral norm in D with the hinge loss (Miyato et al. 2018), two learning rates (Heusel et
    # al. 2017) and an average of G (Yazici et al. 2019)
    "modern": {
        "loss": "hinge",
        "spectral_norm": "d",
        "lr_g": 1e-4,
        "lr_d": 4e-4,
        "ema": 0.999,
    },
    # the modern recipe with DiffAugment's full policy (Zhao et al. 2020), for data sets of a
    # few thousand images
    "small-data": {
        "loss": "hinge",
        "spectral_norm": "d",
        "lr_g": 1e-4,
        "lr_d": 4e-4,
        "ema": 0.999,
        "diffaug": "color,translation,cutout",
    },
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
