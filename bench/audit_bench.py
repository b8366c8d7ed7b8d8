"""A whole-log audit of one 100k-entry origin: ``brandex audit log`` against real nodes.

Zhejiang's node issues N records; Anhui's node mirrors them. The audit CLI then
downloads and checks the origin, first from one node (every envelope verified,
the tree recomputed), then from both (the second copy is compared leaf hash by
leaf hash, not verified again). Figures beside the raw single-core Ed25519
verify rate measured in the same run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Nodes, emit, issue_all, raw_verify_rate, synthetic_records, wait

ORIGIN = "yrd/330000"


def audit(nodes: Nodes, names: list[str]) -> tuple[float, dict]:
    args = []
    for n in names:
        args += ["--node", load_listen(nodes, n)]
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "exchange.cli.main", "audit", "log",
         "--config", str(nodes.configs["anhui"]), *args, "--origin", ORIGIN,
         "--format", "json"],
        capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"audit exited {done.returncode}: {done.stderr[-2000:]}")
    return wall, json.loads(done.stdout)


def load_listen(nodes: Nodes, name: str) -> str:
    from exchange.node.config import load_config

    return load_config(nodes.configs[name]).listen


def run(n: int = 100_000) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        nodes = Nodes(Path(tmp), {"zhejiang": "330000", "anhui": "340000"},
                      {"anhui": ["zhejiang"]})  # fmt: skip
        try:
            nodes.start("zhejiang")
            issue_all(nodes, "zhejiang", synthetic_records(n))
            total = nodes.size("zhejiang", ORIGIN)
            nodes.start("anhui")
            wait(lambda: nodes.size("anhui", ORIGIN) == total, 1800, "mirror", 0.1)
            # ... and indexed it, so its indexer is not competing for the CPU.
            wait(lambda: nodes.indexed("anhui", ORIGIN) == total, 1800, "indexing", 0.1)
            raw = raw_verify_rate()
            wall1, one = audit(nodes, ["zhejiang"])
            wall2, two = audit(nodes, ["zhejiang", "anhui"])
            s1, s2 = one["stats"], two["stats"]
            rate = total / s1["seconds"]
            figures = {
                "entries": total,
                "cpus": os.cpu_count(),
                "workers": s1["workers"],
                "audit_seconds": s1["seconds"],
                "entries_per_s": round(rate),
                "raw_verify_per_s_single_core": round(raw),
                "ratio": round(rate / raw, 2),
                "cli_wall_seconds": round(wall1, 2),
                "two_nodes_audit_seconds": s2["seconds"],
                "two_nodes_entries_downloaded": s2["entries_downloaded"],
                "two_nodes_cli_wall_seconds": round(wall2, 2),
                "clean": one["clean"] and two["clean"],
            }
        finally:
            nodes.stop()
    emit("audit_log", **figures)
    return figures


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
