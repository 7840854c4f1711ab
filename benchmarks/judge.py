"""The judge the benchmarks share: a small CNN trained on a dataset's real labelled images.

An independent classifier of real images, for scoring what G makes without G's own D:
`attribute_edit.py` asks it which class an edited image shows, `amp_quality.py` and
`recipe_quality.py` embed generated images in its penultimate features. It learns one class per
image (cross-entropy), or several binary attributes per image (CelebA's 40, read from CelebA's
attribute file by `read_celeba_attributes`; binary cross-entropy on each).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ganlab.data.batches import batches
from ganlab.data.registry import DATASETS, load_dataset


class SmallCNN(nn.Module):
    """(B, C, S, S) in [-1, 1] -> class logits; `features` gives the (B, 128) layer below."""

    def __init__(self, channels: int, size: int, classes: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1),  # (B, 32, S, S)
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 32, S/2, S/2)
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 64, S/4, S/4)
            nn.Flatten(),
            nn.Linear(64 * (size // 4) ** 2, 128),
            nn.ReLU(),  # (B, 128): `features`
            nn.Linear(128, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net[:-1](x)


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float in [-1, 1], as G's images are."""
    return images.float() / 127.5 - 1


def fit_cnn(
    images: torch.Tensor,
    labels: torch.Tensor,
    train: torch.Tensor,
    epochs: int,
    device,
    gen: torch.Generator,
) -> SmallCNN:
    """A SmallCNN fitted with Adam (lr 1e-3, batch 128) on `images[train]`, in eval mode.

    Args:
        images: uint8 (N, C, S, S).
        labels: int64 (N,) class indices (cross-entropy over max + 1 classes), or float (N, K)
            binary attributes in {0, 1} (K outputs, binary cross-entropy on each logit).
        train: indices of the training images; shuffled each epoch with `gen`.
        epochs: passes over them.
        device: where to train.
        gen: the shuffles' generator (the weights' initialisation is seeded 0).
    """
    multi_label = labels.ndim == 2
    loss_fn = (
        nn.functional.binary_cross_entropy_with_logits
        if multi_label
        else nn.functional.cross_entropy
    )
    outputs = labels.shape[1] if multi_label else int(labels.max()) + 1
    torch.manual_seed(0)
    net = SmallCNN(images.shape[1], images.shape[-1], outputs).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(epochs):
        for idx in train[torch.randperm(len(train), generator=gen)].split(128):
            loss = loss_fn(net(to_unit(images[idx].to(device))), labels[idx].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


@dataclass
class Attributes:
    """Binary attributes of image files, as CelebA's list_attr_celeba.txt gives them."""

    names: list[str]  # the K attribute names, in the file's order
    files: list[str]  # the M image file names the rows belong to ("000001.jpg")
    values: torch.Tensor  # (M, K) float32: 1 where the attribute holds, 0 where not (CelebA -1)
    source: str  # the file read, for messages

    def of(self, files: Sequence[str]) -> torch.Tensor:
        """The (N, K) rows of `files`, matched by file name (any folder part is ignored).

        Raises:
            ValueError: a file has no row, naming the first ones and how many.
        """
        row = {f: i for i, f in enumerate(self.files)}
        wanted = [Path(f).name for f in files]
        missing = [f for f in wanted if f not in row]
        if missing:
            raise ValueError(
                f"{len(missing)} of the {len(wanted)} images have no row in {self.source} (e.g. "
                f"{', '.join(missing[:3])}): every image of the dataset needs its attributes, "
                "matched by file name. Give the attribute file of these images, or a folder of "
                "only the images it lists."
            )
        return self.values[[row[f] for f in wanted]]


def read_celeba_attributes(path: str | Path) -> Attributes:
    """Read CelebA's attribute file (list_attr_celeba.txt) strictly.

    The format: a line with the image count, a line of the K attribute names, then one line
    per image: its file name and K values of 1 or -1, separated by spaces.
    (`ganlab concept mine --labels` reads the same file leniently, as label strings.)

    Raises:
        ValueError: the file is not in that format; the message names the line.
    """
    path = Path(path)
    numbered = [  # (line number, text) of the lines that are not blank
        (i, line) for i, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1)
        if line.strip()
    ]  # fmt: skip
    if len(numbered) < 2 or not numbered[0][1].strip().isdigit():
        raise ValueError(
            f"{path} is not in CelebA's attribute format: line 1 should be the image count, "
            "line 2 the attribute names, then a line per image of its file name and values "
            "of 1 or -1."
        )
    count, names = int(numbered[0][1]), numbered[1][1].split()
    if len(set(names)) != len(names):
        raise ValueError(f"{path} line {numbered[1][0]} names an attribute twice.")
    files, rows, seen = [], [], set()
    for number, line in numbered[2:]:
        cells = line.split()
        if len(cells) != len(names) + 1 or any(v not in ("1", "-1") for v in cells[1:]):
            raise ValueError(
                f"{path} line {number} should be a file name and {len(names)} values of 1 or "
                f"-1; it is {line[:80]!r}"
            )
        if cells[0] in seen:
            raise ValueError(f"{path} line {number} lists {cells[0]} a second time.")
        seen.add(cells[0])
        files.append(cells[0])
        rows.append([v == "1" for v in cells[1:]])
    if count != len(files):
        raise ValueError(f"{path} says {count} images on line 1 but lists {len(files)}.")
    values = torch.tensor(rows, dtype=torch.float32).reshape(len(files), len(names))
    return Attributes(names, files, values, str(path))


# --- what a judge learns from ---------------------------------------------------------------------


@dataclass
class LabelledData:
    """Real images with their labels, split into the judge's training and held-out images."""

    images: torch.Tensor  # uint8 (N, C, S, S), as training reads them
    targets: torch.Tensor  # int64 (N,) class indices, or float (N, K) attributes in {0, 1}
    train: torch.Tensor  # int64 indices of the judge's training images
    heldout: torch.Tensor  # int64 indices of the held-out images
    names: list[str]  # the class or attribute names
    reference: str  # which images are held out, in words

    @property
    def multi_label(self) -> bool:
        return self.targets.ndim == 2

    @property
    def outputs(self) -> int:
        return len(self.names)

    def describe(self) -> dict:
        return {
            "kind": "attributes" if self.multi_label else "classes",
            "names": self.names,
            "train_images": len(self.train),
            "heldout_images": len(self.heldout),
            "reference": self.reference,
        }


def labelled_data(
    dataset: str,
    data_root,
    labels,
    image_size: int,
    channels: int | None,
    holdout: float = 0.2,
    seed: int = 0,
    split: str = "train",
    workers: int = 0,
) -> LabelledData:
    """A data set's labelled images at `image_size`, read by ganlab's own readers.

    Without `labels`: a labelled data set with a test split (fashion-mnist, mnist, digits,
    cifar10, svhn); the judge trains on the training split and the test split is held out.
    With `labels`, CelebA's attribute file: the images of `dataset` (folder, celeba) in `split`,
    each matched to its row by file name; a seeded `holdout` share of them is held out.

    Raises:
        ValueError: no labels for the data set, or an image without a row in `labels`.
    """
    read = {"image_size": image_size, "channels": channels}
    if labels is not None:
        attributes = read_celeba_attributes(labels)
        ds = load_dataset(dataset, data_root, split=split, **read)
        if not hasattr(ds, "paths"):
            raise ValueError(f"--labels names image files, but {dataset} is not read from files.")
        got = list(batches(ds, workers=workers))  # unreadable images are left out
        files = [bytes(ds.paths[i]).decode() for b in got for i in b.indices.tolist()]
        images = torch.cat([b.images for b in got])  # (N, C, S, S)
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
        cut = round(len(images) * holdout)
        return LabelledData(
            images,
            attributes.of(files),
            order[cut:].sort().values,
            order[:cut].sort().values,
            attributes.names,
            f"a seeded {holdout:.0%} of the {len(images)} images, held out",
        )
    info = DATASETS[dataset]
    if not (info.labelled and "test" in info.splits):
        raise ValueError(
            f"{dataset} has no labelled test split for the judge: give --labels, CelebA's "
            "attribute file (list_attr_celeba.txt) of the images."
        )
    train, test = (load_dataset(dataset, data_root, split=s, **read) for s in ("train", "test"))
    return LabelledData(
        torch.cat([train.images, test.images]),
        torch.cat([train.labels, test.labels]),
        torch.arange(len(train)),
        torch.arange(len(train), len(train) + len(test)),
        list(train.class_names),
        f"the {len(test)} images of the test split",
    )


@torch.no_grad()
def held_out_accuracy(net: SmallCNN, data: LabelledData, device) -> dict:
    """The judge's accuracy on the held-out images; for attributes, the mean over them, each
    one's, and the mean accuracy of always answering each attribute's majority value in the
    training images (the baseline a judge must beat)."""
    held = data.images[data.heldout]
    logits = torch.cat([net(to_unit(b.to(device))).cpu() for b in held.split(500)])
    truth = data.targets[data.heldout]
    if not data.multi_label:
        return {"accuracy": (logits.argmax(1) == truth).float().mean().item()}
    per = ((logits > 0).float() == truth).float().mean(0)  # (K,)
    majority = (data.targets[data.train].mean(0) > 0.5).float()  # (K,)
    return {
        "mean_accuracy": per.mean().item(),
        "majority_baseline": (truth == majority).float().mean().item(),
        "accuracy": {n: round(a, 4) for n, a in zip(data.names, per.tolist(), strict=True)},
    }
