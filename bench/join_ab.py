"""The join pipeline alone, for before/after comparisons on the same data.

``PYTHONPATH=<code> python -m bench.join_ab --data DIR [--step 16] [--limit 200]``

One fresh :class:`~exchange.node.ledger.Ledger` joins origins of a federation
that ``bench.join_data`` generated under DIR (every ``--step``-th origin in
code order, so provinces, prefectures and counties alike, up to ``--limit``)
from an in-process peer that reads the served database (no gRPC, no server
processes), with 2 verifying worker processes; then its registry indexer
catches up. It prints one JSON
line: the wall time and CPU seconds (main process, workers) to fully verified
and, after the indexer, to searchable. On a shared machine the CPU seconds per
entry are the figure to compare; the wall time only says how busy the box was.
The code under test comes from PYTHONPATH only when the command runs from a
directory that holds no ``exchange`` package: ``python -m`` puts the current
directory first on ``sys.path``, so run inside a checkout it measures that
checkout's code whatever PYTHONPATH says. The JSON line's ``code`` names the
package that ran.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import tempfile
import time
from pathlib import Path

import exchange
from exchange import pki
from exchange.core import x509
from exchange.node.indexer import Indexer
from exchange.node.ledger import Ledger, OriginHead
from exchange.store import Store
from exchange.workers import start_pool


def _cpu(pid: int) -> float:
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def _tree_cpu() -> tuple[float, float]:
    me = os.getpid()
    kids = [int(p) for p in Path(f"/proc/{me}/task/{me}/children").read_text().split()]
    return _cpu(me), sum(_cpu(k) for k in kids)


def _load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


class StorePeer:
    """The ``Peer`` protocol over the served database, in batches of 1,000 as a node serves."""

    name = "served"

    def __init__(self, store: Store, origins: set[str]) -> None:
        self.store, self.origins = store, origins

    def list_origins(self) -> list[OriginHead]:
        return [
            OriginHead(r.origin, r.size, r.checkpoint)
            for r in self.store.origins()
            if r.origin in self.origins
        ]

    def get_entries(self, origin: str, start: int, end: int):
        for s in range(start, end, 1000):
            yield s, self.store.envelopes(origin, s, min(end, s + 1000))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--step", type=int, default=16, help="every STEP-th origin, in code order")
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    served = Store(args.data / "served.db")
    names = sorted(r.origin for r in served.origins() if r.checkpoint and r.size)
    names = names[:: args.step][: args.limit]
    peer = StorePeer(served, set(names))
    pool = start_pool(args.workers)
    manifest = json.loads((args.data / "manifest.json").read_text())
    paths = pki.member_paths(args.data / "certs", manifest["joiner"])
    anchors = x509.load_pem_chain((args.data / "certs" / "anchor.pem").read_bytes())
    kw = {}
    if "parallel_origins" in inspect.signature(Ledger.__init__).parameters:
        kw["parallel_origins"] = 3
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(
            Store(Path(tmp) / "j.db"),
            federation="yrd",
            region=manifest["nodes"][manifest["joiner"]],
            signing_key=pki.load_signing_key(paths.signing_key),
            signing_chain_pem=[paths.signing_cert.read_text()],
            anchors=anchors,
            pool=pool,
            **kw,
        )
        ledger.bootstrap()
        c0, w0, l0 = _tree_cpu(), time.perf_counter(), _load()
        out = ledger.sync_from(peer)
        wall, c1 = time.perf_counter() - w0, _tree_cpu()
        Indexer(ledger).catch_up()
        wall2, c2 = time.perf_counter() - w0, _tree_cpu()
        n = sum(o.added for o in out)
        assert all(o.action == "appended" for o in out), {(o.action, o.detail) for o in out}
        assert all(r.indexed == r.size for r in ledger.store.origins())
        ledger.close()
    pool.shutdown()

    def us(c: tuple[float, float]) -> float:
        return round(1e6 * (c[0] + c[1] - c0[0] - c0[1]) / n, 1)

    print(
        json.dumps(
            {
                "code": str(Path(exchange.__file__).parent),
                "origins": len(out),
                "entries": n,
                "verified_wall_s": round(wall, 1),
                "verified_cpu_main_s": round(c1[0] - c0[0], 2),
                "verified_cpu_workers_s": round(c1[1] - c0[1], 2),
                "verified_cpu_us_per_entry": us(c1),
                "searchable_wall_s": round(wall2, 1),
                "searchable_cpu_main_s": round(c2[0] - c0[0], 2),
                "searchable_cpu_workers_s": round(c2[1] - c0[1], 2),
                "searchable_cpu_us_per_entry": us(c2),
                "load": [l0, _load()],
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
