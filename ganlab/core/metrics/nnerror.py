"""The appendix metric: label real test images by their nearest generated sample (1-NN error).

The authors judged their class-conditional MNIST model (Newmu/dcgan_code,
mnist/train_cond_dcgan.py) with `nnc_score` (lib/metrics.py): a 1-nearest-neighbour classifier
whose training set is N generated samples with the labels they were generated for, applied to
the real test split. Its error is compared with the same classifier built from N real training
images. A G whose classes are right and varied approaches the real-data error; one that ignores
its label, or draws few distinct images per class, does worse.

Distances are Euclidean, between pixels (the authors': images as [0, 1] vectors) or between D's
pooled conv features (core.metrics.galleries). The gallery (generated or real training images)
streams through core.knn in chunks and each test image keeps a running nearest distance and
label, so a 50,000 x 10,000 distance matrix never exists: at most `chunk` x `query_chunk`
distances at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from ganlab.core.knn import QUERY_CHUNK, knn
from ganlab.core.metrics.galleries import (
    Embed,
    d_feature_embed,
    embed_all,
    generated_gallery,
    pixel_embed,
    real_gallery,
)
from ganlab.core.nets import load_discriminator
from ganlab.core.trainset import data_spec_of
from ganlab.data.base import ImageDataset
from ganlab.data.registry import DATASETS
from ganlab.data.spec import open_dataset
from ganlab.errors import EvalError
from ganlab.io.checkpoint import Checkpoint
from ganlab.progress import Reporter

SPACES = ("pixel", "d-features")  # --nn-space choices


@dataclass
class NNError:
    """A 1-NN test error and what it was measured on."""

    error: float  # fraction of test images labelled wrongly
    gallery_n: int  # labelled images the classifier holds
    test_n: int  # test images classified


@torch.no_grad()
def nearest_labels(
    gallery: Iterable[tuple[torch.Tensor, torch.Tensor]],
    queries: torch.Tensor,
    query_chunk: int = QUERY_CHUNK,
) -> tuple[torch.Tensor, int]:
    """The label of each query's nearest gallery vector (Euclidean), streaming the gallery.

    Args:
        gallery: chunks of (vectors (b, F), int labels (b,)), e.g. generated in batches.
        queries: (M, F) vectors to label, float32.
        query_chunk: queries per distance block (memory: b x query_chunk floats).
    Returns:
        (labels (M,) int64 of the nearest gallery vectors, gallery vectors seen). A tie goes to
        the vector seen first.
    Raises:
        EvalError: the gallery is empty or its vectors do not match the queries' length.
    """
    queries = queries.float()
    # the labels are the ids core.knn reports for a neighbour
    found = knn(queries, _labelled(gallery, queries.shape[1]), k=1, query_chunk=query_chunk)
    if found.seen == 0:
        raise EvalError("the nearest-neighbour classifier got no labelled images.")
    return found.ids[:, 0], found.seen


def _labelled(
    gallery: Iterable[tuple[torch.Tensor, torch.Tensor]], width: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The gallery as float32 vectors and int64 labels, each chunk checked against the queries."""
    for vectors, labels in gallery:
        if vectors.shape[1] != width:
            raise EvalError(
                f"gallery vectors have {vectors.shape[1]} values, the test images "
                f"{width}: both sides must be embedded alike."
            )
        yield vectors.float(), labels.to(torch.int64)


def nn_error(
    gallery: Iterable[tuple[torch.Tensor, torch.Tensor]],
    queries: torch.Tensor,
    query_labels: torch.Tensor,
    query_chunk: int = QUERY_CHUNK,
) -> NNError:
    """Test error of the 1-NN classifier whose labelled examples are `gallery`.

    Args:
        gallery: chunks of (vectors (b, F), int labels (b,)).
        queries: (M, F) test vectors.
        query_labels: (M,) their true labels.
        query_chunk: queries per distance block.
    Returns:
        An NNError.
    """
    predicted, seen = nearest_labels(gallery, queries, query_chunk)
    wrong = (predicted != query_labels.to(torch.int64)).double().mean().item()
    return NNError(error=wrong, gallery_n=seen, test_n=int(queries.shape[0]))


# --- a run's nn-error --------------------------------------------------------------------------


class NNErrorEval:
    """The nn-error of a conditional run's checkpoints against the real-data reference.

    The real side is opened once: the run's data set, its test split classified, N images of
    its train split as the reference classifier (the first N of a permutation seeded 0). In
    pixel space the test embedding and the reference error are computed once; in D-feature
    space both depend on each checkpoint's D and are computed per checkpoint.
    """

    def __init__(
        self,
        ckpt: Checkpoint,
        n: int,
        space: str = "pixel",
        real_n: int | None = None,
        data_root: str | Path | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 256,
        workers: int = 0,
        reporter: Reporter | None = None,
    ):
        """Check the run and open its data.

        Args:
            ckpt: a checkpoint of the run (it fixes the data set, size and classes).
            n: generated samples per checkpoint, seeds 0..n-1 (seed i in class i % K).
            space: "pixel" (the authors') or "d-features" (each checkpoint's D, pooled).
            real_n: real training images of the reference classifier (default n; all of the
                split when it is smaller).
            data_root: where the data set lies (default: the run's).
        Raises:
            EvalError: the run is not conditional, the space is unknown, the data set has no
                test split or other classes than the run.
        """
        if space not in SPACES:
            raise EvalError(f"--nn-space {space}: choose {' or '.join(SPACES)}.")
        if not ckpt.model_config.num_classes:
            raise EvalError(
                f"nn-error labels real test images by their nearest generated sample, so it "
                f"needs a class-conditional run; {ckpt.path} was trained without "
                "--conditional. Train one with `ganlab train DATASET --conditional`, or "
                "choose another metric."
            )
        if n < ckpt.model_config.num_classes:
            raise EvalError(
                f"-n {n}: nn-error needs at least one sample per class "
                f"({ckpt.model_config.num_classes})."
            )
        self.n, self.space, self.device = n, space, device
        self.batch_size, self.workers = batch_size, workers
        self.rep = reporter or Reporter(quiet=True)
        self.train_data, self.test_data = _splits(ckpt, data_root)
        self.real_n = min(real_n or n, len(self.train_data))
        self._pixel: tuple[torch.Tensor, torch.Tensor, NNError] | None = None

    def score(self, ckpt: Checkpoint) -> dict:
        """{"nn_error", "nn_error_real", "nn_n", "nn_real_n", "nn_test_n"} of one checkpoint."""
        if self.space == "pixel":
            if self._pixel is None:  # the same for every checkpoint
                queries, truth = embed_all(self.test_data, pixel_embed, self.batch_size)
                real = nn_error(self._real(pixel_embed), queries, truth)
                self._pixel = (queries, truth, real)
            queries, truth, real = self._pixel
            embed: Embed = pixel_embed
        else:
            embed = d_feature_embed(load_discriminator(ckpt, self.device), self.device)
            queries, truth = embed_all(self.test_data, embed, self.batch_size, self.workers)
            real = nn_error(self._real(embed), queries, truth)
        self.rep.start(f"nn-error step {ckpt.step}", total=self.n)
        try:
            fake = nn_error(
                generated_gallery(ckpt, self.n, embed, self.device, self.batch_size, self.rep),
                queries,
                truth,
            )
        finally:
            self.rep.stop()
        return {
            "nn_error": fake.error,
            "nn_error_real": real.error,
            "nn_n": fake.gallery_n,
            "nn_real_n": real.gallery_n,
            "nn_test_n": fake.test_n,
        }

    def protocol(self) -> dict:
        """How the numbers were made, for the eval protocol."""
        return {
            "space": self.space,
            "generated": f"seeds 0..{self.n - 1}, seed i in class i % K, uint8 as saved PNGs",
            "test": f"{self.test_data.info.name} {self.test_data.split} ({len(self.test_data)})",
            "reference": f"{self.real_n} of {self.train_data.info.name} "
            f"{self.train_data.split}, the first of a permutation seeded 0",
            "distance": "Euclidean, 1 nearest neighbour (the authors' nnc_score)",
        }

    def _real(self, embed: Embed) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return real_gallery(self.train_data, self.real_n, embed, self.batch_size, self.workers)


def _splits(ckpt: Checkpoint, data_root: str | Path | None) -> tuple[ImageDataset, ImageDataset]:
    """The run's data set: (train split, test split), at the run's size and channels."""
    spec = data_spec_of(ckpt, data_root)
    splits = DATASETS[spec.name].splits
    test = next((s for s in ("test", "val") if s in splits), None)
    if test is None or "train" not in splits:
        raise EvalError(
            f"nn-error classifies a held-out split, but {spec.name} has only "
            f"{', '.join(splits)}. Use a data set with train and test splits (digits, mnist, "
            "fashion-mnist, cifar10, svhn)."
        )
    # the published files: a prepared cache holds only the split the run trained on
    spec = spec.replace(prepared=None)
    train, held_out = (open_dataset(spec.replace(split=s)) for s in ("train", test))
    names = ckpt.class_names
    for data in (train, held_out):
        if list(data.class_names) != names and ckpt.state.get("class_names") is not None:
            raise EvalError(
                f"the {data.info.name} {data.split} split has classes "
                f"{', '.join(data.class_names)} but {ckpt.path} was trained on "
                f"{', '.join(names)}; pass the --data-root of the run's data."
            )
    return train, held_out
