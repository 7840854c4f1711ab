"""A rule-made label file for a folder of images: how bright the top band of each image is.

A stand-in attribute for face runs without attribute labels: in aligned faces the top band is
hair and background, so "dark top" / "light top" is a hair-or-background edit that should leave
the face itself alone. Images whose band brightness lies in the lowest third are "dark top",
the highest third "light top"; the middle third is left unlabelled (an empty value), so the two
values are clearly apart. Writes the CSV `concept mine --labels` and
`attribute_edit.py --labels` read (path relative to the folder, then the label).

    python benchmarks/band_labels.py DIR labels.csv [--band 0.25]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from ganlab.io.atomic import write_text

SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def band_brightness(path: Path, band: float) -> float:
    """Mean grey level (0-255) of the top `band` fraction of the image's rows."""
    with Image.open(path) as im:
        grey = np.asarray(im.convert("L"), dtype=np.float32)  # (H, W)
    return float(grey[: max(1, int(grey.shape[0] * band))].mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("out", type=Path, help="the CSV to write")
    ap.add_argument("--band", type=float, default=0.25, help="top fraction of rows measured")
    args = ap.parse_args()
    files = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in SUFFIXES)
    if not files:
        raise SystemExit(f"no images under {args.folder}")
    values = np.array([band_brightness(f, args.band) for f in files])
    low, high = np.quantile(values, [1 / 3, 2 / 3])
    lines = ["path,top"]
    for f, v in zip(files, values, strict=True):
        label = "dark top" if v < low else "light top" if v > high else ""
        lines.append(f"{f.relative_to(args.folder).as_posix()},{label}")
    write_text(args.out, "\n".join(lines) + "\n")  # atomic: no half-written label file
    print(
        f"wrote {args.out}: {len(files)} images, dark top < {low:.1f} <= unlabelled <= "
        f"{high:.1f} < light top (mean grey of the top {args.band:.0%} of rows)"
    )


if __name__ == "__main__":
    main()
