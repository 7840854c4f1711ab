"""Reading a run directory for the report, without trusting any of it to be complete."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ganlab.errors import GanlabError
from ganlab.io.rundir import RunDir

MAX_EMBED_BYTES = 4 << 20  # larger images found in the run directory are shown downscaled
IMAGE_SUFFIXES = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp", ".gif": "gif"}
RUN_FILES = ("config.json", "concepts.json", "report.html")  # not experiment results


@dataclass
class Grid:
    path: Path
    label: str  # "epoch 3" or "step 140"
    step: int | None  # the step it was rendered at (None: unknown)
    time: float | None = None  # when (the epoch record's time), for TensorBoard


@dataclass
class Run:
    """What the report reads from a run directory."""

    dir: RunDir
    config: dict | None = None
    records: list[dict] = field(default_factory=list)  # metrics.jsonl, in file order
    bad_lines: int = 0  # lines of metrics.jsonl that are not JSON objects
    grids: list[Grid] = field(default_factory=list)
    latest_checkpoint: str | None = None
    concepts: dict | None = None
    results: list[tuple[Path, dict]] = field(default_factory=list)  # --json results found
    images: list[Path] = field(default_factory=list)  # images in the run directory's top level
    notes: list[str] = field(default_factory=list)  # unreadable files

    @property
    def steps_per_epoch(self) -> int | None:
        spe = (self.config or {}).get("steps_per_epoch")
        return spe if isinstance(spe, int) and spe > 0 else None

    def of_kind(self, kind: str) -> list[dict]:
        """Records of one kind by step, the last written winning where a resume repeated one."""
        by_step = {}
        for r in self.records:
            if r.get("kind") == kind and isinstance(r.get("step"), int):
                by_step[r["step"]] = r
        return [by_step[s] for s in sorted(by_step)]

    def events(self, name: str) -> list[dict]:
        return [r for r in self.records if r.get("kind") == "event" and r.get("event") == name]


def read_run(rd: RunDir) -> Run:
    """Everything the report shows, read without trusting any of it to be complete."""
    run = Run(rd)
    if rd.config_path.is_file():
        try:
            run.config = json.loads(rd.config_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            run.notes.append("config.json is not valid JSON")
    run.records, run.bad_lines = rd.read_metrics_lenient()
    run.grids = _grids(rd, run)
    if rd.latest_pointer.is_file():
        run.latest_checkpoint = rd.latest_pointer.read_text().strip()
    for path in sorted(p for p in rd.path.iterdir() if p.is_file() and not p.name.startswith(".")):
        if path.suffix.lower() == ".json" and path.name not in RUN_FILES:
            result = _json_file(path, run.notes)
            # a file of ganlab's own format (a forget mask) says so: it is not a result
            if isinstance(result, dict) and not str(result.get("format", "")).startswith("ganlab-"):
                run.results.append((path, result))
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            run.images.append(path)
    concepts = rd.path / "concepts.json"
    if concepts.is_file():
        run.concepts = _json_file(concepts, run.notes)
    if not (run.config or run.records or run.grids or run.latest_checkpoint):
        raise GanlabError(
            f"{rd.path} holds nothing of a ganlab run (no config.json, metrics.jsonl, sample "
            "grids or checkpoints). Pass the directory `ganlab train` wrote."
        )
    return run


def _json_file(path: Path, notes: list[str]):
    if path.stat().st_size > MAX_EMBED_BYTES:
        notes.append(f"{path.name} is too large to read ({path.stat().st_size} bytes)")
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        notes.append(f"{path.name} is not valid JSON")
        return None


def _grids(rd: RunDir, run: Run) -> list[Grid]:
    """samples/epoch-NNNN.png and step-NNNNNNNN.png, in the order they were rendered."""
    if not rd.samples_dir.is_dir():
        return []
    epochs = {r["epoch"]: r for r in run.of_kind("epoch") if isinstance(r.get("epoch"), int)}
    spe = run.steps_per_epoch
    grids = []
    for path in rd.samples_dir.iterdir():
        m = re.fullmatch(r"(epoch|step)-(\d+)\.png", path.name)
        if not m:
            continue
        n = int(m.group(2))
        if m.group(1) == "epoch":
            record = epochs.get(n, {})
            step = record.get("step", n * spe if spe else None)
            grids.append(Grid(path, f"epoch {n}", step, record.get("time")))
        else:
            grids.append(Grid(path, f"step {n}", n))
    # by step; grids whose step is unknown (no metrics, no config) by name
    return sorted(grids, key=lambda g: (g.step is None, g.step or 0, g.path.name))
