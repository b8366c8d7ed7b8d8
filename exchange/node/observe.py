"""Operating a node: Prometheus metrics, one JSON log line per RPC, and health that tells the truth.

* ``NodeMetrics`` owns a private ``CollectorRegistry`` (never the global one):
  counters and histograms the node bumps as it works (sync rounds, verified
  and refused entries, RPC latency), plus gauges computed at scrape time from
  the database and the sync engine (``StateCollector``).
* ``RpcInterceptor`` times every RPC by method and status code and logs it
  (method, caller certificate, peer address, duration, outcome).
* ``HealthMonitor`` re-evaluates every few seconds: the database takes a write,
  no origin is frozen, the node's TLS and signing certificates are in date.
  It drives the gRPC health service and the HTTP ``/healthz``; ``/readyz``
  also waits for the first sync round with each peer.
* ``ObserveServer`` serves ``/metrics``, ``/healthz`` and ``/readyz`` on the
  ``[metrics] listen`` address.
* ``configure_logging`` sets up ``text`` or ``json`` (one object per line) logs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import grpc
from cryptography import x509 as cx509
from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import ThreadingWSGIServer

from exchange.core import x509
from exchange.store import queries

__all__ = [
    "EXPORTED_METRICS",
    "HealthMonitor",
    "NodeMetrics",
    "ObserveServer",
    "RpcInterceptor",
    "StateCollector",
    "configure_logging",
]

log = logging.getLogger("brandex.observe")
rpc_log = logging.getLogger("brandex.rpc")

#: Every metric family a node exports (the alert rules in docs/alerts.yml name only these).
EXPORTED_METRICS = (
    "brandex_origin_entries",
    "brandex_origin_frozen",
    "brandex_frozen_origins",
    "brandex_sync_lag_entries",
    "brandex_sync_rounds_total",
    "brandex_sync_failures_total",
    "brandex_sync_entries_verified_total",
    "brandex_sync_refused_total",
    "brandex_rpc_duration_seconds",
    "brandex_open_streams",
    "brandex_witness_cosignatures",
    "brandex_witness_newest_cosignature_age_seconds",
    "brandex_indexer_backlog_entries",
    "brandex_database_bytes",
    "brandex_certificate_expiry_seconds",
    "brandex_healthy",
    "brandex_ready",
)

_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


def cert_not_after(path: Path) -> datetime | None:
    """The expiry of the first certificate in a PEM file (None when unreadable)."""
    try:
        return x509.load_pem_chain(path.read_bytes())[0].not_valid_after_utc
    except Exception:
        return None


# ------------------------------------------------------------------ metrics


class NodeMetrics:
    """The node's metrics, on a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.sync_rounds = Counter(
            "brandex_sync_rounds", "Completed sync rounds, per peer", ["peer"], registry=r
        )
        self.sync_failures = Counter(
            "brandex_sync_failures",
            "Sync rounds that failed (peer unreachable, refused or erroring), per peer",
            ["peer"],
            registry=r,
        )
        self.verified = Counter(
            "brandex_sync_entries_verified",
            "Entries fetched from peers, verified and stored, per origin",
            ["origin"],
            registry=r,
        )
        self.refused = Counter(
            "brandex_sync_refused",
            "Origin syncs refused, by reason (invalid: the peer served data that does not"
            " verify; equivocation: a split view, origin frozen; rejected: anything else)",
            ["reason"],
            registry=r,
        )
        self.rpc_duration = Histogram(
            "brandex_rpc_duration_seconds",
            "RPC handling time by method and gRPC status code (streams: until they end)",
            ["method", "code"],
            buckets=_BUCKETS,
            registry=r,
        )
        self._attempted: set[str] = set()
        self._lock = threading.Lock()

    def on_sync(self, peer: str, outcomes: Iterable[Any] | None, full: bool = True) -> None:
        """SyncEngine's hook: ``outcomes`` of a round (or a pushed origin); None: it failed."""
        if outcomes is None:
            self.sync_failures.labels(peer).inc()
        else:
            for o in outcomes:
                if o.action == "appended" and o.added:
                    self.verified.labels(o.origin).inc(o.added)
                elif o.action == "equivocation":
                    self.refused.labels("equivocation").inc()
                elif o.action == "rejected":
                    self.refused.labels("invalid" if o.invalid else "rejected").inc()
            if full:
                self.sync_rounds.labels(peer).inc()
        if full:
            with self._lock:
                self._attempted.add(peer)

    def attempted(self, peer: str) -> bool:
        """Whether a first full sync round with ``peer`` has run (succeeded or failed)."""
        with self._lock:
            return peer in self._attempted


class StateCollector:
    """Gauges read at scrape time: the database, the peers, the certificates, health."""

    def __init__(
        self,
        database: Path,
        peer_states: Callable[[], list[Any]],
        open_streams: Callable[[], int],
        certs: dict[str, Path],
        health: HealthMonitor | None,
    ) -> None:
        self.database = database
        self.peer_states = peer_states
        self.open_streams = open_streams
        self.certs = certs
        self.health = health
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _gauges(self) -> tuple[list, dict[str, int], dict[str, int]]:
        with self._lock:
            if self._conn is None:
                self._conn = queries.open_read_only(self.database)
            return queries.origin_gauges(self._conn)

    def describe(self) -> list:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = time.time()
        entries = GaugeMetricFamily(
            "brandex_origin_entries", "Entries held, per origin", labels=["origin"]
        )
        frozen = GaugeMetricFamily(
            "brandex_origin_frozen", "1 when the origin is frozen (equivocation)", labels=["origin"]
        )
        cosigs = GaugeMetricFamily(
            "brandex_witness_cosignatures",
            "Witness cosignatures held on the origin's current checkpoint",
            labels=["origin"],
        )
        age = GaugeMetricFamily(
            "brandex_witness_newest_cosignature_age_seconds",
            "Seconds since the newest witness cosignature held for the origin",
            labels=["origin"],
        )
        lag = GaugeMetricFamily(
            "brandex_sync_lag_entries",
            "Entries this node is behind the best peer, per origin",
            labels=["origin"],
        )
        sizes: dict[str, int] = {}
        n_frozen = backlog = 0
        try:
            rows, held, newest = self._gauges()
        except sqlite3.Error as exc:
            log.warning("metrics: cannot read the database: %s", exc)
            rows, held, newest = [], {}, {}
        for origin, size, is_frozen, indexed in rows:
            sizes[origin] = size
            entries.add_metric([origin], size)
            frozen.add_metric([origin], 1 if is_frozen else 0)
            n_frozen += 1 if is_frozen else 0
            backlog += max(0, size - (indexed or 0))
            cosigs.add_metric([origin], held.get(origin, 0))
            if newest.get(origin) is not None:
                age.add_metric([origin], max(0.0, now - newest[origin]))
        best: dict[str, int] = {}
        for st in self.peer_states():
            for origin, n in dict(st.sizes).items():
                best[origin] = max(best.get(origin, 0), n)
        for origin in sorted(set(sizes) | set(best)):
            lag.add_metric([origin], max(0, best.get(origin, 0) - sizes.get(origin, 0)))
        yield from (entries, frozen, cosigs, age, lag)
        yield GaugeMetricFamily("brandex_frozen_origins", "Origins frozen here", value=n_frozen)
        yield GaugeMetricFamily(
            "brandex_indexer_backlog_entries",
            "Entries stored but not yet in the registry's search tables",
            value=backlog,
        )
        size = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                size += os.stat(f"{self.database}{suffix}").st_size
        yield GaugeMetricFamily(
            "brandex_database_bytes", "Size of the database file and its WAL", value=size
        )
        yield GaugeMetricFamily(
            "brandex_open_streams", "Server streams open now", value=self.open_streams()
        )
        expiry = GaugeMetricFamily(
            "brandex_certificate_expiry_seconds",
            "Seconds until the node's own certificate expires (negative: expired)",
            labels=["cert"],
        )
        for name, path in self.certs.items():
            not_after = cert_not_after(path)
            if not_after is not None:
                expiry.add_metric([name], not_after.timestamp() - now)
        yield expiry
        fed_expiry = self.health.federation_expiry() if self.health is not None else None
        if fed_expiry is not None:
            yield GaugeMetricFamily(
                "brandex_federation_document_expiry_seconds",
                "Seconds until the federation document held here expires (negative: expired)",
                value=fed_expiry.timestamp() - now,
            )
        if self.health is not None:
            ok, _ = self.health.healthy()
            ready, _ = self.health.ready()
            yield GaugeMetricFamily("brandex_healthy", "1 when /healthz says ok", value=int(ok))
            yield GaugeMetricFamily("brandex_ready", "1 when /readyz says ok", value=int(ready))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


# ------------------------------------------------------------------ RPCs


class _Identities:
    """Caller identity (subject, region) by client certificate, parsed once each."""

    def __init__(self, size: int = 1024) -> None:
        self._cache: OrderedDict[bytes, tuple[str, str]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def of(self, context: grpc.ServicerContext) -> tuple[str, str]:
        try:
            pems = context.auth_context().get("x509_pem_cert") or []
        except Exception:
            pems = []
        if not pems:
            return "", ""
        key = hashlib.sha256(pems[0]).digest()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        try:
            cert = cx509.load_pem_x509_certificate(pems[0])
            operator = x509.cert_operator_region(cert)
            region = x509.cert_region(cert) or ""
            who = (cert.subject.rfc4514_string(), f"operator:{operator}" if operator else region)
        except Exception:
            who = ("unparsable certificate", "")
        with self._lock:
            self._cache[key] = who
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return who


def _code_of(context: grpc.ServicerContext, failed: bool) -> str:
    try:
        code = context.code()
    except Exception:
        code = None
    if code is None:
        if not failed:
            return "OK"
        try:  # a stream the client cancelled (or whose deadline passed) is closed under us
            return "UNKNOWN" if context.is_active() else "CANCELLED"
        except Exception:
            return "UNKNOWN"
    return code.name if isinstance(code, grpc.StatusCode) else str(code)


class RpcInterceptor(grpc.ServerInterceptor):
    """Times each RPC into ``brandex_rpc_duration_seconds`` and logs one line for it."""

    #: Polled often (load balancers, tests): logged at DEBUG, still measured.
    QUIET = ("/grpc.health.v1.Health/", "/grpc.reflection.")

    #: The initial-metadata key of a warning every answer carries (see ``warning``).
    WARNING_KEY = "brandex-warning"

    def __init__(
        self, metrics: NodeMetrics, warning: Callable[[], str | None] = lambda: None
    ) -> None:
        self.metrics = metrics
        self._who = _Identities()
        #: What every answer should say while it holds (the federation document expired,
        #: or expires within 30 days): sent as initial metadata before the answer.
        self.warning = warning

    def _warn(self, context: grpc.ServicerContext) -> None:
        text = self.warning()
        if text:
            with contextlib.suppress(Exception):  # metadata already sent: nothing to add
                context.send_initial_metadata(((self.WARNING_KEY, text),))

    def _done(self, method: str, context: grpc.ServicerContext, start: float, failed: bool):
        elapsed = time.perf_counter() - start
        code = _code_of(context, failed)
        self.metrics.rpc_duration.labels(method, code).observe(elapsed)
        subject, region = self._who.of(context)
        level = logging.DEBUG if method.startswith(self.QUIET) else logging.INFO
        if rpc_log.isEnabledFor(level):
            try:
                peer = context.peer()
            except Exception:
                peer = ""
            rpc_log.log(
                level,
                "rpc %s %s from %s (%s) at %s in %.1f ms",
                method,
                code,
                region or "-",
                subject or "no certificate",
                peer,
                elapsed * 1000,
                extra={
                    "rpc_method": method,
                    "code": code,
                    "caller_subject": subject,
                    "caller_region": region,
                    "peer": peer,
                    "duration_ms": round(elapsed * 1000, 3),
                },
            )

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        if handler.response_streaming:
            behavior = handler.unary_stream or handler.stream_stream

            def streaming(request, context):
                start = time.perf_counter()
                failed = True
                self._warn(context)
                try:
                    yield from behavior(request, context)
                    failed = False
                finally:
                    self._done(method, context, start, failed)

            wrapped = streaming
        else:
            behavior = handler.unary_unary or handler.stream_unary

            def unary(request, context):
                start = time.perf_counter()
                failed = True
                self._warn(context)
                try:
                    out = behavior(request, context)
                    failed = False
                    return out
                finally:
                    self._done(method, context, start, failed)

            wrapped = unary
        make = {
            (False, False): grpc.unary_unary_rpc_method_handler,
            (False, True): grpc.unary_stream_rpc_method_handler,
            (True, False): grpc.stream_unary_rpc_method_handler,
            (True, True): grpc.stream_stream_rpc_method_handler,
        }[(handler.request_streaming, handler.response_streaming)]
        return make(
            wrapped,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


# ------------------------------------------------------------------ health


class HealthMonitor:
    """Re-evaluates the node's health every ``interval`` seconds, in a thread of its own.

    Unhealthy when the database cannot take a write, an origin is frozen, the
    node's own TLS or signing certificate has expired, or the federation
    document it holds has. ``on_change(ok)`` is
    called whenever the verdict flips (and once at ``check()`` first run).
    """

    def __init__(
        self,
        store: Any,
        certs: dict[str, Path],
        *,
        interval: float = 5.0,
        peers: Callable[[], list[str]] = lambda: [],
        attempted: Callable[[str], bool] = lambda peer: True,
        on_change: Callable[[bool], None] = lambda ok: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        federation_expiry: Callable[[], datetime | None] = lambda: None,
    ) -> None:
        self.store = store
        self.federation_expiry = federation_expiry
        self.certs = certs
        self.interval = interval
        self.peers = peers
        self.attempted = attempted
        self.on_change = on_change
        self.clock = clock
        self._problems: list[str] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health", daemon=True)

    def _probe_write(self) -> str | None:
        try:
            with self.store.write() as tx:
                tx.probe(self.clock().isoformat(timespec="seconds"))
        except Exception as exc:
            return f"database cannot be written: {exc}"
        return None

    def evaluate(self) -> list[str]:
        """The list of problems now (empty: healthy)."""
        problems = []
        failed = self._probe_write()
        if failed:
            problems.append(failed)
        try:
            for row in self.store.origins():
                if row.frozen:
                    problems.append(f"origin {row.origin} is frozen: {row.frozen_reason}")
        except Exception as exc:
            problems.append(f"database cannot be read: {exc}")
        now = self.clock()
        for name, path in self.certs.items():
            not_after = cert_not_after(path)
            if not_after is None:
                problems.append(f"{name} certificate {path} cannot be read")
            elif not_after <= now:
                problems.append(f"{name} certificate expired at {not_after.isoformat()}")
        expires = self.federation_expiry()
        if expires is not None and expires <= now:
            problems.append(f"federation document expired at {expires.isoformat()}")
        return problems

    def check(self) -> list[str]:
        """Evaluate now, record the verdict and tell ``on_change`` when it flipped."""
        problems = self.evaluate()
        with self._lock:
            before = self._problems
            self._problems = problems
        if before is None or bool(before) != bool(problems):
            if problems:
                log.error("health: NOT_SERVING: %s", "; ".join(problems))
            elif before:
                log.warning("health: SERVING again")
            self.on_change(not problems)
        return problems

    def healthy(self) -> tuple[bool, list[str]]:
        with self._lock:
            problems = list(self._problems or [])
        return not problems, problems

    def ready(self) -> tuple[bool, list[str]]:
        """Healthy, and a first sync round has run with each peer (reached or not)."""
        ok, problems = self.healthy()
        waiting = [f"no sync round with {p} yet" for p in self.peers() if not self.attempted(p)]
        return ok and not waiting, problems + waiting

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:
                log.exception("health evaluation failed")


# ------------------------------------------------------------------ HTTP


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged (the access log would drown everything else)."""


class ObserveServer:
    """``/metrics``, ``/healthz`` and ``/readyz`` over HTTP on one address."""

    def __init__(
        self, host: str, port: int, metrics: NodeMetrics, health: HealthMonitor | None
    ) -> None:
        self.health = health
        self._metrics_app = make_wsgi_app(metrics.registry)
        self._server = make_server(
            host, port, self._app, ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self._server.daemon_threads = True
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-http", daemon=True
        )

    def _app(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in ("/healthz", "/readyz") and self.health is not None:
            ok, problems = self.health.healthy() if path == "/healthz" else self.health.ready()
            body = json.dumps({"status": "ok" if ok else "fail", "problems": problems}).encode()
            start_response(
                "200 OK" if ok else "503 Service Unavailable",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return self._metrics_app(environ, start_response)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever, which must be running
            self._server.shutdown()
        self._server.server_close()


# ------------------------------------------------------------------ logs


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then any ``extra`` fields."""

    def __init__(self) -> None:
        from pythonjsonlogger.json import JsonFormatter

        super().__init__()
        self._inner = JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )
        self._inner.formatTime = self._time  # type: ignore[method-assign]

    @staticmethod
    def _time(record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def format(self, record: logging.LogRecord) -> str:
        return self._inner.format(record)


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Route every logger to stderr in one format: ``json`` lines or ``text``."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonLineFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)

    def _uncaught(args: threading.ExceptHookArgs) -> None:
        """A thread's uncaught exception: one log record (one JSON line), not a raw traceback."""
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        logging.getLogger("brandex").error(
            "uncaught exception in thread %s",
            name,
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),  # type: ignore[arg-type]
        )

    threading.excepthook = _uncaught
