"""How long `ganlab eval` takes: images/s through the FID Inception, and the 50k protocol.

The standard protocol scores 50,000 generated images against 50,000 real ones (CIFAR-10
train), so its cost is ~100,000 Inception passes at 299x299 (the real half only the first
time: its features are cached), plus G's forward passes and the metrics themselves (FID's
2048x2048 eigenproblem, KID's 100 subsets, IS). This script measures each part on this
machine and prints the measured rates and the projected total:

    .venv/bin/python benchmarks/eval_speed.py                     # CPU (and CUDA if present)
    .venv/bin/python benchmarks/eval_speed.py --batch-sizes 64,256 --device cuda
    .venv/bin/python benchmarks/eval_speed.py --inception-weights ~/weights-inception-...pth

Without --inception-weights the network gets seeded random weights: the speed of a network
does not depend on its weights' values, so the timings stand (the numbers it would compute
would not). With --run RUN it also times `ganlab eval RUN -n N` end to end (default N 256).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

PROTOCOL_N = 50_000


def random_weights(seed: int = 0):
    """InceptionWeights of the FID Inception's architecture with seeded He-normal values."""
    from ganlab.core.inception import InceptionWeights, random_state_dict

    return InceptionWeights(Path("(random, seeded)"), "random", random_state_dict(seed))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_extractor(extractor, device, batch: int, size: int, channels: int, seconds: float):
    """Images/s of uint8 (batch, channels, size, size) through the extractor (warm)."""
    x = torch.randint(0, 256, (batch, channels, size, size), dtype=torch.uint8)
    extractor(x)  # warm-up: allocations, kernel selection
    sync(device)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or n == 0:
        extractor(x)
        n += batch
    sync(device)
    return n / (time.perf_counter() - t0)


def time_generator(device, image_size: int, channels: int, batch: int, seconds: float):
    """Images/s of a paper-width DCGAN G (ngf 64, nz 100) in eval mode, uint8 out."""
    from ganlab.core.models import Generator, ModelConfig
    from ganlab.io.images import to_uint8

    g = Generator(ModelConfig(image_size=image_size, channels=channels)).to(device).eval()
    z = torch.rand(batch, 100, device=device) * 2 - 1
    with torch.no_grad():
        to_uint8(g(z))
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds or n == 0:
            to_uint8(g(z))
            n += batch
    return n / (time.perf_counter() - t0)


def time_metrics(n: int = 10_000):
    """Seconds for FID from statistics (2048-d) and KID (100 subsets of 1000) at n images."""
    from ganlab.core import metrics
    from ganlab.core.metrics import ReferenceFeatures

    gen = torch.Generator().manual_seed(0)
    a = torch.rand(n, 2048, generator=gen)
    b = torch.rand(n, 2048, generator=gen)
    t0 = time.perf_counter()
    mu, sigma = metrics.fid_statistics(b)
    t_stats = time.perf_counter() - t0
    ref = ReferenceFeatures(b, mu, sigma, {"n": n})
    t0 = time.perf_counter()
    metrics.score({"2048": a}, ref, ("fid",))
    t_fid = time.perf_counter() - t0  # includes the generated side's statistics
    t0 = time.perf_counter()
    metrics.score({"2048": a}, ref, ("kid",))
    t_kid = time.perf_counter() - t0
    return t_stats, t_fid, t_kid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None, help="cpu or cuda (default: both when present)")
    ap.add_argument("--batch-sizes", default="32,128", help="extractor batch sizes to time")
    ap.add_argument("--image-size", type=int, default=32, help="input side (resized to 299)")
    ap.add_argument("--seconds", type=float, default=20.0, help="timing window per measurement")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all)")
    ap.add_argument("--inception-weights", default=None)
    ap.add_argument("--metrics-n", type=int, default=10_000, help="features for the FID/KID time")
    ap.add_argument("--run", default=None, help="also time `ganlab eval RUN -n N` end to end")
    ap.add_argument("-n", type=int, default=256, help="images for the --run measurement")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from ganlab.core.inception import InceptionExtractor, load_inception_weights

    weights = (
        load_inception_weights(args.inception_weights)
        if args.inception_weights
        else random_weights()
    )
    devices = [args.device] if args.device else ["cpu"] + (["cuda"] * torch.cuda.is_available())
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    cpu = platform.processor() or platform.machine()
    print(f"# eval_speed: torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {cpu}")
    if torch.cuda.is_available():
        print(f"# GPU: {torch.cuda.get_device_name(0)}")
    print(f"# weights: {weights.path}; input {args.image_size}px RGB uint8 -> 299px\n")

    t_stats, t_fid, t_kid = time_metrics(args.metrics_n)
    print(
        f"metrics at n={args.metrics_n}: FID statistics {t_stats:.1f} s, FID (incl. the "
        f"generated side's statistics) {t_fid:.1f} s, KID {t_kid:.1f} s\n"
    )
    rows = []
    for name in devices:
        device = torch.device(name)
        extractor = InceptionExtractor(weights, device)
        g_rate = time_generator(device, args.image_size, 3, max(sizes), min(args.seconds, 5))
        for batch in sizes:
            rate = time_extractor(extractor, device, batch, args.image_size, 3, args.seconds)
            per_image = 1 / rate + 1 / g_rate
            first = 2 * PROTOCOL_N / rate + PROTOCOL_N / g_rate + t_fid + t_kid
            cached = PROTOCOL_N * per_image + t_fid + t_kid
            rows.append((name, batch, rate, g_rate, first, cached))
        del extractor

    header = (
        "| device | batch | Inception img/s | G img/s | 50k protocol, first (s) | "
        "50k, reference cached (s) |"
    )
    print(header)
    print("|" + "---|" * 6)
    for name, batch, rate, g_rate, first, cached in rows:
        print(
            f"| {name} | {batch} | {rate:.1f} | {g_rate:.0f} | {first:,.0f} ({first / 3600:.1f} h)"
            f" | {cached:,.0f} ({cached / 3600:.1f} h) |"
        )

    if args.run:
        import tempfile

        from ganlab.experiments.eval import evaluate

        path = args.inception_weights
        if path is None:  # evaluate() opens a file: write the random weights to one
            path = Path(tempfile.mkdtemp()) / "inception-random.pth"
            torch.save(weights.state_dict, path)
        t0 = time.perf_counter()
        result = evaluate(
            args.run,
            n=args.n,
            real_n=args.n,
            inception_weights=path,
            use_cache=False,
            device=devices[0],
        )
        dt = time.perf_counter() - t0
        print(
            f"\nmeasured: ganlab eval {args.run} -n {args.n} --real-num {args.n} --no-cache: "
            f"{dt:.1f} s ({2 * args.n / dt:.1f} images/s overall; FID "
            f"{result.results[0]['fid']:.2f})"
        )


if __name__ == "__main__":
    main()
