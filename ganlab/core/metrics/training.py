"""`train --eval-every`: FID/KID of G during training, logged, and `checkpoints/best`.

Every N steps the loop saves a checkpoint and hands G to `TrainingEval.evaluate`, which scores
it against the training split's reference features (computed or read from the cache once, at
the start), appends an eval record to metrics.jsonl and points `best` at the checkpoint when its
FID is the lowest so far. A resumed run recovers the best FID from its records.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from ganlab.core.config import TrainConfig
from ganlab.core.inception import (
    InceptionExtractor,
    load_inception_weights,
    resolve_weights_path,
)
from ganlab.core.metrics.formulas import ReferenceFeatures, score
from ganlab.core.metrics.generated import generator_features
from ganlab.core.metrics.reference import Reference, reference_features
from ganlab.core.metrics.registry import check_counts
from ganlab.data.base import ImageDataset
from ganlab.io.checkpoint import write_best
from ganlab.io.runspec import BEST, read_pointer
from ganlab.progress import Reporter


class TrainingEval:
    """`train --eval-every`: FID/KID of G every N steps, logged, and `checkpoints/best`.

    Made before the first step, so a missing weights file or metrics library stops the run
    before it trains. Every rank opens the weights (a bad file stops all of them alike); only
    rank 0 builds the extractor, reads the reference and evaluates, while the others wait.
    """

    metrics = ("fid", "kid")

    def __init__(self, cfg: TrainConfig, device: torch.device, is_main: bool, rep: Reporter):
        check_counts(self.metrics, cfg.eval_n)
        weights = load_inception_weights(
            resolve_weights_path(cfg.inception_weights, progress=rep.live and is_main)
        )
        self.cfg = cfg
        self.rep = rep
        self.is_main = is_main
        self.weights = weights
        self.extractor = InceptionExtractor(weights, device) if is_main else None
        self.ref: ReferenceFeatures | None = None
        self.best_fid = math.inf
        if is_main and weights.warning():
            rep.warn(weights.warning())

    def prepare(self, data: ImageDataset, image_size: int, channels: int, run) -> None:
        """Read (or load) the training split's reference features and the best FID so far
        (rank 0); `data` is the opened training data, at the model's size and channels."""
        if not self.is_main:
            return
        cfg = self.cfg
        reference = Reference.of_run(cfg.to_dict(), image_size, channels, cfg.eval_real_n)
        self.ref = reference_features(
            reference, self.extractor, workers=cfg.workers, reporter=self.rep, data=data
        )
        check_counts(self.metrics, cfg.eval_n, self.ref.n)
        self.best_fid = self._best_so_far(run)

    def _best_so_far(self, run) -> float:
        """The FID of the checkpoint `best` names, from its eval record (resume)."""
        name = read_pointer(run.checkpoints_dir, BEST)
        if name is None:
            return math.inf
        for rec in reversed(run.read_metrics()):
            if rec.get("kind") == "eval" and rec.get("checkpoint") == name:
                same = (rec.get("n"), rec.get("n_real"), rec.get("weights_sha256")) == (
                    self.cfg.eval_n,
                    self.ref.n,
                    self.weights.sha256,
                )
                if same:
                    return float(rec["fid"])
                self.rep.warn(
                    f"the best checkpoint {name} was scored with another protocol (n, "
                    "reference size or weights differ): best restarts from this run's scores."
                )
                return math.inf
        self.rep.warn(f"no eval record names the best checkpoint {name}: best restarts.")
        return math.inf

    def evaluate(self, G: torch.nn.Module, step: int, epoch: float, checkpoint: Path, run) -> None:
        """Score G now, append the eval record, and point `best` at `checkpoint` if lowest."""
        if not self.is_main:
            return
        t0 = time.perf_counter()
        cfg = self.cfg
        fake = generator_features(G, cfg.z_dist, cfg.eval_n, self.extractor)
        scores = score(fake, self.ref, self.metrics)
        best = scores["fid"] < self.best_fid
        if best:
            self.best_fid = scores["fid"]
            write_best(run.checkpoints_dir, checkpoint.name)
        record = {
            "kind": "eval",
            "step": step,
            "epoch": epoch,
            **{k: round(v, 6) for k, v in scores.items()},
            "n": cfg.eval_n,
            "n_real": self.ref.n,
            "checkpoint": checkpoint.name,
            "best": best,
            "weights_sha256": self.weights.sha256,
            "standard": self.weights.standard,
            "seconds": round(time.perf_counter() - t0, 3),
            "time": time.time(),
        }
        run.append_metrics(record)
        self.rep.log(
            f"eval step {step}: FID {scores['fid']:.3f} KID {scores['kid']:.5f} "
            f"(n {cfg.eval_n}, real {self.ref.n}){' best' if best else ''}"
        )
