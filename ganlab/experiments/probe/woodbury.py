"""Exact Newton steps for the classes that hold CG up, by the Woodbury identity on their rows.

For the squared hinge, class c's (generalised) Hessian is H_c = I + 2C A^T A, with A = [X, 1] on
the class's margin rows (y x.w < 1). As C grows some classes keep few of them: at C = 1e-2 on
54,000 real Fashion-MNIST feature rows, 2-5% for five of the ten classes. CG is slowest on
exactly those (39-123 steps per Newton step against 8-54 for the others): its preconditioner
fits a sketch of all rows, not of a class's few. With few rows the inverse is cheap and exact,

    H_c^-1 g = g - A^T (I / 2C + A A^T)^-1 A g,

one Cholesky factorisation of the m x m Gram A A^T of the class's m margin rows. The Gram is
kept across Newton steps and grown by new rows only: the margin rows change little.

Which classes: the solver knows how many CG steps each class took in the last Newton step. The
j slowest are solved directly, for the j that minimises their Grams' cost plus the CG steps the
others still need (`choose`); a class once solved directly stays so until it converges or
its margin rows outgrow MAX_ROWS.
"""

from __future__ import annotations

import torch

from ganlab.experiments.probe.products import linear

PADDED_K = 16  # a CG step's two products cost as for 16 columns (oneDNN; measured for k = 2..10)
MAX_ROWS = 8192  # the most margin rows a class is solved with
STALE = 2  # rebuild a class's Gram once it holds more than this x its current rows
# so a class's Gram holds at most (STALE x MAX_ROWS)^2 floats: 1 GiB in float32


class RowGrams:
    """Per class: the rows of [X, 1] seen in its margin and their Gram matrix, grown as needed."""

    def __init__(self, X: torch.Tensor):
        self.X = X  # (n, F), never copied whole
        self.rows: dict[int, torch.Tensor] = {}  # class -> (s,) row indices
        self.K: dict[int, torch.Tensor] = {}  # class -> (s, s) [X, 1] Gram of those rows

    def _new(self, c: int, idx: torch.Tensor) -> torch.Tensor:
        """The rows of `idx` the Gram lacks; all of `idx` when it is rebuilt from them alone."""
        held = self.rows.get(c)
        if held is None:
            return idx
        new = idx[~torch.isin(idx, held)]
        # rebuilt once the grown Gram would hold over STALE x the rows asked for
        return idx if len(held) + len(new) > STALE * len(idx) else new

    def cost(self, c: int, idx: torch.Tensor) -> float:
        """Flops to solve class c on rows `idx`: its Gram's new part, and the factorisation."""
        new, m = len(self._new(c, idx)), len(idx)
        held = len(self.rows.get(c, ())) if new < m else 0
        return 2.0 * new * (held + new) * self.X.shape[1] + 4 * m**3 / 3  # Cholesky in float64

    def _gram(self, c: int, idx: torch.Tensor) -> torch.Tensor:
        """The Gram of [X, 1] on rows `idx` (m, m), from the cache grown by the rows it lacks."""
        new = self._new(c, idx)
        if len(new) == len(idx):  # nothing held worth keeping
            self.rows[c], self.K[c] = idx, None
        if len(new):
            XN = self.X.index_select(0, new)  # (m_new, F)
            KNN = linear(XN, XN) + 1
            if self.K[c] is None:
                K = KNN
            else:
                KNS = linear(XN, self.X.index_select(0, self.rows[c])) + 1  # (m_new, s)
                K = torch.cat([torch.cat([self.K[c], KNS.T], 1), torch.cat([KNS, KNN], 1)])
                self.rows[c] = torch.cat([self.rows[c], new])
            self.K[c] = K
        where = torch.full((len(self.X),), -1, dtype=torch.long, device=idx.device)
        where[self.rows[c]] = torch.arange(len(self.rows[c]), device=idx.device)
        pos = where[idx]
        return self.K[c][pos][:, pos]

    def direction(self, c: int, idx: torch.Tensor, g: torch.Tensor, C: float) -> torch.Tensor:
        """-H_c^-1 g for H_c = I + 2C A^T A, A = [X, 1] on rows `idx`; g is (F + 1,)."""
        if not len(idx):  # no margin rows: H_c = I
            return -g
        M = self._gram(c, idx).double()  # (m, m)
        M.diagonal().add_(1 / (2 * C))
        A = self.X.index_select(0, idx)  # (m, F)
        Ag = (A @ g[:-1] + g[-1]).double()  # (m,)
        u = torch.cholesky_solve(Ag[:, None], torch.linalg.cholesky(M))[:, 0].to(g.dtype)
        return torch.cat([A.T @ u, u.sum()[None]]) - g


def choose(
    grams: RowGrams, lpp: torch.Tensor, todo: torch.Tensor, last_cg: torch.Tensor
) -> torch.Tensor:
    """Which classes to solve directly this Newton step: (k,) bool.

    Args:
        grams: the fit's RowGrams (what each class's Gram would cost).
        lpp: (n, k) curvature per row and class; a class's margin rows are its nonzero ones.
        todo: (k,) classes not yet converged.
        last_cg: (k,) CG steps each class took in the last Newton step (0: solved directly).
    Returns:
        The classes solved directly in the last step and not converged, and the j slowest of
        the rest for the j with the least cost: their Grams plus, for the others, the CG steps
        of the slowest among them (a CG step: two products over the rows any class curves).
    """
    curved = lpp > 0  # (n, k)
    cg_step = 4.0 * int(curved.any(1).sum()) * grams.X.shape[1] * PADDED_K  # flops
    margin = curved.sum(0)  # (k,) each class's margin rows
    direct = todo & (last_cg == 0) & (margin > 0) & (margin <= MAX_ROWS)
    slow = sorted(
        (c for c in range(lpp.shape[1]) if todo[c] and last_cg[c] > 0),
        key=lambda c: -int(last_cg[c]),
    )
    best, best_j, spent = int(last_cg[slow[0]]) * cg_step if slow else 0.0, 0, 0.0
    for j, c in enumerate(slow, 1):
        rows = curved[:, c].nonzero()[:, 0]
        if len(rows) > MAX_ROWS:
            break
        spent += grams.cost(c, rows)
        total = spent + (int(last_cg[slow[j]]) * cg_step if j < len(slow) else 0.0)
        if total < best:
            best, best_j = total, j
    direct[slow[:best_j]] = True
    return direct
