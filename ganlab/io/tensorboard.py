"""TensorBoard event files of a run, in RUN/tb/: written live (`ganlab train --tensorboard`) or
converted afterwards from metrics.jsonl and the grids (`ganlab report RUN --tensorboard`).

Both go through `TensorBoardWriter.write_record`, so a live run and a conversion of its
metrics hold the same scalars at the same steps: `train/loss_d` ... from the train records,
`epoch/...` from the epoch summaries, `eval/fid` ... from eval records, and the fixed-seed grid
as the image `samples/grid` at the step each grid was rendered. The writer is torch's
SummaryWriter, which needs the tensorboard package: the optional extra `ganlab[tb]`.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

from PIL import Image

from ganlab.errors import GanlabError

INSTALL = "pip install 'ganlab[tb]'"
SCALAR_KINDS = ("train", "epoch", "eval")  # metrics.jsonl records that become scalars
CONVERTED = ".converted"  # the name ending of event files converted after the fact
_NOT_SCALARS = ("kind", "step", "epoch", "time")  # a record's position, not its measurements


def summary_writer_class():
    """torch's SummaryWriter, or a GanlabError saying how to install TensorBoard."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise GanlabError(
            "--tensorboard needs TensorBoard, an optional extra of ganlab: install it with "
            f"`{INSTALL}` (or `pip install tensorboard`), then run the command again."
        ) from None
    return SummaryWriter


class TensorBoardWriter:
    """Scalars and grids of one run, as TensorBoard event files in `logdir`."""

    def __init__(self, logdir: str | Path, purge_step: int | None = None, converted: bool = False):
        """Open (or add to) `logdir`.

        Args:
            logdir: the folder of event files, RUN/tb.
            purge_step: for a resumed run, the step after its checkpoint's: TensorBoard hides
                the events the interrupted session logged from there on, which the resumed
                session logs again.
            converted: the events come from metrics.jsonl afterwards, not from training: the
                file's name ends in CONVERTED, so a later conversion knows it may replace it.
        """
        self.logdir = Path(logdir)
        suffix = CONVERTED if converted else ""
        self._writer = summary_writer_class()(
            str(logdir), purge_step=purge_step, flush_secs=10, filename_suffix=suffix
        )

    def write_record(self, record: dict) -> None:
        """Each number of a train, epoch or eval record as the scalar `<kind>/<key>`."""
        kind, step = record.get("kind"), record.get("step")
        if kind not in SCALAR_KINDS or not isinstance(step, int):
            return
        for key, value in sorted(record.items()):
            if key in _NOT_SCALARS or isinstance(value, bool):
                continue
            if isinstance(value, (int, float)) and math.isfinite(value):
                self._writer.add_scalar(f"{kind}/{key}", value, step, walltime=record.get("time"))

    def write_grid(self, step: int, png: bytes, walltime: float | None = None) -> None:
        """The fixed-seed grid rendered at `step` (its PNG file's bytes), as `samples/grid`.

        The PNG goes into the event file as it is: `add_image` would decode and re-encode it,
        which is most of the time of converting a run with hundreds of epochs.
        """
        from tensorboard.compat.proto.summary_pb2 import Summary

        with Image.open(io.BytesIO(png)) as img:
            width, height, channels = img.width, img.height, len(img.getbands())
        image = Summary.Image(
            height=height, width=width, colorspace=channels, encoded_image_string=png
        )
        summary = Summary(value=[Summary.Value(tag="samples/grid", image=image)])
        self._writer._get_file_writer().add_summary(summary, step, walltime)

    def close(self) -> None:
        """Write out everything pending and close the event file."""
        self._writer.close()


def written_live(logdir: str | Path) -> bool:
    """Whether `logdir` holds event files that training wrote (not only conversions)."""
    logdir = Path(logdir)
    return logdir.is_dir() and any(
        p.name.startswith("events.") and not p.name.endswith(CONVERTED) for p in logdir.iterdir()
    )
