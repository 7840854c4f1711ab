"""The run directory: a self-describing record of one training run.

    runs/<dataset>-<YYYYmmdd-HHMMSS>/
        config.json          resolved TrainConfig, model shape, dataset, ganlab version, command
        metrics.jsonl        one JSON object per line: train records, epoch summaries, events
        samples/epoch-0001.png   fixed-seed grid after each epoch (step-*.png for partial epochs)
        checkpoints/step-00000140.pt   complete checkpoints (the last --keep of them)
        checkpoints/latest   name of the newest complete checkpoint
        concepts.json        named exemplar seed sets (`ganlab concept`; updated atomically)
        tb/                  TensorBoard event files (`train --tensorboard`, `report --tensorboard`)
        report.html          the run on one page (`ganlab report`; rewritten each time)
        export/              G (and D) as TorchScript or ONNX (`ganlab export`)

The directory only grows: nothing rewrites config.json or earlier metrics lines; a resume
appends a "resume" event to metrics.jsonl. concepts.json is the one file updated in place
(atomically), since adding a concept is its purpose.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ganlab.errors import CheckpointError
from ganlab.io.atomic import write_json
from ganlab.io.runspec import LATEST

# A train record's loss_d below this: D wins outright and G gets almost no gradient (`train`
# warns as it logs one; `report` lists them)
COLLAPSED_LOSS_D = 1e-3


class RunDir:
    """Paths and small writers for one run directory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        # a TensorBoardWriter that also receives every metrics record (train --tensorboard)
        self.tensorboard = None

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def samples_dir(self) -> Path:
        return self.path / "samples"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def tb_dir(self) -> Path:
        return self.path / "tb"

    @property
    def latest_pointer(self) -> Path:
        return self.checkpoints_dir / LATEST

    def checkpoint_path(self, step: int) -> Path:
        return self.checkpoints_dir / f"step-{step:08d}.pt"

    def create(self, description: dict) -> None:
        """Make the directory and write config.json; refuses to reuse a non-empty one."""
        if self.path.exists() and any(self.path.iterdir()):
            raise CheckpointError(
                f"output directory {self.path} already exists and is not empty. Choose another "
                f"--out, or continue that run with `ganlab train --resume {self.path}`."
            )
        self.samples_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoints_dir.mkdir(parents=True, exist_ok=True)
        write_json(self.config_path, description)

    def read_config(self) -> dict:
        """config.json as written by create()."""
        if not self.config_path.is_file():
            raise CheckpointError(
                f"{self.path} is not a ganlab run directory (no config.json). "
                "Pass the directory `ganlab train` printed."
            )
        try:
            return json.loads(self.config_path.read_text())
        except json.JSONDecodeError as e:
            raise CheckpointError(f"{self.config_path} is not valid JSON ({e}).") from None

    def append_metrics(self, record: dict) -> None:
        """Append one JSON line (flushed at once so `tail -f` and crashes see it)."""
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
        if self.tensorboard is not None:
            self.tensorboard.write_record(record)

    def read_metrics(self) -> list[dict]:
        """The records of metrics.jsonl (a cut last line left by a killed run is skipped)."""
        return self.read_metrics_lenient()[0]

    def read_metrics_lenient(self) -> tuple[list[dict], int]:
        """(the records of metrics.jsonl, how many lines are not JSON objects), for readers that
        show what a run holds: a run killed while writing leaves a cut last line."""
        records, bad = [], 0
        if self.metrics_path.is_file():
            for line in self.metrics_path.read_text(errors="replace").splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    record = None
                if isinstance(record, dict):
                    records.append(record)
                elif line.strip():
                    bad += 1
        return records, bad


def default_run_dir(dataset: str, root: str | Path = "runs") -> Path:
    """runs/<dataset>-<timestamp>, with a suffix if that name is taken."""
    base = Path(root) / f"{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, i = base, 1
    while path.exists():
        path, i = base.with_name(f"{base.name}-{i}"), i + 1
    return path
