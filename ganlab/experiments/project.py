"""`ganlab project`: real images into z, so the latent experiments work on a user's own pictures.

For each image, the z whose G(z) is closest under pixel MSE plus the distance between D's
section 5 features (the search itself is ``core.projection``: bounded for a uniform prior, on
the shell for a normal one, from the best of seeded restarts and the run's encoder). The inputs
are image files, folders of them, or a dataset split; every image is decoded as the run's
training images were (``data.userimages``). The result is an HDF5 latents file (``io.latents``)
that `ganlab sample --latents` renders, optionally a grid of each original over its
reconstruction, and a per-image error summary.

`train_encoder` fits the encoder (``core.encoder``) that later projections of the run start
from, and stores it as RUN/encoder.pt.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ganlab import __version__
from ganlab.core.encoder import fit_encoder, load_encoder, save_encoder
from ganlab.core.generate import check_labels, generate, resolve_class
from ganlab.core.projection import Projection, ProjectionConfig, project
from ganlab.core.trainset import data_spec_of
from ganlab.data import DATASETS
from ganlab.data.batches import batches
from ganlab.data.spec import DataSpec, open_dataset
from ganlab.data.userimages import UserImages, read_user_images
from ganlab.errors import GanlabError, ImageInputError
from ganlab.io.checkpoint import Checkpoint, load_checkpoint
from ganlab.io.images import grid_image, out_kind, to_unit, write_image
from ganlab.io.latents import SUFFIXES, write_latents
from ganlab.progress import Reporter

GRID_COLUMNS = 8  # images per grid row (each over its reconstruction)


@dataclass
class EncoderResult:
    path: str
    checkpoint: str
    step: int
    fit: dict  # steps, batch_size, lr, seed, held-out latent_mse and pixel_mse, seconds
    weights: str = "raw"  # the G it was fitted to: "ema" (the averaged G) or "raw"


@dataclass
class ProjectResult:
    out: str | None  # the latents file (None when only an encoder was fitted)
    grid: str | None
    count: int
    checkpoint: str
    step: int
    encoder: str | None  # the encoder whose guesses were starts, if any
    settings: dict  # steps, lr, restarts, seed, feature_weight
    summary: dict  # mean / median / worst of pixel_mse, psnr, feature_dist; starts by kind
    images: list[dict]  # per image: source, loss, pixel_mse, psnr, feature_dist, start...
    seconds: float
    seconds_per_image: float
    encoder_fit: EncoderResult | None = None
    warnings: list[str] = field(default_factory=list)
    weights: str = "raw"  # the G that projected: "ema" (the averaged G) or "raw" (the trained G)

    def to_dict(self) -> dict:
        return asdict(self)


def train_encoder(
    run: str | Path,
    steps: int = 1000,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | torch.device = "cpu",
    reporter: Reporter | None = None,
    weights: str = "auto",
) -> EncoderResult:
    """Fit an encoder on G's samples and store it as RUN/encoder.pt (replacing any older one).

    Args:
        run: a run directory or a checkpoint file inside one.
        steps: Adam steps.
        batch_size: samples per step.
        lr: Adam's learning rate.
        seed: seeds E's initialisation and its training samples.
        device: where G and E run.
        reporter: progress (default: none).
        weights: the G whose samples E learns from: "auto" (the averaged G of a run trained
            with --ema, else the trained G), "ema" or "raw" (the trained G).
    Returns:
        An EncoderResult with the held-out latent and pixel errors.
    """
    if steps < 1:
        raise GanlabError(f"--encoder-steps {steps}: fitting needs at least one step.")
    rep = reporter or Reporter(quiet=True)
    ckpt = load_checkpoint(run).use_weights(weights)
    rep.start("fitting encoder", total=steps)
    try:
        E, fit = fit_encoder(
            ckpt,
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            device=device,
            on_step=lambda i, loss: rep.update(i, f"latent mse {loss:.4f}"),
        )
    finally:
        rep.stop()
    path = save_encoder(run, E, fit, ckpt)
    rep.log(
        f"encoder: {path} (held-out latent mse {fit.latent_mse:.4f}, pixel mse "
        f"{fit.pixel_mse:.4f}, {fit.seconds:.0f} s)"
    )
    return EncoderResult(str(path), str(ckpt.path), ckpt.step, asdict(fit), ckpt.weights_used)


def project_images(
    run: str | Path,
    inputs: Sequence[str | Path],
    out: str | Path | None = "latents.h5",
    *,
    data_root: str | Path | None = None,
    split: str | None = None,
    num: int | None = None,
    config: ProjectionConfig = ProjectionConfig(),
    use_encoder: bool = True,
    grid: str | Path | None = None,
    device: str | torch.device = "cpu",
    reporter: Reporter | None = None,
    class_: str | int | None = None,
    weights: str = "auto",
) -> ProjectResult:
    """Project images into a run's latent space and write the latents file (and a grid).

    Args:
        run: a run directory (its latest checkpoint) or a checkpoint file.
        inputs: image files and folders, or one dataset name (then data_root/split/num).
        out: the latents file (.h5/.hdf5), or None to write none.
        data_root: where the named dataset lies (default: the run's, for its own dataset).
        split: the dataset split (default: "test" where the dataset has one, else "train").
        num: the dataset's first `num` images (default 64).
        config: the search's settings.
        use_encoder: start from the run's stored encoder too, when it has one.
        grid: an image file: each original over its reconstruction, 8 per row.
        device: where G, D and E run.
        reporter: progress (default: none).
        class_: a conditional run's class (name or index): G and D are held to it, and it
            is recorded in the latents file (`sample --latents` needs the same --class).
        weights: which G the images are projected into (recorded in the latents file):
            "auto" (the averaged G of a run trained with --ema, else the trained G), "ema"
            or "raw" (the trained G). D (the feature loss) is the trained D.
    Returns:
        A ProjectResult; nothing is written when it raises.
    """
    if out is not None and Path(out).suffix.lower() not in SUFFIXES:
        raise GanlabError(f"cannot write --out {out}: use an .h5 or .hdf5 latents file.")
    if grid is not None:
        out_kind(str(grid), ("image",), "--grid")
    rep = reporter or Reporter(quiet=True)
    ckpt = load_checkpoint(run).use_weights(weights)
    label = resolve_class(ckpt, class_)
    check_labels(ckpt, label, 1)  # a conditional run without --class fails before any work
    real, attrs = _read_inputs(ckpt, inputs, data_root, split, num)
    if label is not None:
        attrs = {**attrs, "class": ckpt.class_names[label]}
    stored = load_encoder(run, ckpt, device) if use_encoder else None
    warnings = list(real.notes)
    if stored is not None and (stale := stored.stale(ckpt)):
        warnings.append(stale)
    start = time.perf_counter()
    rep.start("projecting", total=len(real.images))
    try:
        proj = project(
            ckpt,
            real.images,
            config,
            stored.encoder if stored else None,
            device,
            on_batch=lambda done: rep.update(done),
            label=label,
        )
    finally:
        rep.stop()
    seconds = time.perf_counter() - start
    settings = {
        "steps": config.steps,
        "lr": config.lr,
        "restarts": config.restarts,
        "seed": config.seed,
        "feature_weight": config.feature_weight,
        "precision": proj.precision,
    }
    if out is not None:
        write_latents(
            out,
            proj.z,
            real.sources,
            {
                **attrs,
                **settings,
                "z_dist": ckpt.z_dist,
                "checkpoint": str(ckpt.path),
                "checkpoint_sha256": ckpt.sha256(),
                "step": ckpt.step,
                "weights": ckpt.weights_used,
                "encoder": str(stored.path) if stored else "",
                "ganlab_version": __version__,
            },
            {"loss": proj.loss, "pixel_mse": proj.pixel_mse, "feature_dist": proj.feature_dist},
            proj.start,
        )
    if grid is not None:
        write_image(reconstruction_grid(ckpt, real.images, proj.z, device, label=label), grid)
    return ProjectResult(
        out=None if out is None else str(out),
        grid=None if grid is None else str(grid),
        count=len(real.images),
        checkpoint=str(ckpt.path),
        step=ckpt.step,
        encoder=str(stored.path) if stored else None,
        settings=settings,
        summary=summarise(proj),
        images=per_image(proj, real.sources),
        seconds=round(seconds, 3),
        seconds_per_image=round(seconds / len(real.images), 4),
        warnings=warnings,
        weights=ckpt.weights_used,
    )


def _read_inputs(
    ckpt: Checkpoint, inputs: Sequence[str | Path], data_root, split, num
) -> tuple[UserImages, dict]:
    """The images to project and what to record of their origin (attrs of the latents file)."""
    inputs = [str(i) for i in inputs]
    if not inputs:
        raise ImageInputError(
            "no images to project: name image files, folders, or a dataset (e.g. "
            "`ganlab project RUN fashion-mnist --split test -n 100`)."
        )
    names = [i for i in inputs if i in DATASETS and not Path(i).exists()]
    if not names:
        if split is not None or num is not None or data_root is not None:
            raise GanlabError("--split, -n and --data-root select images of a dataset; name one.")
        return read_user_images(data_spec_of(ckpt), inputs), {"inputs": "files"}
    if len(inputs) > 1:
        raise GanlabError(
            f"{names[0]!r} names a dataset: project a dataset on its own, or image files and "
            "folders without one."
        )
    return _dataset_images(ckpt, names[0], data_root, split, num)


def _dataset_images(ckpt: Checkpoint, name: str, data_root, split, num) -> tuple[UserImages, dict]:
    """The first `num` images of a dataset split, at the run's size and channels."""
    run = data_spec_of(ckpt)
    info = DATASETS[name]
    split = split or ("test" if "test" in info.splits else info.splits[0])
    if data_root is None and name == run.name:
        data_root = run.root
    spec = DataSpec(
        name,
        root=None if data_root is None else str(data_root),
        split=split,
        image_size=run.image_size,
        channels=run.channels,
        category=run.category if name == run.name else None,
    )
    ds = open_dataset(spec)
    count = min(num or 64, len(ds))
    read = list(batches(ds, indices=list(range(count))))
    images = torch.cat([b.images for b in read])  # (N, C, S, S) uint8
    indices = torch.cat([b.indices for b in read]).tolist()
    skipped = sum(b.skipped for b in read)
    if not indices:
        raise ImageInputError(
            f"none of the first {count} images of {name} ({split}) could be read."
        )
    notes = [f"{skipped} of the first {count} images could not be decoded."] if skipped else []
    sources = [f"{name}/{split}/{i}" for i in indices]
    return UserImages(images, sources, notes), {
        "inputs": "dataset",
        "dataset": name,
        "split": split,
    }


def summarise(proj: Projection) -> dict:
    """Mean, median and worst of each error, and how many images started from each kind."""
    out = {}
    for name, values, worst in (
        ("pixel_mse", proj.pixel_mse, max),
        ("psnr", proj.psnr, min),
        ("feature_dist", proj.feature_dist, max),
        ("loss", proj.loss, max),
    ):
        v = values.tolist()
        out[name] = {
            "mean": round(statistics.fmean(v), 6),
            "median": round(statistics.median(v), 6),
            "worst": round(worst(v), 6),
        }
    out["starts"] = {
        "encoder": sum(s == "encoder" for s in proj.start),
        "seed": sum(s.startswith("seed") for s in proj.start),
    }
    return out


def per_image(proj: Projection, sources: Sequence[str]) -> list[dict]:
    """One record per image: where it came from, its errors and its start."""
    psnr = proj.psnr.tolist()
    return [
        {
            "source": src,
            "loss": round(float(proj.loss[i]), 6),
            "pixel_mse": round(float(proj.pixel_mse[i]), 6),
            "psnr": round(psnr[i], 3),
            "feature_dist": round(float(proj.feature_dist[i]), 6),
            "start": proj.start[i],
            "start_loss": round(float(proj.start_loss[i]), 6),
        }
        for i, src in enumerate(sources)
    ]


def reconstruction_grid(
    ckpt: Checkpoint,
    images: torch.Tensor,
    z: torch.Tensor,
    device,
    columns: int = GRID_COLUMNS,
    label: int | None = None,
):
    """Rows of up to `columns` originals, each row over its reconstructions G(z).

    Args:
        ckpt: the run's checkpoint.
        images: uint8 (N, C, S, S) originals, as the run sees them.
        z: (N, nz) their projections.
        device: where G runs.
        columns: images per row.
        label: a conditional run's class.
    Returns:
        A PIL image; empty slots of the last row are black.
    """
    # (N, C, S, S) in [-1, 1], as `sample --latents` renders
    recon = generate(ckpt, z, device, labels=label)
    real = to_unit(images)
    n, cols = len(images), min(columns, len(images))
    blocks = -(-n // cols)
    tiles = torch.full((2 * blocks * cols, *real.shape[1:]), -1.0)  # -1: black
    for i in range(n):
        row, col = 2 * (i // cols), i % cols
        tiles[row * cols + col] = real[i]
        tiles[(row + 1) * cols + col] = recon[i]
    return grid_image(tiles, nrow=cols)
