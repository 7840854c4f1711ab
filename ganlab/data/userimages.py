"""A user's own image files, decoded exactly as a run's training images were.

`ganlab project`, `concept add --images`, `arithmetic --base-image` and `interpolate --images`
take image files and folders. Each image is cropped, resized and converted to the run's
channels by the same code the run's dataset reader uses (``data.registry.decode_as``), so the
projection compares G's output with what G was trained to imitate, not with a differently
scaled or blurred version of it.

Named files must be readable; a folder's unreadable files are skipped with a note, as the
dataset readers skip them. An image of another channel count (a colour photo for a grey run)
is converted as the dataset reader converts, with a note.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

from ganlab.data.decode import DECODE_ERRORS
from ganlab.data.registry import decode_as
from ganlab.data.scan import IMAGE_EXTENSIONS, list_images
from ganlab.data.spec import DataSpec
from ganlab.errors import ImageInputError

GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "F")  # Pillow modes with one colour band


@dataclass
class UserImages:
    """A user's images at a run's size and channels, with where each came from."""

    images: torch.Tensor  # uint8 (N, C, S, S)
    sources: list[str]  # the file of each image, as given (folders expanded)
    notes: list[str] = field(default_factory=list)  # conversions and skipped files


def read_user_images(spec: DataSpec, inputs: Sequence[str | Path]) -> UserImages:
    """Read image files and folders of them as the run's training images were read.

    Args:
        spec: the run's images (`core.trainset.data_spec_of`): the data set whose decoding
            to repeat, at the run's image size and channels.
        inputs: image files and folders (searched recursively, files in sorted order).
    Returns:
        UserImages, in the order given.
    Raises:
        ImageInputError: a path does not exist, a named file cannot be decoded, a folder holds
            no readable image, or nothing was given.
    """
    size, channels = spec.image_size, spec.channels
    files: list[tuple[Path, bool]] = []  # (file, named by the user)
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = list_images(path, recursive=True)
            if not found:
                raise ImageInputError(
                    f"folder {path} holds no image files (looked for "
                    f"{', '.join(sorted(IMAGE_EXTENSIONS))}, at any depth)."
                )
            files += [(path / rel, False) for rel in found]
        elif path.is_file():
            files.append((path, True))
        else:
            raise ImageInputError(f"image {path} does not exist; give image files or folders.")
    if not files:
        raise ImageInputError("no images given: name image files or folders of them.")
    images, sources, skipped, converted = [], [], [], []
    for file, named in files:
        native = _native_channels(file)
        image = decode_as(spec.name, file, size, channels) if native else None
        if image is None:
            if named:
                raise ImageInputError(
                    f"cannot read image {file}: it is not an image Pillow can decode (corrupt, "
                    "truncated, or another kind of file)."
                )
            skipped.append(str(file))
            continue
        if native != channels:
            converted.append(str(file))
        images.append(image)
        sources.append(str(file))
    if not images:
        raise ImageInputError(
            f"none of the {len(files)} image file(s) found could be decoded (e.g. {files[0][0]})."
        )
    notes = []
    if converted:
        what = "grey" if channels == 1 else "RGB"
        notes.append(
            f"{_some(converted)} converted to {what}: the run was trained on "
            f"{channels}-channel images."
        )
    if skipped:
        notes.append(f"{_some(skipped)} could not be decoded and were skipped.")
    return UserImages(torch.stack(images), sources, notes)


def _native_channels(file: Path) -> int | None:
    """1 for a grey image file, 3 for colour, None when Pillow cannot open it."""
    try:
        with Image.open(file) as img:
            return 1 if img.mode in GREY_MODES else 3
    except DECODE_ERRORS:
        return None


def _some(files: list[str]) -> str:
    """'a.jpg' / '3 images (a.jpg, b.jpg, ...)' for a note."""
    if len(files) == 1:
        return f"image {files[0]} was"
    shown = ", ".join(files[:3]) + (", ..." if len(files) > 3 else "")
    return f"{len(files)} images ({shown}) were"
