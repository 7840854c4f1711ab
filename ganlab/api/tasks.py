"""Training, evaluation and the probe from Python: the library calls behind `ganlab train`,
`ganlab eval` and `ganlab probe`, returning the result objects those commands print as JSON
(`result.to_dict()`, less the `kind` and `argv` a command line adds)."""

from __future__ import annotations

from pathlib import Path

from ganlab.api.run import Run, load
from ganlab.core.config import TrainConfig
from ganlab.experiments.eval import EvalResult
from ganlab.experiments.probe import ProbeConfig, ProbeResult
from ganlab.progress import Reporter


def train(
    config: TrainConfig | None = None,
    *,
    out: str | Path | None = None,
    quiet: bool = True,
    **options,
) -> Run:
    """Train a DCGAN (or continue one's config with changes) and return the finished run.

    Args:
        config: a TrainConfig; None: the defaults.
        out: the run directory to create (default runs/<dataset>-<timestamp>).
        quiet: no progress output.
        options: `ganlab train`'s options by name, applied on top of `config`, e.g.
            `train(dataset="digits", epochs=5, batch_size=64)`.
    Returns:
        The Run at its last checkpoint.
    """
    from ganlab.core.train import train as train_run

    cfg = (config or TrainConfig()).replace(**options)
    result = train_run(cfg, out=out, reporter=Reporter(quiet=quiet), command=None)
    return load(result.run_dir, device="cpu")


def evaluate(
    run: Run | str | Path, metrics: tuple[str, ...] = ("fid", "kid"), **options
) -> EvalResult:
    """FID/KID/IS/PR (and nn-error) of a run's checkpoint, as `ganlab eval` scores it.

    Args:
        run: a Run (scored with the G it renders, `run.weights`), or a run directory /
            RUN:SPEC.
        metrics: names from `ganlab eval --help` (fid, kid, is, pr, nn-error).
        options: `experiments.eval.evaluate`'s options (n, real_n, reference,
            inception_weights, cache_dir, device, amp, weights, ...).
    Returns:
        An EvalResult (`.results`: one dict of scores per checkpoint; `.protocol`).
    """
    from ganlab.experiments.eval import evaluate as evaluate_run

    where = run.checkpoint.path if isinstance(run, Run) else run
    if isinstance(run, Run):
        options.setdefault("weights", run.weights)
    return evaluate_run(where, metrics=tuple(metrics), **options)


def probe(dataset: str, run: Run | str | Path | None = None, **options) -> ProbeResult:
    """D's features scored with the paper's linear L2-SVM protocol, as `ganlab probe` does.

    Args:
        dataset: the probe data set (cifar10, svhn, digits, ...).
        run: the run whose D to probe (a Run or a run directory); None with
            `features=FILE` (stored features) or `random_init=True`.
        options: ProbeConfig fields (data_root, layers, grid, random_init, Cs, device, ...).
    Returns:
        A ProbeResult (`.test_accuracy`, `.C`, `.val_accuracy`, ...).
    """
    from ganlab.experiments.probe import probe as probe_run

    checkpoint = run.checkpoint.path if isinstance(run, Run) else run
    cfg = ProbeConfig(
        dataset=dataset, checkpoint=None if checkpoint is None else str(checkpoint), **options
    )
    return probe_run(cfg)
