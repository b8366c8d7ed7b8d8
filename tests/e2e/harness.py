"""Real node processes on 127.0.0.1 with ports chosen at run time, stopped by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from exchange._proto.brandex.v1 import services_pb2, services_pb2_grpc
from exchange.demo.federation import Member, ensure_pki, write_configs
from exchange.node.config import load_config
from exchange.node.identity import channel_credentials, load_anchors, open_channel

DEADLINE = float(os.environ.get("BRANDEX_TEST_DEADLINE", "90"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


@dataclass
class Federation:
    """A set of node configs sharing one PKI under ``root``."""

    root: Path
    members: dict[str, Member]
    sync_interval: float = 30.0
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    configs: dict[str, Path] = field(default_factory=dict)

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
        fed = cls(root, members, sync_interval)
        certs = certs or root / "certs"
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
            [sys.executable, "-m", "exchange.cli.main", "node", "run", str(self.configs[name])],
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
        proc = self.procs.pop(name)
        if proc.poll() is None:
            os.kill(proc.pid, sig)
        return proc.wait(timeout=60)

    def kill(self, name: str) -> None:
        self.stop(name, signal.SIGKILL)

    def stop_all(self) -> None:
        for n in list(self.procs):
            try:
                self.stop(n)
            except subprocess.TimeoutExpired:
                self.stop(n, signal.SIGKILL)

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

    def admin(self, name: str, **kw: Any) -> services_pb2_grpc.AdminServiceStub:
        return services_pb2_grpc.AdminServiceStub(self.channel(name, **kw))

    def registry(self, name: str, **kw: Any) -> services_pb2_grpc.RegistryServiceStub:
        return services_pb2_grpc.RegistryServiceStub(self.channel(name, **kw))

    def sizes(self, name: str) -> dict[str, int]:
        resp = self.log_stub(name).ListOrigins(services_pb2.ListOriginsRequest(), timeout=10)
        return {o.origin: o.size for o in resp.origins}

    def origin(self, name: str) -> str:
        return f"yrd/{self.members[name].region}"
