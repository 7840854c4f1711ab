"""The metrics `ganlab eval` knows, listed once: name, one line of help, and what each needs.

The command line reads this table for the choices and help of `--metrics`, and every name a
caller gives is checked here (`parse_metrics`), so a new metric is one `register` call plus the
code that computes it (core.metrics.formulas for those on Inception features). Nothing here
imports torch: `ganlab --help` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ganlab.errors import EvalError

IS_SPLITS = 10  # Inception Score's splits (torch-fidelity's default): at least one image each
PR_NEIGHBORHOOD = 3  # k of the k-NN balls (Kynkaanniemi et al. 2019): k + 1 images at least


@dataclass(frozen=True)
class Metric:
    """One metric of `ganlab eval --metrics`."""

    name: str  # as given to --metrics
    help: str  # one line for `ganlab eval --help`
    keys: tuple[str, ...]  # what it adds to each checkpoint's result
    inception: bool = True  # scored on FID Inception features against a reference's
    min_generated: int = 2  # generated images it needs at least
    min_real: int | None = 2  # reference images it needs at least (None: no reference)


METRICS: dict[str, Metric] = {}  # by name, in the order results list their keys


def register(metric: Metric) -> Metric:
    """Add a metric to the table (its name must be new)."""
    if metric.name in METRICS:
        raise ValueError(f"metric {metric.name!r} is registered twice")
    METRICS[metric.name] = metric
    return metric


register(Metric("fid", "Frechet Inception distance", keys=("fid",)))
register(Metric("kid", "kernel Inception distance, with its std", keys=("kid", "kid_std")))
register(
    Metric(
        "is",
        "Inception Score, with its std, from the generated images alone",
        keys=("is", "is_std"),
        min_generated=IS_SPLITS,
        min_real=None,
    )
)
register(
    Metric(
        "pr",
        "improved precision and recall",
        keys=("precision", "recall"),
        min_generated=PR_NEIGHBORHOOD + 1,
        min_real=PR_NEIGHBORHOOD + 1,
    )
)
NN_METRIC = register(
    Metric(
        "nn-error",
        "the appendix's test error of a 1-nearest-neighbour classifier built from a conditional "
        "run's -n samples, beside one built from -n real training images",
        keys=("nn_error", "nn_error_real", "nn_n", "nn_real_n", "nn_test_n"),
        inception=False,
        min_generated=1,  # and one per class of a conditional run: nnerror.NNErrorEval checks
        min_real=None,  # its real images are the run's own train and test splits
    )
).name

DEFAULT = ("fid", "kid")  # `ganlab eval` without --metrics


def parse_metrics(names: str | Iterable[str]) -> tuple[str, ...]:
    """The metric names asked for, checked against the table.

    Args:
        names: "fid,kid" (comma-separated) or a sequence of names; case and spaces are ignored.
    Returns:
        The names, lower-cased, each once, in the order given.
    Raises:
        EvalError: no name, or one the table does not hold (the message lists the choices).
    """
    if isinstance(names, str):
        names = names.split(",")
    chosen = tuple(dict.fromkeys(m.strip().lower() for m in names if m.strip()))
    unknown = [m for m in chosen if m not in METRICS]
    if unknown or not chosen:
        raise EvalError(
            f"unknown metric {', '.join(unknown) or '(none given)'}: choose from "
            f"{', '.join(METRICS)}, comma-separated (e.g. --metrics fid,kid,is,pr)."
        )
    return chosen


def check_counts(metrics: Iterable[str], n: int, n_real: int | None = None) -> None:
    """Refuse image counts the metrics cannot be computed from.

    Args:
        metrics: registered metric names.
        n: generated images.
        n_real: reference images, once known (None: not checked).
    Raises:
        EvalError: naming the metric and the count it needs.
    """
    if n < 1:
        raise EvalError(f"-n {n}: evaluate at least 2 generated images (50000 is the standard).")
    for m in map(METRICS.__getitem__, metrics):
        if n < m.min_generated:
            raise EvalError(
                f"-n {n} is too few for {m.name.upper()}: it needs at least {m.min_generated} "
                "generated images (50000 is the standard protocol)."
            )
        if n_real is not None and m.min_real is not None and n_real < m.min_real:
            raise EvalError(
                f"the reference has {n_real} image(s), too few for {m.name.upper()} (at least "
                f"{m.min_real})."
            )
