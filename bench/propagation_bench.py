"""Catch-up after downtime, and push propagation across a 12-node federation."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import Nodes, emit, issue_all, synthetic_records, wait
from exchange.pki import DEMO_MEMBERS

TWELVE = {
    **DEMO_MEMBERS,
    "jiangxi": "360000",
    "hangzhou": "330100",
    "nanjing": "320100",
    "hefei": "340100",
    "zhoukou": "411600",
}


def _ring(names: list[str]) -> dict[str, list[str]]:
    """Each node pulls from its two ring neighbours and one node across: no full mesh."""
    n = len(names)
    return {
        x: [names[(i - 1) % n], names[(i + 1) % n], names[(i + n // 2) % n]]
        for i, x in enumerate(names)
    }


def catch_up(n: int = 10_000) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        nodes = Nodes(
            Path(tmp),
            {"zhejiang": "330000", "anhui": "340000"},
            {"anhui": ["zhejiang"], "zhejiang": ["anhui"]},
            sync_interval=30.0,
        )
        try:
            nodes.start_all()
            nodes.procs["anhui"].terminate()
            nodes.procs["anhui"].wait(timeout=60)
            nodes._channels.pop("anhui").close()
            issue_all(nodes, "zhejiang", synthetic_records(n))
            total = nodes.size("zhejiang", "yrd/330000")
            t0 = time.perf_counter()
            nodes.start("anhui", wait=False)
            nodes.wait_ready("anhui")
            ready = time.perf_counter() - t0
            wait(lambda: nodes.size("anhui", "yrd/330000") == total, 600, "catch-up")
            seconds = time.perf_counter() - t0
        finally:
            nodes.stop()
    figures = {
        "entries": n,
        "restart_to_ready_s": round(ready, 2),
        "restart_to_caught_up_s": round(seconds, 2),
        "entries_per_s_after_ready": round(n / max(seconds - ready, 1e-3)),
    }
    emit("catch_up", **figures)
    return figures


def push_propagation(rounds: int = 10, interval: float = 30.0) -> dict:
    names = list(TWELVE)
    with tempfile.TemporaryDirectory() as tmp:
        nodes = Nodes(Path(tmp), TWELVE, _ring(names), sync_interval=interval, verify_workers=0)
        samples = []
        try:
            nodes.start_all()
            for r in range(rounds):
                src = names[(r * 5) % len(names)]
                origin = f"yrd/{TWELVE[src]}"
                before = nodes.size(src, origin)
                recs = synthetic_records(1, issuer="zhejiang", offset=r)
                if src != "zhejiang":
                    recs = []
                t0 = time.perf_counter()
                if recs:
                    issue_all(nodes, src, recs)
                else:
                    from exchange._proto.brandex.v1 import entries_pb2, services_pb2_grpc

                    services_pb2_grpc.AdminServiceStub(nodes.channel(src)).Accede(
                        entries_pb2.Accession(
                            agreement_id=f"bench-{r}",
                            title="bench",
                            covered_kinds=[2],
                            effective_from="2026-01-01",
                            region=TWELVE[src],
                        ),
                        timeout=30,
                    )
                wait(
                    lambda o=origin, b=before: all(nodes.size(x, o) > b for x in names),
                    120,
                    "propagation",
                    0.02,
                )
                samples.append(time.perf_counter() - t0)
        finally:
            nodes.stop()
    samples.sort()
    worst = samples[-1]
    figures = {
        "nodes": len(names),
        "rounds": rounds,
        "poll_interval_s": interval,
        "median_s": round(samples[len(samples) // 2], 3),
        "max_s": round(worst, 3),
        "max_fraction_of_poll": round(worst / interval, 4),
        "target_fraction": 0.1,
    }
    emit("push_propagation_12", **figures)
    return figures


if __name__ == "__main__":
    catch_up()
    push_propagation()
