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
hand-picking.

Modules:

- ``add``: `add_concept` and `remove_concept`, hand-picked seeds or projected images.
- ``labels``: labelled real images from a label file or the run's dataset.
- ``classifier``: D features and the logistic regression on them.
- ``mine``: `mine` and `mine_concepts`, exemplars and boundaries from a scored pool.
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
from ganlab.experiments.concept.labels import (
    LabelColumn,
    LabelledImages,
    load_labelled,
    read_label_table,
)
from ganlab.experiments.concept.mine import (
    CONFIDENT,
    MIN_SIDE,
    PER_CONCEPT,
    MineResult,
    mine,
    mine_concepts,
    pick_exemplars,
)

__all__ = [
    "CONFIDENT",
    "C_REG",
    "FEATURE_GRID",
    "HELDOUT",
    "MIN_SIDE",
    "PER_CONCEPT",
    "LabelClassifier",
    "LabelColumn",
    "LabelledImages",
    "MineResult",
    "add_concept",
    "fit_classifier",
    "load_labelled",
    "mine",
    "mine_concepts",
    "pick_exemplars",
    "read_label_table",
    "remove_concept",
]
