"""`ganlab arithmetic`: vector arithmetic and attribute walks (paper Figs. 7-8)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ganlab.cli.options import (
    BatchOpt,
    CheckpointOpt,
    ClassOpt,
    Device,
    DeviceOpt,
    JsonOpt,
    RunArg,
    Weights,
    WeightsOpt,
    check_out,
    num_option,
    report,
    seed_list,
    seeds_option,
    to_device,
    user_errors,
    with_checkpoint,
)


@user_errors
def arithmetic_cli(
    run: RunArg,
    checkpoint: CheckpointOpt = None,
    plus: Annotated[
        Optional[list[str]],
        typer.Option("--plus", help="A concept to add (repeatable).", show_default=False),
    ] = None,
    minus: Annotated[
        Optional[list[str]],
        typer.Option("--minus", help="A concept to subtract (repeatable).", show_default=False),
    ] = None,
    base: Annotated[
        Optional[list[str]],
        typer.Option(
            "--base",
            help="The concept to start from: renders the paper's Fig. 7 layout. With "
            "--walk, repeatable (one row each).",
            show_default=False,
        ),
    ] = None,
    base_image: Annotated[
        Optional[list[Path]],
        typer.Option(
            "--base-image",
            help="Start from your own image (repeatable): it is projected as `ganlab project` "
            "does, then shown as photo / projection / result. With --walk, one row each.",
            show_default=False,
        ),
    ] = None,
    walk: Annotated[
        Optional[str],
        typer.Option(
            help="LEFT:RIGHT: add increasing multiples of mean(RIGHT) - mean(LEFT) to each base, "
            "the paper's 'turn' vector (Fig. 8).",
            show_default=False,
        ),
    ] = None,
    steps: Annotated[
        Optional[int], typer.Option(min=2, help="Frames per --walk row (default: 8).")
    ] = None,
    scale: Annotated[
        Optional[float],
        typer.Option(
            help="Multiple of the offset added (default 1; 0 gives the base itself); the last "
            "multiple of a --walk; with --until-flip, the largest multiple searched (default 3).",
            show_default=False,
        ),
    ] = None,
    direction: Annotated[
        Optional[str],
        typer.Option(
            "--direction",
            help="mean: mean(plus) - mean(minus) of the exemplars (the paper's). boundary: the "
            "normal of the linear boundary in z between mined concepts (changes less besides "
            "the attribute). Default: mean with --base (Fig. 7) or hand-picked concepts, "
            "else boundary.",
            show_default=False,
        ),
    ] = None,
    keep: Annotated[
        Optional[str],
        typer.Option(
            help="Comma-separated mined label columns (or concepts) to leave alone: the "
            "direction is made orthogonal to their boundaries, e.g. --keep age,race; a column "
            "also names a --define concept of it alone (--keep Eyeglasses).",
            show_default=False,
        ),
    ] = None,
    until_flip: Annotated[
        Optional[bool],
        typer.Option(
            "--until-flip/--fixed-step",
            help="Per sample, step along the direction until the run's classifier (from "
            "`concept mine`) gives the --plus concept (but the parts --minus shares), then "
            "--margin more; --json reports each sample's multiple. Default: on for the "
            "boundary direction of mined concepts without --base and --scale; --fixed-step "
            "adds --scale (default 1) x the offset to every sample. With --base, each noisy "
            "result and Y are stepped.",
            show_default=False,
        ),
    ] = None,
    margin: Annotated[
        Optional[float],
        typer.Option(
            min=0.0,
            help="With --until-flip: added to each sample's flip multiple (default 0.5).",
            show_default=False,
        ),
    ] = None,
    confidence: Annotated[
        Optional[float],
        typer.Option(
            min=0.0,
            max=1.0,
            help="With --until-flip: stop only where the classifier also gives the --plus value "
            "at least this probability (e.g. 0.9); default: its choice is enough.",
            show_default=False,
        ),
    ] = None,
    exemplars: Annotated[
        Optional[int],
        typer.Option(
            min=1,
            help="Use each concept's first N exemplars (a mined concept's surest) for its z and "
            "its row. Default: 3 with --base (the paper's Fig. 7), every exemplar otherwise.",
            show_default=False,
        ),
    ] = None,
    seeds: seeds_option("Latents to apply the offset to (without --base), or to walk from") = None,
    num: num_option("8 without --base") = None,
    samples: Annotated[
        int, typer.Option(min=0, help="With --base: results shown with noise added (paper: 8).")
    ] = 8,
    noise: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="With --base: half-width of the uniform noise added to the result (paper: 0.25).",
        ),
    ] = 0.25,
    noise_seed: Annotated[int, typer.Option(min=0, help="Seeds the noise.")] = 0,
    nrow: Annotated[
        int, typer.Option(min=1, help="Without --base: before/after pairs per grid row.")
    ] = 8,
    captions: Annotated[
        bool, typer.Option(help="Write what each row shows in a left margin.")
    ] = True,
    out: Annotated[
        str,
        typer.Option(
            "--out", "-o", help="The grid: .png (or .webp/.jpg), or - for a PNG on stdout."
        ),
    ] = "arithmetic.png",
    device: DeviceOpt = Device.auto,
    batch_size: BatchOpt = 256,
    class_: ClassOpt = None,
    weights: WeightsOpt = Weights.auto,
    json_out: JsonOpt = False,
) -> None:
    """Vector arithmetic on concepts (paper Fig. 7) and attribute walks (Fig. 8).

    A concept's z is the mean of its exemplars' z (see `ganlab concept`).

    --base: base - minus + plus, under the exemplar rows and their means, with noisy samples
    (the paper's Fig. 7: 3 exemplars per concept, 8 samples with noise 0.25).

    No --base: plus - minus is added to each --seeds / -n latent; before/after pairs are shown.

    --walk LEFT:RIGHT: rows of base + a * (mean(RIGHT) - mean(LEFT)), a from 0 to --scale.

    Mined concepts also give a boundary direction (--direction boundary, --keep): it keeps more
    of each sample while changing the attribute. Without --base it is their default, stepped
    per sample just past where the run's classifier flips (--until-flip, --margin 0.5);
    --fixed-step adds --scale x the offset to every sample instead.

    Examples:

      ganlab arithmetic runs/faces --base "man with glasses" --minus "man without glasses"
      --plus "woman without glasses" --keep Eyeglasses

      ganlab arithmetic runs/digits --minus 3 --plus 8 -n 16 --out 3to8.png

      ganlab arithmetic runs/faces --minus man --plus woman --keep age -n 8

      ganlab arithmetic runs/faces --walk "looking left:looking right" --steps 8 --seeds 0-3

      ganlab arithmetic runs/faces --base-image me.jpg --minus man --plus woman --out me.png
    """
    from ganlab.experiments.arithmetic import FLIP_MARGIN, arithmetic, attribute_walk, describe

    run = with_checkpoint(run, checkpoint)
    check_out(out, ("image", "stdout"), json_out)
    plus, minus, base, base_image = plus or [], minus or [], base or [], base_image or []
    given_seeds = seeds is not None or num is not None
    dev = to_device(device)
    kept = [k.strip() for k in keep.split(",") if k.strip()] if keep else []
    if keep is not None and not kept:
        raise typer.BadParameter("name at least one column or concept", param_hint="'--keep'")
    if direction is not None and direction not in ("mean", "boundary"):
        raise typer.BadParameter(f"{direction!r}: use mean or boundary", param_hint="'--direction'")
    if confidence is not None and until_flip is False:
        raise typer.BadParameter(
            "it sets when --until-flip stops: drop --fixed-step", param_hint="'--confidence'"
        )
    if walk is not None:
        if until_flip is not None:
            raise typer.BadParameter(
                "a --walk shows every multiple: drop --until-flip / --fixed-step",
                param_hint="'--until-flip'",
            )
        if plus or minus:
            raise typer.BadParameter(
                "--walk follows one direction; drop --plus/--minus", param_hint="'--walk'"
            )
        left, sep, right = walk.partition(":")
        if not sep or not left or not right or ":" in right:
            raise typer.BadParameter(
                f"{walk!r} is not LEFT:RIGHT (two concept names and one "
                "colon, e.g. 'looking left:looking right')",
                param_hint="'--walk'",
            )
        walk_seeds = seed_list(seeds, num, 8) if given_seeds or not (base or base_image) else []
        result = attribute_walk(
            run,
            left,
            right,
            out,
            steps=steps or 8,
            scale=1.0 if scale is None else scale,
            bases=base,
            seeds=walk_seeds,
            base_images=base_image,
            captions=captions,
            device=dev,
            batch_size=batch_size,
            direction=direction,
            keep=kept,
            class_=class_,
            exemplars=exemplars,
            weights=weights.value,
        )
    else:
        if steps is not None:
            raise typer.BadParameter(
                "--steps sets the frames of a --walk; add --walk LEFT:RIGHT",
                param_hint="'--steps'",
            )
        if len(base) > 1:
            raise typer.BadParameter(
                "give one --base (several only with --walk)", param_hint="'--base'"
            )
        if base and given_seeds:
            raise typer.BadParameter("give --base or --seeds/-n, not both", param_hint="'--seeds'")
        if base_image and (base or given_seeds):
            raise typer.BadParameter(
                "--base-image is the base: drop --base and --seeds/-n (or use --walk, whose rows "
                "may start from all three)",
                param_hint="'--base-image'",
            )
        result = arithmetic(
            run,
            plus,
            minus,
            out,
            base=base[0] if base else None,
            seeds=[] if base or base_image else seed_list(seeds, num, 8),
            samples=samples,
            noise=noise,
            noise_seed=noise_seed,
            nrow=nrow,
            captions=captions,
            device=dev,
            batch_size=batch_size,
            base_images=base_image,
            scale=scale,
            direction=direction,
            keep=kept,
            flip=until_flip,
            margin=FLIP_MARGIN if margin is None else margin,
            confidence=confidence,
            class_=class_,
            exemplars=exemplars,
            weights=weights.value,
        )
    report(result, json_out, None if out == "-" else describe(result))
