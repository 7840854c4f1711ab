"""What nn-error's 1-nearest-neighbour classifier holds and classifies, as labelled vectors.

An image becomes a vector in one of two spaces: its pixels in [0, 1] (the authors') or D's conv
features, every layer max-pooled to 4x4 (the probe's). The classifier holds a gallery, streamed
in chunks: the samples of a conditional G with the classes they were drawn in, or real training
images with their labels; it classifies the test split, embedded whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from ganlab.core.features import extract_features
from ganlab.core.metrics.generated import generated_images
from ganlab.core.models import Discriminator
from ganlab.core.nets import load_generator
from ganlab.data.base import ImageDataset
from ganlab.data.batches import batches
from ganlab.errors import EvalError
from ganlab.io.checkpoint import Checkpoint
from ganlab.progress import Reporter

Embed = Callable[[torch.Tensor], torch.Tensor]  # uint8 (B, C, S, S) -> float32 (B, F)


# --- embeddings --------------------------------------------------------------------------------


def pixel_embed(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, S, S) -> (B, C*S*S) in [0, 1]: the authors' pixel space."""
    return images.flatten(1).float().div_(255.0)


def d_feature_embed(D: Discriminator, device: str | torch.device = "cpu") -> Embed:
    """uint8 (B, C, S, S) -> D's conv features, every layer max-pooled to 4x4 (the probe's).

    D is in eval mode (its running BatchNorm statistics); a conditional D gets no class
    (core.features), so generated and real images are embedded alike.
    """
    D = D.to(device).eval()

    def embed(images: torch.Tensor) -> torch.Tensor:
        return next(extract_features(D, iter([images]), device=device))

    return embed


# --- the two galleries -------------------------------------------------------------------------


@torch.no_grad()
def generated_gallery(
    ckpt: Checkpoint,
    n: int,
    embed: Embed,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    reporter: Reporter | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(embedded samples, labels) chunks of a conditional G: seed i drawn in class i % K.

    The samples are quantised to uint8 as saved PNGs (`ganlab sample` writes the same
    images), G in eval mode; n samples cover the K classes evenly.
    """
    G = load_generator(ckpt, device)
    for images, y in generated_images(G, ckpt.z_dist, n, batch_size, reporter):
        yield embed(images), y


def real_gallery(
    data: ImageDataset,
    n: int | None,
    embed: Embed,
    batch_size: int = 256,
    workers: int = 0,
    seed: int = 0,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(embedded images, labels) chunks of `n` real images (the first n of a seeded
    permutation of `data`; all of it when n is None or larger)."""
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    chosen = order if n is None else order[:n]
    for batch in batches(data, indices=chosen.tolist(), batch_size=batch_size, workers=workers):
        if len(batch.images):
            yield embed(batch.images), batch.labels


def embed_all(
    data: ImageDataset, embed: Embed, batch_size: int = 256, workers: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image of `data` embedded, (N, F), with its labels (N,): the test queries."""
    vectors, labels = [], []
    for batch in batches(data, batch_size=batch_size, workers=workers):
        if len(batch.images):
            vectors.append(embed(batch.images))
            labels.append(batch.labels)
    if not vectors:
        raise EvalError(f"the {data.info.name} {data.split} split has no readable image.")
    return torch.cat(vectors), torch.cat(labels)
