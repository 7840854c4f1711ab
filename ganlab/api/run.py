"""A trained run from Python: `ganlab.load(RUN)` and what the latent-space commands do with it.

    run = ganlab.load("runs/faces")            # or "runs/faces:best", "runs/faces:1400"
    images = run.generate(seeds=range(16))     # uint8 (16, C, S, S), as `ganlab sample` renders
    z = run.edit(run.z([3]), plus="woman", minus="man")   # `ganlab arithmetic`'s edit
    path = run.interpolate(0, 7, steps=8)      # (10, nz), as `ganlab interpolate` walks

Every method calls the same library functions as the command of the same name, so the same
seeds give the same bytes, and a mistake raises the same GanlabError with the same message.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path

import torch
from torch import nn

from ganlab.core.device import resolve_device
from ganlab.core.generate import generate, resolve_class
from ganlab.core.nets import load_discriminator, load_generator
from ganlab.core.projection import Projection, ProjectionConfig, project
from ganlab.core.seeds import z_from_seeds
from ganlab.errors import GanlabError, GanlabWarning
from ganlab.experiments.arithmetic import (
    FLIP_MARGIN,
    FLIP_SCALE,
    edit_offset,
    kept_concepts,
    pick_direction,
    resolve_flip,
    step_until_flip,
)
from ganlab.experiments.concept import MineResult, mine_concepts
from ganlab.experiments.interpolate import default_mode, walk
from ganlab.io.checkpoint import Checkpoint, load_checkpoint
from ganlab.io.concepts import Concept, ConceptSet, load_concepts
from ganlab.io.images import to_uint8
from ganlab.io.runspec import run_dir_of

Seeds = Iterable[int]


class Run:
    """One checkpoint of a trained run, with its nets and latent space.

    Make one with `ganlab.load`. `G` and `D` are ordinary `nn.Module`s in eval mode (an image
    depends only on its latent, never on its batch) on `device`. `G` is the one `weights`
    names (the averaged G of a run trained with --ema, unless loaded with weights="raw");
    `D` is always the trained D.
    """

    def __init__(self, checkpoint: Checkpoint, device: str | torch.device = "cpu"):
        self.checkpoint = checkpoint
        self.device = resolve_device(str(device)) if isinstance(device, str) else device

    def __repr__(self) -> str:
        mc = self.checkpoint.model_config
        return (
            f"Run({str(self.path)!r}, step={self.step}, {mc.image_size}px x {mc.channels}, "
            f"nz={mc.nz}, weights={self.weights!r}, device={str(self.device)!r})"
        )

    # --- what it is ----------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The run directory."""
        return run_dir_of(self.checkpoint.path)

    @property
    def step(self) -> int:
        """The optimizer step of this checkpoint."""
        return self.checkpoint.step

    @property
    def weights(self) -> str:
        """The G that renders: "ema" (the averaged G of a run trained with --ema) or "raw"
        (the trained G); `ganlab.load(..., weights=...)` picks it."""
        return self.checkpoint.weights_used

    @property
    def nz(self) -> int:
        """Latent dimension."""
        return self.checkpoint.model_config.nz

    @property
    def z_dist(self) -> str:
        """The latent prior: "uniform" (U(-1, 1), the paper's) or "normal"."""
        return self.checkpoint.z_dist

    @property
    def class_names(self) -> list[str]:
        """A conditional run's classes (label order); [] for an unconditional run."""
        return self.checkpoint.class_names

    @cached_property
    def G(self) -> nn.Module:
        """The generator: z (N, nz) -> images (N, C, S, S) in [-1, 1], eval mode."""
        return load_generator(self.checkpoint, self.device)

    @cached_property
    def D(self) -> nn.Module:
        """The discriminator: images in [-1, 1] -> logits (N,), eval mode."""
        return load_discriminator(self.checkpoint, self.device)

    @property
    def concepts(self) -> dict[str, Concept]:
        """The run's named concepts (RUN/concepts.json), by name; {} if it has none."""
        found = self._concept_set(missing_ok=True)
        return {} if found is None else dict(found.concepts)

    def mine_concepts(self, **options) -> MineResult:
        """Name concepts from labelled images, as `ganlab concept mine` does: for each label
        value, the pool seeds D's features classify most confidently, and its boundary in z.

        Args:
            options: `concept mine`'s options by name (data_root, labels, columns, pool,
                per_concept, exemplars, replace, define, ...); `define=["man with glasses=
                Male,Eyeglasses", ...]` mines concepts that combine labels.
        Returns:
            A MineResult; the concepts are stored in RUN/concepts.json (`concepts`).
        """
        return mine_concepts(self.checkpoint.path, device=self.device, **options)

    def _concept_set(self, missing_ok: bool = False) -> ConceptSet | None:
        """RUN/concepts.json, checked to be in this checkpoint's latent space."""
        found = load_concepts(self.path, missing_ok=missing_ok)
        if found is not None:
            found.check_checkpoint(self.checkpoint)
        return found

    # --- latents and images --------------------------------------------------------------

    def z(self, seeds: Seeds) -> torch.Tensor:
        """The latents (N, nz) that `seeds` own: the same z as every command's `--seeds`."""
        return z_from_seeds(list(seeds), self.nz, self.z_dist)

    def generate(
        self,
        seeds: Seeds | None = None,
        *,
        z: torch.Tensor | None = None,
        class_: str | int | None = None,
        batch_size: int = 256,
    ) -> torch.Tensor:
        """Render images, one per seed (or per row of `z`).

        Args:
            seeds: e.g. `range(16)`; or give `z` instead.
            z: latents (N, nz), e.g. from `edit`, `interpolate` or `project`.
            class_: a conditional run's class (name or index) for every image.
            batch_size: images per forward pass (does not change the images).
        Returns:
            uint8 (N, C, S, S) on the CPU: the pixels `ganlab sample` writes.
        Raises:
            GanlabError: neither or both of seeds and z, z of another size, a class for an
                unconditional run or none for a conditional one.
        """
        if (seeds is None) == (z is None):
            raise GanlabError("give seeds or z to generate, not both and not neither.")
        latents = self.z(seeds) if z is None else torch.as_tensor(z, dtype=torch.float32)
        if latents.ndim == 1:
            latents = latents[None]  # one latent (nz,) -> (1, nz)
        label = resolve_class(self.checkpoint, class_)
        images = generate(self.checkpoint, latents, self.device, batch_size, labels=label)
        return to_uint8(images)  # (N, C, S, S)

    def edit(
        self,
        z: torch.Tensor,
        *,
        plus: str | Sequence[str] = (),
        minus: str | Sequence[str] = (),
        direction: str | None = None,
        scale: float | None = None,
        keep: str | Sequence[str] = (),
        flip: bool | None = None,
        margin: float = FLIP_MARGIN,
        confidence: float | None = None,
    ) -> torch.Tensor:
        """Move latents along a concept direction, as `ganlab arithmetic --seeds` does.

        By default, like the command, each latent moves along the boundary direction of mined
        concepts just past the point where the run's classifier gives it the plus concept
        (plus `margin` times the offset); otherwise, and with `scale` or `flip=False`, every
        latent moves by the same multiple of the offset. Where the default cannot search (the
        classifier was fitted on another checkpoint, say), it warns (GanlabWarning) and takes
        the fixed step, as the command does; so does a sample that never flips by the cap.

        Args:
            z: latents (N, nz) or (nz,).
            plus, minus: concept names (`concept add`/`concept mine`), e.g. "woman", "man".
            direction: "mean" (the paper's exemplar means) or "boundary" (mined concepts'
                boundary normals); None: `ganlab arithmetic`'s default for these concepts.
            scale: the fixed multiple of the offset added (default 1); with `flip`, the
                largest multiple searched (default FLIP_SCALE).
            keep: concepts or mined label columns the offset is made orthogonal to.
            flip: True: search each latent's multiple (`--until-flip`); False: the fixed step
                (`--fixed-step`); None: the command's default (above).
            margin: added to each latent's flip multiple.
            confidence: with a search, the probability each plus value must reach.
        Returns:
            The edited latents, the shape of `z`.
        """
        plus, minus, keep = _names(plus), _names(minus), _names(keep)
        if not plus and not minus:
            raise GanlabError("name a concept to add (plus=...) or remove (minus=...).")
        if scale is not None and scale < 0:
            raise GanlabError(f"scale={scale:g}: use a multiple >= 0 (0 gives z itself).")
        if margin < 0:
            raise GanlabError(f"margin={margin:g}: use a multiple >= 0.")
        if confidence is not None and not 0 < confidence < 1:
            raise GanlabError(f"confidence={confidence:g}: use a probability between 0 and 1.")
        cs = self._concept_set()
        names = [*plus, *minus]
        concepts = dict(zip(names, cs.require(names), strict=True))
        how = pick_direction(direction, list(concepts.values()))
        kept = kept_concepts(cs, keep, list(concepts.values()))
        offset = edit_offset(concepts, plus, minus, self.nz, self.z_dist, how, kept)  # (nz,)
        flip, targets, notes = resolve_flip(
            self.path,
            self.checkpoint,
            [concepts[n] for n in plus],
            how,
            scale,
            flip,
            confidence,
            [concepts[n] for n in minus],
        )
        z = torch.as_tensor(z, dtype=torch.float32)
        if flip:
            cap = FLIP_SCALE if scale is None else scale
            flat = z.reshape(-1, self.nz)  # (N, nz)
            edited, _, _, more = step_until_flip(
                self.checkpoint, flat, offset, targets, cap, margin, self.device
            )
            edited = edited.reshape(z.shape)
        else:
            edited, more = z + (1.0 if scale is None else scale) * offset, []
        stale = cs.stale(self.checkpoint, [c.name for c in concepts.values()])
        for note in notes + more + stale:
            warnings.warn(note, GanlabWarning, stacklevel=2)
        return edited

    def interpolate(
        self,
        a: int | torch.Tensor,
        b: int | torch.Tensor,
        steps: int = 8,
        mode: str | None = None,
    ) -> torch.Tensor:
        """A walk from `a` to `b` (seeds or latents (nz,)) with `steps` frames in between.

        Args:
            mode: "lerp" or "slerp"; None: `ganlab interpolate`'s default for the prior.
        Returns:
            (steps + 2, nz): row 0 is exactly a, the last row exactly b.
        """
        ends = [self.z([p])[0] if isinstance(p, int) else torch.as_tensor(p) for p in (a, b)]
        return walk(torch.stack(ends).float(), steps, mode or default_mode(self.z_dist))

    def project(self, images: torch.Tensor, **settings) -> Projection:
        """Find the latents of real images, as `ganlab project` does.

        Args:
            images: uint8 (N, C, S, S) at the run's size and channels, as `generate`
                returns them or a data set of the run's size gives them (`ganlab project`
                reads image files at that size for you).
            settings: ProjectionConfig fields (steps, restarts, feature_weight, seed, ...).
        Returns:
            A Projection: `.z` (N, nz) renders with `generate(z=...)`; `.psnr` per image.
        """
        return project(self.checkpoint, images, ProjectionConfig(**settings), device=self.device)


def load(run: str | Path, device: str | torch.device = "cpu", weights: str = "auto") -> Run:
    """A trained run, ready to render.

    Args:
        run: a run directory (its latest checkpoint), RUN:best, RUN:latest, RUN:STEP, or a
            checkpoint file.
        device: where G and D run: "cpu", "cuda", "mps" or "auto".
        weights: which G renders, as the commands' --weights: "auto" (the averaged G if the
            run was trained with --ema, else the trained G), "ema" or "raw" (the trained G).
    Returns:
        A Run (`run.weights` says which G it renders: "ema" or "raw").
    Raises:
        GanlabError: no such run or checkpoint, a file that is not a ganlab checkpoint, or
            weights="ema" for a run trained without --ema.
    """
    return Run(load_checkpoint(run).use_weights(weights), device)


def _names(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)
