"""The page's experiments section: the `--json` results, concepts and images saved in the run
directory, each captioned with the paper's figure or table and the command that makes it again."""

from __future__ import annotations

import re
from pathlib import Path

from ganlab.experiments.report.html import Section, cmd, esc, fmt, image_tag, number, table
from ganlab.experiments.report.plots import EVAL_METRICS, eval_keys
from ganlab.experiments.report.read import IMAGE_SUFFIXES, Run

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


def experiments_section(run: Run, run_arg: str) -> Section:
    """Every result found, probes in one table, then concepts and the other images."""
    section = Section("")
    parts, shown = [], set()
    probes = []
    for path, result in run.results:
        kind = _result_kind(result)
        if kind == "probe":
            probes.append((path, result))
        elif kind is not None:
            parts.append(_result(run, run_arg, kind, path, result, shown, section.captions))
    if probes:
        parts.insert(0, _probes(probes, run_arg, section.captions))
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


def _result(run, run_arg, kind, path: Path, result: dict, shown: set, captions) -> str:
    caption, command, rows = _describe(kind, result, run_arg)
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
        f"</figcaption>{rows_table}"
        f"<pre>{esc(command)}</pre></figure>"
    )


def _probes(probes: list[tuple[Path, dict]], run_arg: str, captions: list[str]) -> str:
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
    commands = "".join(f"<pre>{esc(_probe_command(r, run_arg))}</pre>" for _, r in probes)
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
    return text + (f" ({source['labels']})" if source.get("labels") else "")


def _percent(v) -> str:
    return f"{100 * v:.2f}%" if number(v) else "-"


def _error(r: dict) -> str:
    err, ci = r.get("test_error"), r.get("test_error_ci95")
    if not number(err):
        return "-"
    return f"{100 * err:.2f}%" + (f" ± {100 * ci:.2f}" if number(ci) else "")


# --- guessing which command wrote a result, and its command line ----------------------------


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
        command = cmd(
            "ganlab", "interpolate", run, "--seeds", seeds, "--points", len(rows[0]),
            "--steps", r.get("steps"), "--mode", r.get("mode"), "--out", out,
            *(("--gif", Path(r["gif"]).name) if r.get("gif") else ()),
        )  # fmt: skip
        caption = f"Walks in the latent space, {r.get('mode')} (paper Fig. 4)"
        return caption, command, [["walks (seeds)", "; ".join(",".join(map(str, w)) for w in rows)]]
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
            [f"{space}: {k}", fmt(v)]
            for space, stats in (r.get("stats") or {}).items()
            if isinstance(stats, dict)
            for k, v in stats.items()
            if not isinstance(v, dict)
        ]
        command = cmd("ganlab", "neighbors", run, "--seeds", r.get("seeds"), "-k", r.get("k"),
                      "--out", out)  # fmt: skip
        caption = "Nearest training images of samples: the memorisation check (paper Figs. 2-3)"
        return caption, command, rows
    if kind == "visualize":
        command = cmd(
            "ganlab", "visualize", run, "--layer", r.get("layer"), "--features",
            r.get("features"), "--top", r.get("top"),
            *(("--random-init",) if r.get("random_init") else ()), "--out", out,
        )  # fmt: skip
        what = "a random D" if r.get("random_init") else "the trained D"
        caption = f"Guided backpropagation of {what}'s features (paper Fig. 5)"
        return caption, command, [["images scanned", r.get("images_scanned")]]
    if kind == "forget":
        rows = [
            [k, r.get(k)]
            for k in ("layer", "dropped", "channels", "ratio", "random_ratio", "train_accuracy")
        ]
        command = cmd("ganlab", "forget", run, "--boxes", "BOXES.json", "--out", out)
        return "Forgetting to draw an object (paper Fig. 6)", command, rows
    if kind == "eval":
        results = [x for x in r["results"] if isinstance(x, dict)]
        keys = sorted(eval_keys(results), key=lambda k: (k not in EVAL_METRICS, k))
        rows = [[k, *(x.get(k, "") for x in results)] for k in keys]
        return "FID / KID of checkpoints (not in the paper)", cmd("ganlab", "eval", run), rows
    command = cmd("ganlab", "sample", run, "--seeds", r.get("seeds"), "--out", out)
    rows = [["seeds", r.get("seeds")], ["step", r.get("step")]]
    return "Samples (paper Figs. 2-3)", command, rows


def _arithmetic_command(r: dict, run: str, out: str) -> str:
    """`ganlab arithmetic` again, from the expression its --json recorded."""
    expression, mode = str(r.get("expression", "")), r.get("mode")
    seeds = ",".join(map(str, r.get("seeds") or []))
    if mode == "walk":
        m = re.fullmatch(r"base \+ a \* \((.+) - (.+)\), a in \[0, (.+)\]", expression)
        if not m:
            return cmd("ganlab", "arithmetic", run, "--walk", "LEFT:RIGHT", "--out", out)
        right, left, scale = m.groups()
        bases = [c for c in r.get("concepts") or {} if c not in (left, right)]
        return cmd(
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
    return cmd("ganlab", "arithmetic", run, *args, "--out", out)


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
    return cmd(*args)
