"""Rendering latents with a trained G: the one forward pass every image-making command uses.

A class-conditional run (`train --conditional`) renders each latent in a class: `labels` gives
one per latent, `resolve_class` turns a `--class` value into a label, `class_grid` lays a grid
out with one row per class, and `even_labels` spreads N samples evenly over the classes.
"""

from __future__ import annotations

import torch
from torch import nn

from ganlab.core.models import NO_CLASS
from ganlab.core.nets import load_discriminator, load_generator
from ganlab.errors import GanlabError
from ganlab.io.checkpoint import Checkpoint
from ganlab.io.masks import ForgetMask


@torch.no_grad()
def generate(
    ckpt: Checkpoint,
    z: torch.Tensor,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    mask=None,
    labels: torch.Tensor | int | None = None,
) -> torch.Tensor:
    """Images (N, C, S, S) in [-1, 1] on the CPU for latents z (N, nz), G in eval mode.

    `mask`: a ForgetMask whose feature maps G drops (Fig. 6), or None.
    `labels`: a conditional run's class per latent, (N,) int64 or one int for all (default:
    the class `hold_class` fixed); must be None for an unconditional run.
    """
    if z.shape[1] != ckpt.model_config.nz:
        raise GanlabError(
            f"latents have {z.shape[1]} dimensions but {ckpt.path} was trained "
            f"with nz={ckpt.model_config.nz}."
        )
    y = check_labels(ckpt, ckpt.label if labels is None else labels, len(z))  # (N,) or None
    g = load_generator(ckpt, device)
    if mask is not None:
        apply_mask(g, mask)
    if y is None:
        return torch.cat(
            [g(z[i : i + batch_size].to(device)).cpu() for i in range(0, len(z), batch_size)]
        )
    return torch.cat(
        [
            g(z[i : i + batch_size].to(device), y[i : i + batch_size].to(device)).cpu()
            for i in range(0, len(z), batch_size)
        ]
    )


def apply_mask(G: nn.Module, mask: ForgetMask) -> torch.utils.hooks.RemovableHandle:
    """Zero the mask's dropped maps in every forward pass of G (until the handle is removed)."""
    keep = mask.keep(next(G.parameters()).device)  # (1, channels, 1, 1)
    return G.main[mask.layer].register_forward_hook(lambda _m, _i, out: out * keep)


def check_labels(ckpt: Checkpoint, labels: torch.Tensor | int | None, n: int):
    """`labels` as (n,) int64 for a conditional run (an int means all n), None otherwise.

    Raises:
        GanlabError: labels for an unconditional run, none for a conditional one, or out of
            range.
    """
    k = ckpt.model_config.num_classes
    if labels is None:
        if k:
            raise GanlabError(
                f"{ckpt.path} is class-conditional ({k} classes: {_listed(ckpt.class_names)}): "
                "give the class to render with --class NAME or --class INDEX."
            )
        return None
    if not k:
        raise GanlabError(
            f"{ckpt.path} is not class-conditional (trained without --conditional): drop --class."
        )
    y = torch.full((n,), labels, dtype=torch.int64) if isinstance(labels, int) else labels
    y = torch.as_tensor(y, dtype=torch.int64)
    if y.shape != (n,) or (n and (y.min() < 0 or y.max() >= k)):
        raise GanlabError(f"class labels must be {n} values in 0..{k - 1}.")
    return y


def resolve_class(ckpt: Checkpoint, value: str | int | None) -> int | None:
    """The label index a `--class` value names: a class name or an index; None stays None.

    Raises:
        GanlabError: the run is not conditional, or no class has that name or index (the
            message lists the classes).
    """
    if value is None:
        return None
    names = ckpt.class_names
    if not names:
        raise GanlabError(
            f"--class {value}: {ckpt.path} is not class-conditional (trained without "
            "--conditional). Drop --class, or train with `ganlab train DATASET --conditional`."
        )
    text = str(value).strip()
    if text in names:
        return names.index(text)
    folded = [n.casefold() for n in names]
    if text.casefold() in folded:
        return folded.index(text.casefold())
    if text.lstrip("-").isdigit() and 0 <= int(text) < len(names):
        return int(text)
    raise GanlabError(
        f"--class {value}: no such class in {ckpt.path}. Its classes are (index: name) "
        f"{_listed(names)}."
    )


def hold_class(ckpt: Checkpoint, value: str | int | None) -> int | None:
    """Resolve a `--class` value and hold `ckpt` to it: `generate` and `class_nets` (so the
    projection too) then render that class without being told. Returns the label (or None).

    Raises:
        GanlabError: as `resolve_class`, or a conditional run without a class.
    """
    label = resolve_class(ckpt, value)
    check_labels(ckpt, label, 1)
    ckpt.label = label
    return label


def class_grid(seeds: list[int], num_classes: int) -> tuple[list[int], torch.Tensor | None]:
    """The (seed, class) tiles of a grid with one row per class, row-major.

    The grid keeps about as many tiles as seeds: each row renders the first
    max(1, len(seeds) // K) seeds in its class, so a column holds one z in every class (64
    seeds and 10 classes: a 10 x 6 grid). Unconditional (K = 0): the seeds as they are.

    Returns:
        (seed per tile, int64 class per tile (T,) or None when unconditional).
    """
    if not num_classes:
        return list(seeds), None
    cols = list(seeds[: max(1, len(seeds) // num_classes)])
    labels = torch.arange(num_classes).repeat_interleave(len(cols))  # (K * cols,)
    return cols * num_classes, labels


def even_labels(n: int, num_classes: int) -> torch.Tensor:
    """(n,) int64 labels 0, 1, .., K-1, 0, 1, ..: n samples spread evenly over K classes."""
    return torch.arange(n) % num_classes


def _listed(names: list[str]) -> str:
    return ", ".join(f"{i}: {n}" for i, n in enumerate(names))


class WithClass(nn.Module):
    """A conditional G or D with its label input held fixed: net(x) means net(x, y=label).

    Lets code written for unconditional nets (projection, encoders) run on a conditional run
    in one class. `label` NO_CLASS gives a D no class (core.models).
    """

    def __init__(self, net: nn.Module, label: int):
        super().__init__()
        self.net = net
        self.label = label
        self.cfg = net.cfg

    def forward(self, x: torch.Tensor, **kwargs):
        y = torch.full((x.shape[0],), self.label, dtype=torch.int64, device=x.device)
        return self.net(x, y, **kwargs)


def label_free_discriminator(ckpt: Checkpoint, device: str | torch.device = "cpu") -> nn.Module:
    """D in eval mode for images of any class: a conditional run's D is given NO_CLASS (an
    all-zero label input), as the probe's features are (core.features)."""
    D = load_discriminator(ckpt, device)
    return WithClass(D, NO_CLASS).eval() if ckpt.model_config.num_classes else D


def class_nets(
    ckpt: Checkpoint, label: int | None, device: str | torch.device = "cpu"
) -> tuple[nn.Module, nn.Module]:
    """(G, D) in eval mode, a conditional run's held to class `label` (its D too).

    Args:
        ckpt: the run's checkpoint.
        label: the class (from `resolve_class`); None: the one `hold_class` fixed, or an
            unconditional run.
    Raises:
        GanlabError: a conditional run without a class, or a class for an unconditional one.
    """
    label = ckpt.label if label is None else label
    check_labels(ckpt, label, 1)  # the same errors as `generate`
    G, D = load_generator(ckpt, device), load_discriminator(ckpt, device)
    if label is None:
        return G, D
    return WithClass(G, label).eval(), WithClass(D, label).eval()
