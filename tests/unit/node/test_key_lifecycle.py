"""Keys that live and die, and time that an issuer cannot set: the ledger's side.

Each test is an attack or a lifecycle step of the trust-kernel issue, run
through the same ``Ledger.sync_from`` a mirror runs on every peer's answer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_ledger import MEMBERS, ZJ, FakePeer, LedgerPeer, head, make_ledger, outcome, recognitions

from exchange import pki
from exchange._proto.brandex.v1 import entries_pb2
from exchange.core import merkle
from exchange.core.checkpoint import Checkpoint, sign_checkpoint
from exchange.core.dsse import keyid_of, sign_envelope
from exchange.core.note import Ed25519NoteSigner, format_note
from exchange.node.identity import load_anchors
from exchange.node.ledger import Ledger
from exchange.store import Store


def _root(envelopes: list[bytes]) -> bytes:
    tree = merkle.MemoryHashStore()
    tree.append([merkle.leaf_hash(e) for e in envelopes])
    return merkle.root_hash(len(envelopes), tree)


def _checkpoint(envelopes: list[bytes], key) -> str:
    cp = Checkpoint(ZJ, len(envelopes), _root(envelopes))
    return format_note(sign_checkpoint(cp, Ed25519NoteSigner(ZJ, key)))


def _entry(issued_at: datetime, body: str = "recognition", msg=None) -> entries_pb2.Entry:
    e = entries_pb2.Entry(federation="yrd", region="330000", issued_at=issued_at.isoformat())
    getattr(e, body).CopyFrom(msg if msg is not None else recognitions(100, 1)[0][1])
    return e


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    out = tmp_path / "pki"
    pki.init_federation(out, "yrd", MEMBERS)
    return out


def _rotated(certs: Path, tmp_path: Path) -> tuple[Ledger, object]:
    """Zhejiang's ledger after 10 entries, a rotation, and 5 entries with the new key."""
    zj = make_ledger(certs, tmp_path / "zj.db", "zhejiang")
    zj.issue(recognitions(0, 10))
    old = zj._key
    key_path, cert_path = pki.certify_signing_key(certs, "zhejiang", tmp_path / "keys")
    zj.rotate(pki.load_signing_key(key_path), [cert_path.read_text()])
    zj.issue(recognitions(10, 5))
    return zj, old


def test_a_mirror_follows_a_rotation(certs: Path, tmp_path: Path) -> None:
    zj, old = _rotated(certs, tmp_path)
    ah = make_ledger(certs, tmp_path / "ah.db", "anhui")
    got = outcome(ah.sync_from(LedgerPeer(zj)))
    assert (got.action, got.added) == ("appended", 17)
    assert head(ah) == head(zj)
    history = ah.history(ZJ)
    assert history.current().keyid == zj.keyid != keyid_of(bytes(old.verify_key))
    retired = history.keys[keyid_of(bytes(old.verify_key))]
    assert retired.retired_at == 11  # the rotation entry, the last the old key signed


def test_an_entry_forged_with_the_old_key_after_the_rotation_is_refused(
    certs: Path, tmp_path: Path
) -> None:
    zj, old = _rotated(certs, tmp_path)
    envs = zj.store.envelopes(ZJ, 0, 17)
    forged = [*envs, sign_envelope(_entry(datetime.now(UTC)).SerializeToString(), old)]
    ah = make_ledger(certs, tmp_path / "ah.db", "anhui")
    peer = FakePeer("thief", {ZJ: (forged, _checkpoint(forged, zj._key))})
    got = outcome(ah.sync_from(peer))
    assert got.action == "rejected"
    assert "entry 17: signed by key" in got.detail and "replaced at entry 11" in got.detail
    assert ah.store.origin(ZJ) is None  # nothing stored


def test_a_checkpoint_signed_by_the_old_key_after_the_rotation_is_refused(
    certs: Path, tmp_path: Path
) -> None:
    zj, old = _rotated(certs, tmp_path)
    envs = zj.store.envelopes(ZJ, 0, 17)
    ah = make_ledger(certs, tmp_path / "ah.db", "anhui")
    got = outcome(ah.sync_from(FakePeer("thief", {ZJ: (envs, _checkpoint(envs, old))})))
    assert got.action == "rejected"
    assert ah.store.origin(ZJ) is None


def test_a_revocation_makes_the_entries_after_the_compromise_suspect(
    certs: Path, tmp_path: Path
) -> None:
    zj, old = _rotated(certs, tmp_path)
    ah = make_ledger(certs, tmp_path / "ah.db", "anhui")
    assert outcome(ah.sync_from(LedgerPeer(zj))).action == "appended"
    assert (
        ah.store.read.execute("SELECT count(*) FROM records WHERE origin = ?", (ZJ,)).fetchone()[0]
        == 15
    )
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    zj.revoke(keyid_of(bytes(old.verify_key)), since, "stolen")
    assert outcome(ah.sync_from(LedgerPeer(zj))).action == "appended"
    # Entries 0-11 were signed by the old key after `since`: suspect on both nodes,
    # kept in the log, not in the registry; the 5 signed by the new key stay.
    for ledger in (zj, ah):
        assert [s["idx"] for s in ledger.store.suspects(ZJ)] == list(range(12))
        assert ledger.store.origin(ZJ).size == 18
        rows = ledger.store.read.execute(
            "SELECT count(*) FROM records WHERE origin = ?", (ZJ,)
        ).fetchone()[0]
        assert rows == 5


def test_the_current_key_cannot_be_revoked_by_itself(certs: Path, tmp_path: Path) -> None:
    zj = make_ledger(certs, tmp_path / "zj.db", "zhejiang")
    with pytest.raises(Exception, match="cannot revoke itself"):
        zj.revoke(zj.keyid, datetime.now(UTC).isoformat(), "")
    assert zj.store.origin(ZJ).size == 1


def test_an_entry_dated_in_the_future_is_refused(certs: Path, tmp_path: Path) -> None:
    zj = make_ledger(certs, tmp_path / "zj.db", "zhejiang")
    envs = zj.store.envelopes(ZJ, 0, 1)
    later = datetime.now(UTC) + timedelta(hours=1)
    forged = [*envs, sign_envelope(_entry(later).SerializeToString(), zj._key)]
    ah = make_ledger(certs, tmp_path / "ah.db", "anhui")
    got = outcome(ah.sync_from(FakePeer("zj", {ZJ: (forged, _checkpoint(forged, zj._key))})))
    assert got.action == "rejected" and "after this clock" in got.detail


def test_an_entry_dated_before_the_one_before_it_is_refused(certs: Path, tmp_path: Path) -> None:
    """A key thief backdating into the certificate's validity still meets the log's time."""
    zj = make_ledger(certs, tmp_path / "zj.db", "zhejiang")
    zj.issue(recognitions(0, 3))
    envs = zj.store.envelopes(ZJ, 0, 4)
    earlier = datetime.now(UTC) - timedelta(minutes=30)  # inside the certificate (1 h back)
    forged = [*envs, sign_envelope(_entry(earlier).SerializeToString(), zj._key)]
    ah = make_ledger(certs, tmp_path / "ah.db", "anhui")
    got = outcome(ah.sync_from(FakePeer("zj", {ZJ: (forged, _checkpoint(forged, zj._key))})))
    assert got.action == "rejected" and "does not go backwards" in got.detail


def test_a_log_backdated_into_an_expired_certificate_is_refused(tmp_path: Path) -> None:
    """The attack: a certificate that expired a year ago signs a fresh log whose every
    issued_at lies inside its validity. No witness saw it then; judged now, it is expired."""
    now = datetime.now(UTC)
    out = tmp_path / "old"
    pki.init_federation(out, "yrd", MEMBERS, now=now - timedelta(days=4 * 365))
    key_path, cert_path = pki.certify_signing_key(
        out, "zhejiang", tmp_path / "keys", now=now - timedelta(days=3 * 365)
    )
    then = now - timedelta(days=2 * 365)  # inside the stolen certificate's validity
    _, anchors = load_anchors([pki.member_paths(out, "zhejiang").anchor])
    thief = Ledger(
        Store(tmp_path / "thief.db"),
        federation="yrd",
        region="330000",
        signing_key=pki.load_signing_key(key_path),
        signing_chain_pem=[cert_path.read_text()],
        anchors=anchors,
        clock=lambda: then,
    )
    thief.bootstrap()
    thief.issue(recognitions(0, 1))
    mirror = Ledger(
        Store(tmp_path / "mirror.db"),
        federation="yrd",
        region="340000",
        signing_key=pki.load_signing_key(pki.member_paths(out, "anhui").signing_key),
        signing_chain_pem=[],
        anchors=anchors,
    )
    got = outcome(mirror.sync_from(LedgerPeer(thief)))
    assert got.action == "rejected"
    assert "is not valid now" in got.detail
    assert mirror.store.origin(ZJ) is None


# ------------------------------------------------ hostile peers: work before fetching


def test_a_checkpoint_that_does_not_verify_costs_no_download(certs: Path, tmp_path: Path) -> None:
    zj = make_ledger(certs, tmp_path / "zj.db", "zhejiang")
    zj.issue(recognitions(0, 5))
    ah = make_ledger(certs, tmp_path / "ah.db", "anhui")
    assert outcome(ah.sync_from(LedgerPeer(zj))).action == "appended"
    zj.issue(recognitions(5, 20))
    envs = zj.store.envelopes(ZJ, 0, 26)
    note = _checkpoint(envs, zj._key)
    body, _, sig = note.rpartition(" ")
    bad = body + " " + sig[:8] + ("A" if sig[8] != "A" else "B") + sig[9:]  # one char off
    peer = FakePeer("liar", {ZJ: (envs, bad)})
    got = outcome(ah.sync_from(peer))
    assert got.action == "rejected" and got.invalid
    assert "nothing fetched" in got.detail
    assert peer.fetched == []  # not one entry was asked for


def test_a_big_range_is_fetched_over_rounds_within_a_byte_budget(
    certs: Path, tmp_path: Path
) -> None:
    zj = make_ledger(certs, tmp_path / "zj.db", "zhejiang")
    zj.issue(recognitions(0, 60))
    ah = make_ledger(certs, tmp_path / "ah.db", "anhui", max_round_bytes=8_000)
    peer = LedgerPeer(zj)
    rounds = []
    while True:
        got = outcome(ah.sync_from(peer))
        rounds.append(got.action)
        if got.action != "partial":
            break
        assert len(rounds) < 20
    assert rounds[-1] == "appended" and len(rounds) > 2
    assert head(ah) == head(zj)
    # Each round went on from what the one before had staged: nothing fetched twice.
    starts = [s for _, s, _ in peer.fetched]
    assert starts == sorted(set(starts))
