"""Bulk import of N records into a node over mTLS: validated, signed, logged, indexed."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import Nodes, emit, issue_all, raw_sign_rate, synthetic_records


def run(n: int = 100_000) -> dict:
    records = synthetic_records(n)
    with tempfile.TemporaryDirectory() as tmp:
        nodes = Nodes(Path(tmp), {"zhejiang": "330000"}, {})
        try:
            nodes.start("zhejiang")
            raw = raw_sign_rate()
            seconds = issue_all(nodes, "zhejiang", records)
            size = nodes.size("zhejiang", "yrd/330000")
            rss = nodes.rss_mb("zhejiang")
        finally:
            nodes.stop()
    rate = n / seconds
    figures = {
        "records": n,
        "log_size": size,
        "seconds": round(seconds, 2),
        "entries_per_s": round(rate),
        "target_per_s": 10_000,
        "raw_sign_per_s_single_core": round(raw),
        "ratio": round(rate / raw, 2),
        "rss_mb": round(rss, 1),
    }
    emit("import_bulk", **figures)
    return figures


if __name__ == "__main__":
    import sys

    run(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
