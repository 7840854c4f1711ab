"""Where a training step's time goes: torch.profiler over ganlab's step, grouped by kind of op.

Runs ganlab's real step (`core.step.gan_step`, channels_last, the run's BatchNorm) on synthetic
data, profiles a few steps after a warm-up, and prints each kind's share of the step's CPU time
(self time of the leaf ops, so nothing is counted twice), the convolutions' achieved GFLOP/s and
the whole step's fraction of the measured matmul peak of the same precision.

    python benchmarks/profile_step.py                       # 64 px, batch 128, bf16 and fp32
    python benchmarks/profile_step.py --size 32 --amp bf16
    python benchmarks/profile_step.py --top 25              # + the slowest individual ops
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from ganlab.core.amp import AMP_DTYPES, cpu_bf16_units
from ganlab.core.models import ModelConfig, build_models
from ganlab.core.step import gan_step, prepare_models

# Ops by kind, from their names; everything run inside Adam's step counts as "optimizer".
KINDS = {
    "convolution": lambda op: "conv" in op,
    "batchnorm": lambda op: "batch_norm" in op,
    "dtype/layout copies": lambda op: op in ("copy_", "_to_copy", "to", "contiguous", "clone"),
    "loss": lambda op: any(a in op for a in ("binary_cross_entropy", "log_sigmoid", "softplus")),
    "activations": lambda op: any(a in op for a in ("relu", "tanh", "threshold", "sigmoid")),
}


def kind_of(event) -> str:
    """The kind of a profiler event: its own name, or the optimizer step it runs inside."""
    parent = event.cpu_parent
    while parent is not None:
        if parent.name.startswith("Optimizer.step"):
            return "optimizer"
        parent = parent.cpu_parent
    op = event.name.removeprefix("aten::").lower()
    return next((kind for kind, test in KINDS.items() if test(op)), "other")


def matmul_peak(dtype: torch.dtype, n: int = 4096, repeats: int = 5) -> float:
    """Best-of-`repeats` GFLOP/s of an n x n matmul in `dtype`."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def build_step(size: int, batch: int, amp: str):
    torch.manual_seed(0)
    G, D = build_models(ModelConfig(image_size=size, channels=3))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    m = prepare_models(G, D, opt_g, opt_d, torch.device("cpu"), amp=amp, channels_last=True)
    real = torch.rand(batch, 3, size, size) * 2 - 1  # (B, 3, S, S)
    z = torch.rand(batch, 100) * 2 - 1  # (B, nz)
    return lambda: gan_step(m, real, z)


def profile_step(size: int, batch: int, amp: str, steps: int, top: int) -> dict:
    step = build_step(size, batch, amp)
    for _ in range(3):  # warm-up: oneDNN primitive caches, allocator
        step()
    with FlopCounterMode(display=False) as fc:
        step()
    conv_flops = sum(
        n for op, n in fc.get_flop_counts()["Global"].items() if "conv" in str(op).lower()
    )
    t = time.perf_counter()
    for _ in range(steps):
        step()
    step_s = (time.perf_counter() - t) / steps  # unprofiled, for the throughput
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    per_kind: dict[str, float] = defaultdict(float)
    per_op: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0])
    for ev in prof.events():
        if ev.name.startswith(("Optimizer.", "ProfilerStep")):
            continue  # ranges: their children carry the self time
        kind = kind_of(ev)
        per_kind[kind] += ev.self_cpu_time_total
        per_op[ev.name, kind][0] += ev.self_cpu_time_total
        per_op[ev.name, kind][1] += 1
    total = sum(per_kind.values())
    if top:
        print(f"\n  slowest ops, {amp} {size}px (self CPU ms per step, calls per step, kind)")
        ranked = sorted(per_op.items(), key=lambda kv: -kv[1][0])[:top]
        for (name, kind), (self_us, count) in ranked:
            print(f"  {name:<44} {self_us / steps / 1e3:8.2f}  x{count // steps:<4} {kind}")
    conv_share = per_kind["convolution"] / total
    return {
        "amp": amp,
        "step_s": step_s,
        "img_s": batch / step_s,
        "flops": fc.get_total_flops(),
        "conv_gflops": conv_flops / (step_s * conv_share) / 1e9 if conv_share else 0.0,
        "shares": {k: v / total for k, v in per_kind.items()},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--amp", choices=("bf16", "off", "both"), default="both")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--top", type=int, default=0, help="also list the N slowest ops")
    args = p.parse_args()
    torch.manual_seed(0)
    units = cpu_bf16_units()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, bf16 units: {units}")
    amps = ("off", "bf16") if args.amp == "both" else (args.amp,)
    peaks = {a: matmul_peak(AMP_DTYPES[a] if a != "off" else torch.float32) for a in amps}
    results = [profile_step(args.size, args.batch, a, args.steps, args.top) for a in amps]
    kinds = [*KINDS, "optimizer", "other"]
    print(f"\n{args.size}x{args.size}, batch {args.batch}, channels_last, CPU")
    print(
        f"{'':<22}" + "".join(f"{r['amp'] if r['amp'] != 'off' else 'fp32':>12}" for r in results)
    )
    for k in kinds:
        print(f"{k:<22}" + "".join(f"{100 * r['shares'].get(k, 0):>11.1f}%" for r in results))
    print(f"{'images/s':<22}" + "".join(f"{r['img_s']:>12.1f}" for r in results))
    print(f"{'conv GFLOP/s':<22}" + "".join(f"{r['conv_gflops']:>12.0f}" for r in results))
    print(f"{'mm peak GFLOP/s':<22}" + "".join(f"{peaks[r['amp']]:>12.0f}" for r in results))
    print(
        f"{'step % of mm peak':<22}"
        + "".join(
            f"{100 * r['flops'] / r['step_s'] / 1e9 / peaks[r['amp']]:>11.1f}%" for r in results
        )
    )
    print(
        f"{'conv % of mm peak':<22}"
        + "".join(f"{100 * r['conv_gflops'] / peaks[r['amp']]:>11.1f}%" for r in results)
    )


if __name__ == "__main__":
    main()
