"""A small TCP proxy the fault tests control: one link between two nodes.

A node's config names the proxy's port instead of the peer's, so every byte of
that link (TLS included, untouched) passes through here, and the test decides
what the link does:

* ``pass``: forward both ways (the default);
* ``pause``: a partition in which packets vanish: nothing is read or forwarded,
  open connections hang (the kernel buffers fill up), new ones are accepted but
  not connected onward; on ``pass`` everything carries on where it stopped;
* ``refuse``: a partition in which the far side is gone: open connections are
  reset and new ones are reset as soon as they arrive;
* ``garbage``: every new connection receives random bytes, then is closed.

It also counts the bytes forwarded in each direction and can call a function
the moment the downstream count (peer to node) crosses a threshold: the crash
tests use that to kill a receiving node at a chosen point of a sync stream.
"""

from __future__ import annotations

import contextlib
import random
import selectors
import socket
import struct
import threading
from collections.abc import Callable

__all__ = ["MODES", "TcpProxy"]

MODES = ("pass", "pause", "refuse", "garbage")
_CHUNK = 64 * 1024


def _reset(sock: socket.socket | None) -> None:
    """Close with an RST rather than a FIN: the peer sees 'connection reset'."""
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class TcpProxy:
    """Listens on 127.0.0.1 (port chosen by the OS) and forwards to ``target``.

    Args:
        target: ``host:port`` of the real peer.
        name: for messages only.
        seed: seeds the garbage bytes.
    """

    def __init__(self, target: str, *, name: str = "", seed: int = 0) -> None:
        host, _, port = target.rpartition(":")
        self.target = (host, int(port))
        self.name = name or target
        self._rng = random.Random(seed)
        self._mode = "pass"
        self._cond = threading.Condition()
        self._stopping = False
        self._conns: set[_Link] = set()
        self.bytes_up = 0  # node -> peer (requests)
        self.bytes_down = 0  # peer -> node (responses, entry streams)
        self.accepted = 0
        self.resets = 0
        self._trip: tuple[int, Callable[[], None]] | None = None
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.settimeout(0.1)  # so that stop() is noticed promptly
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(
            target=self._accept_loop, daemon=True, name=f"proxy-{self.port}"
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def mode(self) -> str:
        return self._mode

    def start(self) -> TcpProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self._listener.close()
        for link in list(self._conns):
            link.close(reset=True)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --------------------------------------------------------------- control

    def set_mode(self, mode: str) -> None:
        """Switch the link; ``refuse`` resets every open connection at once."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        with self._cond:
            self._mode = mode
            self._cond.notify_all()
            links = list(self._conns)
        if mode in ("refuse", "garbage"):
            for link in links:
                link.close(reset=True)

    def heal(self) -> None:
        self.set_mode("pass")

    def reset_counters(self) -> None:
        with self._cond:
            self.bytes_up = self.bytes_down = 0

    def trip_at(self, downstream_bytes: int, action: Callable[[], None] | None) -> None:
        """Call ``action`` once, from the forwarding thread, when ``bytes_down`` reaches
        ``downstream_bytes`` (counted from now). ``None`` disarms."""
        with self._cond:
            self._trip = (self.bytes_down + downstream_bytes, action) if action else None

    # -------------------------------------------------------------- plumbing

    def _wait_not_paused(self) -> str:
        with self._cond:
            self._cond.wait_for(lambda: self._mode != "pause" or self._stopping)
            return "stop" if self._stopping else self._mode

    def _accept_loop(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            self.accepted += 1
            mode = self._mode
            if mode == "refuse":
                self.resets += 1
                _reset(client)
                continue
            if mode == "garbage":
                with contextlib.suppress(OSError):
                    client.sendall(bytes(self._rng.getrandbits(8) for _ in range(4096)))
                _reset(client)
                continue
            link = _Link(self, client)
            with self._cond:
                self._conns.add(link)
            threading.Thread(target=link.run, daemon=True, name=f"proxy-link-{self.port}").start()

    def _count(self, down: bool, n: int) -> None:
        fire = None
        with self._cond:
            if down:
                self.bytes_down += n
                if self._trip is not None and self.bytes_down >= self._trip[0]:
                    fire, self._trip = self._trip[1], None
            else:
                self.bytes_up += n
        if fire is not None:
            fire()


class _Link:
    """One proxied connection: client (the node) <-> upstream (the peer)."""

    def __init__(self, proxy: TcpProxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream: socket.socket | None = None
        self._closed = threading.Event()

    def close(self, reset: bool = False) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if reset:
            self.proxy.resets += 1
            _reset(self.client)
            _reset(self.upstream)
        else:
            for s in (self.client, self.upstream):
                if s is not None:
                    with contextlib.suppress(OSError):
                        s.close()
        with self.proxy._cond:
            self.proxy._conns.discard(self)

    def _send(self, sock: socket.socket, data: bytes) -> bool:
        view = memoryview(data)
        while view:
            if self._closed.is_set():
                return False
            if self.proxy.mode == "pause" and self.proxy._wait_not_paused() != "pass":
                return False
            try:
                n = sock.send(view)
            except (TimeoutError, BlockingIOError):
                continue
            except OSError:
                return False
            view = view[n:]
        return True

    def run(self) -> None:
        try:
            # In a paused partition the connection is not even forwarded yet.
            if self.proxy._wait_not_paused() != "pass":
                self.close(reset=True)
                return
            try:
                self.upstream = socket.create_connection(self.proxy.target, timeout=10)
            except OSError:
                self.close(reset=True)
                return
            for s in (self.client, self.upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.settimeout(0.2)
            sel = selectors.DefaultSelector()
            sel.register(self.client, selectors.EVENT_READ, (self.upstream, False))
            sel.register(self.upstream, selectors.EVENT_READ, (self.client, True))
            while not self._closed.is_set():
                if self.proxy.mode != "pass":
                    if self.proxy._wait_not_paused() != "pass":
                        break
                    continue
                for key, _ in sel.select(0.1):
                    other, down = key.data
                    try:
                        data = key.fileobj.recv(_CHUNK)  # type: ignore[union-attr]
                    except (TimeoutError, BlockingIOError):
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        self.close()
                        return
                    if not self._send(other, data):
                        self.close(reset=True)
                        return
                    self.proxy._count(down, len(data))
            sel.close()
        finally:
            self.close(reset=self.proxy.mode in ("refuse", "garbage"))
