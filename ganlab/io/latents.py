"""Latents files: projected z (or any z) in HDF5, with where they came from.

`ganlab project` writes one; `ganlab sample --latents` renders one. The layout:

    z              float32 (N, nz)   the latents, inside the run's prior
    sources        str (N,)          the image each came from (a path, or dataset/split/index)
    loss           float32 (N,)      the projection loss (pixel_mse + w * feature_dist^2)
    pixel_mse      float32 (N,)      on [0, 1] intensities
    feature_dist   float32 (N,)      unit D-feature distance (paper section 5 features)
    start          str (N,)          the start each came from: "seed 17" or "encoder"
    attrs: format "ganlab-latents", version, nz, z_dist, checkpoint, checkpoint_sha256, step,
           weights (the G projected into: "ema" or "raw"), ganlab_version, and the
           projection's settings

`ganlab sample --out samples.h5` files (z and seeds, no format marker) read too: any HDF5 file
with a 2-D float `z` works, labelled by its `seeds` when it has them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch

from ganlab.errors import LatentsError
from ganlab.io.atomic import atomic_path
from ganlab.io.checkpoint import Checkpoint

FORMAT = "ganlab-latents"
FORMAT_VERSION = 1
SUFFIXES = (".h5", ".hdf5")
METRICS = ("loss", "pixel_mse", "feature_dist")


@dataclass
class Latents:
    """A latents file as read: z and a label per row, plus whatever else it recorded."""

    path: Path
    z: torch.Tensor  # float32 (N, nz)
    labels: list[str]  # per row: its source, "seed N", or "latent i"
    attrs: dict = field(default_factory=dict)
    metrics: dict[str, np.ndarray] = field(default_factory=dict)  # METRICS present, each (N,)

    def check(self, ckpt: Checkpoint) -> list[str]:
        """Refuse latents of another latent space than `ckpt`'s; warnings for another checkpoint
        or another G (`--weights`).

        Raises:
            LatentsError: nz or the prior differ.
        """
        nz, dist = ckpt.model_config.nz, ckpt.z_dist
        if self.z.shape[1] != nz:
            raise LatentsError(
                f"{self.path} holds nz={self.z.shape[1]} latents but {ckpt.path} has nz={nz}: "
                "latents only mean something to the run they were made for. Project the images "
                "again with this run (`ganlab project RUN IMAGE... --out latents.h5`)."
            )
        stored = self.attrs.get("z_dist")
        if stored is not None and stored != dist:
            raise LatentsError(
                f"{self.path} holds {stored} latents but {ckpt.path} has a {dist} prior. "
                "Project the images again with this run."
            )
        sha = self.attrs.get("checkpoint_sha256")
        if sha is not None and sha != ckpt.sha256():
            return [
                f"{self.path} was made with checkpoint step {self.attrs.get('step', '?')}; "
                f"rendering with step {ckpt.step}, whose images of the same z differ (project "
                "again for faithful reconstructions)."
            ]
        made = self.attrs.get("weights")  # files of an older ganlab: not recorded
        if made in ("ema", "raw") and made != ckpt.weights_used:
            return [
                f"{self.path} was made with --weights {made}; rendering with --weights "
                f"{ckpt.weights_used}, a G whose images of the same z differ (pass --weights "
                f"{made}, or project again)."
            ]
        return []


def write_latents(
    path: str | Path,
    z: torch.Tensor,
    sources: Sequence[str],
    attrs: dict,
    metrics: dict[str, torch.Tensor | np.ndarray] | None = None,
    starts: Sequence[str] | None = None,
) -> None:
    """Write a latents file atomically (see module docstring for the layout).

    Args:
        path: an .h5 or .hdf5 file.
        z: (N, nz) latents.
        sources: N source descriptions.
        attrs: provenance (checkpoint, checkpoint_sha256, step, z_dist, settings...).
        metrics: per-row arrays named in METRICS.
        starts: per-row start descriptions.
    """
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise LatentsError(f"cannot write latents to {path}: use an .h5 or .hdf5 file.")
    strings = h5py.string_dtype()
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("z", data=z.detach().cpu().float().numpy())
        f.create_dataset("sources", data=list(sources), dtype=strings)
        for name, value in (metrics or {}).items():
            f.create_dataset(name, data=np.asarray(value, dtype=np.float32))
        if starts is not None:
            f.create_dataset("start", data=list(starts), dtype=strings)
        f.attrs.update(
            {"format": FORMAT, "version": FORMAT_VERSION, "nz": int(z.shape[1]), **attrs}
        )


def read_latents(path: str | Path) -> Latents:
    """Read and validate a latents file (ours, or `ganlab sample`'s .h5 arrays).

    Raises:
        LatentsError: missing, not HDF5, no 2-D finite `z`, rows that disagree, or a newer
            format.
    """
    path = Path(path)
    if not path.is_file():
        raise LatentsError(
            f"latents file {path} does not exist; make one with `ganlab project RUN IMAGE... "
            "--out latents.h5` (or `ganlab sample RUN --out samples.h5`)."
        )
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: _plain(v) for k, v in f.attrs.items()}
            if "z" not in f or f["z"].ndim != 2:
                raise LatentsError(
                    f"{path} has no latents: it needs a 2-D dataset `z` (N, nz), as "
                    "`ganlab project` and `ganlab sample --out FILE.h5` write."
                )
            z = torch.from_numpy(np.asarray(f["z"][:], dtype=np.float32))
            n = z.shape[0]
            if "sources" in f:
                labels = [_plain(s) for s in f["sources"][:]]
            elif "seeds" in f:
                labels = [f"seed {int(s)}" for s in f["seeds"][:]]
            else:
                labels = [f"latent {i}" for i in range(n)]
            metrics = {m: np.asarray(f[m][:]) for m in METRICS if m in f}
    except LatentsError:
        raise
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise LatentsError(f"cannot read latents file {path}: {e}") from None
    version = attrs.get("version")
    if attrs.get("format") == FORMAT and (not isinstance(version, int) or version > FORMAT_VERSION):
        raise LatentsError(
            f"{path} has latents format {version!r}, newer than this ganlab reads "
            f"(<= {FORMAT_VERSION}); upgrade ganlab."
        )
    if n == 0:
        raise LatentsError(f"{path} holds no latents (z has 0 rows).")
    if not torch.isfinite(z).all():
        raise LatentsError(f"{path} has NaN or infinite values in z.")
    if len(labels) != n or any(len(v) != n for v in metrics.values()):
        raise LatentsError(f"{path} is inconsistent: its arrays do not all have {n} rows.")
    return Latents(path, z, labels, attrs, metrics)


def _plain(value):
    """HDF5 attribute / string values as plain Python (bytes decoded, numpy scalars unboxed)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    return value
