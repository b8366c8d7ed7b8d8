"""Deferred indexing: a log appended without its registry rows catches up later.

Whether the registry tables are filled in the append's own transaction or
afterwards, chunk by chunk, they must end up the same; and the cursor must
never pass an entry that is not in them.
"""

from __future__ import annotations

import sqlite3

from nacl.signing import SigningKey

from exchange._proto.brandex.v1 import entries_pb2 as pb
from exchange.core.dsse import sign_envelope
from exchange.store import Store, queries
from tests.builders import counterfeit_case, recognition, search_query

ORIGIN = "yrd/330000"
KEY = SigningKey(b"\x07" * 32)


def _log(n: int) -> tuple[list[bytes], list[pb.Entry]]:
    entries = []
    for i in range(n):
        entry = pb.Entry(federation="yrd", region="330000", issued_at="2026-01-01T00:00:00Z")
        entry.recognition.CopyFrom(recognition(f"zj-{i}", f"ZJMP-2024-{i:04d}"))
        entry.recognition.brand_name = f"西湖{i}"
        entries.append(entry)
    # A revocation of record 3 later in the log: indexing must apply it after record 3.
    change = pb.Entry(federation="yrd", region="330000", issued_at="2026-01-02T00:00:00Z")
    change.status_change.record_id = "zj-3"
    change.status_change.new_status = pb.Status.Value("REVOKED")
    change.status_change.reason = pb.ReasonCode.Value("SPOT_CHECK_FAILURE")  # required
    change.status_change.effective_on = "2026-01-02"
    entries.append(change)
    return [sign_envelope(e.SerializeToString(), KEY) for e in entries], entries


def _registry(store: Store) -> list[tuple]:
    return store.read.execute(
        "SELECT issuer, record_id, brand_name, status, origin, idx FROM records ORDER BY idx"
    ).fetchall()


def _fill(store: Store, envelopes, entries, *, index: bool, batch: int = 7) -> None:
    with store.write() as tx:
        tx.ensure_origin(ORIGIN, "330000")
    for s in range(0, len(envelopes), batch):
        with store.write() as tx:
            tx.append(ORIGIN, s, envelopes[s : s + batch], entries[s : s + batch], index=index)


def test_deferred_indexing_ends_where_inline_indexing_does(tmp_path):
    envelopes, entries = _log(40)
    inline, deferred = Store(tmp_path / "a.db"), Store(tmp_path / "b.db")
    _fill(inline, envelopes, entries, index=True)
    _fill(deferred, envelopes, entries, index=False)

    row = deferred.origin(ORIGIN)
    assert (row.size, row.indexed) == (41, 0)
    assert _registry(deferred) == []

    chunks = []
    while n := deferred.index_backlog(limit=6):
        chunks.append(n)
        assert deferred.origin(ORIGIN).indexed == sum(chunks)
        assert len(_registry(deferred)) == min(sum(chunks), 40)
    assert chunks == [6] * 6 + [5]
    assert deferred.origin(ORIGIN).indexed == 41
    assert _registry(deferred) == _registry(inline)
    assert dict((r[1], r[3]) for r in _registry(deferred))["zj-3"] == "revoked"
    for store in (inline, deferred):  # the search index too, not just the rows
        found, _, _ = queries.search_records(store.read, search_query(text="西湖3"))
        assert {r["record_id"] for r in found} == {"zj-3"} | {f"zj-3{i}" for i in range(10)}


def test_an_indexed_append_takes_the_backlog_first(tmp_path):
    envelopes, entries = _log(20)
    store = Store(tmp_path / "c.db")
    _fill(store, envelopes[:15], entries[:15], index=False)
    with store.write() as tx:
        tx.append(ORIGIN, 15, envelopes[15:], entries[15:], index=True)
    row = store.origin(ORIGIN)
    assert row.indexed == row.size == 21
    assert [r[5] for r in _registry(store)] == list(range(20))


def test_a_failed_chunk_moves_neither_rows_nor_cursor(tmp_path):
    envelopes, entries = _log(10)
    store = Store(tmp_path / "d.db")
    _fill(store, envelopes, entries, index=False)
    # Make the registry insert fail half-way through a chunk.
    store._writer.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON records WHEN NEW.record_id = 'zj-4'"
        " BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
    )
    try:
        store.index_backlog(limit=100)
    except sqlite3.IntegrityError as exc:
        assert "disk trouble" in str(exc)
    else:
        raise AssertionError("the trigger did not fire")
    assert store.origin(ORIGIN).indexed == 0
    assert _registry(store) == []
    store._writer.execute("DROP TRIGGER boom")
    assert store.index_backlog(limit=100) == 11
    assert len(_registry(store)) == 10


def test_a_version_1_file_counts_as_indexed(tmp_path):
    path = tmp_path / "v1.db"
    envelopes, entries = _log(5)
    store = Store(path)
    _fill(store, envelopes, entries, index=True)
    store._writer.execute("ALTER TABLE origins DROP COLUMN indexed")
    store.close()
    reopened = Store(path)
    row = reopened.origin(ORIGIN)
    assert row.indexed == row.size == 6
    assert reopened.index_backlog() == 0


def test_a_case_closed_in_a_log_indexed_first_arrives_closed(tmp_path):
    """Zhejiang reports a case Anhui handles; a node may index Anhui's log first."""
    case = pb.Entry(federation="yrd", region="330000", issued_at="2026-01-01T00:00:00Z")
    case.infringement_case.CopyFrom(counterfeit_case("zj-case-1"))
    case.infringement_case.reporting_region = "330000"
    case.infringement_case.handling_region = "340000"
    rec = pb.Entry(federation="yrd", region="330000", issued_at="2026-01-01T00:00:00Z")
    rec.recognition.CopyFrom(recognition("zj-1"))
    close = pb.Entry(federation="yrd", region="340000", issued_at="2026-01-03T00:00:00Z")
    close.case_action.case_region = "330000"
    close.case_action.case_id = "zj-case-1"
    close.case_action.acting_region = "340000"
    close.case_action.action = pb.CaseActionType.Value("CLOSED")
    close.case_action.date = "2026-01-03"
    store = Store(tmp_path / "cases.db")
    with store.write() as tx:
        for origin, region, entries in (
            ("yrd/340000", "340000", [close]),
            (ORIGIN, "330000", [rec, case]),
        ):
            tx.ensure_origin(origin, region)
            tx.append(origin, 0, [b"x%d" % i for i in range(len(entries))], entries)
    (is_open,) = store.read.execute(
        "SELECT open FROM cases WHERE case_region = '330000' AND case_id = 'zj-case-1'"
    ).fetchone()
    assert is_open == 0
