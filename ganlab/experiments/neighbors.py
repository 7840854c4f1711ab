"""`ganlab neighbors`: is G copying its training set? (the memorisation check of Figs. 2-3).

For each sample (one per seed), the k nearest training images are found exactly, in two
spaces, in one streamed pass over the dataset:

- pixel space: RMS difference per pixel in G's [-1, 1] range (0 = identical, 2 = opposite);
- D-feature space: the section 5 probe features (every conv layer of D max-pooled to 4x4 and
  concatenated), L2-normalised, Euclidean distance (0 = same direction, sqrt(2) = orthogonal).

Distances come from batched matrix products (|a|^2 + |b|^2 - 2ab, in float64 so that an exact
copy gives ~1e-8, not float32's ~1e-3) against one dataset batch at a time; core.knn keeps only
the running k best. To say whether a distance is small, the same pass measures each of
`reference` random training images' distance to its nearest *other* training image: a G that
copies has samples far closer to the training set than training images are to each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ganlab.core.features import d_embedding
from ganlab.core.generate import generate, hold_class, label_free_discriminator
from ganlab.core.knn import Distance, NearestSearch
from ganlab.core.seeds import z_from_seeds
from ganlab.core.trainset import training_data_of
from ganlab.data.batches import batches
from ganlab.errors import GanlabError
from ganlab.io.checkpoint import load_checkpoint
from ganlab.io.images import grid_image, save_png, to_unit
from ganlab.io.seedlist import format_seeds
from ganlab.progress import Reporter

SPACES = ("pixel", "feature")


@dataclass
class NeighborsResult:
    out: str | None
    checkpoint: str
    step: int
    dataset: str
    train_images: int  # images compared against (readable ones)
    seeds: str
    k: int
    # per space: {"sample_to_train": stats, "train_to_train": stats,
    #             "samples_below_train_p01": fraction of samples nearer than 99% of train pairs}
    stats: dict = field(default_factory=dict)
    nearest: list = field(default_factory=list)  # per sample: seed, indices and distances
    weights: str = "raw"  # the G that rendered: "ema" (the averaged G) or "raw" (the trained G)


def _embed(D, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (B, C, S, S) in [-1, 1] -> (pixels (B, P) float64, unit features (B, F) float64)."""
    f = F.normalize(d_embedding(D, x).double(), dim=1)
    return x.flatten(1).double(), f


def _distance(scale: float) -> Distance:
    """Euclidean distances divided by sqrt(scale): |a|^2 + |b|^2 - 2ab, clamped at 0."""

    def distance(q, q_sq, r, r_sq):
        d2 = q_sq[:, None] + r_sq[None] - 2 * q @ r.T  # (Q, B)
        return d2.clamp_(min=0).div_(scale).sqrt_()

    return distance


def _stats(d: np.ndarray) -> dict:
    q = np.quantile(d, [0.01, 0.05, 0.5])
    return {
        "min": float(d.min()),
        "p01": float(q[0]),
        "p05": float(q[1]),
        "median": float(q[2]),
        "mean": float(d.mean()),
        "max": float(d.max()),
        "count": int(len(d)),
    }


@torch.no_grad()
def nearest_training(
    D,
    queries: torch.Tensor,
    data,
    k: int = 5,
    reference: int = 500,
    batch_size: int = 512,
    workers: int = 0,
    seed: int = 0,
    device: str | torch.device = "cpu",
    reporter: Reporter | None = None,
):
    """Exact k nearest training images of `queries`, and train-to-train nearest distances.

    Args:
        D: the discriminator (eval mode) whose features define the feature space.
        queries: (Q, C, S, S) in [-1, 1].
        data: the training dataset (uint8 items at the same size and channels).
        k: neighbours per query.
        reference: random training images whose nearest other training image is measured.
    Returns:
        dict space -> (distances (Q, k), indices (Q, k), reference nearest distances (R,)),
        and the number of readable training images.
    """
    rep = reporter or Reporter(quiet=True)
    n = len(data)
    pix_scale = float(queries[0].numel())
    q_pix, q_feat = _embed(D, queries.to(device))
    # the reference images: a seeded random subset, read by index
    ref_idx = np.sort(np.random.default_rng(seed).choice(n, min(reference, n), replace=False))
    ref_parts = list(batches(data, indices=ref_idx, batch_size=batch_size, workers=workers))
    r_idx = torch.cat([b.indices for b in ref_parts])
    r_pix, r_feat = _embed(D, to_unit(torch.cat([b.images for b in ref_parts]).to(device)))
    query = {"pixel": q_pix, "feature": q_feat}
    ref = {"pixel": r_pix, "feature": r_feat}
    distance = {"pixel": _distance(pix_scale), "feature": _distance(1.0)}
    # per space: the queries' k nearest, and each reference image's nearest other image
    search = {
        s: (
            NearestSearch(query[s], k, distance=distance[s]),
            NearestSearch(ref[s], 1, distance=distance[s], query_ids=r_idx),
        )
        for s in SPACES
    }
    seen = 0
    rep.start("neighbours", total=n)
    try:
        for batch in batches(data, batch_size=batch_size, workers=workers):
            idx, images = batch.indices, batch.images
            if len(idx):
                b_pix, b_feat = _embed(D, to_unit(images.to(device)))
                chunk = {"pixel": b_pix, "feature": b_feat}
                for s in SPACES:
                    for one in search[s]:
                        one.add(chunk[s], idx)
                seen += len(idx)
            rep.update(min(n, int(idx[-1]) + 1) if len(idx) else seen)
    finally:
        rep.stop()
    if seen < 2:
        raise GanlabError(f"only {seen} readable training image(s); neighbours need at least 2.")
    found = {}
    for s in SPACES:
        near, ref_near = (one.result() for one in search[s])
        found[s] = (near.distances, near.ids, ref_near.distances[:, 0])
    return found, seen


def neighbors(
    checkpoint: str | Path,
    seeds: list[int],
    out: str | Path | None = None,
    k: int = 5,
    data_root: str | Path | None = None,
    reference: int = 500,
    batch_size: int = 512,
    workers: int = 0,
    annotate: bool = True,
    device: str | torch.device = "cpu",
    reporter: Reporter | None = None,
    class_: str | int | None = None,
    weights: str = "auto",
) -> NeighborsResult:
    """Find and render the nearest training images of one sample per seed.

    Args:
        checkpoint: a run directory or checkpoint file.
        seeds: one sample per seed.
        out: PNG to write (None: statistics only). Each row: the sample, its k pixel-space
            neighbours, a grey spacer, its k D-feature-space neighbours.
        k: neighbours per space.
        data_root: where the training data lies, if not where the run found it.
        reference: training images used for the train-to-train baseline.
        annotate: print the seed on each sample and the distance on each neighbour (tiles of
            32 px and more).
        class_: a conditional run's class (name or index) the samples are drawn in; their
            neighbours are searched among all training images (D is given no class).
        weights: which G renders the samples: "auto" (the averaged G of a run trained with
            --ema, else the trained G), "ema" or "raw" (the trained G). D is the trained D.
    Returns:
        A NeighborsResult with distance statistics per space.
    """
    if not seeds:
        raise GanlabError("no seeds: give -n N or --seeds like 0-15.")
    ckpt = load_checkpoint(checkpoint).use_weights(weights)
    hold_class(ckpt, class_)  # a conditional run draws its samples in one class (--class)
    data = training_data_of(ckpt, data_root)
    z = z_from_seeds(seeds, ckpt.model_config.nz, ckpt.z_dist)
    samples = generate(ckpt, z, device)  # (N, C, S, S) in [-1, 1]
    D = label_free_discriminator(ckpt, device)
    found, seen = nearest_training(
        D, samples, data, k, reference, batch_size, workers, device=device, reporter=reporter
    )
    stats, nearest = {}, []
    for s in SPACES:
        dist, _, ref_d = found[s]
        ref_d = ref_d[torch.isfinite(ref_d)].numpy()
        first = dist[:, 0].numpy()
        p01 = float(np.quantile(ref_d, 0.01))
        stats[s] = {
            "sample_to_train": _stats(first),
            "train_to_train": _stats(ref_d),
            "samples_below_train_p01": float((first < p01).mean()),
        }
    for row, seed in enumerate(seeds):
        nearest.append(
            {
                "seed": seed,
                **{
                    s: {
                        "index": found[s][1][row].tolist(),
                        "distance": [round(v, 6) for v in found[s][0][row].tolist()],
                    }
                    for s in SPACES
                },
            }
        )
    if out is not None:
        save_png(_render(samples, found, data, seeds, annotate), out)
    return NeighborsResult(
        out=str(out) if out is not None else None,
        checkpoint=str(ckpt.path),
        step=ckpt.step,
        dataset=data.info.name,
        train_images=seen,
        seeds=format_seeds(seeds),
        k=int(found["pixel"][0].shape[1]),
        stats=stats,
        nearest=nearest,
        weights=ckpt.weights_used,
    )


def _render(
    samples: torch.Tensor, found: dict, data, seeds: list[int], annotate: bool
) -> Image.Image:
    """Rows of sample | k pixel neighbours | spacer | k feature neighbours."""
    k = found["pixel"][0].shape[1]
    spacer = torch.zeros_like(samples[0])  # mid grey
    tiles, labels = [], []
    for row, seed in enumerate(seeds):
        tiles.append(samples[row])
        labels.append(str(seed))
        for s in SPACES:
            if s == "feature":
                tiles.append(spacer)
                labels.append("")
            for d, i in zip(found[s][0][row].tolist(), found[s][1][row].tolist(), strict=True):
                item = data[int(i)]
                tiles.append(to_unit(item[0]) if item is not None else spacer)
                labels.append(f"{d:.2f}")
    show_labels = annotate and samples.shape[-1] >= 32
    return grid_image(torch.stack(tiles), nrow=2 * k + 2, labels=labels if show_labels else None)
