"""core.knn: the one streamed k-nearest-neighbour search (nn-error and `ganlab neighbors`)."""

import pytest
import torch

from ganlab.core.knn import NearestSearch, knn


def chunks(vectors: torch.Tensor, size: int):
    ids = torch.arange(len(vectors))
    return [(vectors[i : i + size], ids[i : i + size]) for i in range(0, len(vectors), size)]


@pytest.mark.parametrize("k, chunk, query_chunk", [(1, 37, 16), (4, 37, 16), (7, 500, 4096)])
def test_streamed_search_equals_brute_force(k, chunk, query_chunk):
    gen = torch.Generator().manual_seed(k)
    reference = torch.rand(300, 20, generator=gen, dtype=torch.float64)
    queries = torch.rand(70, 20, generator=gen, dtype=torch.float64)
    found = knn(queries, chunks(reference, chunk), k, query_chunk)
    brute = torch.cdist(queries, reference).square().topk(k, dim=1, largest=False)
    assert found.seen == 300 and found.ids.shape == (70, k)
    assert torch.equal(found.ids, brute.indices)
    torch.testing.assert_close(found.distances, brute.values, atol=1e-12, rtol=0)


@pytest.mark.parametrize("k", [1, 3])
def test_ties_go_to_the_row_seen_first(k):
    # 40 distinct rows of small integers: every distance is exact, so copies tie exactly
    codes = torch.randperm(4**5, generator=torch.Generator().manual_seed(0))[:40]
    reference = torch.stack([codes // 4**i % 4 for i in range(5)], dim=1).float()  # (40, 5)
    reference = torch.cat([reference, reference])  # row i + 40 is a copy of row i
    found = knn(reference[:40], chunks(reference, 13), k, query_chunk=7)
    assert torch.equal(found.ids[:, 0], torch.arange(40))  # itself, not its later copy
    if k > 1:
        assert torch.equal(found.ids[:, 1], torch.arange(40) + 40)  # then the copy


def test_query_ids_leave_out_the_query_itself():
    reference = torch.rand(50, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    picked = torch.tensor([3, 17, 40])
    search = NearestSearch(reference[picked], query_ids=picked)
    for vectors, ids in chunks(reference, 16):
        search.add(vectors, ids)
    found = search.result()
    d = torch.cdist(reference[picked], reference).square()
    d[torch.arange(3), picked] = float("inf")
    assert torch.equal(found.ids[:, 0], d.argmin(1))
    assert (found.distances > 0).all()


def test_fewer_rows_than_k_and_empty_chunks():
    queries = torch.rand(4, 3, generator=torch.Generator().manual_seed(2))
    empty = (torch.empty(0, 3), torch.empty(0, dtype=torch.int64))
    found = knn(queries, [empty, *chunks(queries[:2], 1), empty], k=5)
    assert found.seen == 2 and found.ids.shape == (4, 2)
    nothing = knn(queries, [empty], k=1)
    assert nothing.seen == 0 and (nothing.ids == -1).all() and nothing.distances.isinf().all()
