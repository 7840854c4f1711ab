"""Where a stored concept came from: the record that starts every concept's source."""

from __future__ import annotations

import time

from ganlab.io.checkpoint import Checkpoint


def provenance(ckpt: Checkpoint, kind: str) -> dict:
    """The checkpoint (path, hash, step), the kind ("manual", "images", "mined") and the time."""
    return {
        "kind": kind,
        "checkpoint": str(ckpt.path),
        "checkpoint_sha256": ckpt.sha256(),
        "step": ckpt.step,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
