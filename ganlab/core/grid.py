"""The fixed-noise sample grid `train` renders after each epoch (and at a mid-epoch end).

The same seeds every time (`--grid-seeds`), so a run's grids show G's progress; a conditional
run's grid has one row per class (core.generate.class_grid). G renders in eval mode, so a grid
equals `ganlab sample --seeds <grid seeds>`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ganlab.core.generate import class_grid
from ganlab.core.models import ModelConfig
from ganlab.core.seeds import z_from_seeds
from ganlab.io.images import grid_image, png_bytes, save_png
from ganlab.io.seedlist import parse_seeds
from ganlab.io.tensorboard import TensorBoardWriter


class SampleGrid:
    """The latents (and classes) of a run's grid, and the rendering of one."""

    def __init__(self, seeds: str, mcfg: ModelConfig, z_dist: str, device: torch.device):
        """Args:
        seeds: the grid's seed list, e.g. "0-63".
        mcfg: the nets' shape (latent size, classes).
        z_dist: the run's latent prior.
        device: where G runs.
        """
        grid_seeds, y = class_grid(parse_seeds(seeds), mcfg.num_classes)
        self.z = z_from_seeds(grid_seeds, mcfg.nz, z_dist).to(device)  # (N, nz)
        self.y = None if y is None else y.to(device)  # (N,) one row per class, or None
        self.nrow = len(grid_seeds) // mcfg.num_classes if mcfg.num_classes else None

    def render(
        self,
        G: torch.nn.Module,
        path: str | Path,
        tensorboard: TensorBoardWriter | None = None,
        step: int = 0,
    ) -> None:
        """Write G's grid to `path` (and to TensorBoard at `step`); G is left in train mode."""
        G.eval()  # eval-mode BatchNorm: the grid equals `ganlab sample --seeds <grid seeds>`
        with torch.no_grad():
            img = grid_image(G(self.z, self.y).float(), nrow=self.nrow)
        G.train()
        save_png(img, path)
        if tensorboard is not None:
            tensorboard.write_grid(step, png_bytes(img))
