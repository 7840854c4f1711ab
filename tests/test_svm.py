"""The linear classifiers: the torch solver against liblinear on the same objective."""

from __future__ import annotations

import pytest
import torch

from ganlab.core.nets import load_discriminator
from ganlab.experiments.probe import path as probe_path
from ganlab.experiments.probe import products, stats, svm
from ganlab.experiments.probe.path import PathStep, regularisation_path
from ganlab.experiments.probe.precond import nystrom_preconditioner, subspace_apply


@pytest.fixture(scope="module")
def digits_features(tiny_run):
    """Features of the tiny run's 16px D on the digits (384 dims), raw as the probe uses."""
    from ganlab.core.features import extract_features, recompute_bn_stats
    from ganlab.data import load_dataset
    from ganlab.io.checkpoint import load_checkpoint

    D = load_discriminator(load_checkpoint(tiny_run))
    train_set = load_dataset("digits", split="train", image_size=16, channels=1)
    test_set = load_dataset("digits", split="test", image_size=16, channels=1)
    recompute_bn_stats(D, iter(train_set.images.split(128)))
    X = torch.cat(list(extract_features(D, iter(train_set.images.split(256)))))
    Xt = torch.cat(list(extract_features(D, iter(test_set.images.split(256)))))
    return X, train_set.labels, Xt, test_set.labels


def test_objective_is_liblinears():
    X = torch.tensor([[1.0, 2.0], [-1.0, 0.5], [0.0, -2.0]])
    y = torch.tensor([0, 1, 1])
    W = torch.tensor([[0.5, -0.5], [0.25, 0.0]])
    b = torch.tensor([0.1, -0.2])
    model = svm.LinearModel(W, b, C=2.0, loss="squared_hinge")
    f = svm.objective(X, y, model)
    scores = X @ W + b
    Y = torch.tensor([[1.0, -1.0], [-1.0, 1.0], [-1.0, 1.0]])
    hinge = (1 - Y * scores).clamp(min=0)
    expected = 0.5 * (W.pow(2).sum(0) + b.pow(2)) + 2.0 * hinge.pow(2).sum(0)
    assert torch.allclose(f.float(), expected)
    model.loss = "logistic"
    expected = 0.5 * (W.pow(2).sum(0) + b.pow(2)) + 2.0 * torch.log1p(torch.exp(-Y * scores)).sum(0)
    assert torch.allclose(svm.objective(X, y, model).float(), expected)


@pytest.mark.parametrize("classifier, C", [("svm", 1e-3), ("svm", 1e-2), ("logreg", 1e-2)])
def test_torch_solver_agrees_with_liblinear(digits_features, classifier, C):
    X, y, Xt, yt = digits_features
    ours = svm.fit(X, y, C, n_classes=10, solver="torch", classifier=classifier)
    ref = svm.fit(X, y, C, n_classes=10, solver="sklearn", classifier=classifier)
    f_ours = svm.objective(X, y, ours).sum().item()
    f_ref = svm.objective(X, y, ref).sum().item()
    assert f_ours <= 1.01 * f_ref and f_ref <= 1.01 * f_ours
    acc_ours = (ours.predict(Xt) == yt).float().mean().item()
    acc_ref = (ref.predict(Xt) == yt).float().mean().item()
    assert abs(acc_ours - acc_ref) <= 0.005
    assert acc_ours > 0.8  # the features are informative: a broken solver cannot pass this


def test_warm_start_reaches_the_same_optimum_faster(digits_features):
    X, y, _, _ = digits_features
    cold = svm.fit_torch(X, y, 3e-3, n_classes=10)
    near = svm.fit_torch(X, y, 1e-3, n_classes=10)
    warm = svm.fit_torch(X, y, 3e-3, n_classes=10, init=near)
    assert warm.info["newton_steps"] <= cold.info["newton_steps"]
    f_cold, f_warm = svm.objective(X, y, cold).sum(), svm.objective(X, y, warm).sum()
    assert abs(f_cold - f_warm) <= 1e-3 * f_cold


def test_nystrom_sketch_is_exact_for_low_rank_data():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(200, 5, generator=g) @ torch.randn(5, 40, generator=g)  # rank 5 (+ bias)
    P = nystrom_preconditioner(X, rank=10)
    Xa = torch.cat([X, torch.ones(200, 1)], 1).double()
    exact = torch.linalg.eigvalsh(Xa.T @ Xa).flip(0)[:6]
    assert torch.allclose(
        P.U.T.double() @ P.U.double(), torch.eye(10, dtype=torch.float64), atol=1e-4
    )
    assert torch.allclose(P.lam[:6].double(), exact, rtol=1e-3)
    assert P.lam[6:].abs().max() < 1e-3 * exact[0]


def test_binary_problems_map_to_two_columns():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(300, 8, generator=g)
    y = (X[:, 0] + 0.3 * torch.randn(300, generator=g) > 0).long()
    ref = svm.fit(X, y, 0.1, n_classes=2, solver="sklearn")
    ours = svm.fit(X, y, 0.1, n_classes=2, solver="torch")
    assert ref.W.shape == (8, 2)
    assert (ref.predict(X) == ours.predict(X)).float().mean() > 0.98
    assert (ours.predict(X) == y).float().mean() > 0.85  # 0.3 label noise


def test_standardize_in_place():
    X = torch.rand(1000, 7) * torch.arange(1, 8) + 3
    X[:, 2] = 5.0  # a constant feature stays finite (std 1)
    mean, std = stats.tensor_stats(X, per_feature=True, chunk=64)
    out = stats.standardize_(X, mean, std, chunk=100)
    assert out.data_ptr() == X.data_ptr()
    assert torch.allclose(X.mean(0), torch.zeros(7), atol=1e-5)
    assert torch.allclose(X[:, [0, 1, 3]].std(0, unbiased=False), torch.ones(3), atol=1e-4)
    assert torch.equal(X[:, 2], torch.zeros(1000))


def test_public_ops_fallback_fits_the_same_model(digits_features, monkeypatch):
    """The solver's oneDNN products (CPU default) and its public-ops fallback agree."""
    if not products._onednn_linear_works():
        pytest.skip("no working oneDNN linear kernel here: the fallback is the default path")
    X, y, Xt, _ = digits_features
    g = torch.Generator().manual_seed(0)
    V, Z = torch.randn(X.shape[1] + 1, 10, generator=g), torch.randn(X.shape[0], 10, generator=g)
    monkeypatch.setattr(products, "_ONEDNN", True)
    fast = svm.fit_torch(X, y, 1e-2, n_classes=10)
    fast_xv, fast_xtz = products.xv(X, V), products.xtz(X, Z)
    monkeypatch.setattr(products, "_ONEDNN", False)  # torch.nn.functional.linear only
    public = svm.fit_torch(X, y, 1e-2, n_classes=10)
    assert torch.allclose(fast_xv, products.xv(X, V), rtol=1e-5, atol=1e-4)
    assert torch.allclose(fast_xtz, products.xtz(X, Z), rtol=1e-5, atol=1e-3)
    assert torch.allclose(fast.W, public.W, rtol=0, atol=1e-4 * public.W.abs().max().item())
    assert torch.allclose(fast.b, public.b, rtol=0, atol=1e-4 * public.b.abs().max().item())
    f_fast, f_public = svm.objective(X, y, fast).sum(), svm.objective(X, y, public).sum()
    assert abs(f_fast - f_public) <= 1e-6 * f_public
    assert torch.equal(fast.predict(Xt), public.predict(Xt))


def test_xtz_sums_blocks_of_rows_to_the_whole_product(monkeypatch):
    """[X, 1]^T Z over blocks of rows (a last block shorter) equals the product at once."""
    g = torch.Generator().manual_seed(0)
    X, Z = torch.randn(30, 5, generator=g), torch.randn(30, 3, generator=g)
    expected = torch.cat([X, torch.ones(30, 1)], 1).double().T @ Z.double()  # (6, 3)
    monkeypatch.setattr(products, "XTZ_CHUNK", 7)
    assert torch.allclose(products.xtz(X, Z).double(), expected, atol=1e-5)
    assert torch.equal(products.xtz(X[:0], Z[:0]), torch.zeros(6, 3))  # no rows: zeros


def test_row_copy_gathers_into_one_kept_buffer():
    """The margin rows' copy: the right rows, the same memory while it is large enough."""
    X = torch.arange(60.0).reshape(20, 3)
    copy = products.RowCopy()
    a = copy.take(X, torch.tensor([3, 1, 7]))
    assert torch.equal(a, X[[3, 1, 7]])
    ptr = copy.buf.data_ptr()
    b = copy.take(X, torch.tensor([5, 2]))  # fewer rows: the same buffer
    assert torch.equal(b, X[[5, 2]]) and copy.buf.data_ptr() == ptr
    c = copy.take(X, torch.arange(10))  # more rows: a larger one
    assert torch.equal(c, X[:10]) and len(copy.buf) == 10
    d = copy.take(X.double(), torch.tensor([4]))  # another dtype: a new one
    assert d.dtype == torch.float64 and torch.equal(d, X[[4]].double())


def test_the_onednn_check_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(4)
    torch.manual_seed(123)
    products._onednn_linear_works()
    assert torch.equal(torch.rand(4), expected)


def test_path_agrees_with_independent_fits(digits_features):
    """Warm starts change where each fit starts, not what it solves: same C, scores, objective."""
    X, y, Xt, yt = digits_features
    n_fit = 1150  # the rest of the 1437 training rows validate
    Cs = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
    args = (X[:n_fit], y[:n_fit], X[n_fit:], y[n_fit:], Cs)
    path = regularisation_path(*args, n_classes=10)
    alone = regularisation_path(  # every C from scratch to the full tolerance: the reference
        *args, n_classes=10, warm_start=False, patience=None, select_tol=None
    )
    assert [s.warm_start for s in path.steps if not s.skipped][1:] == [True] * 4
    assert not any(s.warm_start for s in alone.steps)
    assert path.best.C == alone.best.C
    for a, b in zip(path.steps, alone.steps, strict=True):
        assert a.skipped or abs(a.val_accuracy - b.val_accuracy) <= 1.5 / (len(y) - n_fit)
    f_path = svm.objective(X[:n_fit], y[:n_fit], path.best).sum()
    f_alone = svm.objective(X[:n_fit], y[:n_fit], alone.best).sum()
    assert abs(f_path - f_alone) <= 1e-3 * f_alone
    acc_path = (path.best.predict(Xt) == yt).float().mean().item()
    acc_alone = (alone.best.predict(Xt) == yt).float().mean().item()
    assert abs(acc_path - acc_alone) <= 0.005 and acc_path > 0.8
    cg = [sum(s.iterations.get("cg_steps", 0) for s in p.steps + p.refined) for p in (path, alone)]
    assert cg[0] < cg[1]  # the point of the path: fewer conjugate-gradient steps in all


def test_path_chooses_c_on_a_looser_sweep_then_refines_to_full_tolerance(digits_features):
    """The sweep to 10 x tol, then the best C and its near rivals on to tol from there."""
    X, y, _, _ = digits_features
    n_fit, tol = 1150, 1e-4
    args = (X[:n_fit], y[:n_fit], X[n_fit:], y[n_fit:], (1e-5, 1e-4, 1e-3, 1e-2, 1e-1))
    f_of = {}  # (C, refined) -> the objective of the model that step fitted

    def record(step, model):
        f_of[step.C, step.refined] = svm.objective(X[:n_fit], y[:n_fit], model).sum().item()

    path = regularisation_path(*args, n_classes=10, tol=tol, on_step=record)
    exact = regularisation_path(*args, n_classes=10, tol=tol, select_tol=None)
    sweep = [s for s in path.steps if not s.skipped]
    assert all(s.tol == probe_path.SELECT_TOL * tol and not s.refined for s in sweep)
    assert all(s.tol == tol and not s.refined for s in exact.steps if not s.skipped)
    assert exact.refined == []
    top = max(s.val_accuracy for s in sweep)
    near = [s.C for s in sweep if s.val_accuracy >= top - probe_path.NEAR]
    assert [s.C for s in path.refined] == near and all(s.tol == tol for s in path.refined)
    assert all(s.refined and s.warm_start for s in path.refined)
    assert path.best.C == exact.best.C
    # the model returned is a full-tolerance solution: the exact path's objective, within tol
    f = svm.objective(X[:n_fit], y[:n_fit], path.best)
    f_exact = svm.objective(X[:n_fit], y[:n_fit], exact.best)
    assert ((f - f_exact).abs() <= 2 * tol * f_exact).all()
    # and the sweep's loose solution was further from it (the refinement did something)
    loose = next(s for s in sweep if s.C == path.best.C)
    assert loose.iterations["newton_steps"] >= 1 and path.refined[0].iterations["newton_steps"] >= 1
    C = path.best.C
    assert f_of[C, False] > f_of[C, True]  # the refinement lowered the objective
    assert f_of[C, False] - f_of[C, True] <= 2 * probe_path.SELECT_TOL * tol * f_of[C, True]


def test_path_stops_once_validation_accuracy_fell_twice(monkeypatch):
    """Noisy labels and many useless features: larger C fits the noise and validation falls."""
    g = torch.Generator().manual_seed(0)

    def data(n, flip, shift):
        X = torch.randn(n, 400, generator=g)
        X[:, 0] = 3 * X[:, 0] + shift  # the one informative feature
        y = (X[:, 0] > 0).long()
        return X, torch.where(torch.rand(n, generator=g) < flip, 1 - y, y)

    X, y = data(200, 0.25, -3.0)  # a quarter of the training labels flipped
    Xv, yv = data(2000, 0.0, 0.0)
    fitted = []

    def counting_fit(X, y, C, **kw):
        fitted.append(C)
        return svm.fit(X, y, C, **kw)

    monkeypatch.setattr(probe_path, "fit", counting_fit)
    Cs = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)  # any order: fitted from the smallest
    path = regularisation_path(X, y, Xv, yv, Cs, n_classes=2)
    acc = [s.val_accuracy for s in path.steps]
    assert acc[0] > acc[1] > acc[2]  # 1e-6, 1e-5, 1e-4: fell twice in a row
    assert fitted[:3] == [1e-6, 1e-5, 1e-4]  # the three largest C never fitted
    assert fitted[3:] == [s.C for s in path.refined] == [1e-6]  # the best refined to tol
    assert [s.C for s in path.steps if s.skipped] == [1e-3, 1e-2, 1e-1]
    assert all(s.val_accuracy is None and s.fit_s is None for s in path.steps[3:])
    assert path.best.C == 1e-6 and "fell for 2 C values in a row" in path.stopped
    assert [d["skipped"] for d in map(PathStep.to_dict, path.steps)] == [False] * 3 + [True] * 3
    everything = regularisation_path(X, y, Xv, yv, Cs, n_classes=2, patience=None)
    assert not any(s.skipped for s in everything.steps) and everything.stopped is None
    assert max(s.val_accuracy for s in everything.steps) == acc[0]  # nothing better was skipped


def test_subspace_preconditioner_is_its_formula():
    """P_c^{-1} = U (I + (XU)^T D_c XU)^{-1} U^T + (I - U U^T) / tau_c, for every class c."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(60, 12, generator=g).double()
    precond = nystrom_preconditioner(X, rank=4)
    U, XU = precond.U, precond.basis(X)
    lpp = 0.3 * (torch.rand(60, 3, generator=g) > 0.4).double()  # squared hinge: 0 or 2C
    s = lpp.mean(0)
    R = torch.randn(13, 3, generator=g).double()
    got = subspace_apply(precond, XU, lpp, s, 60)(R)
    for c in range(3):
        M = torch.eye(4, dtype=torch.float64) + XU.T @ (lpp[:, c, None] * XU)
        tau = 1 + s[c] * precond.lam[-1]
        rest = R[:, c] - U @ (U.T @ R[:, c])
        assert torch.allclose(got[:, c], U @ torch.linalg.solve(M, U.T @ R[:, c]) + rest / tau)


def test_a_fit_passes_over_x_on_every_thread_and_restores_the_count(monkeypatch):
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(200, 30, generator=g), torch.randint(0, 3, (200,), generator=g)
    seen, real_xv = [], svm.xv

    def xv(X, V):
        seen.append(torch.get_num_threads())
        return real_xv(X, V)

    monkeypatch.setattr(svm, "xv", xv)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        svm.fit_torch(X, y, 0.1, n_classes=3)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen and set(seen) == {2}


def test_cg_on_the_curved_rows_alone_reaches_the_same_optimum(digits_features, monkeypatch):
    """At a large C most rows leave every class's margin; CG can run on a copy of the rest.
    The fit is the same as with every row in every product."""
    X, y, Xt, _ = digits_features
    C = 1e-1
    copies = []
    curved_rows = svm._curved_rows

    def spy(lpp, expect_cg):
        # as if CG took many steps (here it takes one or two): copy whenever few rows curve
        rows = curved_rows(lpp, 100)
        copies.append(rows is not None and len(rows) < len(X))
        return rows

    monkeypatch.setattr(svm, "_curved_rows", spy)
    model = svm.fit_torch(X, y, C, n_classes=10)
    assert any(copies)  # the subset path ran
    monkeypatch.setattr(svm, "ROWS_WORTH_COPYING", 0.0)  # never copy: all rows every time
    copies.clear()
    full = svm.fit_torch(X, y, C, n_classes=10)
    assert not any(copies)
    f, f_full = svm.objective(X, y, model).sum(), svm.objective(X, y, full).sum()
    assert abs(f - f_full) <= 1e-4 * f_full
    assert (model.predict(Xt) == full.predict(Xt)).float().mean() > 0.99
    lpp = svm._loss_terms(
        svm._signs(y, 10, X.dtype, X.device) * model.scores(X), C, "squared_hinge"
    )[2]
    monkeypatch.setattr(svm, "ROWS_WORTH_COPYING", 0.6)
    assert curved_rows(lpp, expect_cg=1) is None  # one CG step does not repay a copy


def test_ztx_kernel_is_timed_once_per_width_and_both_kernels_agree(monkeypatch):
    """Z^T X runs through whichever kernel was faster on this CPU; both give the same product."""
    if not products._onednn_linear_works():
        pytest.skip("no working oneDNN linear kernel here: Z^T X has one kernel")
    g = torch.Generator().manual_seed(0)
    X = torch.randn(300, 70, generator=g)
    narrow, wide = torch.randn(300, 10, generator=g), torch.randn(300, 40, generator=g)
    monkeypatch.setattr(products, "_ZTX", {})
    monkeypatch.setattr(products, "ZTX_TIMED_ABOVE", 0)  # time even this small X
    for Z in (narrow, wide):
        ref = torch.cat([X.T.double() @ Z.double(), Z.double().sum(0, keepdim=True)])
        assert torch.allclose(products.xtz(X, Z).double(), ref, atol=1e-3)
    assert set(products._ZTX) == {False, True}  # one choice for narrow Z, one for wide
    assert set(products._ZTX.values()) <= {"linear", "mm"}
    for kernel in ("linear", "mm"):  # whichever wins, the product is the same
        monkeypatch.setattr(products, "_ZTX", {False: kernel, True: kernel})
        ref = torch.cat([X.T.double() @ narrow.double(), narrow.double().sum(0, keepdim=True)])
        assert torch.allclose(products.xtz(X, narrow).double(), ref, atol=1e-3)


def test_subspace_hessian_from_the_gram_matches_the_direct_sum():
    """For the squared hinge, I + 2C (gram - outside rows) is the projected Hessian itself."""
    g = torch.Generator().manual_seed(0)
    n, F, r, k = 200, 30, 8, 3
    X = torch.randn(n, F, generator=g, dtype=torch.float64)
    precond = nystrom_preconditioner(X, rank=r)
    XU = precond.basis(X)
    active = torch.rand(n, k, generator=g, dtype=torch.float64) < torch.tensor([0.9, 0.6, 0.2])
    lpp = 2 * 1e-2 * active.to(torch.float64)  # 2C inside the margin, 0 outside
    s = lpp.mean(0)
    R = torch.randn(F + 1, k, generator=g, dtype=torch.float64)
    direct = subspace_apply(precond, XU, lpp, s, n)(R)
    via_gram = subspace_apply(precond, XU, lpp, s, n, XU.T @ XU)(R)
    assert torch.allclose(via_gram, direct, rtol=1e-10, atol=1e-12)
    # and it is P^-1 with the exact projected Hessian: on span(U), (I + U^T H U) maps back to R
    U = precond.U
    Xb = torch.cat([X, torch.ones(n, 1, dtype=torch.float64)], 1)
    for c in range(k):
        H = torch.eye(F + 1, dtype=torch.float64) + (Xb * lpp[:, c, None]).T @ Xb
        UtR = U.T @ R[:, c]
        Y = U.T @ direct[:, c]  # the subspace part of P_c^-1 r
        assert torch.allclose((U.T @ H @ U) @ Y, UtR, atol=1e-8)


@pytest.mark.parametrize("C", [1e-2, 1e-1])
def test_cg_truncated_in_the_energy_norm_reaches_the_same_optimum(digits_features, monkeypatch, C):
    """CG stops once what it could still gain is a small share of what its step gained: fewer
    CG steps, the same optimum (the Newton stopping rule is unchanged)."""
    X, y, _, _ = digits_features
    precond = nystrom_preconditioner(X, rank=20)  # a small sketch leaves CG work to do
    truncated = svm.fit_torch(X, y, C, n_classes=10, precond=precond)
    monkeypatch.setattr(svm, "TRUNCATE", 0.0)  # the residual tests alone
    full = svm.fit_torch(X, y, C, n_classes=10, precond=precond)
    assert truncated.info["cg_steps"] < full.info["cg_steps"]
    f, f_full = svm.objective(X, y, truncated).sum(), svm.objective(X, y, full).sum()
    assert abs(f - f_full) <= 1e-4 * f_full


@pytest.mark.parametrize("C", [1e-1, 1.0])
def test_exact_steps_for_the_slow_classes_reach_the_same_optimum(digits_features, C):
    """Classes that CG is slowest on may take exact Woodbury steps on their few margin rows
    (`woodbury`): the fit takes them, and reaches the optimum CG alone reaches."""
    X, y, Xt, _ = digits_features
    precond = nystrom_preconditioner(X, rank=20)
    mixed = svm.fit_torch(X, y, C, n_classes=10, precond=precond)
    cg_only = svm.fit_torch(X, y, C, n_classes=10, precond=precond, direct=False)
    assert sum(mixed.info["direct_per_newton"]) > 0
    assert sum(cg_only.info["direct_per_newton"]) == 0
    assert len(mixed.info["direct_per_newton"]) == len(mixed.info["cg_per_newton"])
    f, f_cg = svm.objective(X, y, mixed).sum(), svm.objective(X, y, cg_only).sum()
    assert abs(f - f_cg) <= 1e-4 * f_cg
    assert (mixed.predict(Xt) == cg_only.predict(Xt)).float().mean() > 0.99


def test_cost_text_counts_the_exact_steps():
    step = {"fit_s": 12.34, "newton_steps": 7, "cg_steps": 399, "warm_start": True}
    assert probe_path.cost_text(step) == "12.3 s, 7 Newton / 399 CG, warm"
    step["direct_per_newton"] = [0, 0, 5, 5, 3, 0, 0]
    assert probe_path.cost_text(step) == "12.3 s, 7 Newton / 399 CG + 13 exact, warm"
