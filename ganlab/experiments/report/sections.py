"""The page's samples section (the per-epoch grids) and config section (how the run was made,
its training recipe first)."""

from __future__ import annotations

import os
import shlex
from concurrent.futures import ThreadPoolExecutor

from ganlab.core.recipes import RECIPE_OPTIONS, RECIPES
from ganlab.experiments.report.html import Section, cmd, esc, fmt, img, table, thumbnail
from ganlab.experiments.report.read import Run

PAPER = "paper"  # the recipe of a run that records none (an older ganlab): section 4's


def samples_section(run: Run, run_arg: str) -> Section:
    """The latest grid large, every grid as a thumbnail in a strip."""
    grids = run.grids
    if not grids:
        return Section(
            '<section id="samples"><h2>Samples</h2><p class="sub">No grids yet.</p></section>'
        )
    thumbs, latest = [], None
    # Pillow decodes and resizes without the GIL: threads make hundreds of grids quick
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        made = list(pool.map(thumbnail, [g.path for g in grids]))
    for grid, thumb in zip(grids, made, strict=True):
        if thumb is None:
            run.notes.append(f"samples/{grid.path.name} is unreadable")
            continue
        jpeg, size, full = thumb
        tag = img("jpeg", jpeg, f"sample grid, {grid.label}", size)
        thumbs.append(f"<figure>{tag}<figcaption>{esc(grid.label)}</figcaption></figure>")
        latest = (grid, full)
    if latest is None:
        return Section('<section id="samples"><h2>Samples</h2></section>')
    grid, full = latest
    cfg = (run.config or {}).get("config") or {}
    seeds = cfg.get("grid_seeds", "0-63")
    caption = f"Samples after each epoch, fixed seeds {seeds} (paper Figs. 2-3)"
    if cfg.get("ema") is not None:
        caption += f", from the averaged G (--ema {fmt(cfg['ema'])})"
    scale = -(-512 // max(full))  # small grids shown at an integer zoom, pixels sharp
    big = img(
        "png", grid.path.read_bytes(), f"latest sample grid, {grid.label}", None,
        width=full[0] * scale, height=full[1] * scale,
    )  # fmt: skip
    command = cmd("ganlab", "sample", run_arg, "--seeds", seeds, "--out", "grid.png")
    return Section(
        f'<section id="samples"><h2>Samples</h2>'
        f'<figure class="large">{big}<figcaption class="caption">{esc(caption)}: the latest, '
        f"{esc(grid.label)}. The latest checkpoint renders the same grid with "
        f"<code>{esc(command)}</code></figcaption></figure>"
        f'<div class="strip">{"".join(thumbs)}</div></section>',
        captions=[caption],
    )


def config_section(run: Run) -> str:
    """The command that made the run, how to repeat it, and the config tables."""
    cfg = run.config
    if cfg is None:
        return '<section id="config"><h2>Config</h2><p class="sub">No config.json.</p></section>'
    command = cfg.get("command") or []
    made = (
        f"<pre>{esc(shlex.join(map(str, command)))}</pre>"
        if command
        else '<p class="sub">Not recorded (the run was started from Python).</p>'
    )
    repeat = cmd("ganlab", "train", "--config", run.dir.config_path, "--out", "NEW_RUN")
    train_cfg = cfg.get("config") if isinstance(cfg.get("config"), dict) else {}
    rows = [[k, v] for k, v in sorted(train_cfg.items())]
    columns = "".join(  # side by side: the config is long and its values short
        table(rows[i : i + 12], ["option", "value"]) for i in range(0, len(rows), 12)
    )
    run_rows = [[k, v] for k, v in sorted(cfg.items()) if k not in ("config", "command")]
    return (
        '<section id="config"><h2>Config</h2><h3>The command that made the run</h3>'
        f'{made}<p class="sub">Repeat it: <code>{esc(repeat)}</code></p>'
        f"{recipe_block(train_cfg)}"
        f'<h3>Training config</h3><div class="cols">{columns}</div>'
        f"<h3>The run</h3>{table(run_rows, ['field', 'value'])}</section>"
    )


def recipe_block(train_cfg: dict) -> str:
    """The recipe's name, each recipe option beside the recipe's (and the paper's) value, and
    which G renders.

    A run of an older ganlab records none of them: it was trained with the paper's recipe,
    and the block says which values were not recorded.
    """
    recipe = str(train_cfg.get("recipe", PAPER))
    own = {**RECIPE_OPTIONS, **RECIPES.get(recipe, {})}  # an unknown name: the paper's
    header = ["recipe option", "value", f"the {recipe} recipe"]
    rows, changed = [], []
    for name, paper in RECIPE_OPTIONS.items():
        value = train_cfg.get(name, paper)
        if value != own[name]:
            changed.append(name)
        row = [name, _option_text(name, value, train_cfg), _option_text(name, own[name], {})]
        rows.append(row + ([_option_text(name, paper, {})] if recipe != PAPER else []))
    if recipe != PAPER:
        header.append("the paper")
    ema = train_cfg.get("ema")
    notes = [f"Changed from the recipe: {', '.join(changed)}."] if changed else []
    notes.append(
        f"Samples (the grids, and every command's default --weights auto) come from the "
        f"averaged G (--ema {fmt(ema)}); --weights raw renders the trained G."
        if ema is not None
        else "Samples come from the trained G (no --ema: the run keeps no averaged G)."
    )
    missing = [k for k in ("recipe", *RECIPE_OPTIONS) if k not in train_cfg]
    if missing:
        notes.append(f"Not recorded (the run predates them): {', '.join(missing)}; the paper's.")
    return (
        f'<h3>Training recipe: {esc(recipe)}</h3><p class="sub">{esc(" ".join(notes))}</p>'
        f"{table(rows, header)}"
    )


def _option_text(name: str, value, train_cfg: dict) -> str:
    """A recipe option's value as the page shows it: what None and the empty values mean."""
    if name in ("lr_g", "lr_d") and value is None:
        lr = train_cfg.get("lr")
        return f"{fmt(lr)} (--lr)" if lr is not None else "--lr"
    if name == "ema" and value is None:
        return "off"
    if name == "diffaug" and not value:
        return "off"
    if name == "r1" and not value:
        return "0 (off)"
    return fmt(value)
