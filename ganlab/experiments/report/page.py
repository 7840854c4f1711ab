"""The page itself: the head, what is missing, the warnings the run logged, and the sections."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ganlab import __version__
from ganlab.experiments.report.html import CSP, STYLE, cmd, esc
from ganlab.experiments.report.plots import training_section
from ganlab.experiments.report.read import Run
from ganlab.experiments.report.results import experiments_section
from ganlab.experiments.report.sections import config_section, samples_section
from ganlab.io.rundir import COLLAPSED_LOSS_D


@dataclass
class Page:
    """The page of one run, and what it plotted, captioned, missed and warned of."""

    run: Run
    run_arg: str  # RUN as the user named it, for the commands shown
    plotted: list[str] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def render(self) -> str:
        sections = [
            training_section(self.run, self.run_arg),
            samples_section(self.run, self.run_arg),
            experiments_section(self.run, self.run_arg),
        ]
        for s in sections:
            self.plotted += s.plotted
            self.captions += s.captions
        body = [s.html for s in sections] + [config_section(self.run)]
        self.missing = missing(self.run)  # after the sections: they note unreadable files
        self.warnings = warnings(self.run)
        name = self.run.dir.path.resolve().name
        return "\n".join(
            [
                "<!doctype html>",
                '<html lang="en"><head><meta charset="utf-8">',
                f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
                '<meta name="viewport" content="width=device-width, initial-scale=1">',
                f"<title>ganlab report: {esc(name)}</title>",
                f"<style>{STYLE}</style></head><body>",
                f"<h1>{esc(name)}</h1>",
                subtitle(self.run),
                '<nav><a href="#training">Training</a><a href="#samples">Samples</a>'
                '<a href="#experiments">Experiments</a><a href="#config">Config</a></nav>',
                box("missing", "Missing from this run directory", self.missing),
                box("warnings", "Warnings the run logged", self.warnings),
                *body,
                f'<footer><p class="sub">Written by ganlab {esc(__version__)} on '
                f"{esc(time.strftime('%Y-%m-%d %H:%M'))}: <code>"
                f"{esc(cmd('ganlab', 'report', self.run_arg))}</code></p></footer>",
                "</body></html>",
            ]
        )


def subtitle(run: Run) -> str:
    """Dataset, image shape, the last step, the ganlab version that trained it, when."""
    cfg = run.config or {}
    model = cfg.get("model") or {}
    parts = []
    if isinstance(cfg.get("config"), dict):
        parts.append(str(cfg["config"].get("dataset", "?")))
    if model:
        parts.append(f"{model.get('image_size')} px, {model.get('channels')} channel(s)")
    steps = [r["step"] for r in run.records if isinstance(r.get("step"), int)]
    if steps:
        spe = run.steps_per_epoch
        epoch = f" (epoch {max(steps) / spe:.2f})" if spe else ""
        parts.append(f"step {max(steps)}{epoch}")
    if cfg.get("ganlab_version"):
        parts.append(f"trained with ganlab {cfg['ganlab_version']}")
    if cfg.get("created"):
        parts.append(f"created {cfg['created']}")
    return f'<p class="sub">{esc(" · ".join(parts))}</p>'


def box(cls: str, title: str, items: list[str]) -> str:
    if not items:
        return ""
    lis = "".join(f"<li>{esc(i)}</li>" for i in items)
    return f'<div class="box {cls}" id="{cls}"><strong>{esc(title)}</strong><ul>{lis}</ul></div>'


def missing(run: Run) -> list[str]:
    """What the run directory lacks, and the files that could not be read."""
    miss = []
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
    return miss


def warnings(run: Run) -> list[str]:
    """Divergence, logged warnings, D's loss collapsing, unreadable images skipped."""
    warn = []
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
    return warn
