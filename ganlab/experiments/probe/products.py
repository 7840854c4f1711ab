"""How the probe solver's matrix products run fast: narrow products, the intercept, threads.

The torch solver (``svm``) spends its time in products of the (n, F) features X with narrow
(F + 1, k) matrices, k ~ 10 classes, with a constant feature of value 1 for the intercept: X V
and X^T Z, two passes over X per conjugate-gradient step. Between the passes it works on small
(F + 1, k) and (n, k) tensors. This module holds the products and the thread policy around
them.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import torch

# --- matrix products with the intercept column ------------------------------------------------
# theta is (F + 1, k): rows 0..F-1 are W, the last row is b (a constant feature of value 1).


def _onednn_linear_works() -> bool:
    """Whether oneDNN's fp32 linear kernel runs here and agrees with torch's matmul."""
    try:
        gen = torch.Generator().manual_seed(0)  # leaves the global RNG as the caller had it
        a, b = torch.randn(8, 5, generator=gen), torch.randn(3, 5, generator=gen)
        out = torch.ops.mkldnn._linear_pointwise(a, b, None, "none", [], "")
        return torch.allclose(out, a @ b.T, atol=1e-5)
    except (AttributeError, RuntimeError):
        return False


_ONEDNN: bool | None = None  # fp32 CPU products through oneDNN; None: not checked yet


def linear(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x @ w.T (+ bias), the way the narrow products of this solver run fastest.

    On the CPU, torch's matmul calls MKL's sgemm, which is slow when one operand has only k
    (~10) columns. oneDNN's fp32 inner-product kernel (a private op,
    ``torch.ops.mkldnn._linear_pointwise``) gives the same fp32 result up to rounding, much
    faster. So fp32 CPU products go through it when it is present and agrees with torch
    (checked once), else through the public torch.nn.functional.linear (also the path on GPUs
    and for float64).

    Measured (2-core AMD EPYC with AVX-512, torch 2.14, shared and loaded machine; minimum
    of 7 interleaved runs): X @ V for X 10,000 x 7,168 and k = 10, 28 ms against 75 ms for
    F.linear (1 thread), 32 against 86 ms (2 threads); Z^T X 37 against 54 ms (1 thread), 40
    against 104 ms (2 threads). A whole fit on benchmarks/probe_speed.py's 10,000 x 7,168
    features at C = 1e-3: 18.7 s against 29.9 s (best of 3 alternating fits in one process, 2
    threads; medians 25.9 and 33.5 s), same test accuracy, objective equal to 7 digits.
    ``probe_speed.py --solvers torch,torch-public`` times the two paths side by side.
    """
    if x.device.type == "cpu" and x.dtype == torch.float32 and _onednn():
        return torch.ops.mkldnn._linear_pointwise(x, w, bias, "none", [], "")
    return torch.nn.functional.linear(x, w, bias)


def _onednn() -> bool:
    global _ONEDNN
    if _ONEDNN is None:
        _ONEDNN = _onednn_linear_works()
    return _ONEDNN


def xv(X: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """[X, 1] @ V: (n, F) x (F + 1, k) -> (n, k)."""
    return linear(X, V[:-1].T.contiguous(), V[-1].contiguous())


def xtz(X: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
    """[X, 1]^T @ Z: (n, k) -> (F + 1, k), computed as (Z^T X)^T.

    Never as X^T @ Z: for a narrow Z that (and autograd's gradient of X @ W) runs up to ten
    times slower on a row-major X. Which kernel computes Z^T X fastest depends on the CPU
    (`_ztx_kernel`).
    """
    Zt = Z.T.contiguous()  # (k, n)
    kernel = _ztx_kernel(Zt, X)
    step = XTZ_CHUNK if X.device.type == "cpu" else len(X)
    ZtX = None  # (k, F), summed over blocks of rows on the CPU
    for i in range(0, len(X), max(step, 1)):
        Zb, Xb = Zt[:, i : i + step].contiguous(), X[i : i + step]
        part = torch.mm(Zb, Xb) if kernel == "mm" else linear(Zb, Xb.T)
        ZtX = part if ZtX is None else ZtX.add_(part)
    if ZtX is None:  # no rows
        ZtX = Zt.new_zeros(Zt.shape[0], X.shape[1])
    return torch.cat([ZtX.T, Zt.sum(1)[None]])


# Z^T X on the CPU is summed over blocks of this many rows: over all of a tall X at once both
# kernels slow down (oneDNN with k = 10 at 28,672 features, 2-core AMD EPYC: 0.83 s for 54,000
# rows at once, 0.37 s in blocks of 8,192; 0.32 -> 0.25 s at 36,000 rows, the same at 12,000;
# with the sketch's 300 columns 7.65 -> 5.74 s at 54,000 rows)
XTZ_CHUNK = 8192


# Z^T X for a narrow Z: oneDNN's kernel (`linear`, with X^T as the weight) or MKL's sgemm
# (torch.mm). Neither wins everywhere. Measured at 20,000 x 28,672, k = 10, 2 threads: on a
# 2-core AMD EPYC oneDNN was the faster; on a 2-core Intel Xeon (Ice Lake, 2.8 GHz) oneDNN
# took 0.46 s and MKL 0.22 s. So the first large fp32 product on the CPU times both, once per
# process for narrow Z (k <= 32, the solver's) and once for wide (the sketch's), on a slice of
# its own X, and keeps the faster.
_ZTX: dict[bool, str] = {}  # wide Z -> "linear" or "mm", once timed
ZTX_TIMING_ROWS = 4096  # rows of X the two kernels are timed on
ZTX_TIMED_ABOVE = 2**24  # X's elements above which the choice is worth timing


def _ztx_kernel(Zt: torch.Tensor, X: torch.Tensor) -> str:
    """ "mm" or "linear" (also the path off the CPU, or where oneDNN is not used)."""
    if X.device.type != "cpu" or X.dtype != torch.float32 or not _onednn():
        return "linear"
    wide = Zt.shape[0] > 32
    if wide not in _ZTX:
        if X.numel() < ZTX_TIMED_ABOVE:
            return "linear"
        m = min(len(X), ZTX_TIMING_ROWS)
        Xs, Zs = X[:m], Zt[:, :m].contiguous()
        best = {}
        for name, f in (("linear", lambda: linear(Zs, Xs.T)), ("mm", lambda: torch.mm(Zs, Xs))):
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                f()
                times.append(time.perf_counter() - t0)
            best[name] = min(times)
        _ZTX[wide] = min(best, key=best.get)
    return _ZTX[wide]


class RowCopy:
    """Rows of X gathered into one buffer that is kept from call to call.

    The solver's CG runs on a copy of the rows inside some class's margin, made anew each
    Newton step. A new (m, F) tensor each time pays for its memory's page faults each time:
    gathering 23,000 of 54,000 x 28,672 rows took 1.0-1.5 s into a new tensor (10 s when that
    memory was touched for the first time) and 0.15 s into a kept one (2-core AMD EPYC VM).
    The buffer grows when more rows are asked for and never shrinks; the copy returned is a
    view of it, valid until the next `take`.
    """

    def __init__(self) -> None:
        self.buf: torch.Tensor | None = None

    def take(self, X: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """X[rows] as an (len(rows), F) view of the buffer."""
        m, b = len(rows), self.buf
        fits = b is not None and len(b) >= m and b.shape[1:] == X.shape[1:]
        if not (fits and b.dtype == X.dtype and b.device == X.device):
            self.buf = b = None  # freed before the new one is made
            self.buf = b = torch.empty(m, *X.shape[1:], dtype=X.dtype, device=X.device)
        return torch.index_select(X, 0, rows, out=b[:m])


class CpuThreads:
    """Inside: torch runs on one CPU thread; inside `all()`: on as many as before.

    Between its passes over X a fit works on (F + 1, k) and (n, k) tensors of one or two MB,
    some 25 operations per CG step. One thread does each in well under a millisecond; torch
    splits each across all its threads, and on a busy machine every one then waits until its
    other thread is scheduled: measured 7-8 ms per operation with 2 threads on a shared 2-core
    machine, against 0.03-0.07 ms on one. The passes over X and the preconditioner (its
    products with U and its r x r systems) keep every thread. Nothing changes on a GPU.

    Measured (2-core AMD EPYC, a fit at C = 1e-4 from the C = 1e-5 solution on 3,000 x 28,672
    real features, 4 interleaved runs each): 4.1-4.5 s against 5.1-5.9 s while another
    process kept one core busy; 1.8-1.9 s either way on the idle machine.
    """

    def __init__(self, device: torch.device):
        self.cpu = device.type == "cpu"
        self.threads = torch.get_num_threads()

    def __enter__(self) -> CpuThreads:
        if self.cpu:
            torch.set_num_threads(1)
        return self

    def __exit__(self, *exc) -> None:
        if self.cpu:
            torch.set_num_threads(self.threads)

    @contextmanager
    def all(self):
        if self.cpu:
            torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            if self.cpu:
                torch.set_num_threads(1)
