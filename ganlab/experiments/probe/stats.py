"""Feature statistics for the probe: per-feature moments, mean and std, and in-place scaling.

The probe divides every feature by one global scale (the root mean square of the training
features) or, with --standardize, by each feature's own mean and std. Statistics are
accumulated in float64 block by block, in memory (`tensor_stats`) or streamed
from the features file (`train_stats`), so they need O(F) memory besides one block.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch

from ganlab.io.featstore import FeatureFile


def moments(blocks: Iterable[torch.Tensor]) -> tuple[int, torch.Tensor, torch.Tensor]:
    """(rows, per-feature sum, per-feature sum of squares) over (b, F) blocks, in float64.

    Args:
        blocks: (b, F) feature blocks, any float dtype, at least one.
    Returns:
        (n, s, ss): the row count and two (F,) float64 tensors.
    """
    n, s, ss = 0, None, None
    for block in blocks:
        c = block.double()
        if s is None:
            s = torch.zeros(c.shape[1], dtype=torch.float64, device=c.device)
            ss = torch.zeros_like(s)
        n += c.shape[0]
        s += c.sum(0)
        ss += c.square().sum(0)  # not in place: c may be the caller's float64 block
    if s is None:
        raise ValueError("moments needs at least one block of rows")
    return n, s, ss


def mean_std(n: int, s: torch.Tensor, ss: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and std from `moments`; constant features get std 1 (they stay 0).

    Args:
        n, s, ss: what `moments` returns.
    Returns:
        (mean, std), each (F,) float64.
    """
    mean = s / n
    std = (ss / n - mean * mean).clamp(min=0).sqrt()
    std[std < 1e-6 * std.max().clamp(min=1e-30)] = 1.0
    return mean, std


def scaling(
    blocks: Iterable[torch.Tensor], per_feature: bool, F: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """What to subtract and divide by, from (b, F) blocks of training rows (O(F) memory).

    per_feature: each feature's mean and std (--standardize). Otherwise zero and one global
    scale, the root mean square of all training features: relative scales are kept (they carry
    information; standardising measured worse) but one C grid suits every D, whatever the
    overall size of its activations (e.g. a random D without BatchNorm statistics).

    Args:
        blocks: (b, F) blocks of the rows, any float dtype.
        per_feature: standardise each feature, else one global scale.
        F: the feature count.
    Returns:
        (mean, std), each (F,) float32 on the CPU.
    """
    if not per_feature:
        # one number, the sum of squares: per row in float32 (rows of ~10^4 values, to about
        # 1e-8 relative), summed in float64; 4x faster than `moments`' float64 copy of each
        # block, and a row norm makes no (b, F) temporary
        n, ss = 0, 0.0
        for block in blocks:
            n += block.shape[0]
            ss += torch.linalg.vector_norm(block, dim=1).double().square().sum().item()
        rms = max(math.sqrt(ss / (n * F)), 1e-30)
        return torch.zeros(F), torch.full((F,), rms)
    mean, std = mean_std(*moments(blocks))
    return mean.float().cpu(), std.float().cpu()


def train_stats(
    ff: FeatureFile, rows: np.ndarray, per_feature: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """`scaling` over `rows` of the train split, streamed from the file (O(F) memory).

    Args:
        ff: the features file.
        rows: positions in its train split to take the statistics over.
        per_feature: standardise each feature, else one global scale.
    Returns:
        (mean, std), each (F,) float32 on the CPU.
    """
    mask = np.zeros(ff.rows("train"), dtype=bool)
    mask[rows] = True

    def blocks():
        for start, block in ff.iter_blocks("train"):
            keep = mask[start : start + block.shape[0]]
            yield block if keep.all() else block[torch.from_numpy(keep)]

    return scaling(blocks(), per_feature, ff.feature_dim)


def tensor_stats(
    X: torch.Tensor, per_feature: bool, chunk: int = 4096
) -> tuple[torch.Tensor, torch.Tensor]:
    """`scaling` over the rows of X (n, F) in memory, `chunk` rows at a time.

    The same statistics as `train_stats` over the same rows (up to the order of float64
    sums), without a second read of the file when the rows are in memory anyway.

    Args:
        X: (n, F) features, on any device.
        per_feature: standardise each feature, else one global scale.
        chunk: rows per step.
    Returns:
        (mean, std), each (F,) float32 on the CPU.
    """
    blocks = (X[i : i + chunk] for i in range(0, X.shape[0], chunk))
    return scaling(blocks, per_feature, X.shape[1])


def standardize_(
    X: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, chunk: int = 4096
) -> torch.Tensor:
    """(X - mean) / std in place, chunk by chunk (no full-size temporary).

    Args:
        X: (n, F) features, changed in place.
        mean, std: (F,) on X's device.
        chunk: rows per step.
    Returns:
        X.
    """
    centred = bool(mean.any())  # the default global scale subtracts nothing: one pass less
    for i in range(0, X.shape[0], chunk):
        if centred:
            X[i : i + chunk].sub_(mean)
        X[i : i + chunk].div_(std)
    return X
