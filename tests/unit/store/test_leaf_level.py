"""The tree's level 0 is the entries' leaf hashes (schema version 4), and ``nodes``
holds only levels NODES_FROM_LEVEL and up (version 5).

Each leaf hash is stored once, and the small subtrees between are hashed from the
leaves when read. Proofs must come out the same as from an in-memory tree; a
version 3 file (level-0 ``nodes`` rows too) and a version 4 file (levels 1 to 3
too) must still open, prove and grow; a file from a newer brandex is refused
before anything is written, and a version 5 file by the brandex before it.
"""

from __future__ import annotations

import sqlite3

import pytest

from exchange._proto.brandex.v1 import entries_pb2
from exchange.core import merkle
from exchange.core.errors import FormatError
from exchange.store import Store, schema
from exchange.store.schema import NODES_FROM_LEVEL, SCHEMA_VERSION

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


def test_nodes_hold_only_the_upper_levels(tmp_path) -> None:
    store = Store(tmp_path / "s.db")
    # 83 leaves, appended unevenly: batches end inside 2-, 4-, 8- and 16-leaf subtrees.
    for start, n in [(0, 1), (1, 4), (5, 8), (13, 6), (19, 30), (49, 3), (52, 31)]:
        _append(store, start, n)
    counts = _level_counts(tmp_path / "s.db")
    assert NODES_FROM_LEVEL == 4
    assert counts == {lv: 83 >> lv for lv in range(4, (83).bit_length())}  # 5 + 2 + 1 rows
    _check_proofs(store, 83)
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


def _rows_below(path, top: int) -> set[tuple[int, int]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT level, idx FROM nodes WHERE origin = ? AND level < ?", (ORIGIN, top)
        )
        return set(rows.fetchall())


def test_a_version_4_file_opens_proves_grows_and_discards(tmp_path) -> None:
    path = tmp_path / "v4.db"
    store = Store(path)
    _append(store, 0, 37)
    store.close()
    memory = merkle.MemoryHashStore()
    memory.append(_leaves(0, 45)[1])
    with sqlite3.connect(path) as conn:
        # What version 4 wrote: levels 1 to 3 as rows too, here also for 8 entries
        # a killed sync staged past the size (37).
        envelopes, leaves = _leaves(37, 8)
        conn.executemany(
            "INSERT INTO entries (origin, idx, leaf_hash, envelope, type) VALUES (?, ?, ?, ?, ?)",
            [
                (ORIGIN, 37 + i, lh, env, None)
                for i, (env, lh) in enumerate(zip(envelopes, leaves, strict=True))
            ],
        )
        low = {k: h for k, h in memory.snapshot().items() if 1 <= k[0] < NODES_FROM_LEVEL}
        conn.executemany(
            "INSERT INTO nodes (origin, level, idx, hash) VALUES (?, ?, ?, ?)",
            [(ORIGIN, lv, ix, h) for (lv, ix), h in low.items()],
        )
        # Not read any more: even a wrong one changes no answer.
        conn.execute("UPDATE nodes SET hash = zeroblob(32) WHERE level = 2 AND idx = 3")
        conn.execute("PRAGMA user_version = 4")

    store = Store(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    _check_proofs(store, 37)
    assert _rows_below(path, NODES_FROM_LEVEL) == set(low)
    with store.write() as tx:  # a new claim that does not resume: the staged rows go
        staging = tx.begin_staging(ORIGIN, "330000")
    store.end_staging(staging)
    # Exactly what a log of 37 does not hold is gone, the old rows below it stay.
    assert _rows_below(path, NODES_FROM_LEVEL) == {(lv, ix) for lv, ix in low if ix < 37 >> lv}
    assert store.envelopes(ORIGIN, 0, 100) == _leaves(0, 37)[0]
    _append(store, 37, 12)  # no clash with the old rows
    _check_proofs(store, 49)
    store.close()


def test_a_version_5_file_is_refused_by_the_brandex_before(tmp_path, monkeypatch) -> None:
    path = tmp_path / "v5.db"
    store = Store(path)
    _append(store, 0, 20)
    store.close()
    before = path.read_bytes()
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 4)  # what version 4's check reads
    with pytest.raises(FormatError, match="schema version 5 was written by a newer brandex"):
        Store(path)
    assert path.read_bytes() == before


def test_a_newer_file_is_refused_unchanged(tmp_path) -> None:
    path = tmp_path / "new.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    with pytest.raises(FormatError, match="newer brandex"):
        Store(path)
    assert path.read_bytes() == before
