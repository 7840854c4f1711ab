"""`ganlab eval`: FID, KID, IS and precision/recall of a run's checkpoints, with the protocol.

A number is only comparable with another made the same way, so every result carries its
protocol: how many images were generated (seeds 0..n-1, G in eval mode, quantised to uint8 as
a saved PNG) and how many real ones, which data set, split, size and channels, the feature
extractor and its weights' SHA-256, the resize, and the library versions. The metrics
themselves are torch-fidelity's (core.metrics.formulas); see docs/evaluation.md for the
protocol and its pitfalls.

`nn-error` is the paper's appendix metric for a class-conditional run (core.metrics.nnerror):
the test error of a 1-nearest-neighbour classifier built from n generated samples, beside the
same classifier built from real training images. It needs no Inception network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ganlab.core.amp import resolve_amp
from ganlab.core.inception import (
    EXTRACTOR,
    FEATURES,
    INPUT,
    LOGITS,
    RESIZE,
    InceptionExtractor,
    load_inception_weights,
    resolve_weights_path,
)
from ganlab.core.metrics import (
    DEFAULT,
    IS_SPLITS,
    KID_SUBSETS,
    METRICS,
    NN_METRIC,
    PR_NEIGHBORHOOD,
    REAL_N,
    SMALL_N,
    NNErrorEval,
    Reference,
    check_counts,
    generator_features,
    kid_subset_size,
    parse_metrics,
    protocol_versions,
    reference_features,
    score,
)
from ganlab.core.nets import load_generator
from ganlab.data.registry import DATASETS
from ganlab.errors import EvalError
from ganlab.io.checkpoint import load_checkpoint
from ganlab.io.runspec import (
    BEST,
    LATEST,
    RunSpec,
    list_checkpoints,
    read_pointer,
    resolve_checkpoint_path,
)
from ganlab.io.seedlist import format_seeds
from ganlab.progress import Reporter

ALL = "all"  # --checkpoint all: every kept checkpoint, a curve


@dataclass
class EvalResult:
    """Scores of one or more checkpoints, and the protocol they share."""

    protocol: dict
    results: list[dict]  # one per checkpoint: step, checkpoint, fid, kid, kid_std, is, ...
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"protocol": self.protocol, "results": self.results, "warnings": self.warnings}


def evaluate(
    run: str | Path,
    checkpoint: str | None = None,
    metrics: tuple[str, ...] = DEFAULT,
    n: int = 50_000,
    real_n: int | None = REAL_N,
    reference: str | None = None,
    data_root: str | Path | None = None,
    split: str | None = None,
    inception_weights: str | Path | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    device: str | torch.device = "cpu",
    batch_size: int = 128,
    workers: int = 2,
    reporter: Reporter | None = None,
    nn_space: str = "pixel",
    amp: str = "off",
    weights: str = "auto",
) -> EvalResult:
    """Score a run's checkpoint(s) against real images.

    Args:
        run: a run directory, a checkpoint file, or RUN:best / RUN:latest / RUN:STEP.
        checkpoint: "latest", "best", a step, or "all" (every kept checkpoint); None: RUN's.
        metrics: names in core.metrics.METRICS (fid, kid, is, pr, nn-error).
        n: generated images, seeds 0..n-1.
        real_n: reference images (all of the split if it is smaller); None: all.
        reference: a data set name, a folder of images or a `ganlab prepare` .h5 file
            (default: the run's own data set).
        data_root: where the reference data set lies (default: the run's).
        split: the reference split (default: the run's).
        inception_weights: the FID Inception weights (default: $GANLAB_INCEPTION_WEIGHTS,
            then torch-fidelity's cache; see core.inception).
        cache_dir: where reference features are cached (default: core.metrics).
        use_cache: False to neither read nor write the reference cache.
        device: where G and the Inception network run.
        batch_size: images per G/Inception pass (does not change the images or scores).
        workers: loader processes for file-backed reference data sets.
        reporter: progress output.
        nn_space: nn-error's distance, "pixel" (the authors') or "d-features" (each
            checkpoint's D); n real training images make its reference classifier.
        amp: the Inception network's precision (core.amp: off, auto, bf16); G always
            renders in float32, so the images are the bytes `ganlab sample` saves.
        weights: which G renders: "auto" (the averaged G of a checkpoint that has one, else
            the trained G), "ema" or "raw" (the trained G); each result records which.
    Returns:
        An EvalResult.
    Raises:
        EvalError, CheckpointError, DatasetError: with a message saying what to do.
    """
    rep = reporter or Reporter(quiet=True)
    metrics = parse_metrics(metrics)
    fid_metrics = tuple(m for m in metrics if METRICS[m].inception)  # on Inception features
    check_counts(metrics, n)
    warnings: list[str] = []
    if n < SMALL_N and "fid" in metrics:
        warnings.append(
            f"-n {n}: FID is biased upward with few images; compare only numbers made with the "
            "same n (the standard is 50000)."
        )
    paths = _checkpoints(run, checkpoint)
    first = load_checkpoint(paths[0]).use_weights(weights)
    mcfg = first.model_config
    nn = None
    if NN_METRIC in metrics:  # checks the run is conditional and opens its splits
        nn = NNErrorEval(
            first, n, nn_space, None, data_root, device, batch_size, workers, reporter=rep
        )
    real = extractor = ref = None
    if fid_metrics:
        ref = _reference(first.train_config, mcfg, reference, data_root, split, real_n)
        # everything that can fail cheaply fails before the long passes
        inception = load_inception_weights(
            resolve_weights_path(inception_weights, progress=rep.live)
        )
        if inception.warning():
            warnings.append(inception.warning())
        precision = resolve_amp(amp, torch.device(device))
        extractor = InceptionExtractor(inception, device, amp=precision.amp)
        if precision.amp != "off":
            warnings.append(
                f"the Inception network ran in {precision.amp} ({precision.reason}): scores "
                "differ slightly from float32 ones; pass --amp off for numbers to compare with "
                "published FIDs."
            )
        real = reference_features(
            ref,
            extractor,
            cache_dir=cache_dir,
            batch_size=batch_size,
            workers=workers,
            reporter=rep,
            use_cache=use_cache,
        )
        warnings += real.warnings
        check_counts(fid_metrics, n, real.n)

    pointers = _pointers(paths[0])
    results = []
    for path in paths:
        ckpt = first if path == paths[0] else load_checkpoint(path).use_weights(weights)
        if ckpt.model_config != mcfg:
            raise EvalError(
                f"{path} has another shape ({ckpt.model_config}) than {paths[0]}; evaluate "
                "one run at a time."
            )
        scores = {}
        if fid_metrics:
            fake = generator_features(
                load_generator(ckpt, device),
                ckpt.z_dist,
                n,
                extractor,
                batch_size=batch_size,
                reporter=rep,
                description=f"step {ckpt.step}",
            )
            scores = score(fake, real, fid_metrics)
        if nn is not None:
            scores.update(nn.score(ckpt))
        results.append(
            {
                "step": ckpt.step,
                "epoch": ckpt.epoch,
                "checkpoint": str(path),
                "pointers": [p for p, name in pointers.items() if name == path.name],
                "weights": ckpt.weights_used,
                **scores,
            }
        )
        rep.log(f"step {ckpt.step}: " + ", ".join(f"{k} {v:.5g}" for k, v in scores.items()))
    if fid_metrics:
        protocol = _protocol(metrics, n, first, real, extractor, ref)
    else:
        protocol = {"metrics": list(metrics), "generated": _generated(n, first)}
    used = sorted({r["weights"] for r in results})
    protocol["generated"]["weights"] = used[0] if len(used) == 1 else "per checkpoint"
    if len(used) > 1:  # --ema added on a resume: the earlier checkpoints have no average
        warnings.append(
            "some checkpoints rendered the averaged G and some the trained G (--weights auto "
            "uses the average where a checkpoint has one): pass --weights raw to compare "
            "them as one curve."
        )
    if nn is not None:
        protocol["nn_error"] = nn.protocol()
    return EvalResult(protocol=protocol, results=results, warnings=warnings)


def _checkpoints(run: str | Path, which: str | None) -> list[Path]:
    """The checkpoint files to score: one, or with "all" every kept one by step."""
    spec = RunSpec.parse(run)
    path = spec.path
    if ALL not in (which, spec.which):
        return [resolve_checkpoint_path(run, which)]
    if not path.is_dir():
        raise EvalError(
            f"--checkpoint all scores every checkpoint of a run directory; {path} is a file."
        )
    found = [p for _, p in list_checkpoints(path)]
    if not found:
        resolve_checkpoint_path(path)  # raises: the run has no checkpoint yet
    return found


def _pointers(checkpoint: Path) -> dict[str, str | None]:
    """{"latest": name, "best": name} of the run a checkpoint file is in."""
    return {p: read_pointer(checkpoint.parent, p) for p in (LATEST, BEST)}


def _reference(
    train_config: dict,
    mcfg,
    reference: str | None,
    data_root: str | Path | None,
    split: str | None,
    real_n: int | None,
) -> Reference:
    """The run's own data set and split, with the overrides given, at the run's size."""
    ref = Reference.of_run(train_config, mcfg.image_size, mcfg.channels, real_n)
    changes: dict = {}
    if reference is not None:
        path = Path(reference).expanduser()
        if reference == "folder":
            raise EvalError("--reference folder: give the folder itself, e.g. --reference ~/imgs.")
        if reference in DATASETS:
            changes = {"dataset": reference, "data": None, "data_root": None}
        elif path.is_dir():
            changes = {"dataset": "folder", "split": "train", "data": None}
            changes["data_root"] = str(path.absolute())
        elif path.is_file() and path.suffix in (".h5", ".hdf5"):
            changes = {"data": str(path.absolute()), "data_root": None}
            changes["dataset"] = _prepared_dataset(path)
        else:
            raise EvalError(
                f"--reference {reference} is neither a data set ({', '.join(sorted(DATASETS))}), "
                "a folder of images nor a prepared .h5 file."
            )
    if data_root is not None:
        changes["data_root"] = str(Path(data_root).expanduser().absolute())
        changes["data"] = None
    if split is not None:
        changes["split"] = split
    if changes.get("dataset", ref.dataset) != ref.dataset and split is None:
        changes.setdefault("split", "train")
    return Reference(**{**ref.__dict__, **changes})


def _prepared_dataset(path: Path) -> str:
    from ganlab.data.prepared import read_attrs

    attrs = read_attrs(path)
    return str(attrs["dataset"])


def _generated(n: int, ckpt) -> dict:
    """How the generated images were made."""
    out = {
        "n": n,
        "seeds": format_seeds(list(range(n))),
        "z_dist": ckpt.z_dist,
        "generator": "eval mode (BatchNorm running statistics)",
        "quantisation": "uint8, round((x + 1) * 127.5), as a saved PNG",
        "image_size": ckpt.model_config.image_size,
        "channels": ckpt.model_config.channels,
    }
    if ckpt.model_config.num_classes:
        out["classes"] = f"seed i in class i % {ckpt.model_config.num_classes}"
    return out


def _protocol(metrics, n, ckpt, real, extractor: InceptionExtractor, ref: Reference) -> dict:
    weights = extractor.weights
    described = real.info.get("dataset", {})
    protocol = {
        "metrics": list(metrics),
        "standard": weights.standard,
        "generated": _generated(n, ckpt),
        "reference": {
            "dataset": ref.dataset,
            "split": ref.split,
            "image_size": ref.image_size,
            "channels": ref.channels,
            "n": real.n,
            "split_size": real.info.get("total"),
            "subset": "all"
            if real.n >= real.info.get("total", real.n)
            else f"first {real.n} of a permutation seeded 0",
            "skipped": real.info.get("skipped", 0),
            "source": described.get("source") or described.get("root") or "bundled data",
            "cache": real.cache,
            "cached": real.cached,
            "images_read": real.images_read,
        },
        "extractor": {
            "name": f"{EXTRACTOR} (torch-fidelity)",
            "weights": str(weights.path),
            "weights_sha256": weights.sha256,
            "features": FEATURES,
            "logits": LOGITS if "is" in metrics else None,
            "input": INPUT,
            "resize": RESIZE,
            "precision": extractor.amp,
        },
        "settings": {},
        "versions": protocol_versions(),
    }
    s = protocol["settings"]
    if "kid" in metrics:
        s["kid_subsets"] = KID_SUBSETS
        s["kid_subset_size"] = kid_subset_size(n, real.n)
    if "is" in metrics:
        s["is_splits"] = IS_SPLITS
    if "pr" in metrics:
        s["pr_neighborhood"] = PR_NEIGHBORHOOD
    return protocol
