"""`ganlab forget`: make G forget an object it draws (paper Fig. 6, "forgetting to draw windows").

A person draws boxes around one kind of object on generated samples, each sample named by its
seed. A logistic regression on G's second-highest conv layer then predicts "inside a box" from
the feature vector at one spatial position: positives are the positions inside the boxes,
negatives as many random positions elsewhere in the same images. Every feature map with a
positive weight (or the `top` largest) is dropped, i.e. zeroed at all spatial locations, and
the same seeds are rendered with and without it.

"Second-highest conv layer": the paper dropped 200 maps of this layer, so it must have more than
200; in its generator (1024, 512, 256, 128 maps, then the 3-channel image) that is the
256-map layer, i.e. the second-highest *hidden* layer: here the ReLU output with 2 * ngf maps
at S/4 resolution (G.main's second-last ReLU). `layer_from_top` picks another hidden layer.

Boxes file (JSON), pixels of the rendered S x S sample, x to the right, y down, x1/y1 exclusive:
    {"7": [[10, 4, 30, 20]], "12": [[0, 0, 16, 16], [40, 40, 64, 64]]}
or {"image_size": 64, "boxes": {...}} to have the size checked against the run.
The mask file written by `--save` is applied by `ganlab sample --forget mask.json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ganlab.core.generate import apply_mask
from ganlab.core.models import Generator
from ganlab.core.nets import load_generator
from ganlab.core.seeds import z_from_seeds
from ganlab.errors import GanlabError
from ganlab.io.checkpoint import Checkpoint, load_checkpoint
from ganlab.io.images import grid_image, save_png
from ganlab.io.masks import ForgetMask, save_mask
from ganlab.io.seedlist import MAX_SEED, format_seeds

Box = tuple[float, float, float, float]


@dataclass
class ForgetResult:
    out: str | None
    mask: str | None
    checkpoint: str
    layer: int
    channels: int
    dropped: int
    positives: int
    negatives: int
    train_accuracy: float
    seeds: str
    # mean |change| of pixels inside / outside the boxes (boxed seeds), and their ratio
    inside_change: float
    outside_change: float
    ratio: float
    # the same ratio when as many random maps are dropped (mean of 10 draws): a mask that is
    # specific to the boxed object beats it; boxes on strokes beat 1 with any mask
    random_ratio: float
    dropped_maps: list = field(default_factory=list)
    weights: str = "raw"  # the G fitted and rendered: "ema" (the averaged G) or "raw"


def hidden_layers(G: Generator) -> list[int]:
    """Indices in G.main of the ReLUs ending each hidden layer, input to output."""
    return [i for i, m in enumerate(G.main) if isinstance(m, torch.nn.ReLU)]


def load_boxes(path: str | Path, image_size: int) -> dict[int, list[Box]]:
    """Read and validate a boxes file (see module docstring).

    Raises:
        GanlabError: missing or malformed file, a key that is not a seed, a box outside the
            S x S image or empty, no boxes at all.
    """
    path = Path(path)
    example = '{"7": [[x0, y0, x1, y1], ...], ...}'
    if not path.is_file():
        raise GanlabError(
            f"boxes file {path} does not exist. Write JSON mapping seeds to boxes "
            f"in image pixels, e.g. {example}."
        )
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GanlabError(f"cannot read boxes file {path}: {e}") from None
    if isinstance(raw, dict) and "boxes" in raw:
        size = raw.get("image_size")
        if size is not None and size != image_size:
            raise GanlabError(
                f"the boxes in {path} were drawn on {size}px samples but this run "
                f"makes {image_size}px images."
            )
        raw = raw["boxes"]
    if not isinstance(raw, dict):
        raise GanlabError(f"boxes file {path} must hold a JSON object {example}.")
    boxes: dict[int, list[Box]] = {}
    for key, items in raw.items():
        if not (isinstance(key, str) and key.isdigit() and int(key) <= MAX_SEED):
            raise GanlabError(
                f"{path}: {key!r} is not a seed. Keys are the seeds of the "
                "samples the boxes were drawn on (`ganlab sample --seeds ... "
                "--annotate` shows them)."
            )
        if not isinstance(items, list):
            raise GanlabError(f"{path}: seed {key} must map to a list of [x0, y0, x1, y1].")
        for box in items:
            if (
                not isinstance(box, list)
                or len(box) != 4
                or not all(isinstance(v, (int, float)) for v in box)
            ):
                raise GanlabError(f"{path}: seed {key}: {box!r} is not [x0, y0, x1, y1].")
            x0, y0, x1, y1 = box
            if not (0 <= x0 < x1 <= image_size and 0 <= y0 < y1 <= image_size):
                raise GanlabError(
                    f"{path}: seed {key}: box {box} is empty or outside the "
                    f"{image_size}x{image_size} image (need 0 <= x0 < x1 <= "
                    f"{image_size}, same for y)."
                )
            boxes.setdefault(int(key), []).append((x0, y0, x1, y1))
    if not boxes:
        raise GanlabError(f"boxes file {path} holds no boxes.")
    return boxes


def box_mask(boxes: list[Box], size: int) -> torch.Tensor:
    """(size, size) bool: True on pixels inside any box."""
    m = torch.zeros(size, size, dtype=torch.bool)
    for x0, y0, x1, y1 in boxes:
        m[int(round(y0)) : int(round(y1)), int(round(x0)) : int(round(x1))] = True
    return m


def cell_labels(boxes: list[Box], image_size: int, cells: int) -> torch.Tensor:
    """(cells, cells) bool: feature-map positions inside a box.

    A position is inside when its centre (in image pixels) is; a box too small to hold a centre
    marks the position holding its own centre, so every box gives at least one positive.
    """
    step = image_size / cells
    centre = (torch.arange(cells) + 0.5) * step  # (cells,)
    inside = torch.zeros(cells, cells, dtype=torch.bool)
    for x0, y0, x1, y1 in boxes:
        here = ((centre >= y0) & (centre < y1))[:, None] & ((centre >= x0) & (centre < x1))[None, :]
        if not here.any():
            cy, cx = int((y0 + y1) / 2 // step), int((x0 + x1) / 2 // step)
            here[min(cy, cells - 1), min(cx, cells - 1)] = True
        inside |= here
    return inside


@torch.no_grad()
def layer_features(G: Generator, z: torch.Tensor, layer: int) -> torch.Tensor:
    """Output (B, C, h, w) of G.main[layer] for latents z."""
    captured = []
    handle = G.main[layer].register_forward_hook(lambda _m, _i, out: captured.append(out.clone()))
    try:
        G(z)
    finally:
        handle.remove()
    return captured[0]


def fit_mask(
    ckpt: Checkpoint,
    boxes: dict[int, list[Box]],
    layer_from_top: int = 2,
    top: int | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
):
    """Fit the logistic regression and choose the maps to drop.

    Returns:
        (ForgetMask, info dict with positives, negatives, train_accuracy, weights).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    G = load_generator(ckpt, device)
    layers = hidden_layers(G)
    if not 1 <= layer_from_top <= len(layers):
        raise GanlabError(
            f"--layer {layer_from_top} does not exist: G has {len(layers)} hidden "
            "conv layers (1 = the highest, 2 = the paper's second-highest)."
        )
    layer = layers[-layer_from_top]
    seeds = sorted(boxes)
    z = z_from_seeds(seeds, ckpt.model_config.nz, ckpt.z_dist).to(device)
    feats = layer_features(G, z, layer).cpu()  # (N, C, h, w)
    n, channels, cells, _ = feats.shape
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for row, s in enumerate(seeds):
        inside = cell_labels(boxes[s], ckpt.model_config.image_size, cells).flatten()
        at = feats[row].flatten(1).T  # (h*w, C): the feature vector at each position
        pos, others = np.flatnonzero(inside), np.flatnonzero(~inside)
        neg = rng.choice(others, min(len(pos), len(others)), replace=False)
        xs += [at[pos], at[neg]]
        ys += [np.ones(len(pos)), np.zeros(len(neg))]
    x, y = torch.cat(xs).numpy(), np.concatenate(ys)
    if y.min() == y.max():
        raise GanlabError(
            "the boxes cover every position of their samples, so there are no "
            "negatives; draw boxes around the object only."
        )
    # standardised features: the weights compare maps of very different scales; a positive
    # weight still means "more of this map, more likely inside a box"
    scaled = StandardScaler().fit_transform(x)
    clf = LogisticRegression(max_iter=2000).fit(scaled, y)
    w = clf.coef_[0]
    if top is not None:
        dropped = np.argsort(-w)[:top]
    else:
        dropped = np.flatnonzero(w > 0)
    mask = ForgetMask(
        layer=layer,
        channels=channels,
        dropped=sorted(int(c) for c in dropped),
        checkpoint_sha256=ckpt.sha256(),
        weights=ckpt.weights_used,
    )
    info = {
        "positives": int(y.sum()),
        "negatives": int(len(y) - y.sum()),
        "train_accuracy": float(clf.score(scaled, y)),
        "weights": w.tolist(),
    }
    return mask, info


@torch.no_grad()
def render_pair(G: Generator, z: torch.Tensor, mask: ForgetMask) -> tuple[torch.Tensor, ...]:
    """(images without the mask, images with it), each (N, C, S, S) in [-1, 1]."""
    before = G(z)
    handle = apply_mask(G, mask)
    try:
        after = G(z)
    finally:
        handle.remove()
    return before.cpu(), after.cpu()


def change_ratio(
    before: torch.Tensor, after: torch.Tensor, inside: torch.Tensor
) -> tuple[float, float, float]:
    """Mean |after - before| inside and outside `inside` (N, S, S), and inside / outside."""
    diff = (after - before).abs().mean(1)  # (N, S, S), over channels
    i, o = diff[inside].mean().item(), diff[~inside].mean().item()
    return i, o, i / o if o > 0 else float("inf")


def forget(
    checkpoint: str | Path,
    boxes_path: str | Path,
    out: str | Path | None = None,
    save: str | Path | None = None,
    top: int | None = None,
    seeds: list[int] | None = None,
    layer_from_top: int = 2,
    draw_boxes: bool = True,
    seed: int = 0,
    device: str | torch.device = "cpu",
    weights: str = "auto",
) -> ForgetResult:
    """Fit the forgetting mask from boxes, render before/after, optionally save the mask.

    Args:
        checkpoint: a run directory or checkpoint file.
        boxes_path: the boxes JSON (see module docstring).
        out: PNG: the seeds rendered normally (left) and with the maps dropped (right),
            boxes outlined in red on the left.
        save: JSON file for the mask (`ganlab sample --forget`).
        top: drop only the `top` maps with the largest weights (default: every positive one).
        seeds: seeds to render (default: the boxed ones).
        layer_from_top: hidden layer counted from the top (2: the paper's choice).
        seed: seeds the choice of negative positions.
        weights: which G is fitted and rendered: "auto" (the averaged G of a run trained with
            --ema, else the trained G), "ema" or "raw" (the trained G); the mask records it.
    Returns:
        A ForgetResult; the change ratio is measured on the boxed seeds.
    """
    ckpt = load_checkpoint(checkpoint).use_weights(weights)
    size = ckpt.model_config.image_size
    boxes = load_boxes(boxes_path, size)
    mask, info = fit_mask(ckpt, boxes, layer_from_top, top, seed, device)
    G = load_generator(ckpt, device)

    boxed = sorted(boxes)
    z_boxed = z_from_seeds(boxed, ckpt.model_config.nz, ckpt.z_dist).to(device)
    before, after = render_pair(G, z_boxed, mask)
    inside = torch.stack([box_mask(boxes[s], size) for s in boxed])
    i, o, ratio = change_ratio(before, after, inside)
    random_ratio = _random_ratio(G, z_boxed, mask, inside, seed)

    shown = seeds if seeds is not None else boxed
    if out is not None:
        if shown != boxed:
            z = z_from_seeds(shown, ckpt.model_config.nz, ckpt.z_dist).to(device)
            before, after = render_pair(G, z, mask)
        save_png(
            side_by_side(before, after, [boxes.get(s, []) for s in shown] if draw_boxes else None),
            out,
        )
    if save is not None:
        save_mask(
            save,
            mask,
            ckpt,
            {
                "layer_from_top": layer_from_top,
                "weights": [round(w, 6) for w in info["weights"]],
                "boxes_file": str(boxes_path),
                "boxed_seeds": format_seeds(boxed),
                "positives": info["positives"],
                "negatives": info["negatives"],
            },
        )
    return ForgetResult(
        out=str(out) if out is not None else None,
        mask=str(save) if save is not None else None,
        checkpoint=str(ckpt.path),
        layer=mask.layer,
        channels=mask.channels,
        dropped=len(mask.dropped),
        positives=info["positives"],
        negatives=info["negatives"],
        train_accuracy=round(info["train_accuracy"], 4),
        seeds=format_seeds(shown),
        inside_change=round(i, 5),
        outside_change=round(o, 5),
        ratio=round(ratio, 3),
        random_ratio=round(random_ratio, 3),
        dropped_maps=mask.dropped,
        weights=ckpt.weights_used,
    )


def _random_ratio(
    G: Generator,
    z: torch.Tensor,
    mask: ForgetMask,
    inside: torch.Tensor,
    seed: int,
    draws: int = 10,
) -> float:
    """Mean inside/outside change ratio over `draws` masks of as many random maps."""
    if not mask.dropped:
        return float("nan")
    rng = np.random.default_rng(seed)
    ratios = []
    for _ in range(draws):
        dropped = sorted(rng.choice(mask.channels, len(mask.dropped), replace=False).tolist())
        other = ForgetMask(mask.layer, mask.channels, dropped, mask.checkpoint_sha256)
        ratios.append(change_ratio(*render_pair(G, z, other), inside)[2])
    return float(np.mean(ratios))


def side_by_side(
    before: torch.Tensor, after: torch.Tensor, boxes: list[list[Box]] | None = None, gap: int = 8
) -> Image.Image:
    """Two grids, left `before` (optionally with boxes outlined) and right `after`."""
    n = before.shape[0]
    nrow = int(np.ceil(np.sqrt(n)))
    left = grid_image(before, nrow=nrow).convert("RGB")
    right = grid_image(after, nrow=nrow).convert("RGB")
    if boxes:
        size, pad = before.shape[-1], 2
        draw = ImageDraw.Draw(left)
        for k, items in enumerate(boxes):
            ox, oy = pad + (k % nrow) * (size + pad), pad + (k // nrow) * (size + pad)
            for x0, y0, x1, y1 in items:
                draw.rectangle([ox + x0, oy + y0, ox + x1 - 1, oy + y1 - 1], outline=(255, 0, 0))
    img = Image.new("RGB", (left.width + gap + right.width, left.height), (255, 255, 255))
    img.paste(left, (0, 0))
    img.paste(right, (left.width + gap, 0))
    return img
