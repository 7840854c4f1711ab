"""Checkpoints: a complete, versioned record of a training run at one step.

A checkpoint is a ``torch.save`` dict holding only tensors and plain Python values, so it loads
with ``torch.load(weights_only=True)``: loading never executes code from the file. It holds both
nets, both optimizers, the step/epoch position, the resolved config, the RNG states, the ganlab
version and a format version. Files are written atomically; ``checkpoints/latest`` names the
newest complete one and is only updated after that file is in place.
"""

from __future__ import annotations

import hashlib
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from ganlab import __version__
from ganlab.atomic import atomic_path, write_text
from ganlab.errors import CheckpointError
from ganlab.models import Discriminator, Generator, ModelConfig

FORMAT = "ganlab-checkpoint"
FORMAT_VERSION = 1
LATEST = "latest"


@dataclass
class Checkpoint:
    """A loaded checkpoint. `state` is the raw dict; the fields are its validated parts."""

    path: Path
    model_config: ModelConfig
    train_config: dict
    step: int
    epoch: int
    state: dict

    def generator(self, device: str | torch.device = "cpu") -> Generator:
        """G with the stored weights, in eval mode (an image must not depend on its batch)."""
        g = Generator(self.model_config)
        _load_weights(g, self.state["generator"], "generator", self.path)
        return g.to(device).eval()

    def discriminator(self, device: str | torch.device = "cpu") -> Discriminator:
        """D with the stored weights, in eval mode."""
        d = Discriminator(self.model_config)
        _load_weights(d, self.state["discriminator"], "discriminator", self.path)
        return d.to(device).eval()

    @property
    def z_dist(self) -> str:
        return self.train_config.get("z_dist", "uniform")

    def sha256(self) -> str:
        """Hash of the file's bytes: records where derived artifacts came from."""
        return file_sha256(self.path)


def save_checkpoint(path: Path, state: dict) -> None:
    """Write `state` (plus format markers) atomically to `path`."""
    record = {"format": FORMAT, "format_version": FORMAT_VERSION, "ganlab_version": __version__,
              **state}
    with atomic_path(path) as tmp:
        torch.save(record, tmp)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load and validate a checkpoint file or a run directory's latest checkpoint.

    Args:
        path: a ``.pt`` file written by ganlab, or a run directory.
    Returns:
        The validated Checkpoint (weights stay on the CPU until a net is built).
    Raises:
        CheckpointError: the file is missing, truncated, not a ganlab checkpoint, needs
            arbitrary unpickling, or comes from a newer format.
    """
    path = resolve_checkpoint_path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "global" not in str(e).lower():  # not a refused object: damaged bytes
            raise CheckpointError(
                f"cannot read checkpoint {path}: the file is truncated or corrupt, or not a "
                "checkpoint. If a run was killed while saving, use an older checkpoint in the "
                "same directory (checkpoints/*.pt).") from None
        raise CheckpointError(
            f"refused to load {path}: it contains Python objects that would need arbitrary "
            f"code to unpickle ({_unsupported_global(e)}). ganlab checkpoints hold only "
            "tensors and plain values; only load files written by ganlab from a source you "
            "trust.") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise CheckpointError(
            f"cannot read checkpoint {path}: the file is truncated or corrupt "
            f"({_first_line(e)}). If a run was killed while saving, use an older checkpoint "
            "in the same directory (checkpoints/*.pt).") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a ganlab checkpoint (no '{FORMAT}' marker). "
                              "Pass a run directory or a .pt file written by `ganlab train`.")
    version = state.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format {version!r}, newer than this "
                              f"ganlab ({__version__}) reads (<= {FORMAT_VERSION}); upgrade "
                              "ganlab.")
    missing = [k for k in ("generator", "discriminator", "model_config", "config", "step")
               if k not in state]
    if missing:
        raise CheckpointError(f"{path} is an incomplete ganlab checkpoint: missing "
                              f"{', '.join(missing)}.")
    try:
        model_config = ModelConfig(**state["model_config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path} has an invalid model config: {e}") from None
    return Checkpoint(path=path, model_config=model_config, train_config=state["config"],
                      step=int(state["step"]), epoch=int(state.get("epoch", 0)), state=state)


def resolve_checkpoint_path(path: str | Path) -> Path:
    """A checkpoint file itself, or the one a run directory's `latest` pointer names."""
    path = Path(path)
    if path.is_dir():
        ckdir = path / "checkpoints" if (path / "checkpoints").is_dir() else path
        pointer = ckdir / LATEST
        if not pointer.is_file():
            raise CheckpointError(
                f"{path} has no checkpoint yet ({pointer} is missing). Pass a run directory "
                "written by `ganlab train` after its first checkpoint, or a .pt file.")
        path = ckdir / pointer.read_text().strip()
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist. Pass a run directory or a "
                              ".pt file written by `ganlab train`.")
    return path


def write_latest(ckdir: Path, name: str) -> None:
    """Point `ckdir/latest` at checkpoint file `name` (after it is completely written)."""
    write_text(ckdir / LATEST, name + "\n")


def prune_checkpoints(ckdir: Path, keep: int) -> None:
    """Delete all but the newest `keep` step checkpoints (never the one `latest` names)."""
    files = sorted(ckdir.glob("step-*.pt"))
    pointer = ckdir / LATEST
    current = pointer.read_text().strip() if pointer.is_file() else None
    for f in files[:-keep] if keep > 0 else []:
        if f.name != current:
            f.unlink(missing_ok=True)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _load_weights(net: torch.nn.Module, weights: dict, name: str, path: Path) -> None:
    try:
        net.load_state_dict(weights)
    except RuntimeError as e:
        raise CheckpointError(f"the {name} weights in {path} do not fit the architecture its "
                              f"config describes ({_first_line(e)}). The file was edited or "
                              "written by an incompatible tool.") from None


def _unsupported_global(e: BaseException) -> str:
    """The 'Unsupported global: GLOBAL os.system' part of torch's refusal message."""
    for line in str(e).splitlines():
        if "global" in line.lower():
            return line.strip()[:200]
    return "a disallowed global"


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__
