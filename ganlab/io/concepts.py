"""A run's concepts: named lists of exemplar seeds, stored in RUN/concepts.json.

    {"format": "ganlab-concepts", "version": 1, "nz": 100, "z_dist": "uniform",
     "concepts": {"man with glasses": {"seeds": [3, 17, 42],
                                       "source": {"kind": "manual", "step": 880, ...}}}}

The file is human-readable and written atomically; `ganlab concept` writes it and
`ganlab arithmetic` reads it. A concept's z is the mean of its exemplars' z (paper Fig. 7).

Exemplars may also be real images (`concept add NAME --images a.jpg b.jpg`): their projected
z are stored as "latents" (one list of nz floats per image, exact: float32 values written as
JSON doubles read back bit for bit), with the image files and projection losses in "source".
Files with such concepts are written as version 2; files without them stay version 1, which
older ganlab reads.

Mined concepts also carry a "boundary" (version 3): the unit normal, in z, of a linear boundary
between the pool samples the classifier gives this value and the rest (InterFaceGAN's
direction), and the mean z of those samples; its provenance (method, pool, held-out accuracy)
is in "source". The D-feature classifier that labelled the pool is stored beside the file, in
``RUN/concept-classifiers/COLUMN.npz`` (plain arrays, read with ``allow_pickle=False``), so
`arithmetic --until-flip` can ask it whether an edited sample changed class.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ganlab import __version__
from ganlab.errors import GanlabError
from ganlab.io.atomic import atomic_path, write_json
from ganlab.io.checkpoint import Checkpoint
from ganlab.io.runspec import run_dir_of
from ganlab.io.seedlist import format_seeds

CONCEPTS_FILE = "concepts.json"
FORMAT = "ganlab-concepts"
FORMAT_VERSION = 3  # 2 added "latents", 3 "boundary"; a file is written at the lowest it needs
CLASSIFIERS_DIR = "concept-classifiers"
MAX_NAME = 64


@dataclass
class Concept:
    """Exemplars of one named concept (seeds, projected images' z) and how they were chosen."""

    name: str
    seeds: list[int]
    source: dict = field(default_factory=dict)  # {"kind": "manual"|"mined"|"images", ...}
    latents: list[list[float]] = field(default_factory=list)  # projected images' z, (E, nz)
    # mined only: {"normal": unit (nz,) pointing into this value, "pool_mean": (nz,)}
    boundary: dict | None = None

    def describe(self) -> str:
        """Its exemplars in a few words: "3,17,42", "3 images" or "3,17 + 2 images"."""
        parts = [format_seeds(self.seeds)] if self.seeds else []
        if self.latents:
            parts.append(f"{len(self.latents)} image{'s' if len(self.latents) > 1 else ''}")
        return " + ".join(parts)

    def normal(self) -> torch.Tensor:
        """The unit normal of the concept's boundary in z (nz,), pointing into the concept."""
        return torch.tensor(self.boundary["normal"], dtype=torch.float32)

    def pool_mean(self) -> torch.Tensor:
        """The mean z of the pool samples the classifier gave this concept (nz,)."""
        return torch.tensor(self.boundary["pool_mean"], dtype=torch.float32)


@dataclass
class ConceptSet:
    """The concepts of one run, as stored in RUN/concepts.json."""

    path: Path
    nz: int
    z_dist: str
    concepts: dict[str, Concept] = field(default_factory=dict)

    def check_checkpoint(self, ckpt: Checkpoint) -> None:
        """Refuse a checkpoint whose latent space is not the one the seeds were picked in."""
        nz, dist = ckpt.model_config.nz, ckpt.z_dist
        if (self.nz, self.z_dist) != (nz, dist):
            raise GanlabError(
                f"{self.path} holds concepts for nz={self.nz} {self.z_dist} latents but "
                f"checkpoint {ckpt.path} has nz={nz} {dist} latents: seeds only name the same "
                "images in the latent space they were picked in. Use the run the concepts "
                "belong to, or make new ones for this run (`ganlab concept add` or "
                "`ganlab concept mine`)."
            )

    def find(self, name: str) -> Concept | None:
        """The concept a user means by `name`: its exact name, or a mined concept's other form.

        A mined concept is named by its value ("woman") or by "column=value" ("gender=woman");
        either form finds it, as long as only one concept matches.
        """
        if name in self.concepts:
            return self.concepts[name]
        col, sep, value = name.partition("=")
        matches = [
            c
            for c in self.concepts.values()
            if c.source.get("kind") == "mined"
            and (
                (sep and c.source.get("column") == col and c.source.get("value") == value)
                or (not sep and c.source.get("value") == name)
            )
        ]
        return matches[0] if len(matches) == 1 else None

    def require(self, names: Sequence[str]) -> list[Concept]:
        """The named concepts, each with at least one seed; GanlabError naming the first bad one.

        Names are looked up with `find`, so "woman" and "gender=woman" both work.
        """
        found = []
        for name in names:
            concept = self.find(name)
            if concept is None:
                known = ", ".join(repr(n) for n in sorted(self.concepts)) or "none"
                close = difflib.get_close_matches(name, list(self.concepts), n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise GanlabError(
                    f"no concept named {name!r} in {self.path} (known: {known})."
                    f"{hint} See `ganlab concept list --run RUN`."
                )
            if not concept.seeds and not concept.latents:
                raise GanlabError(
                    f"concept {name!r} in {self.path} has no exemplar seeds. Give it some with "
                    f"`ganlab concept add {name!r} --seeds 3,17,42 --replace --run RUN`."
                )
            found.append(concept)
        return found

    def stale(self, ckpt: Checkpoint, names: Sequence[str]) -> list[str]:
        """Warnings for concepts picked on another checkpoint than `ckpt` (e.g. before resume)."""
        sha = ckpt.sha256()
        out = []
        for name in names:
            src = self.concepts[name].source
            if src.get("checkpoint_sha256") not in (None, sha):
                out.append(
                    f"concept {name!r} was picked on step {src.get('step')}, this "
                    f"checkpoint is step {ckpt.step}: its exemplars may look different "
                    "now."
                )
        return out

    def to_json(self) -> dict:
        version = 1
        if any(c.latents for c in self.concepts.values()):
            version = 2
        if any(c.boundary for c in self.concepts.values()):
            version = 3
        return {
            "format": FORMAT,
            "version": version,
            "nz": self.nz,
            "z_dist": self.z_dist,
            "ganlab_version": __version__,
            "concepts": {
                c.name: {"seeds": c.seeds, "source": c.source}
                | ({"latents": c.latents} if c.latents else {})
                | ({"boundary": c.boundary} if c.boundary else {})
                for c in self.concepts.values()
            },
        }


def concepts_path(run: str | Path) -> Path:
    return run_dir_of(run) / CONCEPTS_FILE


def check_name(name: str) -> str:
    """Return `name` if it can name a concept; GanlabError saying why not otherwise."""
    if not name or not name.strip():
        raise GanlabError(
            'a concept name cannot be empty or only spaces; use e.g. "man with glasses".'
        )
    if len(name) > MAX_NAME:
        raise GanlabError(
            f"concept name {name[:20]!r}... is {len(name)} characters long; use at most {MAX_NAME}."
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise GanlabError(
            f"concept name {name!r} contains control characters (tabs, "
            "newlines...); use letters, digits, spaces and punctuation."
        )
    if name != name.strip():
        raise GanlabError(f"concept name {name!r} starts or ends with spaces; remove them.")
    if ":" in name:
        raise GanlabError(
            f"concept name {name!r} contains ':', which separates the two ends of "
            "`ganlab arithmetic --walk LEFT:RIGHT`; use another character."
        )
    return name


def load_concepts(run: str | Path, missing_ok: bool = False) -> ConceptSet | None:
    """Read RUN/concepts.json.

    Args:
        run: a run directory or a checkpoint file inside one.
        missing_ok: return None instead of raising when the run has no concepts yet.
    Returns:
        The ConceptSet (or None, see missing_ok).
    Raises:
        GanlabError: no concepts yet, or the file is malformed (the message says where).
    """
    path = concepts_path(run)
    if not path.is_file():
        if missing_ok:
            return None
        raise GanlabError(
            f"run {run_dir_of(run)} has no concepts yet ({path} does not exist). Create some "
            "with `ganlab concept add NAME --seeds 3,17,42 --run RUN`, or `ganlab concept mine "
            "--run RUN` for a run trained on labelled data."
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GanlabError(
            f"cannot read {path}: {e}. Fix the JSON by hand or delete the file."
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise GanlabError(f'{path} is not a ganlab concepts file (no "format": "{FORMAT}").')
    if not isinstance(data.get("version"), int) or data["version"] > FORMAT_VERSION:
        raise GanlabError(
            f"{path} has concepts format {data.get('version')!r}, newer than this "
            f"ganlab reads (<= {FORMAT_VERSION}); upgrade ganlab."
        )
    nz, dist, entries = data.get("nz"), data.get("z_dist"), data.get("concepts")
    if (
        not isinstance(nz, int)
        or dist not in ("uniform", "normal")
        or not isinstance(entries, dict)
    ):
        raise GanlabError(
            f'{path} needs an integer "nz", a "z_dist" of uniform or normal '
            'and a "concepts" object.'
        )
    concepts = {}
    for name, entry in entries.items():
        seeds = entry.get("seeds") if isinstance(entry, dict) else None
        if not isinstance(seeds, list) or not all(type(s) is int and s >= 0 for s in seeds):
            raise GanlabError(
                f'concept {name!r} in {path} needs "seeds": a list of non-negative integers.'
            )
        latents = entry.get("latents", [])
        if not isinstance(latents, list) or not all(
            isinstance(z, list)
            and len(z) == nz
            and all(isinstance(v, (int, float)) and math.isfinite(v) for v in z)
            for z in latents
        ):
            raise GanlabError(
                f'concept {name!r} in {path} has bad "latents": a list of lists of {nz} '
                "finite numbers (one per projected image) is needed."
            )
        boundary = entry.get("boundary")
        if boundary is not None and not (
            isinstance(boundary, dict)
            and all(_is_vector(boundary.get(key), nz) for key in ("normal", "pool_mean"))
        ):
            raise GanlabError(
                f'concept {name!r} in {path} has a bad "boundary": it needs "normal" and '
                f'"pool_mean", each a list of {nz} finite numbers. Mine it again with '
                "`ganlab concept mine --replace`."
            )
        try:
            check_name(name)
        except GanlabError as e:
            raise GanlabError(f"{path}: {e}") from None
        concepts[name] = Concept(name, seeds, entry.get("source") or {}, latents, boundary)
    return ConceptSet(path, nz, dist, concepts)


def _is_vector(v, n: int) -> bool:
    return (
        isinstance(v, list)
        and len(v) == n
        and all(isinstance(x, (int, float)) and math.isfinite(x) for x in v)
    )


def save_concepts(concepts: ConceptSet) -> None:
    write_json(concepts.path, concepts.to_json())


def open_concepts(run: str | Path, ckpt: Checkpoint) -> ConceptSet:
    """The run's concepts, or an empty set for its latent space; checked against `ckpt`."""
    cs = load_concepts(run, missing_ok=True)
    if cs is None:
        return ConceptSet(concepts_path(run), ckpt.model_config.nz, ckpt.z_dist)
    cs.check_checkpoint(ckpt)
    return cs


# --- the classifier that labelled the mining pool ------------------------------------------------


@dataclass
class FeatureClassifier:
    """A linear classifier on D's pooled features, as plain arrays (no pickled objects).

    decision(x) = ((x - mean) / scale) @ coef.T + intercept: one column per class, or a single
    column for two classes (positive: classes[1]), as scikit-learn's LogisticRegression.
    """

    column: str
    classes: list[str]
    mean: np.ndarray  # (F,)
    scale: np.ndarray  # (F,)
    coef: np.ndarray  # (K, F) or (1, F) for two classes
    intercept: np.ndarray  # (K,) or (1,)
    grid: int  # D's maps max-pooled to grid x grid, every layer
    checkpoint_sha256: str

    def decision(self, features: np.ndarray) -> np.ndarray:
        """The linear scores of rows of D features (N, F): (N, K), or (N, 1) for two classes."""
        return ((features - self.mean) / self.scale) @ self.coef.T + self.intercept

    def predict(self, features: np.ndarray) -> list[str]:
        """The class of each row of D features (N, F)."""
        scores = self.decision(features)  # (N, K|1)
        if scores.shape[1] == 1:
            index = (scores[:, 0] > 0).astype(int)
        else:
            index = scores.argmax(axis=1)
        return [self.classes[i] for i in index]

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """(N, K) class probabilities of rows of D features, columns in `classes` order: the
        softmax of the scores (the logistic sigmoid for two classes), as predict_proba."""
        scores = self.decision(features).astype(np.float64)
        if scores.shape[1] == 1:
            p = 1.0 / (1.0 + np.exp(-scores[:, 0]))  # (N,) P(classes[1])
            return np.stack([1.0 - p, p], axis=1)
        scores -= scores.max(axis=1, keepdims=True)  # no overflow in exp
        e = np.exp(scores)
        return e / e.sum(axis=1, keepdims=True)


def classifier_file(column: str) -> str:
    """RUN-relative file of a column's classifier: a safe file name, unique per column."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", column).strip("._") or "column"
    if slug != column:
        slug += "-" + hashlib.sha256(column.encode()).hexdigest()[:8]
    return f"{CLASSIFIERS_DIR}/{slug}.npz"


def save_classifier(run: str | Path, clf: FeatureClassifier) -> str:
    """Write the classifier atomically beside concepts.json; returns its RUN-relative path."""
    rel = classifier_file(clf.column)
    with atomic_path(run_dir_of(run) / rel) as tmp, open(tmp, "wb") as f:
        np.savez(
            f,
            column=np.array(clf.column),
            classes=np.array(clf.classes, dtype=str),
            mean=clf.mean.astype(np.float32),
            scale=clf.scale.astype(np.float32),
            coef=clf.coef.astype(np.float32),
            intercept=clf.intercept.astype(np.float32),
            grid=np.array(clf.grid),
            checkpoint_sha256=np.array(clf.checkpoint_sha256),
        )
    return rel


def load_classifier(run: str | Path, rel: str) -> FeatureClassifier:
    """Read a stored classifier (arrays only: nothing in it can run code)."""
    path = run_dir_of(run) / rel
    try:
        with np.load(path, allow_pickle=False) as data:
            return FeatureClassifier(
                column=str(data["column"]),
                classes=[str(c) for c in data["classes"]],
                mean=data["mean"],
                scale=data["scale"],
                coef=data["coef"],
                intercept=data["intercept"],
                grid=int(data["grid"]),
                checkpoint_sha256=str(data["checkpoint_sha256"]),
            )
    except (OSError, KeyError, ValueError) as e:
        raise GanlabError(
            f"cannot read the concept classifier {path}: {e}. Mine the concepts again with "
            "`ganlab concept mine --replace`."
        ) from None
