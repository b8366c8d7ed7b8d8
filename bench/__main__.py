"""``make bench``: every benchmark, one JSON line each.

Each line carries its figures and, beside them, the raw limit measured in the
same run on the same machine (signing or verifying rate, a full scan), so a
reader compares ratios rather than absolute times on a noisy machine.
Sizes can be lowered for a quick look: ``BRANDEX_BENCH_SCALE=0.1 make bench``.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import tempfile
from pathlib import Path


def main() -> int:
    scale = float(os.environ.get("BRANDEX_BENCH_SCALE", "1"))
    args = sys.argv[1:]
    # The join bench's generated federation is cached where --data says (else a
    # directory per scale under the system's temporary directory).
    data = Path(tempfile.gettempdir()) / f"brandex-join-{scale:g}"
    if "--data" in args:
        at = args.index("--data")
        data = Path(args[at + 1])
        del args[at : at + 2]
    only = set(args)
    plan = [
        ("import", "bench.import_bench", "run", {"n": int(100_000 * scale)}),
        ("search", "bench.search_bench", "run", {"n": int(1_000_000 * scale)}),
        ("console", "bench.console_bench", "run", {"n": int(1_000_000 * scale)}),
        ("sync", "bench.sync_bench", "run", {"n": int(100_000 * scale)}),
        ("catch_up", "bench.propagation_bench", "catch_up", {"n": int(10_000 * scale)}),
        ("push", "bench.propagation_bench", "push_propagation", {}),
        ("audit", "bench.audit_bench", "run", {"n": int(100_000 * scale)}),
        ("overlay", "bench.overlay_bench", "sizes", {"rounds": max(3, int(20 * scale))}),
        (
            "join",
            "bench.join_bench",
            "run",
            {
                "data": data,
                "origins": max(4, int(3200 * scale)),
                "entries": int(1_000_000 * scale),
            },
        ),
    ]
    failed = 0
    for name, module, func, kwargs in plan:
        if only and name not in only:
            continue
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        try:
            getattr(mod, func)(**kwargs)
        except Exception as exc:  # one broken bench must not hide the others' figures
            print(json.dumps({"bench": name, "error": str(exc)}), flush=True)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
