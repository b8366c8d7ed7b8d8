"""Cold sync of N entries between two node processes over mTLS, fully verified."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import Nodes, emit, issue_all, raw_verify_rate, synthetic_records, wait


def run(n: int = 100_000) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        nodes = Nodes(Path(tmp), {"zhejiang": "330000", "anhui": "340000"}, {"anhui": ["zhejiang"]})
        try:
            nodes.start("zhejiang")
            issue_all(nodes, "zhejiang", synthetic_records(n))
            total = nodes.size("zhejiang", "yrd/330000")
            raw = raw_verify_rate()
            t0 = time.perf_counter()
            nodes.start("anhui")
            wait(lambda: nodes.size("anhui", "yrd/330000") == total, 1800, "cold sync", 0.05)
            seconds = time.perf_counter() - t0
            rate = total / seconds
            figures = {
                "entries": total,
                "seconds": round(seconds, 2),
                "entries_per_s": round(rate),
                "raw_verify_per_s_single_core": round(raw),
                "ratio": round(rate / raw, 2),
                "target_ratio": 1.5,
                "rss_mb_receiver": round(nodes.rss_mb("anhui"), 1),
            }
        finally:
            nodes.stop()
    emit("sync_cold", **figures)
    return figures


if __name__ == "__main__":
    import sys

    run(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
