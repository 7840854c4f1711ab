"""`ganlab arithmetic`: vector arithmetic on concepts (paper Fig. 7) and attribute walks (Fig. 8).

Single samples per concept were unstable in the paper, so a concept's z is the mean of its
exemplars' z (the paper's three in the Fig. 7 form; `exemplars` picks how many). `arithmetic`
decodes base - minus + plus, and eight more samples of that vector plus uniform noise of scale
0.25, under rows showing each concept's exemplars and their averaged image. Without a base,
the offset (plus - minus) is applied to any seeds and each before/after pair is shown.
`attribute_walk` adds increasing multiples of mean(right) - mean(left) (the paper's "turn"
vector) to base latents, one row per base.

Base latents may also be a user's own images (`--base-image`), projected as `ganlab project`
projects them; the grid then shows each photo over its reconstruction and the result.

The direction is the paper's mean difference or, for mined concepts, the normal of their
boundary in z; either can be made orthogonal to other attributes (`keep`) and scaled per
sample just past the point where the run's classifier changes its mind (`until_flip`).

All images come from G in eval mode, so the same command gives the same bytes.

Modules:

- ``directions``: the offset at scale 1 ("mean" or "boundary", `keep`), the named concepts
  and their first N exemplars.
- ``flip``: the per-sample multiple at which the run's classifiers flip (--until-flip).
- ``figure``: `arithmetic`, the Fig. 7 grid and before/after pairs.
- ``walk``: `attribute_walk`, the Fig. 8 grid.
- ``layout``: tiles in slots and row captions (PIL).
- ``result``: ArithmeticResult and its one-line summary.

Usage::

    from ganlab.experiments.arithmetic import arithmetic
    result = arithmetic("runs/faces", ["woman"], ["man"], "out.png", base="man with glasses")
"""

from __future__ import annotations

from ganlab.experiments.arithmetic.directions import (
    DIRECTIONS,
    PAPER_EXEMPLARS,
    edit_offset,
    first_exemplars,
    kept_concepts,
    offset_vector,
    pick_direction,
)
from ganlab.experiments.arithmetic.figure import arithmetic, expression
from ganlab.experiments.arithmetic.flip import (
    FLIP_BISECT,
    FLIP_COARSE,
    FLIP_MARGIN,
    FLIP_SCALE,
    FlipTarget,
    flip_scales,
    flip_targets,
    resolve_flip,
    step_until_flip,
    until_flip,
)
from ganlab.experiments.arithmetic.layout import PADDING, captioned_grid
from ganlab.experiments.arithmetic.result import ArithmeticResult, describe
from ganlab.experiments.arithmetic.walk import attribute_walk

__all__ = [
    "DIRECTIONS",
    "FLIP_BISECT",
    "FLIP_COARSE",
    "FLIP_MARGIN",
    "FLIP_SCALE",
    "PADDING",
    "PAPER_EXEMPLARS",
    "ArithmeticResult",
    "FlipTarget",
    "arithmetic",
    "attribute_walk",
    "captioned_grid",
    "describe",
    "edit_offset",
    "expression",
    "first_exemplars",
    "flip_scales",
    "flip_targets",
    "kept_concepts",
    "offset_vector",
    "pick_direction",
    "resolve_flip",
    "step_until_flip",
    "until_flip",
]
