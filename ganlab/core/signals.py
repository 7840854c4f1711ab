"""SIGINT and SIGTERM during training: finish the step, checkpoint, stop (exit 130).

A first signal only sets a flag that the loop reads after each step (under torchrun the ranks
agree on it at log intervals); a second one stops at once.
"""

from __future__ import annotations

import signal
import sys


def install_signal_handlers(flag: list[int]) -> dict:
    """SIGINT/SIGTERM set `flag`; the loop checkpoints and stops after the current step."""

    def handler(signum, _frame):
        if flag:  # a second signal: stop now
            raise KeyboardInterrupt
        flag.append(signum)
        print(
            f"\n{signal.Signals(signum).name}: saving a checkpoint after this step "
            "(send again to stop at once)",
            file=sys.stderr,
        )

    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            old[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread (e.g. called from a worker thread)
            pass
    return old


def restore_signal_handlers(old: dict) -> None:
    for sig, h in old.items():
        signal.signal(sig, h)
