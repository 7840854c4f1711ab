"""A training run on disk: a new run directory, a run resumed, a checkpoint written.

A new run writes config.json (what the run is, once); a resumed one continues from its latest
checkpoint with the config core.train.resume_config allows, and records a resume event. Every
checkpoint moves `latest` and prunes the oldest (never `latest` or `best`).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from ganlab import __version__
from ganlab.core.amp import AmpChoice
from ganlab.core.config import TrainConfig
from ganlab.core.distributed import DistEnv, barrier
from ganlab.data.base import ImageDataset
from ganlab.errors import GanlabError
from ganlab.io.checkpoint import (
    Checkpoint,
    TrainingState,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
    write_latest,
)
from ganlab.io.rundir import RunDir, default_run_dir
from ganlab.io.runspec import run_dir_of
from ganlab.progress import Reporter


def new_run(
    out: str | Path | None,
    state: TrainingState,
    cfg: TrainConfig,
    data: ImageDataset,
    env: DistEnv,
    precision: AmpChoice,
    command: list[str] | None,
    rep: Reporter,
) -> RunDir:
    """Create the run directory (rank 0) with its config.json; every rank gets the RunDir.

    Args:
        out: the directory (default runs/<dataset>-<timestamp>).
        state: the fresh nets and optimizers, with the run's shape and classes.
        cfg: the resolved config.
        data: the training data (described in config.json).
        env: the process group.
        precision: the precision the run trains in.
        command: the command line.
        rep: progress output.
    """
    run = RunDir(out or default_run_dir(cfg.data.name))
    if env.is_main:
        run.create(
            {
                "ganlab_version": __version__,
                "config": cfg.to_dict(),
                "model": state.model_config.to_dict(),
                "dataset": data.describe(),
                **({"classes": state.class_names} if state.class_names else {}),
                "steps_per_epoch": state.steps_per_epoch,
                "device": str(state.device),
                "precision": precision.to_dict(),
                "world_size": env.world_size,
                "command": command or [],
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
        )
    barrier(env)  # the directory exists before any rank goes on
    rep.log(f"run directory: {run.path}")
    return run


def resume_run(
    resume: str | Path | Checkpoint,
    state: TrainingState,
    cfg: TrainConfig,
    env: DistEnv,
    precision: AmpChoice,
    rep: Reporter,
) -> tuple[RunDir, Checkpoint, int]:
    """Restore `state` from the run's latest checkpoint and record the resume (rank 0).

    Args:
        resume: the run directory, or its latest checkpoint already loaded.
        state: fresh nets and optimizers of the run's shape, restored in place.
        cfg: the config to continue with (`resume_config`): its lr, betas and weight decay
            replace the optimizers' stored ones.
        env: the process group.
        precision: the precision the run continues in.
        rep: progress output.
    Returns:
        (the RunDir, the checkpoint, its step).
    Raises:
        GanlabError: the data now gives another shape than the run was trained on.
    """
    ckpt = resume if isinstance(resume, Checkpoint) else load_checkpoint(resume)
    run = RunDir(run_dir_of(ckpt.path))
    resume = run.path
    mcfg = state.model_config
    if ckpt.model_config != mcfg:
        raise GanlabError(
            f"the dataset now gives {mcfg.image_size}px x {mcfg.channels} "
            f"channels but {resume} was trained on {ckpt.model_config}. Resume "
            "with the data the run was trained on."
        )
    step = state.restore(ckpt)  # nets, optimizers, RNG states
    _set_hyperparameters(state.opt_g, cfg, cfg.g_lr)
    _set_hyperparameters(state.opt_d, cfg, cfg.d_lr)
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
    return run, ckpt, step


def save_checkpoint_at(
    run: RunDir, state: TrainingState, step: int, keep: int, is_main: bool
) -> Path:
    """Save the run at `step` (rank 0 writes), point `latest` at it and keep the last `keep`;
    every rank gets the path."""
    path = run.checkpoint_path(step)
    if is_main:
        save_checkpoint(path, state.snapshot(step))
        write_latest(run.checkpoints_dir, path.name)
        prune_checkpoints(run.checkpoints_dir, keep)
    return path


def _set_hyperparameters(opt: torch.optim.Optimizer, cfg: TrainConfig, lr: float) -> None:
    """Apply (possibly overridden) hyperparameters to a restored optimizer."""
    for group in opt.param_groups:
        group["lr"] = lr
        group["betas"] = (cfg.beta1, cfg.beta2)
        group["weight_decay"] = cfg.weight_decay
