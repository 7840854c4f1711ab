"""User-facing errors.

A ``GanlabError`` is a mistake or condition the user can fix (bad input, missing data, an
unusable checkpoint). The CLI prints its message as one paragraph and exits 1, without a
traceback. Anything else escaping the library is a bug and keeps its traceback.
"""


class GanlabError(Exception):
    """An error whose message tells the user what was wrong and how to fix it."""

    exit_code = 1


class GanlabWarning(UserWarning):
    """Something the library did differently than asked or expected, and why (the Python API's
    form of a command's "warning:" line); `warnings.filterwarnings` can silence or raise it."""


class DatasetError(GanlabError):
    """A dataset is missing, malformed or unreadable."""


class CheckpointError(GanlabError):
    """A checkpoint or run directory cannot be loaded."""


class FeatureStoreError(GanlabError):
    """A features file is unreadable, incomplete or answers a different request."""


class TrainingDiverged(GanlabError):
    """A loss became NaN or infinite."""


class Interrupted(GanlabError):
    """SIGINT/SIGTERM stopped training; a checkpoint was saved first (exit 130, as shells do)."""

    exit_code = 130


class ImageInputError(GanlabError):
    """An image the user named (a file, a folder of them) is missing, empty or unreadable."""


class LatentsError(GanlabError):
    """A latents file is unreadable, malformed or belongs to another latent space."""


class EvalError(GanlabError):
    """Image-quality metrics cannot run: no metrics library, unusable Inception weights, or an
    evaluation that cannot be computed (too few images, a run that was never evaluated)."""
