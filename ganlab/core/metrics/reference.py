"""The real images a generator is compared with, and their Inception features, cached on disk.

A `Reference` names a data set ganlab reads, a folder, or a prepared .h5, at the run's size and
channels; `reference_features` runs its images (the first n of a fixed permutation) through the
FID Inception once and caches the features and FID statistics per (dataset, split, size,
channels, extractor weights, n), so a second evaluation reads no real image. A cache entry that
is unreadable or made for another request is recomputed, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganlab.core.config import TrainConfig
from ganlab.core.inception import (
    EXTRACTOR,
    FEATURES,
    RESIZE,
    InceptionExtractor,
    fidelity_version,
)
from ganlab.core.metrics.formulas import ReferenceFeatures, fid_statistics
from ganlab.data.base import ImageDataset
from ganlab.data.batches import batches
from ganlab.data.spec import DEFAULT_CATEGORY, DataSpec, absolute, open_dataset
from ganlab.errors import EvalError
from ganlab.io.atomic import atomic_path
from ganlab.progress import Reporter

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
        """The reference images as a DataSpec (never downloaded)."""
        return DataSpec(
            self.dataset,
            root=self.data_root,
            split=self.split,
            image_size=self.image_size,
            channels=self.channels,
            category=self.category if self.dataset == "lsun" else None,
            prepared=self.data,
        )

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


def open_reference(ref: Reference) -> ImageDataset:
    """The reference's images (never downloaded); DatasetError when missing or malformed."""
    return open_dataset(ref.spec())


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
    data = data if data is not None else open_reference(ref)
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
