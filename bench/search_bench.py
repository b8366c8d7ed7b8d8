"""Search and check latency on a node holding N records (1M by default).

The database is built in-process through the same Ledger.issue path a node
uses (signed, logged, projected, indexed); then a real node process serves it
and queries go over mTLS. The raw limit beside the figures is one full scan of
all brand names (what an unindexed substring search would cost).
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import Nodes, emit, synthetic_records
from exchange._proto.brandex.v1 import services_pb2, services_pb2_grpc
from exchange.core import x509
from exchange.node.ledger import Ledger
from exchange.pki import load_signing_key, member_paths
from exchange.store import Store


def _build(db: Path, certs: Path, n: int) -> None:
    paths = member_paths(certs, "zhejiang")
    store = Store(db)
    ledger = Ledger(
        store,
        federation="yrd",
        region="330000",
        signing_key=load_signing_key(paths.signing_key),
        signing_chain_pem=[paths.signing_cert.read_text()],
        anchors=x509.load_pem_chain(paths.anchor.read_bytes()),
    )
    ledger.bootstrap()
    step = 20_000
    for i in range(0, n, step):
        recs = synthetic_records(min(step, n - i), offset=i)
        ledger.issue([("recognition", r) for r in recs])
    store.merge_search_index()  # as after a rebuild: one segment, not a load's dozen
    store.close()


def _percentiles(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "p50_ms": round(statistics.median(samples) * 1000, 2),
        "p99_ms": round(samples[int(len(samples) * 0.99) - 1] * 1000, 2),
    }


def query_forms(brands: list[str], rng: random.Random) -> dict[str, list[str]]:
    """What staff type, per form, made from brand names the database holds:
    a hanzi substring, one character, pinyin whole, spaced and run together,
    initials, the traditional spelling and pinyin with one slip."""
    import zhconv

    from exchange.core import textforms

    forms: dict[str, list[str]] = {
        k: [] for k in ("hanzi", "one_char", "pinyin", "pinyin_spaced", "initials", "traditional")
    }
    forms["typo"] = []
    for name in brands:
        runs = textforms.pinyin_syllables(name)
        if not runs or len(runs[0]) < 2:
            continue
        syl = runs[0]
        i = rng.randrange(0, len(name) - 1)
        forms["hanzi"].append(name[i : i + 2])
        forms["one_char"].append(name[rng.randrange(len(name))])
        forms["pinyin"].append("".join(syl[:2]))
        forms["pinyin_spaced"].append(" ".join(syl[:2]))
        forms["initials"].append("".join(s[0] for s in syl[:3]))
        forms["traditional"].append(zhconv.convert(name, "zh-hant"))
        whole = "".join(syl[:3])
        j = rng.randrange(1, len(whole) - 1)
        forms["typo"].append(whole[:j] + whole[j + 1] + whole[j] + whole[j + 2 :])
    return forms


def cpu_per_form(db: Path, forms: dict[str, list[str]], per_query: int) -> dict[str, dict]:
    """Thread CPU time of the store's search, in this process, per form (p50/p99 ms).

    Wall-clock latency over gRPC is what staff feel, but on a shared machine it
    mostly measures the scheduler; the CPU a query costs the node does not.
    """
    from types import SimpleNamespace

    from exchange.core import textforms
    from exchange.store import queries
    from exchange.store.facet_index import FacetIndex

    textforms.warm_up()  # as the node does at start: pypinyin loads its tables on first use
    conn = queries.open_read_only(db)
    blank = dict.fromkeys(("enterprise", "region", "issuer", "status", "uscc", "valid_on"), "")
    out: dict[str, dict] = {}
    t = time.perf_counter()
    index = FacetIndex.load(conn)  # as the node does at start (Store.facet_index)
    out["facet_index"] = {
        "load_s": round(time.perf_counter() - t, 2),
        "mb": round(index.nbytes() / 2**20, 1),
    }
    try:
        for form, qs in forms.items():
            for facets in (False, True):
                cpu = []
                for q in qs[:per_query]:
                    f = SimpleNamespace(text=q, kind=0, nice_class=0, limit=20, offset=0, **blank)
                    t = time.thread_time()
                    queries.search(conn, f, None, with_facets=facets, facet_index=index)
                    cpu.append(time.thread_time() - t)
                out[f"cpu_{form}" + ("_facets" if facets else "")] = _percentiles(cpu)
    finally:
        conn.close()
    return out


def zhejiang_database(root: Path, n: int, kept: bool) -> tuple[Nodes, Path, float]:
    """Zhejiang's node and its database of ``n`` records under ``root``: built unless
    ``kept`` and already there. Returns (nodes, database, seconds spent building)."""
    nodes = Nodes(root, {"zhejiang": "330000"}, {})
    db = root / "db" / "zhejiang.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if not (kept and db.exists()):
        _build(db, root / "certs", n)
    return nodes, db, time.perf_counter() - t0


def run(n: int = 1_000_000, per_query: int = 200, keep: Path | None = None) -> dict:
    """``keep``: a folder to build the database in once and reuse on later runs."""
    with tempfile.TemporaryDirectory() as tmp:
        root = keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        nodes, db, build_s = zhejiang_database(root, n, keep is not None)
        # The bench asks as fast as it can with one certificate: the node's read
        # rate limit per client (200/s, burst 400) refuses it once a search costs
        # under 5 ms, so it is off for the bench's node.
        with open(nodes.configs["zhejiang"], "a") as f:
            f.write("\n[limits]\nread_rate = 0\n")
        store = Store(db)
        # The raw limit: what one unindexed substring query costs on this machine.
        t0 = time.perf_counter()
        hits = store.read.execute(
            "SELECT count(*) FROM records WHERE brand_name LIKE '%宋河%' OR product LIKE"
            " '%宋河%' OR enterprise_name LIKE '%宋河%'"
        ).fetchone()[0]
        scan_ms = (time.perf_counter() - t0) * 1000
        rng = random.Random(7)
        sample = [
            r[0]
            for r in store.read.execute("SELECT enterprise_name FROM records WHERE rowid % 997 = 0")
        ]
        brand_sample = [
            r[0] for r in store.read.execute("SELECT brand_name FROM records WHERE rowid % 997 = 0")
        ]
        store.close()
        queries_by_len = {k: [] for k in (1, 2, 3, 6)}
        for name in sample:
            for k in queries_by_len:
                if len(name) >= k + 1:
                    i = rng.randrange(0, len(name) - k)
                    queries_by_len[k].append(name[i : i + k])
        figures: dict[str, object] = {
            "records": n,
            "build_s": round(build_s, 1),
            "db_mb": round(db.stat().st_size / 2**20, 1),
            "raw_full_scan_ms": round(scan_ms, 1),
            "scan_hits": hits,
        }
        # The store's CPU per query first, with no node running: a starting node loads
        # its facet index (a full read of the records, seconds of CPU), and a busy
        # sibling core makes each query's thread CPU time larger.
        forms = query_forms(brand_sample, rng)
        figures.update(cpu_per_form(db, forms, per_query))
        try:
            nodes.start("zhejiang")
            stub = services_pb2_grpc.RegistryServiceStub(nodes.channel("zhejiang"))
            for k, qs in queries_by_len.items():
                lat = []
                for q in qs[:per_query]:
                    t = time.perf_counter()
                    stub.Search(services_pb2.SearchRequest(text=q, limit=20), timeout=30)
                    lat.append(time.perf_counter() - t)
                figures[f"search_{k}char"] = _percentiles(lat)
            lat = []
            for i in range(per_query):
                t = time.perf_counter()
                stub.Search(
                    services_pb2.SearchRequest(
                        text=queries_by_len[2][i % len(queries_by_len[2])],
                        region="330300",
                        status="valid",
                        limit=20,
                    ),
                    timeout=30,
                )
                lat.append(time.perf_counter() - t)
            figures["search_filtered"] = _percentiles(lat)
            for form, qs in forms.items():
                for facets in (False, True):
                    lat = []
                    for q in qs[:per_query]:
                        t = time.perf_counter()
                        stub.Search(
                            services_pb2.SearchRequest(text=q, limit=20, facets=facets), timeout=30
                        )
                        lat.append(time.perf_counter() - t)
                    key = f"form_{form}" + ("_facets" if facets else "")
                    figures[key] = {**_percentiles(lat), "example": qs[0]}
            lat = []
            for _ in range(per_query):
                t = time.perf_counter()
                stub.Check(
                    services_pb2.CheckRequest(
                        record=services_pb2.RecordRef(
                            issuer="330000", record_id=f"b{rng.randrange(n):07d}"
                        ),
                        region="340000",
                    ),
                    timeout=30,
                )
                lat.append(time.perf_counter() - t)
            figures["check"] = _percentiles(lat)
            figures["node_rss_mb"] = round(nodes.rss_mb("zhejiang"), 1)
            # With the file memory-mapped, VmRSS includes the pages searched.
            figures["node_anon_mb"] = round(nodes.rss_mb("zhejiang", "RssAnon"), 1)
            figures["targets"] = {
                "search_p99_ms": 5,
                "form_p99_ms": 5,
                "check_p99_ms": 2,
                "rss_mb": 150,
            }
        finally:
            nodes.stop()
    emit("search_1m", **figures)
    return figures


if __name__ == "__main__":
    import sys

    run(
        int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000,
        keep=Path(sys.argv[2]) if len(sys.argv) > 2 else None,
    )
