"""The probe solver's exact Newton steps by the Woodbury identity: the step, its Gram, choice."""

from __future__ import annotations

import torch

from ganlab.experiments.probe import woodbury


def _dense_step(X, rows, g, C):
    """-H^-1 g with H = I + 2C A^T A, A = [X, 1] on `rows`, solved directly."""
    A = torch.cat([X[rows], torch.ones(len(rows), 1, dtype=X.dtype)], 1)
    H = torch.eye(X.shape[1] + 1, dtype=X.dtype) + 2 * C * A.T @ A
    return -torch.linalg.solve(H, g)


def test_the_step_is_newtons_exact_step_as_the_margin_rows_change():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(80, 30, generator=gen, dtype=torch.float64)
    grad = torch.randn(31, generator=gen, dtype=torch.float64)
    grams = woodbury.RowGrams(X)
    first = torch.arange(0, 40)
    more = torch.cat([torch.arange(5, 40), torch.arange(60, 70)])  # 5 rows leave, 10 come
    held = []
    for rows in (first, more, first[:12]):
        got = grams.direction(0, rows, grad, 0.05)
        assert torch.allclose(got, _dense_step(X, rows, grad, 0.05), atol=1e-9)
        held.append(len(grams.rows[0]))
    # grown by the 10 new rows, then rebuilt once it held over STALE x the rows asked for
    assert held == [40, 50, 12]
    assert torch.equal(grams.direction(1, torch.arange(0), grad, 0.05), -grad)  # no rows: H = I
    # never grown past STALE x the rows asked for: 40 held + 16 new > 2 x 21 rebuilds from the 21
    grams = woodbury.RowGrams(X)
    grams.direction(0, first, grad, 0.05)
    rows = torch.cat([torch.arange(0, 5), torch.arange(60, 76)])
    got = grams.direction(0, rows, grad, 0.05)
    assert torch.allclose(got, _dense_step(X, rows, grad, 0.05), atol=1e-9)
    assert len(grams.rows[0]) == 21


def test_choose_solves_the_slow_classes_whose_grams_cost_less_than_their_cg_steps(monkeypatch):
    n, F = 1000, 500
    grams = woodbury.RowGrams(torch.zeros(n, F))  # only the shapes enter the costs
    lpp = torch.zeros(n, 3)
    lpp[:20, 0] = 1.0  # class 0: 20 margin rows
    lpp[:, 1] = 1.0  # class 1: every row
    lpp[:900, 2] = 1.0  # class 2: 900 rows
    todo = torch.ones(3, dtype=torch.bool)
    # class 0 held CG up for 45 steps: its 20-row Gram costs far less
    assert woodbury.choose(grams, lpp, todo, torch.tensor([50, 5, 3])).tolist() == [
        True,
        False,
        False,
    ]
    # class 1 held it up, but its Gram of every row costs more than the 45 steps
    assert not woodbury.choose(grams, lpp, todo, torch.tensor([5, 50, 3])).any()
    # a class solved directly last time (0 CG steps) stays so until it converges
    assert woodbury.choose(grams, lpp, todo, torch.tensor([0, 5, 3])).tolist() == [
        True,
        False,
        False,
    ]
    todo[0] = False
    assert not woodbury.choose(grams, lpp, todo, torch.tensor([0, 5, 3])).any()
    # nor once its margin rows outgrow MAX_ROWS (the bound on a Gram's size)
    todo[0] = True
    monkeypatch.setattr(woodbury, "MAX_ROWS", 500)
    lpp[:, 0] = 1.0
    assert not woodbury.choose(grams, lpp, todo, torch.tensor([0, 5, 3])).any()
