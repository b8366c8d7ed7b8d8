"""The ledger's trust rules without sockets: real Stores in tmp_path, fake in-memory peers.

An issuer ledger (Zhejiang) writes a real log; peers serve it, or a doctored
copy of it, from memory; a victim ledger (Anhui) syncs. Whatever a peer does,
the victim's database either takes a verified range and checkpoint in one
transaction or is left exactly as it was, and a validly signed conflicting
checkpoint is kept as evidence and freezes the origin.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from exchange import pki
from exchange._proto.brandex.v1 import entries_pb2
from exchange.core import merkle
from exchange.core.checkpoint import Checkpoint, parse_checkpoint_body, sign_checkpoint
from exchange.core.cosignature import witness_name
from exchange.core.dsse import sign_envelope
from exchange.core.keys import KeyHistory
from exchange.core.note import Ed25519NoteSigner, format_note, parse_note
from exchange.core.origin import parse_origin
from exchange.demo.dataset import demo_records
from exchange.node.identity import load_anchors
from exchange.node.indexer import Indexer
from exchange.node.ledger import Ledger, OriginHead
from exchange.node.verify import verify_batch
from exchange.store import Store

ZJ = "yrd/330000"
MEMBERS = {"zhejiang": "330000", "anhui": "340000", "jiangsu": "320000"}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pki") / "yrd"
    pki.init_federation(out, "yrd", MEMBERS)
    return out


def make_ledger(certs: Path, db: Path, name: str, **kw: Any) -> Ledger:
    """A bootstrapped ledger for member ``name`` (another store with the same key is a fork)."""
    paths = pki.member_paths(certs, name)
    _, anchors = load_anchors([paths.anchor])
    ledger = Ledger(
        Store(db),
        federation="yrd",
        region=MEMBERS[name],
        signing_key=pki.load_signing_key(paths.signing_key),
        signing_chain_pem=[paths.signing_cert.read_text()],
        anchors=anchors,
        **kw,
    )
    ledger.bootstrap()
    return ledger


def recognitions(start: int, count: int) -> list[tuple[str, entries_pb2.Recognition]]:
    recs = demo_records()["zhejiang"][start : start + count]
    return [("recognition", entries_pb2.Recognition(**r)) for r in recs]


@pytest.fixture(scope="module")
def issuer(certs: Path, tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    """Zhejiang's log: accepted checkpoints at sizes 1, 11 and 41."""
    ledger = make_ledger(certs, tmp_path_factory.mktemp("zj") / "zj.db", "zhejiang")
    ledger.issue(recognitions(0, 10))
    ledger.issue(recognitions(10, 30))
    return ledger


class CountingPool(ThreadPoolExecutor):
    """An executor that counts what it was given, to show the pipelined path ran."""

    submitted = 0

    def submit(self, *args: Any, **kw: Any):  # type: ignore[override]
        self.submitted += 1
        return super().submit(*args, **kw)


@pytest.fixture(params=["serial", "pool", "parallel"])
def victim(request: pytest.FixtureRequest, certs: Path, tmp_path: Path) -> Iterator[Ledger]:
    """Anhui's ledger; verifying in-process, or pipelined through an executor (and
    syncing several origins at once)."""
    if request.param == "serial":
        yield make_ledger(certs, tmp_path / "anhui.db", "anhui")
        return
    parallel = 3 if request.param == "parallel" else 1
    with CountingPool(2) as pool:
        yield make_ledger(
            certs,
            tmp_path / "anhui.db",
            "anhui",
            pool=pool,
            pool_depth=2,
            parallel_origins=parallel,
        )


# ------------------------------------------------------------------------------ peers


class FakePeer:
    """Serves scripted logs from memory: {origin: (envelopes, checkpoint note)}."""

    def __init__(self, name: str, logs: dict[str, tuple[list[bytes], str]], batch: int = 7):
        self.name = name
        self.logs = logs
        self.batch = batch
        self.fetched: list[tuple[str, int, int]] = []

    def current(self) -> dict[str, tuple[list[bytes], str]]:
        return self.logs

    def list_origins(self) -> list[OriginHead]:
        return [
            OriginHead(o, parse_checkpoint_body(parse_note(cp).text).size, cp)
            for o, (_, cp) in sorted(self.current().items())
        ]

    def get_entries(self, origin: str, start: int, end: int) -> Iterator[tuple[int, list[bytes]]]:
        self.fetched.append((origin, start, end))
        envs = self.current()[origin][0]
        for i in range(start, min(end, len(envs)), self.batch):
            yield i, envs[i : min(i + self.batch, end)]


class LedgerPeer(FakePeer):
    """An honest peer: whatever a ledger holds, at its current heads, with cosignatures."""

    def __init__(self, ledger: Ledger, name: str = "honest", batch: int = 7):
        super().__init__(name, {}, batch)
        self.ledger = ledger

    def current(self) -> dict[str, tuple[list[bytes], str]]:
        store = self.ledger.store
        return {
            r.origin: (
                store.envelopes(r.origin, 0, r.size),
                self.ledger.checkpoint_with_cosignatures(r.origin),
            )
            for r in store.origins()
            if r.checkpoint
        }


def log_at(ledger: Ledger, origin: str, size: int) -> tuple[list[bytes], str]:
    """(envelopes, the issuer's checkpoint) of ``origin`` as it stood at ``size``."""
    return ledger.store.envelopes(origin, 0, size), ledger.store.checkpoint_note(origin, size)


def forge(ledger: Ledger, origin: str, size: int, root: bytes, key_of: Ledger | None = None) -> str:
    """A checkpoint signed with ``key_of``'s (default: the issuer's) real key."""
    signer = Ed25519NoteSigner(origin, (key_of or ledger)._key)
    return format_note(sign_checkpoint(Checkpoint(origin, size, root), signer))


def root_of(envelopes: list[bytes]) -> bytes:
    tree = merkle.MemoryHashStore()
    tree.append([merkle.leaf_hash(e) for e in envelopes])
    return merkle.root_hash(len(envelopes), tree)


def flip(envelope: bytes) -> bytes:
    doc = json.loads(envelope)
    payload = bytearray(base64.b64decode(doc["payload"]))
    payload[-1] ^= 1
    doc["payload"] = base64.b64encode(bytes(payload)).decode()
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def snapshot(ledger: Ledger) -> dict[str, list[tuple]]:
    """Every row of every table: 'untouched' means exactly equal."""
    conn = ledger.store.read
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    assert {"entries", "nodes", "checkpoints", "keys", "records"} <= set(tables)
    return {t: sorted(map(tuple, conn.execute(f"SELECT * FROM {t}"))) for t in tables}


def outcome(outcomes, origin: str = ZJ):
    return next(o for o in outcomes if o.origin == origin)


def head(ledger: Ledger, origin: str = ZJ) -> tuple[int, bytes]:
    row = ledger.store.origin(origin)
    assert row is not None
    return row.size, row.root


# ------------------------------------------------------------------------------ tests


def test_sync_takes_a_verified_log_in_batches_and_cosigns(issuer: Ledger, victim: Ledger) -> None:
    peer = FakePeer("zj", {ZJ: log_at(issuer, ZJ, 11)})
    first = outcome(victim.sync_from(peer))
    assert (first.action, first.added) == ("appended", 11)
    assert head(victim) == (11, root_of(log_at(issuer, ZJ, 11)[0]))

    honest = LedgerPeer(issuer)
    second = outcome(victim.sync_from(honest))
    assert (second.action, second.added) == ("appended", 30)
    assert head(victim) == head(issuer)
    assert honest.fetched == [(ZJ, 11, 41)]  # only the missing range, in batches of 7
    assert outcome(victim.sync_from(honest)).action == "up-to-date"
    if victim.pool is not None:
        assert victim.pool.submitted >= 4  # 30 entries in batches of 7, verified ahead
    # Projections came with the log, in the same transaction.
    n = victim.store.read.execute("SELECT count(*) FROM records WHERE issuer = '330000'")
    assert n.fetchone()[0] == 40
    # The key was learned from the log's own key announcement.
    assert [k for k, _, _ in victim.store.keys(ZJ)] == [k for k, _, _ in issuer.store.keys(ZJ)]
    # History: both accepted checkpoints are kept, each from the issuer, cosigned by the victim.
    sizes = [
        r[0]
        for r in victim.store.read.execute(
            "SELECT size FROM checkpoints WHERE origin = ? ORDER BY size", (ZJ,)
        )
    ]
    assert sizes == [11, 41]
    note = parse_note(victim.checkpoint_with_cosignatures(ZJ))
    assert {s.name for s in note.signatures} == {ZJ, witness_name("yrd/340000")}


def test_relay_adds_nothing_trusted_but_its_cosignature(
    issuer: Ledger, victim: Ledger, certs: Path, tmp_path: Path
) -> None:
    victim.sync_from(LedgerPeer(issuer))
    third = make_ledger(certs, tmp_path / "js.db", "jiangsu")
    relay = LedgerPeer(victim, "anhui")
    got = {o.origin: o.action for o in third.sync_from(relay)}
    assert got == {ZJ: "appended", "yrd/340000": "appended"}
    assert head(third) == head(issuer)
    # Anhui's cosignature on yrd/330000 counts once anhui's key is known (its log comes
    # second): the next pass merges it, without fetching anything.
    fetched = list(relay.fetched)
    got = {o.origin: o.action for o in third.sync_from(relay)}
    assert got == {ZJ: "cosigned", "yrd/340000": "up-to-date"}
    assert relay.fetched == fetched
    names = {s.name for s in parse_note(third.checkpoint_with_cosignatures(ZJ)).signatures}
    assert names == {ZJ, witness_name("yrd/340000"), witness_name("yrd/320000")}
    assert (
        third.store.read.execute(
            "SELECT source FROM checkpoints WHERE origin = ?", (ZJ,)
        ).fetchone()[0]
        == "anhui"
    )


def test_many_origins_at_once_each_verified_and_in_order(
    issuer: Ledger, victim: Ledger, certs: Path, tmp_path: Path
) -> None:
    """A round over several origins (synced at once with ``parallel_origins``) takes each
    in full, reports them in the peer's order, and a second round fetches nothing: each
    note is byte for byte the one accepted."""
    js = make_ledger(certs, tmp_path / "js.db", "jiangsu")
    js.issue(recognitions(0, 12))
    relay = make_ledger(certs, tmp_path / "relay.db", "zhejiang")  # holds zj and js
    relay.sync_from(LedgerPeer(issuer))
    relay.sync_from(LedgerPeer(js))
    peer = FakePeer(
        "both", {o: log_at(src, o, src.store.origin(o).size) for src, o in
                 ((issuer, ZJ), (js, "yrd/320000"))},
    )  # fmt: skip
    got = [(o.origin, o.action, o.added) for o in victim.sync_from(peer)]
    assert got == [("yrd/320000", "appended", 13), (ZJ, "appended", 41)]
    assert head(victim) == head(issuer)
    assert head(victim, "yrd/320000") == head(js, "yrd/320000")
    fetched = list(peer.fetched)
    again = [(o.origin, o.action) for o in victim.sync_from(peer)]
    assert again == [("yrd/320000", "up-to-date"), (ZJ, "up-to-date")]
    assert peer.fetched == fetched
    # A bad first batch (the one carrying the key, verified in a worker too) is refused.
    fresh = make_ledger(certs, tmp_path / "fresh.db", "anhui", pool=victim.pool, parallel_origins=3)
    envs, note = log_at(js, "yrd/320000", 13)
    bad = FakePeer("bad", {"yrd/320000": ([flip(envs[0]), *envs[1:]], note)})
    refused = outcome(fresh.sync_from(bad), "yrd/320000")
    assert (refused.action, refused.invalid) == ("rejected", True)
    assert fresh.store.origin("yrd/320000") is None


def test_witness_keys_are_read_per_member(issuer: Ledger, victim: Ledger) -> None:
    """Cosignatures are checked against the named witness's keys only (one member's rows,
    not the whole key table per checkpoint: that made joining quadratic in origins)."""
    victim.sync_from(LedgerPeer(issuer))
    own = [bytes(k) for k in victim.witness_keys("yrd/340000")]
    zj = [bytes(k) for k in victim.witness_keys(ZJ)]
    assert own == [bytes(victim._key.verify_key)]
    assert zj == [bytes(issuer._key.verify_key)]
    assert victim.witness_keys("yrd/320000") == []  # a member whose log it does not hold


def _bad_logs(issuer: Ledger, anhui: Ledger) -> dict[str, tuple[FakePeer, str]]:
    """Name -> (a peer serving a doctored yrd/330000 of size 41, regex for the detail)."""
    envs, cp = log_at(issuer, ZJ, 41)
    other = anhui.store.envelopes("yrd/340000", 0, 1)[0]
    wrong_region = entries_pb2.Entry(
        federation="yrd",
        region="340000",
        issued_at="2026-01-01T00:00:00+00:00",
        recognition=recognitions(50, 1)[0][1],
    )
    foreign = [*envs[:40], sign_envelope(wrong_region.SerializeToString(), issuer._key)]

    def peer(entries, note, batch=7) -> FakePeer:
        return FakePeer("evil", {ZJ: (entries, note)}, batch)

    class Skipping(FakePeer):
        def get_entries(self, origin, start, end):
            yield start + 1, envs[start + 1 : end]

    class Overlong(FakePeer):
        def get_entries(self, origin, start, end):
            yield start, [*envs[start:end], envs[0]]

    return {
        "flipped byte": (peer([*envs[:20], flip(envs[20]), *envs[21:]], cp), "entry 20"),
        "short": (peer(envs[:30], cp), r"fewer entries|up to 30 of 41"),
        "skipped batch": (Skipping("evil", {ZJ: (envs, cp)}), "sent a batch at"),
        "overlong batch": (Overlong("evil", {ZJ: (envs, cp)}), "sent a batch at"),
        "another origin's entry": (peer([*envs[:25], other, *envs[26:]], cp), "entry 25"),
        "payload names another region": (
            peer(foreign, forge(issuer, ZJ, 41, root_of(foreign))),
            "payload names yrd/340000",
        ),
        "checkpoint by another key": (
            peer(envs, forge(issuer, ZJ, 41, root_of(envs), key_of=anhui)),
            "no signature",
        ),
        "checkpoint of another origin": (
            peer(envs, anhui.store.origin("yrd/340000").checkpoint),
            "checkpoint names yrd/340000",
        ),
        "root the entries do not match": (
            peer(envs, forge(issuer, ZJ, 41, bytes(32))),
            "do not match the checkpoint",
        ),
    }


@pytest.mark.parametrize("prefix", [0, 11], ids=["fresh", "holding-11"])
@pytest.mark.parametrize(
    "attack",
    [
        "flipped byte",
        "short",
        "skipped batch",
        "overlong batch",
        "another origin's entry",
        "payload names another region",
        "checkpoint by another key",
        "checkpoint of another origin",
        "root the entries do not match",
    ],
)
def test_a_bad_batch_leaves_the_store_untouched(
    issuer: Ledger, victim: Ledger, attack: str, prefix: int
) -> None:
    if prefix:
        victim.sync_from(FakePeer("zj", {ZJ: log_at(issuer, ZJ, prefix)}))
    peer, detail = _bad_logs(issuer, victim)[attack]
    before = snapshot(victim)
    version = victim.version
    got = outcome(victim.sync_from(peer))
    assert got.action == "rejected", got
    assert re.search(detail, got.detail), got.detail
    assert snapshot(victim) == before
    assert victim.version == version  # nobody was told of a change
    # An honest peer still gets through afterwards.
    ok = outcome(victim.sync_from(LedgerPeer(issuer)))
    assert (ok.action, ok.added) == ("appended", 41 - prefix)
    assert head(victim) == head(issuer)
    assert not victim.store.evidence()


def test_other_federations_are_ignored(issuer: Ledger, victim: Ledger) -> None:
    envs, cp = log_at(issuer, ZJ, 11)
    got = victim.sync_from(FakePeer("evil", {"xyz/330000": (envs, cp)}))
    assert [(o.origin, o.action) for o in got] == [("xyz/330000", "rejected")]
    assert victim.store.origin("xyz/330000") is None


def test_fork_of_the_same_size_is_evidence_and_freezes(issuer: Ledger, victim: Ledger) -> None:
    victim.sync_from(FakePeer("zj", {ZJ: log_at(issuer, ZJ, 11)}))
    ours = victim.store.origin(ZJ).checkpoint
    forged = forge(issuer, ZJ, 11, bytes(32))
    got = outcome(victim.sync_from(FakePeer("evil", {ZJ: ([], forged)})))
    assert got.action == "equivocation"
    [ev] = victim.store.evidence()
    assert (ev["origin"], ev["note_a"], ev["note_b"], ev["source"]) == (ZJ, ours, forged, "evil")
    row = victim.store.origin(ZJ)
    assert row.frozen and "size 11" in row.frozen_reason
    # Frozen: the honest, longer log is no longer taken for this origin ...
    again = outcome(victim.sync_from(LedgerPeer(issuer)))
    assert again.action == "equivocation"
    assert head(victim)[0] == 11
    assert not victim.store.origin("yrd/340000").frozen  # only that origin


def test_fork_at_an_earlier_size_is_evidence(issuer: Ledger, victim: Ledger) -> None:
    victim.sync_from(LedgerPeer(issuer))
    forged = forge(issuer, ZJ, 5, bytes(range(32)))
    assert outcome(victim.sync_from(FakePeer("evil", {ZJ: ([], forged)}))).action == "equivocation"
    assert victim.store.origin(ZJ).frozen


def test_a_longer_forked_log_is_evidence(
    issuer: Ledger, victim: Ledger, certs: Path, tmp_path: Path
) -> None:
    victim.sync_from(FakePeer("zj", {ZJ: log_at(issuer, ZJ, 11)}))
    before_root = head(victim)[1]
    # The issuer's key keeps a second, different log (a split view), and serves it longer.
    fork = make_ledger(certs, tmp_path / "fork.db", "zhejiang")
    fork.issue(recognitions(100, 10))
    fork.issue(recognitions(200, 30))
    assert fork.store.envelopes(ZJ, 1, 2) != issuer.store.envelopes(ZJ, 1, 2)
    peer = LedgerPeer(fork, "evil")
    got = outcome(victim.sync_from(peer))
    assert got.action == "equivocation", got
    assert "does not extend" in got.detail
    assert (ZJ, 0, 41) in peer.fetched  # the whole fork was fetched and verified first
    [ev] = victim.store.evidence()
    assert parse_checkpoint_body(parse_note(ev["note_b"]).text).size == 41
    assert head(victim) == (11, before_root)  # nothing of the fork was stored
    assert victim.store.origin(ZJ).frozen
    assert (
        victim.store.read.execute(
            "SELECT count(*) FROM entries WHERE origin = ?", (ZJ,)
        ).fetchone()[0]
        == 11
    )


def test_a_lagging_peer_changes_nothing(issuer: Ledger, victim: Ledger) -> None:
    victim.sync_from(LedgerPeer(issuer))
    before = snapshot(victim)
    got = outcome(victim.sync_from(FakePeer("slow", {ZJ: log_at(issuer, ZJ, 11)})))
    assert (got.action, got.detail) == ("lagging", "peer at 11")
    assert snapshot(victim) == before
    same = outcome(victim.sync_from(FakePeer("slow", {ZJ: log_at(issuer, ZJ, 41)})))
    assert same.action == "up-to-date"
    assert not victim.store.evidence()


def test_a_big_sync_commits_the_log_and_leaves_the_index_to_the_indexer(
    issuer: Ledger, certs: Path, tmp_path: Path
) -> None:
    victim = make_ledger(certs, tmp_path / "anhui.db", "anhui", inline_index_limit=20)
    small = outcome(victim.sync_from(FakePeer("zj", {ZJ: log_at(issuer, ZJ, 11)})))
    assert small.added == 11
    row = victim.store.origin(ZJ)
    assert row.indexed == row.size == 11  # a small sync is searchable at once

    big = outcome(victim.sync_from(LedgerPeer(issuer)))
    assert big.added == 30
    row = victim.store.origin(ZJ)
    assert (row.size, row.indexed) == (41, 11)  # log and checkpoint in, index behind
    count = "SELECT count(*) FROM records WHERE issuer = '330000'"
    assert victim.store.read.execute(count).fetchone()[0] == 10

    assert Indexer(victim, chunk=7).catch_up() == 30
    row = victim.store.origin(ZJ)
    assert row.indexed == row.size == 41
    assert victim.store.read.execute(count).fetchone()[0] == 40


def test_a_round_of_many_small_origins_leaves_the_index_to_the_indexer(
    issuer: Ledger, certs: Path, tmp_path: Path
) -> None:
    """Each origin is small, but the round brings more than the inline limit in all (a
    node joining): every log is committed verified, and only the indexer folds them."""
    js = make_ledger(certs, tmp_path / "js.db", "jiangsu")
    js.issue(recognitions(0, 12))
    logs = {ZJ: log_at(issuer, ZJ, 11), "yrd/320000": log_at(js, "yrd/320000", 13)}
    victim = make_ledger(certs, tmp_path / "anhui.db", "anhui", inline_index_limit=20)
    got = [(o.origin, o.action, o.added) for o in victim.sync_from(FakePeer("both", logs))]
    assert got == [("yrd/320000", "appended", 13), (ZJ, "appended", 11)]
    rows = {o: victim.store.origin(o) for o in logs}
    assert {o: (r.size, r.indexed) for o, r in rows.items()} == {
        ZJ: (11, 0),
        "yrd/320000": (13, 0),
    }
    assert Indexer(victim, chunk=7).catch_up() == 24
    assert all(victim.store.origin(o).indexed == n for o, n in ((ZJ, 11), ("yrd/320000", 13)))
    # A round within the limit still folds inline.
    small = make_ledger(certs, tmp_path / "small.db", "anhui", inline_index_limit=24)
    small.sync_from(FakePeer("both", logs))
    assert all(small.store.origin(o).indexed == small.store.origin(o).size for o in logs)


def test_the_indexer_holds_back_while_a_deferred_fold_round_runs(
    issuer: Ledger, certs: Path, tmp_path: Path
) -> None:
    """During a round that leaves the fold to the indexer (a join), the indexer folds
    nothing, even what the round already committed; when the round ends, it folds all."""
    js = make_ledger(certs, tmp_path / "js.db", "jiangsu")
    js.issue(recognitions(0, 12))
    logs = {ZJ: log_at(issuer, ZJ, 11), "yrd/320000": log_at(js, "yrd/320000", 13)}
    victim = make_ledger(certs, tmp_path / "anhui.db", "anhui", inline_index_limit=20)
    during: list[tuple[bool, int]] = []

    class Watching(FakePeer):
        def get_entries(self, origin: str, start: int, end: int):
            if origin == ZJ:  # the second origin: yrd/320000 is committed by now
                assert victim.store.origin("yrd/320000").size == 13
                during.append((victim.bulk_syncing, Indexer(victim, chunk=7).catch_up()))
            yield from super().get_entries(origin, start, end)

    got = [o.action for o in victim.sync_from(Watching("both", logs))]
    assert got == ["appended", "appended"]
    assert during == [(True, 0)]
    assert victim.store.origin("yrd/320000").indexed == 0
    assert not victim.bulk_syncing
    assert Indexer(victim, chunk=7).catch_up() == 24
    # A round within the limit holds nothing back.
    small = make_ledger(certs, tmp_path / "small.db", "anhui", inline_index_limit=24)
    seen: list[bool] = []

    class Small(FakePeer):
        def get_entries(self, origin: str, start: int, end: int):
            seen.append(small.bulk_syncing)
            yield from super().get_entries(origin, start, end)

    small.sync_from(Small("both", logs))
    assert seen == [False, False]


def test_the_indexer_runs_the_stateless_rules_in_the_pool_one_chunk_ahead(
    issuer: Ledger, certs: Path, tmp_path: Path
) -> None:
    with CountingPool(2) as pool:
        victim = make_ledger(certs, tmp_path / "anhui.db", "anhui", inline_index_limit=5, pool=pool)
        assert outcome(victim.sync_from(LedgerPeer(issuer))).added == 41
        assert victim.store.origin(ZJ).indexed < 41
        before = pool.submitted
        assert Indexer(victim, chunk=7).catch_up() == 41
        assert pool.submitted - before >= 41 // 7  # a rule task per chunk
    row = victim.store.origin(ZJ)
    assert row.indexed == row.size == 41
    count = "SELECT count(*) FROM records WHERE issuer = '330000'"
    assert victim.store.read.execute(count).fetchone()[0] == 40
    assert victim.store.violations() == []


class PacedPeer(LedgerPeer):
    """Serves batches with a pause before each, or stops at ``gate`` until it is set."""

    def __init__(
        self, ledger: Ledger, name: str, pause: float = 0.0, stall_after: int = -1, batch: int = 5
    ):
        super().__init__(ledger, name, batch=batch)
        self.pause = pause
        self.stall_after = stall_after
        self.gate = threading.Event()
        self.stalled = threading.Event()

    def get_entries(self, origin: str, start: int, end: int) -> Iterator[tuple[int, list[bytes]]]:
        for n, item in enumerate(super().get_entries(origin, start, end)):
            if n == self.stall_after:
                self.stalled.set()
                self.gate.wait(30)
            time.sleep(self.pause)
            yield item


def _in_thread(fn, *args):
    out: list = []
    t = threading.Thread(target=lambda: out.append(fn(*args)))
    t.start()
    return t, out


def test_a_sync_that_keeps_storing_is_not_restarted_by_another_peer(
    issuer: Ledger, certs: Path, tmp_path: Path
) -> None:
    # The other peer waits 1 s for the origin's lock, then finds a claim that
    # stored a batch less than 0.5 s ago: the steady sync (41 batches, at least
    # 0.05 s apart, so at least 2 s in all) is still running and keeps going.
    victim = make_ledger(certs, tmp_path / "anhui.db", "anhui", origin_lock_wait=1.0)
    steady = PacedPeer(issuer, "steady", pause=0.05, stall_after=0, batch=1)
    t, first = _in_thread(victim.sync_from, steady)
    assert steady.stalled.wait(10)  # it holds the origin's lock now
    steady.gate.set()
    second = outcome(victim.sync_from(LedgerPeer(issuer, "eager")))
    t.join(30)
    assert (second.action, outcome(first[0]).action) == ("up-to-date", "appended")
    assert "another sync is storing entries" in second.detail
    assert head(victim) == head(issuer)


def test_a_stalled_sync_is_taken_over_and_finds_out(
    issuer: Ledger, certs: Path, tmp_path: Path
) -> None:
    victim = make_ledger(certs, tmp_path / "anhui.db", "anhui", origin_lock_wait=0.4)
    stuck = PacedPeer(issuer, "stuck", stall_after=3)
    t, first = _in_thread(victim.sync_from, stuck)
    assert stuck.stalled.wait(10)  # idle from now on: longer than the 0.4 s lock wait
    honest = outcome(victim.sync_from(LedgerPeer(issuer, "honest")))
    assert (honest.action, honest.added) == ("appended", 41)
    stuck.gate.set()
    t.join(30)
    late = outcome(first[0])
    assert late.action in ("up-to-date", "rejected") and "took over" in late.detail
    assert head(victim) == head(issuer)
    before = snapshot(victim)
    assert outcome(victim.sync_from(LedgerPeer(issuer))).action == "up-to-date"
    assert snapshot(victim) == before


def _crash_mid_sync(source: Ledger, victim: Ledger, staged: int) -> None:
    """What a sync from ``source`` killed after staging ``staged`` verified entries leaves."""
    envelopes = source.store.envelopes(ZJ, 0, staged)
    vb = verify_batch(
        ZJ, 0, envelopes, KeyHistory(parse_origin(ZJ)), victim.anchors, datetime.now(UTC)
    )
    with victim.store.write() as tx:
        staging = tx.begin_staging(ZJ, "330000")
        tx.stage(staging, 0, envelopes, vb.types, vb.leaf_hashes)
    victim.store.close()  # no end_staging: the process died


def test_a_sync_killed_after_staging_resumes_from_what_it_staged(
    issuer: Ledger, certs: Path, tmp_path: Path
) -> None:
    _crash_mid_sync(issuer, make_ledger(certs, tmp_path / "anhui.db", "anhui"), staged=20)
    victim = make_ledger(certs, tmp_path / "anhui.db", "anhui")  # restarted
    assert victim.store.origin(ZJ).size == 0  # nothing staged is visible
    honest = LedgerPeer(issuer)
    got = outcome(victim.sync_from(honest))
    assert (got.action, got.added) == ("appended", 41)
    assert honest.fetched == [(ZJ, 20, 41)]  # only what was not staged
    assert head(victim) == head(issuer)
    # The key came from the staged key announcement, checked again.
    assert [k for k, _, _ in victim.store.keys(ZJ)] == [k for k, _, _ in issuer.store.keys(ZJ)]


def test_staged_entries_of_another_tree_are_dropped_not_committed(
    issuer: Ledger, certs: Path, tmp_path: Path
) -> None:
    # The killed sync was fetching a split view: validly signed, another tree.
    fork = make_ledger(certs, tmp_path / "fork.db", "zhejiang")
    fork.issue(recognitions(100, 30))
    _crash_mid_sync(fork, make_ledger(certs, tmp_path / "anhui.db", "anhui"), staged=20)
    victim = make_ledger(certs, tmp_path / "anhui.db", "anhui")
    first = outcome(victim.sync_from(LedgerPeer(issuer)))
    assert first.action == "rejected" and victim.store.origin(ZJ) is None
    count = "SELECT count(*) FROM entries WHERE origin = ?"
    assert victim.store.read.execute(count, (ZJ,)).fetchone()[0] == 0
    honest = LedgerPeer(issuer)
    second = outcome(victim.sync_from(honest))  # the staged rows went with the failure
    assert (second.action, honest.fetched) == ("appended", [(ZJ, 0, 41)])
    assert head(victim) == head(issuer)


def test_changes_name_the_origins_whose_heads_moved(
    issuer: Ledger, certs: Path, tmp_path: Path
) -> None:
    """A watch stream re-reads only the origins ``changed_since`` names; a change of
    everything (a federation document) or a version older than the kept changes is
    None, so the stream falls back to reading every origin."""
    js = make_ledger(certs, tmp_path / "js.db", "jiangsu")
    start = js.version
    assert js.changed_since(start) == set()
    js.issue(recognitions(0, 2))
    assert js.changed_since(start) == {"yrd/320000"}
    mid = js.version
    js.sync_from(LedgerPeer(issuer))
    assert js.changed_since(mid) == {ZJ}
    assert js.changed_since(start) == {"yrd/320000", ZJ}
    js._notify()  # e.g. a new federation document: every origin's answer may change
    assert js.changed_since(mid) is None
    assert js.changed_since(js.version) == set()
    for _ in range(js._changes.maxlen):
        js._notify("yrd/320000")
    assert js.changed_since(mid) is None  # older than the kept changes


def _settle(requester, version: int) -> None:
    """Until the cosignature requester has acted on ledger ``version`` (a condition)."""
    deadline = time.monotonic() + 60
    while requester.seen < version:
        assert time.monotonic() < deadline, "the requester never woke"
        time.sleep(0.01)


def test_cosignature_rounds_follow_the_own_log_not_every_mirrored_origin(
    certs: Path, tmp_path: Path
) -> None:
    """A node mirroring many origins sees a change every few milliseconds while it
    syncs; its cosignature requester runs a round for its own log's changes only
    (and for a change of everything, or when the retry interval passes)."""
    from exchange.node.witnessing import CosignRequester

    ledger = make_ledger(certs, tmp_path / "zj.db", "zhejiang")
    requester = CosignRequester(
        ledger, witnesses=dict, connect=lambda address: None, retry_interval=3600
    )

    requester.start()
    try:
        _settle(requester, ledger.version)
        assert requester.rounds == 1
        for _ in range(30):
            ledger._notify("yrd/340000")
            _settle(requester, ledger.version)
        assert requester.rounds == 1
        ledger.issue(recognitions(0, 1))
        _settle(requester, ledger.version)
        assert requester.rounds == 2
        ledger._notify(None)
        _settle(requester, ledger.version)
        assert requester.rounds == 3
    finally:
        requester.stop()


def test_cosignatures_are_asked_once_the_witness_key_is_known(certs: Path, tmp_path: Path) -> None:
    """A witness's cosignature can only be checked with the key its own log certifies.
    Before this node holds that log (a federation's start-up) the witness is not
    asked, and the arrival of its log runs a round at once."""
    from exchange.node.witnessing import CosignRequester

    ledger = make_ledger(certs, tmp_path / "zj.db", "zhejiang")
    anhui = make_ledger(certs, tmp_path / "ah.db", "anhui")
    asked: list[str] = []

    class Witness:  # answers nothing a checker could accept
        def AddCheckpoint(self, request, timeout):
            return type("Reply", (), {"cosignature": ""})()

    def connect(address: str) -> Witness:
        asked.append(address)
        return Witness()

    requester = CosignRequester(
        ledger,
        witnesses=lambda: {"yrd/340000/witness": "127.0.0.1:1"},
        connect=connect,
        retry_interval=3600,
    )
    assert requester.request_round() == 0
    assert asked == [] and requester.awaiting_keys == {"yrd/340000"}

    requester.start()
    try:
        _settle(requester, ledger.version)
        rounds = requester.rounds
        ledger._notify("yrd/320000")  # any other origin: no round
        _settle(requester, ledger.version)
        assert requester.rounds == rounds and asked == []
        ledger.sync_from(LedgerPeer(anhui))  # anhui's log, and with it its key
        _settle(requester, ledger.version)
        assert requester.rounds == rounds + 1
        assert asked == ["127.0.0.1:1"] and requester.awaiting_keys == frozenset()
    finally:
        requester.stop()
