"""Staging: verified batches stored past an origin's size before its checkpoint is in.

Rows past the size must be invisible to every read and become the log only
through ``commit_staged``; they vanish on ``end_staging``, on a newer claim
that does not resume them, and on an append; after a crash they wait, still
invisible, for the next claim to resume them.
"""

from __future__ import annotations

import pytest

from exchange._proto.brandex.v1 import entries_pb2
from exchange.core import merkle
from exchange.core.errors import ConflictError
from exchange.store import Store
from exchange.store.tx import Staging

ORIGIN = "yrd/330000"


def _batch(start: int, n: int) -> tuple[list[bytes], list[bytes]]:
    envelopes = [b"env %d" % i for i in range(start, start + n)]
    return envelopes, [merkle.leaf_hash(e) for e in envelopes]


def _rows(store: Store) -> tuple[int, int]:
    conn = store.read
    entries = conn.execute("SELECT count(*) FROM entries WHERE origin = ?", (ORIGIN,)).fetchone()
    nodes = conn.execute("SELECT count(*) FROM nodes WHERE origin = ?", (ORIGIN,)).fetchone()
    return entries[0], nodes[0]


def _store_with(tmp_path, n: int) -> Store:
    store = Store(tmp_path / "s.db")
    envelopes, leaves = _batch(0, n)
    with store.write() as tx:
        tx.ensure_origin(ORIGIN, "330000")
        tx.append(ORIGIN, 0, envelopes, [entries_pb2.Entry()] * n, leaves, index=False)
    return store


def _claim(store: Store) -> Staging:
    with store.write() as tx:
        return tx.begin_staging(ORIGIN, "330000")


def _stage(store: Store, staging: Staging, start: int, n: int) -> None:
    envelopes, leaves = _batch(start, n)
    with store.write() as tx:
        tx.stage(staging, start, envelopes, [None] * n, leaves)


def test_staged_rows_become_the_log_only_when_committed(tmp_path):
    store = _store_with(tmp_path, 5)
    before = _rows(store)
    staging = _claim(store)
    _stage(store, staging, 5, 4)
    _stage(store, staging, 9, 3)
    # Stored, but past the size every served read is bounded by; the tree of
    # that size is untouched.
    assert store.envelopes(ORIGIN, 0, 100) == _batch(0, 5)[0] + _batch(5, 7)[0]
    head = store.origin(ORIGIN)
    assert head.size == 5
    assert merkle.root_hash(5, store.hash_reader(ORIGIN)) == head.root

    with store.write() as tx:
        root = tx.staged_root(staging)
        tx.commit_staged(staging, root, index=False)
    store.end_staging(staging)  # a no-op once committed
    full = merkle.MemoryHashStore()
    full.append(_batch(0, 12)[1])
    assert store.origin(ORIGIN).size == 12
    assert store.origin(ORIGIN).root == root == merkle.root_hash(12, full)
    assert _rows(store)[0] == 12 and _rows(store) > before


def test_an_unfinished_staging_leaves_nothing(tmp_path):
    store = _store_with(tmp_path, 5)
    before = _rows(store)
    staging = _claim(store)
    _stage(store, staging, 5, 6)
    store.end_staging(staging)
    assert _rows(store) == before
    assert merkle.root_hash(5, store.hash_reader(ORIGIN)) == store.origin(ORIGIN).root


def test_a_newer_claim_takes_over_a_stalled_one(tmp_path):
    store = _store_with(tmp_path, 5)
    stalled = _claim(store)
    _stage(store, stalled, 5, 3)
    fresh = _claim(store)  # drops the stalled sync's rows
    assert _rows(store)[0] == 5
    _stage(store, fresh, 5, 2)
    with pytest.raises(ConflictError, match="took over"):
        _stage(store, stalled, 8, 1)
    with pytest.raises(ConflictError), store.write() as tx:
        tx.commit_staged(stalled, b"\0" * 32, index=False)
    store.end_staging(stalled)  # must not touch the fresh sync's rows
    assert _rows(store)[0] == 7
    with store.write() as tx:
        tx.commit_staged(fresh, tx.staged_root(fresh), index=False)
    assert store.origin(ORIGIN).size == 7


def test_an_append_wins_over_a_staging(tmp_path):
    store = _store_with(tmp_path, 5)
    staging = _claim(store)
    _stage(store, staging, 5, 3)
    envelopes, leaves = _batch(100, 2)
    with store.write() as tx:
        tx.append(ORIGIN, 5, envelopes, [entries_pb2.Entry()] * 2, leaves, index=False)
    assert store.envelopes(ORIGIN, 5, 100) == envelopes
    with pytest.raises(ConflictError):
        _stage(store, staging, 8, 1)


def test_after_a_crash_staged_rows_wait_invisible_for_the_next_claim(tmp_path):
    store = _store_with(tmp_path, 6)
    before = _rows(store)
    _stage(store, _claim(store), 6, 10)
    store.close()  # the process dies here: no end_staging

    reopened = Store(tmp_path / "s.db")
    assert reopened.origin(ORIGIN).size == 6
    assert reopened.envelopes(ORIGIN, 0, 6) == _batch(0, 6)[0]
    with reopened.write() as tx:  # a sync aiming at size 20 goes on from 16
        resumed = tx.begin_staging(ORIGIN, "330000", resume_up_to=20)
    assert (resumed.start, resumed.next, resumed.resumed) == (6, 16, 10)
    _stage(reopened, resumed, 16, 4)
    with reopened.write() as tx:
        tx.commit_staged(resumed, tx.staged_root(resumed), index=False)
    full = merkle.MemoryHashStore()
    full.append(_batch(0, 20)[1])
    assert reopened.origin(ORIGIN).root == merkle.root_hash(20, full)
    assert _rows(reopened)[0] == 20 and _rows(reopened) > before


@pytest.mark.parametrize("aim", [None, 15, 12])  # no resume; one short of them; well below
def test_staged_rows_that_do_not_fit_the_new_claim_are_dropped(tmp_path, aim):
    store = _store_with(tmp_path, 6)
    before = _rows(store)
    _stage(store, _claim(store), 6, 10)
    store.close()
    reopened = Store(tmp_path / "s.db")
    with reopened.write() as tx:
        claim = tx.begin_staging(ORIGIN, "330000", resume_up_to=aim)
    assert (claim.next, claim.resumed) == (6, 0)
    assert _rows(reopened) == before


def test_an_append_drops_rows_a_crash_left(tmp_path):
    store = _store_with(tmp_path, 5)
    _stage(store, _claim(store), 5, 3)
    store.close()
    reopened = Store(tmp_path / "s.db")
    envelopes, leaves = _batch(100, 2)
    with reopened.write() as tx:
        tx.append(ORIGIN, 5, envelopes, [entries_pb2.Entry()] * 2, leaves, index=False)
    assert reopened.envelopes(ORIGIN, 5, 100) == envelopes
    assert _rows(reopened)[0] == 7


def test_a_failed_first_sync_leaves_no_origin(tmp_path):
    store = Store(tmp_path / "new.db")
    with store.write() as tx:
        staging = tx.begin_staging("yrd/340000", "340000")
    store.end_staging(staging)
    assert store.origin("yrd/340000") is None


def test_a_claim_still_storing_is_not_taken_over(tmp_path):
    store = _store_with(tmp_path, 5)
    busy = _claim(store)
    _stage(store, busy, 5, 2)
    refused = pytest.raises(ConflictError, match="another sync is storing entries")
    with refused, store.write() as tx:
        tx.begin_staging(ORIGIN, "330000", take_over_after=60.0)
    _stage(store, busy, 7, 2)  # untouched by the refused claim
    busy.touched -= 120.0  # two minutes without a batch: stalled
    with store.write() as tx:
        tx.begin_staging(ORIGIN, "330000", take_over_after=60.0)
    with pytest.raises(ConflictError, match="took over"):
        _stage(store, busy, 9, 1)
