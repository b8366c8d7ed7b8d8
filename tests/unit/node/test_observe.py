"""Metrics, health and alert rules without a running node (tests/e2e/test_observe.py runs one)."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from test_config import BASE

from exchange.core.errors import ValidationError
from exchange.node.config import load_config
from exchange.node.ledger import SyncOutcome
from exchange.node.observe import (
    EXPORTED_METRICS,
    HealthMonitor,
    NodeMetrics,
    RpcInterceptor,
    StateCollector,
)
from exchange.store import Store

ROOT = Path(__file__).resolve().parents[3]
ALERTS = ROOT / "docs" / "alerts.yml"
ZJ = "yrd/330000"


def _cert(path: Path, not_after: datetime) -> Path:
    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(not_after - timedelta(days=400))
        .not_valid_after(not_after)
        .sign(key, None)
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path / "node.db")
    with s.write() as tx:
        tx.ensure_origin(ZJ, "330000")
        tx.conn.execute("UPDATE origins SET size = 9, indexed = 4 WHERE origin = ?", (ZJ,))
    yield s
    s.close()


def _node(
    tmp_path: Path, store: Store, certs: dict[str, Path], peer_sizes=None, federation_expiry=None
):
    metrics = NodeMetrics()
    peers = [SimpleNamespace(address="127.0.0.1:1", sizes=peer_sizes or {ZJ: 12})]
    expiry = federation_expiry or datetime.now(UTC) + timedelta(days=40)
    health = HealthMonitor(
        store,
        certs,
        peers=lambda: [p.address for p in peers],
        attempted=metrics.attempted,
        federation_expiry=lambda: expiry,
    )
    collector = StateCollector(Path(store.path), lambda: peers, lambda: 2, certs, health)
    metrics.registry.register(collector)
    return metrics, health, collector


def _samples(metrics: NodeMetrics) -> dict[tuple[str, tuple], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def _exported_names(metrics: NodeMetrics) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        names.add(family.name)
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
        names.update(family.name + s for s in suffixes.get(family.type, ()))
        names.update(s.name for s in family.samples)
    return names


def test_gauges_are_read_from_the_store_and_the_peers(tmp_path, store) -> None:
    certs = {"tls": _cert(tmp_path / "tls.pem", datetime.now(UTC) + timedelta(days=10))}
    metrics, health, collector = _node(tmp_path, store, certs)
    health.check()
    s = _samples(metrics)
    assert s[("brandex_origin_entries", (("origin", ZJ),))] == 9
    assert s[("brandex_sync_lag_entries", (("origin", ZJ),))] == 3
    assert s[("brandex_indexer_backlog_entries", ())] == 5
    assert s[("brandex_open_streams", ())] == 2
    assert s[("brandex_database_bytes", ())] > 0
    assert 9 * 86400 < s[("brandex_certificate_expiry_seconds", (("cert", "tls"),))] <= 10 * 86400
    assert s[("brandex_healthy", ())] == 1 and s[("brandex_ready", ())] == 0  # no round yet
    metrics.on_sync(
        "127.0.0.1:1",
        [
            SyncOutcome(ZJ, "appended", added=3),
            SyncOutcome("yrd/340000", "rejected", detail="bad", invalid=True),
            SyncOutcome("yrd/410000", "equivocation"),
        ],
    )
    metrics.on_sync("127.0.0.1:1", None)
    metrics.on_sync("127.0.0.1:1", [SyncOutcome(ZJ, "appended", added=2)], full=False)
    s = _samples(metrics)
    assert s[("brandex_sync_entries_verified_total", (("origin", ZJ),))] == 5
    assert s[("brandex_sync_refused_total", (("reason", "invalid"),))] == 1
    assert s[("brandex_sync_refused_total", (("reason", "equivocation"),))] == 1
    assert s[("brandex_sync_rounds_total", (("peer", "127.0.0.1:1"),))] == 1
    assert s[("brandex_sync_failures_total", (("peer", "127.0.0.1:1"),))] == 1
    assert s[("brandex_ready", ())] == 1
    collector.close()


def test_health_names_each_problem(tmp_path, store) -> None:
    expired = _cert(tmp_path / "old.pem", datetime.now(UTC) - timedelta(days=1))
    fresh = _cert(tmp_path / "new.pem", datetime.now(UTC) + timedelta(days=100))
    changes: list[bool] = []
    health = HealthMonitor(store, {"tls": fresh}, on_change=changes.append)
    assert health.check() == [] and changes == [True]
    assert store.read.execute("SELECT count(*) FROM health_probe").fetchone()[0] == 1

    with store.write() as tx:
        tx.conn.execute(
            "UPDATE origins SET frozen = 1, frozen_reason = 'split' WHERE origin = ?", (ZJ,)
        )
    health.certs = {"tls": fresh, "signing": expired}
    problems = health.check()
    assert changes == [True, False]
    assert any("yrd/330000 is frozen: split" in p for p in problems), problems
    assert any(p.startswith("signing certificate expired") for p in problems), problems
    assert health.healthy() == (False, problems)

    class ReadOnly:  # a disk gone read-only: writes fail, reads work
        def write(self):
            raise sqlite3.OperationalError("attempt to write a readonly database")

        def origins(self):
            return []

    health.store, health.certs = ReadOnly(), {"tls": fresh}
    assert health.check() == ["database cannot be written: attempt to write a readonly database"]
    health.store = store
    with store.write() as tx:
        tx.conn.execute("UPDATE origins SET frozen = 0")
    assert health.check() == [] and changes == [True, False, True]


def test_alert_rules_name_only_metrics_the_node_exports(tmp_path, store) -> None:
    certs = {"tls": _cert(tmp_path / "tls.pem", datetime.now(UTC) + timedelta(days=10))}
    metrics, health, _ = _node(tmp_path, store, certs)
    health.check()
    metrics.rpc_duration.labels("/x", "OK").observe(0.1)
    exported = _exported_names(metrics)
    assert {*EXPORTED_METRICS} <= exported | {"brandex_rpc_duration_seconds"}
    doc = yaml.safe_load(ALERTS.read_text())
    rules = [r for g in doc["groups"] for r in g["rules"]]
    alerts = {r["alert"] for r in rules}
    assert {
        "BrandexOriginFrozen",
        "BrandexSyncLag",
        "BrandexCertificateExpiresSoon",
        "BrandexNoCosignature",
    } <= alerts
    for rule in rules:
        named = set(re.findall(r"\bbrandex_[a-z_]+\b", rule["expr"]))
        assert named, rule["alert"]
        assert named <= exported, (rule["alert"], named - exported)
        assert rule["annotations"]["summary"]
    assert (
        "30 * 86400"
        in next(r for r in rules if r["alert"] == "BrandexCertificateExpiresSoon")["expr"]
    )


def test_alert_rules_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not on PATH (it ships with Prometheus); YAML checked above")
    proc = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


PROMTOOL_CASES = """
rule_files: [{alerts}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'brandex_frozen_origins{{instance="a"}}'
        values: '0 0 1 1 1 1'
      - series: 'brandex_certificate_expiry_seconds{{instance="a",cert="tls"}}'
        values: '2000000 2000000 2000000 2000000 2000000 2000000'
      - series: 'brandex_certificate_expiry_seconds{{instance="a",cert="signing"}}'
        values: '9000000 9000000 9000000 9000000 9000000 9000000'
      - series: 'brandex_witness_newest_cosignature_age_seconds{{instance="a",origin="yrd/330000"}}'
        values: '3000 3600 4000 4100 4200 4300 4400 4500 4600 4700'
    alert_rule_test:
      - eval_time: 5m
        alertname: BrandexOriginFrozen
        exp_alerts:
          - exp_labels: {{severity: critical, instance: a}}
      - eval_time: 5m
        alertname: BrandexCertificateExpiresSoon
        exp_alerts:
          - exp_labels: {{severity: warning, instance: a, cert: tls}}
      - eval_time: 9m
        alertname: BrandexNoCosignature
        exp_alerts:
          - exp_labels: {{severity: warning, instance: a, origin: yrd/330000}}
"""


def test_alert_rules_fire_under_promtool(tmp_path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not on PATH (it ships with Prometheus)")
    # promtool compares annotations too: test the rules (expr, for, labels) without them.
    doc = yaml.safe_load(ALERTS.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    rules = tmp_path / "alerts.yml"
    rules.write_text(yaml.safe_dump(doc))
    cases = tmp_path / "alerts_test.yml"
    cases.write_text(PROMTOOL_CASES.format(alerts=rules))
    proc = subprocess.run(
        [promtool, "test", "rules", str(cases)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_metrics_table_in_the_config(tmp_path) -> None:
    path = tmp_path / "n.toml"
    path.write_text(BASE)
    assert load_config(path).metrics_listen == ""  # absent: off
    path.write_text(BASE + '[metrics]\nlisten = "127.0.0.1:9330"\nhealth_interval = 2\n')
    cfg = load_config(path)
    assert (cfg.metrics_listen, cfg.health_interval) == ("127.0.0.1:9330", 2.0)
    for extra, key in [
        ('[metrics]\nlisten = "nohost"\n', "metrics.listen"),
        ('[metrics]\nlistn = "127.0.0.1:1"\n', "metrics.listn"),
        ("[metrics]\nhealth_interval = 0.0\n", "metrics.health_interval"),
    ]:
        path.write_text(BASE + extra)
        with pytest.raises(ValidationError) as err:
            load_config(path)
        assert key in str(err.value)


class _Context:
    def __init__(self) -> None:
        self._code = None
        self.active = True

    def code(self):
        return self._code

    def auth_context(self):
        return {}

    def peer(self) -> str:
        return "ipv4:127.0.0.1:5000"

    def is_active(self) -> bool:
        return self.active


def test_the_interceptor_times_and_logs_each_rpc_by_code(caplog) -> None:
    metrics = NodeMetrics()
    interceptor = RpcInterceptor(metrics)

    def wrap(handler, method: str):
        return interceptor.intercept_service(lambda d: handler, SimpleNamespace(method=method))

    def refuse(request, context):
        context._code = grpc.StatusCode.INVALID_ARGUMENT
        raise RuntimeError("aborted")

    def stream(request, context):
        yield from range(10)

    ok = wrap(grpc.unary_unary_rpc_method_handler(lambda r, c: r + 1), "/brandex.v1.X/Ok")
    bad = wrap(grpc.unary_unary_rpc_method_handler(refuse), "/brandex.v1.X/Bad")
    streamed = wrap(grpc.unary_stream_rpc_method_handler(stream), "/brandex.v1.X/Watch")
    with caplog.at_level(logging.INFO, logger="brandex.rpc"):
        assert ok.unary_unary(1, _Context()) == 2
        with pytest.raises(RuntimeError):
            bad.unary_unary(1, _Context())
        ctx = _Context()
        it = streamed.unary_stream(1, ctx)
        assert next(it) == 0
        ctx.active = False  # the client went away
        it.close()
    s = _samples(metrics)
    count = "brandex_rpc_duration_seconds_count"
    assert s[(count, (("code", "OK"), ("method", "/brandex.v1.X/Ok")))] == 1
    assert s[(count, (("code", "INVALID_ARGUMENT"), ("method", "/brandex.v1.X/Bad")))] == 1
    assert s[(count, (("code", "CANCELLED"), ("method", "/brandex.v1.X/Watch")))] == 1
    records = {r.rpc_method: r for r in caplog.records if hasattr(r, "rpc_method")}
    assert records["/brandex.v1.X/Bad"].code == "INVALID_ARGUMENT"
    assert records["/brandex.v1.X/Ok"].peer == "ipv4:127.0.0.1:5000"
    assert records["/brandex.v1.X/Ok"].duration_ms >= 0


LOG_SCRIPT = """
import logging, sys, threading
import exchange.cli  # sets GRPC_VERBOSITY before grpc loads
from exchange.node.observe import configure_logging
configure_logging("INFO", sys.argv[1])
logging.getLogger("brandex.rpc").info("rpc %s", "/a.B/C", extra={"rpc_method": "/a.B/C"})
logging.getLogger("brandex.x").debug("not shown")
t = threading.Thread(target=lambda: 1 / 0, name="boom")
t.start()
t.join()
import os
print(os.environ["GRPC_VERBOSITY"])
"""


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_log_formats(fmt: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GRPC_VERBOSITY"}
    proc = subprocess.run(
        [sys.executable, "-c", LOG_SCRIPT, fmt],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ERROR"
    lines = proc.stderr.splitlines()
    if fmt == "json":
        docs = [json.loads(line) for line in lines]  # one JSON object per line, nothing else
        assert len(docs) == 2
        assert docs[0]["rpc_method"] == "/a.B/C" and docs[0]["message"] == "rpc /a.B/C"
        assert docs[0]["level"] == "INFO" and docs[0]["logger"] == "brandex.rpc"
        assert "ZeroDivisionError" in docs[1]["exc_info"] and "boom" in docs[1]["message"]
    else:
        assert " INFO brandex.rpc: rpc /a.B/C" in lines[0]
        assert "not shown" not in proc.stderr and "ZeroDivisionError" in proc.stderr


def test_expired_federation_document_makes_the_node_unhealthy(tmp_path, store) -> None:
    certs = {"tls": _cert(tmp_path / "tls.pem", datetime.now(UTC) + timedelta(days=10))}
    expired = datetime.now(UTC) - timedelta(days=1)
    metrics, health, _ = _node(tmp_path, store, certs, federation_expiry=expired)
    problems = health.check()
    assert any("federation document expired" in p for p in problems)
    assert _samples(metrics)[("brandex_federation_document_expiry_seconds", ())] < 0
