"""The probe solver's preconditioner: a randomised Nystrom sketch of X^T X, exact on its span.

``svm.fit_torch`` solves each Newton system H_c d = -g_c by preconditioned CG, where
H_c = I + [X, 1]^T D_c [X, 1] and D_c is class c's curvature per example. The sketch
U diag(lam) U^T of [X, 1]^T [X, 1] is built once from two passes over X and shared by every fit
on the same features (every C of a search); the preconditioner uses each class's exact
projected Hessian on span(U) and a scaled identity on the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ganlab.experiments.probe.products import linear, xtz, xv


@dataclass
class NystromPreconditioner:
    """Rank-r approximation U diag(lam) U^T of [X, 1]^T [X, 1] over `rows` examples.

    For class c the Newton system is H_c = I + [X,1]^T D_c [X,1], approximated by
    I + s_c U diag(lam) U^T with s_c the mean of D_c (2C x the active fraction for the squared
    hinge); its inverse on span(U) and a scaled identity on the rest is the preconditioner
    (Frangella, Tropp & Udell 2023, "Randomized Nystrom preconditioning").
    """

    U: torch.Tensor  # (F + 1, r), orthonormal columns
    lam: torch.Tensor  # (r,) eigenvalues, descending
    rows: int  # examples the sketch was computed on

    def basis(self, X: torch.Tensor) -> torch.Tensor:
        """[X, 1] @ U: (n, F) -> (n, r), X in the sketch's basis (one pass over X, r wide).

        Every fit on X needs it; a caller fitting several C values computes it once and
        passes it to each (`fit_torch`'s XU).
        """
        return xv(X, self.U)

    # U^T R and U Y for narrow R and Y go through `products.linear`, as the passes over X do: MKL's
    # sgemm took 65 ms for U @ Y at U 28,673 x 300 and k = 10 (a preconditioner application
    # cost more than a pass over 5,000 rows of X); oneDNN takes 5 ms.
    def project(self, R: torch.Tensor) -> torch.Tensor:
        """U^T R: (F + 1, k) -> (r, k)."""
        return linear(R.T.contiguous(), self.U.T).T

    def lift(self, Y: torch.Tensor) -> torch.Tensor:
        """U Y: (r, k) -> (F + 1, k)."""
        return linear(Y.T.contiguous(), self.U).T

    def apply(self, R: torch.Tensor, s: torch.Tensor, rows: int) -> torch.Tensor:
        """P_c^{-1} r_c for every column c of R (F + 1, k), with per-class scales s (k,)."""
        lam = self.lam * (rows / self.rows)  # X^T X grows with the number of rows
        floor = lam[-1]
        factor = (1 + s * floor) / (1 + lam[:, None] * s[None, :])  # (r, k)
        return R + self.lift(self.project(R) * (factor - 1))


def nystrom_preconditioner(
    X: torch.Tensor, rank: int = 300, seed: int = 0
) -> NystromPreconditioner:
    """Sketch [X, 1]^T [X, 1] with two passes over X (Tropp et al., 2017, stable Nystrom).

    Args:
        X: (n, F) features, any device.
        rank: sketch size r (capped at min(n, F + 1)).
        seed: seeds the Gaussian test matrix.
    Returns:
        A NystromPreconditioner on X's device.
    """
    n, F = X.shape
    r = max(1, min(rank, n, F + 1))
    gen = torch.Generator().manual_seed(seed)
    omega = torch.linalg.qr(torch.randn(F + 1, r, generator=gen, dtype=torch.float64))[0]
    Ys = xtz(X, xv(X, omega.to(X.dtype).to(X.device))).double().cpu()  # (F + 1, r)
    nu = math.sqrt(F + 1) * torch.finfo(X.dtype).eps * torch.linalg.norm(Ys).item()
    Ys += nu * omega
    chol = torch.linalg.cholesky(omega.T @ Ys + 1e-12 * torch.eye(r, dtype=torch.float64))
    B = torch.linalg.solve_triangular(chol, Ys.T, upper=False).T  # Ys chol^{-T}, (F + 1, r)
    U, S, _ = torch.linalg.svd(B, full_matrices=False)
    lam = (S * S - nu).clamp(min=0)
    return NystromPreconditioner(U.to(X.dtype).to(X.device), lam.to(X.dtype).to(X.device), n)


def subspace_apply(precond, XU, lpp, s, n, gram=None):
    """P_c^{-1} with the exact Hessian on span(U): U (I + (XU)^T D_c XU)^{-1} U^T + rest / tau.

    `gram` = (XU)^T XU for the squared hinge (curvature 2C inside the margin, 0 outside): then
    (XU)^T D_c XU = 2C (gram - the outside rows' product), cheaper when those are fewer."""
    r = XU.shape[1]
    eye = torch.eye(r, dtype=XU.dtype, device=XU.device)
    Ms = []
    for c in range(lpp.shape[1]):
        # only rows with curvature count: for the squared hinge, those inside the margin
        # (fewer as C grows; 2x faster at half of them)
        active = lpp[:, c] > 0
        n_active = int(active.sum())
        if gram is not None and 2 * n_active > len(active) and n_active:
            curv = lpp[active, c].max()  # the one curvature value, 2C
            XUo = XU[~active]  # (n - n_active, r): the rows outside the margin
            Ms.append(eye + curv * (gram - XUo.T @ XUo))
            continue
        XUa = XU[active]  # (n_active, r)
        Ms.append(eye + (XUa * lpp[active, c, None]).T @ XUa)
    L = torch.linalg.cholesky(torch.stack(Ms))  # (k, r, r)
    tau = 1 + s * precond.lam[-1] * (n / precond.rows)  # (k,) curvature left off the sketch

    def apply(R):
        # U Y_c + (R - U U^T R) / tau with one product by U: R / tau + U (Y_c - U^T R / tau)
        UtR = precond.project(R)  # (r, k)
        Yc = torch.cholesky_solve(UtR.T[..., None], L)[..., 0].T  # (r, k)
        return R / tau + precond.lift(Yc - UtR / tau)

    return apply
