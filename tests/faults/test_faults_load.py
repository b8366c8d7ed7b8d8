"""Load: 50 concurrent clients search and check while the node syncs and imports.

The node under test (Anhui) mirrors Zhejiang, which keeps issuing (so Anhui
syncs all the time), and its own operator bulk-imports at the same time. Fifty
client threads, each with its own mTLS channel and a member's certificate,
search (Chinese substrings, USCC) and ask "is it recognised in region R?" until
both background jobs are done. Meanwhile one more member (Luyi's operator
certificate, which no honest client uses) floods Search, 100 calls in flight:
Anhui's per-certificate rate limit (80/s) refuses much of it (RESOURCE_EXHAUSTED), and
the honest clients' latencies are reported while it does. No honest call may
fail; latencies are printed, not asserted (this machine is shared and has two cores).
"""

from __future__ import annotations

import random
import statistics
import threading
import time

import grpc
import pytest
from harness import wait_until
from logcheck import connect_ro, verify_database

from bench.common import synthetic_records
from exchange import pki
from exchange._proto.brandex.v1 import services_pb2, services_pb2_grpc
from exchange.node.identity import channel_credentials, load_anchors, open_channel

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CLIENTS = 50
FLOODERS = 2  # threads sharing one certificate, each with IN_FLIGHT calls outstanding
IN_FLIGHT = 50
# Per certificate on the node under test: well above what an honest certificate asks
# here (50 clients share 12 certificates), well below what the flooder tries.
LIMITS = "\n[limits]\nread_rate = 80.0\nread_burst = 200.0\n"
FLOODER = "luyi"
REGIONS = ["310000", "320000", "330000", "340000", "410000", "330300", "411628", "330100"]


def _import(fed, name: str, offset: int, n: int, chunk: int, done: threading.Event) -> None:
    try:
        fed.issue_records(name, synthetic_records(n, issuer=name, offset=offset), chunk)
    finally:
        done.set()


def _percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def test_fifty_clients_while_syncing_and_importing(federation, fault_certs, fault_report, rng):
    fed = federation(
        {"zhejiang": "330000", "anhui": "340000"}, {"anhui": ["zhejiang"]}, sync_interval=1.0
    )
    with open(fed.configs["anhui"], "a", encoding="utf-8") as f:
        f.write(LIMITS)
    fed.start_all()
    # Something to find from the start: Zhejiang's records mirrored, Anhui's own.
    done0 = threading.Event()
    _import(fed, "zhejiang", 0, 5_000, 5_000, done0)
    fed.issue("anhui", 300)
    zj = fed.origin("zhejiang")
    wait_until(lambda: fed.sizes("anhui").get(zj) == 5_001, what="the first mirror")
    conn = connect_ro(fed.database("anhui"))
    try:
        known = conn.execute(
            "SELECT brand_name, enterprise_uscc FROM records ORDER BY random() LIMIT 500"
        ).fetchall()
    finally:
        conn.close()
    brands = [b for b, _ in known if len(b) >= 2]
    usccs = [u for _, u in known]

    _, anchors = load_anchors([fault_certs / "anchor.pem"])
    anchor_pem = (fault_certs / "anchor.pem").read_bytes()
    members = [m for m in pki.DEMO_MEMBERS if m != FLOODER]
    flood: dict[str, int] = {"ok": 0, "refused": 0, "other": 0}
    stop = threading.Event()
    lock = threading.Lock()
    latencies: dict[str, list[float]] = {"search": [], "search-uscc": [], "check": []}
    errors: list[str] = []

    def client(i: int) -> None:
        local = random.Random(rng.random() + i)
        paths = pki.member_paths(fault_certs, members[i % len(members)])
        cert, key = (
            (paths.operator_cert, paths.operator_key)
            if i % 5 == 0
            else (paths.node_cert, paths.node_key)
        )
        ch = open_channel(fed.address("anhui"), channel_credentials(cert, key, anchor_pem))
        reg = services_pb2_grpc.RegistryServiceStub(ch)
        try:
            while not stop.is_set():
                op = local.choice(["search", "search", "search-uscc", "check", "check"])
                if op == "search":
                    b = local.choice(brands)
                    j = local.randrange(len(b) - 1)
                    rpc, req = reg.Search, services_pb2.SearchRequest(text=b[j : j + 2], limit=20)
                elif op == "search-uscc":
                    rpc = reg.Search
                    req = services_pb2.SearchRequest(uscc=local.choice(usccs), limit=20)
                else:
                    rpc, req = reg.Check, services_pb2.CheckRequest(region=local.choice(REGIONS))
                    if local.random() < 0.5:
                        req.uscc = local.choice(usccs)
                    else:
                        req.brand = local.choice(brands)
                t0 = time.perf_counter()
                try:
                    rpc(req, timeout=60)
                except grpc.RpcError as exc:
                    with lock:
                        errors.append(f"{op}: {exc.code().name}: {exc.details()}")
                    continue
                with lock:
                    latencies[op].append(time.perf_counter() - t0)
        finally:
            ch.close()

    def flooder() -> None:
        paths = pki.member_paths(fault_certs, FLOODER)
        creds = channel_credentials(paths.operator_cert, paths.operator_key, anchor_pem)
        ch = open_channel(fed.address("anhui"), creds)
        reg = services_pb2_grpc.RegistryServiceStub(ch)
        try:
            req = services_pb2.SearchRequest(text=brands[0][:2], limit=20)
            while not stop.is_set():
                calls = [reg.Search.future(req, timeout=60) for _ in range(IN_FLIGHT)]
                for call in calls:
                    try:
                        call.result()
                        outcome = "ok"
                    except grpc.RpcError as exc:
                        refused = exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                        outcome = "refused" if refused else "other"
                    with lock:
                        flood[outcome] += 1
        finally:
            ch.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
    threads += [threading.Thread(target=flooder, daemon=True) for _ in range(FLOODERS)]
    for t in threads:
        t.start()
    zj_done, ah_done = threading.Event(), threading.Event()
    t_start = time.monotonic()
    sizes_before = fed.sizes("anhui")
    bg = [
        threading.Thread(target=_import, args=(fed, "zhejiang", 5_000, 20_000, 2_000, zj_done)),
        threading.Thread(target=_import, args=(fed, "anhui", 0, 20_000, 2_000, ah_done)),
    ]
    for t in bg:
        t.start()
    try:
        wait_until(lambda: zj_done.is_set() and ah_done.is_set(), timeout=600, what="imports")
        target = fed.heads("zhejiang")[zj]
        wait_until(lambda: fed.heads("anhui").get(zj) == target, timeout=300, what="the sync")
        if time.monotonic() - t_start < 10:
            stop.wait(10 - (time.monotonic() - t_start))  # at least 10 s of load
    finally:
        stop.set()
        for t in [*threads, *bg]:
            t.join(timeout=120)
    seconds = time.monotonic() - t_start
    sizes_after = fed.sizes("anhui")
    total = sum(len(v) for v in latencies.values())
    lines = [f"{CLIENTS} clients, {seconds:.1f}s, {total} calls ({total / seconds:.0f}/s)"]
    for op, vals in latencies.items():
        if vals:
            lines.append(
                f"{op:12s} n={len(vals):6d}  p50 {statistics.median(vals) * 1e3:7.1f} ms"
                f"  p99 {_percentile(vals, 99) * 1e3:7.1f} ms  max {max(vals) * 1e3:7.1f} ms"
            )
    lines.append(
        f"meanwhile: {zj} {sizes_before[zj]} -> {sizes_after[zj]} (synced),"
        f" {fed.origin('anhui')} {sizes_before[fed.origin('anhui')]}"
        f" -> {sizes_after[fed.origin('anhui')]} (imported)"
    )
    lines.append(
        f"flooder ({FLOODER}, {FLOODERS}x{IN_FLIGHT} calls in flight, one certificate):"
        f" {sum(flood.values())} calls,"
        f" {flood['ok']} served, {flood['refused']} refused (RESOURCE_EXHAUSTED),"
        f" {flood['other']} other errors"
    )
    print("\n[load]\n  " + "\n  ".join(lines))
    fed.stop_all()
    state = verify_database(fed.database("anhui"), anchors=anchors)
    assert state[zj].size == 25_001 and state[fed.origin("anhui")].size == 20_301
    all_lat = [v for vals in latencies.values() for v in vals]
    fault_report(
        f"load: {CLIENTS} concurrent clients during sync + import",
        CLIENTS,
        0,
        f"{total} calls, {len(errors)} errors; p50 {statistics.median(all_lat) * 1e3:.0f} ms,"
        f" p99 {_percentile(all_lat, 99) * 1e3:.0f} ms (search, check) for honest clients while"
        f" one certificate flooded ({flood['ok']} served, {flood['refused']} refused)",
    )
    assert not errors, errors[:10]
    assert all(len(v) > 0 for v in latencies.values())
