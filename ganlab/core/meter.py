"""Running training statistics over a span of steps, and the divergence checks made on them.

The training loop keeps two meters: one for the steps since the last metrics.jsonl record and
one for the current epoch. A NaN or infinite statistic stops the run (TrainingDiverged) before
a diverged state can be checkpointed, so the last good checkpoint stays `latest`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from ganlab.core.distributed import DistEnv, mean_over_ranks
from ganlab.errors import TrainingDiverged

STAT_NAMES = ("loss_d", "loss_g", "d_x", "d_g_z")  # what `gan_step` returns, in order


@dataclass
class Meter:
    """Running totals of the training statistics over a span of steps (a log interval, an epoch).

    The sums stay on the training device, so counting a step does not wait for it; reading the
    averages is the span's one device sync (and, under torchrun, its one all-reduce).
    """

    sums: torch.Tensor  # (4,) STAT_NAMES summed over the steps that trained
    steps: int = 0  # steps that trained (a batch gutted by corrupt files is passed over)
    images: int = 0  # real images trained on, all ranks together
    skipped: int = 0  # unreadable images left out of this rank's batches
    started: float = field(default_factory=time.perf_counter)  # when the span began

    @classmethod
    def on(cls, device: torch.device) -> Meter:
        """An empty meter whose sums live on `device`."""
        return cls(torch.zeros(4, device=device))

    def add(self, stats: torch.Tensor | None, images: int, skipped: int) -> None:
        """Count one step.

        Args:
            stats: the step's (4,) `gan_step` statistics, or None if it did not train.
            images: real images the step trained on, all ranks together (ignored when None).
            skipped: unreadable images left out of this rank's batch.
        """
        self.skipped += skipped
        if stats is not None:
            self.sums += stats
            self.steps += 1
            self.images += images

    def averages(self, env: DistEnv, step: int) -> dict:
        """Mean statistics per trained step over all ranks, rounded for metrics.jsonl.

        Args:
            env: the process group the means are taken over.
            step: the current step (named in the error).
        Returns:
            {name: mean} for STAT_NAMES, rounded to 6 decimals.
        Raises:
            TrainingDiverged: a mean is NaN or infinite.
        """
        values = (mean_over_ranks(self.sums, env) / max(self.steps, 1)).tolist()
        if not all(math.isfinite(v) for v in values):
            raise diverged(step)
        return {k: round(v, 6) for k, v in zip(STAT_NAMES, values, strict=True)}

    def seconds(self) -> float:
        """Seconds since the span began."""
        return time.perf_counter() - self.started

    def reset(self) -> None:
        """Begin a new span now."""
        self.sums.zero_()
        self.steps, self.images, self.skipped = 0, 0, 0
        self.started = time.perf_counter()


def diverged(step: int) -> TrainingDiverged:
    return TrainingDiverged(
        f"training diverged: a loss became NaN or infinite before step {step}. The last good "
        "checkpoint is kept in checkpoints/ (see `latest`). Resume from it with a lower --lr, "
        "or restart with another --seed."
    )


def check_finite(step: int, *meters: Meter) -> None:
    """Refuse to checkpoint a diverged state: the last good checkpoint must stay `latest`."""
    if not all(torch.isfinite(meter.sums).all() for meter in meters):
        raise diverged(step)
