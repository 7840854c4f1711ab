"""A run's metrics and grids converted into TensorBoard events (`ganlab report --tensorboard`)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from PIL import UnidentifiedImageError

from ganlab.experiments.report.read import Run
from ganlab.io.tensorboard import TensorBoardWriter


def write_tensorboard(run: Run) -> Path:
    """Convert the run's metrics and grids into RUN/tb, replacing an earlier conversion.

    The events are written into a new folder beside RUN/tb, which then takes its place, so
    TensorBoard never reads a half-written conversion. The scalars are those `train
    --tensorboard` writes live (the same `TensorBoardWriter.write_record`); a RUN/tb that
    training wrote is never replaced (`report` checks `written_live` first).
    """
    target = run.dir.tb_dir
    tmp = Path(tempfile.mkdtemp(prefix=".tb.", suffix=".tmp", dir=run.dir.path))
    try:
        writer = TensorBoardWriter(tmp, converted=True)
        for record in run.records:
            writer.write_record(record)
        for grid in run.grids:
            if grid.step is None:
                continue
            try:
                writer.write_grid(grid.step, grid.path.read_bytes(), walltime=grid.time)
            except (OSError, UnidentifiedImageError):
                continue  # listed as unreadable in the page
        writer.close()
        old = None
        if target.exists():
            old = target.rename(run.dir.path / f".tb.old-{os.getpid()}")
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
