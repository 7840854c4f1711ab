"""`ganlab concept`: named sets of exemplar seeds in one run's latent space (paper Figs. 7-8).

The paper found single samples per concept unstable and averaged z over three exemplars per
concept. A concept here is that list of seeds, stored per run in ``RUN/concepts.json``
(human-readable, written atomically) with a record of where it came from:

    {"format": "ganlab-concepts", "version": 1, "nz": 100, "z_dist": "uniform",
     "concepts": {"man with glasses": {"seeds": [3, 17, 42],
                                       "source": {"kind": "manual", "step": 880, ...}}}}

Concepts are picked by hand (`ganlab concept add`) or mined: a logistic regression on the
run's own D features of labelled real images scores a pool of generated samples, and each
label value keeps its most confidently classified seeds (or seeds spread over its confident
range), with a boundary in z per value. Mining makes the arithmetic reproducible without
hand-picking. Definitions combine labels into one concept ("man with glasses=Male,Eyeglasses"):
its exemplars are the pool samples every attribute's classifier puts on the defined side,
ranked by their joint probability.

Modules:

- ``add``: `add_concept` and `remove_concept`, hand-picked seeds or projected images.
- ``labels``: labelled real images from a label file or the run's dataset.
- ``classifier``: D features and the logistic regression on them.
- ``pool``: the scored pool (D features of real images and samples), exemplar picks, records.
- ``mine``: `mine` and `mine_concepts`, exemplars and boundaries from a scored pool.
- ``define``: `--define` conjunctions of labels, parsed and mined (`mine_defined`).
- ``provenance``: the source record every stored concept starts with.

Usage::

    from ganlab.experiments.concept import mine_concepts
    result = mine_concepts("runs/digits", pool=2000)
"""

from __future__ import annotations

from ganlab.experiments.concept.add import add_concept, remove_concept
from ganlab.experiments.concept.classifier import (
    C_REG,
    FEATURE_GRID,
    HELDOUT,
    LabelClassifier,
    fit_classifier,
)
from ganlab.experiments.concept.define import (
    Definition,
    Part,
    mine_defined,
    parse_definitions,
)
from ganlab.experiments.concept.labels import (
    LabelColumn,
    LabelledImages,
    load_labelled,
    read_label_table,
)
from ganlab.experiments.concept.mine import PER_CONCEPT, MineResult, mine, mine_concepts
from ganlab.experiments.concept.pool import CONFIDENT, MIN_SIDE, pick_exemplars

__all__ = [
    "CONFIDENT",
    "C_REG",
    "FEATURE_GRID",
    "Definition",
    "HELDOUT",
    "MIN_SIDE",
    "PER_CONCEPT",
    "LabelClassifier",
    "LabelColumn",
    "LabelledImages",
    "MineResult",
    "Part",
    "add_concept",
    "fit_classifier",
    "load_labelled",
    "mine",
    "mine_concepts",
    "mine_defined",
    "parse_definitions",
    "pick_exemplars",
    "read_label_table",
    "remove_concept",
]
