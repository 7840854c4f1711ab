"""Linear one-vs-rest classifiers on D's features: the paper's L2-SVM and logistic regression.

Both solvers minimise, for each class c separately (one-vs-rest, y_ic = +1 for class c and
-1 otherwise), the primal objective liblinear uses:

    f_c(w, b) = 0.5 * (||w||^2 + b^2) + C * sum_i loss(y_ic * (w . x_i + b))

with loss(m) = max(0, 1 - m)^2 (squared hinge, LinearSVC's default: the paper's L2-SVM) or
log(1 + exp(-m)) (logistic). The intercept is penalised like a weight on a constant feature of
value 1, exactly as liblinear does with ``intercept_scaling=1``, so both solvers solve the same
problem and their objectives can be compared number for number.

- ``solver="sklearn"``: scikit-learn's LinearSVC / liblinear logistic regression, the trusted
  reference. Liblinear works in float64 on its own sparse copy of X, one class at a time, on
  one core: 5-7x the features' float32 size in RAM (measured), ~30 GB at CIFAR-10 scale.
- ``solver="torch"``: written here because nothing installed solves this primal fast on dense
  features with all classes at once (full-batch L-BFGS stalls: the problem is badly
  conditioned). A truncated Newton method: each step solves H d = -g by preconditioned
  conjugate gradients (to a relative residual that tightens as the gradient shrinks, or until
  what they could still gain is negligible next to `tol` or, by the same forcing term, next to
  what the step has gained), where the (generalised) Hessian-vector product V + X^T (D (X V)),
  D = C x the loss's curvature per example (2C on the active rows of the squared hinge), runs
  for all k classes as one (n, F) x (F, k) matmul; when at most 60% of the rows are active for
  some class, CG runs on a copy of those rows alone (the others add nothing to H). The
  preconditioner starts from a randomised rank-300 Nystrom sketch U diag(lam) U^T of X^T X,
  built once from two passes and shared by every fit on the same features; on span(U) it uses
  each class's exact projected Hessian I + (XU)^T D_c (XU) (r x r, cheap since XU is computed
  once per C search), elsewhere a scaled identity (``precond``). For the squared hinge, the
  classes CG was slowest on take their exact step instead, by the Woodbury identity on their
  margin rows, when those are few enough for that to cost less (``woodbury``). A class stops
  when half its squared Newton decrement (about f - f*) is below `tol` x f. Works on any
  torch device, never copies all of X, and needs O(n (k + r) + F (k + r)) memory besides it
  (and the few-row classes' Grams).

Measured (benchmarks/probe_speed.py; docs/performance.md has the tables): on 10,000 x 28,672
real features (Fashion-MNIST through a trained imagenet32 D, C = 1e-3, a 2-core Intel Xeon)
52.4 s against LinearSVC's 961.6 s, objectives equal to 1.7e-6; synthetic features need far
fewer CG steps than real ones as C grows, so time real ones (``probe_speed.py --features``).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from ganlab.experiments.probe import woodbury
from ganlab.experiments.probe.precond import (
    NystromPreconditioner,
    nystrom_preconditioner,
    subspace_apply,
)
from ganlab.experiments.probe.products import CpuThreads, RowCopy, xtz, xv

LOSSES = ("squared_hinge", "logistic")
ETA_MAX = 0.1  # loosest relative CG residual per Newton step
CG_ENOUGH = 0.01  # stop CG once what it can still gain is below this share of tol x f
TRUNCATE = 1.0  # ... or below this x the forcing term x what the step has gained (0: off)
CLASSIFIER_LOSS = {"svm": "squared_hinge", "logreg": "logistic"}


@dataclass
class LinearModel:
    """A fitted one-vs-rest linear classifier: scores = X @ W + b, prediction = argmax."""

    W: torch.Tensor  # (F, k) one weight column per class
    b: torch.Tensor  # (k,) intercepts
    C: float
    loss: str
    info: dict = field(default_factory=dict)  # solver, iterations, fit_s...

    def scores(self, X: torch.Tensor) -> torch.Tensor:
        """(n, F) features -> (n, k) one-vs-rest decision values."""
        W = self.W.to(device=X.device, dtype=X.dtype)
        return torch.addmm(self.b.to(device=X.device, dtype=X.dtype), X, W)

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        return self.scores(X).argmax(1)


# --- objective --------------------------------------------------------------------------------


def _loss_terms(M: torch.Tensor, C: float, loss: str):
    """Per-example loss, first and second derivative in the margin M = y * score, times C."""
    if loss == "squared_hinge":
        r = (1 - M).clamp_(min=0)  # (n, k)
        return C * r * r, -2 * C * r, 2 * C * (r > 0).to(M.dtype)
    s = torch.sigmoid(-M)  # logistic: loss = softplus(-m), loss' = -sigmoid(-m)
    return C * torch.nn.functional.softplus(-M), -C * s, C * s * (1 - s)


def objective(X: torch.Tensor, y: torch.Tensor, model: LinearModel) -> torch.Tensor:
    """Each class's primal objective f_c at `model` (k,), in float64, liblinear's definition.

    Args:
        X: (n, F) training features as the model saw them.
        y: (n,) int64 class indices in [0, k).
        model: a fitted LinearModel.
    Returns:
        (k,) float64 tensor; sum it for the total one-vs-rest objective.
    """
    Y = _signs(y, model.W.shape[1], X.dtype, X.device)
    M = model.scores(X) * Y
    lossv, _, _ = _loss_terms(M.double(), model.C, model.loss)
    reg = 0.5 * (model.W.double().pow(2).sum(0) + model.b.double().pow(2))
    return (reg.to(lossv.device) + lossv.sum(0)).cpu()


def _signs(y: torch.Tensor, k: int, dtype, device) -> torch.Tensor:
    """(n,) labels -> (n, k) one-vs-rest targets in {-1, +1}."""
    Y = torch.full((y.shape[0], k), -1.0, dtype=dtype, device=device)
    Y[torch.arange(y.shape[0], device=device), y.to(device)] = 1.0
    return Y


# --- the torch solver -------------------------------------------------------------------------


def fit_torch(
    X: torch.Tensor,
    y: torch.Tensor,
    C: float,
    *,
    n_classes: int,
    loss: str = "squared_hinge",
    init: LinearModel | None = None,
    precond: NystromPreconditioner | None = None,
    tol: float = 1e-4,
    max_iter: int = 100,
    max_cg: int = 200,
    rank: int = 300,
    subspace: bool = True,
    XU: torch.Tensor | None = None,
    direct: bool = True,
    rows_copy: RowCopy | None = None,
) -> LinearModel:
    """Minimise every class's primal objective by preconditioned truncated Newton.

    Args:
        X: (n, F) float features (float32 on CPU or GPU); never copied.
        y: (n,) int64 class indices in [0, n_classes).
        C: the loss weight (LinearSVC's C).
        n_classes: k, the number of one-vs-rest problems.
        loss: "squared_hinge" (L2-SVM) or "logistic".
        init: warm start (e.g. the solution for a neighbouring C).
        precond: a Nystrom sketch of X (or of a superset of its rows, e.g. the training set
            when X is its first rows); built here if None.
        tol: stop a class when its estimated objective gap (half the squared Newton
            decrement) is below tol x its objective.
        max_iter: Newton steps at most.
        max_cg: conjugate-gradient steps per Newton step at most.
        rank: sketch size when `precond` is None.
        subspace: use each class's exact Hessian on the sketch's span (else one scalar
            curvature per class: cheaper steps, about twice as many).
        XU: ``precond.basis(X)`` when the caller has it (it costs r / k passes over X, so a
            C search computes it once); computed here if None.
        direct: let the squared hinge's classes that CG is slowest on take exact steps on
            their few margin rows when that is cheaper (`woodbury`); False: CG for all.
        rows_copy: the buffer CG's copies of the margin rows go into; one kept across the
            fits of a C search saves a new allocation per Newton step. Made here if None.
    Returns:
        The LinearModel; ``info`` holds newton/cg step counts (and `cg_per_newton`,
        `direct_per_newton`: classes solved directly), passes over X and fit_s.
    """
    t0 = time.perf_counter()
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    n, F = X.shape
    k = n_classes
    dtype, device = X.dtype, X.device
    passes = 0
    if precond is None:
        precond = nystrom_preconditioner(X, rank)
        passes += 2
    Y = _signs(y, k, dtype, device)  # (n, k)
    if subspace and XU is None:
        XU = precond.basis(X)  # (n, r): X in the sketch's basis, for exact projected Hessians
        passes += precond.U.shape[1] / max(k, 1)
    gram = XU.T @ XU if subspace and loss == "squared_hinge" else None  # (r, r): subspace_apply
    theta = torch.zeros(F + 1, k, dtype=dtype, device=device)
    Z = torch.zeros(n, k, dtype=dtype, device=device)  # [X, 1] @ theta, kept up to date
    if init is not None:
        theta[:-1] = init.W.to(device=device, dtype=dtype)
        theta[-1] = init.b.to(device=device, dtype=dtype)
        Z = xv(X, theta)
        passes += 1
    # gradient norm at theta = 0: loss'(0) is the same for every example
    _, lp0, _ = _loss_terms(torch.zeros(1, dtype=dtype, device=device), C, loss)
    g0 = (xtz(X, Y) * lp0).norm(dim=0)  # (k,)
    passes += 1

    newton = cg_total = 0
    cg_per_newton: list[int] = []  # the last one is what the next Newton step may take
    direct_per_newton: list[int] = []
    grams = woodbury.RowGrams(X) if direct and loss == "squared_hinge" else None
    rows_copy = RowCopy() if rows_copy is None else rows_copy
    class_cg = None  # (k,) CG steps each class took in the last Newton step
    # the passes over X on every CPU thread, the small steps between them on one (CpuThreads)
    with CpuThreads(device) as threads:
        todo = torch.ones(k, dtype=torch.bool, device=device)
        for newton in range(1, max_iter + 1):  # noqa: B007 (the count is reported)
            M = Y * Z
            lossv, lp, lpp = _loss_terms(M, C, loss)
            with threads.all():
                G = theta + xtz(X, Y * lp)  # (F + 1, k) gradient
            passes += 1
            gnorm = G.norm(dim=0)
            todo &= gnorm > 1e-6 * g0  # a vanishing gradient is converged whatever the decrement
            if not todo.any():
                newton -= 1
                break
            # --- preconditioned CG on H d = -g, all classes at once --------------------------
            s = lpp.mean(0)  # (k,) mean curvature, scales the sketch per class
            # forcing term (Eisenstat-Walker): solve loosely far from the optimum
            eta = torch.clamp(torch.sqrt(gnorm / g0), max=ETA_MAX)
            R = torch.where(todo, -G, torch.zeros_like(G))
            if subspace:
                with threads.all():
                    apply = subspace_apply(precond, XU, lpp, s, n, gram)
            else:

                def apply(R, s=s):
                    return precond.apply(R, s, n)

            f0 = 0.5 * theta.pow(2).sum(0) + lossv.sum(0)
            D = torch.zeros_like(theta)
            # the classes CG was slowest on take their exact step if their margin rows are few
            solved = torch.zeros(k, dtype=torch.bool, device=device)
            if grams is not None and class_cg is not None:
                with threads.all():
                    solved = woodbury.choose(grams, lpp, todo, class_cg)
                    for c in solved.nonzero()[:, 0].tolist():
                        rows_c = (lpp[:, c] > 0).nonzero()[:, 0]
                        D[:, c] = grams.direction(c, rows_c, G[:, c], C)
                R = torch.where(solved, torch.zeros_like(R), R)
            direct_per_newton.append(int(solved.sum()))
            with threads.all():
                Pz = apply(R)
            P = Pz.clone()
            rz = (R * Pz).sum(0)
            # Only rows with curvature for some class enter H: for the squared hinge, those
            # inside some class's margin, fewer as C grows. When few enough, CG runs on a copy
            # of those rows (one pass to gather, one for [X, 1] @ D after CG) instead of all
            # of X twice per CG step: the same products without the zero rows.
            rows = _curved_rows(lpp[:, ~solved], cg_per_newton[-1] if cg_per_newton else 4)
            if rows is not None:
                with threads.all():
                    XH, lppH = rows_copy.take(X, rows), lpp.index_select(0, rows)
                passes += len(rows) / n
            else:
                XH, lppH = X, lpp
            XD = torch.zeros(len(XH), k, dtype=dtype, device=device)  # [XH, 1] @ D
            cg_before = cg_total
            done = ~todo | solved
            class_cg = torch.zeros(k, dtype=torch.long, device=device)
            for _ in range(max_cg):
                if done.all():  # every class solved directly
                    break
                class_cg += ~done
                with threads.all():
                    XP = xv(XH, P)  # (n_H, k)
                    HP = P + xtz(XH, lppH * XP)
                passes += 2 * len(XH) / n
                cg_total += 1
                pHp = (P * HP).sum(0)
                alpha = torch.where(done | (pHp <= 0), torch.zeros_like(pHp), rz / pHp)
                D += alpha * P
                XD += alpha * XP
                R -= alpha * HP
                done = done | (R.norm(dim=0) <= eta * gnorm)
                if done.all():
                    break
                R = torch.where(done, torch.zeros_like(R), R)
                with threads.all():
                    Pz = apply(R)
                rz_new = (R * Pz).sum(0)
                # The step need be no more exact than the answer. What further CG steps could
                # still gain on the quadratic model is 0.5 r^T H^-1 r for the residual r, about
                # 0.5 r^T P^-1 r = rz / 2; once that is a small share of tol x f the step is as
                # good as exact. Measured on 3,000 x 28,672 real features: 350 -> 173 CG steps
                # at C = 1e-2, 91 -> 64 at 1e-3, every class's objective within 6e-6 of its
                # optimum (with the residual test alone: within 6e-7).
                done = done | (0.5 * rz_new <= CG_ENOUGH * tol * f0)
                # Or once it is a share eta of what the step gained, -g^T d / 2 (a truncation
                # in the energy norm: H's large eigenvalues rule the residual's norm, not f).
                done = done | (rz_new <= TRUNCATE * eta * (G * D).sum(0).abs())
                if done.all():
                    break
                beta = torch.where(rz > 0, rz_new / rz, torch.zeros_like(rz))
                P = Pz + beta * P
                rz = rz_new
            if rows is not None or solved.any():  # the line search needs [X, 1] @ D, all rows
                del XH
                with threads.all():
                    XD = xv(X, D)
                passes += 1
            cg_per_newton.append(cg_total - cg_before)
            # --- backtracking (Armijo) line search per class, no pass over X ------------------
            # (an exact line search, tried, took more Newton steps: full steps suit this problem)
            slope = (G * D).sum(0)  # -(Newton decrement)^2 < 0 for a descent direction
            YXD = Y * XD
            tt = torch.ones(k, dtype=dtype, device=device)
            accepted = ~todo
            for _ in range(30):
                lossv_t = _loss_terms(M + tt * YXD, C, loss)[0]
                ft = 0.5 * (theta + tt * D).pow(2).sum(0) + lossv_t.sum(0)
                accepted = accepted | (ft <= f0 + 1e-4 * tt * slope)
                if accepted.all():
                    break
                tt = torch.where(accepted, tt, tt * 0.5)
            tt = torch.where(todo & accepted, tt, torch.zeros_like(tt))
            theta += tt * D
            Z += tt * XD
            # f - f* is about half the squared Newton decrement: stop a class once that is
            # below tol of its objective (after taking this last step), or when it cannot move
            todo &= (-0.5 * slope > tol * f0) & (tt > 0)
            if not todo.any():
                break
    info = {
        "solver": "torch",
        "newton_steps": newton,
        "cg_steps": cg_total,
        "cg_per_newton": cg_per_newton,
        "direct_per_newton": direct_per_newton,
        "passes": passes,
        "fit_s": time.perf_counter() - t0,
    }
    return LinearModel(theta[:-1].clone(), theta[-1].clone(), C, loss, info)


ROWS_WORTH_COPYING = 0.6  # CG on a copy of the curved rows when they are at most this share


def _curved_rows(lpp: torch.Tensor, expect_cg: int) -> torch.Tensor | None:
    """Indices of the rows with curvature for any class, if copying them pays; else None.

    A copy of share a costs about 1 + a passes over X (the gather, then [X, 1] @ D on every
    row for the line search); it saves 2 (1 - a) passes per CG step. It is made when the share
    is at most ROWS_WORTH_COPYING and the CG steps expected (the last Newton step's) repay it.
    """
    curved = (lpp > 0).any(1)
    a = int(curved.sum()) / lpp.shape[0]
    if a > ROWS_WORTH_COPYING or 1 + a >= 2 * (1 - a) * expect_cg:
        return None
    return curved.nonzero()[:, 0]


# --- the scikit-learn reference ---------------------------------------------------------------


def fit_sklearn(
    X: torch.Tensor,
    y: torch.Tensor,
    C: float,
    *,
    n_classes: int,
    loss: str = "squared_hinge",
    tol: float = 1e-4,
    max_iter: int = 1000,
    **_ignored,
) -> LinearModel:
    """The same objective solved by liblinear (LinearSVC, or logistic regression one-vs-rest).

    LinearSVC runs with its defaults (dual="auto", tol 1e-4); for the logistic loss, liblinear's
    own logistic regression, wrapped one-vs-rest so that it penalises the intercept the same way.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import LinearSVC

    t0 = time.perf_counter()
    Xn = X.detach().cpu().numpy()
    yn = y.cpu().numpy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        if loss == "squared_hinge":
            clf = LinearSVC(C=C, tol=tol, max_iter=max_iter).fit(Xn, yn)
            classes, coef, icpt = clf.classes_, clf.coef_, clf.intercept_
            n_iter = int(np.max(clf.n_iter_))
        else:
            base = LogisticRegression(C=C, solver="liblinear", tol=tol, max_iter=max_iter)
            clf = OneVsRestClassifier(base).fit(Xn, yn)
            classes = clf.classes_
            coef = np.concatenate([e.coef_ for e in clf.estimators_])
            icpt = np.concatenate([e.intercept_ for e in clf.estimators_])
            n_iter = int(max(np.max(e.n_iter_) for e in clf.estimators_))
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    F = Xn.shape[1]
    W = torch.zeros(F, n_classes, dtype=torch.float64)
    b = torch.full((n_classes,), -math.inf, dtype=torch.float64)  # absent classes never win
    if coef.shape[0] == 1:  # binary: one classifier, score > 0 means classes[1]
        W[:, classes[1]], W[:, classes[0]] = torch.from_numpy(coef[0]), -torch.from_numpy(coef[0])
        b[classes[1]], b[classes[0]] = float(icpt[0]), -float(icpt[0])
    else:
        W[:, classes] = torch.from_numpy(coef.T.copy())
        b[classes] = torch.from_numpy(icpt.astype(np.float64))
    info = {
        "solver": "sklearn",
        "converged": converged,
        "iterations": n_iter,  # liblinear's, of the slowest class
        "fit_s": time.perf_counter() - t0,
    }
    return LinearModel(W.to(X.dtype), b.to(X.dtype), C, loss, info)


SOLVERS = {"torch": fit_torch, "sklearn": fit_sklearn}


def fit(
    X: torch.Tensor,
    y: torch.Tensor,
    C: float,
    *,
    n_classes: int,
    solver: str = "torch",
    classifier: str = "svm",
    **kwargs,
) -> LinearModel:
    """Fit the one-vs-rest `classifier` ("svm" or "logreg") with `solver` ("torch"/"sklearn")."""
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
    if classifier not in CLASSIFIER_LOSS:
        raise ValueError(f"classifier must be svm or logreg, got {classifier!r}")
    return SOLVERS[solver](X, y, C, n_classes=n_classes, loss=CLASSIFIER_LOSS[classifier], **kwargs)
