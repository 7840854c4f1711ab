"""The C search as a regularisation path: C values fitted in increasing order, each from the last.

LIBLINEAR's parameter search (Chu, Chiang, Yuan & Lin 2015, "Warm start for parameter selection
of linear classifiers") fits the C values from small to large, each starting from the solution
for the C before it: neighbouring solutions lie close together, small C is the cheap end (a
well-conditioned problem), and so the costly large-C fits start near their optimum instead of at
zero. The solver and its stopping rule are unchanged, so every step solves the same problem as an
independent fit, to the same tolerance.

Validation accuracy rises with C, then falls as the classifier starts to fit noise. The sweep
stops once it has fallen for `patience` C values in a row (each lower than the one before); the
larger C values it then never fits, the slowest ones, are reported as skipped. Every step records
its fit time and the solver's iterations, so a slow C shows in the result.

Choosing C needs each C's validation accuracy, not its solution to the last digit. So the torch
solver's sweep fits every C to a looser tolerance (`SELECT_TOL` x `tol`: objective within 0.1%
of its optimum instead of 0.01%), then refines the chosen C, and any other C whose validation
accuracy came within `NEAR` of it, to `tol` from where the sweep left it, and chooses again among
those. The model returned is always a full-tolerance solution. Measured on 54,000 x 28,672 real
features (docs/performance.md): each C's validation accuracy within two images of 6,000 of the
full-tolerance fit's, the same C, the fits 1.06-1.10x faster in all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from ganlab.experiments.probe.precond import NystromPreconditioner, nystrom_preconditioner
from ganlab.experiments.probe.products import RowCopy
from ganlab.experiments.probe.svm import LinearModel, fit

PATIENCE = 2  # stop after validation accuracy fell for this many C values in a row
SELECT_TOL = 10.0  # the torch solver's sweep fits each C to this x tol, then refines the best
NEAR = 0.001  # ... and every C whose validation accuracy is within this of the best's
# solver iterations a step reports (the torch solver: Newton and CG steps, and per Newton step
# the CG steps and the classes solved directly)
COUNTERS = ("newton_steps", "cg_steps", "cg_per_newton", "direct_per_newton", "iterations")


@dataclass
class PathStep:
    """One C of the search: its validation score and what the fit cost (or that it was skipped)."""

    C: float
    val_accuracy: float | None = None  # None: skipped
    fit_s: float | None = None
    warm_start: bool = False  # started from the previous C's solution
    iterations: dict = field(default_factory=dict)  # newton_steps and cg_steps, or iterations
    skipped: bool = False
    tol: float | None = None  # the solver's tolerance for this fit (None: its default)
    refined: bool = False  # a C of the sweep fitted on to the full tolerance from its solution

    def to_dict(self) -> dict:
        out = {
            "C": self.C,
            "val_accuracy": None if self.val_accuracy is None else round(self.val_accuracy, 5),
            "fit_s": None if self.fit_s is None else round(self.fit_s, 3),
            "warm_start": self.warm_start,
            "skipped": self.skipped,
            "tol": self.tol,
            "refined": self.refined,
        }
        return out | self.iterations


def cost_text(step: dict) -> str:
    """A step's (`PathStep.to_dict`) cost for people: "12.3 s, 4 Newton / 19 CG, warm".

    Classes' Newton steps solved directly (`woodbury`), if any, follow the CG steps:
    "7 Newton / 399 CG + 13 exact".
    """
    if step.get("skipped"):
        return "skipped"
    parts = [f"{step['fit_s']:.1f} s" + (" refining" if step.get("refined") else "")]
    if "newton_steps" in step:
        exact = sum(step.get("direct_per_newton", ()))  # classes' steps solved directly
        more = f" + {exact} exact" if exact else ""
        parts.append(f"{step['newton_steps']} Newton / {step['cg_steps']} CG{more}")
    elif "iterations" in step:
        parts.append(f"{step['iterations']} iterations")
    return ", ".join(parts + (["warm"] if step.get("warm_start") else []))


@dataclass
class PathResult:
    """Every C's step, in increasing C, and the model with the best validation accuracy."""

    steps: list[PathStep]
    best: LinearModel  # the first (smallest) C with the highest validation accuracy
    stopped: str | None = None  # why the sweep ended before the largest C, else None
    refined: list[PathStep] = field(default_factory=list)  # the Cs fitted on to full tol

    @property
    def fit_s(self) -> float:
        return sum(s.fit_s or 0.0 for s in self.steps + self.refined)


def fit_step(
    X: torch.Tensor, y: torch.Tensor, C: float, init: LinearModel | None = None, **kw
) -> tuple[LinearModel, PathStep]:
    """One timed fit (`svm.fit` with `kw`), from `init` when given; its step has no score yet."""
    t0 = time.perf_counter()
    model = fit(X, y, C, **kw, **({} if init is None else {"init": init}))
    fit_s = time.perf_counter() - t0
    counts = {k: model.info[k] for k in COUNTERS if k in model.info}
    return model, PathStep(C, None, fit_s, init is not None, counts)


def regularisation_path(
    X: torch.Tensor,
    y: torch.Tensor,
    Xv: torch.Tensor,
    yv: torch.Tensor,
    Cs: Sequence[float],
    *,
    n_classes: int,
    solver: str = "torch",
    classifier: str = "svm",
    warm_start: bool = True,
    patience: int | None = PATIENCE,
    tol: float = 1e-4,
    select_tol: float | None = SELECT_TOL,
    precond: NystromPreconditioner | None = None,
    XU: torch.Tensor | None = None,
    on_step: Callable[[PathStep, LinearModel], None] | None = None,
) -> PathResult:
    """Fit `Cs` in increasing order on (X, y), score each on (Xv, yv), stop once accuracy falls.

    Args:
        X: (n, F) training features; y: (n,) int64 labels.
        Xv: (m, F) validation features; yv: (m,) labels.
        Cs: the C values (any order; fitted smallest first).
        n_classes: k, the number of one-vs-rest problems.
        solver: "torch" or "sklearn" (liblinear cannot start from a given solution, so its
            steps are independent fits).
        classifier: "svm" or "logreg".
        warm_start: start each torch fit from the previous C's solution; False gives the
            independent fits the path must agree with.
        patience: stop after validation accuracy fell for this many C values in a row; None
            fits every C.
        tol: the solver's tolerance for the model returned.
        select_tol: the torch solver fits the sweep to this x tol, then refines the best C
            and those within `NEAR` of it to tol; None or <= 1: every C to tol.
        precond: the torch solver's Nystrom sketch of X (or of rows that include X's); built
            here from X if None.
        XU: X @ precond.U, shared by every fit; computed here if None.
        on_step: called with each fitted step and its model as soon as it is scored
            (progress output, or a benchmark's objective); refinements too.
    Returns:
        The PathResult: one step per C (skipped ones included), the refinements and the best
        model (fitted to `tol`).
    """
    kw: dict = {"n_classes": n_classes, "solver": solver, "classifier": classifier}
    if solver == "torch":
        if precond is None:
            precond = nystrom_preconditioner(X)
        kw |= {"precond": precond, "XU": precond.basis(X) if XU is None else XU}
        kw["rows_copy"] = RowCopy()  # one buffer for every fit's copies of the margin rows
    loose = solver == "torch" and select_tol is not None and select_tol > 1
    sweep_tol = tol * select_tol if loose else tol
    yv = yv.to(Xv.device)

    def scored(C: float, init: LinearModel | None, fit_tol: float) -> tuple[LinearModel, PathStep]:
        model, step = fit_step(X, y, C, init, tol=fit_tol, **kw)
        step.tol = fit_tol
        step.val_accuracy = (model.predict(Xv) == yv).float().mean().item()
        return model, step

    order = sorted(Cs)
    steps: list[PathStep] = []
    fitted: dict[float, tuple[LinearModel, float]] = {}  # C -> (model, validation accuracy)
    prev, prev_acc, falls, stopped = None, None, 0, None
    for C in order:
        if patience is not None and falls >= patience:
            best_C = _best(fitted)
            stopped = (
                f"validation accuracy fell for {falls} C values in a row; the best is C={best_C:g}"
            )
            steps.append(PathStep(C, skipped=True))
            continue
        warm = warm_start and solver == "torch" and prev is not None
        model, step = scored(C, prev if warm else None, sweep_tol)
        steps.append(step)
        if on_step is not None:
            on_step(step, model)
        acc = step.val_accuracy
        falls = falls + 1 if prev_acc is not None and acc < prev_acc else 0
        fitted[C] = (model, acc)
        prev, prev_acc = model, acc
    refined: list[PathStep] = []
    if loose:  # the choice among full-tolerance fits of the best C and its near rivals
        top = max(acc for _, acc in fitted.values())
        for C in [C for C, (_, acc) in fitted.items() if acc >= top - NEAR]:
            model, step = scored(C, fitted[C][0], tol)
            step.refined = True
            refined.append(step)
            if on_step is not None:
                on_step(step, model)
            fitted[C] = (model, step.val_accuracy)
        fitted = {C: fitted[C] for C in (s.C for s in refined)}
    return PathResult(steps, fitted[_best(fitted)][0], stopped, refined)


def _best(fitted: dict[float, tuple[LinearModel, float]]) -> float:
    """The smallest C with the highest validation accuracy."""
    return min(fitted, key=lambda C: (-fitted[C][1], C))
