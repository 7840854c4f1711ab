"""`ganlab report RUN`: a run directory on one self-contained HTML page.

The page embeds everything it shows (plots and images as data: URIs, the style inline, no
script) and its Content-Security-Policy forbids any other load, so it opens from disk, mails as
one file and never touches the network. It shows, from what the run directory holds:

- what is missing from the run (no metrics yet, no grids, no checkpoint...);
- the warnings the run logged: D's loss collapsing, unreadable images skipped, divergence;
- matplotlib plots of loss_d, loss_g, D(x), D(G(z)), images/s and, where eval records exist,
  FID and KID over steps, with resume points marked;
- the per-epoch sample grids as a strip of thumbnails, the latest one large;
- the paper's experiments found in the run directory: `--json` results saved there (probe,
  interpolate, arithmetic, neighbors, visualize, forget, sample, eval) with the images they
  name, each captioned by the `kind` it records with the paper's figure or table, and the
  command that made it (the `argv` it records); results of an older ganlab, which record
  neither, as plain tables; concepts.json, eval records; other images found there;
- the config table and the command that made the run.

Only the grids are re-encoded (thumbnails), so a run with hundreds of epochs takes seconds.

The modules, one job each: `read` (the run directory), `plots` (the training curves),
`sections` (samples and config), `results` (the experiments found), `html` (markup and embedded
images), `page` (the page around them), `tensorboard` (the conversion to event files).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ganlab.experiments.report.page import Page
from ganlab.experiments.report.read import Grid, Run, read_run
from ganlab.experiments.report.tensorboard import write_tensorboard
from ganlab.io.atomic import write_text
from ganlab.io.rundir import RunDir
from ganlab.io.runspec import run_dir_of
from ganlab.io.tensorboard import summary_writer_class, written_live
from ganlab.progress import Reporter

__all__ = ["Grid", "ReportResult", "Run", "read_run", "report", "write_tensorboard"]


@dataclass
class ReportResult:
    """What `report` wrote (also `ganlab report --json`)."""

    out: str
    run_dir: str
    plots: list[str]  # the metrics plotted
    grids: int  # per-epoch (and partial-epoch) grids in the strip
    experiments: list[str]  # the captions of the experiment results shown
    missing: list[str]  # what the run directory lacks, as the page says it
    warnings: list[str]  # what the run logged that went wrong
    tensorboard: str | None = None  # RUN/tb, when converted
    bytes: int = 0
    elapsed_s: float = 0.0


def report(
    run: str | Path,
    out: str | Path | None = None,
    tensorboard: bool = False,
    reporter: Reporter | None = None,
) -> ReportResult:
    """Write the HTML report of a run directory (and, optionally, its TensorBoard events).

    Args:
        run: the run directory (or a checkpoint inside it).
        out: the HTML file to write (default RUN/report.html), atomically.
        tensorboard: also convert metrics.jsonl and the grids into RUN/tb.
        reporter: progress output.
    Returns:
        A ReportResult.
    Raises:
        GanlabError: `run` holds nothing of a run; TensorBoard asked for but not installed.
    """
    started = time.perf_counter()
    rep = reporter or Reporter(quiet=True)
    if tensorboard:
        summary_writer_class()  # without the extra installed, fail before any work
    rd = RunDir(run_dir_of(run))
    data = read_run(rd)
    out = Path(out) if out is not None else rd.path / "report.html"
    page = Page(data, run_arg=str(run))
    text = page.render()
    write_text(out, text)
    tb_dir = None
    if tensorboard and written_live(rd.tb_dir):
        tb_dir = str(rd.tb_dir)
        rep.log(f"{tb_dir} was written while training (--tensorboard): left as it is")
    elif tensorboard:
        tb_dir = str(write_tensorboard(data))
        rep.log(f"TensorBoard events in {tb_dir}: tensorboard --logdir {tb_dir}")
    return ReportResult(
        out=str(out),
        run_dir=str(rd.path),
        plots=page.plotted,
        grids=len(data.grids),
        experiments=page.captions,
        missing=page.missing,
        warnings=page.warnings,
        tensorboard=tb_dir,
        bytes=len(text.encode()),
        elapsed_s=round(time.perf_counter() - started, 3),
    )
