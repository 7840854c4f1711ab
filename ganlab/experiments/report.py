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
  interpolate, arithmetic, neighbors, visualize, forget, sample) with the images they name,
  concepts.json, eval records, each captioned with the paper's figure or table and the command
  that makes it again; other images found there;
- the config table and the command that made the run.

Only the grids are re-encoded (thumbnails), so a run with hundreds of epochs takes seconds.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
import shlex
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ganlab import __version__
from ganlab.errors import GanlabError
from ganlab.io.atomic import write_text
from ganlab.io.rundir import COLLAPSED_LOSS_D, RunDir, run_dir_of
from ganlab.io.tensorboard import TensorBoardWriter, summary_writer_class, written_live
from ganlab.progress import Reporter

THUMB_SIDE = 160  # px: the longer side of a grid's thumbnail in the strip
MAX_EMBED_BYTES = 4 << 20  # larger images found in the run directory are shown downscaled
LARGE_SIDE = 1024  # px: the longer side they are downscaled to
IMAGE_SUFFIXES = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp", ".gif": "gif"}
RUN_FILES = ("config.json", "concepts.json", "report.html")  # not experiment results

# (title, metrics, y label): one plot each, drawn when any record has one of its metrics
PANELS = (
    ("Losses", ("loss_d", "loss_g"), "loss"),
    ("D's outputs: D(x) on real images, D(G(z)) on samples", ("d_x", "d_g_z"), "probability"),
    ("Training speed", ("images_per_s",), "images/s"),
    ("FID (lower is better)", ("fid",), "FID"),
    ("KID (lower is better)", ("kid",), "KID"),
)
LABELS = {
    "loss_d": "D loss",
    "loss_g": "G loss",
    "d_x": "D(x)",
    "d_g_z": "D(G(z))",
    "images_per_s": "images/s",
    "fid": "FID",
    "kid": "KID",
}
COLOURS = {
    "loss_d": "C0",
    "d_x": "C0",
    "loss_g": "C1",
    "d_g_z": "C1",
    "images_per_s": "C2",
    "fid": "C3",
    "kid": "C4",
}  # D's curves blue, G's orange, in every plot
EVAL_METRICS = ("fid", "kid")
# what to look for in each experiment, under its caption
READING = {
    "interpolate": "Smooth transitions, with no sharp jumps, are the paper's evidence that G has "
    "not memorised its training images.",
    "arithmetic": "Each concept's z is the mean of its exemplars' (the paper averaged three).",
    "neighbors": "Samples much nearer to a training image than training images are to each other "
    "would be copies.",
    "visualize": "A trained D's features respond to parts of scenes; a random D's barely do.",
    "forget": "A mask specific to the boxed object changes the boxes more than random maps do "
    "(ratio above random_ratio).",
}


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
    page = _Page(data, run_arg=str(run))
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


# --- reading the run directory ----------------------------------------------------------------


def read_run(rd: RunDir) -> Run:
    """Everything the report shows, read without trusting any of it to be complete."""
    run = Run(rd)
    if rd.config_path.is_file():
        try:
            run.config = json.loads(rd.config_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            run.notes.append("config.json is not valid JSON")
    if rd.metrics_path.is_file():
        for line in rd.metrics_path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = None
            if isinstance(record, dict):
                run.records.append(record)
            elif line.strip():
                run.bad_lines += 1
    run.grids = _grids(rd, run)
    if rd.latest_pointer.is_file():
        run.latest_checkpoint = rd.latest_pointer.read_text().strip()
    for path in sorted(p for p in rd.path.iterdir() if p.is_file() and not p.name.startswith(".")):
        if path.suffix.lower() == ".json" and path.name not in RUN_FILES:
            result = _json_file(path, run.notes)
            if isinstance(result, dict):
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


# --- TensorBoard ------------------------------------------------------------------------------


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


# --- the page ---------------------------------------------------------------------------------

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1200px;
  padding: 0 20px 40px; color: #1d1d1f; background: #fff; }
h1 { font-size: 26px; margin: 24px 0 2px; } h2 { font-size: 20px; margin: 32px 0 8px;
  border-bottom: 1px solid #ddd; padding-bottom: 4px; } h3 { font-size: 16px; margin: 20px 0 6px; }
.sub { color: #555; margin: 0 0 8px; } nav a { margin-right: 14px; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 12px; }
.plots img, .large img, figure.result img { max-width: 100%; height: auto; }
.strip { display: flex; gap: 6px; overflow-x: auto; padding-bottom: 6px; }
.strip figure { margin: 0; text-align: center; flex: none; }
.strip figcaption, figcaption { font-size: 12px; color: #555; }
.large { margin: 0 0 12px; } .large img { image-rendering: pixelated; border: 1px solid #ccc; }
figure.result { margin: 12px 0 24px; } figure.result > img { border: 1px solid #ccc; }
figcaption.caption { font-size: 14px; color: #1d1d1f; margin-top: 4px; }
code, pre { font: 13px ui-monospace, monospace; background: #f3f3f5; border-radius: 4px; }
pre { padding: 6px 8px; white-space: pre-wrap; word-break: break-all; margin: 4px 0; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f6f6f8; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.box { border-radius: 6px; padding: 8px 12px; margin: 10px 0; }
.missing { background: #f3f3f5; } .warnings { background: #fff4e0; border: 1px solid #f0c36d; }
.box ul { margin: 4px 0; padding-left: 20px; }
.cols { display: flex; flex-wrap: wrap; gap: 0 16px; align-items: flex-start; }
"""
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _data_uri(kind: str, data: bytes) -> str:
    return f"data:image/{kind};base64,{base64.b64encode(data).decode()}"


def _img(kind: str, data: bytes, alt: str, size: tuple[int, int] | None = None, **attrs) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{_e(v)}"' for k, v in attrs.items())
    dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
    return f'<img src="{_data_uri(kind, data)}" alt="{_e(alt)}"{dims}{extra}>'


def _cmd(*parts) -> str:
    return shlex.join(str(p) for p in parts)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _table(rows: list[list], header: list[str] | None = None) -> str:
    def cell(v, tag="td"):
        cls = ' class="num"' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
        return f"<{tag}{cls}>{_e(_fmt(v))}</{tag}>"

    head = "<tr>" + "".join(cell(h, "th") for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


class _Page:
    """Builds the page's sections; remembers what it plotted, captioned, missed and warned."""

    def __init__(self, run: Run, run_arg: str):
        self.run = run
        self.run_arg = run_arg  # RUN as the user named it, for the commands shown
        self.plotted: list[str] = []
        self.captions: list[str] = []
        self.missing: list[str] = []
        self.warnings: list[str] = []

    def render(self) -> str:
        body = [
            self._plots(),
            self._samples(),
            self._experiments(),
            self._config(),
        ]
        self._find_missing()
        self._find_warnings()
        name = self.run.dir.path.resolve().name
        return "\n".join(
            [
                "<!doctype html>",
                '<html lang="en"><head><meta charset="utf-8">',
                f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
                '<meta name="viewport" content="width=device-width, initial-scale=1">',
                f"<title>ganlab report: {_e(name)}</title>",
                f"<style>{STYLE}</style></head><body>",
                f"<h1>{_e(name)}</h1>",
                self._subtitle(),
                '<nav><a href="#training">Training</a><a href="#samples">Samples</a>'
                '<a href="#experiments">Experiments</a><a href="#config">Config</a></nav>',
                self._box("missing", "Missing from this run directory", self.missing),
                self._box("warnings", "Warnings the run logged", self.warnings),
                *body,
                f'<footer><p class="sub">Written by ganlab {_e(__version__)} on '
                f"{_e(time.strftime('%Y-%m-%d %H:%M'))}: <code>"
                f"{_e(_cmd('ganlab', 'report', self.run_arg))}</code></p></footer>",
                "</body></html>",
            ]
        )

    # --- header, missing, warnings ------------------------------------------------------------

    def _subtitle(self) -> str:
        cfg = self.run.config or {}
        model = cfg.get("model") or {}
        parts = []
        if isinstance(cfg.get("config"), dict):
            parts.append(str(cfg["config"].get("dataset", "?")))
        if model:
            parts.append(f"{model.get('image_size')} px, {model.get('channels')} channel(s)")
        steps = [r["step"] for r in self.run.records if isinstance(r.get("step"), int)]
        if steps:
            spe = self.run.steps_per_epoch
            epoch = f" (epoch {max(steps) / spe:.2f})" if spe else ""
            parts.append(f"step {max(steps)}{epoch}")
        if cfg.get("ganlab_version"):
            parts.append(f"trained with ganlab {cfg['ganlab_version']}")
        if cfg.get("created"):
            parts.append(f"created {cfg['created']}")
        return f'<p class="sub">{_e(" · ".join(parts))}</p>'

    def _box(self, cls: str, title: str, items: list[str]) -> str:
        if not items:
            return ""
        lis = "".join(f"<li>{_e(i)}</li>" for i in items)
        return f'<div class="box {cls}" id="{cls}"><strong>{_e(title)}</strong><ul>{lis}</ul></div>'

    def _find_missing(self) -> None:
        run, miss = self.run, self.missing
        if run.config is None:
            miss.append("config.json: the config and the command that made the run are unknown.")
        if not run.records:
            miss.append("metrics.jsonl (missing or empty): no training curves yet.")
        elif not run.of_kind("train"):
            miss.append("metrics.jsonl has no train records: no training curves.")
        if not run.grids:
            miss.append("samples/: no sample grids yet (one is rendered after each epoch).")
        if run.latest_checkpoint is None:
            miss.append("checkpoints/latest: no checkpoint, so no command can render images yet.")
        if run.bad_lines:
            miss.append(
                f"{run.bad_lines} line(s) of metrics.jsonl are not JSON records (a run killed "
                "while writing leaves a cut last line); they were left out."
            )
        miss.extend(f"{note}; left out." for note in run.notes)

    def _find_warnings(self) -> None:
        run, warn = self.run, self.warnings
        for event in run.events("diverged"):
            warn.append(f"step {event.get('step')}: {event.get('message', 'training diverged')}")
        for event in run.events("warning"):
            warn.append(f"step {event.get('step')}: {event.get('message')}")
        collapsed = [
            r
            for r in run.of_kind("train")
            if isinstance(r.get("loss_d"), (int, float)) and r["loss_d"] < COLLAPSED_LOSS_D
        ]
        if collapsed:
            warn.append(
                f"D's loss fell below {COLLAPSED_LOSS_D:g} at {len(collapsed)} logged step(s), "
                f"first at step {collapsed[0]['step']}: D won outright and G got almost no "
                "gradient. Check that the data is varied and scaled to [-1, 1], lower --lr, or "
                "restart with another --seed."
            )
        per_epoch = [r for r in run.of_kind("epoch") if r.get("skipped")]
        source = per_epoch or [r for r in run.of_kind("train") if r.get("skipped")]
        skipped = sum(int(r["skipped"]) for r in source)
        if skipped:
            where = ", ".join(
                f"{'epoch' if per_epoch else 'step'} {r['epoch' if per_epoch else 'step']}: "
                f"{r['skipped']}"
                for r in source[:10]
            )
            more = " ..." if len(source) > 10 else ""
            warn.append(f"{skipped} unreadable image(s) were skipped ({where}{more}).")

    # --- training curves ----------------------------------------------------------------------

    def _plots(self) -> str:
        run = self.run
        train, epochs, evals = run.of_kind("train"), run.of_kind("epoch"), run.of_kind("eval")
        resumes = [e["step"] for e in run.events("resume") if isinstance(e.get("step"), int)]
        diverged = [e["step"] for e in run.events("diverged") if isinstance(e.get("step"), int)]
        figures = []
        for title, metrics, ylabel in PANELS:
            source = evals if set(metrics) <= set(EVAL_METRICS) else train
            present = [m for m in metrics if any(_number(r.get(m)) for r in source)]
            if not present:
                continue
            series = []
            for m in present:
                scored = [r for r in source if _number(r.get(m))]
                pts = [(r["step"], r[m]) for r in scored]
                colour = COLOURS[m]
                style = {"lw": 1.0, "alpha": 0.45} if source is train else {"marker": "o"}
                if all(_number(r.get(f"{m}_std")) for r in scored):  # KID's std over subsets
                    style["band"] = [r[f"{m}_std"] for r in scored]
                series.append((LABELS[m], pts, {"color": colour, **style}))
                summary = [(r["step"], r[m]) for r in epochs if _number(r.get(m))]
                if source is train and summary:
                    marker = "o" if len(summary) <= 60 else None
                    style = {"color": colour, "lw": 2.0, "marker": marker, "ms": 4}
                    series.append((f"{LABELS[m]}, epoch mean", summary, style))
            png = _plot(title, series, ylabel, resumes, diverged, run.steps_per_epoch)
            self.plotted.extend(present)
            alt = f"{title}: {', '.join(LABELS[m] for m in present)} over steps"
            figures.append(_img("png", png, alt, data_metrics=" ".join(present)))
        if not evals:
            hint = (
                "No eval records: FID and KID appear here once `ganlab eval RUN` or "
                "`ganlab train --eval-every N` has written them."
            )
        else:
            hint = ""
        notes = []
        if resumes:
            notes.append(f"Dashed lines: resumed at step {', '.join(map(str, resumes))}.")
        if train and train[0].get("step"):
            notes.append("Thin lines: every logged interval; thick lines: epoch means.")
        if hint:
            notes.append(hint)
        text = "".join(f'<p class="sub">{_e(n)}</p>' for n in notes)
        body = f'<div class="plots">{"".join(figures)}</div>' if figures else ""
        if not figures:
            body = '<p class="sub">No training records to plot.</p>'
        eval_table = self._eval_table(evals)
        return f'<section id="training"><h2>Training</h2>{body}{text}{eval_table}</section>'

    def _eval_table(self, evals: list[dict]) -> str:
        if not evals:
            return ""
        keys = _eval_keys(evals) - {"step"}
        keys = sorted(keys, key=lambda k: (k != "epoch", k not in EVAL_METRICS, k))
        rows = [[r["step"], *(r.get(k, "") for k in keys)] for r in evals]
        caption = "FID / KID of samples against real images (not in the paper)"
        self.captions.append(caption)
        return (
            f"<h3>{_e(caption)}</h3>{_table(rows, ['step', *keys])}"
            f"<pre>{_e(_cmd('ganlab', 'eval', self.run_arg))}</pre>"
        )

    # --- samples ------------------------------------------------------------------------------

    def _samples(self) -> str:
        grids = self.run.grids
        if not grids:
            return (
                '<section id="samples"><h2>Samples</h2><p class="sub">No grids yet.</p></section>'
            )
        thumbs, latest = [], None
        # Pillow decodes and resizes without the GIL: threads make hundreds of grids quick
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            made = list(pool.map(_thumbnail, [g.path for g in grids]))
        for grid, thumb in zip(grids, made, strict=True):
            if thumb is None:
                self.run.notes.append(f"samples/{grid.path.name} is unreadable")
                continue
            jpeg, size, full = thumb
            tag = _img("jpeg", jpeg, f"sample grid, {grid.label}", size)
            thumbs.append(f"<figure>{tag}<figcaption>{_e(grid.label)}</figcaption></figure>")
            latest = (grid, full)
        if latest is None:
            return '<section id="samples"><h2>Samples</h2></section>'
        grid, full = latest
        cfg = (self.run.config or {}).get("config") or {}
        seeds = cfg.get("grid_seeds", "0-63")
        caption = f"Samples after each epoch, fixed seeds {seeds} (paper Figs. 2-3)"
        self.captions.append(caption)
        scale = -(-512 // max(full))  # small grids shown at an integer zoom, pixels sharp
        big = _img(
            "png", grid.path.read_bytes(), f"latest sample grid, {grid.label}", None,
            width=full[0] * scale, height=full[1] * scale,
        )  # fmt: skip
        command = _cmd("ganlab", "sample", self.run_arg, "--seeds", seeds, "--out", "grid.png")
        return (
            f'<section id="samples"><h2>Samples</h2>'
            f'<figure class="large">{big}<figcaption class="caption">{_e(caption)}: the latest, '
            f"{_e(grid.label)}. The latest checkpoint renders the same grid with "
            f"<code>{_e(command)}</code></figcaption></figure>"
            f'<div class="strip">{"".join(thumbs)}</div></section>'
        )

    # --- the paper's experiments --------------------------------------------------------------

    def _experiments(self) -> str:
        parts, shown = [], set()
        probes = []
        for path, result in self.run.results:
            kind = _result_kind(result)
            if kind == "probe":
                probes.append((path, result))
            elif kind is not None:
                parts.append(self._result(kind, path, result, shown))
        if probes:
            parts.insert(0, self._probes(probes))
        if self.run.concepts:
            parts.append(self._concepts(self.run.concepts))
        others = [p for p in self.run.images if p.name not in shown]
        if others:
            figs = "".join(self._image_figure(p, p.name) for p in others)
            parts.append(f"<h3>Other images in the run directory</h3>{figs}")
        if not parts:
            parts.append(
                '<p class="sub">None found. Save an experiment\'s <code>--json</code> output '
                "and its image in the run directory (e.g. <code>ganlab interpolate RUN --out "
                "RUN/walk.png --json &gt; RUN/walk.json</code>) and it appears here, captioned "
                "with the paper's figure.</p>"
            )
        return (
            f'<section id="experiments"><h2>The paper\'s experiments</h2>{"".join(parts)}</section>'
        )

    def _result(self, kind: str, path: Path, result: dict, shown: set) -> str:
        caption, command, rows = _describe(kind, result, self.run_arg)
        self.captions.append(caption)
        images = ""
        for key in ("out", "gif"):
            name = Path(str(result.get(key) or "")).name
            image = self.run.dir.path / name
            if name and image.suffix.lower() in IMAGE_SUFFIXES and image.is_file():
                shown.add(name)
                images += self._image_tag(image, f"{caption} ({name})")
        table = _table(rows) if rows else ""
        return (
            f'<figure class="result">{images}<figcaption class="caption"><strong>'
            f"{_e(caption)}</strong> (from {_e(path.name)}). {_e(READING.get(kind, ''))}"
            f"</figcaption>{table}"
            f"<pre>{_e(command)}</pre></figure>"
        )

    def _probes(self, probes: list[tuple[Path, dict]]) -> str:
        names = {str((r.get("protocol") or {}).get("name", "")) for _, r in probes}
        table = (
            "Table 2" if names == {"svhn"} else "Table 1" if "svhn" not in names else "Tables 1-2"
        )
        caption = f"D's features scored by a linear L2-SVM (paper {table})"
        self.captions.append(caption)
        fields = [
            ("dataset", lambda r: r.get("dataset")),
            ("D", lambda r: "random init" if r.get("random_init") else "trained"),
            ("protocol", lambda r: (r.get("protocol") or {}).get("name")),
            ("test accuracy", lambda r: _percent(r.get("test_accuracy"))),
            ("test error", lambda r: _error(r)),
            ("C", lambda r: r.get("C")),
            ("feature dim", lambda r: r.get("feature_dim")),
            ("layers", lambda r: ",".join(map(str, r.get("layers") or [])) or "all"),
            ("grid", lambda r: r.get("grid")),
            ("BN statistics", lambda r: r.get("bn_stats")),
            ("classifier", lambda r: f"{r.get('classifier')} ({r.get('solver')} solver)"),
            ("train / val / test", lambda r: f"{r.get('n_train')} / {r.get('n_val')} / "
                                             f"{r.get('n_test')}"),
        ]  # fmt: skip
        rows = [[name, *(get(r) for _, r in probes)] for name, get in fields]
        commands = "".join(f"<pre>{_e(_probe_command(r, self.run_arg))}</pre>" for _, r in probes)
        files = ", ".join(p.name for p, _ in probes)
        return (
            f'<figure class="result"><figcaption class="caption"><strong>{_e(caption)}'
            f"</strong> (from {_e(files)})</figcaption>"
            f"{_table(rows, ['', *(p.stem for p, _ in probes)])}{commands}</figure>"
        )

    def _concepts(self, concepts: dict) -> str:
        items = concepts.get("concepts") if isinstance(concepts, dict) else None
        if isinstance(items, dict):
            items = [
                {"name": k, **v} if isinstance(v, dict) else {"name": k} for k, v in items.items()
            ]
        if not isinstance(items, list) or not items:
            return ""
        caption = "Concepts: named exemplar seeds for vector arithmetic (paper Figs. 7-8)"
        self.captions.append(caption)
        rows = []
        for c in items:
            if isinstance(c, dict):
                seeds = c.get("seeds")
                seeds = ",".join(map(str, seeds)) if isinstance(seeds, list) else seeds
                rows.append([c.get("name", "?"), seeds, _concept_source(c.get("source"))])
        command = _cmd("ganlab", "concept", "list", "--run", self.run_arg)
        return (
            f'<figure class="result"><figcaption class="caption"><strong>{_e(caption)}'
            f"</strong> (concepts.json)</figcaption>{_table(rows, ['name', 'seeds', 'source'])}"
            f"<pre>{_e(command)}</pre></figure>"
        )

    def _image_figure(self, path: Path, caption: str) -> str:
        tag = self._image_tag(path, caption)
        if not tag:
            return ""
        return f'<figure class="result">{tag}<figcaption>{_e(caption)}</figcaption></figure>'

    def _image_tag(self, path: Path, alt: str) -> str:
        """An image of the run directory, embedded as it is or, if large, downscaled."""
        try:
            with Image.open(path) as img:
                img.verify()  # a damaged file is named in the page, not embedded
            if path.stat().st_size <= MAX_EMBED_BYTES:
                return _img(IMAGE_SUFFIXES[path.suffix.lower()], path.read_bytes(), alt)
            with Image.open(path) as img:
                small = img.convert("RGB")
            small.thumbnail((LARGE_SIDE, LARGE_SIDE))
            buf = io.BytesIO()
            small.save(buf, format="PNG")
            return _img("png", buf.getvalue(), alt + " (downscaled)")
        except (OSError, UnidentifiedImageError, SyntaxError):
            self.run.notes.append(f"{path.name} is not a readable image")
            return ""

    # --- config -------------------------------------------------------------------------------

    def _config(self) -> str:
        cfg = self.run.config
        if cfg is None:
            return (
                '<section id="config"><h2>Config</h2><p class="sub">No config.json.</p></section>'
            )
        command = cfg.get("command") or []
        made = (
            f"<pre>{_e(shlex.join(map(str, command)))}</pre>"
            if command
            else '<p class="sub">Not recorded (the run was started from Python).</p>'
        )
        repeat = _cmd("ganlab", "train", "--config", self.run.dir.config_path, "--out", "NEW_RUN")
        train_cfg = cfg.get("config") if isinstance(cfg.get("config"), dict) else {}
        rows = [[k, v] for k, v in sorted(train_cfg.items())]
        columns = "".join(  # side by side: the config is long and its values short
            _table(rows[i : i + 12], ["option", "value"]) for i in range(0, len(rows), 12)
        )
        run_rows = [[k, v] for k, v in sorted(cfg.items()) if k not in ("config", "command")]
        return (
            '<section id="config"><h2>Config</h2><h3>The command that made the run</h3>'
            f'{made}<p class="sub">Repeat it: <code>{_e(repeat)}</code></p>'
            f'<h3>Training config</h3><div class="cols">{columns}</div>'
            f"<h3>The run</h3>{_table(run_rows, ['field', 'value'])}</section>"
        )


def _eval_keys(records: list[dict]) -> set[str]:
    """The fields of eval records worth a column: numbers and short words, not hashes."""
    return {
        k
        for r in records
        for k, v in r.items()
        if _scalar(v) and not (isinstance(v, str) and len(v) > 24) and k not in ("kind", "time")
    }


def _thumbnail(path: Path) -> tuple[bytes, tuple[int, int], tuple[int, int]] | None:
    """(JPEG bytes, its size, the image's size) of a grid's thumbnail; None if unreadable."""
    try:
        with Image.open(path) as img:
            full = img.size
            img.thumbnail((THUMB_SIDE, THUMB_SIDE), reducing_gap=2.0)  # decodes, then shrinks
            thumb = img if img.mode in ("L", "RGB") else img.convert("RGB")
            buf = io.BytesIO()
            thumb.save(buf, format="JPEG", quality=85)
    except (OSError, UnidentifiedImageError):
        return None
    return buf.getvalue(), thumb.size, full


def _concept_source(source) -> str:
    """'mined, held-out accuracy 0.993 (dataset digits (split train))', or the text given."""
    if not isinstance(source, dict):
        return str(source or "")
    text = str(source.get("kind", "?"))
    if _number(source.get("heldout_accuracy")):
        text += f", held-out accuracy {source['heldout_accuracy']:.3f}"
    return text + (f" ({source['labels']})" if source.get("labels") else "")


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _scalar(v) -> bool:
    return isinstance(v, (str, int, float, bool))


def _percent(v) -> str:
    return f"{100 * v:.2f}%" if _number(v) else "-"


def _error(r: dict) -> str:
    err, ci = r.get("test_error"), r.get("test_error_ci95")
    if not _number(err):
        return "-"
    return f"{100 * err:.2f}%" + (f" ± {100 * ci:.2f}" if _number(ci) else "")


def _plot(title, series, ylabel, resumes, diverged, steps_per_epoch) -> bytes:
    """One matplotlib figure as PNG bytes. `series`: (label, [(step, value)], line style)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    fig = Figure(figsize=(6.4, 3.4), dpi=110)
    # fixed margins: matplotlib's automatic layouts take twice as long as the drawing
    fig.subplots_adjust(left=0.11, right=0.98, bottom=0.14, top=0.76 if steps_per_epoch else 0.88)
    ax = fig.subplots()
    for label, points, style in series:
        xs, ys = zip(*points, strict=True)
        band = style.pop("band", None)
        ax.plot(xs, ys, label=label, **style)
        if band is not None:  # +-1 std
            low = [y - b for y, b in zip(ys, band, strict=True)]
            high = [y + b for y, b in zip(ys, band, strict=True)]
            ax.fill_between(xs, low, high, color=style["color"], alpha=0.2, lw=0)
    for i, step in enumerate(resumes):
        ax.axvline(step, color="0.45", ls="--", lw=1, label="resumed" if i == 0 else None)
    for i, step in enumerate(diverged):
        ax.axvline(step, color="red", lw=1.2, label="diverged" if i == 0 else None)
    fig.text(0.01, 0.98, title, ha="left", va="top", fontsize=11)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    if steps_per_epoch:
        top = ax.secondary_xaxis(
            "top", functions=(lambda s: s / steps_per_epoch, lambda e: e * steps_per_epoch)
        )
        top.set_xlabel("epoch", fontsize="small")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


# --- experiment results (`--json` outputs saved in the run directory) -----------------------


def _result_kind(r: dict) -> str | None:
    """Which command's `--json` output `r` is, by the fields only that command writes."""
    if "test_accuracy" in r and "protocol" in r:
        return "probe"
    if "frames_per_row" in r and "rows" in r:
        return "interpolate"
    if "expression" in r and r.get("mode") in ("base", "pairs", "walk"):
        return "arithmetic"
    if "train_images" in r and "stats" in r:
        return "neighbors"
    if "responses" in r and "layer" in r:
        return "visualize"
    if "random_ratio" in r and "dropped" in r:
        return "forget"
    if isinstance(r.get("results"), list) and "protocol" in r:
        return "eval"  # `ganlab eval --json`: one result per checkpoint
    if "count" in r and "seeds" in r and "out" in r:
        return "sample"
    return None


def _describe(kind: str, r: dict, run: str) -> tuple[str, str, list[list]]:
    """(caption naming the paper's figure, the command that makes it again, table rows)."""
    out = Path(str(r.get("out") or f"{kind}.png")).name
    if kind == "interpolate":
        rows = r.get("rows") or [[]]
        seeds = ",".join(str(s) for row in rows for s in row)
        cmd = _cmd(
            "ganlab", "interpolate", run, "--seeds", seeds, "--points", len(rows[0]),
            "--steps", r.get("steps"), "--mode", r.get("mode"), "--out", out,
            *(("--gif", Path(r["gif"]).name) if r.get("gif") else ()),
        )  # fmt: skip
        caption = f"Walks in the latent space, {r.get('mode')} (paper Fig. 4)"
        return caption, cmd, [["walks (seeds)", "; ".join(",".join(map(str, w)) for w in rows)]]
    if kind == "arithmetic":
        mode, concepts = r.get("mode"), r.get("concepts") or {}
        rows = [["expression", r.get("expression")], ["offset norm", r.get("offset_norm")]]
        rows += [[f"concept {k}", ",".join(map(str, v))] for k, v in concepts.items()]
        if mode == "walk":
            caption = "An attribute walk along a 'turn' vector (paper Fig. 8)"
        else:
            caption = "Vector arithmetic on z (paper Fig. 7)"
        return caption, _arithmetic_command(r, run, out), rows
    if kind == "neighbors":
        rows = [
            [f"{space}: {k}", _fmt(v)]
            for space, stats in (r.get("stats") or {}).items()
            if isinstance(stats, dict)
            for k, v in stats.items()
            if not isinstance(v, dict)
        ]
        cmd = _cmd("ganlab", "neighbors", run, "--seeds", r.get("seeds"), "-k", r.get("k"),
                   "--out", out)  # fmt: skip
        caption = "Nearest training images of samples: the memorisation check (paper Figs. 2-3)"
        return caption, cmd, rows
    if kind == "visualize":
        cmd = _cmd(
            "ganlab", "visualize", run, "--layer", r.get("layer"), "--features",
            r.get("features"), "--top", r.get("top"),
            *(("--random-init",) if r.get("random_init") else ()), "--out", out,
        )  # fmt: skip
        what = "a random D" if r.get("random_init") else "the trained D"
        caption = f"Guided backpropagation of {what}'s features (paper Fig. 5)"
        return caption, cmd, [["images scanned", r.get("images_scanned")]]
    if kind == "forget":
        rows = [
            [k, r.get(k)]
            for k in ("layer", "dropped", "channels", "ratio", "random_ratio", "train_accuracy")
        ]
        cmd = _cmd("ganlab", "forget", run, "--boxes", "BOXES.json", "--out", out)
        return "Forgetting to draw an object (paper Fig. 6)", cmd, rows
    if kind == "eval":
        results = [x for x in r["results"] if isinstance(x, dict)]
        keys = sorted(_eval_keys(results), key=lambda k: (k not in EVAL_METRICS, k))
        rows = [[k, *(x.get(k, "") for x in results)] for k in keys]
        return "FID / KID of checkpoints (not in the paper)", _cmd("ganlab", "eval", run), rows
    cmd = _cmd("ganlab", "sample", run, "--seeds", r.get("seeds"), "--out", out)
    return "Samples (paper Figs. 2-3)", cmd, [["seeds", r.get("seeds")], ["step", r.get("step")]]


def _arithmetic_command(r: dict, run: str, out: str) -> str:
    """`ganlab arithmetic` again, from the expression its --json recorded."""
    expression, mode = str(r.get("expression", "")), r.get("mode")
    seeds = ",".join(map(str, r.get("seeds") or []))
    if mode == "walk":
        m = re.fullmatch(r"base \+ a \* \((.+) - (.+)\), a in \[0, (.+)\]", expression)
        if not m:
            return _cmd("ganlab", "arithmetic", run, "--walk", "LEFT:RIGHT", "--out", out)
        right, left, scale = m.groups()
        bases = [c for c in r.get("concepts") or {} if c not in (left, right)]
        return _cmd(
            "ganlab", "arithmetic", run, "--walk", f"{left}:{right}", "--scale", scale,
            *(a for b in bases for a in ("--base", b)), *(("--seeds", seeds) if seeds else ()),
            "--out", out,
        )  # fmt: skip
    terms = re.split(r" ([-+]) ", expression)  # "base - a + b" -> [base, "-", a, "+", b]
    args = [] if terms[0] == "z" else ["--base", terms[0]]
    for sign, name in zip(terms[1::2], terms[2::2], strict=True):
        args += ["--minus" if sign == "-" else "--plus", name]
    if seeds:
        args += ["--seeds", seeds]
    return _cmd("ganlab", "arithmetic", run, *args, "--out", out)


def _probe_command(r: dict, run: str) -> str:
    protocol = r.get("protocol") or {}
    args = ["ganlab", "probe", r.get("dataset", "DATASET"), "-c", run]
    if r.get("random_init"):
        args.append("--random-init")
    if r.get("layers"):
        args += ["--layers", ",".join(map(str, r["layers"]))]
    if r.get("grid", 4) != 4:
        args += ["--grid", r["grid"]]
    if r.get("bn_stats", "recompute") != "recompute":
        args += ["--bn-stats", r["bn_stats"]]
    if r.get("classifier", "svm") != "svm":
        args += ["--classifier", r["classifier"]]
    if r.get("standardize"):
        args.append("--standardize")
    if protocol.get("train_per_class") and protocol.get("name") != "svhn":
        args += ["--train-per-class", protocol["train_per_class"]]
    return _cmd(*args)
