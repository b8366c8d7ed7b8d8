"""What one caller may take of a node: stream slots and request rates, per client certificate.

A node serves RPCs from a fixed pool of worker threads, and a server-streaming
RPC holds its worker for as long as the stream is open. ``StreamSlots`` caps the
open streams per client certificate and in total, so streams never hold more
than a fraction of the pool and unary calls (the operator's writes, staff
reads) always find a free worker. Callers are told apart by the SHA-256 of the
certificate they presented (the TLS layer already verified it).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

import grpc

from exchange.node.errors import ResourceExhausted

__all__ = [
    "MAX_STREAMS",
    "MAX_STREAMS_PER_CLIENT",
    "RPC_WORKERS",
    "ResourceExhausted",
    "StreamSlots",
    "TokenBuckets",
    "client_key",
]

RPC_WORKERS = 64  # the server's worker threads
MAX_STREAMS = RPC_WORKERS // 2  # open streams in total: half the pool at most
MAX_STREAMS_PER_CLIENT = 4  # a peer's watch stream and its syncs of up to 3 origins at once


def client_key(context: grpc.ServicerContext) -> str:
    """The SHA-256 (hex) of the client certificate, or of the peer address without one."""
    pems = context.auth_context().get("x509_pem_cert") or []
    raw = pems[0] if pems else (context.peer() or "").encode()
    return hashlib.sha256(raw).hexdigest()


class StreamSlots:
    """Counting slots for open streams, per client and in total."""

    def __init__(self, total: int = MAX_STREAMS, per_client: int = MAX_STREAMS_PER_CLIENT) -> None:
        self.total = total
        self.per_client = per_client
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def open(self, context: grpc.ServicerContext, what: str) -> Callable[[], None]:
        """Take a slot for this RPC or raise ``ResourceExhausted`` at once.

        Returns the release function (idempotent); it is also registered as the
        RPC's termination callback, so a slot is never leaked by a cancelled stream.
        """
        key = client_key(context)
        with self._lock:
            mine = self._held.get(key, 0)
            if mine >= self.per_client:
                raise ResourceExhausted(
                    f"{what}: this client certificate already holds {mine} open streams "
                    f"(at most {self.per_client} per client); close one first"
                )
            if sum(self._held.values()) >= self.total:
                raise ResourceExhausted(
                    f"{what}: the node serves at most {self.total} open streams; retry later",
                    retry_after_ms=1000,
                )
            self._held[key] = mine + 1
        done = threading.Event()

        def release() -> None:
            with self._lock:
                if done.is_set():
                    return
                done.set()
                left = self._held.get(key, 0) - 1
                if left > 0:
                    self._held[key] = left
                else:
                    self._held.pop(key, None)

        context.add_callback(release)
        return release

    def held(self) -> int:
        with self._lock:
            return sum(self._held.values())


class TokenBuckets:
    """A token bucket per client certificate: ``rate`` requests per second, ``burst`` at once."""

    def __init__(self, rate: float, burst: float, *, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str, what: str) -> None:
        """Spend one token of ``key``'s bucket or raise ``ResourceExhausted`` with a hint."""
        if self.rate <= 0:
            return
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                if len(self._buckets) > 10_000:  # full buckets carry no state: forget them
                    self._prune(now)
                return
            self._buckets[key] = (tokens, now)
        wait_ms = max(1, int((1.0 - tokens) / self.rate * 1000 + 0.999))
        raise ResourceExhausted(
            f"{what}: rate limit of {self.rate:g} requests/s (burst {self.burst:g}) per client "
            f"certificate exceeded; retry after {wait_ms} ms",
            retry_after_ms=wait_ms,
        )

    def _prune(self, now: float) -> None:
        for k, (tokens, at) in list(self._buckets.items()):
            if tokens + (now - at) * self.rate >= self.burst:
                del self._buckets[k]
