"""The training curves: matplotlib plots of the metrics over steps, and the eval table."""

from __future__ import annotations

import io

from ganlab.experiments.report.html import Section, cmd, esc, img, number, scalar, table
from ganlab.experiments.report.read import Run

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


def training_section(run: Run, run_arg: str) -> Section:
    """The plots of train (thin), epoch (thick) and eval records, resumes and divergence marked;
    the eval records' table under them."""
    train, epochs, evals = run.of_kind("train"), run.of_kind("epoch"), run.of_kind("eval")
    resumes = [e["step"] for e in run.events("resume") if isinstance(e.get("step"), int)]
    diverged = [e["step"] for e in run.events("diverged") if isinstance(e.get("step"), int)]
    section = Section("")
    figures = []
    for title, metrics, ylabel in PANELS:
        source = evals if set(metrics) <= set(EVAL_METRICS) else train
        present = [m for m in metrics if any(number(r.get(m)) for r in source)]
        if not present:
            continue
        series = []
        for m in present:
            scored = [r for r in source if number(r.get(m))]
            pts = [(r["step"], r[m]) for r in scored]
            colour = COLOURS[m]
            style = {"lw": 1.0, "alpha": 0.45} if source is train else {"marker": "o"}
            if all(number(r.get(f"{m}_std")) for r in scored):  # KID's std over subsets
                style["band"] = [r[f"{m}_std"] for r in scored]
            series.append((LABELS[m], pts, {"color": colour, **style}))
            summary = [(r["step"], r[m]) for r in epochs if number(r.get(m))]
            if source is train and summary:
                marker = "o" if len(summary) <= 60 else None
                style = {"color": colour, "lw": 2.0, "marker": marker, "ms": 4}
                series.append((f"{LABELS[m]}, epoch mean", summary, style))
        png = plot(title, series, ylabel, resumes, diverged, run.steps_per_epoch)
        section.plotted.extend(present)
        alt = f"{title}: {', '.join(LABELS[m] for m in present)} over steps"
        figures.append(img("png", png, alt, data_metrics=" ".join(present)))
    notes = []
    if resumes:
        notes.append(f"Dashed lines: resumed at step {', '.join(map(str, resumes))}.")
    if train and train[0].get("step"):
        notes.append("Thin lines: every logged interval; thick lines: epoch means.")
    if not evals:
        notes.append(
            "No eval records: FID and KID appear here once `ganlab eval RUN` or "
            "`ganlab train --eval-every N` has written them."
        )
    text = "".join(f'<p class="sub">{esc(n)}</p>' for n in notes)
    body = f'<div class="plots">{"".join(figures)}</div>' if figures else ""
    if not figures:
        body = '<p class="sub">No training records to plot.</p>'
    eval_table = ""
    if evals:
        keys = eval_keys(evals) - {"step"}
        keys = sorted(keys, key=lambda k: (k != "epoch", k not in EVAL_METRICS, k))
        rows = [[r["step"], *(r.get(k, "") for k in keys)] for r in evals]
        caption = "FID / KID of samples against real images (not in the paper)"
        section.captions.append(caption)
        eval_table = (
            f"<h3>{esc(caption)}</h3>{table(rows, ['step', *keys])}"
            f"<pre>{esc(cmd('ganlab', 'eval', run_arg))}</pre>"
        )
    section.html = f'<section id="training"><h2>Training</h2>{body}{text}{eval_table}</section>'
    return section


def eval_keys(records: list[dict]) -> set[str]:
    """The fields of eval records worth a column: numbers and short words, not hashes."""
    return {
        k
        for r in records
        for k, v in r.items()
        if scalar(v) and not (isinstance(v, str) and len(v) > 24) and k not in ("kind", "time")
    }


def plot(title, series, ylabel, resumes, diverged, steps_per_epoch) -> bytes:
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
