"""RUN:SPEC, the one way every command names a checkpoint, parsed and resolved here alone.

    runs/a            the run's latest checkpoint (checkpoints/latest names it)
    runs/a:latest     the same
    runs/a:best       the lowest FID `train --eval-every` measured (checkpoints/best)
    runs/a:1400       checkpoints/step-00001400.pt
    runs/a/checkpoints/step-00001400.pt   a checkpoint file itself

`--checkpoint SPEC` means the same as `RUN:SPEC`; giving both, differently, is an error. A path
that exists is never split, so a directory whose name holds a colon still works. Nothing here
imports torch: the run directory and the CLI's option checks use it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ganlab.errors import CheckpointError

LATEST = "latest"  # checkpoints/latest: the name of the newest complete checkpoint
BEST = "best"  # checkpoints/best: the checkpoint with the lowest FID (`train --eval-every`)
POINTERS = (LATEST, BEST)


def is_spec(text: str) -> bool:
    """Whether `text` names a checkpoint of a run: latest, best or a step number."""
    return text in POINTERS or text.isdigit()


@dataclass(frozen=True)
class RunSpec:
    """A run directory or checkpoint file, and which of its checkpoints (None: its own)."""

    path: Path
    which: str | None = None  # "latest", "best", a step as digits, or None

    @classmethod
    def parse(cls, text: str | Path) -> RunSpec:
        """RUN:best -> RunSpec(RUN, "best"); also :latest and :STEP. An existing path is itself."""
        text = str(text)
        head, sep, spec = text.rpartition(":")
        if Path(text).exists() or not sep or not head or not is_spec(spec):
            return cls(Path(text))
        return cls(Path(head), spec)

    def exists(self) -> bool:
        """Whether the run directory or file it names is there (the checkpoint may not be)."""
        return self.path.exists()

    def with_checkpoint(self, which: str | int | None) -> RunSpec:
        """This spec with `--checkpoint which` applied (None: unchanged).

        Raises:
            CheckpointError: `which` is not latest/best/a step, or the spec already names a
                different checkpoint.
        """
        if which is None:
            return self
        which = str(which)
        if not is_spec(which):
            raise CheckpointError(
                f"--checkpoint {which} is not a checkpoint: use latest, best or a step number."
            )
        if self.which is not None and self.which != which:
            raise CheckpointError(
                f"{self.path}:{self.which} and --checkpoint {which} name different "
                "checkpoints; give one."
            )
        return RunSpec(self.path, which)

    def __str__(self) -> str:
        return str(self.path) if self.which is None else f"{self.path}:{self.which}"

    def checkpoint_file(self) -> Path:
        """The existing checkpoint file this spec names.

        Raises:
            CheckpointError: no such checkpoint (the message says how to get one).
        """
        path, spec = self.path, self.which
        if not path.is_dir():
            if spec not in (None, LATEST):
                raise CheckpointError(
                    f"{path} is a checkpoint file; --checkpoint {spec} (or :{spec}) picks a "
                    "checkpoint of a run directory. Pass the run directory instead."
                )
        else:
            ckdir = checkpoints_dir(path)
            if spec is not None and spec.isdigit():
                path = ckdir / f"step-{int(spec):08d}.pt"
                if not path.is_file():
                    steps = ", ".join(str(s) for s, _ in list_checkpoints(ckdir)) or "none"
                    raise CheckpointError(
                        f"{ckdir} has no checkpoint at step {int(spec)} (kept steps: {steps}). "
                        "Older ones are pruned by --keep."
                    )
                return path
            name = read_pointer(ckdir, BEST if spec == BEST else LATEST)
            if name is None and spec == BEST:
                raise CheckpointError(
                    f"{path} has no best checkpoint: it was never evaluated during training. "
                    "Train with --eval-every STEPS to keep the checkpoint with the lowest FID, "
                    f"or pick one by step (`ganlab eval {path} --checkpoint all` scores each "
                    "kept checkpoint)."
                )
            if name is None:
                raise CheckpointError(
                    f"{path} has no checkpoint yet ({ckdir / LATEST} is missing). Pass a run "
                    "directory written by `ganlab train` after its first checkpoint, or a .pt "
                    "file."
                )
            path = ckdir / name
        if not path.is_file():
            raise CheckpointError(
                f"checkpoint {path} does not exist. Pass a run directory or a "
                ".pt file written by `ganlab train`."
            )
        return path

    def run_dir(self) -> Path:
        """The run directory: the path itself, or the run a checkpoint file belongs to."""
        if self.path.is_dir():
            return self.path
        file = self.checkpoint_file()
        return file.parent.parent if file.parent.name == "checkpoints" else file.parent


def resolve_checkpoint_path(path: str | Path, which: str | int | None = None) -> Path:
    """The checkpoint file RUN[:SPEC] (with `--checkpoint which`) names; see `RunSpec`."""
    return RunSpec.parse(path).with_checkpoint(which).checkpoint_file()


def run_dir_of(run: str | Path) -> Path:
    """The run directory of a run directory, RUN:SPEC or a checkpoint file inside one."""
    return RunSpec.parse(run).run_dir()


def checkpoints_dir(path: Path) -> Path:
    """A run's checkpoints/ folder (or `path` itself, when it is that folder)."""
    return path / "checkpoints" if (path / "checkpoints").is_dir() else path


def list_checkpoints(path: str | Path) -> list[tuple[int, Path]]:
    """(step, file) of every step checkpoint of a run directory (or checkpoints/), by step."""
    found = []
    for f in checkpoints_dir(Path(path)).glob("step-*.pt"):
        digits = f.stem.removeprefix("step-")
        if digits.isdigit():
            found.append((int(digits), f))
    return sorted(found)


def read_pointer(ckdir: Path, pointer: str) -> str | None:
    """The checkpoint name `ckdir/latest` (or `best`) holds, or None without the file."""
    file = Path(ckdir) / pointer
    if not file.is_file():
        return None
    return file.read_text().strip() or None
