"""Image-quality metrics of a generator, one module per job.

- registry: the table of metrics (name, help, what each needs) that `ganlab eval` reads;
- formulas: FID, KID, IS and precision/recall, torch-fidelity's formulas on Inception features;
- reference: the real images (`Reference`) and their features, cached on disk;
- generated: the features of G's images for seeds 0..n-1, uint8 as saved PNGs;
- training: `train --eval-every`, which logs FID/KID and keeps `checkpoints/best`;
- nnerror: the appendix's nn-error, a 1-nearest-neighbour classifier of a conditional run.

Used by `ganlab eval` (experiments/eval.py) and the training loop (core/train.py). The names
below load their module on first use, so that the command line reads the registry without
importing torch (`ganlab --help` stays fast).
"""

from importlib import import_module

_EXPORTS = {
    "METRICS": "registry",
    "DEFAULT": "registry",
    "NN_METRIC": "registry",
    "IS_SPLITS": "registry",
    "PR_NEIGHBORHOOD": "registry",
    "Metric": "registry",
    "check_counts": "registry",
    "parse_metrics": "registry",
    "KID_SUBSETS": "formulas",
    "SMALL_N": "formulas",
    "fid_statistics": "formulas",
    "fid_from_statistics": "formulas",
    "kid_subset_size": "formulas",
    "precision_recall": "formulas",
    "protocol_versions": "formulas",
    "score": "formulas",
    "REAL_N": "reference",
    "Reference": "reference",
    "ReferenceFeatures": "formulas",
    "default_cache_dir": "reference",
    "open_reference": "reference",
    "reference_features": "reference",
    "generator_features": "generated",
    "TrainingEval": "training",
    "NNErrorEval": "nnerror",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
