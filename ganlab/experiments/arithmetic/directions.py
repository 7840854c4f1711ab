"""Which way a concept edit moves z: the offset at scale 1, and the concepts it is built from.

Two directions. "mean" is the paper's: mean(plus exemplars) - mean(minus exemplars); it moves
z by about as much as z's own norm and carries whatever else the exemplars share, so edited
samples lose who they were. "boundary" (mined concepts) is the unit normal of the linear
boundary in z that separates the concepts in the mining pool (InterFaceGAN), scaled to the
distance between the two concepts' pool means along it: it changes the attribute and little
else. Either can be made orthogonal to other mined attributes' normals (`keep`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import torch

from ganlab.core.seeds import concept_z
from ganlab.errors import GanlabError
from ganlab.io.checkpoint import Checkpoint, load_checkpoint
from ganlab.io.concepts import Concept, ConceptSet, load_concepts

DIRECTIONS = ("mean", "boundary")
PAPER_EXEMPLARS = 3  # Fig. 7 averaged three exemplars per concept


def open_run(
    run: str | Path, names: Sequence[str], weights: str = "auto"
) -> tuple[Checkpoint, ConceptSet, dict[str, Concept]]:
    """The checkpoint (rendering the G `weights` picks) and the named concepts, all
    validated before anything is rendered.

    The dict maps each name as typed ("woman" or "gender=woman") to its concept.
    """
    ckpt = load_checkpoint(run).use_weights(weights)
    cs = load_concepts(run)
    cs.check_checkpoint(ckpt)
    concepts = dict(zip(names, cs.require(list(names)), strict=True))
    return ckpt, cs, concepts


def first_exemplars(
    concepts: dict[str, Concept], n: int | None
) -> tuple[dict[str, Concept], list[str]]:
    """Each concept cut to its first `n` exemplars (seeds, then projected images); None: all.

    Mined concepts list their seeds surest first, so the first are the classifier's surest.
    Returns the cut copies (same keys) and a warning per concept that has fewer than `n`.
    """
    if n is None:
        return dict(concepts), []
    if n < 1:
        raise GanlabError(f"--exemplars {n}: use at least 1 exemplar per concept.")
    out, notes = {}, []
    for key, c in concepts.items():
        seeds = c.seeds[:n]
        out[key] = dataclasses.replace(c, seeds=seeds, latents=c.latents[: n - len(seeds)])
        have = len(c.seeds) + len(c.latents)
        if have < n:
            notes.append(f"concept {c.name!r} has {have} exemplar(s), fewer than --exemplars {n}.")
    return out, notes


def kept_concepts(cs: ConceptSet, keep: Sequence[str], moved: Sequence[Concept]) -> list[Concept]:
    """The mined concepts `keep` names: concept names, or label columns (each of its values).

    The concepts being moved (`moved`) are left out: a direction cannot be orthogonal to
    itself. So `--keep gender,age` while moving man -> woman keeps the age values only.
    """
    out: list[Concept] = []
    for item in keep:
        concept = cs.find(item)
        found = [concept] if concept else []
        if not found:
            found = [
                c
                for c in cs.concepts.values()
                if c.source.get("kind") == "mined" and item in _columns(c) and len(_parts(c)) <= 1
            ]
        if not found:
            columns = sorted(
                {col for c in cs.concepts.values() if len(_parts(c)) <= 1 for col in _columns(c)}
            )
            raise GanlabError(
                f"--keep {item!r} is neither a concept nor a mined label column of {cs.path} "
                f"(mined columns: {', '.join(columns) or 'none'}; concepts: "
                f"{', '.join(sorted(cs.concepts)) or 'none'})."
            )
        for c in found:
            if c.boundary is None:
                raise GanlabError(
                    f"--keep {item!r}: concept {c.name!r} has no boundary in z (only mined "
                    "concepts do); mine it with `ganlab concept mine --columns COLUMN`."
                )
            if all(c.name != m.name for m in (*moved, *out)):  # moved may be cut copies
                out.append(c)
    return out


def _parts(c: Concept) -> list[dict]:
    """The parts of a `concept mine --define` concept's definition ([] for any other)."""
    parts = c.source.get("parts")
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def part_key(part: dict) -> tuple:
    """A stored definition part as (column, value, negated)."""
    return part.get("column"), part.get("value"), bool(part.get("negated"))


def shared_parts(concepts: Sequence[Concept]) -> set[tuple]:
    """The parts (part_key) every concept's `--define` definition has; none where a concept
    has no definition."""
    keys = [{part_key(p) for p in _parts(c)} for c in concepts]
    return set.intersection(*keys) if keys else set()


def _columns(c: Concept) -> set[str]:
    """The label columns a mined concept is defined by (a --columns value's one, or each part's)."""
    if c.source.get("kind") != "mined":
        return set()
    if c.source.get("column"):
        return {str(c.source["column"])}
    return {str(p.get("column")) for p in _parts(c)}


def shared_parts_note(
    concepts: dict[str, Concept],
    plus: Sequence[str],
    minus: Sequence[str],
    kept: Sequence[Concept],
    cs: ConceptSet,
) -> list[str]:
    """A hint where every plus and minus concept's definition asks for the same part (as
    "woman without glasses" and "man without glasses" share -Eyeglasses) and nothing keeps its
    column: the offset between them is meant to leave that attribute as the base has it, but
    where G seldom draws it with the plus concept's other parts, the offset carries it away
    (docs/usage.md: the glasses equation)."""
    defined = [concepts[n] for n in (*plus, *minus)]
    if not plus or not minus:
        return []
    held = {col for c in kept for col in _columns(c)}
    shared = sorted(k for k in shared_parts(defined) if k[0] not in held)
    if not shared:
        return []
    written = {part_key(p): p.get("written") for p in _parts(defined[0])}
    parts = ", ".join(str(written[k]) for k in shared)
    column = shared[0][0]
    alone = [c for c in cs.concepts.values() if len(_parts(c)) <= 1 and column in _columns(c)]
    how = (
        f"add --keep {column}"
        if alone
        else "mine a concept of it alone (`ganlab concept mine --labels FILE --define "
        f'"kept={written[shared[0]]}"`) and add --keep {column}'
    )
    return [
        f"--plus and --minus both ask for {parts}: their offset should leave it as the base has "
        "it, but it can carry it away where G seldom draws it with the --plus concept's other "
        f"attributes. To hold it, {how}."
    ]


def _project_out(v: torch.Tensor, normals: Sequence[torch.Tensor]) -> torch.Tensor:
    """v minus its component in the span of `normals` (nz,)."""
    if not normals:
        return v
    q, _ = torch.linalg.qr(torch.stack(normals).double().T)  # (nz, m) orthonormal columns
    v64 = v.double()
    return (v64 - q @ (q.T @ v64)).float()


def edit_offset(
    concepts: dict[str, Concept],
    plus: Sequence[str],
    minus: Sequence[str],
    nz: int,
    dist: str,
    direction: str = "mean",
    keep: Sequence[Concept] = (),
) -> torch.Tensor:
    """The offset added to z at scale 1 (nz,).

    Args:
        concepts: name (as typed) -> concept, for every name in plus and minus.
        plus, minus: concept names.
        nz, dist: the run's latent space.
        direction: "mean": sum of mean(plus exemplars) - sum of mean(minus exemplars).
            "boundary": the unit normal d of (sum of plus normals - sum of minus normals),
            times d . (sum of plus pool means - sum of minus pool means): the distance between
            the concepts' pool samples along d (from the prior's mean, 0, without minus).
        keep: concepts whose boundary normals the offset is made orthogonal to.
    Returns:
        The offset (nz,).
    """
    normals = [c.normal() for c in keep]
    if direction == "mean":
        return _project_out(offset_vector(concepts, plus, minus, nz, dist), normals)
    if direction != "boundary":
        raise GanlabError(f"direction {direction!r}: use one of {', '.join(DIRECTIONS)}.")
    missing = [n for n in (*plus, *minus) if concepts[n].boundary is None]
    if missing:
        raise GanlabError(
            f"concept {missing[0]!r} has no boundary in z (only mined concepts have one): use "
            "--direction mean, or mine it with `ganlab concept mine`."
        )
    d = sum((concepts[n].normal() for n in plus), torch.zeros(nz))
    d = d - sum((concepts[n].normal() for n in minus), torch.zeros(nz))
    d = _project_out(d, normals)
    if float(d.norm()) < 1e-6:
        raise GanlabError(
            "the boundary direction vanishes: --plus and --minus cancel, or --keep spans them."
        )
    d = d / d.norm()
    means = sum((concepts[n].pool_mean() for n in plus), torch.zeros(nz))
    means = means - sum((concepts[n].pool_mean() for n in minus), torch.zeros(nz))
    length = float(d @ means)
    if length <= 0:
        raise GanlabError(
            "along the boundary direction the --plus concepts' pool samples do not lie beyond "
            "the --minus ones' (the boundary fit is poor); use --direction mean."
        )
    return d * length


def pick_direction(direction: str | None, concepts: Sequence[Concept], fig7: bool = False) -> str:
    """--direction as given, or its default: "mean" for the paper's Fig. 7 form and for
    hand-picked concepts, "boundary" when every concept has one."""
    if direction is not None:
        if direction not in DIRECTIONS:
            raise GanlabError(f"--direction {direction!r}: use one of {', '.join(DIRECTIONS)}.")
        return direction
    if fig7 or any(c.boundary is None for c in concepts):
        return "mean"
    return "boundary"


def offset_vector(
    concepts: dict[str, Concept], plus: Sequence[str], minus: Sequence[str], nz: int, dist: str
) -> torch.Tensor:
    """sum of mean z over `plus` minus the same over `minus`: (nz,)."""
    out = torch.zeros(nz)
    for name in plus:
        out += concept_z(concepts[name], nz, dist)
    for name in minus:
        out -= concept_z(concepts[name], nz, dist)
    return out
