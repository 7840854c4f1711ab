"""Commands for the latent-space experiments: `interpolate` (Fig. 4), `concept ...` and
`arithmetic` (Figs. 7-8). Each parses and validates its options, then calls one function of
ganlab.latent, ganlab.concepts or ganlab.arithmetic."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Optional

import typer

from ganlab.cliutil import Device, check_seeds, choices, print_json, user_errors

RunArg = Annotated[Path, typer.Argument(
    help="A run directory (uses its latest checkpoint) or a checkpoint .pt file.",
    exists=True, show_default=False)]
RunOpt = Annotated[Path, typer.Option(
    "--run", help="The run directory whose concepts.json to use.", exists=True,
    show_default=False)]
DeviceOpt = Annotated[Device, typer.Option(help="Where G (and D) run.")]
BatchOpt = Annotated[int, typer.Option(min=1, help="Images per forward pass.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print what was done as JSON on stdout.")]


Mode = choices("Mode", "lerp", "slerp")  # latent.MODES


def _seeds(seeds: Optional[str], num: Optional[int], default: int) -> list[int]:
    from ganlab.seeds import parse_seeds

    if num is not None and seeds is not None:
        raise typer.BadParameter("give -n or --seeds, not both", param_hint="'--seeds'")
    return parse_seeds(seeds) if seeds is not None else list(range(num or default))


def _check_out(out: str, json_out: bool) -> None:
    from ganlab.errors import GanlabError
    from ganlab.latent import image_format

    if out == "-" and json_out:
        raise typer.BadParameter("--out - already uses stdout for the PNG; drop --json",
                                 param_hint="'--json'")
    try:
        image_format(out)
    except GanlabError as e:
        raise typer.BadParameter(str(e), param_hint="'--out'") from None


def _report(result, out: str, json_out: bool, line: str) -> None:
    for warning in result.warnings:
        typer.echo(f"ganlab: warning: {warning}", err=True)
    if json_out:
        print_json(dataclasses.asdict(result))
    elif out != "-":
        typer.echo(line, err=True)


# --- interpolate (Fig. 4) -------------------------------------------------------------------

@user_errors
def interpolate_cli(
    run: RunArg,
    rows: Annotated[Optional[int], typer.Option(
        min=1, help="Walks, one per grid row (default: 4, or from --seeds).")] = None,
    points: Annotated[Optional[int], typer.Option(
        min=2, help="Latent points each walk passes through (default: 9 as in the paper; with "
                    "--seeds, their count / --rows).")] = None,
    steps: Annotated[int, typer.Option(
        min=0, help="Frames between consecutive points.")] = 3,
    seeds: Annotated[Optional[str], typer.Option(
        help="The points, walk after walk (e.g. 3,17,42 is one walk through three seeds); "
             "the grid's knot tiles are exactly `ganlab sample --seeds` images "
             "(default: 0 .. rows*points-1).", callback=check_seeds)] = None,
    mode: Annotated[Optional[Mode], typer.Option(
        help="lerp: straight lines, right for the paper's uniform z (the cube holds every "
             "line between samples). slerp: great circles, right for --z-dist normal runs, "
             "where a straight line between two samples dips to ~0.7 of their norm, into "
             "space G never saw. (default: by the run's prior)", show_default=False)] = None,
    out: Annotated[str, typer.Option(
        "--out", "-o", help="The grid: .png (or .webp/.jpg), or - for a PNG on stdout.")
    ] = "interpolation.png",
    gif: Annotated[Optional[str], typer.Option(
        help="Also write an animation (.gif or .webp): frame j shows frame j of every walk.")
    ] = None,
    fps: Annotated[float, typer.Option(min=0.1, max=100, help="Animation frames per second.")
                   ] = 12.0,
    annotate: Annotated[bool, typer.Option(help="Print each point's seed on its tile.")] = False,
    device: DeviceOpt = Device.auto,
    batch_size: BatchOpt = 256,
    json_out: JsonOpt = False,
) -> None:
    """Walk through latent space between seeded points (paper Fig. 4).

    Smooth transitions show that G has learned a continuous space, not memorised images.

    Examples:

      ganlab interpolate runs/digits --rows 4 --out walk.png --gif walk.gif

      ganlab interpolate runs/digits --seeds 3,17,42 --steps 7 --out walk.png

      ganlab interpolate runs/faces --seeds 0-17 --rows 2 --mode slerp
    """
    from ganlab.latent import interpolate
    from ganlab.seeds import parse_seeds
    from ganlab.train import resolve_device

    _check_out(out, json_out)
    if seeds is None:
        rows, points = rows or 4, points or 9
        seed_list = list(range(rows * points))
    else:
        seed_list = parse_seeds(seeds)
        n = len(seed_list)
        if points is None:
            points = n // (rows or 1)
        if points < 2 or n % points or (rows is not None and rows * points != n):
            raise typer.BadParameter(
                f"{n} seed(s) do not make {rows or 'whole'} walk(s) of {points} points; give "
                "rows * points seeds, or only one of --rows / --points", param_hint="'--seeds'")
    result = interpolate(run, seed_list, points, steps, out, mode=mode.value if mode else None,
                         gif=gif, fps=fps, annotate=annotate,
                         device=resolve_device(device.value), batch_size=batch_size)
    anim = f" and {result.gif}" if result.gif else ""
    _report(result, out, json_out, f"wrote {len(result.rows)} {result.mode} walk(s) of "
            f"{result.frames_per_row} frames to {result.out}{anim}")


# --- arithmetic (Figs. 7, 8) ----------------------------------------------------------------

@user_errors
def arithmetic_cli(
    run: RunArg,
    plus: Annotated[Optional[list[str]], typer.Option(
        "--plus", help="A concept to add (repeatable).", show_default=False)] = None,
    minus: Annotated[Optional[list[str]], typer.Option(
        "--minus", help="A concept to subtract (repeatable).", show_default=False)] = None,
    base: Annotated[Optional[list[str]], typer.Option(
        "--base", help="The concept to start from: renders the paper's Fig. 7 layout. With "
                       "--walk, repeatable (one row each).", show_default=False)] = None,
    walk: Annotated[Optional[str], typer.Option(
        help="LEFT:RIGHT: add increasing multiples of mean(RIGHT) - mean(LEFT) to each base, "
             "the paper's 'turn' vector (Fig. 8).", show_default=False)] = None,
    steps: Annotated[Optional[int], typer.Option(
        min=2, help="Frames per --walk row (default: 8).")] = None,
    scale: Annotated[Optional[float], typer.Option(
        help="Last multiple of the --walk direction (default: 1).")] = None,
    seeds: Annotated[Optional[str], typer.Option(
        help="Latents to apply the offset to (without --base), or to walk from.",
        callback=check_seeds)] = None,
    num: Annotated[Optional[int], typer.Option(
        "-n", "--num", min=1, help="Use seeds 0..N-1 (default: 8 without --base).")] = None,
    samples: Annotated[int, typer.Option(
        min=0, help="With --base: results shown with noise added (paper: 8).")] = 8,
    noise: Annotated[float, typer.Option(
        min=0.0, help="With --base: half-width of the uniform noise added to the result "
                      "(paper: 0.25).")] = 0.25,
    noise_seed: Annotated[int, typer.Option(min=0, help="Seeds the noise.")] = 0,
    nrow: Annotated[int, typer.Option(
        min=1, help="Without --base: before/after pairs per grid row.")] = 8,
    captions: Annotated[bool, typer.Option(
        help="Write what each row shows in a left margin.")] = True,
    out: Annotated[str, typer.Option(
        "--out", "-o", help="The grid: .png (or .webp/.jpg), or - for a PNG on stdout.")
    ] = "arithmetic.png",
    device: DeviceOpt = Device.auto,
    batch_size: BatchOpt = 256,
    json_out: JsonOpt = False,
) -> None:
    """Vector arithmetic on concepts (paper Fig. 7) and attribute walks (Fig. 8).

    A concept's z is the mean of its exemplars' z (see `ganlab concept`).

    --base: base - minus + plus, under the exemplar rows and their means, with noisy samples.

    No --base: plus - minus is added to each --seeds / -n latent; before/after pairs are shown.

    --walk LEFT:RIGHT: rows of base + a * (mean(RIGHT) - mean(LEFT)), a from 0 to --scale.

    Examples:

      ganlab arithmetic runs/faces --base "man with glasses" --minus man --plus woman

      ganlab arithmetic runs/digits --minus 3 --plus 8 -n 16 --out 3to8.png

      ganlab arithmetic runs/faces --walk "looking left:looking right" --steps 8 --seeds 0-3
    """
    from ganlab.arithmetic import arithmetic, attribute_walk, describe
    from ganlab.train import resolve_device

    _check_out(out, json_out)
    plus, minus, base = plus or [], minus or [], base or []
    given_seeds = seeds is not None or num is not None
    dev = resolve_device(device.value)
    if walk is not None:
        if plus or minus:
            raise typer.BadParameter("--walk follows one direction; drop --plus/--minus",
                                     param_hint="'--walk'")
        left, sep, right = walk.partition(":")
        if not sep or not left or not right or ":" in right:
            raise typer.BadParameter(f"{walk!r} is not LEFT:RIGHT (two concept names and one "
                                     "colon, e.g. 'looking left:looking right')",
                                     param_hint="'--walk'")
        seed_list = _seeds(seeds, num, 8) if given_seeds or not base else []
        result = attribute_walk(run, left, right, out, steps=steps or 8,
                                scale=1.0 if scale is None else scale, bases=base,
                                seeds=seed_list, captions=captions, device=dev,
                                batch_size=batch_size)
    else:
        if steps is not None or scale is not None:
            raise typer.BadParameter("--steps and --scale shape a --walk; add --walk LEFT:RIGHT",
                                     param_hint="'--steps'")
        if len(base) > 1:
            raise typer.BadParameter("give one --base (several only with --walk)",
                                     param_hint="'--base'")
        if base and given_seeds:
            raise typer.BadParameter("give --base or --seeds/-n, not both",
                                     param_hint="'--seeds'")
        result = arithmetic(run, plus, minus, out, base=base[0] if base else None,
                            seeds=[] if base else _seeds(seeds, num, 8), samples=samples,
                            noise=noise, noise_seed=noise_seed, nrow=nrow, captions=captions,
                            device=dev, batch_size=batch_size)
    _report(result, out, json_out, describe(result))


# --- concepts -------------------------------------------------------------------------------

concept_app = typer.Typer(
    no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]},
    help="Named sets of exemplar seeds (a concept's z is their mean), stored in "
         "RUN/concepts.json: add and remove them by hand, or mine them from labelled images.")


@concept_app.command("add")
@user_errors
def concept_add_cli(
    name: Annotated[str, typer.Argument(
        help="The concept's name; quote names with spaces (\"man with glasses\").",
        show_default=False)],
    seeds: Annotated[str, typer.Option(
        help="Exemplar seeds, e.g. 3,17,42 (the paper averages three). Find them with "
             "`ganlab sample RUN -n 64 --annotate`.", callback=check_seeds, show_default=False)],
    run: RunOpt,
    replace: Annotated[bool, typer.Option(help="Overwrite a concept of the same name.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Store a concept: a name and its exemplar seeds.

    Example:

      ganlab concept add "man with glasses" --seeds 3,17,42 --run runs/faces
    """
    from ganlab.concepts import add_concept
    from ganlab.seeds import format_seeds, parse_seeds

    concept = add_concept(run, name, parse_seeds(seeds), replace=replace)
    if json_out:
        print_json(dataclasses.asdict(concept))
    else:
        typer.echo(f"concept {name!r}: seeds {format_seeds(concept.seeds)}", err=True)


@concept_app.command("list")
@user_errors
def concept_list_cli(run: RunOpt, json_out: JsonOpt = False) -> None:
    """List a run's concepts: name, seeds and where they came from."""
    from ganlab.concepts import concepts_path, load_concepts
    from ganlab.seeds import format_seeds

    cs = load_concepts(run, missing_ok=True)
    concepts = list(cs.concepts.values()) if cs else []
    if json_out:
        print_json([dataclasses.asdict(c) for c in concepts])
        return
    if not concepts:
        typer.echo(f"no concepts in {concepts_path(run)} yet: `ganlab concept add NAME --seeds "
                   "3,17,42 --run RUN` or `ganlab concept mine --run RUN`.", err=True)
        return
    width = max(len(c.name) for c in concepts)
    for c in concepts:
        src = c.source
        origin = (f"mined from {src.get('labels')}, held-out accuracy "
                  f"{src.get('heldout_accuracy')}, scores {src.get('scores')}"
                  if src.get("kind") == "mined" else f"{src.get('kind', '?')}")
        typer.echo(f"{c.name:<{width}}  {format_seeds(c.seeds):<16}  {origin} "
                   f"(step {src.get('step', '?')})")


@concept_app.command("remove")
@user_errors
def concept_remove_cli(
    name: Annotated[str, typer.Argument(help="The concept to delete.", show_default=False)],
    run: RunOpt,
) -> None:
    """Delete a concept from the run's concepts.json."""
    from ganlab.concepts import remove_concept

    remove_concept(run, name)
    typer.echo(f"removed concept {name!r}", err=True)


@concept_app.command("mine")
@user_errors
def concept_mine_cli(
    run: RunOpt,
    labels: Annotated[Optional[Path], typer.Option(
        help="Labelled real images: a CSV with a header row, the image path first and one or "
             "more label columns; or CelebA's list_attr_celeba.txt. Omit it for a run trained "
             "on a labelled built-in dataset (digits, mnist, fashion-mnist, cifar10, svhn).",
        exists=True, dir_okay=False, show_default=False)] = None,
    data_root: Annotated[Optional[Path], typer.Option(
        help="Folder the label file's image paths are relative to (default: the label "
             "file's folder), or the run's dataset root if it moved.", show_default=False)
    ] = None,
    columns: Annotated[Optional[str], typer.Option(
        help="Comma-separated label columns to mine, e.g. Male,Eyeglasses,Smiling "
             "(default: all).", show_default=False)] = None,
    pool: Annotated[int, typer.Option(
        min=1, help="Generated samples (seeds 0..N-1) to pick exemplars from.")] = 2000,
    per_concept: Annotated[int, typer.Option(
        min=1, help="Exemplar seeds per concept (the paper averages 3).")] = 3,
    max_images: Annotated[int, typer.Option(
        min=10, help="Labelled real images used at most (a seeded subset).")] = 10000,
    replace: Annotated[bool, typer.Option(
        help="Overwrite existing concepts of the same names.")] = False,
    device: DeviceOpt = Device.auto,
    batch_size: BatchOpt = 256,
    json_out: JsonOpt = False,
) -> None:
    """Mine concepts: per label value, the generated samples a classifier is surest of.

    The classifier: logistic regression on standardised features of the run's own D.

    Fitted on 80% of the labelled images; concepts.json records its accuracy on the rest.

    Examples:

      ganlab concept mine --run runs/digits

      ganlab concept mine --run runs/faces --labels celeba/list_attr_celeba.txt --columns Male
    """
    from ganlab.concepts import mine_concepts
    from ganlab.train import resolve_device

    cols = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    if columns is not None and not cols:
        raise typer.BadParameter("name at least one column", param_hint="'--columns'")
    result = mine_concepts(run, data_root=data_root, labels=labels, columns=cols, pool=pool,
                           per_concept=per_concept, max_images=max_images, replace=replace,
                           device=resolve_device(device.value), batch_size=batch_size)
    for warning in result.warnings:
        typer.echo(f"ganlab: warning: {warning}", err=True)
    if json_out:
        print_json(dataclasses.asdict(result))
        return
    for c in result.concepts:
        typer.echo(f"{c['name']}: seeds {c['seeds']} (scores {c['scores']}, held-out accuracy "
                   f"{c['heldout_accuracy']})", err=True)
    typer.echo(f"stored {len(result.concepts)} concept(s) in {result.path}", err=True)
