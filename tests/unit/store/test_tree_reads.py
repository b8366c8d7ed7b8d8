"""Subtree-hash reads from SQLite: right answers, and O(log n) work per proof.

The work is counted in SQLite virtual-machine steps, not seconds: a query that
scans every node of an origin shows up as steps growing with the tree, on any
machine, however busy.
"""

from __future__ import annotations

import hashlib

import pytest

from exchange._proto.brandex.v1 import entries_pb2
from exchange.core import merkle
from exchange.core.errors import NotFoundError
from exchange.store import Store

ORIGIN = "yrd/330000"


def _leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(b"leaf %d" % i).digest() for i in range(n)]


def _store(tmp_path, n: int, batch: int = 1000) -> Store:
    store = Store(tmp_path / f"t{n}.db")
    leaves = _leaves(n)
    with store.write() as tx:
        tx.ensure_origin(ORIGIN, "330000")
        for s in range(0, n, batch):
            chunk = leaves[s : s + batch]
            envelopes = [b"e%d" % i for i in range(s, s + len(chunk))]
            tx.append(ORIGIN, s, envelopes, [entries_pb2.Entry()] * len(chunk), chunk)
    return store


def _steps(store: Store, fn) -> int:
    count = 0

    def tick() -> int:
        nonlocal count
        count += 1
        return 0

    store.read.set_progress_handler(tick, 1)
    try:
        fn()
    finally:
        store.read.set_progress_handler(None, 1)
    return count


def test_stored_tree_matches_the_in_memory_tree(tmp_path):
    n = 1_337
    store = _store(tmp_path, n, batch=97)
    memory = merkle.MemoryHashStore()
    memory.append(_leaves(n))
    reader = store.hash_reader(ORIGIN)
    assert store.origin(ORIGIN).root == merkle.root_hash(n, memory)
    for size in (1, 2, 97, 512, 1000, n):
        assert merkle.root_hash(size, reader) == merkle.root_hash(size, memory)
    for index in (0, 1, 500, n - 1):
        assert merkle.inclusion_proof(index, n, reader) == merkle.inclusion_proof(index, n, memory)
    assert merkle.consistency_proof(700, n, reader) == merkle.consistency_proof(700, n, memory)


def test_a_missing_subtree_hash_is_a_clear_error(tmp_path):
    store = _store(tmp_path, 8)
    with pytest.raises(NotFoundError, match=r"subtree hash \(0, 9\) not stored"):
        store.hash_reader(ORIGIN).get_many([(0, 9)])


def test_proof_reads_do_not_grow_with_the_tree(tmp_path):
    small, large = _store(tmp_path, 1 << 10), _store(tmp_path, 1 << 14)

    def work(store: Store, n: int) -> int:
        reader = store.hash_reader(ORIGIN)
        return _steps(store, lambda: merkle.inclusion_proof(n // 3, n, reader))

    a, b = work(small, 1 << 10), work(large, 1 << 14)
    # 16x the leaves: a proof has 14 instead of 10 hashes, so about 1.4x the work.
    # A scan of the origin's nodes would take about 16x.
    assert b < 2.5 * a, (a, b)
