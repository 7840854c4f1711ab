"""The page's experiments section: the `--json` results, concepts and images saved in the run
directory, each captioned with the paper's figure or table and the command that made it.

A result says what it is: every `--json` output records its `kind` (the command, e.g.
"interpolate" or "concept mine") and the `argv` that made it. The page captions the kinds it
knows (`DESCRIBE`, `READING`; probes share one table), shows other kinds as tables, and shows
a result that records no kind (an older ganlab wrote it) as a plain table, saying so: it never
guesses what made a result from its keys.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

from ganlab.experiments.report.html import Section, cmd, esc, fmt, image_tag, number, table
from ganlab.experiments.report.plots import EVAL_METRICS, eval_keys
from ganlab.experiments.report.read import IMAGE_SUFFIXES, Run

# kind -> (result -> (caption naming the paper's figure, table rows)); filled by `describes`
DESCRIBE: dict[str, Callable[[dict], tuple[str, list[list]]]] = {}
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
PROVENANCE = ("kind", "argv")  # what every result records of the command that made it


def experiments_section(run: Run, run_arg: str) -> Section:
    """Every result found, probes in one table, then concepts and the other images."""
    section = Section("")
    parts, shown = [], set()
    probes = []
    for path, result in run.results:
        kind = result.get("kind")
        if kind == "probe":
            probes.append((path, result))
        elif isinstance(kind, str):
            parts.append(_result(run, kind, path, result, shown, section.captions))
        else:
            parts.append(_without_kind(path, result, section.captions))
    if probes:
        parts.insert(0, _probes(probes, section.captions))
    if run.concepts:
        parts.append(_concepts(run.concepts, run_arg, section.captions))
    others = [p for p in run.images if p.name not in shown]
    if others:
        figs = "".join(_image_figure(run, p, p.name) for p in others)
        parts.append(f"<h3>Other images in the run directory</h3>{figs}")
    if not parts:
        parts.append(
            '<p class="sub">None found. Save an experiment\'s <code>--json</code> output '
            "and its image in the run directory (e.g. <code>ganlab interpolate RUN --out "
            "RUN/walk.png --json &gt; RUN/walk.json</code>) and it appears here, captioned "
            "with the paper's figure.</p>"
        )
    section.html = (
        f'<section id="experiments"><h2>The paper\'s experiments</h2>{"".join(parts)}</section>'
    )
    return section


def command(result: dict) -> str:
    """The command line that made `result` (its recorded argv), as a <pre>."""
    argv = result.get("argv")
    if isinstance(argv, list) and argv:
        return f"<pre>{esc(shlex.join(map(str, argv)))}</pre>"
    return '<p class="sub">The command that made it was not recorded.</p>'


def _result(
    run: Run, kind: str, path: Path, result: dict, shown: set[str], captions: list[str]
) -> str:
    """A result of a known kind: its images, caption, table and command."""
    if kind in DESCRIBE:
        caption, rows = DESCRIBE[kind](result)
    else:  # a command whose results the page has no caption for
        caption = f"The result of ganlab {kind}"
        rows = [[k, v] for k, v in sorted(result.items()) if k not in PROVENANCE]
    captions.append(caption)
    images = ""
    for key in ("out", "gif"):
        name = Path(str(result.get(key) or "")).name
        image = run.dir.path / name
        if name and image.suffix.lower() in IMAGE_SUFFIXES and image.is_file():
            shown.add(name)
            images += image_tag(image, f"{caption} ({name})", run.notes)
    rows_table = table(rows) if rows else ""
    return (
        f'<figure class="result">{images}<figcaption class="caption"><strong>'
        f"{esc(caption)}</strong> (from {esc(path.name)}). {esc(READING.get(kind, ''))}"
        f"</figcaption>{rows_table}{command(result)}</figure>"
    )


def _without_kind(path: Path, result: dict, captions: list[str]) -> str:
    """A result that does not say what made it: its fields as they are."""
    caption = f"{path.name}: a result without a kind"
    captions.append(caption)
    note = (
        "It records no kind or command: a ganlab older than result kinds wrote it (or it is "
        "not a ganlab result), so it is listed as it is. Make it again to have it captioned."
    )
    rows = [[k, v] for k, v in sorted(result.items())]
    return (
        f'<figure class="result"><figcaption class="caption"><strong>{esc(caption)}</strong>. '
        f"{esc(note)}</figcaption>{table(rows, ['field', 'value'])}</figure>"
    )


def _probes(probes: list[tuple[Path, dict]], captions: list[str]) -> str:
    names = {str((r.get("protocol") or {}).get("name", "")) for _, r in probes}
    tables = "Table 2" if names == {"svhn"} else "Table 1" if "svhn" not in names else "Tables 1-2"
    caption = f"D's features scored by a linear L2-SVM (paper {tables})"
    captions.append(caption)
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
    commands = "".join(command(r) for _, r in probes)
    files = ", ".join(p.name for p, _ in probes)
    return (
        f'<figure class="result"><figcaption class="caption"><strong>{esc(caption)}'
        f"</strong> (from {esc(files)})</figcaption>"
        f"{table(rows, ['', *(p.stem for p, _ in probes)])}{commands}</figure>"
    )


def _concepts(concepts: dict, run_arg: str, captions: list[str]) -> str:
    items = concepts.get("concepts") if isinstance(concepts, dict) else None
    if isinstance(items, dict):
        items = [{"name": k, **v} if isinstance(v, dict) else {"name": k} for k, v in items.items()]
    if not isinstance(items, list) or not items:
        return ""
    caption = "Concepts: named exemplar seeds for vector arithmetic (paper Figs. 7-8)"
    captions.append(caption)
    rows = []
    for c in items:
        if isinstance(c, dict):
            seeds = c.get("seeds")
            seeds = ",".join(map(str, seeds)) if isinstance(seeds, list) else seeds
            rows.append([c.get("name", "?"), seeds, _concept_source(c.get("source"))])
    command = cmd("ganlab", "concept", "list", "--run", run_arg)
    return (
        f'<figure class="result"><figcaption class="caption"><strong>{esc(caption)}'
        f"</strong> (concepts.json)</figcaption>{table(rows, ['name', 'seeds', 'source'])}"
        f"<pre>{esc(command)}</pre></figure>"
    )


def _image_figure(run: Run, path: Path, caption: str) -> str:
    tag = image_tag(path, caption, run.notes)
    if not tag:
        return ""
    return f'<figure class="result">{tag}<figcaption>{esc(caption)}</figcaption></figure>'


def _concept_source(source) -> str:
    """'mined, held-out accuracy 0.993 (dataset digits (split train))', or the text given."""
    if not isinstance(source, dict):
        return str(source or "")
    text = str(source.get("kind", "?"))
    if number(source.get("heldout_accuracy")):
        text += f", held-out accuracy {source['heldout_accuracy']:.3f}"
    if isinstance(source.get("parts"), list):  # `concept mine --define`: one per part
        each = [p for p in source["parts"] if isinstance(p, dict)]
        text += f", defined as {source.get('definition')}" + "".join(
            f", {p.get('column')} held-out accuracy {p['heldout_accuracy']:.3f}"
            for p in each
            if number(p.get("heldout_accuracy"))
        )
    return text + (f" ({source['labels']})" if source.get("labels") else "")


def _percent(v) -> str:
    return f"{100 * v:.2f}%" if number(v) else "-"


def _error(r: dict) -> str:
    err, ci = r.get("test_error"), r.get("test_error_ci95")
    if not number(err):
        return "-"
    return f"{100 * err:.2f}%" + (f" ± {100 * ci:.2f}" if number(ci) else "")


# --- the kinds the page captions ---------------------------------------------------------


def describes(kind: str):
    """Register a function `result -> (caption, rows)` for the results of one kind."""

    def register(describe):
        DESCRIBE[kind] = describe
        return describe

    return register


@describes("interpolate")
def _interpolate(r: dict) -> tuple[str, list[list]]:
    rows = r.get("rows") or [[]]
    caption = f"Walks in the latent space, {r.get('mode')} (paper Fig. 4)"
    return caption, [["walks (seeds)", "; ".join(",".join(map(str, w)) for w in rows)]]


@describes("arithmetic")
def _arithmetic(r: dict) -> tuple[str, list[list]]:
    concepts = r.get("concepts") or {}
    rows = [["expression", r.get("expression")], ["offset norm", r.get("offset_norm")]]
    rows += [[f"concept {k}", ",".join(map(str, v))] for k, v in concepts.items()]
    if r.get("mode") == "walk":
        return "An attribute walk along a 'turn' vector (paper Fig. 8)", rows
    return "Vector arithmetic on z (paper Fig. 7)", rows


@describes("neighbors")
def _neighbors(r: dict) -> tuple[str, list[list]]:
    rows = [
        [f"{space}: {k}", fmt(v)]
        for space, stats in (r.get("stats") or {}).items()
        if isinstance(stats, dict)
        for k, v in stats.items()
        if not isinstance(v, dict)
    ]
    return "Nearest training images of samples: the memorisation check (paper Figs. 2-3)", rows


@describes("visualize")
def _visualize(r: dict) -> tuple[str, list[list]]:
    what = "a random D" if r.get("random_init") else "the trained D"
    caption = f"Guided backpropagation of {what}'s features (paper Fig. 5)"
    return caption, [["images scanned", r.get("images_scanned")]]


@describes("forget")
def _forget(r: dict) -> tuple[str, list[list]]:
    keys = ("layer", "dropped", "channels", "ratio", "random_ratio", "train_accuracy")
    return "Forgetting to draw an object (paper Fig. 6)", [[k, r.get(k)] for k in keys]


@describes("eval")
def _eval(r: dict) -> tuple[str, list[list]]:
    """`ganlab eval --json`: one result per checkpoint, a column each."""
    results = [x for x in r.get("results") or [] if isinstance(x, dict)]
    keys = sorted(eval_keys(results), key=lambda k: (k not in EVAL_METRICS, k))
    rows = [[k, *(x.get(k, "") for x in results)] for k in keys]
    return "FID / KID of checkpoints (not in the paper)", rows


@describes("sample")
def _sample(r: dict) -> tuple[str, list[list]]:
    return "Samples (paper Figs. 2-3)", [["seeds", r.get("seeds")], ["step", r.get("step")]]
