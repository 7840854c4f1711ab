"""Do two `make demo` run directories hold the same results? For refactors that must not change
behaviour: the same sample, interpolation and arithmetic PNG bytes and the same probe numbers.

    git worktree add /tmp/before <commit before the change>
    make -C /tmp/before demo DEMO=$PWD/runs/demo-before   # or run the Makefile's commands
    make demo
    python benchmarks/compare_demo.py runs/demo-before runs/demo

Prints one row per compared file and exits 1 if any differs. PNG/GIF files are compared byte
for byte. JSON results are compared number by number (every number and string in them, at any
depth), ignoring only what names when and where a command ran: paths, times, versions and the
command line, which differ between two checkouts by construction.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

IMAGES = (
    "demo-samples.png",
    "demo-interpolation.png",
    "demo-interpolation.gif",
    "demo-arithmetic.png",
    "demo-walk.png",
)
RESULTS = ("demo-probe.json", "demo-probe-random.json")
# keys whose values name a machine, a path, a time or a version, not a result (and any
# `*_s` timing or `*_sha256` provenance key: a checkpoint records the ganlab that wrote it)
VOLATILE = {
    "argv", "checkpoint", "time", "seconds", "created", "ganlab_version", "version", "versions",
    "path", "store", "out", "features_file", "timing", "cache", "torch", "sklearn", "numpy",
}  # fmt: skip


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def leaves(obj, prefix: str = "") -> dict[str, object]:
    """{dotted key: value} of every number, string and bool in a JSON value."""
    out: dict[str, object] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k not in VOLATILE and not k.endswith("_s") and not k.endswith("_sha256"):
                out.update(leaves(v, f"{prefix}{k}."))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.update(leaves(v, f"{prefix}{i}."))
    else:
        out[prefix.rstrip(".")] = obj
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    args = ap.parse_args()
    failed = 0
    print(f"{'file':<28} {'before':<18} {'after':<18} same")
    for name in IMAGES:
        a, b = args.before / name, args.after / name
        ha, hb = (sha256(p) if p.is_file() else "missing" for p in (a, b))
        same = ha == hb and ha != "missing"
        failed += not same
        print(f"{name:<28} {ha:<18} {hb:<18} {'yes' if same else 'NO'}")
    for name in RESULTS:
        a, b = (leaves(json.loads((d / name).read_text())) for d in (args.before, args.after))
        shared = sorted(set(a) & set(b))
        differ = [k for k in shared if a[k] != b[k]]
        missing = sorted(set(a) - set(b))
        same = not differ and not missing
        failed += not same
        accuracy = b.get("test_accuracy")
        print(
            f"{name:<28} {len(shared)} values, test_accuracy {accuracy}: {'yes' if same else 'NO'}"
        )
        for k in differ[:10]:
            print(f"    {k}: {a[k]!r} -> {b[k]!r}")
        for k in missing[:10]:
            print(f"    {k}: missing after")
    print("all the same" if not failed else f"{failed} file(s) differ")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
