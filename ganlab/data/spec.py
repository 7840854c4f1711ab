"""Which images: a data set named once, as plain data, and opened in one place.

A `DataSpec` says what `ganlab train` trains on, what `eval` compares with and what `probe`
classifies: the registered data set, where its published files lie (or a `ganlab prepare`
cache), the split, and the size and channels the images are decoded to. `open_dataset(spec)`
turns it into an ImageDataset. Training configs hold one; nothing builds a training config
only to read data.

    spec = DataSpec("lsun", root="~/data/lsun", category="bedroom", image_size=64)
    data = open_dataset(spec)  # LmdbDataset of uint8 (3, 64, 64) images
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ganlab.data.base import ImageDataset
from ganlab.data.prepared import open_prepared
from ganlab.data.registry import DATASETS, load_dataset
from ganlab.errors import DatasetError

DEFAULT_CATEGORY = "bedroom"  # LSUN's scene category when none is named (paper section 4.1)


@dataclass(frozen=True)
class DataSpec:
    """A registered data set at a size: everything needed to open the same images again."""

    name: str = "digits"  # registry name (ganlab.data.DATASETS)
    root: str | None = None  # where the published files lie (--data-root)
    split: str = "train"  # one of the data set's splits
    image_size: int | None = None  # side S of the decoded images; None: the data set's default
    channels: int | None = None  # 1 or 3; None: the data set's native channels
    category: str | None = None  # LSUN's scene category (default bedroom); None for the others
    download: bool = False  # fetch missing files into root first (where the set allows it)
    prepared: str | None = None  # a `ganlab prepare` cache to read instead of root (--data)

    def __post_init__(self) -> None:
        if self.name not in DATASETS:
            raise DatasetError(
                f"unknown dataset {self.name!r}: choose one of {', '.join(sorted(DATASETS))}."
            )
        if self.name == "lsun" and self.category is None:
            object.__setattr__(self, "category", DEFAULT_CATEGORY)
        elif self.name != "lsun" and self.category is not None:
            raise DatasetError(
                f"--category {self.category} picks an LSUN scene; {self.name} has no "
                "categories. Drop --category."
            )

    def replace(self, **changes) -> DataSpec:
        """A copy with `changes` applied (and checked); another data set drops the category."""
        if "name" in changes and "category" not in changes and changes["name"] != self.name:
            changes["category"] = None
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def open_dataset(spec: DataSpec) -> ImageDataset:
    """The images `spec` names: its prepared cache, or the published files under its root.

    Raises:
        DatasetError: bad options, or missing or malformed data (the message says how to fix
            it).
    """
    if spec.prepared is not None:
        return open_prepared(
            spec.prepared, dataset=spec.name, image_size=spec.image_size, channels=spec.channels
        )
    return load_dataset(
        spec.name,
        spec.root,
        split=spec.split,
        image_size=spec.image_size,
        channels=spec.channels,
        category=spec.category or DEFAULT_CATEGORY,
        download=spec.download,
    )


def absolute(spec: DataSpec) -> DataSpec:
    """`spec` with its paths absolute: a record that still names the same files elsewhere."""

    def resolved(path: str | None) -> str | None:
        return None if path is None else str(Path(path).expanduser().absolute())

    return spec.replace(root=resolved(spec.root), prepared=resolved(spec.prepared))
