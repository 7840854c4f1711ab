"""How fast the probe's linear SVM fits: ``--solver torch`` against scikit-learn's LinearSVC.

On real features (``--features FILE.h5``, a file ``ganlab probe --features`` wrote): the
probe's C search as the cifar10 protocol runs it (the same validation split and scaling), the
whole sweep of C values (the probe's default grid unless ``--Cs``) up to four ways, each in its
own process so that its peak RSS is its own: ``path`` (the probe's: each C warm-started from the
last, stopped once validation accuracy fell twice in a row, fitted to 10 x tol, then the chosen
C refined to tol), ``path-full`` (the same with every C fitted to tol), ``independent`` (every C
fitted from scratch to tol by the same solver: the reference) and ``sklearn`` (LinearSVC for
every C). Per C: validation accuracy, fit time, iterations and objective; per method: the
load (statistics and scaling included), the chosen C, the test accuracy of its model, the
sweep's time, their total and the peak RSS. The file is read block by block into one float32
copy of the rows the search uses (never float64: liblinear alone makes its own copies).

Synthetic, class-structured features shaped like D's (non-negative, strongly correlated through
a low-rank factor, classes differing in their means), divided by their global RMS as the probe
does by default (``--standardize``: per-feature mean and std), then one fit per solver at the
same C. Each fit runs in its own process so its peak RSS is its own. (At CIFAR-10 scale they
predicted real times badly: real features need far more CG steps as C grows.)

    .venv/bin/python benchmarks/probe_speed.py --features cifar.h5   # the C search on real ones
    .venv/bin/python benchmarks/probe_speed.py --features cifar.h5 --train-rows 10000
    .venv/bin/python benchmarks/probe_speed.py                       # the two paper-like shapes
    .venv/bin/python benchmarks/probe_speed.py --shapes 2000x1792     # a quick look
    .venv/bin/python benchmarks/probe_speed.py --calibrate            # validation accuracy by C
    .venv/bin/python benchmarks/probe_speed.py --solvers torch,torch-public  # oneDNN or not
    .venv/bin/python benchmarks/probe_speed.py --cifar-scale          # 50k x 28672 probe, RAM

``--cifar-scale`` writes a synthetic CIFAR-10-sized features file (50,000 train + 10,000 test
rows of 28,672 float16 features, ~3.4 GB, in --workdir) and runs ``ganlab probe --features``
on it: the peak RSS shows that the full Table 1 protocol fits in bounded memory.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from ganlab.experiments.probe.config import DEFAULT_CS

N_TEST = 2000
K = 10
DEFAULT_C = {(10_000, 28_672): 1e-3, (50_000, 7_168): 1e-5}  # what validation picks (--calibrate)
METHODS = ("path", "independent", "sklearn")  # --features: how the C search is run (default)
MORE_METHODS = ("path-full",)  # on request


def make_features(
    n: int, F: int, seed: int = 0, n_train: int | None = None, rank: int = 64, chunk: int = 1000
):
    """(X (n, F) float32 >= 0, y (n,) int64): relu(class mean + low-rank factor + noise).

    Class means shrink with F and with the training-set size `n_train` so that a linear SVM
    scores roughly 80-90% at every benchmark shape (not a trivially separable task).
    """
    g = torch.Generator().manual_seed(1000 + F)  # the same feature geometry for train and test
    A = torch.randn(rank, F, generator=g) * (1.5 / rank**0.5)
    scale = 7.0 / F**0.5 * (10_000 / (n_train or n)) ** 0.4
    mu = torch.randn(K, F, generator=g) * scale
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, K, (n,), generator=gen)
    X = torch.empty(n, F)
    for i in range(0, n, chunk):
        j = min(n, i + chunk)
        z = torch.randn(j - i, rank, generator=gen)
        X[i:j] = torch.relu(mu[y[i:j]] + z @ A + torch.randn(j - i, F, generator=gen))
    return X, y


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _prepare(X: torch.Tensor, Xt: torch.Tensor, standardize: bool) -> None:
    """As the probe does: per-feature mean/std, or (default) one global scale, the RMS."""
    from ganlab.experiments.probe import stats

    mean, std = stats.tensor_stats(X, standardize)
    stats.standardize_(X, mean, std)
    stats.standardize_(Xt, mean, std)


def run_one(args) -> None:
    """Child process: generate, (standardise,) fit once, print one JSON line."""
    from ganlab.experiments.probe import products, svm

    solver = args.one
    if solver == "torch-public":  # the torch solver's fallback: public torch ops, no oneDNN
        solver, products._ONEDNN = "torch", False
    n, F = args.one_shape
    X, y = make_features(n, F, seed=1)
    Xt, yt = make_features(N_TEST, F, seed=2, n_train=n)
    _prepare(X, Xt, args.standardize)
    t0 = time.perf_counter()
    model = svm.fit(X, y, args.C, n_classes=K, solver=solver)
    fit_s = time.perf_counter() - t0
    out = {
        "solver": args.one,
        "n": n,
        "F": F,
        "C": args.C,
        "fit_s": round(fit_s, 2),
        "test_accuracy": round((model.predict(Xt) == yt).float().mean().item(), 4),
        "objective": svm.objective(X, y, model).sum().item(),
        "peak_rss_gb": round(peak_rss_gb(), 2),
        "data_gb": round(X.numel() * 4 / 2**30, 2),
        "info": model.info,
    }
    print(json.dumps(out))


def calibrate(shape, Cs, standardize: bool) -> None:
    """Validation accuracy of the torch solver over a C grid (what the probe would choose)."""
    from ganlab.experiments.probe import svm

    n, F = shape
    X, y = make_features(n, F, seed=1)
    Xv, yv = make_features(N_TEST, F, seed=3, n_train=n)
    _prepare(X, Xv, standardize)
    prev = None
    for C in Cs:
        m = svm.fit_torch(X, y, C, n_classes=K, init=prev)
        prev = m
        acc = (m.predict(Xv) == yv).float().mean().item()
        print(f"{n}x{F} C={C:g}: validation accuracy {acc:.4f}, {m.info}", flush=True)


def search_one(args) -> None:
    """Child process: the C search on stored features one way (`args.one_features`), as JSON.

    The rows, split and scaling are the probe's (its cifar10 protocol): validation is a
    stratified 10% of the training rows, the features are divided by their RMS.
    """

    from ganlab.experiments.probe.config import ProbeConfig
    from ganlab.experiments.probe.path import regularisation_path
    from ganlab.experiments.probe.precond import nystrom_preconditioner
    from ganlab.experiments.probe.protocols import (
        load_pool,
        make_splits,
        score_test,
        stratified_holdout,
    )
    from ganlab.experiments.probe.svm import objective
    from ganlab.io.featstore import FeatureFile
    from ganlab.progress import Reporter

    method = args.one_features
    with FeatureFile(args.features) as ff:
        cfg = ProbeConfig(features=str(args.features), seed=args.seed)
        t0 = time.perf_counter()  # load_s counts the feature statistics and the scaling too
        # the probe takes the statistics from the rows it loads (one read); a subset of the
        # training rows is scaled with the statistics of all of them, as the probe would
        subset = bool(args.train_rows)
        s = make_splits(ff, cfg, "cifar10", Reporter(quiet=True), stats=subset)
        if subset and args.train_rows < len(s.rest):  # a stratified subset
            keep, _ = stratified_holdout(s.labels[s.rest], args.train_rows, [args.seed, 5])
            s = dataclasses.replace(s, rest=s.rest[keep])
        X, y, s = load_pool(s, torch.device("cpu"), cfg.standardize)  # (n_fit + n_val, F)
        load_s = time.perf_counter() - t0
        n = len(s.rest)
        print(f"{method}: {n} + {len(s.val)} rows loaded in {load_s:.0f} s", file=sys.stderr)
        objectives = {}

        def record(step, model) -> None:
            objectives[step.C, step.refined] = objective(X[:n], y[:n], model).sum().item()
            print(
                f"{method} C={step.C:g}: {step.val_accuracy:.4f} in {step.fit_s:.1f}s",
                file=sys.stderr,
            )

        t0 = time.perf_counter()
        kw = {"n_classes": s.n_classes, "on_step": record}
        if method == "sklearn":
            kw |= {"solver": "sklearn", "patience": None}
        else:  # the sketch and X @ U, shared by every C (as in the probe)
            kw["precond"] = nystrom_preconditioner(X[:n], seed=args.seed)
            kw["XU"] = kw["precond"].basis(X[:n])
            if method == "independent":
                kw |= {"warm_start": False, "patience": None, "select_tol": None}
            if method == "path-full":
                kw["select_tol"] = None
        sketch_s = time.perf_counter() - t0
        path = regularisation_path(X[:n], y[:n], X[n:], y[n:], args.Cs, **kw)
        correct, n_test = score_test(s, [path.best], torch.device("cpu"))  # block by block
        F = ff.feature_dim
    steps = [
        st.to_dict() | {"objective": objectives.get((st.C, st.refined))}
        for st in path.steps + path.refined
    ]
    out = {
        "method": method,
        "n_fit": n,
        "n_val": len(s.val),
        "F": F,
        "steps": steps,
        "stopped": path.stopped,
        "C": path.best.C,
        "test_accuracy": correct[0] / n_test,
        "load_s": round(load_s, 2),
        "sketch_s": round(sketch_s, 2),  # torch: the Nystrom sketch and X @ U
        "sweep_s": round(sketch_s + path.fit_s, 2),
        "peak_rss_gb": round(peak_rss_gb(), 2),
    }
    print(json.dumps(out))


def search(args) -> None:
    """The C search on stored features by every method, each in its own process; the tables."""
    methods = args.methods.split(",")
    unknown = set(methods) - set(METHODS + MORE_METHODS)
    if unknown:
        known = ", ".join(METHODS + MORE_METHODS)
        raise SystemExit(f"unknown method {unknown.pop()!r}; choose from {known}")
    rows = []
    for method in methods:
        cmd = [sys.executable, __file__, "--features", str(args.features), "--one-features", method]
        cmd += ["--Cs", ",".join(map(str, args.Cs)), "--seed", str(args.seed)]
        cmd += ["--train-rows", str(args.train_rows)] if args.train_rows else []
        t0 = time.perf_counter()
        try:  # the child's progress (one line per C) goes straight to stderr
            out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            rows.append(
                {"method": method, "failed": f"timed out after {time.perf_counter() - t0:.0f} s"}
            )
            continue
        if out.returncode != 0:  # e.g. LinearSVC killed for memory: report it, go on
            rows.append({"method": method, "failed": f"exit status {out.returncode}"})
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    done = [r for r in rows if "steps" in r]
    if done:
        r = done[0]
        print(
            f"{args.features}: {r['n_fit']} training rows, {r['n_val']} validation, {r['F']} "
            f"features; torch {torch.__version__}, {torch.get_num_threads()} threads, "
            f"{os.cpu_count()} CPUs"
        )
    print("| method | C | validation accuracy | fit s | iterations | objective |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in done:
        for st in r["steps"]:
            if st["skipped"]:
                print(f"| {r['method']} | {st['C']:g} | skipped | - | - | - |")
                continue
            its = (
                f"{st['newton_steps']} Newton / {st['cg_steps']} CG "
                f"({', '.join(map(str, st.get('cg_per_newton', [])))})"
                + (f" + {n} exact" if (n := sum(st.get("direct_per_newton", ()))) else "")
                if "newton_steps" in st
                else f"{st.get('iterations', '-')} liblinear"
            )
            name = r["method"] + (" (refined)" if st.get("refined") else "")
            print(
                f"| {name} | {st['C']:g} | {st['val_accuracy']:.4f} | {st['fit_s']:.1f} | "
                f"{its} | {st['objective']:.7g} |"
            )
    print()
    # load + scale: reading the rows and their statistics, and scaling them (the probe's)
    print(
        "| method | load + scale s | sweep s | of it sketch s | total s | chosen C "
        "| test accuracy | peak RSS GiB |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        if "failed" in r:
            print(f"| {r['method']} | {r['failed']} | - | - | - | - | - | - |")
            continue
        print(
            f"| {r['method']} | {r['load_s']} | {r['sweep_s']} | {r['sketch_s']} | "
            f"{r['load_s'] + r['sweep_s']:.2f} | {r['C']:g} | {r['test_accuracy']:.4f} | "
            f"{r['peak_rss_gb']} |"
        )


def spawn(args, solver: str, shape, C: float) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--one",
        solver,
        "--one-shape",
        f"{shape[0]}x{shape[1]}",
        "--C",
        str(C),
    ] + (["--standardize"] if args.standardize else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def cifar_scale(workdir: Path, Cs: str) -> None:
    """Write a 50k + 10k x 28672 float16 features file, probe it, report time and peak RSS."""
    import h5py

    from ganlab.io.featstore import FeatureWriter

    path = workdir / "cifar-scale.h5"
    F = 28672
    if not path.exists():
        attrs = {
            "source": "synthetic",
            "checkpoint_sha256": "synthetic",
            "init_seed": -1,
            "dataset": "cifar10",
            "image_size": 32,
            "channels": 3,
            "layers": list(range(6)),
            "grid": 4,
            "bn_stats": "recompute",
            "feature_dim": F,
            "splits": ["train", "test"],
            "class_names": [str(i) for i in range(K)],
        }
        w = FeatureWriter(path, attrs, "float16", log=print)
        for split, n, seed in (("train", 50_000, 1), ("test", 10_000, 2)):
            w.begin(split, n, split)
            for i in range(0, n, 2000):  # 2000-row pieces: bounded memory while writing
                X, y = make_features(min(2000, n - i), F, seed=seed * 1000 + i, n_train=50_000)
                w.append(split, X, y, X.shape[0])
            w.finish(split)
        w.publish()
    with h5py.File(path) as f:
        print(
            f"{path}: train {f['train/features'].shape} test {f['test/features'].shape} "
            f"{f['train/features'].dtype}, {path.stat().st_size / 2**30:.2f} GiB"
        )
    cmd = [
        sys.executable,
        "-m",
        "ganlab",
        "probe",
        "--features",
        str(path),
        "--json",
        "--device",
        "cpu",
        "--C",
        Cs,
    ]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    print(out.stderr[-4000:])
    if out.returncode != 0:
        raise SystemExit("probe failed")
    r = json.loads(out.stdout)
    print("| rows x dims | protocol | C | test acc | load s | fit s | wall s | peak RSS GiB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| 50000 x {F} (float16 file, float32 in RAM {50000 * F * 4 / 2**30:.2f} GiB) | "
        f"{r['protocol']['name']} | {r['C']:g} | {r['test_accuracy']:.4f} | {r['load_s']} | "
        f"{r['fit_s']} | {wall:.0f} | {peak:.2f} |"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--features",
        type=Path,
        help="time the probe's C search on this stored features file (ganlab probe "
        "--features) instead of synthetic features",
    )
    p.add_argument(
        "--Cs",
        type=lambda v: [float(c) for c in v.split(",")],
        default=list(DEFAULT_CS),
        help="--features: the C values searched (default: the probe's)",
    )
    p.add_argument(
        "--methods",
        default=",".join(METHODS),
        help="--features: any of " + ", ".join(METHODS + MORE_METHODS),
    )
    p.add_argument(
        "--train-rows", type=int, help="--features: fit on a stratified subset of the training rows"
    )
    p.add_argument(
        "--seed", type=int, default=0, help="--features: the probe's --seed (splits, sketch)"
    )
    p.add_argument(
        "--timeout", type=float, help="--features: seconds one method may take (e.g. LinearSVC)"
    )
    p.add_argument("--shapes", default="10000x28672,50000x7168")
    p.add_argument(
        "--C",
        help="C for the timed fits: one for every shape, or one per shape (default: the C the "
        "probe's validation picks for each default shape, see --calibrate; 1e-3 for others)",
    )
    p.add_argument(
        "--solvers",
        default="torch,sklearn",
        help="any of torch, torch-public (the torch solver without its oneDNN kernel) and sklearn",
    )
    p.add_argument("--calibrate", action="store_true")
    p.add_argument(
        "--standardize",
        action="store_true",
        help="standardise each feature (ganlab probe --standardize)",
    )
    p.add_argument("--cifar-scale", action="store_true")
    p.add_argument("--cifar-Cs", default="1e-5,1e-4")
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--one-shape", help=argparse.SUPPRESS)
    p.add_argument("--one-features", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one_features:
        search_one(args)
        return
    if args.features:
        search(args)
        return
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    if args.one:
        args.C = float(args.C)
        args.one_shape = tuple(int(v) for v in args.one_shape.split("x"))
        run_one(args)
        return
    if args.cifar_scale:
        cifar_scale(args.workdir, args.cifar_Cs)
        return
    if args.calibrate:
        for shape in shapes:
            calibrate(shape, [1e-6, 1e-5, 1e-4, 1e-3], args.standardize)
        return
    kind = "standardised" if args.standardize else "RMS-scaled"
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
        f"one fit per row, same {kind} features and C"
    )
    print("| n x F | solver | C | fit s | speed-up | test acc | objective | peak RSS GiB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    if args.C is None:
        Cs = [DEFAULT_C.get(shape, 1e-3) for shape in shapes]
    else:
        Cs = [float(c) for c in args.C.split(",")]
        Cs = Cs * len(shapes) if len(Cs) == 1 else Cs
        if len(Cs) != len(shapes):
            p.error(
                f"--C gives {len(Cs)} values for {len(shapes)} shapes: give one, or one per shape"
            )
    for shape, C in zip(shapes, Cs, strict=True):
        rows = {s: spawn(args, s, shape, C) for s in args.solvers.split(",")}
        base = rows.get("sklearn", {}).get("fit_s")
        for s, r in rows.items():
            speed = f"{base / r['fit_s']:.1f}x" if base else "-"
            print(
                f"| {shape[0]} x {shape[1]} | {s} | {C:g} | {r['fit_s']} | {speed} | "
                f"{r['test_accuracy']:.4f} | {r['objective']:.6g} | {r['peak_rss_gb']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
