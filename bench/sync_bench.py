"""Cold sync of N entries between two node processes over mTLS, fully verified.

The clock runs from the receiving node's port accepting connections (store
open, verifier processes started; its sync engine starts a few milliseconds
later) to its serving the issuer's signed checkpoint at the full size: every signature, the
tree and the checkpoint checked, the log committed. ``with_startup_s`` counts
from launching the process instead. A sync this big leaves the registry
index to the node's indexer; ``searchable_s`` says when search and status
checks reflect every entry too.
"""

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
            launched = time.perf_counter()
            nodes.start("anhui", wait=False)
            nodes.wait_listening("anhui")
            t0 = time.perf_counter()
            wait(lambda: nodes.size("anhui", "yrd/330000") == total, 1800, "cold sync", 0.02)
            done = time.perf_counter()
            seconds = done - t0
            wait(lambda: nodes.indexed("anhui", "yrd/330000") == total, 1800, "indexing", 0.05)
            searchable = time.perf_counter() - t0
            rate = total / seconds
            figures = {
                "entries": total,
                "seconds": round(seconds, 2),
                "with_startup_s": round(done - launched, 2),
                "entries_per_s": round(rate),
                "raw_verify_per_s_single_core": round(raw),
                "ratio": round(rate / raw, 2),
                "target_ratio": 1.5,
                "searchable_s": round(searchable, 2),
                "rss_mb_receiver": round(nodes.rss_mb("anhui"), 1),
            }
        finally:
            nodes.stop()
    emit("sync_cold", **figures)
    return figures


if __name__ == "__main__":
    import sys

    run(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
