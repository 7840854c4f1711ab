"""`ganlab concept add|list|remove|mine`: named sets of exemplar seeds for arithmetic."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Optional

import typer

from ganlab.cli.options import (
    BatchOpt,
    ClassOpt,
    Device,
    DeviceOpt,
    JsonOpt,
    ManyValuesCommand,
    RunOpt,
    check_seeds,
    print_json,
    to_device,
    user_errors,
)

concept_app = typer.Typer(
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Named sets of exemplar seeds (a concept's z is their mean), stored in "
    "RUN/concepts.json: add and remove them by hand, or mine them from labelled images.",
)


@concept_app.command("add", cls=ManyValuesCommand)
@user_errors
def concept_add_cli(
    name: Annotated[
        str,
        typer.Argument(
            help='The concept\'s name; quote names with spaces ("man with glasses").',
            show_default=False,
        ),
    ],
    run: RunOpt,
    seeds: Annotated[
        Optional[str],
        typer.Option(
            help="Exemplar seeds, e.g. 3,17,42 (the paper averages three). Find them with "
            "`ganlab sample RUN -n 64 --annotate`.",
            callback=check_seeds,
            show_default=False,
        ),
    ] = None,
    images: Annotated[
        Optional[list[Path]],
        typer.Option(
            "--images",
            help="Exemplar images instead of (or beside) seeds: --images a.jpg b.jpg c.jpg. "
            "Each is projected as `ganlab project` does; its z, file and loss are stored.",
            show_default=False,
        ),
    ] = None,
    replace: Annotated[bool, typer.Option(help="Overwrite a concept of the same name.")] = False,
    device: DeviceOpt = Device.auto,
    class_: ClassOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Store a concept: a name and its exemplars (seeds, or your own images).

    Examples:

      ganlab concept add "man with glasses" --seeds 3,17,42 --run runs/faces

      ganlab concept add smiling --images a.jpg b.jpg c.jpg --run runs/faces
    """
    from ganlab.experiments.concept import add_concept
    from ganlab.io.seedlist import parse_seeds

    if seeds is None and not images:
        raise typer.BadParameter(
            "give the exemplars: --seeds 3,17,42 or --images a.jpg b.jpg c.jpg",
            param_hint="'--seeds'",
        )
    concept = add_concept(
        run,
        name,
        parse_seeds(seeds) if seeds is not None else [],
        replace=replace,
        images=images or (),
        device=to_device(device),
        class_=class_,
    )
    for note in concept.source.get("notes", []):
        typer.echo(f"ganlab: warning: {note}", err=True)
    if json_out:
        print_json(concept)
        return
    typer.echo(f"concept {name!r}: {concept.describe()}", err=True)
    for src, mse, dist in zip(
        concept.source.get("images", []),
        concept.source.get("pixel_mse", []),
        concept.source.get("feature_dist", []),
        strict=True,
    ):
        typer.echo(f"  {src}: pixel mse {mse:.4f}, D-feature distance {dist:.3f}", err=True)


@concept_app.command("list")
@user_errors
def concept_list_cli(run: RunOpt, json_out: JsonOpt = False) -> None:
    """List a run's concepts: name, seeds and where they came from."""
    from ganlab.io.concepts import concepts_path, load_concepts

    cs = load_concepts(run, missing_ok=True)
    concepts = list(cs.concepts.values()) if cs else []
    if json_out:
        print_json([dataclasses.asdict(c) for c in concepts])
        return
    if not concepts:
        typer.echo(
            f"no concepts in {concepts_path(run)} yet: `ganlab concept add NAME --seeds "
            "3,17,42 --run RUN` or `ganlab concept mine --run RUN`.",
            err=True,
        )
        return
    width = max(len(c.name) for c in concepts)
    for c in concepts:
        src = c.source
        origin = (
            f"mined from {src.get('labels')}, {_accuracy(src)}, scores {src.get('scores')}"
            + (
                f", boundary in z (held-out accuracy {src['boundary'].get('heldout_accuracy')})"
                if isinstance(src.get("boundary"), dict)
                else ""
            )
            if src.get("kind") == "mined"
            else f"{src.get('kind', '?')}"
        )
        typer.echo(f"{c.name:<{width}}  {c.describe():<16}  {origin} (step {src.get('step', '?')})")


def _accuracy(src: dict) -> str:
    """A mined concept's classifier accuracy: one, or per part of a --define'd concept."""
    if isinstance(src.get("parts"), list):
        each = ", ".join(f"{p.get('column')} {p.get('heldout_accuracy')}" for p in src["parts"])
        return (
            f"defined as {src.get('definition')} ({src.get('pool_qualified')} pool samples "
            f"qualified), held-out accuracies {each}"
        )
    return f"held-out accuracy {src.get('heldout_accuracy')}"


@concept_app.command("remove")
@user_errors
def concept_remove_cli(
    name: Annotated[str, typer.Argument(help="The concept to delete.", show_default=False)],
    run: RunOpt,
) -> None:
    """Delete a concept from the run's concepts.json."""
    from ganlab.experiments.concept import remove_concept

    remove_concept(run, name)
    typer.echo(f"removed concept {name!r}", err=True)


@concept_app.command("mine")
@user_errors
def concept_mine_cli(
    run: RunOpt,
    labels: Annotated[
        Optional[Path],
        typer.Option(
            help="Labelled real images: a CSV with a header row, the image path first and one or "
            "more label columns; or CelebA's list_attr_celeba.txt. Omit it for a run trained "
            "on a labelled built-in dataset (digits, mnist, fashion-mnist, cifar10, svhn).",
            exists=True,
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    data_root: Annotated[
        Optional[Path],
        typer.Option(
            help="Folder the label file's image paths are relative to (default: the label "
            "file's folder), or the run's dataset root if it moved.",
            show_default=False,
        ),
    ] = None,
    columns: Annotated[
        Optional[str],
        typer.Option(
            help="Comma-separated label columns to mine, e.g. Male,Eyeglasses,Smiling "
            "(default: all).",
            show_default=False,
        ),
    ] = None,
    define: Annotated[
        Optional[list[str]],
        typer.Option(
            "--define",
            help='A concept that combines labels, NAME=PARTS (repeatable): "man with glasses='
            'Male,Eyeglasses", "woman without glasses=-Male,-Eyeglasses" (-NAME: the '
            "attribute's absence; a CSV's values as COLUMN=VALUE). Its exemplars satisfy every "
            "part, ranked by joint probability. Needs --labels; only the defined concepts are "
            "mined.",
            show_default=False,
        ),
    ] = None,
    pool: Annotated[
        int, typer.Option(min=1, help="Generated samples (seeds 0..N-1) to pick exemplars from.")
    ] = 2000,
    per_concept: Annotated[
        int,
        typer.Option(
            min=1,
            help="Exemplar seeds per concept. The paper averaged 3, but a mean offset of 3 "
            "is mostly noise; 50 halves it (docs/usage.md has the measurement).",
        ),
    ] = 50,
    exemplars: Annotated[
        str,
        typer.Option(
            help="extreme: the samples the classifier is surest of (the most stereotyped). "
            "stratified: spread evenly over the samples it scores at least 0.8.",
        ),
    ] = "extreme",
    max_images: Annotated[
        int, typer.Option(min=10, help="Labelled real images used at most (a seeded subset).")
    ] = 10000,
    replace: Annotated[
        bool, typer.Option(help="Overwrite existing concepts of the same names.")
    ] = False,
    device: DeviceOpt = Device.auto,
    batch_size: BatchOpt = 256,
    class_: ClassOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Mine concepts: per label value, the generated samples a classifier is surest of.

    The classifier: logistic regression on standardised features of the run's own D.

    Fitted on 80% of the labelled images; concepts.json records its accuracy on the rest.

    Each concept also gets a boundary in z (the direction `arithmetic --direction boundary`
    uses), and the classifier is stored for `arithmetic --until-flip`.

    One --columns column names concepts by value (woman); several, column=value.

    --define names a concept that combines labels (the paper's "man with glasses"): the pool
    samples every attribute's classifier puts on the defined side, surest first.

    Examples:

      ganlab concept mine --run runs/digits

      ganlab concept mine --run runs/faces --labels celeba/list_attr_celeba.txt --columns Male

      ganlab concept mine --run runs/faces --labels celeba/list_attr_celeba.txt
      --define "man with glasses=Male,Eyeglasses" --define "woman without glasses=-Male,-Eyeglasses"
    """
    from ganlab.experiments.concept import mine_concepts
    from ganlab.io.seedlist import format_seeds

    cols = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    if columns is not None and not cols:
        raise typer.BadParameter("name at least one column", param_hint="'--columns'")
    if exemplars not in ("extreme", "stratified"):
        raise typer.BadParameter(
            f"{exemplars!r}: use extreme or stratified", param_hint="'--exemplars'"
        )
    if define and labels is None:
        raise typer.BadParameter(
            "it combines the columns of a label file: add --labels FILE", param_hint="'--define'"
        )
    if define and cols:
        raise typer.BadParameter(
            "--define mines the concepts it names from the columns they use: drop --columns",
            param_hint="'--columns'",
        )
    result = mine_concepts(
        run,
        data_root=data_root,
        labels=labels,
        columns=cols,
        pool=pool,
        per_concept=per_concept,
        max_images=max_images,
        replace=replace,
        device=to_device(device),
        batch_size=batch_size,
        exemplars=exemplars,
        class_=class_,
        define=define or (),
    )
    for warning in result.warnings:
        typer.echo(f"ganlab: warning: {warning}", err=True)
    if json_out:
        print_json(result)
        return
    for c in result.concepts:
        boundary = c["boundary_heldout_accuracy"]
        accuracy = c["heldout_accuracy"]
        if "definition" in c:  # --define: one classifier per part
            each = ", ".join(f"{col} {a}" for col, a in accuracy.items())
            what = (
                f"{c['definition']}, {c['pool_qualified']} of {result.pool} pool samples "
                f"qualified, joint scores {min(c['scores']):.2f}-{max(c['scores']):.2f}, "
                f"classifiers' held-out accuracy {each}"
            )
        else:
            what = (
                f"scores {min(c['scores']):.2f}-{max(c['scores']):.2f}, classifier held-out "
                f"accuracy {accuracy}"
            )
        typer.echo(
            f"{c['name']}: seeds {format_seeds(c['seeds'])} ({what}"
            + (f", boundary in z held-out accuracy {boundary}" if boundary is not None else "")
            + ")",
            err=True,
        )
    typer.echo(f"stored {len(result.concepts)} concept(s) in {result.path}", err=True)
