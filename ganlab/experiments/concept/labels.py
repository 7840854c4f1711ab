"""Labelled real images for mining, at the run's image size and channels.

They come from a label file (a CSV of image paths and label columns, or CelebA's
list_attr_celeba.txt) or from the run's own labelled dataset.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ganlab.data.batches import batches
from ganlab.errors import GanlabError
from ganlab.io.checkpoint import Checkpoint
from ganlab.io.concepts import check_name


@dataclass
class LabelColumn:
    """One label/attribute: a value per real image ("" when unknown) and each value's name."""

    name: str
    values: list[str]
    concept_names: dict[str, str]  # label value -> concept name


@dataclass
class LabelledImages:
    images: torch.Tensor  # uint8 (N, C, S, S) at the run's size and channels
    columns: list[LabelColumn]
    source: str  # where the labels came from, for provenance
    skipped: int = 0  # listed images that were missing or unreadable


def read_label_table(path: Path) -> tuple[list[str], list[LabelColumn]]:
    """Read image paths and label columns from a CSV or CelebA's list_attr_celeba.txt.

    A CSV has a header row naming the columns; the first column is the image path. One label
    column names its concepts by value ("smiling woman"); several name them "column=value".
    CelebA's format (a count line, a line of attribute names, then "file v1 v2 ..." with -1/1)
    names them "Eyeglasses" and "not Eyeglasses".

    Returns:
        (paths, columns) with one value per path in each column.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise GanlabError(f"cannot read --labels {path}: {e}") from None
    lines = text.splitlines()
    if len(lines) >= 2 and lines[0].strip().isdigit():  # CelebA: count, names, rows
        attrs = lines[1].split()
        rows = [line.split() for line in lines[2:] if line.strip()]
        bad = next((i for i, r in enumerate(rows) if len(r) != len(attrs) + 1), None)
        if bad is not None:
            raise GanlabError(
                f"--labels {path} line {bad + 3} has {len(rows[bad]) - 1} values "
                f"for {len(attrs)} attributes."
            )
        paths = [r[0] for r in rows]
        columns = []
        for j, attr in enumerate(attrs):
            values = [r[j + 1] for r in rows]
            columns.append(
                LabelColumn(
                    attr, values, {v: attr if v == "1" else f"not {attr}" for v in set(values)}
                )
            )
        return paths, columns
    rows = [r for r in csv.reader(lines) if any(cell.strip() for cell in r)]
    if len(rows) < 2 or len(rows[0]) < 2:
        raise GanlabError(
            f"--labels {path} needs a header row (e.g. path,label) and at least "
            "one row of an image path and one or more label columns."
        )
    header = [h.strip() for h in rows[0]]
    if Path(header[0]).suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif"):
        raise GanlabError(
            f"--labels {path} starts with {header[0]!r}: add a header row naming "
            "the columns (e.g. path,label) as its first line."
        )
    bad = next((i for i, r in enumerate(rows) if len(r) != len(header)), None)
    if bad is not None:
        raise GanlabError(
            f"--labels {path} row {bad + 1} has {len(rows[bad])} fields, the "
            f"header has {len(header)}."
        )
    paths = [r[0].strip() for r in rows[1:]]
    columns = []
    for j, col in enumerate(header[1:], start=1):
        values = [r[j].strip() for r in rows[1:]]
        names = {v: v if len(header) == 2 else f"{col}={v}" for v in set(values) if v}
        columns.append(LabelColumn(col, values, names))
    return paths, columns


def load_labelled(
    ckpt: Checkpoint,
    data_root: str | Path | None = None,
    labels: str | Path | None = None,
    columns: Sequence[str] | None = None,
    max_images: int = 10000,
    seed: int = 0,
) -> LabelledImages:
    """Labelled real images at the run's image size: from a label file or the run's dataset.

    Args:
        ckpt: the run's checkpoint (its dataset, size and channels).
        data_root: where the images (or the dataset) lie; for a label file, default its folder.
        labels: a CSV or list_attr_celeba.txt; None uses the run's built-in labelled dataset.
        columns: label columns to keep (default all); with one column kept, a CSV's concepts
            are named by value ("woman"), otherwise "column=value" ("gender=woman").
        max_images: at most this many images, a seeded random subset.
        seed: picks the subset.
    Returns:
        LabelledImages.
    """
    if labels is not None:
        real = _from_label_file(ckpt, Path(labels), data_root, max_images, seed)
    else:
        real = _from_dataset(ckpt, data_root, max_images, seed)
    if columns:
        known = [c.name for c in real.columns]
        unknown = [c for c in columns if c not in known]
        if unknown:
            raise GanlabError(
                f"--columns {', '.join(unknown)} not in {real.source}; its "
                f"label columns are: {', '.join(known)}."
            )
        real.columns = [c for c in real.columns if c.name in columns]
    if len(real.columns) == 1:  # one attribute: its values are names enough ("woman")
        col = real.columns[0]
        if all(n == f"{col.name}={v}" for v, n in col.concept_names.items()):
            col.concept_names = {v: v for v in col.concept_names}
    for col in real.columns:
        for name in col.concept_names.values():
            try:
                check_name(name)
            except GanlabError as e:
                raise GanlabError(
                    f"label {col.name!r} of {real.source} cannot name a concept: {e}"
                ) from None
    return real


def _subset(n: int, max_images: int, seed: int) -> list[int]:
    if n <= max_images:
        return list(range(n))
    gen = torch.Generator().manual_seed(seed)
    return sorted(torch.randperm(n, generator=gen)[:max_images].tolist())


def _from_dataset(ckpt: Checkpoint, data_root, max_images: int, seed: int) -> LabelledImages:
    from ganlab.data import DATASETS, load_dataset

    cfg, mc = ckpt.train_config, ckpt.model_config
    name, split = cfg.get("dataset"), cfg.get("split", "train")
    no_labels = GanlabError(
        f"the run's dataset {name} has no labels to mine concepts from: give --labels FILE (a "
        "CSV of image path and label columns, or CelebA's list_attr_celeba.txt) and "
        "--data-root DIR."
    )
    if name not in DATASETS or not DATASETS[name].labelled:  # checked before reading any data
        raise no_labels
    ds = load_dataset(
        name,
        data_root or cfg.get("data_root"),
        split=split,
        image_size=mc.image_size,
        channels=mc.channels,
        category=cfg.get("category", "bedroom"),
    )
    if not ds.class_names:
        raise no_labels
    keep = _subset(len(ds), max_images, seed)
    read = list(batches(ds, indices=keep))  # unreadable images are left out
    images = torch.cat([b.images for b in read])  # (N, C, S, S) uint8
    targets = torch.cat([b.labels for b in read]).tolist()
    values = [ds.class_names[t] if t >= 0 else "" for t in targets]
    column = LabelColumn("class", values, {c: c for c in ds.class_names})
    return LabelledImages(images, [column], f"dataset {name} (split {split})")


def _from_label_file(
    ckpt: Checkpoint, path: Path, data_root, max_images: int, seed: int
) -> LabelledImages:
    from ganlab.data.decode import decode_image
    from ganlab.data.files import CELEBA_CROP

    if not path.is_file():
        raise GanlabError(f"--labels {path} does not exist.")
    paths, columns = read_label_table(path)
    root = Path(data_root) if data_root is not None else path.parent
    if not root.is_dir():
        raise GanlabError(f"--data-root {root} is not a directory.")
    mc = ckpt.model_config
    # Preprocess exactly as the run's training images were: DCGAN's CelebA crop for celeba.
    crop = CELEBA_CROP if ckpt.train_config.get("dataset") == "celeba" else None
    keep = _subset(len(paths), max_images, seed)
    images, kept = [], []
    for i in keep:
        file = _find_image(root, paths[i])
        image = decode_image(file, mc.image_size, mc.channels, crop) if file else None
        if image is not None:
            images.append(image)
            kept.append(i)
    if not images:
        raise GanlabError(
            f"none of the {len(keep)} images listed in {path} could be read under "
            f"--data-root {root} (e.g. {root / paths[keep[0]]}); paths in the "
            "label file are relative to --data-root."
        )
    for col in columns:
        col.values = [col.values[i] for i in kept]
    return LabelledImages(torch.stack(images), columns, str(path), skipped=len(keep) - len(kept))


def _find_image(root: Path, rel: str) -> Path | None:
    from ganlab.data.files import CELEBA_FOLDERS

    # CelebA's attribute file names bare 000001.jpg; the images sit in img_align_celeba/.
    for base in (root, *(root / sub for sub in CELEBA_FOLDERS)):
        candidate = base / rel
        if candidate.is_file():
            return candidate
    return None
