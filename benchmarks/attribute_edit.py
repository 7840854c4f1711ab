"""Attribute edits: does the class change, and does the sample stay itself? (issue: transfer
vs identity)

For a run trained on a labelled built-in dataset (fashion-mnist, mnist, digits, ...), or on any
images with a label file (`--labels`, e.g. faces with a gender column, as `concept mine
--labels` takes it): mine the concepts as `ganlab concept mine` does, take fresh seeds (never in
the mining pool) that an independent judge assigns to class A, move them towards class B with
each method, and report

- transfer: the share of edited samples the judge assigns to B;
- identity: the share of edited images whose nearest before-image (pixel L2, among all the
  pair's source images, every one of class A) is their own;

for each method and for a random direction of the same norm per sample (the control). The
methods are `ganlab arithmetic`'s: the mean offset mean(B) - mean(A) of 3 and of 30 exemplars
(and 30 stratified ones), the boundary direction with the fixed step ("boundary",
`--fixed-step`), and with `--until-flip` (each sample scaled just past where the run's D-feature
classifier flips, plus the margin: the default edit for mined concepts).

The judge is not the classifier mining used (a logistic regression on the run's D features):
it is a small CNN (benchmarks/judge.py) trained here on the real labelled images of the
dataset's training split and scored on its whole test split, so an edit cannot pass by fooling
the miner's features. `--judge-split test` trains it on 90% of the test split instead (the
first version's judge: 9,000 images, weaker); `--judge pixels` uses a logistic regression on raw
pixels. With `--labels` the judge trains on a seeded 90% of the labelled images mining read
(`--real`) and is scored on the rest. Prints a table; with `--grid` writes the before/after grid
of the first pair (one row per method).

    python benchmarks/attribute_edit.py --run runs/fashion --grid edits.png
    python benchmarks/attribute_edit.py --run runs/faces --labels faces/labels.csv \
        --column gender --pairs man:woman,woman:man
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from judge import SmallCNN, fit_cnn, to_unit

from ganlab.core.device import resolve_device
from ganlab.core.features import d_features
from ganlab.core.generate import generate
from ganlab.core.nets import load_discriminator
from ganlab.core.seeds import z_from_seeds
from ganlab.experiments.arithmetic import (
    FLIP_MARGIN,
    FLIP_SCALE,
    FlipTarget,
    captioned_grid,
    edit_offset,
    flip_scales,
    until_flip,
)
from ganlab.experiments.concept import load_labelled, mine
from ganlab.io.checkpoint import load_checkpoint
from ganlab.io.concepts import Concept
from ganlab.io.images import to_uint8, write_image

FM_PAIRS = "0:6,2:4,4:6,5:7,7:9,9:5,1:3,3:0,6:2,8:0"  # similar-ish pairs of fashion-mnist classes


# --- the judge ---------------------------------------------------------------------------------


def train_judge(
    images: torch.Tensor,
    labels: np.ndarray,
    kind: str,
    epochs: int,
    device,
    cache=None,
    held_out: tuple[torch.Tensor, np.ndarray] | None = None,
):
    """A classifier of uint8 images (N, C, S, S): returns (predict, held-out accuracy).

    `held_out`: (images, labels) to score it on, all of `images` training it; None holds out
    a seeded 10% of `images`. `cache`: a file for the CNN's weights (read if it exists,
    written otherwise)."""
    gen = torch.Generator().manual_seed(0)
    if held_out is None:
        order = torch.randperm(len(images), generator=gen)
        cut = len(images) // 10
        test, train = order[:cut], order[cut:]
        test_images, test_labels = images[test], labels[test.numpy()]
    else:
        train = torch.arange(len(images))
        test_images, test_labels = held_out
    y = torch.from_numpy(labels)
    if kind == "pixels":
        from sklearn.linear_model import LogisticRegression

        flat = images.reshape(len(images), -1).float().numpy() / 255
        model = LogisticRegression(C=0.1, max_iter=300).fit(flat[train], labels[train])

        def predict(x: torch.Tensor) -> np.ndarray:
            return model.predict(x.reshape(len(x), -1).float().numpy() / 255)

    else:
        if cache and Path(cache).is_file():
            net = SmallCNN(images.shape[1], images.shape[-1], int(labels.max()) + 1).to(device)
            net.load_state_dict(torch.load(cache, weights_only=True))
            net.eval()
        else:
            net = fit_cnn(images, y, train, epochs, device, gen)
            if cache:
                torch.save(net.state_dict(), cache)

        @torch.no_grad()
        def predict(x: torch.Tensor) -> np.ndarray:
            out = [net(to_unit(b.to(device))).argmax(1).cpu() for b in x.split(512)]
            return torch.cat(out).numpy()

    predicted = predict(test_images)
    accuracy = float((predicted == test_labels).mean())
    # per class: the share of its real held-out images the judge gives it (transfer's ceiling)
    recall = {int(k): float((predicted[test_labels == k] == k).mean()) for k in set(test_labels)}
    return predict, accuracy, recall


def real_split(ckpt, split: str) -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """A split of the run's dataset at the run's size: uint8 (N, C, S, S), labels (N,) and the
    class names."""
    from ganlab.data import load_dataset
    from ganlab.data.batches import batches

    cfg, mc = ckpt.train_config, ckpt.model_config
    ds = load_dataset(
        cfg["dataset"],
        cfg.get("data_root"),
        split=split,
        image_size=mc.image_size,
        channels=mc.channels,
    )
    read = list(batches(ds))
    images, labels = torch.cat([b.images for b in read]), torch.cat([b.labels for b in read])
    return images, labels.numpy(), list(ds.class_names)


def labelled_split(real) -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """Mining's labelled images (LabelledImages, one column) with a known value: uint8
    (N, C, S, S), labels (N,) indexing the sorted values, and those values."""
    values = real.columns[0].values
    names = sorted({v for v in values if v})
    keep = [i for i, v in enumerate(values) if v]
    labels = np.array([names.index(values[i]) for i in keep])
    return real.images[keep], labels, names


def parse_pairs(text: str | None, class_names: list[str], every: bool) -> list[tuple[str, str]]:
    """ "A:B,..." (class indices or names) as name pairs; None: the default pairs."""
    if text is None:
        if every:
            return [(a, b) for a in class_names for b in class_names if a != b]
        text = FM_PAIRS

    def name(x: str) -> str:
        if x in class_names:
            return x
        if x.isdigit() and int(x) < len(class_names):
            return class_names[int(x)]
        raise SystemExit(f"--pairs: {x!r} is neither a class name nor an index of {class_names}")

    return [(name(a), name(b)) for a, b in (p.split(":", 1) for p in text.split(","))]


# --- measures ----------------------------------------------------------------------------------


def identity(before: torch.Tensor, after: torch.Tensor, own: np.ndarray) -> np.ndarray:
    """(N,) bool: after[i]'s nearest image in `before` (pixels) is own[i] (an index)."""
    b = before.reshape(len(before), -1).float()
    a = after.reshape(len(after), -1).float()
    return torch.cdist(a, b).argmin(1).numpy() == own


def random_like(steps: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random directions with the same norm as each row of `steps` (N, nz)."""
    r = torch.randn(steps.shape, generator=gen)
    return r / r.norm(dim=1, keepdim=True) * steps.norm(dim=1, keepdim=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="run directory or checkpoint")
    ap.add_argument("--pool", type=int, default=2000, help="mining pool (seeds 0..N-1)")
    ap.add_argument(
        "--pairs",
        help="A:B class indices or names, comma-separated (default: 10 Fashion-MNIST pairs; "
        "with --labels every ordered pair of the column's values)",
    )
    ap.add_argument(
        "--labels",
        help="a CSV (path,label...) or list_attr_celeba.txt labelling real images of the run's "
        "kind, for runs on unlabelled data (faces): mining and the judge use it",
    )
    ap.add_argument("--column", help="with --labels: the label column (needed if it has several)")
    ap.add_argument("--data-root", help="with --labels: where its images lie (default its folder)")
    ap.add_argument("-n", type=int, default=32, help="fresh seeds per source class")
    ap.add_argument("--first-fresh-seed", type=int, default=1_000_000)
    ap.add_argument("--judge", choices=("cnn", "pixels"), default="cnn")
    ap.add_argument("--judge-epochs", type=int, default=5)
    ap.add_argument(
        "--judge-split",
        choices=("train", "test"),
        default="train",
        help="train: fit on the training split, score on the test split; test: fit on 90%% "
        "of the test split, score on the rest",
    )
    ap.add_argument(
        "--real",
        type=int,
        default=10000,
        help="real images mining fits on (with --labels, the judge's images too)",
    )
    ap.add_argument("--judge-cache", help="a file to keep the CNN judge's weights in")
    ap.add_argument("--margin", type=float, default=FLIP_MARGIN, help="--until-flip's margin")
    ap.add_argument("--margins", default="0.1,1", help="more --until-flip margins to try")
    ap.add_argument(
        "--confidences", default="0.9,0.99", help="--until-flip --confidence values to try"
    )
    ap.add_argument("--scales", default="1.5,2,3", help="more boundary --scale values to try")
    ap.add_argument("--per-pair", default="", help="methods (;-separated) shown per pair")
    ap.add_argument("--grid", help="write the first pair's before/after grid here (.png)")
    ap.add_argument("--grid-n", type=int, default=8, help="samples in the grid")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    start = time.perf_counter()
    device = resolve_device(args.device)
    ckpt = load_checkpoint(args.run)
    nz, dist = ckpt.model_config.nz, ckpt.z_dist

    # mining, as `concept mine` does (30 exemplars; the 3 most extreme are the first 3)
    columns = [args.column] if args.column else None
    real = load_labelled(ckpt, args.data_root, args.labels, columns, max_images=args.real)
    if len(real.columns) != 1:
        names = ", ".join(c.name for c in real.columns)
        raise SystemExit(f"{args.labels} has label columns {names}: choose one with --column.")
    mined, (clf,), notes = mine(ckpt, real, args.pool, 30, device)
    strat, _, _ = mine(ckpt, real, args.pool, 30, device, exemplars="stratified")
    for note in notes:
        print("note:", note)
    by_name = {c.source["value"]: c for c in mined}
    three = {
        v: Concept(c.name, c.seeds[:3], c.source, boundary=c.boundary) for v, c in by_name.items()
    }
    stratified = {c.source["value"]: c for c in strat}
    miner = clf.arrays(ckpt.sha256())

    # the judge: real labelled images, a CNN on pixels (mining: a linear model on D features)
    held_out = None
    if args.labels:  # a seeded 90% of the labelled images trains it, 10% scores it
        judge_images, labels, class_names = labelled_split(real)  # mining's, read once
    else:
        judge_images, labels, class_names = real_split(ckpt, args.judge_split)
        if args.judge_split == "train":
            test_images, test_labels, _ = real_split(ckpt, "test")
            held_out = (test_images, test_labels)
    t0 = time.perf_counter()
    judge, judge_acc, judge_recall = train_judge(
        judge_images, labels, args.judge, args.judge_epochs, device, args.judge_cache, held_out
    )
    # class names throughout: the judge's indices are the dataset's, the miner's alphabetical
    judge_s = time.perf_counter() - t0

    def judged(z: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
        """The judge's class name per latent, and the images (uint8)."""
        images = to_uint8(generate(ckpt, z, device))
        return np.array([class_names[k] for k in judge(images)]), images

    pairs = parse_pairs(args.pairs, class_names, bool(args.labels))
    # fresh seeds per source class, as the judge sees them
    sources = sorted({a for a, _ in pairs})
    fresh: dict[str, list[int]] = {a: [] for a in sources}
    seed = args.first_fresh_seed
    while min(map(len, fresh.values())) < args.n and seed < args.first_fresh_seed + 50_000:
        seeds = list(range(seed, seed + 1000))
        for s, name in zip(seeds, judged(z_from_seeds(seeds, nz, dist))[0], strict=True):
            if name in fresh and len(fresh[name]) < args.n:
                fresh[name].append(s)
        seed += 1000
    pairs = [(a, b) for a, b in pairs if a in by_name and b in by_name and fresh[a]]

    all_seeds = sorted({s for a, _ in pairs for s in fresh[a]})
    before_images = judged(z_from_seeds(all_seeds, nz, dist))[1]
    position = {s: i for i, s in enumerate(all_seeds)}

    # label -> (direction, concepts, scale, --until-flip (margin, confidence) or None, in grid)
    methods = {
        "mean offset, 3 exemplars": ("mean", three, 1.0, None, True),
        "mean offset, 30 exemplars": ("mean", by_name, 1.0, None, True),
        "mean offset, 30 stratified": ("mean", stratified, 1.0, None, False),
        "boundary": ("boundary", by_name, 1.0, None, True),
        **{
            f"boundary --scale {x:g}": ("boundary", by_name, x, None, False)
            for x in (map(float, args.scales.split(",")) if args.scales else [])
        },
        f"boundary --until-flip (margin {args.margin:g})": (
            "boundary",
            by_name,
            FLIP_SCALE,
            (args.margin, None),
            True,
        ),
        **{
            f"boundary --until-flip --margin {m:g}": (
                "boundary",
                by_name,
                FLIP_SCALE,
                (m, None),
                False,
            )
            for m in (map(float, args.margins.split(",")) if args.margins else [])
        },
        **{
            f"boundary --until-flip --confidence {c:g}": (
                "boundary",
                by_name,
                FLIP_SCALE,
                (args.margin, c),
                False,
            )
            for c in (map(float, args.confidences.split(",")) if args.confidences else [])
        },
    }
    gen = torch.Generator().manual_seed(0)
    D = load_discriminator(ckpt, device)
    rows, grid_rows, flips_of, per_pair = [], [], {}, {}
    # agreement: of the pool samples the miner gives B, the share the judge calls B too
    pool_z = z_from_seeds(list(range(args.pool)), nz, dist)
    pool_judged, pool_images = judged(pool_z)
    pool_feats = d_features(D, pool_images, device)
    pool_miner = np.array(miner.predict(pool_feats.numpy()))
    agree = {b: float((pool_judged[pool_miner == b] == b).mean()) for _, b in pairs}
    for label, (method, concepts, scale, flip, in_grid) in methods.items():
        stats = {k: [] for k in ("to_b", "same", "r_to_b", "r_same", "miner", "norm", "missed")}
        for p, (a, b) in enumerate(pairs):
            z = z_from_seeds(fresh[a], nz, dist)  # (n, nz)
            offset = edit_offset(concepts, [b], [a], nz, dist, method)
            if flip is not None:
                margin, confidence = flip
                key = (method, a, b, confidence)
                if key not in flips_of:  # one search per pair and confidence, whatever margin
                    target = [FlipTarget(miner, b, confidence)]
                    flips_of[key] = until_flip(ckpt, z, offset, target, scale, device)
                scales, _ = flip_scales(flips_of[key], scale, margin)
                stats["missed"] += [f is None for f in flips_of[key]]
            else:
                scales = torch.full((len(z),), scale)
            steps = scales[:, None] * offset  # (n, nz)
            own = np.array([position[s] for s in fresh[a]])
            before = before_images[own]  # the pair's sources, all of class A
            to_b, after = judged(z + steps)
            r_to_b, r_after = judged(z + random_like(steps, gen))
            stats["to_b"] += list(to_b == b)
            stats["same"] += list(identity(before, after, np.arange(len(z))))
            stats["r_to_b"] += list(r_to_b == b)
            stats["r_same"] += list(identity(before, r_after, np.arange(len(z))))
            stats["norm"] += steps.norm(dim=1).tolist()
            feats = d_features(D, after, device).numpy()
            stats["miner"] += [v == b for v in miner.predict(feats)]
            per_pair[label, a, b] = (
                float(np.mean(to_b == b)),
                float(np.mean(stats["same"][-len(z) :])),
            )
            if p == 0 and args.grid and in_grid:
                if not grid_rows:
                    grid_rows.append(("before", before_images[own[: args.grid_n]]))
                grid_rows.append((label, after[: args.grid_n]))
        rows.append((label, {k: float(np.mean(v)) if v else 0.0 for k, v in stats.items()}))

    print(
        f"run {ckpt.path} (step {ckpt.step}, nz {nz}, {dist} z); mining classifier (D "
        f"features, {clf.n_train} real images) held-out accuracy {clf.heldout_accuracy:.3f}; "
        "judge: "
        + (
            f"small CNN on pixels, {args.judge_epochs} epochs"
            if args.judge == "cnn"
            else "logistic regression on pixels"
        )
        + f" on {len(judge_images)} real "
        + (f"images labelled in {args.labels}, " if args.labels else f"{args.judge_split}-split ")
        + ("" if args.labels else "images, ")
        + ("test-split" if held_out is not None else "held-out (10%)")
        + f" accuracy {judge_acc:.3f} ({judge_s:.0f} s)"
    )
    print(
        f"{len(pairs)} class pairs A->B ({', '.join(f'{a}->{b}' for a, b in pairs)}), "
        f"{args.n} fresh seeds of A each (judged A); pool {args.pool}"
    )
    print()
    head = (
        f"{'method':<40} {'|step|':>7} {'transfer':>9} {'identity':>9} "
        f"{'rand transfer':>14} {'rand identity':>14} {'miner says B':>13} {'no flip':>8}"
    )
    print(head)
    for label, m in rows:
        print(
            f"{label:<40} {m['norm']:>7.2f} {m['to_b']:>9.3f} {m['same']:>9.3f} "
            f"{m['r_to_b']:>14.3f} {m['r_same']:>14.3f} {m['miner']:>13.3f} {m['missed']:>8.3f}"
        )
    print(
        f"transfer: judged B after the edit; identity: nearest of the pair's {args.n} "
        "before-images (all of class A; pixels) is the sample's own; rand: a random direction "
        "of the same norm per sample; miner: the D-feature classifier --until-flip asks; "
        f"no flip: share not flipped by {FLIP_SCALE:g} x. {time.perf_counter() - start:.0f} s"
    )
    print()
    shown = [label for label, *_ in rows if label in args.per_pair.split(";")] or [
        rows[1][0],
        rows[3][0],
        [label for label, _ in rows if "until-flip" in label][0],
    ]
    print("per pair: transfer / identity; agree: of the pool samples the miner gives B, the")
    print("share the judge calls B too; real B: of the real held-out B images, the share the")
    print("judge calls B (no edit can score a higher transfer than the judge gives real B)")
    print(f"{'A -> B':<26} {'agree':>6} {'real B':>7} " + " ".join(f"{x[:26]:>26}" for x in shown))
    for a, b in pairs:
        cells = " ".join(
            f"{per_pair[x, a, b][0]:>12.2f} / {per_pair[x, a, b][1]:<11.2f}" for x in shown
        )
        real_b = judge_recall[class_names.index(b)]
        print(f"{a + ' -> ' + b:<26} {agree[b]:>6.2f} {real_b:>7.2f} {cells}")
    if args.grid and grid_rows:
        a, b = pairs[0]
        tiles = torch.cat([to_unit_images for _, to_unit_images in grid_rows])
        img = captioned_grid(
            tiles.float() / 127.5 - 1,
            len(grid_rows[0][1]),
            [f"{name}" if i else f"before ({a})" for i, (name, _) in enumerate(grid_rows)],
        )
        write_image(img, args.grid)
        print(f"wrote {args.grid}: {a} -> {b}, one row per method")


if __name__ == "__main__":
    main()
