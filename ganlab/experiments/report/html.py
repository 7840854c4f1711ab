"""The page's markup: its style, escaping, tables, and images embedded as data: URIs."""

from __future__ import annotations

import base64
import html
import io
import json
import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ganlab.experiments.report.read import IMAGE_SUFFIXES, MAX_EMBED_BYTES

THUMB_SIDE = 160  # px: the longer side of a grid's thumbnail in the strip
LARGE_SIDE = 1024  # px: the longer side large images of the run directory are downscaled to

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1200px;
  padding: 0 20px 40px; color: #1d1d1f; background: #fff; }
h1 { font-size: 26px; margin: 24px 0 2px; } h2 { font-size: 20px; margin: 32px 0 8px;
  border-bottom: 1px solid #ddd; padding-bottom: 4px; } h3 { font-size: 16px; margin: 20px 0 6px; }
.sub { color: #555; margin: 0 0 8px; } nav a { margin-right: 14px; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 12px; }
.plots img, .large img, figure.result img { max-width: 100%; height: auto; }
.strip { display: flex; gap: 6px; overflow-x: auto; padding-bottom: 6px; }
.strip figure { margin: 0; text-align: center; flex: none; }
.strip figcaption, figcaption { font-size: 12px; color: #555; }
.large { margin: 0 0 12px; } .large img { image-rendering: pixelated; border: 1px solid #ccc; }
figure.result { margin: 12px 0 24px; } figure.result > img { border: 1px solid #ccc; }
figcaption.caption { font-size: 14px; color: #1d1d1f; margin-top: 4px; }
code, pre { font: 13px ui-monospace, monospace; background: #f3f3f5; border-radius: 4px; }
pre { padding: 6px 8px; white-space: pre-wrap; word-break: break-all; margin: 4px 0; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f6f6f8; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.box { border-radius: 6px; padding: 8px 12px; margin: 10px 0; }
.missing { background: #f3f3f5; } .warnings { background: #fff4e0; border: 1px solid #f0c36d; }
.box ul { margin: 4px 0; padding-left: 20px; }
.cols { display: flex; flex-wrap: wrap; gap: 0 16px; align-items: flex-start; }
"""
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


@dataclass
class Section:
    """One section of the page, and what it plotted and captioned (for `ReportResult`)."""

    html: str
    captions: list[str] = field(default_factory=list)
    plotted: list[str] = field(default_factory=list)


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def cmd(*parts) -> str:
    """A command line as a shell reads it back."""
    return shlex.join(str(p) for p in parts)


def number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def scalar(v) -> bool:
    return isinstance(v, (str, int, float, bool))


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def table(rows: list[list], header: list[str] | None = None) -> str:
    def cell(v, tag="td"):
        cls = ' class="num"' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
        return f"<{tag}{cls}>{esc(fmt(v))}</{tag}>"

    head = "<tr>" + "".join(cell(h, "th") for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def img(kind: str, data: bytes, alt: str, size: tuple[int, int] | None = None, **attrs) -> str:
    """An <img> holding `data` (an image file of format `kind`) as a data: URI."""
    extra = "".join(f' {k.replace("_", "-")}="{esc(v)}"' for k, v in attrs.items())
    dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
    uri = f"data:image/{kind};base64,{base64.b64encode(data).decode()}"
    return f'<img src="{uri}" alt="{esc(alt)}"{dims}{extra}>'


def image_tag(path: Path, alt: str, notes: list[str]) -> str:
    """An image of the run directory, embedded as it is or, if large, downscaled; "" (and a
    note) if it is unreadable."""
    try:
        with Image.open(path) as image:
            image.verify()  # a damaged file is named in the page, not embedded
        if path.stat().st_size <= MAX_EMBED_BYTES:
            return img(IMAGE_SUFFIXES[path.suffix.lower()], path.read_bytes(), alt)
        with Image.open(path) as image:
            small = image.convert("RGB")
        small.thumbnail((LARGE_SIDE, LARGE_SIDE))
        buf = io.BytesIO()
        small.save(buf, format="PNG")
        return img("png", buf.getvalue(), alt + " (downscaled)")
    except (OSError, UnidentifiedImageError, SyntaxError):
        notes.append(f"{path.name} is not a readable image")
        return ""


def thumbnail(path: Path) -> tuple[bytes, tuple[int, int], tuple[int, int]] | None:
    """(JPEG bytes, its size, the image's size) of a grid's thumbnail; None if unreadable."""
    try:
        with Image.open(path) as image:
            full = image.size
            image.thumbnail((THUMB_SIDE, THUMB_SIDE), reducing_gap=2.0)  # decodes, then shrinks
            thumb = image if image.mode in ("L", "RGB") else image.convert("RGB")
            buf = io.BytesIO()
            thumb.save(buf, format="JPEG", quality=85)
    except (OSError, UnidentifiedImageError):
        return None
    return buf.getvalue(), thumb.size, full
