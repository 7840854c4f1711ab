"""--until-flip: per sample, the smallest multiple of the offset at which the classifiers flip.

The classifiers are those `ganlab concept mine` stored beside the concepts, applied to D's
features of G(z); "flipped" means each gives its plus concept's value (with --confidence, at
least that probability). The multiple is found on a coarse grid, then by halving the bracket.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganlab.core.features import d_features
from ganlab.core.generate import generate
from ganlab.core.nets import load_discriminator
from ganlab.errors import GanlabError
from ganlab.experiments.arithmetic.directions import part_key, shared_parts
from ganlab.io.checkpoint import Checkpoint
from ganlab.io.concepts import Concept, FeatureClassifier, load_classifier
from ganlab.io.images import to_uint8

FLIP_SCALE = 3.0  # --until-flip searches multiples of the offset up to this (or --scale)
FLIP_COARSE = 12  # evenly spaced multiples tried first, then ...
FLIP_BISECT = 4  # ... halvings of the bracket where the class changed (cap / 192 apart)
# added to each sample's flip multiple, so it is not left on the boundary: 0.5 met 90% transfer
# with 80% identity on CelebA's Male attribute in both directions on two runs, where 0.1
# transferred 0.61-0.75 (docs/usage.md)
FLIP_MARGIN = 0.5


NOTHING_TO_FLIP = (
    "--until-flip has nothing to aim at: every part of the --plus definitions is in the --minus "
    "ones too; use --fixed-step (or --scale), or a --plus concept that differs from them."
)


@dataclass
class FlipTarget:
    """What "flipped" means: each classifier gives the plus concept's value (and, with a
    confidence, a probability of at least that to it)."""

    classifier: FeatureClassifier
    value: str
    confidence: float | None = None  # None: the classifier's choice is enough


def flip_targets(
    run: str | Path,
    ckpt: Checkpoint,
    concepts: Sequence[Concept],
    confidence: float | None = None,
    minus: Sequence[Concept] = (),
) -> list[FlipTarget]:
    """The stored classifiers of the --plus concepts, checked against the checkpoint; each must
    give its value, with at least `confidence` probability when that is given.

    A part of a plus definition that every `minus` concept's definition has too (the
    -Eyeglasses of "woman without glasses" against "man without glasses") is not aimed at:
    the offset between them is meant to leave it as the sample has it."""
    shared = shared_parts(minus)
    targets = []
    for c in concepts:
        for rel, value in _classified(c, skip=shared):
            clf = load_classifier(run, rel)
            if clf.checkpoint_sha256 != ckpt.sha256():
                raise GanlabError(
                    f"the classifier of {c.name!r} was fitted on another checkpoint's D "
                    f"(step {c.source.get('step')}) than {ckpt.path} (step {ckpt.step}); mine "
                    "the concepts again on this checkpoint with `ganlab concept mine --replace`."
                )
            targets.append(FlipTarget(clf, value, confidence))
    return targets


def resolve_flip(
    run: str | Path,
    ckpt: Checkpoint,
    plus: Sequence[Concept],
    method: str,
    scale: float | None,
    flip: bool | None,
    confidence: float | None = None,
    minus: Sequence[Concept] = (),
) -> tuple[bool, list[FlipTarget], list[str]]:
    """Whether an edit of latents searches each sample's multiple, and what it searches for.

    Args:
        run: the run directory (its stored classifiers).
        ckpt: the checkpoint the classifiers must have been fitted on.
        plus: the --plus concepts: the values to flip to.
        method: the direction ("mean" or "boundary").
        scale: the fixed multiple asked for, or None.
        flip: True searches (an error where it cannot), False takes the fixed step, None (the
            default) searches where the direction is "boundary", a plus concept is given,
            `scale` is not and the plus concepts' classifiers can be used on `ckpt`; where they
            cannot, the fixed step is taken with a warning that says why.
        confidence: the probability each plus value must reach (with a search only).
        minus: the --minus concepts (the parts they share with plus are not aimed at).
    Returns:
        (flip, targets, warnings).
    """
    targets: list[FlipTarget] = []
    warnings: list[str] = []
    if flip is None:
        flip = method == "boundary" and bool(plus) and scale is None
        if flip:
            try:
                targets = flip_targets(run, ckpt, plus, confidence, minus)
                if not targets:
                    raise GanlabError(NOTHING_TO_FLIP)
            except GanlabError as err:
                flip = False
                warnings.append(f"the fixed step (scale 1) is used: {err}")
    elif flip:
        if not plus:
            raise GanlabError("--until-flip needs a --plus concept: the class to flip to.")
        targets = flip_targets(run, ckpt, plus, confidence, minus)
        if not targets:
            raise GanlabError(NOTHING_TO_FLIP)
    if confidence is not None and not flip:
        raise GanlabError(
            "--confidence sets when --until-flip stops: add --until-flip (it needs the "
            "boundary direction of mined concepts)."
        )
    return flip, targets, warnings


def _classified(c: Concept, skip: set[tuple] = frozenset()) -> list[tuple[str, str]]:
    """(classifier file, value) pairs a concept's samples must get: one for a mined value, one
    per part of a `concept mine --define` conjunction (but those in `skip`)."""
    src = c.source
    parts = src.get("parts") if isinstance(src.get("parts"), list) else None
    if parts is None:
        pairs = [(src.get("classifier_file"), src.get("value"))]
    else:
        parts = [p for p in parts if part_key(p) not in skip]
        pairs = [(p.get("classifier_file"), p.get("value")) for p in parts]
        if any(p.get("negated") for p in parts):
            raise GanlabError(
                f"--until-flip cannot aim at {c.name!r}: it asks for a value's absence in a "
                "column of more than two values, which no one classifier value stands for; "
                "define it by the value it should have."
            )
    if src.get("kind") != "mined" or not all(rel and value is not None for rel, value in pairs):
        raise GanlabError(
            f"--until-flip needs a classifier for {c.name!r}: only concepts mined with "
            "`ganlab concept mine` (this version) have one; mine them again with --replace."
        )
    return [(str(rel), str(value)) for rel, value in pairs]


def _reaches(
    ckpt: Checkpoint, D, z: torch.Tensor, targets: Sequence[FlipTarget], device, batch_size: int
) -> np.ndarray:
    """(N,) bool: every target classifier gives G(z) its value (with its confidence)."""
    images = to_uint8(generate(ckpt, z, device, batch_size))  # (N, C, S, S)
    ok = np.ones(len(z), dtype=bool)
    for grid in sorted({t.classifier.grid for t in targets}):
        feats = d_features(D, images, device, batch_size, grid=grid).numpy()  # (N, F)
        for t in targets:
            if t.classifier.grid == grid:
                ok &= np.array(t.classifier.predict(feats)) == t.value
                if t.confidence is not None:
                    column = t.classifier.classes.index(t.value)
                    ok &= t.classifier.probabilities(feats)[:, column] >= t.confidence
    return ok


def until_flip(
    ckpt: Checkpoint,
    z: torch.Tensor,
    offset: torch.Tensor,
    targets: Sequence[FlipTarget],
    cap: float = FLIP_SCALE,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
) -> list[float | None]:
    """Per sample, the smallest multiple a of `offset` at which the classifiers flip.

    Tries FLIP_COARSE + 1 evenly spaced multiples in [0, cap], then halves the bracket around
    the first flip FLIP_BISECT times, keeping the flipped end.

    Args:
        ckpt: the run's checkpoint (G renders, D gives the classifiers' features).
        z: (N, nz) latents.
        offset: (nz,) the edit at scale 1.
        targets: the classifiers and the values they must give.
        cap: the largest multiple tried.
        device, batch_size: where and how G and D run.
    Returns:
        N multiples (0 for a sample already classified as the target), None where no multiple
        up to `cap` flips it.
    """
    D = load_discriminator(ckpt, device)
    alphas = torch.linspace(0, cap, FLIP_COARSE + 1)  # (A,)
    grid_z = (z[:, None, :] + alphas[None, :, None] * offset).reshape(-1, z.shape[1])  # (N*A, nz)
    ok = _reaches(ckpt, D, grid_z, targets, device, batch_size).reshape(len(z), -1)  # (N, A)
    first = [int(np.argmax(row)) if row.any() else None for row in ok]
    lo = torch.tensor([float(alphas[j - 1]) if j else 0.0 for j in (f or 0 for f in first)])
    hi = torch.tensor([float(alphas[j]) if j is not None else cap for j in first])
    todo = torch.tensor([j is not None and j > 0 for j in first])
    for _ in range(FLIP_BISECT if bool(todo.any()) else 0):
        mid = (lo + hi) / 2
        idx = todo.nonzero()[:, 0]
        hit = torch.from_numpy(
            _reaches(ckpt, D, z[idx] + mid[idx, None] * offset, targets, device, batch_size)
        )
        hi[idx[hit]] = mid[idx[hit]]
        lo[idx[~hit]] = mid[idx[~hit]]
    return [None if j is None else float(h) for j, h in zip(first, hi, strict=True)]


def step_until_flip(
    ckpt: Checkpoint,
    z: torch.Tensor,
    offset: torch.Tensor,
    targets: Sequence[FlipTarget],
    cap: float = FLIP_SCALE,
    margin: float = FLIP_MARGIN,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
) -> tuple[torch.Tensor, list[float | None], torch.Tensor, list[str]]:
    """Each latent moved along `offset` to its flip multiple plus `margin` (to `cap` where it
    never flips): `until_flip` and `flip_scales` in one.

    Returns:
        (edited latents (N, nz), each flip multiple or None, each multiple used (N,), warnings).
    """
    flips = until_flip(ckpt, z, offset, targets, cap, device, batch_size)
    scales, notes = flip_scales(flips, cap, margin)
    return z + scales[:, None] * offset, flips, scales, notes


def flip_scales(
    flips: Sequence[float | None], cap: float, margin: float
) -> tuple[torch.Tensor, list[str]]:
    """Each sample's multiple: its flip plus `margin` (`cap` where it never flipped) (N,)."""
    scales = torch.tensor([cap if f is None else f + margin for f in flips])
    missed = sum(f is None for f in flips)
    notes = []
    if missed:
        notes.append(
            f"{missed} of {len(flips)} sample(s) did not flip by {cap:g} x the offset; they "
            "are shown at that multiple (raise --scale to search further)."
        )
    return scales, notes
