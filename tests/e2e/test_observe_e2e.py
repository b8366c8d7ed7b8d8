"""Operating a node: /metrics that move as the node works, JSON logs per RPC, honest health."""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from harness import Federation, free_port, wait_until
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.e2e

REGIONS = {"zhejiang": "330000", "anhui": "340000"}
TOPOLOGY = {"anhui": ["zhejiang"]}
ZJ = "yrd/330000"


def _with_metrics(fed: Federation) -> dict[str, str]:
    """Give every node a [metrics] table on a port of its own; returns name -> base URL."""
    urls = {}
    for name, path in fed.configs.items():
        port = free_port()
        with open(path, "a", encoding="utf-8") as f:
            f.write(f'\n[metrics]\nlisten = "127.0.0.1:{port}"\nhealth_interval = 0.5\n')
        urls[name] = f"http://127.0.0.1:{port}"
    return urls


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def scrape(base: str) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics as (name, sorted labels) -> value."""
    status, text = _get(base + "/metrics")
    assert status == 200, text
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: dict, name: str, **labels: str) -> float:
    """Sum over every sample of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def test_metrics_move_as_the_node_works_and_logs_are_json(federation_factory) -> None:
    fed = federation_factory(REGIONS, TOPOLOGY, sync_interval=30.0)
    urls = _with_metrics(fed)
    fed.start_all()
    zj_addr = fed.address("zhejiang")

    # Ready once anhui had its first sync round with zhejiang; healthy from the start.
    wait_until(lambda: _get(urls["anhui"] + "/readyz")[0] == 200, what="anhui ready")
    for name in REGIONS:
        status, body = _get(urls[name] + "/healthz")
        assert status == 200 and json.loads(body) == {"status": "ok", "problems": []}

    # (The first round may have failed if zhejiang was not listening yet: wait for one.)
    before = wait_until(
        lambda: (
            (s := scrape(urls["anhui"]))
            and value(s, "brandex_sync_rounds_total", peer=zj_addr) >= 1
            and s
        ),
        what="a completed sync round with zhejiang",
    )
    assert value(before, "brandex_healthy") == 1 and value(before, "brandex_ready") == 1
    assert value(before, "brandex_frozen_origins") == 0
    assert value(before, "brandex_database_bytes") > 0
    for cert in ("tls", "signing"):
        assert value(before, "brandex_certificate_expiry_seconds", cert=cert) > 86_400
    held = value(before, "brandex_origin_entries", origin=ZJ)
    verified = value(before, "brandex_sync_entries_verified_total", origin=ZJ)

    size = fed.issue("zhejiang", 7)
    wait_until(lambda: fed.sizes("anhui").get(ZJ) == size, what="anhui to mirror zhejiang")

    def moved():
        after = scrape(urls["anhui"])
        return (
            value(after, "brandex_origin_entries", origin=ZJ) == size
            and value(after, "brandex_sync_entries_verified_total", origin=ZJ)
            >= verified + (size - held)
            and value(after, "brandex_sync_lag_entries", origin=ZJ) == 0
            and after
        )

    after = wait_until(moved, what="anhui's metrics to show the synced entries")
    assert value(after, "brandex_indexer_backlog_entries") >= 0
    # Anhui served zhejiang's sync calls: latency by method and status code.
    zj = scrape(urls["zhejiang"])
    issued = total(
        zj, "brandex_rpc_duration_seconds_count", method="/brandex.v1.AdminService/IssueBatch"
    )
    assert issued >= 1
    assert total(zj, "brandex_rpc_duration_seconds_count", code="OK") >= issued
    assert value(zj, "brandex_origin_entries", origin=ZJ) == size
    # A watch stream from anhui is open on zhejiang.
    wait_until(
        lambda: value(scrape(urls["zhejiang"]), "brandex_open_streams") >= 1,
        what="anhui's watch stream on zhejiang",
    )

    # One JSON object per line; each RPC names method, caller, peer, duration, outcome.
    def issue_line():
        for line in fed.log_text("zhejiang").splitlines():
            doc = json.loads(line)  # every line is JSON
            if doc.get("rpc_method") == "/brandex.v1.AdminService/IssueBatch":
                return doc
        return None

    doc = wait_until(issue_line, what="zhejiang to log the IssueBatch call")
    assert doc["code"] == "OK" and doc["level"] == "INFO"
    assert doc["caller_region"] == "operator:330000" and "CN=" in doc["caller_subject"]
    assert doc["peer"].startswith("ipv") and "127.0.0.1" in doc["peer"]
    assert doc["duration_ms"] >= 0 and doc["logger"] == "brandex.rpc"
    assert "message" in doc and "time" in doc
    # Through a whole run, start to SIGTERM, the log holds nothing but JSON lines.
    assert fed.stop("zhejiang") == 0
    lines = fed.log_text("zhejiang").splitlines()
    docs = [json.loads(line) for line in lines]
    assert any("stopped" in d["message"] for d in docs), lines[-5:]


def test_a_frozen_origin_turns_health_not_serving(federation_factory) -> None:
    fed = federation_factory(REGIONS, TOPOLOGY, sync_interval=30.0)
    urls = _with_metrics(fed)
    fed.start_all()
    size = fed.issue("zhejiang", 3)
    wait_until(lambda: fed.sizes("anhui").get(ZJ) == size, what="anhui to mirror zhejiang")
    fed.stop("anhui")

    # What an equivocation leaves behind, written into the stopped node's database.
    conn = sqlite3.connect(fed.database("anhui"), timeout=30)
    with conn:
        conn.execute(
            "UPDATE origins SET frozen = 1, frozen_reason = 'test: split view' WHERE origin = ?",
            (ZJ,),
        )
    conn.close()

    fed.start("anhui", wait=False)
    stub = health_pb2_grpc.HealthStub(fed.channel("anhui"))

    def not_serving():
        assert fed.procs["anhui"].poll() is None, fed.log_text("anhui")[-3000:]
        r = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        return r.status == health_pb2.HealthCheckResponse.NOT_SERVING

    wait_until(not_serving, what="anhui's gRPC health to say NOT_SERVING")
    status, body = wait_until(lambda: _get(urls["anhui"] + "/healthz"), what="/healthz")
    assert status == 503, body
    problems = json.loads(body)["problems"]
    assert any(ZJ in p and "frozen" in p and "split view" in p for p in problems), problems
    assert _get(urls["anhui"] + "/readyz")[0] == 503
    samples = scrape(urls["anhui"])
    assert value(samples, "brandex_frozen_origins") == 1
    assert value(samples, "brandex_origin_frozen", origin=ZJ) == 1
    assert value(samples, "brandex_healthy") == 0
    # The healthy peer stays SERVING.
    assert _get(urls["zhejiang"] + "/healthz")[0] == 200
    assert any("NOT_SERVING" in line for line in fed.log_text("anhui").splitlines())
