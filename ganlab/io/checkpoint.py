"""Checkpoints: a complete, versioned record of a training run at one step.

A checkpoint is a ``torch.save`` dict holding only tensors and plain Python values, so it loads
with ``torch.load(weights_only=True)``: loading never executes code from the file. It holds both
nets, both optimizers, the step/epoch position, the resolved config, the RNG states, the ganlab
version and a format version. Files are written atomically; ``checkpoints/latest`` names the
newest complete one and is only updated after that file is in place.

The keys are spelled in this module only: `TrainingState` writes a training run's checkpoint
and restores one into a run being resumed; `load_checkpoint` validates a file and `Checkpoint`
reads the parts every other command needs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ganlab import __version__
from ganlab.errors import CheckpointError
from ganlab.io.atomic import atomic_path, write_text
from ganlab.io.runspec import BEST, LATEST, read_pointer, resolve_checkpoint_path
from ganlab.io.tensorfile import load_tensor_file
from ganlab.modelconfig import ModelConfig

FORMAT = "ganlab-checkpoint"
EMA_KEY = "generator_ema"  # the averaged G's weights, in runs trained with --ema
WEIGHTS = ("auto", "ema", "raw")  # `--weights`: which G a rendering command uses
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    """A loaded checkpoint. `state` is the raw dict; the fields are its validated parts."""

    path: Path
    model_config: ModelConfig
    train_config: dict
    step: int
    epoch: int
    state: dict
    label: int | None = None  # a conditional run's class held fixed by a command's --class
    weights: str = "auto"  # which G renders: "auto" (the average if any), "ema" or "raw"

    @property
    def has_ema(self) -> bool:
        """Whether the run kept an averaged G (`ganlab train --ema`)."""
        return EMA_KEY in self.state

    def ema_weights(self) -> dict:
        """The averaged G's weights (`has_ema` runs only)."""
        return self.state[EMA_KEY]

    def generator_weights(self) -> dict:
        """The G weights that render for this checkpoint's `weights` choice (see `use_weights`)."""
        return self.state[EMA_KEY if self.weights_used == "ema" else "generator"]

    @property
    def weights_used(self) -> str:
        """The G that renders, resolved from `weights`: "ema" (the averaged G) or "raw" (the
        trained G). Results and artifacts record it, so they say what they were made with."""
        return "ema" if self.weights != "raw" and self.has_ema else "raw"

    def use_weights(self, choice: str) -> Checkpoint:
        """Select which G renders: "auto" (the averaged G if the run has one, else the trained
        one), "ema" (the averaged G; an error if there is none) or "raw" (the trained G).

        Returns:
            self, for chaining.
        Raises:
            CheckpointError: "ema" for a run trained without --ema, or an unknown choice.
        """
        if choice not in WEIGHTS:
            raise CheckpointError(
                f"--weights {choice!r} is not a choice: use one of {', '.join(WEIGHTS)}."
            )
        if choice == "ema" and not self.has_ema:
            raise CheckpointError(
                f"--weights ema: {self.path} has no averaged G (the run was trained without "
                "--ema). Use --weights raw or auto, or train with --ema 0.999."
            )
        self.weights = choice
        return self

    @property
    def z_dist(self) -> str:
        return self.train_config.get("z_dist", "uniform")

    @property
    def class_names(self) -> list[str]:
        """A conditional run's class names, label index order; [] for an unconditional run."""
        k = self.model_config.num_classes
        names = [str(c) for c in self.state.get("class_names", [])]
        return names if len(names) == k else [str(i) for i in range(k)]

    def sha256(self) -> str:
        """Hash of the file's bytes: records where derived artifacts came from."""
        return file_sha256(self.path)


@dataclass
class TrainingState:
    """The live objects of a training run that a checkpoint records and a resume restores.

    The nets are the plain modules (not their DDP or torch.compile wrappers). The loop's own
    randomness is position-derived (noise and data order are functions of seed and step); the
    global RNG states are saved for anything else that draws from them.
    """

    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    config: dict  # the resolved TrainConfig, as TrainConfig.to_dict()
    model_config: ModelConfig
    steps_per_epoch: int
    world_size: int  # processes of the job (1 without torchrun)
    device: torch.device  # the training device: on CUDA its RNG states are saved too
    scaler_d: torch.amp.GradScaler | None = None  # fp16 loss scalers (--amp fp16), else None
    scaler_g: torch.amp.GradScaler | None = None
    class_names: list[str] = field(default_factory=list)  # a conditional run's, by label
    G_ema: nn.Module | None = None  # the averaged G (--ema), saved beside the trained one

    def snapshot(self, step: int) -> dict:
        """The checkpoint of the run at `step`, for `save_checkpoint`.

        Args:
            step: optimizer steps taken since the run's start.
        Returns:
            A dict of tensors and plain values (loadable with ``weights_only=True``).
        """
        state = {
            "config": self.config,
            "model_config": self.model_config.to_dict(),
            "step": step,
            "epoch": step // self.steps_per_epoch,
            "steps_per_epoch": self.steps_per_epoch,
            "world_size": self.world_size,
            "generator": _contiguous(self.G.state_dict()),
            "discriminator": _contiguous(self.D.state_dict()),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
            },
        }
        if self.G_ema is not None:
            state[EMA_KEY] = _contiguous(self.G_ema.state_dict())
        if self.class_names:
            state["class_names"] = list(self.class_names)
        if self.scaler_d is not None:
            state["scalers"] = {"d": self.scaler_d.state_dict(), "g": self.scaler_g.state_dict()}
        return state

    def restore(self, ckpt: Checkpoint) -> int:
        """Load a checkpoint's nets, optimizers and global RNG states into this run.

        The CUDA RNG states are restored only on CUDA with as many devices as saved them. The
        loss scalers come later (`restore_scalers`), once the step models have made them.

        Args:
            ckpt: a checkpoint of a run with this model config.
        Returns:
            The checkpoint's step.
        """
        self.G.load_state_dict(ckpt.state["generator"])
        self.D.load_state_dict(ckpt.state["discriminator"])
        self.opt_g.load_state_dict(ckpt.state["opt_g"])
        self.opt_d.load_state_dict(ckpt.state["opt_d"])
        torch.set_rng_state(ckpt.state["rng"]["torch"])
        cuda_states = ckpt.state["rng"]["cuda"]
        if self.device.type == "cuda" and len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
        return ckpt.step

    def restore_scalers(self, ckpt: Checkpoint) -> None:
        """Load a checkpoint's fp16 loss scalers into `scaler_d`/`scaler_g`, where both exist."""
        if self.scaler_d is not None and "scalers" in ckpt.state:
            self.scaler_d.load_state_dict(ckpt.state["scalers"]["d"])
            self.scaler_g.load_state_dict(ckpt.state["scalers"]["g"])


def save_checkpoint(path: Path, state: dict) -> None:
    """Write `state` (plus format markers) atomically to `path`."""
    record = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "ganlab_version": __version__,
        **state,
    }
    with atomic_path(path) as tmp:
        torch.save(record, tmp)


def load_checkpoint(path: str | Path, which: str | int | None = None) -> Checkpoint:
    """Load and validate a checkpoint file or one of a run directory's checkpoints.

    Args:
        path: a ``.pt`` file written by ganlab, or a run directory, optionally as RUN:best,
            RUN:latest or RUN:STEP (see `resolve_checkpoint_path`).
        which: the checkpoint of a run directory: "latest" (default), "best" or a step.
    Returns:
        The validated Checkpoint (weights stay on the CPU until a net is built).
    Raises:
        CheckpointError: the file is missing, truncated, not a ganlab checkpoint, needs
            arbitrary unpickling, or comes from a newer format.
    """
    path = resolve_checkpoint_path(path, which)
    state = load_tensor_file(
        path,
        "checkpoint",
        CheckpointError,
        "Pass a run directory or a .pt file written by `ganlab train` (if a run was killed "
        "while saving, an older checkpoint in its checkpoints/ folder).",
    )
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a ganlab checkpoint (no '{FORMAT}' marker). "
            "Pass a run directory or a .pt file written by `ganlab train`."
        )
    version = state.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {version!r}, newer than this "
            f"ganlab ({__version__}) reads (<= {FORMAT_VERSION}); upgrade "
            "ganlab."
        )
    missing = [
        k
        for k in ("generator", "discriminator", "model_config", "config", "step")
        if k not in state
    ]
    if missing:
        raise CheckpointError(
            f"{path} is an incomplete ganlab checkpoint: missing {', '.join(missing)}."
        )
    try:
        model_config = ModelConfig(**state["model_config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path} has an invalid model config: {e}") from None
    return Checkpoint(
        path=path,
        model_config=model_config,
        train_config=state["config"],
        step=int(state["step"]),
        epoch=int(state.get("epoch", 0)),
        state=state,
    )


def write_latest(ckdir: Path, name: str) -> None:
    """Point `ckdir/latest` at checkpoint file `name` (after it is completely written)."""
    write_text(ckdir / LATEST, name + "\n")


def write_best(ckdir: Path, name: str) -> None:
    """Point `ckdir/best` at checkpoint file `name`, the lowest FID so far."""
    write_text(ckdir / BEST, name + "\n")


def prune_checkpoints(ckdir: Path, keep: int) -> None:
    """Delete all but the newest `keep` step checkpoints (never one `latest` or `best` names)."""
    files = sorted(ckdir.glob("step-*.pt"))
    protected = {read_pointer(ckdir, LATEST), read_pointer(ckdir, BEST)}
    for f in files[:-keep] if keep > 0 else []:
        if f.name not in protected:
            f.unlink(missing_ok=True)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _contiguous(state: dict) -> dict:
    """State dict tensors in the default memory format (checkpoints don't depend on NHWC)."""
    return {k: v.contiguous() for k, v in state.items()}
