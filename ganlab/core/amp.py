"""Which precision the heavy forward passes run in: the `--amp` policy, decided once per process.

`--amp auto` (the default) means bfloat16 autocast where it is measured to pay, float32
elsewhere:

- CUDA: bf16 when the GPU supports it (Ampere and later), else float32.
- CPU: bf16 only when the CPU has bf16 units (AMX tiles or AVX512-BF16) *and* a one-second
  probe, a DCGAN-shaped conv block forward and backward in both precisions, finds bf16 at
  least 10% faster. A CPU that emulates bf16 (AVX2 only) is many times slower in it, and one
  with AVX512-BF16 but no AMX can be slower too; the probe, not the flag list, decides.
- MPS and anything else: float32.

`--amp off` is always float32; `--amp bf16|fp16` asks for that precision whatever the probe
says (fp16 only on CUDA, where it gets loss scaling). The choice and its reason are recorded in
the run's config.json and printed at the start. Weights, optimiser state and checkpoints stay
float32 in every mode; autocast only changes the precision of the matrix work (convolutions).
BatchNorm runs in float32 whatever the mode (see `models.BatchNorm2d`), and so do the losses.
"""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass

import torch
from torch import nn

from ganlab.core.models import BatchNorm2d
from ganlab.errors import GanlabError

AMP_CHOICES = ("auto", "off", "bf16", "fp16")
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
MIN_GAIN = 1.1  # bf16 must be this much faster than float32 for `auto` to pick it


@dataclass(frozen=True)
class AmpChoice:
    """The precision a process computes in, and why."""

    amp: str  # "off", "bf16" or "fp16"
    reason: str  # one sentence for config.json and the start of the log

    def autocast(self, device: torch.device):
        """The autocast context for this choice (a no-op for float32)."""
        if self.amp == "off":
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=AMP_DTYPES[self.amp])

    def to_dict(self) -> dict:
        return {"amp": self.amp, "reason": self.reason}


FLOAT32 = AmpChoice("off", "float32")


def cpu_bf16_units() -> list[str]:
    """The bf16 instruction sets this CPU has that PyTorch can use (empty: none)."""
    units = []
    if getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)():
        units.append("AMX")
    if getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)():
        units.append("AVX512-BF16")
    return units


@functools.cache
def cpu_bf16_speedup(seconds: float = 1.0) -> float:
    """float32 time / bf16 time of a DCGAN-shaped conv block, forward and backward, on the CPU.

    Measured once per process (about `seconds` in all): a G-like fractionally-strided 4x4
    convolution, BatchNorm and ReLU, then a D-like strided 4x4 convolution, at 64-128 channels
    and 16-32 px, batch 32, channels_last, with gradients for the weights and the input (as in
    a DCGAN step); each precision is timed alternately and the best of its repeats kept.
    """
    with torch.random.fork_rng(devices=[]):  # the layers' init leaves the caller's RNG be
        torch.manual_seed(0)
        block = nn.Sequential(
            nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False),
            BatchNorm2d(64),
            nn.ReLU(),
            nn.Conv2d(64, 128, 4, 2, 1, bias=False),
        ).to(memory_format=torch.channels_last)
        x = torch.rand(32, 128, 16, 16).contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)

    def once(amp: str) -> float:
        t = time.perf_counter()
        with AmpChoice(amp, "").autocast(torch.device("cpu")):
            block(x).float().sum().backward()
        return time.perf_counter() - t

    once("off"), once("bf16")  # warm-up: kernel selection, allocations
    best = {"off": float("inf"), "bf16": float("inf")}
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or min(best.values()) == float("inf"):
        for amp in best:
            best[amp] = min(best[amp], once(amp))
    return best["off"] / best["bf16"]


def resolve_amp(requested: str, device: torch.device) -> AmpChoice:
    """The precision to compute in on `device` for an `--amp` value.

    Raises:
        GanlabError: an unknown value, or fp16 asked for where there is no loss scaling.
    """
    if requested not in AMP_CHOICES:
        raise GanlabError(f"unknown --amp {requested!r}: use {', '.join(AMP_CHOICES)}.")
    if requested == "off":
        return AmpChoice("off", "--amp off: float32")
    if device.type == "cuda":
        if requested == "auto":
            if torch.cuda.is_bf16_supported():
                return AmpChoice("bf16", "auto: this CUDA GPU supports bfloat16")
            return AmpChoice("off", "auto: this CUDA GPU has no bfloat16 support; float32")
        return AmpChoice(requested, f"--amp {requested} on CUDA")
    if device.type != "cpu":
        if requested == "auto":
            return AmpChoice("off", f"auto: float32 on {device.type}")
        raise GanlabError(
            f"--amp {requested} is supported on CUDA GPUs and CPUs, not on {device.type}. "
            "Use --amp off (or auto)."
        )
    if requested == "fp16":
        raise GanlabError(
            "--amp fp16 needs a CUDA GPU (loss scaling); on the CPU use --amp bf16 (on a CPU "
            "with bf16 units) or --amp auto."
        )
    units = cpu_bf16_units()
    if requested == "bf16":
        note = f"this CPU has {' and '.join(units)}" if units else "this CPU has no bf16 units"
        return AmpChoice("bf16", f"--amp bf16 on the CPU ({note})")
    if not units:
        return AmpChoice("off", "auto: this CPU has no bf16 units (AMX or AVX512-BF16); float32")
    gain = cpu_bf16_speedup()
    found = f"this CPU has {' and '.join(units)}; a conv probe ran bf16 at {gain:.2f}x float32"
    if gain >= MIN_GAIN:
        return AmpChoice("bf16", f"auto: {found}")
    return AmpChoice("off", f"auto: {found}, not faster, so float32")
