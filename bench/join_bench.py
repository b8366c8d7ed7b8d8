"""Joining the nation: a fresh node mirrors M origins holding E entries, fully verified.

The harness builds the federation's logs offline: an anchor for all 31
provinces, a real Ed25519 signing key and anchor-issued certificate for each of
M origins (real GB/T 2260 codes), and each origin's log written by a real
``Ledger`` (key announcement first, then E/M accession entries, each a signed
DSSE envelope, a signed checkpoint per origin) into one SQLite file. A few
server nodes are started on copies of that file (each runs as one of the
origins), and a fresh node that peers with them is launched: the clock runs
from its port accepting connections until it holds every origin at full size,
every signature, key certificate, tree and checkpoint checked.

Where the time goes is found by running two shapes: (M origins, E entries) and
(a few origins, the same E). Per-entry work is the second's time per entry; the
rest of the first's time, divided by M, is the per-origin work (one ListOrigins
row, a checkpoint and a key certificate chain to verify, a GetEntries call, a
transaction). The raw limit beside it: the single-core Ed25519 verify rate.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from importlib import resources
from pathlib import Path

from bench.common import Nodes, emit, raw_verify_rate, wait
from exchange import pki
from exchange._proto.brandex.v1 import entries_pb2, services_pb2, services_pb2_grpc
from exchange.core import x509
from exchange.node.ledger import Ledger
from exchange.store import Store

FEDERATION = "yrd"


def _codes() -> list[str]:
    table = json.loads(
        resources.files("exchange.core.data").joinpath("regions.json").read_text("utf-8")
    )
    return sorted(table)


def build(root: Path, origins: int, entries: int, servers: int) -> tuple[dict, dict[str, float]]:
    """Write the PKI and one database holding every origin's log; returns (members, timings)."""
    codes = _codes()
    if origins + 1 > len(codes):
        raise ValueError(f"at most {len(codes) - 1} origins (one region is the joiner's)")
    names = {f"o{c}": c for c in codes[:origins]}
    joiner = {"joiner": codes[origins]}
    node_members = {**dict(list(names.items())[:servers]), **joiner}
    provinces = sorted({c[:2] + "0000" for c in codes})
    t = {}
    t0 = time.perf_counter()
    pki.init_federation(root / "certs", FEDERATION, node_members, jurisdictions=provinces)
    keys = pki.certify_origins(
        root / "certs", {n: r for n, r in names.items() if n not in node_members}
    )
    for n in node_members:  # the server nodes' own logs use their configured keys
        paths = pki.member_paths(root / "certs", n)
        keys[n] = (pki.load_signing_key(paths.signing_key), paths.signing_cert.read_text())
    t["keys_s"] = time.perf_counter() - t0

    anchors = x509.load_pem_chain((root / "certs" / "anchor.pem").read_bytes())
    db = root / "served.db"
    per, extra = divmod(entries, origins)
    t0 = time.perf_counter()
    store = Store(db)
    try:
        for i, (name, region) in enumerate(names.items()):
            key, chain = keys[name]
            ledger = Ledger(
                store,
                federation=FEDERATION,
                region=region,
                signing_key=key,
                signing_chain_pem=[chain],
                anchors=anchors,
                witness=False,
            )
            ledger.bootstrap()
            n = per + (1 if i < extra else 0)
            bodies = [
                (
                    "accession",
                    entries_pb2.Accession(
                        agreement_id=f"join-{i}-{j}",
                        title="join bench",
                        covered_kinds=[2],
                        effective_from="2026-01-01",
                        region=region,
                    ),
                )
                for j in range(n)
            ]
            for k in range(0, n, 5000):
                ledger.issue(bodies[k : k + 5000])
    finally:
        store.close()
    t["logs_s"] = time.perf_counter() - t0
    return {"origins": names, "nodes": node_members, "joiner": "joiner"}, t


def _held(nodes: Nodes, name: str) -> dict[str, int]:
    resp = services_pb2_grpc.LogServiceStub(nodes.channel(name)).ListOrigins(
        services_pb2.ListOriginsRequest(), timeout=60
    )
    return {o.origin: o.size for o in resp.origins}


def run(origins: int = 3200, entries: int = 100_000, servers: int = 2, tag: str = "") -> dict:
    raw = raw_verify_rate(0.5)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        members, timings = build(root, origins, entries, servers)
        node_members = members["nodes"]
        srv = [n for n in node_members if n != members["joiner"]]
        nodes = Nodes(
            root,
            node_members,
            {members["joiner"]: srv},
            sync_interval=30.0,
            verify_workers=2,
        )
        (root / "db").mkdir(exist_ok=True)
        for name in srv:  # the closed database and its write-ahead log, as SQLite left them
            for suffix in ("", "-wal"):
                src = root / f"served.db{suffix}"
                if src.exists():
                    shutil.copyfile(src, root / "db" / f"{name}.db{suffix}")
        try:
            for name in srv:
                nodes.start(name, wait=False)
            for name in srv:
                nodes.wait_ready(name)
            want = _held(nodes, srv[0])
            total = sum(want.values())
            launched = time.perf_counter()
            nodes.start(members["joiner"], wait=False)
            nodes.wait_listening(members["joiner"])
            t0 = time.perf_counter()

            def caught_up() -> bool:
                held = _held(nodes, members["joiner"])
                return all(held.get(o, 0) >= s for o, s in want.items())

            wait(caught_up, 3600, "the joiner holding every origin", 0.25)
            done = time.perf_counter()
            rss = nodes.rss_mb(members["joiner"])
            db_mb = (
                sum(p.stat().st_size for p in (root / "db").glob(f"{members['joiner']}.db*"))
                / 2**20
            )
        finally:
            nodes.stop()
    seconds = done - t0
    figures = {
        "origins": len(want),
        "entries": total,
        "servers": len(srv),
        "seconds": round(seconds, 2),
        "with_startup_s": round(done - launched, 2),
        "entries_per_s": round(total / seconds),
        "ms_per_origin_all_in": round(1000 * seconds / len(want), 2),
        "raw_verify_per_s_single_core": round(raw),
        "ratio": round(total / seconds / raw, 2),
        "rss_mb_joiner": round(rss, 1),
        "db_mb_joiner": round(db_mb, 1),
        "build_keys_s": round(timings["keys_s"], 1),
        "build_logs_s": round(timings["logs_s"], 1),
    }
    emit("join" + tag, **figures)
    return figures


def breakdown(origins: int = 3200, entries: int = 100_000) -> dict:
    """The two shapes, and the split of the first one's time into per-entry and per-origin work."""
    many = run(origins, entries, tag=f"_{origins}_origins")
    few = run(4, entries, tag="_4_origins")
    per_entry_s = few["seconds"] / few["entries"]
    per_origin_s = max(0.0, many["seconds"] - per_entry_s * many["entries"]) / many["origins"]
    figures = {
        "origins": many["origins"],
        "entries": many["entries"],
        "seconds": many["seconds"],
        "per_entry_us": round(per_entry_s * 1e6, 1),
        "per_origin_ms": round(per_origin_s * 1e3, 2),
        "entry_share": round(per_entry_s * many["entries"] / many["seconds"], 3),
        "projected_1e6_entries_s": round(per_entry_s * 1_000_000 + per_origin_s * 3200, 1),
        "target_s": 60,
    }
    emit("join_breakdown", **figures)
    return figures


if __name__ == "__main__":
    import sys

    args = [int(a) for a in sys.argv[1:]]
    breakdown(*args)
