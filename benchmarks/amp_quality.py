"""Is a bf16 run as good as an fp32 run? Judge runs of one labelled dataset side by side.

For each run: its losses (non-finite values, the last epoch's means), and its samples judged by a
small CNN trained here on the dataset's real labelled training images (the same judge for every
run): the Frechet distance between the judge's penultimate features of N generated images and of
the real test images (FID's formula in a feature space that knows the dataset, unlike a random
Inception), the judge's mean confidence and the entropy of its class histogram (how many classes
G covers; ln 10 = 2.303 is all ten evenly).

Compare a bf16 run with the fp32 run of the same seed against the spread between two fp32 seeds:

    ganlab train fashion-mnist --image-size 32 --amp off  --seed 0 --out runs/fm-fp32-s0
    ganlab train fashion-mnist --image-size 32 --amp bf16 --seed 0 --out runs/fm-bf16-s0
    ganlab train fashion-mnist --image-size 32 --amp off  --seed 1 --out runs/fm-fp32-s1
    python benchmarks/amp_quality.py runs/fm-fp32-s0 runs/fm-fp32-s1 runs/fm-bf16-s0
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
from judge import SmallCNN, fit_cnn, to_unit
from torch.nn import functional as F

from ganlab.core.generate import generate
from ganlab.core.metrics import fid_from_statistics, fid_statistics
from ganlab.core.seeds import z_from_seeds
from ganlab.data.registry import load_dataset
from ganlab.io.checkpoint import load_checkpoint


def train_judge(train, test, epochs: int, seed: int) -> tuple[SmallCNN, float]:
    """The shared judge CNN fitted on the training split; its test-split accuracy."""
    gen = torch.Generator().manual_seed(seed)
    judge = fit_cnn(train.images, train.labels, torch.arange(len(train.images)), epochs, "cpu", gen)
    logits = batched(judge, to_unit(test.images))
    return judge, (logits.argmax(1) == test.labels).float().mean().item()


@torch.no_grad()
def batched(fn, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    return torch.cat([fn(x[i : i + batch]) for i in range(0, len(x), batch)])


def losses_summary(run: Path) -> dict:
    """Non-finite loss values over the whole run, and the last epoch's mean losses."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "loss_d" in r]
    bad = sum(not (math.isfinite(r["loss_d"]) and math.isfinite(r["loss_g"])) for r in rows)
    end = max(r["epoch"] for r in rows)
    last = [r for r in rows if r["epoch"] > end - 1]  # the last epoch's log lines
    mean = lambda k: float(np.mean([r[k] for r in last]))  # noqa: E731
    return {"non_finite": bad, "loss_d": mean("loss_d"), "loss_g": mean("loss_g")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--dataset", default=None, help="default: the first run's dataset")
    p.add_argument("--data-root", default=None)
    p.add_argument("-n", type=int, default=5000, help="generated images per run")
    p.add_argument("--judge-epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    first = load_checkpoint(args.runs[0])
    dataset = args.dataset or first.train_config["dataset"]
    size, channels = first.model_config.image_size, first.model_config.channels
    train = load_dataset(dataset, args.data_root, split="train", image_size=size, channels=channels)
    test = load_dataset(dataset, args.data_root, split="test", image_size=size, channels=channels)
    judge, accuracy = train_judge(train, test, args.judge_epochs, args.seed)
    real_feats = batched(judge.features, to_unit(test.images))
    mu_r, sigma_r = fid_statistics(real_feats)
    print(f"{dataset} {size}px; judge CNN test accuracy {accuracy:.4f}; n={args.n} per run")

    # the real training images scored as if they were a run: the floor of the distance
    real = to_unit(train.images[torch.randperm(len(train.images))[: args.n]])
    rows = [("real train images", None, real)]
    for run in args.runs:
        ckpt = load_checkpoint(run)
        z = z_from_seeds(list(range(args.n)), ckpt.model_config.nz, ckpt.z_dist)
        rows.append((str(run), ckpt, generate(ckpt, z)))
    head = f"{'run':<24}{'precision':>10}{'non-finite':>11}{'loss_d':>8}{'loss_g':>8}"
    print(head + f"{'FD(judge)':>11}{'confidence':>11}{'class H':>9}")
    for name, ckpt, images in rows:
        feats = batched(judge.features, images)
        probs = batched(lambda x: F.softmax(judge(x), 1), images)
        mu, sigma = fid_statistics(feats)
        fd = fid_from_statistics(mu, sigma, mu_r, sigma_r)
        hist = torch.bincount(probs.argmax(1), minlength=probs.shape[1]).float() / len(probs)
        entropy = -(hist * hist.clamp_min(1e-12).log()).sum().item()
        if ckpt is None:
            stats, precision = {"non_finite": "", "loss_d": "", "loss_g": ""}, "-"
        else:
            stats = losses_summary(Path(name))
            config = json.loads((Path(name) / "config.json").read_text())
            precision = config.get("precision", {}).get("amp", "?")
        cells = (
            f"{Path(name).name:<24}{precision:>10}{stats['non_finite']!s:>11}"
            f"{_num(stats['loss_d']):>8}{_num(stats['loss_g']):>8}"
        )
        print(cells + f"{fd:>11.3f}{probs.max(1).values.mean().item():>11.3f}{entropy:>9.3f}")


def _num(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


if __name__ == "__main__":
    main()
