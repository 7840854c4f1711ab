"""The judge the benchmarks share: a small CNN trained on a dataset's real labelled images.

An independent classifier of real images, for scoring what G makes without G's own D:
`attribute_edit.py` asks it which class an edited image shows, `amp_quality.py` embeds
generated images in its penultimate features.
"""

from __future__ import annotations

import torch
from torch import nn


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
        labels: int64 (N,).
        train: indices of the training images; shuffled each epoch with `gen`.
        epochs: passes over them.
        device: where to train.
        gen: the shuffles' generator (the weights' initialisation is seeded 0).
    """
    torch.manual_seed(0)
    net = SmallCNN(images.shape[1], images.shape[-1], int(labels.max()) + 1).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(epochs):
        for idx in train[torch.randperm(len(train), generator=gen)].split(128):
            loss = nn.functional.cross_entropy(
                net(to_unit(images[idx].to(device))), labels[idx].to(device)
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()
