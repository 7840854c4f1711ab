"""The `ganlab` command line: one module per command over the plain library.

Each command parses and validates its options (shared ones live in `options`), calls one
library function and prints the result. Conventions: logs and progress on stderr, machine
output (--json, --out -) on stdout; usage errors exit 2, runtime failures (GanlabError) exit 1
with one paragraph and no traceback; an interrupted training run exits 130 after checkpointing.
"""

from ganlab.cli.app import app, main

__all__ = ["app", "main"]
