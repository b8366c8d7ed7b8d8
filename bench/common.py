"""Shared bench plumbing: real node processes, raw crypto rates, a JSON line out."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nacl.signing import SigningKey

from exchange._proto.brandex.v1 import entries_pb2, services_pb2, services_pb2_grpc
from exchange.core.ed25519 import VerifyKey
from exchange.demo.dataset import demo_records
from exchange.demo.federation import Member, ensure_pki, node_command, write_configs
from exchange.node.config import load_config
from exchange.node.identity import channel_credentials, load_anchors, open_channel
from exchange.ports import free_ports

ROOT = Path(__file__).resolve().parents[1]


def emit(name: str, **figures: Any) -> None:
    print(json.dumps({"bench": name, **figures}, ensure_ascii=False), flush=True)


def raw_sign_rate(seconds: float = 1.0) -> float:
    key = SigningKey(b"\x01" * 32)
    msg = b"x" * 600
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(100):
            key.sign(msg)
        n += 100
    return n / (time.perf_counter() - t0)


def raw_verify_rate(
    seconds: float = 1.0,
    clock: Callable[[], float] = time.perf_counter,
    verifier: str = "node",
) -> float:
    """Ed25519 verifies per second of ``clock``: wall time by default; with
    ``time.process_time``, per second of this process's CPU (on a loaded machine
    the wall-clock rate measures the share of a core we get, that the cost).

    ``verifier``: "node" is the node's rule (``exchange.core.ed25519``, the one
    every entry goes through), "pynacl" is libsodium through PyNaCl (the
    yardstick the earlier figures used; the same accept set, more CPU).
    """
    key = SigningKey(b"\x01" * 32)
    msg = b"x" * 600
    sig = key.sign(msg).signature
    vk = VerifyKey(bytes(key.verify_key)) if verifier == "node" else key.verify_key
    n, t0 = 0, clock()
    while clock() - t0 < seconds:
        for _ in range(100):
            vk.verify(msg, sig)
        n += 100
    return n / (clock() - t0)


def wait(cond: Callable[[], Any], timeout: float, what: str, step: float = 0.02) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            v = cond()
            if v:
                return v
        except grpc.RpcError:
            pass
        time.sleep(step)
    raise RuntimeError(f"timed out waiting for {what}")


def proc_mb(path: str, field: str) -> float:
    """A ``field: N kB`` line of a /proc file (status, smaps_rollup, meminfo), in MB."""
    for line in Path(path).read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Nodes:
    """A few real node processes for a benchmark (ports chosen at run time)."""

    def __init__(
        self,
        root: Path,
        regions: dict[str, str],
        topology: dict[str, list[str]],
        sync_interval: float = 30.0,
        verify_workers: int = 2,
    ) -> None:
        self.root = root
        ports = free_ports(len(regions))
        self.members = {
            n: Member(n, r, port, tuple(topology.get(n, ())))
            for (n, r), port in zip(regions.items(), ports, strict=True)
        }
        ensure_pki(root / "certs", list(self.members.values()))
        self.configs = write_configs(
            list(self.members.values()),
            config_dir=root / "nodes",
            certs_dir=root / "certs",
            db_dir=root / "db",
            sync_interval=sync_interval,
            verify_workers=verify_workers,
        )
        self.procs: dict[str, subprocess.Popen] = {}
        self._channels: dict[str, grpc.Channel] = {}

    def start_all(self, wave: int = 0) -> None:
        """Start every node; ``wave`` > 0 starts that many at a time, each wave once the
        one before serves: 100 node processes started at once on two cores put the
        load average past 1,000 and left some unready after the 300-s wait."""
        names = list(self.members)
        step = wave if wave > 0 else len(names)
        for i in range(0, len(names), step):
            for name in names[i : i + step]:
                self.start(name, wait=False)
            for name in names[i : i + step]:
                self.wait_ready(name)

    def start(self, name: str, wait: bool = True) -> None:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115
        self.procs[name] = subprocess.Popen(
            node_command(self.configs[name], "--log-level", "WARNING"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if wait:
            self.wait_ready(name)

    def wait_listening(self, name: str) -> None:
        """Return as soon as the node's port accepts TCP connections.

        A node binds its port just before its sync engine starts, so this marks
        the start of its first sync to within milliseconds, on the early side. A
        gRPC health check cannot: a channel that found the port closed waits out
        a reconnect backoff of up to a second before it asks again.
        """

        def accepting() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.members[name].port), 1).close()
            except OSError:
                return False
            return True

        wait(accepting, 120, f"{name} listening", 0.002)

    def wait_ready(self, name: str) -> None:
        stub = health_pb2_grpc.HealthStub(self.channel(name))
        wait(
            lambda: (
                stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status
                == health_pb2.HealthCheckResponse.SERVING
            ),
            300,  # dozens of nodes starting at once on two busy cores
            f"{name} ready",
            0.1,
        )

    def channel(self, name: str) -> grpc.Channel:
        if name not in self._channels:
            cfg = load_config(self.configs[name])
            pem, _ = load_anchors(cfg.anchors)
            self._channels[name] = open_channel(
                cfg.listen, channel_credentials(cfg.operator_cert, cfg.operator_key, pem)
            )
        return self._channels[name]

    def size(self, name: str, origin: str) -> int:
        try:
            resp = services_pb2_grpc.LogServiceStub(self.channel(name)).GetCheckpoint(
                services_pb2.GetCheckpointRequest(origin=origin), timeout=10
            )
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
                return 0
            raise
        return resp.size

    def indexed(self, name: str, origin: str) -> int:
        """How many of ``origin``'s entries ``name``'s registry (search, status) reflects."""
        st = services_pb2_grpc.LogServiceStub(self.channel(name)).GetNodeStatus(
            services_pb2.NodeStatusRequest(), timeout=10
        )
        return next((o.indexed for o in st.origins if o.origin == origin), 0)

    def rss_mb(self, name: str, field: str = "VmRSS") -> float:
        """Resident memory of a node. ``VmRSS`` counts the database pages the node
        reads through its memory map (the OS page cache, shared and reclaimable);
        ``RssAnon`` is the node's own memory alone."""
        return proc_mb(f"/proc/{self.procs[name].pid}/status", field)

    def pss_mb(self, name: str) -> float:
        """A node's proportional share of physical memory: pages it shares with the
        other nodes (the interpreter, libraries) divided among them, so the nodes'
        figures add up to what they take together, which VmRSS does not."""
        return proc_mb(f"/proc/{self.procs[name].pid}/smaps_rollup", "Pss")

    def stop(self) -> None:
        for ch in self._channels.values():
            ch.close()
        for p in self.procs.values():
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)


_BASE: dict[str, list[dict]] = {}


def synthetic_records(
    n: int, issuer: str = "zhejiang", offset: int = 0
) -> list[entries_pb2.Recognition]:
    """n valid records for ``issuer``, cycling the demo set with unique ids."""
    base = _BASE.setdefault(issuer, demo_records()[issuer])
    out = []
    for i in range(offset, offset + n):
        r = dict(base[i % len(base)])
        r["record_id"] = f"b{i:07d}"
        r["certificate_no"] = f"BENCH-{i:07d}"
        if i >= len(base):
            r["brand_name"] = r["brand_name"] + "甲乙丙丁戊己庚辛壬癸"[i % 10]
        out.append(entries_pb2.Recognition(**r))
    return out


def issue_all(
    nodes: Nodes, name: str, records: list, chunk: int = 5000, in_flight: int = 2
) -> float:
    """IssueBatch over mTLS with a couple of calls in flight, as `brandex import` does:
    the node validates and signs one batch while it stores the previous one."""
    stub = services_pb2_grpc.AdminServiceStub(nodes.channel(name))
    t0 = time.perf_counter()
    pending: list = []
    for i in range(0, len(records), chunk):
        pending.append(
            stub.IssueBatch.future(
                services_pb2.IssueBatchRequest(records=records[i : i + chunk]), timeout=600
            )
        )
        if len(pending) >= in_flight:
            pending.pop(0).result()
    for f in pending:
        f.result()
    return time.perf_counter() - t0
