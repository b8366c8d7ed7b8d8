"""The tree's level 0 is the entries' leaf hashes (schema version 4).

``nodes`` holds levels 1 and up, so each leaf hash is stored once. Proofs must
come out the same as from an in-memory tree; a version 3 file, which also holds
level-0 ``nodes`` rows, must still open, prove and grow; a file from a
newer brandex is refused before anything is written.
"""

from __future__ import annotations

import sqlite3

import pytest

from exchange._proto.brandex.v1 import entries_pb2
from exchange.core import merkle
from exchange.core.errors import FormatError
from exchange.store import Store
from exchange.store.schema import SCHEMA_VERSION

ORIGIN = "yrd/330000"


def _leaves(start: int, n: int) -> tuple[list[bytes], list[bytes]]:
    envelopes = [b"env %d" % i for i in range(start, start + n)]
    return envelopes, [merkle.leaf_hash(e) for e in envelopes]


def _append(store: Store, start: int, n: int) -> None:
    envelopes, leaves = _leaves(start, n)
    with store.write() as tx:
        tx.ensure_origin(ORIGIN, "330000")
        tx.append(ORIGIN, start, envelopes, [entries_pb2.Entry()] * n, leaves, index=False)


def _check_proofs(store: Store, size: int) -> None:
    """Every inclusion proof and a consistency proof per earlier size equal a memory tree's."""
    _, leaves = _leaves(0, size)
    memory = merkle.MemoryHashStore()
    memory.append(leaves)
    reader = store.hash_reader(ORIGIN)
    root = merkle.root_hash(size, reader)
    assert root == merkle.root_hash(size, memory)
    for i in range(size):
        proof = merkle.inclusion_proof(i, size, reader)
        assert proof == merkle.inclusion_proof(i, size, memory)
        merkle.verify_inclusion(leaves[i], i, size, proof, root)
    for old in range(1, size):
        proof = merkle.consistency_proof(old, size, reader)
        merkle.verify_consistency(old, size, proof, merkle.root_hash(old, memory), root)


def _level_counts(path) -> dict[int, int]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT level, count(*) FROM nodes WHERE origin = ? GROUP BY level", (ORIGIN,)
        )
        return dict(rows.fetchall())


def test_nodes_hold_levels_above_the_leaves(tmp_path) -> None:
    store = Store(tmp_path / "s.db")
    for start, n in [(0, 1), (1, 4), (5, 8), (13, 6)]:  # 19 leaves, appended unevenly
        _append(store, start, n)
    counts = _level_counts(tmp_path / "s.db")
    assert 0 not in counts
    assert counts == {lv: 19 >> lv for lv in range(1, (19).bit_length())}
    _check_proofs(store, 19)
    store.close()


def test_a_version_3_file_opens_proves_and_grows(tmp_path) -> None:
    path = tmp_path / "old.db"
    store = Store(path)
    _append(store, 0, 11)
    store.close()
    with sqlite3.connect(path) as conn:  # what version 3 wrote: the leaves in nodes too
        conn.executemany(
            "INSERT INTO nodes (origin, level, idx, hash) VALUES (?, 0, ?, ?)",
            [(ORIGIN, i, h) for i, h in enumerate(_leaves(0, 11)[1])],
        )
        conn.execute("PRAGMA user_version = 3")

    store = Store(path)
    _check_proofs(store, 11)
    _append(store, 11, 6)  # no clash with the old level-0 rows
    _check_proofs(store, 17)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    store.close()


def test_a_newer_file_is_refused_unchanged(tmp_path) -> None:
    path = tmp_path / "new.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    with pytest.raises(FormatError, match="newer brandex"):
        Store(path)
    assert path.read_bytes() == before
