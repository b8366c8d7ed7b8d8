"""The node's federation chain: persisted across restarts, evidence kept, witness sets bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from exchange.core import federation as fd
from exchange.core.errors import BrandexError, ConflictError, VerificationError
from exchange.core.overlay import MAX_WITNESSES
from exchange.core.policy import default_policy
from exchange.node.governance import Governance
from exchange.store import Store

NOW = datetime.now(UTC).replace(microsecond=0)
REGIONS = {
    "shanghai": "310000", "jiangsu": "320000", "zhejiang": "330000", "anhui": "340000",
    "jiangxi": "360000", "henan": "410000", "wenzhou": "330300", "luyi": "411628",
}  # fmt: skip
KEYS = {n: SigningKey.generate() for n in REGIONS}


def _member(name: str) -> fd.Member:
    return fd.Member(
        name, REGIONS[name], (f"127.0.0.1:{7000 + len(name)}",), frozenset(), frozenset(),
        frozenset(), bytes(KEYS[name].verify_key),
    )  # fmt: skip


def _signed(raw: bytes, names) -> bytes:
    for n in names:
        raw = fd.sign_document(raw, KEYS[n])
    return raw


def _genesis() -> bytes:
    body = fd.genesis_body(
        "yrd",
        [_member(n) for n in REGIONS],
        anchors=[],
        threshold=3,
        witness_policy=default_policy({}, 1),
        issued_at=NOW - timedelta(days=1),
        expires_at=NOW + timedelta(days=300),
    )
    return _signed(fd.unsigned_document(body), ["anhui", "henan", "jiangsu"])


def test_chain_survives_a_restart_and_keeps_evidence(tmp_path: Path) -> None:
    genesis = _genesis()
    store = Store(tmp_path / "node.db")
    gov = Governance(store, genesis, "yrd")
    v1 = gov.latest
    v2 = _signed(
        fd.unsigned_document(fd.propose(v1, NOW, remove=["luyi"])), ["anhui", "henan", "jiangsu"]
    )
    seen = []
    gov.listeners.append(seen.append)
    assert gov.publish(v2).version == 2 and [d.version for d in seen] == [2]
    assert gov.left_at("411628") == NOW
    fork = _signed(
        fd.unsigned_document(fd.propose(v1, NOW, threshold=2)), ["anhui", "henan", "jiangsu"]
    )
    with pytest.raises(ConflictError, match="fork"):
        gov.publish(fork)
    short = _signed(fd.unsigned_document(fd.propose(gov.latest, NOW)), ["anhui"])
    assert gov.offer([short], "127.0.0.1:9") == []
    kinds = sorted((e["kind"], e["source"]) for e in gov.evidence())
    assert kinds == [("fork", "operator"), ("invalid", "127.0.0.1:9")]
    store.close()

    again = Governance(Store(tmp_path / "node.db"), genesis, "yrd")
    assert again.latest.version == 2 and again.latest.digest == fd.parse_document(v2).digest
    with pytest.raises(BrandexError, match="this node is in"):
        Governance(Store(tmp_path / "other.db"), genesis, "other")


def test_witness_sets_are_bounded_and_never_the_origin(tmp_path: Path) -> None:
    gov = Governance(Store(tmp_path / "node.db"), _genesis(), "yrd")
    for region in REGIONS.values():
        ws = gov.witnesses_of(region)
        assert ws is not None and 3 <= len(ws) <= MAX_WITNESSES
        assert f"yrd/{region}/witness" not in ws
    assert gov.witnesses_of("350000") is None  # not a member


def test_expired_successor_refused_with_evidence(tmp_path: Path) -> None:
    gov = Governance(Store(tmp_path / "node.db"), _genesis(), "yrd")
    stale = fd.propose(gov.latest, NOW - timedelta(hours=1), expires_at=NOW - timedelta(minutes=1))
    raw = _signed(fd.unsigned_document(stale), ["anhui", "henan", "jiangsu"])
    with pytest.raises(VerificationError, match="expired"):
        gov.publish(raw)
    assert gov.latest.version == 1
    assert [e["kind"] for e in gov.evidence()] == ["invalid"]


def test_an_update_walks_at_most_cap_versions(tmp_path: Path) -> None:
    gov = Governance(Store(tmp_path / "node.db"), _genesis(), "yrd")
    docs, prev = [], gov.latest
    for i in range(1, 5):
        raw = _signed(
            fd.unsigned_document(fd.propose(prev, NOW + timedelta(seconds=i))),
            ["anhui", "henan", "jiangsu"],
        )
        prev = fd.verify_successor(prev, raw, NOW + timedelta(seconds=i))
        docs.append(raw)
    taken = gov.offer(list(reversed(docs)), "127.0.0.1:9", cap=3)
    assert [d.version for d in taken] == [2, 3, 4]
    assert [d.version for d in gov.offer(docs, "127.0.0.1:9")] == [5]
    assert gov.offer(docs, "127.0.0.1:9") == []  # all held: nothing new, no evidence
    assert gov.evidence() == []
