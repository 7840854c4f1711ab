"""`ganlab train`: the DCGAN training loop (paper section 4), with exact resume.

Data order and noise are functions of (seed, step), and the weights and optimizers are saved
whole, so a run interrupted at any step and resumed from its checkpoint continues bit-for-bit
like a run that never stopped (on the CPU; cuDNN kernels may differ run to run on a GPU). The
position of a run is its global step alone: epoch = step // steps_per_epoch, the batches of an
epoch come from a permutation seeded by (seed, epoch), and under torchrun each rank trains on
its slice of every global batch.
"""

from __future__ import annotations

import math
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ganlab import __version__
from ganlab.core.amp import AmpChoice, resolve_amp
from ganlab.core.config import IDENTITY_FIELDS, TrainConfig
from ganlab.core.device import resolve_device
from ganlab.core.distributed import DistEnv, any_rank, barrier, mean_over_ranks
from ganlab.core.distributed import setup as setup_distributed
from ganlab.core.distributed import teardown as teardown_distributed
from ganlab.core.generate import class_grid
from ganlab.core.metrics import TrainingEval
from ganlab.core.models import build_models
from ganlab.core.seeds import sample_z, z_from_seeds
from ganlab.core.step import gan_step, prepare_models
from ganlab.core.trainset import conditional_classes
from ganlab.data.batches import batches
from ganlab.data.memory import InMemoryDataset
from ganlab.data.spec import open_dataset
from ganlab.errors import GanlabError, Interrupted, TrainingDiverged
from ganlab.io.checkpoint import (
    TrainingState,
    load_checkpoint,
    prune_checkpoints,
    resolve_checkpoint_path,
    save_checkpoint,
    write_latest,
)
from ganlab.io.images import grid_image, png_bytes, save_png, to_unit
from ganlab.io.rundir import COLLAPSED_LOSS_D, RunDir, default_run_dir
from ganlab.io.seedlist import parse_seeds
from ganlab.io.tensorboard import TensorBoardWriter, summary_writer_class
from ganlab.progress import Reporter


@dataclass
class TrainResult:
    """What a finished `train` call reports (also printed by `--json`)."""

    run_dir: str
    step: int
    epoch: int
    checkpoint: str | None
    final: dict = field(default_factory=dict)  # last logged loss_d, loss_g, d_x, d_g_z
    images_per_s: float = 0.0
    elapsed_s: float = 0.0
    skipped: int = 0


STAT_NAMES = ("loss_d", "loss_g", "d_x", "d_g_z")  # what `gan_step` returns, in order


@dataclass
class Meter:
    """Running totals of the training statistics over a span of steps (a log interval, an epoch).

    The sums stay on the training device, so counting a step does not wait for it; reading the
    averages is the span's one device sync (and, under torchrun, its one all-reduce).
    """

    sums: torch.Tensor  # (4,) STAT_NAMES summed over the steps that trained
    steps: int = 0  # steps that trained (a batch gutted by corrupt files is passed over)
    images: int = 0  # real images trained on, all ranks together
    skipped: int = 0  # unreadable images left out of this rank's batches
    started: float = field(default_factory=time.perf_counter)  # when the span began

    @classmethod
    def on(cls, device: torch.device) -> Meter:
        """An empty meter whose sums live on `device`."""
        return cls(torch.zeros(4, device=device))

    def add(self, stats: torch.Tensor | None, images: int, skipped: int) -> None:
        """Count one step.

        Args:
            stats: the step's (4,) `gan_step` statistics, or None if it did not train.
            images: real images the step trained on, all ranks together (ignored when None).
            skipped: unreadable images left out of this rank's batch.
        """
        self.skipped += skipped
        if stats is not None:
            self.sums += stats
            self.steps += 1
            self.images += images

    def averages(self, env: DistEnv, step: int) -> dict:
        """Mean statistics per trained step over all ranks, rounded for metrics.jsonl.

        Args:
            env: the process group the means are taken over.
            step: the current step (named in the error).
        Returns:
            {name: mean} for STAT_NAMES, rounded to 6 decimals.
        Raises:
            TrainingDiverged: a mean is NaN or infinite.
        """
        values = (mean_over_ranks(self.sums, env) / max(self.steps, 1)).tolist()
        if not all(math.isfinite(v) for v in values):
            raise _diverged(step)
        return {k: round(v, 6) for k, v in zip(STAT_NAMES, values, strict=True)}

    def seconds(self) -> float:
        """Seconds since the span began."""
        return time.perf_counter() - self.started

    def reset(self) -> None:
        """Begin a new span now."""
        self.sums.zero_()
        self.steps, self.images, self.skipped = 0, 0, 0
        self.started = time.perf_counter()


def resume_config(run_dir: str | Path, overrides: dict) -> TrainConfig:
    """The config to continue `run_dir` with: the run's own, plus explicit `overrides`.

    Options that define the run (dataset, shapes, seed, batch size...) may be repeated with
    their stored value but not changed: the checkpoint's weights and data order depend on them.
    """
    ckpt = load_checkpoint(run_dir)
    if "opt_g" not in ckpt.state:  # `ganlab import`: weights only, no training state
        raise GanlabError(
            f"{run_dir} was imported (`ganlab import`), not trained by ganlab: it holds the "
            "nets but no optimizer state or data position to resume from. Train a new run "
            "with --out instead."
        )
    cfg = TrainConfig.from_dict(ckpt.train_config)
    changed = [
        k for k in IDENTITY_FIELDS if overrides.get(k) is not None and overrides[k] != cfg.option(k)
    ]
    if changed:
        detail = ", ".join(
            f"--{k.replace('_', '-')} {overrides[k]} (run has {cfg.option(k)})" for k in changed
        )
        raise GanlabError(
            f"cannot change {detail} when resuming {run_dir}: the checkpoint's "
            "weights and data order depend on it. Drop the option, or start a new "
            "run with --out."
        )
    return cfg.replace(**{k: v for k, v in overrides.items() if v is not None})


def train(
    cfg: TrainConfig,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    reporter: Reporter | None = None,
    command: list[str] | None = None,
) -> TrainResult:
    """Train a DCGAN, or continue one; under torchrun, one process of a DDP job.

    Args:
        cfg: the resolved config (for a resume, from `resume_config`).
        out: the run directory to create (default runs/<dataset>-<timestamp>); ignored when
            resuming.
        resume: a run directory to continue from its latest checkpoint.
        reporter: progress output; default a quiet one. Ranks other than 0 are always quiet.
        command: the command line, recorded in config.json.
    Returns:
        A TrainResult.
    Raises:
        GanlabError (and subclasses): bad data, unusable checkpoint, divergence, interruption.
    """
    env, device = setup_distributed(resolve_device(cfg.device))
    try:
        result = _train(cfg, out, resume, reporter, command, env, device)
    except BaseException:
        teardown_distributed(env, clean=False)
        raise
    teardown_distributed(env)
    return result


def _train(
    cfg: TrainConfig,
    out,
    resume,
    reporter: Reporter | None,
    command,
    env: DistEnv,
    device: torch.device,
) -> TrainResult:
    rep = reporter if reporter is not None and env.is_main else Reporter(quiet=True)
    if cfg.tensorboard:
        summary_writer_class()  # without the extra installed, fail before any work
    precision = resolve_amp(cfg.amp, device)
    # `auto` probes on each rank; the ranks train in bf16 only if every one of them chose it
    any_float32 = env.enabled and any_rank(precision.amp != "bf16", env, device)
    if any_float32 and precision.amp == "bf16":
        precision = AmpChoice("off", f"{precision.reason}; another rank chose float32, so float32")
    rep.log(f"precision: {precision.reason}")
    amp = precision.amp
    if cfg.batch_size % env.world_size:
        raise GanlabError(
            f"--batch-size {cfg.batch_size} (the global batch) must divide evenly "
            f"among {env.world_size} processes."
        )
    # --eval-every: the metrics library and Inception weights are checked before any work
    evaluator = TrainingEval(cfg, device, env.is_main, rep) if cfg.eval_every else None
    data = open_dataset(cfg.data)
    keep = _kept_indices(cfg, data, rep)  # None, or the indices left by --exclude
    n = len(data) if keep is None else len(keep)
    if n < cfg.batch_size:
        raise GanlabError(
            f"the {cfg.data.name} {cfg.data.split} split has {n} images, fewer than one "
            f"batch (--batch-size {cfg.batch_size}). Use a smaller --batch-size."
        )
    steps_per_epoch = n // cfg.batch_size  # the last partial batch is dropped (BatchNorm)
    classes = conditional_classes(data) if cfg.conditional else []  # label -> name
    mcfg = cfg.model_config(data.image_size, data.channels, len(classes))

    # --- models, optimizers, position -------------------------------------------------------
    torch.manual_seed(cfg.seed)
    G, D = build_models(mcfg)
    G.to(device).train()
    D.to(device).train()
    opt_g = torch.optim.Adam(
        G.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay
    )
    opt_d = torch.optim.Adam(
        D.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay
    )
    state = TrainingState(  # what a checkpoint records, and a resume restores
        G,
        D,
        opt_g,
        opt_d,
        config=cfg.to_dict(),
        model_config=mcfg,
        steps_per_epoch=steps_per_epoch,
        world_size=env.world_size,
        device=device,
        class_names=classes,
    )
    step = 0
    ckpt = None
    if resume is not None:
        run = RunDir(resume)
        ckpt = load_checkpoint(resume)
        if ckpt.model_config != mcfg:
            raise GanlabError(
                f"the dataset now gives {data.image_size}px x {data.channels} "
                f"channels but {resume} was trained on {ckpt.model_config}. Resume "
                "with the data the run was trained on."
            )
        step = state.restore(ckpt)  # nets, optimizers, RNG states
        _set_lr(opt_g, cfg)
        _set_lr(opt_d, cfg)
        if env.is_main:
            run.append_metrics(
                {
                    "kind": "event",
                    "event": "resume",
                    "step": step,
                    "checkpoint": ckpt.path.name,
                    "world_size": env.world_size,
                    "precision": precision.to_dict(),
                    "time": time.time(),
                }
            )
        rep.log(f"resuming {run.path} from step {step} ({ckpt.path.name})")
    else:
        run = RunDir(out or default_run_dir(cfg.data.name))
        if env.is_main:
            run.create(
                {
                    "ganlab_version": __version__,
                    "config": cfg.to_dict(),
                    "model": mcfg.to_dict(),
                    "dataset": data.describe(),
                    **({"classes": classes} if classes else {}),
                    "steps_per_epoch": steps_per_epoch,
                    "device": str(device),
                    "precision": precision.to_dict(),
                    "world_size": env.world_size,
                    "command": command or [],
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                }
            )
        barrier(env)  # the directory exists before any rank goes on
        rep.log(f"run directory: {run.path}")
    if evaluator is not None:  # the reference features (cached) and, resuming, the best FID
        evaluator.prepare(data, mcfg.image_size, mcfg.channels, run)
        barrier(env)
    m = prepare_models(
        G,
        D,
        opt_g,
        opt_d,
        device,
        amp=amp,
        channels_last=cfg.channels_last,
        compile=cfg.compile,
        ddp=env.enabled,
    )
    state.scaler_d, state.scaler_g = m.scaler_d, m.scaler_g  # fp16 only; made with the step
    if ckpt is not None:
        state.restore_scalers(ckpt)

    total_steps = cfg.epochs * steps_per_epoch
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    # the fixed-noise grid; a conditional run's has one row per class (core.generate.class_grid)
    grid_seeds, grid_y = class_grid(parse_seeds(cfg.grid_seeds), mcfg.num_classes)
    grid_z = z_from_seeds(grid_seeds, mcfg.nz, cfg.z_dist).to(device)
    grid_y = None if grid_y is None else grid_y.to(device)
    grid_nrow = len(grid_seeds) // mcfg.num_classes if mcfg.num_classes else None
    if step >= total_steps:  # e.g. a batch job resubmitted after its slice finished
        rep.log(
            f"{run.path} is already at step {step} (target {total_steps}); pass a larger "
            "--max-steps or --epochs to continue"
        )
        latest = resolve_checkpoint_path(run.path)
        return TrainResult(
            run_dir=str(run.path), step=step, epoch=step // steps_per_epoch, checkpoint=str(latest)
        )

    def checkpoint() -> Path:
        """Save the run at the current step (rank 0 writes); every rank gets the path."""
        path = run.checkpoint_path(step)
        if env.is_main:
            save_checkpoint(path, state.snapshot(step))
            write_latest(run.checkpoints_dir, path.name)
            prune_checkpoints(run.checkpoints_dir, cfg.keep)
        return path

    def render_grid(name: str) -> None:
        if not env.is_main:
            return
        G.eval()  # eval-mode BatchNorm: the grid equals `ganlab sample --seeds <grid seeds>`
        with torch.no_grad():
            img = grid_image(G(grid_z, grid_y).float(), nrow=grid_nrow)
        G.train()
        save_png(img, run.samples_dir / name)
        if run.tensorboard is not None:
            run.tensorboard.write_grid(step, png_bytes(img))

    # --- loop ---------------------------------------------------------------------------------
    stop_signal: list[int] = []
    old_handlers = _install_signal_handlers(stop_signal)
    t_start = time.perf_counter()
    log_meter = Meter.on(device)  # the steps since the last metrics record
    epoch_meter = Meter.on(device)  # the steps of the current epoch
    images_total, skipped_total = 0, 0  # over this call's steps, all ranks / this rank
    last: dict = {}  # the last logged averages
    last_ckpt: Path | None = None
    resident = _resident_images(data, device)
    rep.start(f"{cfg.data.name} {mcfg.image_size}px", total=total_steps, completed=step)
    if cfg.tensorboard and env.is_main:  # from here on every metrics record goes to RUN/tb too
        # a resumed run logs again from the step after its checkpoint: TensorBoard hides what
        # the interrupted session logged from there on
        run.tensorboard = TensorBoardWriter(run.tb_dir, purge_step=step + 1 if step else None)
    try:
        while step < total_steps:
            # data: the rest of the current epoch, this rank's slice of every global batch
            index_batches = _epoch_batches(
                n,
                cfg.batch_size,
                cfg.seed,
                epoch=step // steps_per_epoch,
                first=step % steps_per_epoch,
            )
            if keep is not None:  # positions in the kept list -> dataset indices
                index_batches = [keep[idx] for idx in index_batches]
            index_batches = [idx[env.rank :: env.world_size] for idx in index_batches]
            stop = False
            for raw, labels, skipped in _real_batches(
                data, resident, index_batches, cfg.workers, device
            ):
                x = to_unit(raw.to(device, non_blocking=True))  # uint8 -> (b, C, S, S) in [-1, 1]
                b = x.shape[0]
                # a conditional run's G draws each fake in its real image's class (appendix)
                y = labels.to(device, non_blocking=True) if mcfg.num_classes else None

                # D and G step; a batch gutted by corrupt files is passed over
                stats = None  # (4,) on the device: loss_d, loss_g, D(x), D(G(z))
                if b >= 2 or env.enabled:
                    z = step_noise(cfg.seed, step, env.rank, b, mcfg.nz, cfg.z_dist).to(device)
                    stats = gan_step(m, x, z, y)
                    images_total += b * env.world_size
                skipped_total += skipped
                log_meter.add(stats, b * env.world_size, skipped)
                epoch_meter.add(stats, b * env.world_size, skipped)
                step += 1
                rep.update(step)

                # log: one device sync per interval, not per step
                end_of_epoch = step % steps_per_epoch == 0
                if step % cfg.log_every == 0 or end_of_epoch or step == total_steps:
                    last = log_meter.averages(env, step)
                    record = {
                        "kind": "train",
                        "epoch": step / steps_per_epoch,
                        "step": step,
                        **last,
                        "images_per_s": round(log_meter.images / log_meter.seconds(), 2),
                        "skipped": log_meter.skipped,
                        "time": time.time(),
                    }
                    if env.is_main:
                        run.append_metrics(record)
                    rep.update(
                        step, status=f"loss_d {last['loss_d']:.3f} loss_g {last['loss_g']:.3f}"
                    )
                    if not rep.live:
                        rep.log(
                            f"step {step}/{total_steps} epoch {record['epoch']:.2f} "
                            f"loss_d {last['loss_d']:.4f} loss_g {last['loss_g']:.4f} "
                            f"D(x) {last['d_x']:.3f} D(G(z)) {last['d_g_z']:.3f} "
                            f"{record['images_per_s']:.1f} img/s"
                        )
                    if last["loss_d"] < COLLAPSED_LOSS_D:
                        rep.warn(
                            f"D's loss is {last['loss_d']:.2e} at step {step}: D wins outright "
                            "and G gets almost no gradient. Usual fixes: check the data is "
                            "scaled to [-1, 1] and varied, lower --lr, or restart with another "
                            "--seed."
                        )
                    log_meter.reset()
                    # all ranks agree to stop at the same step (checked at log intervals)
                    stop = any_rank(bool(stop_signal), env, device)

                # epoch end: summary and grid
                if end_of_epoch:
                    epochs_done = step // steps_per_epoch
                    summary = epoch_meter.averages(env, step)
                    if env.is_main:
                        run.append_metrics(
                            {
                                "kind": "epoch",
                                "epoch": epochs_done,
                                "step": step,
                                **summary,
                                "skipped": epoch_meter.skipped,
                                "epoch_time_s": round(epoch_meter.seconds(), 3),
                                "time": time.time(),
                            }
                        )
                    if epoch_meter.skipped:
                        rep.warn(
                            f"epoch {epochs_done}: skipped {epoch_meter.skipped} "
                            "unreadable image(s)"
                        )
                    render_grid(f"epoch-{epochs_done:04d}.png")

                # checkpoint: at each epoch end, and every --checkpoint-every steps in between
                if end_of_epoch:
                    last_ckpt = checkpoint()
                    epoch_meter.reset()  # the next epoch is timed from here
                elif cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                    _check_finite(step, log_meter, epoch_meter)
                    last_ckpt = checkpoint()

                # evaluate: FID/KID of G at a checkpoint, which becomes `best` if the lowest;
                # rank 0 scores, the other ranks wait
                if evaluator is not None and step % cfg.eval_every == 0:
                    if last_ckpt is None or last_ckpt.name != run.checkpoint_path(step).name:
                        _check_finite(step, log_meter, epoch_meter)
                        last_ckpt = checkpoint()
                    paused = time.perf_counter()
                    evaluator.evaluate(G, step, step / steps_per_epoch, last_ckpt, run)
                    barrier(env)
                    paused = time.perf_counter() - paused  # not training: keep img/s honest
                    log_meter.started += paused
                    epoch_meter.started += paused

                if not env.enabled:
                    stop = bool(stop_signal)
                if stop or step >= total_steps:
                    break
            if stop:
                _check_finite(step, log_meter, epoch_meter)
                path = checkpoint()
                name = signal.Signals(stop_signal[0]).name if stop_signal else "a signal"
                raise Interrupted(
                    f"stopped by {name} at step {step}; saved {path}. Continue with: "
                    f"ganlab train --resume {run.path}"
                )
        # a run that ends mid-epoch (--max-steps) still leaves a grid and a checkpoint
        if step % steps_per_epoch != 0 and (
            last_ckpt is None or last_ckpt.name != run.checkpoint_path(step).name
        ):
            _check_finite(step, log_meter, epoch_meter)
            render_grid(f"step-{step:08d}.png")
            last_ckpt = checkpoint()
    except TrainingDiverged as e:
        if env.is_main:  # recorded for `ganlab report`, which lists the run's warnings
            event = {"kind": "event", "event": "diverged", "step": step, "message": str(e)}
            run.append_metrics({**event, "time": time.time()})
        raise
    finally:
        rep.stop()
        _restore_signal_handlers(old_handlers)
        if run.tensorboard is not None:
            run.tensorboard.close()

    elapsed = time.perf_counter() - t_start
    result = TrainResult(
        run_dir=str(run.path),
        step=step,
        epoch=step // steps_per_epoch,
        checkpoint=str(last_ckpt) if last_ckpt else None,
        final=last,
        images_per_s=round(images_total / elapsed, 2),
        elapsed_s=round(elapsed, 3),
        skipped=skipped_total,
    )
    rep.log(
        f"done: step {step} (epoch {step / steps_per_epoch:.2f}) in {elapsed:.1f}s, "
        f"{result.images_per_s:.1f} img/s; samples in {run.samples_dir}"
    )
    return result


def step_noise(seed: int, step: int, rank: int, n: int, nz: int, dist: str) -> torch.Tensor:
    """The latents (n, nz) of one step on one rank: a pure function of (seed, step, rank).

    Deriving noise from the position, not from a running generator, makes resume exact with
    no RNG state to save, at any world size.
    """
    gen = torch.Generator().manual_seed((seed % 2**20) * 2**42 + step * 2**10 + rank % 2**10)
    return sample_z(n, nz, dist, gen)


def _resident_images(data, device: torch.device) -> torch.Tensor | None:
    """Keep an in-memory uint8 dataset on the GPU when it is small (no per-step copies)."""
    if not isinstance(data, InMemoryDataset) or device.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(device)
    if data.images.numel() > free // 4:
        return None
    return data.images.to(device)


def _kept_indices(cfg: TrainConfig, data, rep: Reporter) -> torch.Tensor | None:
    """Dataset indices left after `--exclude` (None without it)."""
    if cfg.exclude is None:
        return None
    from ganlab.data.exclusion import kept_indices

    keep = torch.from_numpy(kept_indices(cfg.exclude, data))
    rep.log(
        f"--exclude {cfg.exclude}: leaving out {len(data) - len(keep)} of {len(data)} "
        "images (near-duplicates)"
    )
    return keep


def _epoch_batches(n: int, batch_size: int, seed: int, epoch: int, first: int) -> list:
    """Index batches of one epoch from batch `first` on: a permutation seeded by (seed, epoch)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=gen)
    steps = n // batch_size
    return [perm[i * batch_size : (i + 1) * batch_size] for i in range(first, steps)]


def _real_batches(
    data, resident: torch.Tensor | None, index_batches: list, workers: int, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
    """The real images and labels of each index batch, in order.

    Args:
        data: the training ImageDataset.
        resident: its images already on the GPU (`_resident_images`), or None.
        index_batches: (b,) int64 dataset indices of each batch.
        workers: decoding processes for a file-backed dataset.
        device: the training device (batches for CUDA are pinned).
    Returns:
        An iterator of (uint8 images (b', C, S, S), int64 labels (b',) on the CPU, unreadable
        images left out: b - b').
    """
    if resident is not None:  # the dataset is on the GPU already
        for idx in index_batches:
            yield resident[idx.to(device)], data.labels[idx], 0
        return
    for batch in batches(data, index_batches, workers=workers, pin_memory=device.type == "cuda"):
        yield batch.images, batch.labels, batch.skipped


def _diverged(step: int) -> TrainingDiverged:
    return TrainingDiverged(
        f"training diverged: a loss became NaN or infinite before step {step}. The last good "
        "checkpoint is kept in checkpoints/ (see `latest`). Resume from it with a lower --lr, "
        "or restart with another --seed."
    )


def _check_finite(step: int, *meters: Meter) -> None:
    """Refuse to checkpoint a diverged state: the last good checkpoint must stay `latest`."""
    if not all(torch.isfinite(meter.sums).all() for meter in meters):
        raise _diverged(step)


def _set_lr(opt: torch.optim.Optimizer, cfg: TrainConfig) -> None:
    """Apply (possibly overridden) hyperparameters to a restored optimizer."""
    for group in opt.param_groups:
        group["lr"] = cfg.lr
        group["betas"] = (cfg.beta1, cfg.beta2)
        group["weight_decay"] = cfg.weight_decay


def _install_signal_handlers(flag: list[int]) -> dict:
    """SIGINT/SIGTERM set `flag`; the loop checkpoints and stops after the current step."""

    def handler(signum, _frame):
        if flag:  # a second signal: stop now
            raise KeyboardInterrupt
        flag.append(signum)
        print(
            f"\n{signal.Signals(signum).name}: saving a checkpoint after this step "
            "(send again to stop at once)",
            file=sys.stderr,
        )

    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            old[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread (e.g. called from a worker thread)
            pass
    return old


def _restore_signal_handlers(old: dict) -> None:
    for sig, h in old.items():
        signal.signal(sig, h)
