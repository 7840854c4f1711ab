"""FID, KID, Inception Score and precision/recall of a generator against real images.

Every formula is torch-fidelity's (`metric_fid`, `metric_kid`, `metric_isc`, `metric_prc`),
applied to features of its FID Inception (core.inception), so a number here equals
`torch_fidelity.calculate_metrics` on the same images (the tests hold it to 1e-4). ganlab
supplies what surrounds the formulas:

- the generated side: seeds 0..n-1, G in eval mode, each image quantised to uint8 exactly as
  a saved PNG holds it (io.images.to_uint8), so `ganlab sample -n N --out DIR` writes the very
  images that were scored;
- the real side: a `Reference` (a data set ganlab reads, a folder, or a prepared .h5, at the
  run's size and channels), its features cached on disk per (dataset, split, size, channels,
  extractor weights, n) and reused, so a second evaluation reads no real image;
- `TrainingEval`: the `train --eval-every` hook that logs FID/KID and keeps `checkpoints/best`.

Used by `ganlab eval` (experiments/eval.py) and by the training loop (core/train.py).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ganlab import __version__
from ganlab.core.config import TrainConfig
from ganlab.core.inception import (
    EXTRACTOR,
    FEATURES,
    LOGITS,
    RESIZE,
    InceptionExtractor,
    fidelity_version,
    load_inception_weights,
    resolve_weights_path,
)
from ganlab.core.seeds import z_from_seeds
from ganlab.data.base import ImageDataset
from ganlab.data.batches import batches
from ganlab.data.spec import DEFAULT_CATEGORY, DataSpec, absolute, open_dataset
from ganlab.errors import EvalError
from ganlab.io.atomic import atomic_path
from ganlab.io.checkpoint import BEST, read_pointer, write_best
from ganlab.io.images import to_uint8
from ganlab.progress import Reporter

METRICS = ("fid", "kid", "is", "pr")  # --metrics choices
KID_SUBSETS = 100  # torch-fidelity's (and the KID paper's) defaults
KID_SUBSET_SIZE = 1000
IS_SPLITS = 10
PR_NEIGHBORHOOD = 3  # k of the k-NN balls (Kynkaanniemi et al. 2019)
RNG_SEED = 2020  # torch-fidelity's default: IS shuffling and KID subsets
SMALL_N = 10_000  # below this, FID's upward bias is large (docs/evaluation.md)
REAL_N = 50_000  # default reference size: all of CIFAR-10 train; 50k of larger splits
SUBSET_SEED = 0  # a reference larger than n uses the first n of this permutation
CACHE_ENV = "GANLAB_CACHE_DIR"
CACHE_FORMAT = "ganlab-reference-features"
CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """$GANLAB_CACHE_DIR, else $XDG_CACHE_HOME/ganlab/reference (~/.cache/ganlab/reference)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ganlab" / "reference"


# --- the real images --------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """The real images a generator is compared with.

    `dataset` is a registry name (a folder of images is "folder" with its path as
    `data_root`); `data` is a `ganlab prepare` cache read instead of `data_root`.
    """

    dataset: str
    split: str
    image_size: int
    channels: int
    data_root: str | None = None
    data: str | None = None
    category: str = "bedroom"  # LSUN only
    n: int | None = REAL_N  # images used (the first n of a fixed permutation); None: all

    @classmethod
    def of_run(
        cls, train_config: dict, image_size: int, channels: int, n: int | None = REAL_N
    ) -> Reference:
        """The data set and split a run trained on, at its image size and channels."""
        spec = absolute(TrainConfig.from_dict(train_config).data)
        return cls(
            dataset=spec.name,
            split=spec.split,
            image_size=image_size,
            channels=channels,
            data_root=spec.root,
            data=spec.prepared,
            category=spec.category or DEFAULT_CATEGORY,
            n=n,
        )

    def spec(self) -> DataSpec:
        """The reference images as a DataSpec."""
        return DataSpec(
            self.dataset,
            root=self.data_root,
            split=self.split,
            image_size=self.image_size,
            channels=self.channels,
            category=self.category if self.dataset == "lsun" else None,
            prepared=self.data,
        )

    def open(self) -> ImageDataset:
        """The data set (DatasetError when it is missing or malformed)."""
        return open_dataset(self.spec())

    def identity(self, weights_sha256: str, precision: str = "off") -> dict:
        """What the cached features depend on: known before opening the data set.

        `precision` is the extractor's (core.amp); float32 entries carry no such key, so
        the caches made before `--amp` stay valid.
        """
        ident = {
            "format": CACHE_FORMAT,
            "version": CACHE_VERSION,
            "dataset": self.dataset,
            "split": self.split,
            "image_size": self.image_size,
            "channels": self.channels,
            "data_root": self.data_root,
            "n": self.n,
            "extractor": EXTRACTOR,
            "features": FEATURES,
            "weights_sha256": weights_sha256,
            "resize": RESIZE,
            "torch_fidelity": fidelity_version(),
        }
        if self.dataset == "lsun":
            ident["category"] = self.category
        if self.data is not None:  # a re-prepared cache is another reference
            stat = Path(self.data).stat()
            ident["data"] = {"path": self.data, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        if precision != "off":
            ident["precision"] = precision
        return ident

    def cache_name(self, weights_sha256: str, precision: str = "off") -> str:
        key = hashlib.sha256(
            json.dumps(self.identity(weights_sha256, precision), sort_keys=True).encode()
        ).hexdigest()[:16]
        n = "all" if self.n is None else self.n
        return f"{self.dataset}-{self.split}-{self.image_size}px-{self.channels}c-n{n}-{key}.npz"


@dataclass
class ReferenceFeatures:
    """The reference's Inception features and FID statistics."""

    features: torch.Tensor  # (N, 2048) float32
    mu: np.ndarray  # (2048,) float32, as torch-fidelity computes it
    sigma: np.ndarray  # (2048, 2048) float64
    info: dict  # n, total (images in the split), skipped, dataset (its describe())
    cache: str | None = None  # the cache file, when caching
    cached: bool = False  # read from the cache (no real image read)
    images_read: int = 0  # real images decoded and run through the extractor
    warnings: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.features.shape[0])


def reference_features(
    ref: Reference,
    extractor: InceptionExtractor,
    cache_dir: str | Path | None = None,
    batch_size: int = 128,
    workers: int = 0,
    reporter: Reporter | None = None,
    data: ImageDataset | None = None,
    use_cache: bool = True,
) -> ReferenceFeatures:
    """The reference's features: from the cache when a valid entry exists, else computed.

    A corrupt entry, or one whose recorded identity differs from the request, is recomputed
    with a warning (and rewritten), never trusted.

    Args:
        ref: which real images.
        extractor: the Inception network (its weights' hash is part of the cache key).
        cache_dir: where entries live (default: `default_cache_dir()`).
        batch_size: images per extractor pass.
        workers: loader processes for file-backed data sets.
        reporter: progress output.
        data: the opened data set, when the caller has it already (training).
        use_cache: False to neither read nor write the cache.
    Returns:
        ReferenceFeatures.
    """
    rep = reporter or Reporter(quiet=True)
    sha = extractor.weights.sha256
    identity = ref.identity(sha, extractor.amp)
    name = ref.cache_name(sha, extractor.amp)
    path = Path(cache_dir or default_cache_dir()) / name if use_cache else None
    warnings: list[str] = []
    if path is not None and path.is_file():
        try:
            hit = _read_cache(path, identity)
            rep.log(f"reference features: {path} ({hit.n} images, cached)")
            return hit
        except _BadCache as e:
            warnings.append(f"reference cache {path} {e}; recomputing it")
            rep.warn(warnings[-1])
    data = data if data is not None else ref.open()
    total = len(data)
    indices = _subset(total, ref.n)
    count = total if indices is None else len(indices)
    feats, skipped = [], 0
    rep.start(f"real {ref.dataset} {ref.split}", total=count)
    done = 0
    try:
        for batch in batches(data, indices=indices, batch_size=batch_size, workers=workers):
            skipped += batch.skipped
            if batch.images.shape[0]:
                feats.append(extractor(batch.images)[FEATURES])
            done += batch.size
            rep.update(done)
    finally:
        rep.stop()
    if not feats:
        raise EvalError(f"no readable image in the reference {ref.dataset} {ref.split}.")
    features = torch.cat(feats)  # (N, 2048)
    mu, sigma = fid_statistics(features)
    info = {"n": int(features.shape[0]), "total": total, "skipped": skipped}
    info["dataset"] = data.describe()
    out = ReferenceFeatures(
        features, mu, sigma, info, str(path) if path else None, False, count, warnings
    )
    if path is not None:
        _write_cache(path, identity, out)
    rep.log(
        f"reference features: {out.n} images of {ref.dataset} {ref.split}"
        + (f", cached in {path}" if path is not None else "")
    )
    return out


def _subset(total: int, n: int | None) -> torch.Tensor | None:
    """Indices of the first n of a fixed permutation, in data set order; None: all."""
    if n is None or n >= total:
        return None
    gen = torch.Generator().manual_seed(SUBSET_SEED)
    return torch.randperm(total, generator=gen)[:n].sort().values


class _BadCache(Exception):
    """A cache entry that must not be trusted (the message says why)."""


def _read_cache(path: Path, identity: dict) -> ReferenceFeatures:
    try:
        with np.load(path, allow_pickle=False) as z:
            stored = json.loads(str(z["identity"]))
            info = json.loads(str(z["info"]))
            features, mu, sigma = z["features"], z["mu"], z["sigma"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise _BadCache(f"is unreadable ({type(e).__name__})") from None
    if stored != identity:
        raise _BadCache("was made for another reference or extractor")
    d = features.shape[1] if features.ndim == 2 else -1
    if (
        features.ndim != 2
        or features.shape[0] != info.get("n")
        or mu.shape != (d,)
        or sigma.shape != (d, d)
        or not (np.isfinite(mu).all() and np.isfinite(sigma).all())
    ):
        raise _BadCache("is inconsistent (shapes or values)")
    return ReferenceFeatures(
        torch.from_numpy(features), mu, sigma, info, str(path), cached=True, images_read=0
    )


def _write_cache(path: Path, identity: dict, ref: ReferenceFeatures) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: no ".npz" appended
        np.savez(
            f,
            identity=np.array(json.dumps(identity, sort_keys=True)),
            info=np.array(json.dumps(ref.info, sort_keys=True)),
            features=ref.features.numpy(),
            mu=ref.mu,
            sigma=ref.sigma,
        )


# --- the generated images ---------------------------------------------------------------------


@torch.no_grad()
def generator_features(
    G: torch.nn.Module,
    z_dist: str,
    n: int,
    extractor: InceptionExtractor,
    batch_size: int = 128,
    reporter: Reporter | None = None,
    description: str = "generated",
) -> dict[str, torch.Tensor]:
    """Features of G's images for seeds 0..n-1 (G in eval mode, uint8 as saved PNGs).

    A conditional G renders seed i in class i % K, so the n images cover the classes evenly.

    Args:
        G: the generator, a core.models.Generator (its mode is restored afterwards).
        z_dist: the run's latent prior.
        n: images.
        extractor: the Inception network.
        batch_size: images per G and extractor pass (does not change the images).
        reporter: progress output.
        description: the progress bar's label.
    Returns:
        {FEATURES: (n, 2048), LOGITS: (n, 1008)} float32 on the CPU.
    """
    rep = reporter or Reporter(quiet=True)
    device = next(G.parameters()).device
    was_training = G.training
    k = G.cfg.num_classes
    G.eval()  # eval-mode BatchNorm: an image depends only on its seed
    out: dict[str, list[torch.Tensor]] = {}
    rep.start(description, total=n)
    try:
        for start in range(0, n, batch_size):
            seeds = list(range(start, min(n, start + batch_size)))
            z = z_from_seeds(seeds, G.cfg.nz, z_dist).to(device)  # (b, nz)
            # a conditional G renders seed i in class i % K: the classes evenly
            y = (torch.tensor(seeds) % k).to(device) if k else None
            images = to_uint8(G(z, y).float())  # (b, C, S, S) uint8: the bytes a PNG holds
            for name, f in extractor(images).items():
                out.setdefault(name, []).append(f)
            rep.update(seeds[-1] + 1)
    finally:
        rep.stop()
        G.train(was_training)
    return {name: torch.cat(fs) for name, fs in out.items()}


# --- the metrics (torch-fidelity's formulas) --------------------------------------------------


def check_counts(metrics: tuple[str, ...], n: int, n_real: int | None = None) -> None:
    """Refuse counts the metrics cannot be computed from (EvalError)."""
    if n < 1:
        raise EvalError(f"-n {n}: evaluate at least 2 generated images (50000 is the standard).")
    need = {"fid": 2, "kid": 2, "pr": PR_NEIGHBORHOOD + 1, "is": IS_SPLITS}
    for m in metrics:
        if n < need[m]:
            raise EvalError(
                f"-n {n} is too few for {m.upper()}: it needs at least {need[m]} generated "
                "images (50000 is the standard protocol)."
            )
        if n_real is not None and m != "is" and n_real < need[m]:
            raise EvalError(
                f"the reference has {n_real} image(s), too few for {m.upper()} (at least "
                f"{need[m]})."
            )


def fid_statistics(features: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) of features (N, D), as torch-fidelity computes them."""
    from torch_fidelity.metric_fid import fid_features_to_statistics

    stats = fid_features_to_statistics(features)
    return stats["mu"], stats["sigma"]


def fid_from_statistics(mu1, sigma1, mu2, sigma2) -> float:
    """The Frechet distance of two Gaussians (torch-fidelity's `fid_statistics_to_metric`)."""
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric

    out = fid_statistics_to_metric(
        {"mu": mu1, "sigma": sigma1}, {"mu": mu2, "sigma": sigma2}, False
    )
    return out[KEY_METRIC_FID]


def kid_subset_size(n: int, n_real: int) -> int:
    """KID's subset size: 1000, or fewer when either side has fewer images."""
    return min(KID_SUBSET_SIZE, n, n_real)


def score(
    fake: dict[str, torch.Tensor], ref: ReferenceFeatures, metrics: tuple[str, ...]
) -> dict[str, float]:
    """The requested metrics of generated features against the reference's.

    Args:
        fake: `generator_features` output (FEATURES, and LOGITS for IS).
        ref: the reference features.
        metrics: a subset of METRICS.
    Returns:
        {"fid", "kid", "kid_std", "is", "is_std", "precision", "recall"} for those requested.
    """
    from torch_fidelity.metric_isc import (
        KEY_METRIC_ISC_MEAN,
        KEY_METRIC_ISC_STD,
        isc_features_to_metric,
    )
    from torch_fidelity.metric_kid import (
        KEY_METRIC_KID_MEAN,
        KEY_METRIC_KID_STD,
        kid_features_to_metric,
    )

    f1, f2 = fake[FEATURES], ref.features  # torch-fidelity's input1 (generated), input2 (real)
    out: dict[str, float] = {}
    if "fid" in metrics:
        mu, sigma = fid_statistics(f1)
        out["fid"] = fid_from_statistics(mu, sigma, ref.mu, ref.sigma)
    if "kid" in metrics:
        kid = kid_features_to_metric(
            f1,
            f2,
            kid_subsets=KID_SUBSETS,
            kid_subset_size=kid_subset_size(len(f1), len(f2)),
            rng_seed=RNG_SEED,
            verbose=False,
        )
        out["kid"], out["kid_std"] = kid[KEY_METRIC_KID_MEAN], kid[KEY_METRIC_KID_STD]
    if "is" in metrics:
        isc = isc_features_to_metric(fake[LOGITS], IS_SPLITS, True, RNG_SEED)
        out["is"], out["is_std"] = isc[KEY_METRIC_ISC_MEAN], isc[KEY_METRIC_ISC_STD]
    if "pr" in metrics:
        prc = precision_recall(f1, f2)
        out["precision"], out["recall"] = prc
    return {k: float(v) for k, v in out.items()}


def precision_recall(fake: torch.Tensor, real: torch.Tensor) -> tuple[float, float]:
    """Improved precision and recall (k=3 nearest-neighbour balls) of fake vs real features.

    Precision: the share of generated samples inside the real manifold; recall: the share of
    real samples inside the generated one. torch-fidelity's memory-bounded variant (distance
    blocks of 10,000), which gives the same numbers as its full-matrix one.
    """
    from torch_fidelity.metric_prc import (
        KEY_METRIC_PRECISION,
        KEY_METRIC_RECALL,
        prc_features_to_metric,
    )

    prc = prc_features_to_metric(
        fake,
        real,
        prc_neighborhood=PR_NEIGHBORHOOD,
        prc_batch_size=10_000,
        save_cpu_ram=True,
        verbose=False,
    )
    return prc[KEY_METRIC_PRECISION], prc[KEY_METRIC_RECALL]


# --- during training --------------------------------------------------------------------------


class TrainingEval:
    """`train --eval-every`: FID/KID of G every N steps, logged, and `checkpoints/best`.

    Made before the first step, so a missing weights file or metrics library stops the run
    before it trains. Every rank opens the weights (a bad file stops all of them alike); only
    rank 0 builds the extractor, reads the reference and evaluates, while the others wait.
    """

    metrics = ("fid", "kid")

    def __init__(self, cfg: TrainConfig, device: torch.device, is_main: bool, rep: Reporter):
        check_counts(self.metrics, cfg.eval_n)
        weights = load_inception_weights(
            resolve_weights_path(cfg.inception_weights, progress=rep.live and is_main)
        )
        self.cfg = cfg
        self.rep = rep
        self.is_main = is_main
        self.weights = weights
        self.extractor = InceptionExtractor(weights, device) if is_main else None
        self.ref: ReferenceFeatures | None = None
        self.best_fid = math.inf
        if is_main and weights.warning():
            rep.warn(weights.warning())

    def prepare(self, data: ImageDataset, image_size: int, channels: int, run) -> None:
        """Read (or load) the training split's reference features and the best FID so far
        (rank 0); `data` is the opened training data, at the model's size and channels."""
        if not self.is_main:
            return
        cfg = self.cfg
        reference = Reference.of_run(cfg.to_dict(), image_size, channels, cfg.eval_real_n)
        self.ref = reference_features(
            reference, self.extractor, workers=cfg.workers, reporter=self.rep, data=data
        )
        check_counts(self.metrics, cfg.eval_n, self.ref.n)
        self.best_fid = self._best_so_far(run)

    def _best_so_far(self, run) -> float:
        """The FID of the checkpoint `best` names, from its eval record (resume)."""
        name = read_pointer(run.checkpoints_dir, BEST)
        if name is None:
            return math.inf
        for rec in reversed(run.read_metrics()):
            if rec.get("kind") == "eval" and rec.get("checkpoint") == name:
                same = (rec.get("n"), rec.get("n_real"), rec.get("weights_sha256")) == (
                    self.cfg.eval_n,
                    self.ref.n,
                    self.weights.sha256,
                )
                if same:
                    return float(rec["fid"])
                self.rep.warn(
                    f"the best checkpoint {name} was scored with another protocol (n, "
                    "reference size or weights differ): best restarts from this run's scores."
                )
                return math.inf
        self.rep.warn(f"no eval record names the best checkpoint {name}: best restarts.")
        return math.inf

    def evaluate(self, G: torch.nn.Module, step: int, epoch: float, checkpoint: Path, run) -> None:
        """Score G now, append the eval record, and point `best` at `checkpoint` if lowest."""
        if not self.is_main:
            return
        t0 = time.perf_counter()
        cfg = self.cfg
        fake = generator_features(G, cfg.z_dist, cfg.eval_n, self.extractor)
        scores = score(fake, self.ref, self.metrics)
        best = scores["fid"] < self.best_fid
        if best:
            self.best_fid = scores["fid"]
            write_best(run.checkpoints_dir, checkpoint.name)
        record = {
            "kind": "eval",
            "step": step,
            "epoch": epoch,
            **{k: round(v, 6) for k, v in scores.items()},
            "n": cfg.eval_n,
            "n_real": self.ref.n,
            "checkpoint": checkpoint.name,
            "best": best,
            "weights_sha256": self.weights.sha256,
            "standard": self.weights.standard,
            "seconds": round(time.perf_counter() - t0, 3),
            "time": time.time(),
        }
        run.append_metrics(record)
        self.rep.log(
            f"eval step {step}: FID {scores['fid']:.3f} KID {scores['kid']:.5f} "
            f"(n {cfg.eval_n}, real {self.ref.n}){' best' if best else ''}"
        )


def protocol_versions() -> dict:
    """The library versions a protocol records."""
    return {
        "ganlab": __version__,
        "torch_fidelity": fidelity_version(),
        "torch": torch.__version__.split("+")[0],
    }
