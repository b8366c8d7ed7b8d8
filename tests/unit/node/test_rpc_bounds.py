"""Bounded answers: GetEntries batches by bytes and serves at most a fixed range per
call, and the node's own sync client asks for long ranges in pieces."""

from __future__ import annotations

from types import SimpleNamespace

import grpc
import pytest

from exchange._proto.brandex.v1 import services_pb2
from exchange.node import requests, services
from exchange.node.identity import Caller
from exchange.node.sync import GrpcPeer


class _Aborted(Exception):
    pass


class _Context:
    def is_active(self) -> bool:
        return True

    def abort(self, code, details):
        raise _Aborted(code, details)

    def auth_context(self) -> dict:
        return {"x509_pem_cert": [b"member"]}

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"

    def add_callback(self, fn) -> bool:
        return True


def _service(envelopes: list[bytes]) -> services.LogService:
    store = SimpleNamespace(
        origin=lambda o: SimpleNamespace(size=len(envelopes)) if o == "yrd/330000" else None,
        envelopes=lambda o, a, b: envelopes[a:b],
    )
    ledger = SimpleNamespace(store=store, federation="yrd", region="330000")
    callers = SimpleNamespace(caller=lambda ctx: Caller("340000", None, "member 340000"))
    node = services.NodeContext(ledger=ledger, callers=callers, today=lambda: None)
    return services.LogService(node)


def _entries(svc, **kw) -> list[services_pb2.EntryBatch]:
    req = services_pb2.GetEntriesRequest(origin="yrd/330000", **kw)
    return list(svc.GetEntries(req, _Context()))


def test_batches_are_bounded_by_bytes_as_well_as_count() -> None:
    envs = [bytes([i % 256]) * 300_000 for i in range(10)]  # 3 MB in all
    batches = _entries(_service(envs), start=0, end=10, batch_size=5000)
    assert len(batches) > 1
    for b in batches:
        assert b.envelopes
        assert sum(map(len, b.envelopes)) <= services.MAX_BATCH_BYTES
    got = [e for b in batches for e in b.envelopes]
    assert got == envs
    starts = [b.start for b in batches]
    assert starts == sorted(starts) and starts[0] == 0


def test_one_envelope_over_the_byte_budget_still_travels_alone() -> None:
    envs = [b"x" * (services.MAX_BATCH_BYTES + 1), b"y"]
    batches = _entries(_service(envs), start=0, end=2)
    assert [list(b.envelopes) for b in batches] == [[envs[0]], [envs[1]]]


def test_range_per_call_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(requests, "MAX_ENTRIES_PER_CALL", 7)
    svc = _service([b"e%d" % i for i in range(20)])
    with pytest.raises(_Aborted) as info:
        _entries(svc, start=0, end=20)
    assert info.value.args[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert "at most 7" in info.value.args[1]
    # Open-ended (end = 0): served up to the cap; the caller asks again from there.
    got = [e for b in _entries(svc, start=3) for e in b.envelopes]
    assert got == [b"e%d" % i for i in range(3, 10)]
    assert [e for b in _entries(svc, start=0, end=7) for e in b.envelopes] == [
        b"e%d" % i for i in range(7)
    ]


class _FakeLog:
    def __init__(self, envs: list[bytes]) -> None:
        self.envs = envs
        self.calls: list[tuple[int, int]] = []

    def GetEntries(self, req, timeout):
        assert req.end - req.start <= requests.MAX_ENTRIES_PER_CALL
        self.calls.append((req.start, req.end))
        return _Stream(
            [
                services_pb2.EntryBatch(origin=req.origin, start=i, envelopes=self.envs[i : i + 2])
                for i in range(req.start, req.end, 2)
            ]
        )


class _Stream(list):
    def cancel(self) -> None:
        pass


def test_sync_client_fetches_long_ranges_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(requests, "MAX_ENTRIES_PER_CALL", 6)
    envs = [b"e%d" % i for i in range(20)]
    peer = GrpcPeer("peer", grpc.insecure_channel("127.0.0.1:1"), timeout=5, batch_size=2)
    fake = peer._log = _FakeLog(envs)
    got = [e for _, batch in peer.get_entries("yrd/330000", 2, 20) for e in batch]
    assert got == envs[2:20]
    assert fake.calls == [(2, 8), (8, 14), (14, 20)]


def test_watch_streams_track_every_member_of_a_national_federation():
    """Without a document a peer is capped at MAX_WATCHED_ORIGINS; with one, every member
    (3,200 at national scale) fits, and a small federation keeps the default cap."""
    assert requests.watch_limit(0) == requests.MAX_WATCHED_ORIGINS
    assert requests.watch_limit(7) == requests.MAX_WATCHED_ORIGINS
    assert requests.watch_limit(3200) == 3200
