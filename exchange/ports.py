"""Loopback ports chosen at run time, for the demo, the tests and the benches.

By default the kernel picks a free port (bind to port 0). That port comes from the
kernel's ephemeral range, the same range every outgoing connection and every other
bind-to-0 draws from: once a node stops, its port may be handed to anyone before the
node restarts on it. Two test workers running at once made that happen (a restarted
node found its port taken and exited 2).

``BRANDEX_PORT_RANGE=LO-HI`` therefore makes this process hand out ports from that
range only, each at most once until the range wraps. The test suite gives each pytest
worker its own range below the ephemeral one (``tests/conftest.py``), so no other
process is handed a port a worker's node may come back to.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

ENV = "BRANDEX_PORT_RANGE"


def port_range(spec: str | None = None) -> range | None:
    """The ports ``BRANDEX_PORT_RANGE`` (or ``spec``) names, LO-HI inclusive; None when unset."""
    spec = os.environ.get(ENV, "") if spec is None else spec
    if not spec.strip():
        return None
    lo, sep, hi = spec.partition("-")
    try:
        low, high = int(lo), int(hi)
    except ValueError:
        raise ValueError(f"{ENV} must be LO-HI (two port numbers), not {spec!r}") from None
    if not sep or not 1024 <= low <= high <= 65535:
        raise ValueError(f"{ENV} must be LO-HI with 1024 <= LO <= HI <= 65535, not {spec!r}")
    return range(low, high + 1)


def _walk(ports: range) -> Iterator[int]:
    """Every port of ``ports`` in turn, starting at an offset from the PID, so processes
    that inherit the same range (a bench a test starts) seldom walk the same ports."""
    start = os.getpid() * 7919 % len(ports)
    while True:
        for i in range(len(ports)):
            yield ports[(start + i) % len(ports)]


_cursor: tuple[range, Iterator[int]] | None = None


def port_free(host: str, port: int) -> bool:
    """True when nothing listens on ``host:port`` (bound the way a server binds it)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port nobody listens on now (from ``BRANDEX_PORT_RANGE`` when set)."""
    return free_ports(1)[0]


def free_ports(k: int, exclude: set[int] | frozenset[int] = frozenset()) -> list[int]:
    """``k`` distinct free loopback ports, none in ``exclude``."""
    global _cursor
    ports = port_range()
    if ports is None:
        return _kernel_ports(k, exclude)
    if _cursor is None or _cursor[0] != ports:
        _cursor = (ports, _walk(ports))
    chosen: list[int] = []
    for _ in range(2 * len(ports)):
        port = next(_cursor[1])
        if port not in exclude and port not in chosen and port_free("127.0.0.1", port):
            chosen.append(port)
            if len(chosen) == k:
                return chosen
    raise RuntimeError(f"{ENV}={os.environ.get(ENV)} has fewer than {k} free ports")


def _kernel_ports(k: int, exclude: set[int] | frozenset[int]) -> list[int]:
    """``k`` ports the kernel picks; the sockets are held until all are chosen, so one
    call never hands the same port to two listeners."""
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < k:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            held.append(s)
            port = s.getsockname()[1]
            if port not in exclude and port not in ports:
                ports.append(port)
    finally:
        for s in held:
            s.close()
    return ports
