"""ganlab: the DCGAN paper (Radford, Metz & Chintala, 2016) as a toolkit, from the shell
(`ganlab --help`) or from Python:

    import ganlab

    run = ganlab.load("runs/demo")                 # or "runs/demo:best"
    images = run.generate(seeds=range(16))         # uint8 (16, C, S, S), as `ganlab sample`
    ganlab.grid(images).save("grid.png")

The names in `__all__` are the public API: they keep their signatures (a test holds them to a
stored list) and changes to them are announced in CHANGELOG.md. docs/python.md shows each one.
Everything else (`ganlab.core`, `ganlab.io`, ...) is the library behind them and may move.
Importing ganlab loads nothing heavy: each name is imported on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = [
    "DataSpec",
    "GanlabError",
    "GanlabWarning",
    "Run",
    "TrainConfig",
    "evaluate",
    "grid",
    "load",
    "probe",
    "to_pil",
    "train",
]

_EXPORTS = {
    "DataSpec": "ganlab.data.spec",
    "GanlabError": "ganlab.errors",
    "GanlabWarning": "ganlab.errors",
    "Run": "ganlab.api.run",
    "TrainConfig": "ganlab.core.config",
    "evaluate": "ganlab.api.tasks",
    "grid": "ganlab.api.images",
    "load": "ganlab.api.run",
    "probe": "ganlab.api.tasks",
    "to_pil": "ganlab.api.images",
    "train": "ganlab.api.tasks",
}

if TYPE_CHECKING:  # what the names are, for editors and type checkers
    from ganlab.api.images import grid, to_pil
    from ganlab.api.run import Run, load
    from ganlab.api.tasks import evaluate, probe, train
    from ganlab.core.config import TrainConfig
    from ganlab.data.spec import DataSpec
    from ganlab.errors import GanlabError, GanlabWarning


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ganlab' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
