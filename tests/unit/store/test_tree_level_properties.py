"""The SQLite tree, which stores only levels NODES_FROM_LEVEL and up, against a memory tree.

``SqliteHashReader`` hashes every node below that level from the entries' leaf
hashes. Whatever the batch splits (appends, staged syncs, abandoned stagings),
every root, inclusion and consistency proof and every subtree hash must be the
in-memory tree's, each proof read with at most two queries, and a subtree that
is not complete, or a damaged leaf hash, must be a clear error, never a hash.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange._proto.brandex.v1 import entries_pb2
from exchange.core import merkle
from exchange.core.errors import FormatError, NotFoundError
from exchange.store import Store
from exchange.store.schema import NODES_FROM_LEVEL

ORIGIN = "yrd/330000"
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# How a log grows: ("append", n), ("sync", [batch sizes]) committed, or ("abandon", n)
# staged and then dropped.
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 70)),
        st.tuples(st.just("sync"), st.lists(st.integers(1, 40), min_size=1, max_size=4)),
        st.tuples(st.just("abandon"), st.integers(1, 40)),
    ),
    min_size=1,
    max_size=7,
)


def _batch(start: int, n: int) -> tuple[list[bytes], list[bytes]]:
    envelopes = [b"env %d" % i for i in range(start, start + n)]
    return envelopes, [merkle.leaf_hash(e) for e in envelopes]


def _grow(store: Store, steps: list) -> int:
    size = 0
    for kind, arg in steps:
        if kind == "append":
            envelopes, leaves = _batch(size, arg)
            with store.write() as tx:
                # (Again: a first sync abandoned leaves no origin row behind.)
                tx.ensure_origin(ORIGIN, "330000")
                tx.append(ORIGIN, size, envelopes, [entries_pb2.Entry()] * arg, leaves, index=False)
            size += arg
            continue
        with store.write() as tx:
            staging = tx.begin_staging(ORIGIN, "330000")
        for n in arg if kind == "sync" else [arg]:
            envelopes, leaves = _batch(staging.next, n)
            with store.write() as tx:
                tx.stage(staging, staging.next, envelopes, [None] * n, leaves)
        if kind == "sync":
            with store.write() as tx:
                tx.commit_staged(staging, tx.staged_root(staging), index=False)
            size = staging.next
        else:
            store.end_staging(staging)
    with store.write() as tx:
        tx.ensure_origin(ORIGIN, "330000")
    return size


class _Queries:
    """Counts the statements run on the store's read connection."""

    def __init__(self, store: Store) -> None:
        self.count = 0
        store.read.set_trace_callback(self._seen)

    def _seen(self, _sql: str) -> None:
        self.count += 1


def _run(steps: list, check) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "t.db")
        try:
            size = _grow(store, steps)
            memory = merkle.MemoryHashStore()
            if size:
                memory.append(_batch(0, size)[1])
            check(store, size, memory)
        finally:
            store.close()


@SETTINGS
@given(steps=STEPS, data=st.data())
def test_answers_are_the_memory_trees(steps, data) -> None:
    def check(store: Store, size: int, memory: merkle.MemoryHashStore) -> None:
        # Stored: exactly nodes_for_append's nodes of the upper levels, none past the size.
        rows = store.read.execute(
            "SELECT level, idx, hash FROM nodes WHERE origin = ?", (ORIGIN,)
        ).fetchall()
        upper = {k: h for k, h in memory.snapshot().items() if k[0] >= NODES_FROM_LEVEL}
        assert {(lv, ix): h for lv, ix, h in rows} == upper
        assert store.origin(ORIGIN).size == size
        if not size:
            return
        reader = store.hash_reader(ORIGIN)
        assert store.origin(ORIGIN).root == merkle.root_hash(size, memory)
        queries = _Queries(store)
        for _ in range(5):
            n = data.draw(st.integers(1, size), label="size")
            i = data.draw(st.integers(0, n - 1), label="index")
            old = data.draw(st.integers(1, n), label="old size")
            for fn, args in (
                (merkle.root_hash, (n,)),
                (merkle.inclusion_proof, (i, n)),
                (merkle.consistency_proof, (old, n)),
            ):
                before = queries.count
                assert fn(*args, reader) == fn(*args, memory)
                assert queries.count - before <= 2, fn.__name__
        assert queries.count > 0  # the proofs above were read through it
        # Any complete subtree, asked for alone or with others.
        levels = [lv for lv in range(size.bit_length()) if size >> lv]
        keys = [
            (lv, data.draw(st.integers(0, (size >> lv) - 1), label=f"index at level {lv}"))
            for lv in data.draw(st.lists(st.sampled_from(levels), min_size=1, max_size=12))
        ]
        assert reader.get_many(keys) == memory.get_many(keys)

    _run(steps, check)


@SETTINGS
@given(steps=STEPS, data=st.data())
def test_a_subtree_not_complete_is_not_found(steps, data) -> None:
    def check(store: Store, size: int, _memory: merkle.MemoryHashStore) -> None:
        level = data.draw(st.integers(0, NODES_FROM_LEVEL + 1), label="level")
        # The first subtree of that level the log does not hold whole (some of
        # its leaves may be there: it must not be hashed from them).
        key = (level, size >> level)
        held = [(0, size - 1)] if size else []  # asked with it, found: still refused
        with pytest.raises(NotFoundError, match=rf"subtree hash \({level}, {key[1]}\) not stored"):
            store.hash_reader(ORIGIN).get_many([*held, key])

    _run(steps, check)


def test_keys_no_tree_has_are_not_found(tmp_path) -> None:
    store = Store(tmp_path / "t.db")
    _grow(store, [("append", 40)])
    reader = store.hash_reader(ORIGIN)
    for key in [(-1, 0), (1, -1), (3, 1 << 62), (0, 1 << 63), (NODES_FROM_LEVEL, 1 << 70)]:
        with pytest.raises(NotFoundError, match="not stored"):
            reader.get_many([(0, 0), key])
    store.close()


def test_a_damaged_leaf_hash_is_a_clear_error(tmp_path) -> None:
    store = Store(tmp_path / "t.db")
    _grow(store, [("append", 12)])
    with store.write() as tx:  # a leaf hash cut short on disk
        tx.conn.execute(
            "UPDATE entries SET leaf_hash = ? WHERE origin = ? AND idx = 5",
            (hashlib.sha256(b"x").digest()[:31], ORIGIN),
        )
    reader = store.hash_reader(ORIGIN)
    with pytest.raises(FormatError, match="31 bytes"):
        reader.get_many([(2, 1)])  # leaves 4..7, hashed from the entries
    with pytest.raises(FormatError, match="31 bytes"):
        merkle.root_hash(12, reader)
    store.close()
