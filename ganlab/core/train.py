"""`ganlab train`: the DCGAN training loop (paper section 4), with exact resume.

Data order and noise are functions of (seed, step), and the weights and optimizers are saved
whole, so a run interrupted at any step and resumed from its checkpoint continues bit-for-bit
like a run that never stopped (on the CPU; cuDNN kernels may differ run to run on a GPU). The
position of a run is its global step alone: epoch = step // steps_per_epoch, the batches of an
epoch come from a permutation seeded by (seed, epoch), and under torchrun each rank trains on
its slice of every global batch.

The loop reads top to bottom here; the pieces with one job each live beside it: core.order (the
batches and noise of a step), core.meter (running statistics, divergence), core.grid (the
per-epoch sample grid), core.runstate (run directory, resume, checkpoints), core.signals.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ganlab.core.amp import AmpChoice, resolve_amp
from ganlab.core.config import IDENTITY_FIELDS, TrainConfig
from ganlab.core.device import resolve_device
from ganlab.core.diffaug import parse_policy
from ganlab.core.distributed import DistEnv, any_rank, barrier
from ganlab.core.distributed import setup as setup_distributed
from ganlab.core.distributed import teardown as teardown_distributed
from ganlab.core.ema import GeneratorEMA
from ganlab.core.grid import SampleGrid
from ganlab.core.meter import Meter, check_finite
from ganlab.core.metrics import TrainingEval
from ganlab.core.models import build_models
from ganlab.core.order import (
    epoch_batches,
    kept_indices,
    real_batches,
    resident_images,
    step_noise,
)
from ganlab.core.runstate import new_run, resume_run, save_checkpoint_at
from ganlab.core.signals import install_signal_handlers, restore_signal_handlers
from ganlab.core.step import gan_step, prepare_models
from ganlab.core.trainset import conditional_classes
from ganlab.data.spec import open_dataset
from ganlab.errors import GanlabError, Interrupted, TrainingDiverged
from ganlab.io.checkpoint import Checkpoint, TrainingState, load_checkpoint
from ganlab.io.images import to_unit
from ganlab.io.rundir import COLLAPSED_LOSS_D
from ganlab.io.runspec import resolve_checkpoint_path, run_dir_of
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


def resume_config(run_dir: str | Path | Checkpoint, overrides: dict) -> TrainConfig:
    """The config to continue `run_dir` with: the run's own, plus explicit `overrides`.

    Options that define the run (dataset, shapes, seed, batch size...) may be repeated with
    their stored value but not changed: the checkpoint's weights and data order depend on them.
    `run_dir` may be its latest checkpoint, already loaded (then `train(resume=ckpt)` does not
    read it again).
    """
    ckpt = run_dir if isinstance(run_dir, Checkpoint) else load_checkpoint(run_dir)
    run_dir = run_dir_of(ckpt.path)
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
    resume: str | Path | Checkpoint | None = None,
    reporter: Reporter | None = None,
    command: list[str] | None = None,
) -> TrainResult:
    """Train a DCGAN, or continue one; under torchrun, one process of a DDP job.

    Args:
        cfg: the resolved config (for a resume, from `resume_config`).
        out: the run directory to create (default runs/<dataset>-<timestamp>); ignored when
            resuming.
        resume: a run directory to continue from its latest checkpoint, or that checkpoint
            already loaded (as `resume_config` was given it).
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
    keep = kept_indices(cfg, data, rep)  # None, or the indices left by --exclude
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
        G.parameters(), lr=cfg.g_lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay
    )
    opt_d = torch.optim.Adam(
        D.parameters(), lr=cfg.d_lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay
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
    if resume is not None:  # nets, optimizers and RNG states from its latest checkpoint
        run, ckpt, step = resume_run(resume, state, cfg, env, precision, rep)
    else:
        run, ckpt, step = new_run(out, state, cfg, data, env, precision, command, rep), None, 0
    # --ema: the averaged G starts as the (restored) G, or continues the checkpoint's average
    ema = None
    if cfg.ema is not None:
        ema = GeneratorEMA(G, cfg.ema, mcfg.nz, cfg.z_dist)
        if ckpt is not None and ckpt.has_ema:
            ema.load_state_dict(ckpt.ema_weights())
        elif ckpt is not None:
            rep.log(f"--ema {cfg.ema}: the run had no average; it starts from step {step}'s G")
        state.G_ema = ema.G
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
        loss=cfg.loss,
        diffaug=parse_policy(cfg.diffaug),
        r1=cfg.r1,
    )
    state.scaler_d, state.scaler_g = m.scaler_d, m.scaler_g  # fp16 only; made with the step
    if ckpt is not None:
        state.restore_scalers(ckpt)

    total_steps = cfg.epochs * steps_per_epoch
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    grid = SampleGrid(cfg.grid_seeds, mcfg, cfg.z_dist, device)  # the same seeds every epoch
    if step >= total_steps:  # e.g. a batch job resubmitted after its slice finished
        rep.log(
            f"{run.path} is already at step {step} (target {total_steps}); pass a larger "
            "--max-steps or --epochs to continue"
        )
        latest = resolve_checkpoint_path(run.path)
        return TrainResult(
            run_dir=str(run.path), step=step, epoch=step // steps_per_epoch, checkpoint=str(latest)
        )

    def rendering_G() -> torch.nn.Module:
        """The G that grids and evaluations show: the average (its statistics re-estimated
        for the current step) where the run keeps one, else the trained G."""
        if ema is None:
            return G
        ema.refresh_batchnorm(step, len(classes))
        return ema.G

    def checkpoint() -> Path:
        """Save the run at the current step (rank 0 writes); every rank gets the path."""
        if ema is not None:
            ema.refresh_batchnorm(step, len(classes))
        return save_checkpoint_at(run, state, step, cfg.keep, env.is_main)

    def render_grid(name: str) -> None:
        if env.is_main:
            grid.render(rendering_G(), run.samples_dir / name, run.tensorboard, step)

    # --- loop ---------------------------------------------------------------------------------
    stop_signal: list[int] = []
    old_handlers = install_signal_handlers(stop_signal)
    t_start = time.perf_counter()
    log_meter = Meter.on(device)  # the steps since the last metrics record
    epoch_meter = Meter.on(device)  # the steps of the current epoch
    images_total, skipped_total = 0, 0  # over this call's steps, all ranks / this rank
    last: dict = {}  # the last logged averages
    last_ckpt: Path | None = None
    resident = resident_images(data, device)
    rep.start(f"{cfg.data.name} {mcfg.image_size}px", total=total_steps, completed=step)
    if cfg.tensorboard and env.is_main:  # from here on every metrics record goes to RUN/tb too
        # a resumed run logs again from the step after its checkpoint: TensorBoard hides what
        # the interrupted session logged from there on
        run.tensorboard = TensorBoardWriter(run.tb_dir, purge_step=step + 1 if step else None)
    try:
        while step < total_steps:
            # data: the rest of the current epoch, this rank's slice of every global batch
            index_batches = epoch_batches(
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
            for raw, labels, skipped in real_batches(
                data, resident, index_batches, cfg.workers, device
            ):
                x = to_unit(raw.to(device, non_blocking=True))  # uint8 -> (b, C, S, S) in [-1, 1]
                b = x.shape[0]
                # a conditional run's G draws each fake in its real image's class (appendix)
                y = labels.to(device, non_blocking=True) if mcfg.num_classes else None

                # D and G step; a batch gutted by corrupt files is passed over
                stats = None  # (4,) on the device: loss_d, loss_g, D(x), D(G(z))
                if b >= 2 or env.enabled:
                    # one batch of latents per D update (--d-steps); the first is the paper's
                    z = [
                        step_noise(cfg.seed, step, env.rank, b, mcfg.nz, cfg.z_dist, k).to(device)
                        for k in range(cfg.d_steps)
                    ]
                    stats = gan_step(m, x, z, y, position=(cfg.seed, step, env.rank))
                    if ema is not None:
                        ema.update(step)
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
                    check_finite(step, log_meter, epoch_meter)
                    last_ckpt = checkpoint()

                # evaluate: FID/KID of G at a checkpoint, which becomes `best` if the lowest;
                # rank 0 scores, the other ranks wait
                if evaluator is not None and step % cfg.eval_every == 0:
                    if last_ckpt is None or last_ckpt.name != run.checkpoint_path(step).name:
                        check_finite(step, log_meter, epoch_meter)
                        last_ckpt = checkpoint()
                    paused = time.perf_counter()
                    evaluator.evaluate(rendering_G(), step, step / steps_per_epoch, last_ckpt, run)
                    barrier(env)
                    paused = time.perf_counter() - paused  # not training: keep img/s honest
                    log_meter.started += paused
                    epoch_meter.started += paused

                if not env.enabled:
                    stop = bool(stop_signal)
                if stop or step >= total_steps:
                    break
            if stop:
                check_finite(step, log_meter, epoch_meter)
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
            check_finite(step, log_meter, epoch_meter)
            render_grid(f"step-{step:08d}.png")
            last_ckpt = checkpoint()
    except TrainingDiverged as e:
        if env.is_main:  # recorded for `ganlab report`, which lists the run's warnings
            event = {"kind": "event", "event": "diverged", "step": step, "message": str(e)}
            run.append_metrics({**event, "time": time.time()})
        raise
    finally:
        rep.stop()
        restore_signal_handlers(old_handlers)
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
