"""D's pooled conv features of the probe dataset, written to (or reused from) an HDF5 store.

Images of the probe dataset at D's size -> D (the checkpoint's, an untrained one of its shape,
or with --random-init alone an untrained one of the paper's shape for the dataset; eval mode,
BatchNorm statistics re-estimated on the training images by default) -> every chosen conv
layer's map max-pooled to a grid (4x4) and concatenated -> one row per image in the features
file, train and test splits.
A file is reused only when it answers the same request (checkpoint, layers, grid, BatchNorm
mode...); an interrupted extraction resumes from its partial file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from ganlab.core.amp import resolve_amp
from ganlab.core.features import (
    bn_buffers,
    extract_features,
    feature_dim,
    random_discriminator,
    recompute_bn_stats,
)
from ganlab.core.nets import load_discriminator
from ganlab.data.base import ImageDataset
from ganlab.data.batches import batches
from ganlab.errors import GanlabError
from ganlab.experiments.probe.config import ProbeConfig
from ganlab.io.featstore import FeatureFile, FeatureStoreError, FeatureWriter, differences
from ganlab.modelconfig import AUTHORS_SHAPES, ModelConfig
from ganlab.progress import Reporter

BN_BATCH = 128  # minibatch of the BatchNorm statistics pass: the paper's (and training's)
# --random-init without a run: the paper's D for the dataset (AUTHORS_SHAPES key, its table)
PAPER_D = {
    "cifar10": ("imagenet32", "Table 1"),
    "imagenet": ("imagenet32", "Table 1"),
    "svhn": ("svhn", "Table 2"),
}


def ensure_features(cfg: ProbeConfig, path: Path, device: torch.device, rep: Reporter) -> None:
    """Make `path` a complete features file for `cfg`: reuse a matching one or extract it.

    Args:
        cfg: the probe configuration (with a checkpoint).
        path: the features file to reuse or write.
        device: where D runs.
        rep: progress output.
    Raises:
        GanlabError: unknown or unlabelled dataset, layers out of range.
        FeatureStoreError: `path` exists but answers a different request.
    """
    from ganlab.data import DATASETS

    D, mc, dataset, source = _discriminator(cfg)
    info = DATASETS[dataset]
    if not info.labelled and dataset != "folder":  # a folder is labelled by its subfolders
        raise GanlabError(
            f"{dataset} has no class labels, so a classifier cannot be scored on "
            "it. Probe a labelled dataset: digits, mnist, fashion-mnist, cifar10, "
            "svhn, imagenet, or folder with one subfolder per class."
        )
    n_layers = len(D.feature_shapes())
    layers = list(range(n_layers)) if cfg.layers is None else list(cfg.layers)
    bad = [i for i in layers if not 0 <= i < n_layers]
    if bad:
        raise GanlabError(
            f"--layers {','.join(map(str, bad))} out of range: this D has "
            f"{n_layers} conv layers, numbered 0 (input side) to {n_layers - 1}."
        )
    grid = cfg.grid or 4
    test_split = "test" if "test" in info.splits else "val" if "val" in info.splits else None
    request = {
        "source": "random-init" if cfg.random_init else "checkpoint",
        **source,
        "init_seed": cfg.seed if cfg.random_init else -1,
        "model_config": mc.to_dict(),
        "dataset": dataset,
        "data_root": cfg.data_root or "",
        "image_size": mc.image_size,
        "channels": mc.channels,
        "layers": layers,
        "grid": grid,
        "bn_stats": cfg.bn_stats or "recompute",
        "bn_batch_size": BN_BATCH,
        "feature_dim": feature_dim(D, layers, grid),
        "splits": ["train", "test"] if test_split else ["train"],
    }
    compute = resolve_amp(cfg.amp, device).amp
    if compute != "off":  # float32 files (all files before --amp) carry no such attribute
        request["precision"] = compute
    if path.is_file():
        with FeatureFile(path) as ff:
            diff = differences(ff.attrs, request)
            if cfg.checkpoint is None and ff.attrs.get("model_config") != request["model_config"]:
                diff.append(f"another D shape ({ff.attrs.get('d_shape', 'a run')})")
            if cfg.dtype is not None and ff.attrs.get("dtype") != cfg.dtype:
                diff.append(f"dtype {ff.attrs.get('dtype')} (asked for {cfg.dtype})")
        if diff:
            raise FeatureStoreError(
                f"{path} holds different features: {'; '.join(diff)}. Use another --features "
                "path for this request, or delete the file to replace it."
            )
        rep.log(f"reusing features in {path} (they match this request)")
        return
    _extract(cfg, request, D, dataset, test_split, path, device, rep)


def paper_shape(dataset: str) -> tuple[ModelConfig, str]:
    """The paper's D for `dataset`, and its description: `--random-init` without a run.

    The authors' 32x32 ImageNet D (Table 1) for cifar10 and imagenet, their SVHN D (Table 2)
    for svhn, and ganlab's default dcgan shape at the data set's default size for the others.
    """
    from ganlab.data import DATASETS

    if dataset in PAPER_D:
        name, table = PAPER_D[dataset]
        mc = AUTHORS_SHAPES[name]
        return mc, f"{name}, the paper's {table} D ({_summary(mc)})"
    if dataset not in DATASETS:
        raise GanlabError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}.")
    info = DATASETS[dataset]
    mc = ModelConfig(image_size=info.default_image_size, channels=info.channels)
    return mc, f"dcgan, ganlab's default for {dataset} ({_summary(mc)})"


def _summary(mc: ModelConfig) -> str:
    """What tells D shapes apart at a glance, e.g. "32 px, 3 channels, ndf 128, kernel 5"."""
    channels = f"{mc.channels} channel{'s' if mc.channels > 1 else ''}"
    text = f"{mc.image_size} px, {channels}, ndf {mc.ndf}"
    return text + (f", kernel {mc.kernel_size}" if mc.kernel_size else "")


def _discriminator(cfg: ProbeConfig) -> tuple[torch.nn.Module, ModelConfig, str, dict]:
    """D, its shape, the probe dataset and the file attributes naming D's source.

    With a checkpoint: its D (or, with --random-init, an untrained D of its shape) and by
    default its own dataset. Without one (--random-init alone): the paper's D for the dataset.
    """
    from ganlab.data import DATASETS
    from ganlab.io.checkpoint import load_checkpoint

    if cfg.checkpoint is None:
        mc, shape = paper_shape(cfg.dataset)
        source = {"checkpoint": "", "checkpoint_sha256": "none", "checkpoint_step": -1}
        return random_discriminator(mc, cfg.seed), mc, cfg.dataset, source | {"d_shape": shape}
    ckpt = load_checkpoint(cfg.checkpoint)
    mc = ckpt.model_config
    dataset = cfg.dataset or ckpt.train_config.get("dataset")
    if dataset not in DATASETS:
        raise GanlabError(
            f"unknown dataset {dataset!r}; name the probe dataset, e.g. "
            "`ganlab probe cifar10 --checkpoint RUN`."
        )
    D = random_discriminator(mc, cfg.seed) if cfg.random_init else load_discriminator(ckpt)
    source = {
        "checkpoint": str(ckpt.path),
        "checkpoint_sha256": ckpt.sha256(),
        "checkpoint_step": ckpt.step,
        "d_shape": f"{mc.arch}, the checkpoint's ({_summary(mc)})",
    }
    return D, mc, dataset, source


def check_file_answers(ff: FeatureFile, cfg: ProbeConfig) -> None:
    """With --features alone, options given explicitly must agree with the file.

    Raises:
        FeatureStoreError: the file holds other features than `cfg` names.
    """
    wanted = {
        "dataset": cfg.dataset,
        "grid": cfg.grid,
        "bn_stats": cfg.bn_stats,
        "layers": list(cfg.layers) if cfg.layers is not None else None,
    }
    diff = differences(ff.attrs, wanted)
    if diff:
        raise FeatureStoreError(
            f"{ff.path} does not hold the features asked for: it has "
            f"{'; '.join(diff)}. Drop those options to use the file as it "
            "is, or add --checkpoint RUN and a new --features path to "
            "extract them."
        )


def _extract(
    cfg: ProbeConfig,
    request: dict,
    D,
    dataset: str,
    test_split: str | None,
    path: Path,
    device: torch.device,
    rep: Reporter,
) -> None:
    """Write the features of every split in `request` to `path`, resuming a partial file.

    Args:
        cfg: the probe configuration (data root, batch size, workers, dtype).
        request: the attributes the file will carry (layers, grid, bn_stats, sizes...).
        D: the discriminator, moved to `device` here.
        dataset: the probe dataset's name.
        test_split: the dataset's split stored as "test", or None.
        path: the features file to publish.
        device: where D runs.
        rep: progress output.
    """
    from ganlab.data import load_dataset

    sources = {"train": "train"} | ({"test": test_split} if test_split else {})
    data = {}
    for split, source in sources.items():
        data[split] = load_dataset(
            dataset,
            cfg.data_root,
            split=source,
            image_size=request["image_size"],
            channels=request["channels"],
        )
    names = data["train"].class_names
    if not names:
        raise GanlabError(
            f"{dataset} at {cfg.data_root} has no classes (a folder needs one "
            "subfolder per class) so a classifier cannot be scored on it."
        )
    request = {**request, "class_names": list(names)}
    D = D.to(device)
    precision = resolve_amp(cfg.amp, device)
    rep.log(f"precision: {precision.reason}")
    writer = FeatureWriter(path, request, cfg.dtype or "float32", log=rep.log)
    try:
        if request["bn_stats"] == "recompute":
            state = writer.bn_state()
            if state is None:
                rep.log(
                    f"re-estimating BatchNorm statistics over {len(data['train'])} "
                    f"{dataset} training images"
                )
                n = recompute_bn_stats(
                    D, _stat_batches(data["train"], cfg.workers), device, precision
                )
                rep.log(f"BatchNorm statistics averaged over {n} batches of {BN_BATCH}")
                writer.save_bn_state(bn_buffers(D))
            else:
                D.load_state_dict({**D.state_dict(), **state})
        D.eval()
        for split, ds in data.items():
            writer.begin(split, len(ds), sources[split])
            if writer.is_complete(split):
                continue
            done = writer.items_done(split)
            rep.start(f"features {dataset} {split}", total=len(ds), completed=done)
            for batch in batches(ds, batch_size=cfg.batch_size, start=done, workers=cfg.workers):
                if batch.images.shape[0]:
                    feats = next(
                        extract_features(
                            D,
                            iter([batch.images]),
                            request["layers"],
                            request["grid"],
                            device,
                            precision,
                        )
                    )  # (B, F)
                else:  # every image of the batch failed to decode
                    feats = torch.empty(0, request["feature_dim"])
                writer.append(split, feats, batch.labels, batch.size)
                done += batch.size
                rep.update(done)
            rep.stop()
            writer.finish(split)
            g = writer.h5[split].attrs
            rep.log(
                f"{split}: {int(g['rows'])} feature rows of {request['feature_dim']} "
                f"({int(g['skipped'])} unreadable images skipped)"
            )
        writer.publish()
    except BaseException:
        rep.stop()
        writer.close()
        if cfg.features:
            rep.log(
                f"extraction stopped; run the same command again to resume from {writer.partial}"
            )
        raise
    rep.log(f"wrote {path}")


def _stat_batches(ds: ImageDataset, workers: int) -> Iterator[torch.Tensor]:
    """Training image batches (B, C, S, S) uint8 for BatchNorm statistics, in dataset order.

    The batch size is fixed (BN_BATCH), not --batch-size: the average of per-batch variances
    depends on it, and the features must not depend on a speed setting. A short last batch is
    dropped (unless it is the only one), and so is a batch with fewer than two readable images.

    Args:
        ds: the probe's training set.
        workers: loader processes for a file-backed dataset.
    Returns:
        An iterator of image batches.
    """
    full = len(ds) // BN_BATCH
    for i, batch in enumerate(batches(ds, batch_size=BN_BATCH, workers=workers)):
        if i >= full > 0:
            break
        if batch.images.shape[0] > 1:  # BatchNorm needs two images for a variance
            yield batch.images
