"""Commands for looking inside a DCGAN and checking for memorisation: `dedup` (section 4.1.1),
`neighbors` (Figs. 2-3), `visualize` (Fig. 5) and `forget` (Fig. 6). Each parses and validates
its options, then calls one function of ganlab.dedup, ganlab.neighbors, ganlab.guided or
ganlab.forget."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Optional

import typer

from ganlab.cliutil import Device, check_seeds, print_json, user_errors

RunArg = Annotated[Path, typer.Argument(
    help="A run directory (uses its latest checkpoint) or a checkpoint .pt file.",
    show_default=False)]
DataRootOpt = Annotated[Optional[Path], typer.Option(
    help="Where the training data lies (default: the run's --data-root; built-in datasets "
         "need none).")]
DeviceOpt = Annotated[Device, typer.Option(help="Where the networks run.")]
WorkersOpt = Annotated[int, typer.Option(
    min=0, help="Data loading processes for file datasets (LSUN, CelebA, folders).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


def _png(out: Path, option: str = "'--out'") -> None:
    if out.suffix.lower() != ".png":
        raise typer.BadParameter(f"{out} is not a .png file name", param_hint=option)


def _device(device: Device):
    from ganlab.train import resolve_device

    return resolve_device(device.value)


def _seed_list(seeds: Optional[str], num: Optional[int], default: int) -> list[int]:
    from ganlab.seeds import parse_seeds

    if num is not None and seeds is not None:
        raise typer.BadParameter("give -n or --seeds, not both", param_hint="'--seeds'")
    return parse_seeds(seeds) if seeds is not None else list(range(num or default))


# --- dedup (section 4.1.1) ------------------------------------------------------------------

@user_errors
def dedup_cli(
    dataset: Annotated[str, typer.Argument(
        help="Dataset to de-duplicate: lsun, celeba, imagenet, folder, or an in-memory one "
             "(digits, mnist, fashion-mnist, cifar10, svhn).", show_default=False)],
    data_root: Annotated[Optional[Path], typer.Option(
        help="Directory holding the dataset in its published layout.")] = None,
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="HDF5 file to write: groups, codes and the exclusion list that "
                            "`ganlab train --exclude` reads.")] = Path("dups.h5"),
    sheet: Annotated[Optional[Path], typer.Option(
        help="Contact sheet PNG of example groups, for a person to check (default: --out "
             "with .png).")] = None,
    sheet_groups: Annotated[int, typer.Option(
        min=1, help="Groups on the contact sheet, one per row.")] = 16,
    split: Annotated[str, typer.Option(help="Dataset split.")] = "train",
    category: Annotated[str, typer.Option(help="LSUN scene category.")] = "bedroom",
    channels: Annotated[Optional[int], typer.Option(
        min=1, max=3, help="1 (grey) or 3 (RGB) (default: the dataset's).")] = None,
    epochs: Annotated[int, typer.Option(min=1, help="Autoencoder epochs.")] = 8,
    train_images: Annotated[int, typer.Option(
        min=2, help="Random images the autoencoder is fitted on (held in memory).")] = 50_000,
    code_bits: Annotated[int, typer.Option(
        min=8, max=256, help="Code units, the hash length in bits (paper: 128).")] = 128,
    threshold: Annotated[float, typer.Option(
        min=0.0, help="A bit is 1 when its unit's ReLU activation exceeds this.")] = 0.0,
    probe: Annotated[int, typer.Option(
        min=0, max=4, help="Also look each image up with its N least-confident bits flipped "
                           "(0: identical codes only, the paper's scheme).")] = 1,
    seed: Annotated[int, typer.Option(min=0, help="Seeds the sample and the fit.")] = 0,
    batch_size: Annotated[int, typer.Option(min=2, help="Images per step.")] = 256,
    workers: WorkersOpt = 2,
    device: DeviceOpt = Device.auto,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Find near-duplicate images by semantic hashing (paper section 4.1.1).

    Trains the paper's 3072-128-3072 denoising, dropout-regularised ReLU autoencoder on 32x32
    centre crops, hashes every image by thresholding its code, and groups equal codes in a
    hash table (linear time). Interrupted? Run the same command again to resume.

    Examples:

      ganlab dedup lsun --data-root ~/data/lsun --out bedroom-dups.h5

      ganlab dedup fashion-mnist --out fm-dups.h5 --json

      ganlab train lsun --data-root ~/data/lsun --exclude bedroom-dups.h5
    """
    from ganlab.dedup import DedupConfig, dedup
    from ganlab.progress import Reporter

    if out.suffix.lower() not in (".h5", ".hdf5"):
        raise typer.BadParameter(f"{out} is not an .h5 file name", param_hint="'--out'")
    sheet = sheet if sheet is not None else out.with_suffix(".png")
    _png(sheet, "'--sheet'")
    cfg = DedupConfig(code_bits=code_bits, threshold=threshold, probe=probe, epochs=epochs,
                      train_images=train_images, batch_size=batch_size, seed=seed)
    result = dedup(dataset, out, data_root=data_root, split=split, category=category,
                   channels=channels, cfg=cfg, sheet=sheet, sheet_groups=sheet_groups,
                   device=_device(device), workers=workers, reporter=Reporter(quiet=quiet))
    if json_out:
        print_json(dataclasses.asdict(result))


# --- neighbors (Figs. 2-3) ------------------------------------------------------------------

@user_errors
def neighbors_cli(
    run: RunArg,
    data_root: DataRootOpt = None,
    num: Annotated[Optional[int], typer.Option(
        "-n", "--num", min=1, help="Samples: seeds 0..N-1 (default: 16).")] = None,
    seeds: Annotated[Optional[str], typer.Option(
        help="Seeds of the samples, e.g. 0-15,100.", callback=check_seeds)] = None,
    k: Annotated[int, typer.Option("-k", min=1, help="Neighbours per space.")] = 5,
    reference: Annotated[int, typer.Option(
        min=2, help="Training images whose nearest other training image gives the "
                    "train-to-train baseline.")] = 500,
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="PNG: one row per sample: sample | k pixel-space neighbours | "
                            "k D-feature-space neighbours.")] = Path("neighbors.png"),
    annotate: Annotated[bool, typer.Option(
        help="Print seeds and distances on tiles of 32 px and more.")] = True,
    batch_size: Annotated[int, typer.Option(min=1, help="Training images per step.")] = 512,
    workers: WorkersOpt = 2,
    device: DeviceOpt = Device.auto,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Is G copying its training set? Nearest training images of samples (Figs. 2-3).

    Exact nearest neighbours in pixel space and in D's feature space over the whole training
    set, and the distance statistics: sample-to-train against train-to-train.

    Examples:

      ganlab neighbors runs/digits -n 16 --out nn.png

      ganlab neighbors runs/bedrooms --data-root ~/data/lsun --seeds 0-7 --json
    """
    from ganlab.neighbors import neighbors
    from ganlab.progress import Reporter

    _png(out)
    result = neighbors(run, _seed_list(seeds, num, 16), out, k=k, data_root=data_root,
                       reference=reference, batch_size=batch_size, workers=workers,
                       annotate=annotate, device=_device(device), reporter=Reporter(quiet=quiet))
    if json_out:
        print_json(dataclasses.asdict(result))
        return
    for space, s in result.stats.items():
        st, tt = s["sample_to_train"], s["train_to_train"]
        typer.echo(f"{space}: sample->train nearest median {st['median']:.4f} (min "
                   f"{st['min']:.4f}); train->train nearest median {tt['median']:.4f} (p01 "
                   f"{tt['p01']:.4f}); {s['samples_below_train_p01']:.0%} of samples nearer "
                   "than 99% of training pairs", err=True)
    typer.echo(f"wrote {result.out}", err=True)


# --- visualize (Fig. 5) ---------------------------------------------------------------------

@user_errors
def visualize_cli(
    run: RunArg,
    data_root: DataRootOpt = None,
    features: Annotated[int, typer.Option(
        min=1, help="The first N features (channels) of the layer, one row each.")] = 6,
    layer: Annotated[Optional[int], typer.Option(
        help="D's conv layer, 0 = first; negative counts from the last (default: the last, "
             "as in the paper).")] = None,
    top: Annotated[int, typer.Option(
        min=1, help="Images per feature, strongest response first.")] = 8,
    random_init: Annotated[bool, typer.Option(
        help="Use an untrained D of the same shape (the paper's random-filter baseline).")
    ] = False,
    with_images: Annotated[bool, typer.Option(
        help="Put each real image before its guided-backprop image.")] = False,
    images: Annotated[int, typer.Option(
        min=0, help="Real images scanned for maximal responses, a seeded random subset "
                    "(0: all).")] = 20_000,
    seed: Annotated[int, typer.Option(
        min=0, help="Seeds the subset and the --random-init weights.")] = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG to write.")] = Path("guided.png"),
    batch_size: Annotated[int, typer.Option(min=1, help="Images per step.")] = 256,
    workers: WorkersOpt = 2,
    device: DeviceOpt = Device.auto,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Guided backpropagation of D's features on their strongest real images (Fig. 5).

    Examples:

      ganlab visualize runs/bedrooms --data-root ~/data/lsun --out guided.png

      ganlab visualize runs/bedrooms --random-init --out guided-random.png

      ganlab visualize runs/digits --layer 1 --features 8 --with-images --out l1.png
    """
    from ganlab.guided import visualize
    from ganlab.progress import Reporter

    _png(out)
    result = visualize(run, out, features=features, layer=layer, top=top,
                       random_init=random_init, with_images=with_images, data_root=data_root,
                       images=images, seed=seed, batch_size=batch_size, workers=workers,
                       device=_device(device), reporter=Reporter(quiet=quiet))
    if json_out:
        print_json(dataclasses.asdict(result))
    else:
        typer.echo(f"wrote {result.out}: {features} features of layer {result.layer} x "
                   f"{top} images ({'random' if random_init else 'trained'} D)", err=True)


# --- forget (Fig. 6) ------------------------------------------------------------------------

@user_errors
def forget_cli(
    run: RunArg,
    boxes: Annotated[Path, typer.Option(
        help='JSON: seed -> list of boxes (x0, y0, x1, y1 in sample pixels), e.g. '
             '{"7": [[10, 4, 30, 20]]}.', show_default=False)],
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="PNG: the seeds as drawn (left, boxes in red) and with the "
                            "maps dropped (right).")] = Path("forget.png"),
    save: Annotated[Optional[Path], typer.Option(
        help="Write the dropped maps to this JSON, for `ganlab sample --forget`.")] = None,
    top: Annotated[Optional[int], typer.Option(
        min=1, help="Drop only the K maps with the largest weights (default: every map "
                    "with weight > 0).")] = None,
    seeds: Annotated[Optional[str], typer.Option(
        help="Seeds to render (default: the boxed ones).", callback=check_seeds)] = None,
    layer: Annotated[int, typer.Option(
        min=1, help="G's hidden layer counted from the top (2: the paper's second-highest).")
    ] = 2,
    draw_boxes: Annotated[bool, typer.Option(help="Outline the boxes on the left.")] = True,
    seed: Annotated[int, typer.Option(min=0, help="Seeds the negative positions.")] = 0,
    device: DeviceOpt = Device.auto,
    json_out: JsonOpt = False,
) -> None:
    """Make G forget what the boxes mark: drop the feature maps that predict it (Fig. 6).

    Examples:

      ganlab sample runs/bedrooms --seeds 0-149 --annotate --out pick.png   # draw boxes

      ganlab forget runs/bedrooms --boxes windows.json --save no-windows.json --out fig6.png

      ganlab sample runs/bedrooms -n 64 --forget no-windows.json --out grid.png
    """
    from ganlab.forget import forget
    from ganlab.seeds import parse_seeds

    _png(out)
    result = forget(run, boxes, out, save=save, top=top,
                    seeds=parse_seeds(seeds) if seeds is not None else None,
                    layer_from_top=layer, draw_boxes=draw_boxes, seed=seed,
                    device=_device(device))
    if json_out:
        print_json(dataclasses.asdict(result))
    else:
        typer.echo(f"dropped {result.dropped} of {result.channels} maps; pixel change inside "
                   f"the boxes / outside: {result.ratio:.2f} (as many random maps: "
                   f"{result.random_ratio:.2f}); wrote {result.out}", err=True)
