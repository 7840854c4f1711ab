"""Progress for people: a Rich bar on a terminal, plain log lines otherwise, nothing if quiet.

Everything goes to stderr; stdout is reserved for machine output (``--json``, ``--out -``).
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Reporter:
    """Shows a task's progress and one-line messages on stderr.

    Args:
        quiet: print nothing but warnings.
        live: force (True) or forbid (False) the Rich bar; default: only on a terminal.
    """

    def __init__(self, quiet: bool = False, live: bool | None = None):
        self.quiet = quiet
        self.console = Console(stderr=True, highlight=False, soft_wrap=True)
        self.live = (self.console.is_terminal if live is None else live) and not quiet
        self._progress: Progress | None = None
        self._task = None
        self._last_line = 0.0

    def start(self, description: str, total: int, completed: int = 0) -> None:
        if self.live:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                description, total=total, completed=completed, status=""
            )

    def update(self, completed: int, status: str = "") -> None:
        """Move the bar (cheap; call every step). Plain mode prints nothing here."""
        if self._progress is not None:
            self._progress.update(self._task, completed=completed, status=status)

    def log(self, message: str) -> None:
        """A one-line summary (also printed above the bar in live mode)."""
        if not self.quiet:
            self.console.print(message, markup=False)

    def warn(self, message: str) -> None:
        self.console.print(f"warning: {message}", markup=False, style="yellow")

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
