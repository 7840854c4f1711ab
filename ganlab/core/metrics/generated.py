"""The generated side of an evaluation: G's images for seeds 0..n-1, and their features.

G runs in eval mode and each image is quantised to uint8 exactly as a saved PNG holds it
(io.images.to_uint8), so `ganlab sample -n N --out DIR` writes the very images that were scored.
A conditional G renders seed i in class i % K, so n images cover the K classes evenly. FID, KID,
IS and PR score these images' Inception features; nn-error labels them with their classes.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ganlab.core.inception import InceptionExtractor
from ganlab.core.seeds import z_from_seeds
from ganlab.io.images import to_uint8
from ganlab.progress import Reporter


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
    was_training = G.training
    G.eval()  # eval-mode BatchNorm: an image depends only on its seed
    out: dict[str, list[torch.Tensor]] = {}
    rep.start(description, total=n)
    try:
        for images, _ in generated_images(G, z_dist, n, batch_size, rep):
            for name, f in extractor(images).items():
                out.setdefault(name, []).append(f)
    finally:
        rep.stop()
        G.train(was_training)
    return {name: torch.cat(fs) for name, fs in out.items()}


@torch.no_grad()
def generated_images(
    G: torch.nn.Module,
    z_dist: str,
    n: int,
    batch_size: int = 128,
    reporter: Reporter | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """G's images for seeds 0..n-1, in batches, in the mode G is in (eval, for every metric).

    Args:
        G: the generator, a core.models.Generator.
        z_dist: the run's latent prior.
        n: images.
        batch_size: images per G pass (does not change the images).
        reporter: told the images done after each batch.
    Returns:
        An iterator of (uint8 (b, C, S, S) images, the bytes a PNG holds; int64 classes (b,)
        on the CPU, seed i in class i % K, or None for an unconditional G).
    """
    device = next(G.parameters()).device
    k = G.cfg.num_classes
    for start in range(0, n, batch_size):
        seeds = list(range(start, min(n, start + batch_size)))
        z = z_from_seeds(seeds, G.cfg.nz, z_dist).to(device)  # (b, nz)
        y = torch.tensor(seeds) % k if k else None  # (b,): the classes evenly
        images = to_uint8(G(z, None if y is None else y.to(device)).float())  # (b, C, S, S)
        yield images, y
        if reporter is not None:
            reporter.update(seeds[-1] + 1)
