"""Exact k nearest neighbours of a set of queries in a reference that arrives in chunks.

Two commands search a reference too large for one distance matrix: `eval --metrics nn-error`
labels each real test image by its nearest generated sample (core.metrics.nnerror), and
`ganlab neighbors` finds the nearest training images of samples (experiments.neighbors). The
reference streams through once (generated in batches, or read from disk), each query keeps its
running k best, and at most `query_chunk` x (rows of one chunk) distances exist at once.

Distances come from the rows' squared norms and one matrix product per block, not from
torch.cdist; `distance` says how they are combined, so each caller keeps its own arithmetic
(and so its exact numbers). Improved precision/recall (core.metrics.formulas) also uses k-NN
distances, but through torch-fidelity's own code, so that its numbers stay torch-fidelity's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

QUERY_CHUNK = 4096  # queries per distance block

# (queries (c, F), their squared norms (c,), reference rows (b, F), theirs (b,)) -> (c, b)
Distance = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def squared_euclidean(
    q: torch.Tensor, q_sq: torch.Tensor, r: torch.Tensor, r_sq: torch.Tensor
) -> torch.Tensor:
    """||q - r||^2 = ||q||^2 - 2 q.r + ||r||^2 for every pair, (c, b); rounding can make a
    distance of zero slightly negative."""
    return q_sq[:, None] - 2 * q @ r.T + r_sq[None]


@dataclass
class Neighbours:
    """The k nearest reference rows of each query, nearest first."""

    distances: torch.Tensor  # (Q, k) on the CPU; k > 1: fewer columns if fewer rows were seen
    ids: torch.Tensor  # (Q, k) int64: the ids those rows came with (k = 1, none seen: -1, inf)
    seen: int  # reference rows searched


class NearestSearch:
    """The running k nearest reference rows of fixed queries: feed the reference with `add`.

    Several searches can share one pass over a reference (`ganlab neighbors` runs four). A tie
    goes to the row added first.
    """

    def __init__(
        self,
        queries: torch.Tensor,
        k: int = 1,
        query_chunk: int = QUERY_CHUNK,
        distance: Distance = squared_euclidean,
        query_ids: torch.Tensor | None = None,
    ):
        """Args:
        queries: (Q, F) vectors, on the device the distances are computed on.
        k: neighbours per query.
        query_chunk: queries per distance block (memory: query_chunk x chunk rows).
        distance: how a block of distances is computed (default squared Euclidean).
        query_ids: (Q,) int64 ids of the queries when they belong to the reference themselves:
            a reference row with a query's id is not its neighbour.
        """
        self.queries, self.k, self.query_chunk, self.distance = queries, k, query_chunk, distance
        self.q_sq = queries.square().sum(1)  # (Q,)
        self.query_ids = query_ids
        width = 1 if k == 1 else 0  # k = 1 keeps a running minimum from the start
        self.blocks = [  # per block of queries: the best distances and ids so far, (c, <=k)
            (
                torch.full((len(q), width), float("inf"), dtype=queries.dtype),
                torch.full((len(q), width), -1, dtype=torch.int64),
            )
            for q in queries.split(query_chunk)
        ]
        self.seen = 0

    def add(self, vectors: torch.Tensor, ids: torch.Tensor) -> None:
        """Search one chunk of the reference: vectors (b, F), int64 ids (b,) on the CPU (row
        indices, labels: whatever the caller wants back for a neighbour)."""
        if not len(vectors):
            return
        r_sq = vectors.square().sum(1)  # (b,)
        for block, (best_d, best_i) in enumerate(self.blocks):
            start = block * self.query_chunk
            rows = slice(start, start + len(best_d))
            q = self.queries[rows]  # (c, F)
            d = self.distance(q, self.q_sq[rows], vectors, r_sq).cpu()  # (c, b)
            if self.query_ids is not None:
                d[self.query_ids[rows, None] == ids[None, :]] = float("inf")  # not itself
            self.blocks[block] = _merge(best_d, best_i, d, ids, self.k)
        self.seen += len(vectors)

    def result(self) -> Neighbours:
        """The neighbours found so far."""
        distances = torch.cat([d for d, _ in self.blocks])
        return Neighbours(distances, torch.cat([i for _, i in self.blocks]), self.seen)


def knn(
    queries: torch.Tensor,
    reference: Iterable[tuple[torch.Tensor, torch.Tensor]],
    k: int = 1,
    query_chunk: int = QUERY_CHUNK,
    distance: Distance = squared_euclidean,
) -> Neighbours:
    """The exact k nearest reference rows of each query, streaming the reference once.

    Args:
        queries: (Q, F) vectors.
        reference: chunks of (vectors (b, F), int64 ids (b,)), e.g. generated in batches.
        k: neighbours per query.
        query_chunk: queries per distance block.
        distance: how a block of distances is computed (default squared Euclidean).
    Returns:
        Neighbours: distances and ids (Q, k), nearest first; a tie goes to the row seen first.
    """
    search = NearestSearch(queries, k, query_chunk, distance)
    for vectors, ids in reference:
        search.add(vectors, ids)
    return search.result()


def _merge(
    best_d: torch.Tensor, best_i: torch.Tensor, d: torch.Tensor, ids: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k smallest of (best so far, new) per row. best_* (c, k'), d (c, b), ids (b,)."""
    if k == 1:  # a running minimum: no sort
        d_min, j = d.min(dim=1)  # the first minimum within the chunk
        better = d_min < best_d[:, 0]  # strict: a row seen earlier keeps a tie
        return (
            torch.where(better, d_min, best_d[:, 0])[:, None],
            torch.where(better, ids[j], best_i[:, 0])[:, None],
        )
    all_d = torch.cat([best_d, d], dim=1)
    all_i = torch.cat([best_i, ids.expand(d.shape[0], -1)], dim=1)
    order = all_d.sort(dim=1, stable=True).indices[:, :k]  # stable: earlier rows win ties
    return all_d.gather(1, order), all_i.gather(1, order)
