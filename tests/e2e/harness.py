"""Real node processes on 127.0.0.1 with ports chosen at run time, stopped by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from exchange._proto.brandex.v1 import entries_pb2, services_pb2, services_pb2_grpc
from exchange.core.checkpoint import parse_checkpoint_body
from exchange.core.note import parse_note
from exchange.demo.dataset import demo_records
from exchange.demo.federation import Member, ensure_pki, node_command, write_configs
from exchange.node.config import load_config
from exchange.node.identity import channel_credentials, load_anchors, open_channel
from exchange.ports import free_port

DEADLINE = float(os.environ.get("BRANDEX_TEST_DEADLINE", "180"))


def brandex(
    *args: str, config: Path | None = None, expect: int | None = None, timeout: float = 180
) -> subprocess.CompletedProcess:
    """Run the ``brandex`` CLI as a user would: a subprocess, ``config`` as BRANDEX_CONFIG.

    With ``expect``, any other exit code fails the test, showing the output.
    """
    env = dict(os.environ)
    env.pop("BRANDEX_CONFIG", None)
    if config is not None:
        env["BRANDEX_CONFIG"] = str(config)
    proc = subprocess.run(
        [sys.executable, "-m", "exchange.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if expect is not None and proc.returncode != expect:
        raise AssertionError(
            f"brandex {' '.join(args)} -> {proc.returncode}, expected {expect}\n"
            f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
        )
    return proc


def brandex_into_closed_pipe(
    *args: str, config: Path | None = None, timeout: float = 180
) -> subprocess.CompletedProcess:
    """Run the CLI with stdout a pipe nobody reads (``brandex ... | head -0``).

    The read end is closed before the process starts, so its first write fails
    with EPIPE whatever the timing.
    """
    env = dict(os.environ)
    env.pop("BRANDEX_CONFIG", None)
    if config is not None:
        env["BRANDEX_CONFIG"] = str(config)
    r, w = os.pipe()
    os.close(r)
    try:
        return subprocess.run(
            [sys.executable, "-m", "exchange.cli.main", *args],
            env=env,
            stdout=w,
            stderr=subprocess.PIPE,
            text=True,
            timeout=timeout,
        )
    finally:
        os.close(w)


def wait_until(predicate: Callable[[], Any], timeout: float = DEADLINE, what: str = "") -> Any:
    """Poll a condition (never a fixed sleep) until it holds or the deadline passes."""
    end = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < end:
        try:
            value = predicate()
            if value:
                return value
        except (grpc.RpcError, OSError) as exc:
            last_exc = exc
        time.sleep(0.05)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what or predicate}"
        + (f" (last error: {last_exc})" if last_exc else "")
    )


_DEMO_RECORDS: dict[str, list[dict]] = {}


def _demo_records() -> dict[str, list[dict]]:
    if not _DEMO_RECORDS:
        _DEMO_RECORDS.update(demo_records())
    return _DEMO_RECORDS


@dataclass
class Federation:
    """A set of node configs sharing one PKI under ``root``."""

    root: Path
    members: dict[str, Member]
    sync_interval: float = 30.0
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    configs: dict[str, Path] = field(default_factory=dict)
    certs: Path | None = None
    issued: dict[str, int] = field(default_factory=dict)
    _reads: dict[str, grpc.Channel] = field(default_factory=dict, repr=False)

    @classmethod
    def create(
        cls,
        root: Path,
        regions: Mapping[str, str],
        topology: Mapping[str, Iterable[str]],
        *,
        sync_interval: float = 30.0,
        certs: Path | None = None,
    ) -> Federation:
        members = {
            n: Member(n, r, free_port(), tuple(topology.get(n, ()))) for n, r in regions.items()
        }
        certs = certs or root / "certs"
        fed = cls(root, members, sync_interval, certs=certs)
        ensure_pki(certs, list(members.values()))
        fed.configs = write_configs(
            list(members.values()),
            config_dir=root / "nodes",
            certs_dir=certs,
            db_dir=root / "db",
            sync_interval=sync_interval,
        )
        return fed

    def address(self, name: str) -> str:
        return f"127.0.0.1:{self.members[name].port}"

    def start(self, name: str, wait: bool = True) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
        proc = subprocess.Popen(
            node_command(self.configs[name]),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
        )
        self.procs[name] = proc
        if wait:
            self.wait_ready(name)
        return proc

    def start_all(self) -> None:
        for n in self.members:
            self.start(n, wait=False)
        for n in self.members:
            self.wait_ready(n)

    def wait_ready(self, name: str) -> None:
        stub = health_pb2_grpc.HealthStub(self.channel(name))

        def serving() -> bool:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise AssertionError(
                    f"node {name} exited with {proc.returncode}:\n" + self.log_text(name)[-3000:]
                )
            r = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            return r.status == health_pb2.HealthCheckResponse.SERVING

        wait_until(serving, what=f"{name} to serve")

    def log_text(self, name: str) -> str:
        p = self.root / f"{name}.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def stop(self, name: str, sig: int = signal.SIGTERM) -> int:
        self._drop_reader(name)
        proc = self.procs.pop(name)
        if proc.poll() is None:
            os.kill(proc.pid, sig)
        return proc.wait(timeout=60)

    def kill(self, name: str) -> None:
        self.stop(name, signal.SIGKILL)

    def stop_all(self) -> None:
        """SIGTERM every node first, then reap them (shutdown graces overlap)."""
        procs = dict(self.procs)
        for n in list(self._reads):
            self._drop_reader(n)
        for proc in procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        for n, proc in procs.items():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=60)
            self.procs.pop(n, None)

    def add_peer(self, name: str, address: str, region: str) -> None:
        """Append a peer (e.g. a hostile test server) to ``name``'s config; read at start."""
        with open(self.configs[name], "a", encoding="utf-8") as f:
            f.write(f'\n[[peers]]\naddress = "{address}"\nregion = "{region}"\n')

    def _reader(self, name: str) -> grpc.Channel:
        """One reused channel per node for the polling helpers (no handshake per poll)."""
        ch = self._reads.get(name)
        if ch is None:
            ch = self._reads[name] = self.channel(name)
        return ch

    def _drop_reader(self, name: str) -> None:
        ch = self._reads.pop(name, None)
        if ch is not None:
            ch.close()

    def database(self, name: str) -> Path:
        return load_config(self.configs[name]).database

    def status(self, name: str) -> services_pb2.NodeStatus:
        stub = services_pb2_grpc.LogServiceStub(self._reader(name))
        return stub.GetNodeStatus(services_pb2.NodeStatusRequest(), timeout=10)

    def heads(self, name: str) -> dict[str, tuple[int, bytes]]:
        """origin -> (size, root) as the node's signed checkpoints state them."""
        stub = services_pb2_grpc.LogServiceStub(self._reader(name))
        resp = stub.ListOrigins(services_pb2.ListOriginsRequest(), timeout=10)
        out = {}
        for o in resp.origins:
            cp = parse_checkpoint_body(parse_note(o.checkpoint).text)
            assert cp.origin == o.origin and cp.size == o.size, (o.origin, cp, o.size)
            out[o.origin] = (cp.size, cp.root_hash)
        return out

    def records(self, name: str, count: int) -> list[entries_pb2.Recognition]:
        """The next ``count`` valid, not yet issued recognitions for member ``name``."""
        base = _demo_records()[name]
        first = self.issued.get(name, 0)
        out = []
        for n in range(first, first + count):
            rec = dict(base[n % len(base)])
            if n >= len(base):
                lap = n // len(base)
                rec["record_id"] = f"{rec['record_id']}-r{lap}"
                rec["certificate_no"] = f"{rec['certificate_no']}-r{lap}"
            out.append(entries_pb2.Recognition(**rec))
        self.issued[name] = first + count
        return out

    def issue(self, name: str, count: int, chunk: int = 1000) -> int:
        """Issue ``count`` new recognitions on ``name`` through AdminService; returns its size."""
        self.issue_records(name, self.records(name, count), chunk)
        return self.sizes(name)[self.origin(name)]

    def issue_records(self, name: str, records: list, chunk: int = 1000) -> None:
        """IssueBatch ``records`` on ``name`` in chunks; every one must be new."""
        with self.channel(name) as ch:
            stub = services_pb2_grpc.AdminServiceStub(ch)
            for i in range(0, len(records), chunk):
                part = records[i : i + chunk]
                resp = stub.IssueBatch(services_pb2.IssueBatchRequest(records=part), timeout=600)
                assert resp.added == len(part), resp

    def channel(
        self,
        name: str,
        *,
        as_: str | None = None,
        cert: Path | None = None,
        key: Path | None = None,
    ) -> grpc.Channel:
        """A channel to ``name`` presenting ``as_``'s operator certificate (default: own)."""
        cfg = load_config(self.configs[as_ or name])
        anchors_pem, _ = load_anchors(cfg.anchors)
        creds = channel_credentials(cert or cfg.operator_cert, key or cfg.operator_key, anchors_pem)
        return open_channel(self.address(name), creds)

    def log_stub(self, name: str, **kw: Any) -> services_pb2_grpc.LogServiceStub:
        return services_pb2_grpc.LogServiceStub(self.channel(name, **kw))

    def served_log(self, name: str) -> tuple[list[bytes], str]:
        """A node's own log as it serves it: every envelope and the signed checkpoint."""
        stub = self.log_stub(name)
        state = stub.GetCheckpoint(
            services_pb2.GetCheckpointRequest(origin=self.origin(name)), timeout=10
        )
        envs: list[bytes] = []
        for batch in stub.GetEntries(
            services_pb2.GetEntriesRequest(origin=state.origin, start=0, end=state.size),
            timeout=30,
        ):
            envs.extend(batch.envelopes)
        assert len(envs) == state.size
        return envs, state.checkpoint

    def admin(self, name: str, **kw: Any) -> services_pb2_grpc.AdminServiceStub:
        return services_pb2_grpc.AdminServiceStub(self.channel(name, **kw))

    def registry(self, name: str, **kw: Any) -> services_pb2_grpc.RegistryServiceStub:
        return services_pb2_grpc.RegistryServiceStub(self.channel(name, **kw))

    def sizes(self, name: str) -> dict[str, int]:
        stub = services_pb2_grpc.LogServiceStub(self._reader(name))
        resp = stub.ListOrigins(services_pb2.ListOriginsRequest(), timeout=10)
        return {o.origin: o.size for o in resp.origins}

    def origin(self, name: str) -> str:
        return f"yrd/{self.members[name].region}"
