"""Per-client limits: stream slots (per certificate and in total) and token buckets."""

from __future__ import annotations

import pytest

from exchange.node.errors import ResourceExhausted
from exchange.node.limits import StreamSlots


class _Context:
    def __init__(self, cert: bytes) -> None:
        self.cert = cert
        self.callbacks: list = []

    def auth_context(self) -> dict:
        return {"x509_pem_cert": [self.cert]}

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"

    def add_callback(self, fn) -> bool:
        self.callbacks.append(fn)
        return True


def test_stream_slots_cap_each_certificate_and_the_total() -> None:
    slots = StreamSlots(total=5, per_client=2)
    a = [slots.open(_Context(b"A"), "Watch") for _ in range(2)]
    with pytest.raises(ResourceExhausted, match="per client"):
        slots.open(_Context(b"A"), "Watch")
    b = [slots.open(_Context(b"B"), "Watch") for _ in range(2)]
    slots.open(_Context(b"C"), "Watch")
    with pytest.raises(ResourceExhausted, match="at most 5 open streams") as info:
        slots.open(_Context(b"D"), "Watch")
    assert info.value.retry_after_ms
    assert slots.held() == 5
    a[0]()
    a[0]()  # releasing twice (handler and termination callback) counts once
    assert slots.held() == 4
    slots.open(_Context(b"A"), "Watch")
    for release in b:
        release()
    assert slots.held() == 3


def test_the_termination_callback_releases_the_slot() -> None:
    slots = StreamSlots(total=1, per_client=1)
    ctx = _Context(b"A")
    slots.open(ctx, "Watch")
    with pytest.raises(ResourceExhausted):
        slots.open(_Context(b"A"), "Watch")
    for fn in ctx.callbacks:  # what gRPC does when the RPC ends (cancelled or not)
        fn()
    slots.open(_Context(b"A"), "Watch")


def test_token_bucket_refuses_beyond_the_burst_with_a_retry_hint() -> None:
    from exchange.node.limits import TokenBuckets

    now = [0.0]
    buckets = TokenBuckets(rate=2.0, burst=3.0, clock=lambda: now[0])
    for _ in range(3):
        buckets.take("a", "Search")
    with pytest.raises(ResourceExhausted, match="retry after 500 ms") as info:
        buckets.take("a", "Search")
    assert info.value.retry_after_ms == 500
    buckets.take("b", "Search")  # another certificate has its own bucket
    now[0] = 0.5  # one token back
    buckets.take("a", "Search")
    with pytest.raises(ResourceExhausted):
        buckets.take("a", "Search")
    TokenBuckets(rate=0, burst=1).take("a", "Search")  # rate 0: no limit
