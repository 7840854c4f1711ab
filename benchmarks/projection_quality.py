"""How well does `ganlab project` reconstruct images the run never trained on?

Projects held-out real images (a dataset split the run did not train on, or a folder of held-out
files) four ways, with the search `ganlab project` uses (``core.projection``):

- random restarts only: the best of --restarts seeded draws, no optimisation;
- restarts + optimisation: --steps of Adam from that start (no encoder);
- encoder only: the encoder's guess E(x), no restarts, no optimisation;
- encoder + optimisation: the best of restarts and E(x), then --steps of Adam (the default);
- and the last two with --short-steps (50) only: how far a short search gets from each start.

For each it prints the mean pixel MSE (on [0, 1] intensities), PSNR and D-feature distance (the
run's D, paper section 5 features, unit-normalised) and the seconds per image on this machine.
For scale, it also finds each held-out image's nearest training image (exactly, by pixel MSE and
by D-feature distance separately): a reconstruction closer than that is closer than anything G
could have copied. The run's stored encoder is used; without one, an encoder is fitted in memory
(--encoder-steps) and its fitting time printed. Writes nothing unless --grid is given.

    python benchmarks/projection_quality.py --run runs/fashion --dataset fashion-mnist -n 64
    python benchmarks/projection_quality.py --run runs/faces --images heldout/ -n 64
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from ganlab.core.device import resolve_device
from ganlab.core.encoder import fit_encoder, load_encoder
from ganlab.core.features import d_embedding
from ganlab.core.nets import load_discriminator
from ganlab.core.projection import ProjectionConfig, project
from ganlab.core.trainset import data_spec_of, training_data_of
from ganlab.data import load_dataset
from ganlab.data.batches import batches
from ganlab.data.scan import list_images
from ganlab.data.userimages import read_user_images
from ganlab.experiments.project import reconstruction_grid
from ganlab.io.checkpoint import load_checkpoint
from ganlab.io.images import to_unit, write_image


def held_out(ckpt, args) -> torch.Tensor:
    """uint8 (N, C, S, S): the first -n images of --images or of --dataset's --split."""
    mc = ckpt.model_config
    if args.images:
        files = [f"{args.images}/{p}" for p in list_images(args.images, recursive=True)]
        return read_user_images(data_spec_of(ckpt), files[: args.n]).images
    cfg = ckpt.train_config
    name = args.dataset or cfg["dataset"]
    if name == cfg["dataset"] and args.split == cfg.get("split", "train"):
        raise SystemExit(f"--split {args.split} is the run's training split: pick a held-out one")
    ds = load_dataset(
        name, args.data_root, split=args.split, image_size=mc.image_size, channels=mc.channels
    )
    return torch.cat([b.images for b in batches(ds, indices=list(range(min(args.n, len(ds)))))])


@torch.no_grad()
def nearest_training(ckpt, targets: torch.Tensor, device, data_root) -> tuple[np.ndarray, ...]:
    """Per target: pixel MSE to its nearest training image, and D-feature distance to its
    nearest (each minimised on its own), over the whole training set, streamed."""
    D = load_discriminator(ckpt, device)
    x = to_unit(targets.to(device))
    tp = x.flatten(1).double()  # (N, P)
    tf = F.normalize(d_embedding(D, x).double(), dim=1)  # (N, F)
    best_pix = torch.full((len(x),), math.inf, dtype=torch.float64, device=device)
    best_feat = best_pix.clone()
    data = training_data_of(ckpt, data_root)
    count = 0
    for batch in batches(data, batch_size=512):
        if not len(batch.images):
            continue
        y = to_unit(batch.images.to(device))
        yp = y.flatten(1).double()
        pix = (tp.square().sum(1, keepdim=True) + yp.square().sum(1) - 2 * tp @ yp.T) / (
            4 * yp.shape[1]
        )
        yf = F.normalize(d_embedding(D, y).double(), dim=1)
        dist = (2 - 2 * tf @ yf.T).clamp_min(0).sqrt()
        best_pix = torch.minimum(best_pix, pix.clamp_min(0).min(1).values)
        best_feat = torch.minimum(best_feat, dist.min(1).values)
        count += len(y)
    print(f"nearest training image: searched {count} training images")
    return best_pix.cpu().numpy(), best_feat.cpu().numpy()


def row(name: str, pix: np.ndarray, feat: np.ndarray, seconds: float | None) -> str:
    psnr = -10 * np.log10(np.maximum(pix, 1e-10))
    sec = "" if seconds is None else f"{seconds:.3f}"
    return (
        f"| {name} | {pix.mean():.4f} | {np.median(pix):.4f} | {psnr.mean():.2f} | "
        f"{feat.mean():.3f} | {sec} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="run directory or checkpoint")
    ap.add_argument("--dataset", help="held-out images from this dataset (default: the run's)")
    ap.add_argument("--split", default="test", help="its held-out split")
    ap.add_argument("--data-root", help="where that dataset lies")
    ap.add_argument("--images", help="a folder of held-out image files instead of a dataset")
    ap.add_argument("--train-root", help="the run's training data, if it moved")
    ap.add_argument("-n", type=int, default=64, help="held-out images")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--restarts", type=int, default=32)
    ap.add_argument("--short-steps", type=int, default=50, help="also a short search (0: skip)")
    ap.add_argument("--encoder-steps", type=int, default=1000, help="if the run has no encoder")
    ap.add_argument("--grid", help="write originals over (encoder + optimisation) results here")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = resolve_device(args.device)
    ckpt = load_checkpoint(args.run)
    targets = held_out(ckpt, args)
    mc = ckpt.model_config
    print(
        f"run {ckpt.path} (step {ckpt.step}, {mc.image_size}px, nz {mc.nz} {ckpt.z_dist}); "
        f"{len(targets)} held-out images; torch threads {torch.get_num_threads()}"
    )
    stored = load_encoder(args.run, ckpt, device)
    if stored is None:
        E, fit = fit_encoder(ckpt, steps=args.encoder_steps, device=device)
        print(
            f"encoder fitted in memory: {fit.steps} steps in {fit.seconds:.0f} s, held-out latent "
            f"mse {fit.latent_mse:.4f}, pixel mse {fit.pixel_mse:.4f}"
        )
    else:
        E = stored.encoder
        print(f"encoder: {stored.path} ({stored.fit})")
    configs = [
        ("random restarts only", ProjectionConfig(steps=0, restarts=args.restarts), None),
        ("restarts + optimisation", ProjectionConfig(args.steps, restarts=args.restarts), None),
        ("encoder only", ProjectionConfig(steps=0, restarts=0), E),
        ("encoder + optimisation", ProjectionConfig(args.steps, restarts=args.restarts), E),
    ]
    if args.short_steps:  # does the encoder's start let a short search get as far?
        short = ProjectionConfig(args.short_steps, restarts=args.restarts)
        configs += [
            (f"restarts + {args.short_steps} steps", short, None),
            (f"encoder + {args.short_steps} steps", short, E),
        ]
    lines = []
    best = None  # encoder + optimisation, for the grid
    for name, cfg, enc in configs:
        start = time.perf_counter()
        result = project(ckpt, targets, cfg, enc, device)
        best = result if name == "encoder + optimisation" else best
        per_image = (time.perf_counter() - start) / len(targets)
        lines.append(row(name, result.pixel_mse.numpy(), result.feature_dist.numpy(), per_image))
        starts = sum(s == "encoder" for s in result.start)
        print(f"{name}: done ({per_image:.3f} s/image; {starts} started from the encoder)")
    near_pix, near_feat = nearest_training(ckpt, targets, device, args.train_root)
    lines.append(row("nearest training image (for scale)", near_pix, near_feat, None))
    print()
    print("| method | pixel MSE (mean) | pixel MSE (median) | PSNR dB | D-feature dist | s/image |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(lines))
    if args.grid:
        write_image(reconstruction_grid(ckpt, targets, best.z, device), args.grid)
        print(f"wrote {args.grid}")


if __name__ == "__main__":
    main()
