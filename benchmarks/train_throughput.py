"""Training and sampling throughput: ganlab's step against a plain reference DCGAN loop.

Both loops run in the same process, on the same model size, batch, device and synthetic data,
interleaved (reference, ganlab, reference, ...) so machine noise hits both alike; the table
gives medians over the repeats. The reference is the canonical pytorch/examples DCGAN step
(Sigmoid + BCELoss, contiguous tensors, D's weight gradients computed in the G step), written
out here. FLOPs per image are counted with torch.utils.flop_counter; the fp32 matmul peak is
measured on the spot for context.

    python benchmarks/train_throughput.py                 # CPU, 64x64, batch 128
    python benchmarks/train_throughput.py --amp bf16      # + ganlab under bf16 autocast
    python benchmarks/train_throughput.py --size 32 --device cuda --amp bf16
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ganlab.core.amp import AMP_DTYPES, cpu_bf16_units, resolve_amp
from ganlab.core.models import ModelConfig, build_models
from ganlab.core.step import gan_step, prepare_models


# --- the reference: pytorch/examples dcgan, 64x64 -------------------------------------------
class RefG(nn.Module):
    def __init__(self, nz=100, ngf=64, nc=3):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, z):
        return self.main(z)


class RefD(nn.Module):
    def __init__(self, ndf=64, nc=3):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.main(x).view(-1, 1).squeeze(1)


def make_reference(device, nz=100):
    netG, netD = RefG(nz).to(device), RefD().to(device)
    criterion = nn.BCELoss()
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def step(real, noise):
        b = real.size(0)
        netD.zero_grad()
        label = torch.full((b,), 1.0, device=device)
        errD_real = criterion(netD(real), label)
        errD_real.backward()
        fake = netG(noise)
        label.fill_(0.0)
        errD_fake = criterion(netD(fake.detach()), label)
        errD_fake.backward()
        optD.step()
        netG.zero_grad()
        label.fill_(1.0)
        errG = criterion(netD(fake), label)
        errG.backward()
        optG.step()

    return step


def make_ganlab(device, size, channels, amp, compile):
    torch.manual_seed(0)
    G, D = build_models(ModelConfig(image_size=size, channels=channels))
    G.to(device).train()
    D.to(device).train()
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    m = prepare_models(G, D, opt_g, opt_d, device, amp=amp, channels_last=True, compile=compile)
    return (lambda real, noise: gan_step(m, real, noise.flatten(1))), G


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_steps(step, real, noise, n, device) -> float:
    """Seconds per step over n steps."""
    sync(device)
    t = time.perf_counter()
    for _ in range(n):
        step(real, noise)
    sync(device)
    return (time.perf_counter() - t) / n


def count_flops(step, real, noise) -> int:
    with FlopCounterMode(display=False) as fc:
        step(real, noise)
    return fc.get_total_flops()


def matmul_peak(device, n=4096, repeats=5, dtype=torch.float32) -> float:
    """Measured GEMM GFLOP/s in `dtype`: the best of `repeats` n x n x n products (a peak)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    times = []
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - t)
    return 2 * n**3 / min(times) / 1e9


def conv_gemm_peak(device, repeats=5) -> float:
    """GFLOP/s of a large 1x1 convolution (a GEMM through the convolution library, oneDNN or
    cuDNN). On CPUs where torch.mm's BLAS is not tuned (MKL on AMD) this is the higher peak."""
    x = torch.randn(64, 1024, 32, 32, device=device).contiguous(memory_format=torch.channels_last)
    w = torch.randn(1024, 1024, 1, 1, device=device)
    torch.nn.functional.conv2d(x, w)
    times = []
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        torch.nn.functional.conv2d(x, w)
        sync(device)
        times.append(time.perf_counter() - t)
    return 2 * 64 * 32 * 32 * 1024 * 1024 / min(times) / 1e9


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--size", type=int, default=64, help="image size (the reference is 64 only)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=3, help="steps per timed block")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--amp", default="off", choices=["off", "bf16", "fp16"])
    p.add_argument("--compile", action="store_true")
    args = p.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    real = torch.rand(args.batch, 3, args.size, args.size, device=device) * 2 - 1
    noise = torch.rand(args.batch, 100, 1, 1, device=device) * 2 - 1

    ganlab_step, G = make_ganlab(device, args.size, 3, "off", args.compile)
    amp_step = (
        make_ganlab(device, args.size, 3, args.amp, args.compile)[0] if args.amp != "off" else None
    )
    ref_step = make_reference(device) if args.size == 64 else None
    flops_g = count_flops(ganlab_step, real, noise) / args.batch
    flops_r = count_flops(ref_step, real, noise) / args.batch if ref_step else None
    for _ in range(2):  # warm-up (and compilation)
        for step in (ganlab_step, amp_step, ref_step):
            if step:
                step(real, noise)
    t_g, t_r, t_a = [], [], []
    for _ in range(args.repeats):  # interleaved, so machine noise hits every loop alike
        if ref_step:
            t_r.append(time_steps(ref_step, real, noise, args.steps, device))
        t_g.append(time_steps(ganlab_step, real, noise, args.steps, device))
        if amp_step:
            t_a.append(time_steps(amp_step, real, noise, args.steps, device))
    mm_peak, conv_peak = matmul_peak(device), conv_gemm_peak(device)
    amp_peak = matmul_peak(device, dtype=AMP_DTYPES[args.amp]) if amp_step else None

    # sampling: G in eval mode, no grad
    G.eval()
    zs = torch.rand(256, 100, device=device) * 2 - 1
    with torch.no_grad():
        G(zs)
        sync(device)
        t = time.perf_counter()
        for _ in range(3):
            G(zs)
        sync(device)
        sample_rate = 3 * 256 / (time.perf_counter() - t)

    med_g = statistics.median(t_g)
    ips_g = args.batch / med_g
    rows = [("ganlab fp32", ips_g, flops_g, flops_g * ips_g / 1e9)]
    if amp_step:
        ips_a = args.batch / statistics.median(t_a)
        rows.append((f"ganlab {args.amp}", ips_a, flops_g, flops_g * ips_a / 1e9))
    if ref_step:
        med_r = statistics.median(t_r)
        ips_r = args.batch / med_r
        rows.insert(0, ("reference loop", ips_r, flops_r, flops_r * ips_r / 1e9))
    print(
        f"device {device} ({torch.get_num_threads()} threads), {args.size}x{args.size}, "
        f"batch {args.batch}, amp {args.amp}, compile {args.compile}, torch {torch.__version__}"
    )
    print(
        f"fp32 peaks (measured, best of 5): torch.mm 4096^3 {mm_peak:.1f} GFLOP/s; "
        f"1x1-conv GEMM {conv_peak:.1f} GFLOP/s"
    )
    if amp_step:
        units = ", ".join(cpu_bf16_units()) or "none" if device.type == "cpu" else "n/a"
        print(
            f"{args.amp} peak (measured): torch.mm 4096^3 {amp_peak:.1f} GFLOP/s "
            f"({amp_peak / mm_peak:.2f}x fp32); CPU bf16 units: {units}"
        )
    print(f"{'loop':<16} {'img/s':>8} {'GFLOP/img':>10} {'GFLOP/s':>9} {'% mm':>7} {'% conv':>7}")
    for name, ips, fl, gfs in rows:
        print(
            f"{name:<16} {ips:8.1f} {fl / 1e9:10.3f} {gfs:9.1f} {100 * gfs / mm_peak:6.1f}% "
            f"{100 * gfs / conv_peak:6.1f}%"
        )
    if ref_step:
        useful = flops_r * ips_g / 1e9  # the reference's work per image, done at ganlab's rate
        print(f"ratio ganlab / reference (img/s): {ips_g / ips_r:.2f}x")
        print(
            f"ganlab at the reference's FLOPs per image: {useful:.1f} GFLOP/s "
            f"({100 * useful / mm_peak:.1f}% of torch.mm peak, "
            f"{100 * useful / conv_peak:.1f}% of 1x1-conv peak)"
        )
    if amp_step:
        print(
            f"{args.amp}: {ips_a / ips_g:.2f}x ganlab fp32"
            + (f", {ips_a / ips_r:.2f}x the reference loop" if ref_step else "")
            + f"; {100 * flops_g * ips_a / 1e9 / amp_peak:.1f}% of the {args.amp} mm peak"
        )
        if device.type == "cpu":
            choice = resolve_amp("auto", device)
            print(f"--amp auto here: {choice.amp} ({choice.reason})")
    print(f"sampling (G eval, batch 256): {sample_rate:.1f} img/s")


if __name__ == "__main__":
    main()
