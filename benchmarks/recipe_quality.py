"""Which training recipe makes better images, and at what cost? A yardstick that works offline.

Each recipe (a name and extra `ganlab train` options) is trained as its own `ganlab train` run
into OUT/NAME with the same seed on the same number of images, so every recipe sees the same
images in the same order. --steps and --checkpoint-every count batches of --batch-size (default
128, the paper's); a recipe that trains with another batch size (its own `--batch-size`, when
this script's is not given) trains and is judged at the same numbers of images, in
proportionally more or fewer steps. It walks the same permutation of each epoch, except for the
partial batch each batch size drops at an epoch's end (fewer than one batch), and draws other
noise. Every kept checkpoint at a multiple of --checkpoint-every
(and the last) is then judged by a small CNN trained here on the dataset's real labelled images
(benchmarks/judge.py), which knows the dataset, unlike an Inception net with random weights (on a
machine that cannot download the real Inception weights):

- FD: the Frechet distance between the judge's penultimate features (128) of N generated images
  (seeds 0..N-1, quantised to uint8 as saved images are) and of N real held-out images;
- precision and recall (Kynkaanniemi et al. 2019: k=3 nearest-neighbour balls, torch-fidelity's
  code, as `ganlab eval --metrics pr`) in the same features: precision is the share of
  generated images inside the real manifold, recall the share of real images inside the
  generated one (a collapsed G has a low recall);
- s/step: seconds per training step, from the run's metrics.jsonl (each logged interval's
  images/s at the batch size, the first interval, the warm-up, left out); it includes data
  loading and checkpointing. ms/image is the same per image, the cost to compare between
  recipes of different batch sizes.

A run trained with --ema is judged twice: "NAME (raw)" is the trained G, "NAME (ema)" its
average. The row "real (judge's training images)" scores N real images the judge was trained on
against the same reference: the floor of the distance (a little low, as the judge knows them).

The judge and the real images it is compared against:

- labelled data sets with a test split (fashion-mnist, mnist, digits, cifar10, svhn): one class
  per image (cross-entropy); it trains on the training split, and the test split is the
  held-out reference;
- a `folder` (or `celeba`) data set with `--labels`, CelebA's attribute file
  (list_attr_celeba.txt: a count line, the attribute names, then `000001.jpg` and a 1 or -1 per
  attribute), matched to the images by file name: one output per attribute (binary
  cross-entropy). The images are read by ganlab's own reader at --image-size, exactly as
  training sees them. A seeded --holdout fraction of them is held out: it scores the judge
  (per-attribute accuracy) and is the reference. The GAN trains on all of them; only the judge
  has not seen the reference.

N is --n-gen, or the number of held-out images if there are fewer. The judge (its weights and
the features of the real images) is cached in OUT, and so is every judged checkpoint (in
OUT/recipe_quality.json, keyed by the checkpoint's hash): running the script again trains
nothing that has its last checkpoint, judges only what is new, and prints the whole table.
A run that stopped early is resumed. `--eval-only` judges whatever checkpoints exist (also while
the runs train), `--train-only` only trains.

`--time-steps S` only times: it builds every recipe's nets and training step in this process
(as `ganlab train` does) and times S steps of each, round-robin on one fixed real batch, after
5 warm-up steps each, so that the machine's load falls on every recipe alike. It reports the
mean s/step, its ratio to the first recipe's, and the same per image (recipes of different batch
sizes each step on their own size of batch) (OUT/recipe_timing.json).

    python benchmarks/recipe_quality.py --dataset fashion-mnist --image-size 32 \\
        --steps 2340 --checkpoint-every 468 --out runs/recipes-fm \\
        --recipes averaged fast small-data "sn=--loss hinge --spectral-norm d --ema 0.999"
    python benchmarks/recipe_quality.py --dataset folder --data-root ~/celeba/img_align_celeba \\
        --labels ~/celeba/list_attr_celeba.txt --image-size 64 --steps 1560 \\
        --checkpoint-every 390 --out runs/recipes-faces --recipes averaged fast small-data
    python benchmarks/recipe_quality.py --dataset fashion-mnist --image-size 32 --time-steps 48 \\
        --out runs/recipes-fm --recipes paper averaged small-data "r1=--r1 0.1"

A recipe is NAME=OPTIONS, or just the name of a `ganlab train --recipe`. Options every run
shares go in --train-options (e.g. "--workers 2"); a recipe may not change the dataset, image
size, seed or steps, and may change the batch size only when this script's --batch-size is not
given and the images of --steps and --checkpoint-every divide by it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
import torch
from judge import SmallCNN, fit_cnn, held_out_accuracy, labelled_data
from judge import to_unit as judge_unit

from ganlab import __version__
from ganlab.core.config import TrainConfig, new_config, option_names, read_config_file
from ganlab.core.device import resolve_device
from ganlab.core.generate import generate
from ganlab.core.metrics import fid_from_statistics, fid_statistics, precision_recall
from ganlab.core.seeds import z_from_seeds
from ganlab.data.batches import batches
from ganlab.data.registry import DATASETS
from ganlab.data.scan import list_images
from ganlab.io.atomic import atomic_path, write_json
from ganlab.io.checkpoint import file_sha256, load_checkpoint
from ganlab.io.images import to_uint8
from ganlab.io.rundir import RunDir
from ganlab.io.runspec import list_checkpoints

JUDGE_FORMAT = 1  # bump when the cached judge's contents change
REFERENCE_BATCH = 128  # --steps counts batches of this size when --batch-size is not given
FLOOR_N = 10_000  # judge-training images whose features are kept for the floor row
WARMUP = 5  # --time-steps: untimed steps per recipe first (fewer than R1's 16)
# config.json entries that do not change a run's weights: an existing OUT/NAME may differ in them
NOT_COMPARED = {
    "data_root", "download", "data", "device", "workers", "keep", "log_every", "tensorboard",
    "grid_seeds", "checkpoint_every", "max_steps", "epochs", "eval_every", "eval_n",
    "eval_real_n", "inception_weights", "compile", "channels_last",
}  # fmt: skip


# --- recipes -------------------------------------------------------------------------------------


@dataclass
class Recipe:
    name: str  # its row in the table and its run directory OUT/NAME
    options: list[str]  # its extra `ganlab train` options
    batch: int = REFERENCE_BATCH  # its batch size, set by recipe_config
    steps: int = 0  # its training steps: the budget's images / batch
    every: int = 0  # its steps between judged checkpoints


def parse_recipe(text: str) -> Recipe:
    """NAME=OPTIONS (shell words), or the name of a `ganlab train --recipe` alone."""
    name, sep, options = text.partition("=")
    name = name.strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", name):
        raise SystemExit(
            f"--recipes {text!r}: a recipe is NAME=OPTIONS with NAME of letters, digits and "
            "._+- (it names the run directory), e.g. 'paper+ema=--recipe paper --ema 0.999'."
        )
    return Recipe(name, shlex.split(options) if sep else ["--recipe", name])


def shared_options(args, steps: int, every: int) -> list[str]:
    """The `ganlab train` options of every run, for a run of `steps` steps judged every
    `every`; the recipe's come after them (and would win). --epochs is the step count, so that
    --max-steps ends the run; --keep keeps every checkpoint. --batch-size only if given."""
    out = [
        args.dataset,
        *("--image-size", str(args.image_size), "--seed", str(args.seed)),
        *("--max-steps", str(steps), "--epochs", str(steps), "--keep", str(steps)),
        *("--checkpoint-every", str(every), "--amp", args.amp, "--device", args.device),
    ]
    if args.batch_size:
        out += ["--batch-size", str(args.batch_size)]
    if args.data_root:
        out += ["--data-root", str(args.data_root)]
    return out + shlex.split(args.train_options)


def recipe_config(args, recipe: Recipe) -> TrainConfig:
    """The TrainConfig `ganlab train` would resolve for this recipe's run (parsed by the
    command's own parser, so a typo in a recipe fails before anything trains). Sets the
    recipe's batch, steps and judging interval: the budget's images in its own batches."""
    reference = args.batch_size or REFERENCE_BATCH
    cfg = _parse_train(args, recipe, args.steps, args.checkpoint_every)
    if args.batch_size and cfg.batch_size != args.batch_size:
        raise SystemExit(
            f"recipe {recipe.name} sets --batch-size {cfg.batch_size}, but this script's "
            f"--batch-size {args.batch_size} is every recipe's: leave it out to compare recipes "
            "of their own batch sizes at the same numbers of images."
        )
    images, every_images = args.steps * reference, args.checkpoint_every * reference
    if images % cfg.batch_size or every_images % cfg.batch_size:
        raise SystemExit(
            f"recipe {recipe.name} trains with batches of {cfg.batch_size}, which do not divide "
            f"the {images} images of --steps {args.steps} (or the {every_images} of "
            f"--checkpoint-every {args.checkpoint_every}) in batches of {reference}: choose "
            "--steps and --checkpoint-every that do."
        )
    recipe.batch, recipe.steps = cfg.batch_size, images // cfg.batch_size
    recipe.every = every_images // cfg.batch_size
    if cfg.batch_size != reference:  # its own batch size: parsed again with its step counts
        cfg = _parse_train(args, recipe, recipe.steps, recipe.every)
    fixed = {
        "dataset": (cfg.data.name, args.dataset),
        "image-size": (cfg.data.image_size, args.image_size),
        "seed": (cfg.seed, args.seed),
        "max-steps": (cfg.max_steps, recipe.steps),
        "batch-size": (cfg.batch_size, recipe.batch),
    }
    changed = [f"--{k} {got}" for k, (got, want) in fixed.items() if got != want]
    if changed:
        raise SystemExit(
            f"recipe {recipe.name} sets {', '.join(changed)}: every recipe trains on the same "
            "images; set them with this script's options instead."
        )
    return cfg


def _parse_train(args, recipe: Recipe, steps: int, every: int) -> TrainConfig:
    """The config of `ganlab train` with the shared options (for `steps` and `every`) and
    the recipe's."""
    import typer.main

    from ganlab.cli import app

    command = typer.main.get_command(app).commands["train"]
    argv = shared_options(args, steps, every) + recipe.options
    try:
        params = command.make_context("ganlab train", argv).params
    except Exception as e:  # click's usage errors, from whichever click typer runs on
        message = e.format_message() if hasattr(e, "format_message") else str(e)
        raise SystemExit(f"recipe {recipe.name}: {message}") from None
    options = {
        k: v.value if isinstance(v, Enum) else str(v) if isinstance(v, Path) else v
        for k, v in params.items()
        if k in option_names()
    }
    options["download"] = options["download"] or None  # as `ganlab train`: a flag or unset
    return new_config(options, read_config_file(params["config"]) if params["config"] else {})


# --- training ------------------------------------------------------------------------------------


def ensure_trained(args, recipe: Recipe, cfg: TrainConfig) -> str:
    """Train OUT/NAME up to --steps unless it has that checkpoint; returns what was done."""
    run = args.out / recipe.name
    steps = [s for s, _ in list_checkpoints(run)] if run.is_dir() else []
    if steps:
        check_same_run(run, recipe, cfg)
    if recipe.steps in steps:
        return "trained before"
    if steps and max(steps) > recipe.steps:
        raise SystemExit(
            f"{run} is at step {max(steps)} without a checkpoint at its {recipe.steps} steps of "
            f"--steps {args.steps}: use --steps of one of its checkpoints, or another --out."
        )
    base = [sys.executable, "-m", "ganlab", "train"]
    if steps:  # an interrupted (or shorter) run: continue it
        cmd = base + ["--resume", str(run), "--max-steps", str(recipe.steps)]
        cmd += ["--epochs", str(recipe.steps), "--keep", str(recipe.steps)]
        cmd += ["--checkpoint-every", str(recipe.every), "--device", args.device]
        done = f"resumed from step {max(steps)}"
    else:
        if run.exists() and any(run.iterdir()):
            raise SystemExit(
                f"{run} exists but holds no checkpoint: remove it, or use another --out."
            )
        cmd = base + shared_options(args, recipe.steps, recipe.every) + recipe.options
        cmd += ["--out", str(run)]
        done = "trained"
    print(f"== {recipe.name}: {shlex.join(cmd[1:])}", file=sys.stderr, flush=True)
    if subprocess.run(cmd, check=False).returncode != 0:
        raise SystemExit(f"training recipe {recipe.name} failed (its messages are above).")
    return done


def check_same_run(run: Path, recipe: Recipe, cfg: TrainConfig) -> None:
    """Refuse an existing OUT/NAME trained with other options than the recipe's now."""
    stored = RunDir(run).read_config()["config"]
    wanted = cfg.to_dict()
    diff = [
        f"{k} {stored.get(k)!r} (the recipe gives {v!r})"
        for k, v in wanted.items()
        if k not in NOT_COMPARED and stored.get(k) != v
    ]
    if diff:
        raise SystemExit(
            f"{run} was trained with other options than recipe {recipe.name}'s: "
            f"{'; '.join(diff)}. Rename the recipe, remove the run, or use another --out."
        )


def seconds_per_step(run: Path, batch_size: int) -> dict:
    """Mean seconds per step over the run's logged intervals, the first (warm-up) left out
    unless it is the only one."""
    records = [r for r in RunDir(run).read_metrics() if r.get("kind") == "train"]
    per_step = [batch_size / r["images_per_s"] for r in records if r.get("images_per_s")]
    timed = per_step[1:] if len(per_step) > 1 else per_step
    return {
        "s_per_step": float(np.mean(timed)) if timed else None,
        "s_per_step_intervals": len(timed),
    }


# --- the judge -----------------------------------------------------------------------------------


@dataclass
class Judge:
    net: SmallCNN
    report: dict  # kind, held-out accuracy..., for the JSON
    identity: dict  # what it was trained on (a cached judge is reused for the same only)
    heldout: torch.Tensor  # (H, 128) features of the held-out real images: the reference
    seen: torch.Tensor  # (T, 128) features of up to FLOOR_N of its training images (floor)
    device: torch.device

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, S, S) -> (N, 128) penultimate features, on the CPU."""
        return torch.cat(
            [self.net.features(judge_unit(b.to(self.device))).cpu() for b in images.split(500)]
        )


def judge_identity(args, channels: int) -> dict:
    """What a judge was trained on; with --labels, also the attribute file's hash and the
    names of the image files under --data-root (a folder that changed needs a new judge)."""
    labels = args.labels
    files = None
    if labels and args.data_root:
        names = "\n".join(list_images(args.data_root, recursive=True)).encode()
        files = hashlib.sha256(names).hexdigest()
    return {
        "format": JUDGE_FORMAT,
        "dataset": args.dataset,
        "image_size": args.image_size,
        "channels": channels,
        "epochs": args.judge_epochs,
        "seed": args.seed,
        "holdout": args.holdout if labels else None,
        "labels_sha256": file_sha256(labels) if labels else None,
        "image_files_sha256": files,
    }


def load_judge(args, cfg: TrainConfig, device: torch.device) -> Judge:
    """The judge of OUT/judge-DATASET-SIZEpx.pt if it was trained on the same, else a new one
    (cached there)."""
    path = args.out / f"judge-{args.dataset}-{args.image_size}px.pt"
    channels = cfg.data.channels or DATASETS[args.dataset].channels
    identity = judge_identity(args, channels)
    if path.is_file():
        cached = torch.load(path, weights_only=True)
        if cached["identity"] == identity:
            net = SmallCNN(channels, args.image_size, cached["outputs"])
            net.load_state_dict(cached["state_dict"])
            report = {**cached["report"], "cache": str(path), "cached": True}
            return Judge(
                net.to(device).eval(), report, identity, cached["heldout"], cached["seen"], device
            )
        print(f"{path} was trained on other data or options: training a new judge", file=sys.stderr)
    t0 = time.perf_counter()
    try:
        data = labelled_data(
            args.dataset, args.data_root, args.labels, args.image_size, channels,
            holdout=args.holdout, seed=args.seed, split=cfg.data.split, workers=cfg.workers,
        )  # fmt: skip
    except ValueError as e:
        raise SystemExit(str(e)) from None
    gen = torch.Generator().manual_seed(args.seed)
    net = fit_cnn(data.images, data.targets, data.train, args.judge_epochs, device, gen)
    report = {**data.describe(), **held_out_accuracy(net, data, device)}
    judge = Judge(net, report, identity, torch.empty(0), torch.empty(0), device)
    judge.heldout = judge.features(data.images[data.heldout])
    floor = data.train[torch.randperm(len(data.train), generator=gen)[:FLOOR_N]]
    judge.seen = judge.features(data.images[floor])
    report["fit_s"] = round(time.perf_counter() - t0, 1)
    cached = {
        "identity": identity,
        "outputs": data.outputs,
        "state_dict": {k: v.cpu() for k, v in net.state_dict().items()},
        "report": report,
        "heldout": judge.heldout,
        "seen": judge.seen,
    }
    with atomic_path(path) as tmp:
        torch.save(cached, tmp)
    judge.report = {**report, "cache": str(path), "cached": False}
    return judge


# --- judging checkpoints -------------------------------------------------------------------------


def distances(fake: torch.Tensor, real: torch.Tensor) -> dict:
    """FD, precision and recall of fake vs real judge features (N, 128) each."""
    mu_f, sigma_f = fid_statistics(fake)
    mu_r, sigma_r = fid_statistics(real)
    precision, recall = precision_recall(fake, real)
    return {
        "fd": float(fid_from_statistics(mu_f, sigma_f, mu_r, sigma_r)),
        "precision": float(precision),
        "recall": float(recall),
    }


def schedule(recipe: Recipe) -> list[int]:
    """The recipe's steps judged: every multiple of its interval, and its last."""
    every = recipe.every or recipe.steps
    return sorted({*range(every, recipe.steps + 1, every), recipe.steps})


def judge_run(args, recipe: Recipe, judge: Judge, reference, eval_id: str, old: dict) -> dict:
    """The rows of one run (per judged checkpoint, and per G: trained, and averaged if kept),
    the judged steps it has no checkpoint of, and its seconds per step."""
    run = args.out / recipe.name
    found = dict(list_checkpoints(run))
    timing = seconds_per_step(run, recipe.batch) if found else {"s_per_step": None}
    n = len(reference)
    rows, missing = [], []
    for step in schedule(recipe):
        if step not in found:
            missing.append(step)
            continue
        sha = file_sha256(found[step])
        ckpt = None
        for weights in ("raw", "ema"):
            key = (recipe.name, step, weights, sha, eval_id)
            if key in old:
                rows.append(
                    {**old[key], "batch_size": recipe.batch, "s_per_step": timing["s_per_step"]}
                )
                continue
            ckpt = ckpt or load_checkpoint(found[step])
            if weights == "ema" and not ckpt.has_ema:
                continue
            if ckpt.model_config.image_size != args.image_size:
                raise SystemExit(f"{found[step]} makes {ckpt.model_config.image_size} px images")
            z = z_from_seeds(list(range(n)), ckpt.model_config.nz, ckpt.z_dist)
            images = to_uint8(generate(ckpt.use_weights(weights), z, judge.device))
            label = f"{recipe.name} ({weights})" if ckpt.has_ema else recipe.name
            row = {"recipe": recipe.name, "row": label, "weights": weights, "step": step}
            row.update(batch_size=recipe.batch, images_seen=step * recipe.batch)
            row.update(distances(judge.features(images), reference))
            row.update(s_per_step=timing["s_per_step"], checkpoint=str(found[step]))
            row.update(checkpoint_sha256=sha, eval_id=eval_id)
            rows.append(row)
            print(f"  {label} step {step}: FD {row['fd']:.3f}", file=sys.stderr, flush=True)
    if found and missing:
        print(f"{run} has no checkpoint of step(s) {missing}", file=sys.stderr)
    return {"rows": rows, "missing_steps": missing, **timing}


# --- --time-steps --------------------------------------------------------------------------------


def time_steps(args, recipes: list[Recipe], cfgs: dict[str, TrainConfig]) -> list[dict]:
    """Mean seconds per training step of each recipe, timed round-robin in this process."""
    from ganlab.core.amp import resolve_amp
    from ganlab.core.diffaug import parse_policy
    from ganlab.core.ema import GeneratorEMA
    from ganlab.core.models import build_models
    from ganlab.core.order import step_noise
    from ganlab.core.step import gan_step, prepare_models
    from ganlab.core.trainset import conditional_classes
    from ganlab.data.spec import open_dataset
    from ganlab.io.images import to_unit

    first = cfgs[recipes[0].name]
    device = resolve_device(first.device)
    data = open_dataset(first.data)
    largest = max(r.batch for r in recipes)
    batch = next(iter(batches(data, indices=range(largest))))
    real = to_unit(batch.images).to(device)  # fixed real batches: loading is no recipe's cost

    def build(cfg: TrainConfig):
        """A closure making one training step of `cfg`, as core/train.py builds it."""
        classes = conditional_classes(data) if cfg.conditional else []
        mcfg = cfg.model_config(data.image_size, data.channels, len(classes))
        x = real[: cfg.batch_size]  # (B, C, S, S), B the recipe's batch size
        y = batch.labels[: cfg.batch_size].to(device) if mcfg.num_classes else None
        torch.manual_seed(cfg.seed)
        G, D = (net.to(device).train() for net in build_models(mcfg))
        adam = {"betas": (cfg.beta1, cfg.beta2), "weight_decay": cfg.weight_decay}
        opt_g = torch.optim.Adam(G.parameters(), lr=cfg.g_lr, **adam)
        opt_d = torch.optim.Adam(D.parameters(), lr=cfg.d_lr, **adam)
        ema = GeneratorEMA(G, cfg.ema, mcfg.nz, cfg.z_dist) if cfg.ema is not None else None
        m = prepare_models(
            G, D, opt_g, opt_d, device,
            amp=resolve_amp(cfg.amp, device).amp, channels_last=cfg.channels_last,
            compile=cfg.compile, loss=cfg.loss, diffaug=parse_policy(cfg.diffaug), r1=cfg.r1,
        )  # fmt: skip

        def step(t: int) -> None:
            b = len(x)
            z = [step_noise(cfg.seed, t, 0, b, mcfg.nz, cfg.z_dist, k) for k in range(cfg.d_steps)]
            gan_step(m, x, [zk.to(device) for zk in z], y, position=(cfg.seed, t, 0))
            if ema is not None:
                ema.update(t)
            if device.type == "cuda":
                torch.cuda.synchronize(device)

        return step

    steps = [build(cfgs[r.name]) for r in recipes]
    times: list[list[float]] = [[] for _ in recipes]
    for i in range(WARMUP + args.time_steps):
        # warm-up steps are 1..WARMUP; timed ones 0..S-1, so lazy R1 falls on 1 in 16 of them
        t = i + 1 if i < WARMUP else i - WARMUP
        for k, step in enumerate(steps):
            t0 = time.perf_counter()
            step(t)
            if i >= WARMUP:
                times[k].append(time.perf_counter() - t0)
    base = float(np.mean(times[0]))
    base_image = base / recipes[0].batch
    return [
        {
            "name": r.name,
            "options": r.options,
            "batch_size": r.batch,
            "s_per_step": float(np.mean(ts)),
            "median_s_per_step": float(np.median(ts)),
            "ratio": float(np.mean(ts)) / base,
            "ms_per_image": 1000 * float(np.mean(ts)) / r.batch,
            "ratio_per_image": float(np.mean(ts)) / r.batch / base_image,
        }
        for r, ts in zip(recipes, times, strict=True)
    ]


# --- output --------------------------------------------------------------------------------------


def _num(v, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def print_table(rows: list[dict], floor: dict | None) -> None:
    print("| row | step | images seen | FD (judge) | precision | recall | s/step | ms/image |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        per_image = None if r["s_per_step"] is None else 1000 * r["s_per_step"] / r["batch_size"]
        print(
            f"| {r['row']} | {r['step']} | {r['images_seen']} | {r['fd']:.3f} | "
            f"{r['precision']:.3f} | {r['recall']:.3f} | {_num(r['s_per_step'], '.4f')} | "
            f"{_num(per_image, '.3f')} |"
        )
    if floor is not None:
        print(
            f"| real (judge's training images) | - | - | {floor['fd']:.3f} | "
            f"{floor['precision']:.3f} | {floor['recall']:.3f} | - | - |"
        )


def judge_summary(report: dict) -> str:
    """One line on the judge: its held-out accuracy (a multi-label judge's mean over the
    attributes, its majority baseline and a few attributes)."""
    if report["kind"] == "classes":
        return f"judge: one class per image, held-out accuracy {report['accuracy']:.4f}"
    named = [a for a in ("Male", "Smiling", "Eyeglasses") if a in report["accuracy"]]
    return (
        f"judge: {len(report['names'])} attributes, held-out mean accuracy "
        f"{report['mean_accuracy']:.4f} (always the majority value: "
        f"{report['majority_baseline']:.4f}"
        + "".join(f"; {a} {report['accuracy'][a]:.3f}" for a in named)
        + ")"
    )


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True, help="as `ganlab train DATASET`")
    p.add_argument("--data-root", type=Path, default=None)
    p.add_argument("--labels", type=Path, default=None, help="CelebA's list_attr_celeba.txt")
    p.add_argument("--image-size", type=int, required=True)
    p.add_argument("--recipes", nargs="+", required=True, help="NAME=OPTIONS or a recipe name")
    p.add_argument("--out", type=Path, required=True, help="runs go to OUT/NAME")
    p.add_argument("--steps", type=int, default=2000, help="training steps of every recipe")
    p.add_argument("--checkpoint-every", type=int, default=500, help="steps between judgings")
    p.add_argument(
        "--batch-size", type=int, default=None,
        help="every recipe's batch size (default: each recipe's own, else 128); --steps and "
        "--checkpoint-every count batches of it (or of 128)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--amp", default="off", help="every run's --amp (default off: float32)")
    p.add_argument("--device", default="auto", help="training, judge and generation")
    p.add_argument("--train-options", default="", help="more `ganlab train` options for all")
    p.add_argument("--n-gen", type=int, default=2000, help="generated (and real) images judged")
    p.add_argument(
        "--judge-epochs", type=int, default=None, help="default 3; 8 with --labels (fewer images)"
    )
    p.add_argument("--holdout", type=float, default=0.2, help="with --labels: held-out share")
    p.add_argument("--time-steps", type=int, default=0, help="only time S steps per recipe")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--train-only", action="store_true")
    mode.add_argument("--eval-only", action="store_true")
    args = p.parse_args(argv)
    if args.steps < 1 or args.checkpoint_every < 0 or args.time_steps < 0 or args.n_gen < 4:
        p.error("--steps must be >= 1, --checkpoint-every and --time-steps >= 0, --n-gen >= 4")
    if not 0 < args.holdout < 1:
        p.error("--holdout is a fraction in (0, 1), e.g. 0.2")
    if args.judge_epochs is None:  # 8 epochs of 8,000 faces: mean accuracy 0.87 at 32 px, 1: 0.82
        args.judge_epochs = 8 if args.labels else 3
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    recipes = [parse_recipe(t) for t in args.recipes]
    names = [r.name for r in recipes]
    if len(set(names)) != len(names):
        raise SystemExit(f"--recipes names a recipe twice: {' '.join(names)}")
    cfgs = {r.name: recipe_config(args, r) for r in recipes}  # every recipe checked first
    provenance = {
        "argv": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "ganlab_version": __version__,
        "dataset": args.dataset,
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "device": str(resolve_device(args.device)),
    }

    if args.time_steps:
        timing = time_steps(args, recipes, cfgs)
        first = recipes[0].name
        print(
            f"| recipe | batch | s/step | median s/step | ratio to {first} | ms/image | "
            f"per image, ratio to {first} |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for t in timing:
            print(
                f"| {t['name']} | {t['batch_size']} | {t['s_per_step']:.4f} | "
                f"{t['median_s_per_step']:.4f} | {t['ratio']:.3f} | {t['ms_per_image']:.3f} | "
                f"{t['ratio_per_image']:.3f} |"
            )
        write_json(
            args.out / "recipe_timing.json",
            {"kind": "recipe_timing", **provenance, "steps": args.time_steps, "recipes": timing},
        )
        return

    status = {}
    for r in recipes:
        found = list_checkpoints(args.out / r.name)
        if not args.eval_only:
            status[r.name] = ensure_trained(args, r, cfgs[r.name])
        elif found:
            check_same_run(args.out / r.name, r, cfgs[r.name])
            status[r.name] = f"judged as found (last checkpoint: step {found[-1][0]})"
        else:
            status[r.name] = "not trained yet"
    if args.train_only:
        return

    device = resolve_device(args.device)
    judge = load_judge(args, cfgs[recipes[0].name], device)
    n = min(args.n_gen, len(judge.heldout))
    pick = torch.randperm(len(judge.heldout), generator=torch.Generator().manual_seed(args.seed))
    reference = judge.heldout[pick[:n]]
    eval_id = hashlib.sha256(json.dumps([judge.identity, n], sort_keys=True).encode()).hexdigest()
    report = args.out / "recipe_quality.json"
    old = {}
    if report.is_file():  # rows judged before: reused for the same checkpoint, judge and N
        for row in json.loads(report.read_text()).get("rows", []):
            key = (row["recipe"], row["step"], row["weights"], row["checkpoint_sha256"])
            old[(*key, row["eval_id"])] = row
    floor = distances(judge.seen[:n], reference) if len(judge.seen) >= n else None

    print(
        f"{args.dataset} {args.image_size}px, {args.steps * (args.batch_size or REFERENCE_BATCH)} "
        "images per recipe; "
        f"{judge_summary(judge.report)}; reference: {n} of {judge.report['reference']}"
    )
    rows, recipes_out = [], []
    for r in recipes:
        judged = judge_run(args, r, judge, reference, eval_id, old)
        rows += judged.pop("rows")
        recipes_out.append(
            {
                "name": r.name,
                "options": r.options,
                "run": str(args.out / r.name),
                "batch_size": r.batch,
                "steps": r.steps,
                **judged,
            }  # fmt: skip
        )
        recipes_out[-1]["status"] = status[r.name]
    rows.sort(key=lambda row: (names.index(row["recipe"]), row["weights"] == "ema", row["step"]))
    print_table(rows, floor)
    write_json(
        report,
        {
            "kind": "recipe_quality",
            **provenance,
            "steps": args.steps,
            "checkpoint_every": args.checkpoint_every,
            "seed": args.seed,
            "n": n,
            "judge": {**judge.report, "identity": judge.identity},
            "real_floor": floor,
            "recipes": recipes_out,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
