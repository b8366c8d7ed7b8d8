"""Checking a node's SQLite file from the outside, as an auditor would after a crash.

Nothing here trusts what the node computed: the Merkle root is re-derived from
the stored envelope bytes with ``exchange.core.merkle`` and compared with the
root in the origin row, with the tree the node's subtree table gives, and with
the issuer-signed checkpoint (whose signature is checked against the origin's
certified key); sizes, indices, projections and the full-text index are counted
against the log. ``PRAGMA integrity_check`` covers the file itself.

Two things a killed node may leave behind are not damage: rows past an origin's
size (a sync's staged batches, invisible to reads until the next sync of the
origin resumes from them) and registry tables behind the log (``origins.indexed``, caught up
by the indexer). Both are counted and bounded, never trusted.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from nacl.signing import VerifyKey

from exchange.core import merkle
from exchange.core.checkpoint import open_checkpoint
from exchange.core.note import Ed25519NoteVerifier
from exchange.node.verify import verify_log
from exchange.store.schema import NODES_FROM_LEVEL

__all__ = ["LogState", "connect_ro", "leaf_hashes", "root_at", "verify_database"]

# Projection tables filled from one entry type each, keyed (origin, idx).
_PER_ENTRY = {
    "status_change": "status_changes",
    "case_action": "case_actions",
    "accession": "accessions",
    "withdrawal": "withdrawals",
}


@dataclass(frozen=True)
class LogState:
    origin: str
    size: int
    root: bytes
    frozen: bool
    staged: int = 0  # entry rows past the size (an unfinished sync's)
    indexed: int = 0  # entries the registry tables reflect


def connect_ro(path: Path) -> sqlite3.Connection:
    """Read-only; works on a live node's WAL database and on a killed one's."""
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)


def leaf_hashes(conn: sqlite3.Connection, origin: str, start: int = 0) -> list[bytes]:
    """Leaf hashes re-derived from the stored envelope bytes of the log, in order."""
    rows = conn.execute(
        "SELECT envelope FROM entries WHERE origin = ? AND idx >= ?"
        " AND idx < (SELECT size FROM origins WHERE origin = ?) ORDER BY idx",
        (origin, start, origin),
    )
    return [merkle.leaf_hash(r[0]) for r in rows]


def root_at(conn: sqlite3.Connection, origin: str, size: int) -> bytes:
    """The root of the first ``size`` stored entries, re-derived from their bytes."""
    tree = merkle.MemoryHashStore()
    tree.append(leaf_hashes(conn, origin)[:size])
    return merkle.root_hash(size, tree) if size else merkle.EMPTY_ROOT


def _one(conn: sqlite3.Connection, sql: str, params: Sequence[object] = ()) -> int:
    return conn.execute(sql, params).fetchone()[0]


def verify_database(path: Path, *, anchors: Sequence[object] | None = None) -> dict[str, LogState]:
    """Assert that every log in the file verifies; return origin -> state.

    Args:
        path: the node's database.
        anchors: trust anchors; when given, every envelope's signature is checked
            too (key announcements against the anchors), not only the tree.
    """
    conn = connect_ro(path)
    try:
        problems = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        assert problems == ["ok"], f"{path}: integrity_check: {problems[:5]}"
        assert not conn.execute("PRAGMA foreign_key_check").fetchall()
        out: dict[str, LogState] = {}
        rows = conn.execute(
            "SELECT origin, size, root, checkpoint, frozen, indexed FROM origins ORDER BY origin"
        ).fetchall()
        known = {r[0] for r in rows}
        for table in ("entries", "nodes", "checkpoints", "keys", "records"):
            orphans = {r[0] for r in conn.execute(f"SELECT DISTINCT origin FROM {table}")} - known
            assert not orphans, f"{table} holds rows of unknown origins {orphans}"
        for origin, size, root, note, frozen, indexed in rows:
            state = _verify_origin(conn, origin, size, root, note, indexed, anchors)
            out[origin] = LogState(
                origin, size, state.root, bool(frozen), state.staged, state.indexed
            )
        records = _one(conn, "SELECT count(*) FROM records")
        indexed = _one(conn, "SELECT count(*) FROM records_fts")
        assert indexed == records, f"search index holds {indexed} rows for {records} records"
        return out
    finally:
        conn.close()


def _verify_origin(
    conn: sqlite3.Connection,
    origin: str,
    size: int,
    root: bytes | None,
    note: str | None,
    indexed: int,
    anchors: Sequence[object] | None,
) -> LogState:
    assert 0 <= indexed <= size, f"{origin}: indexed {indexed} outside 0..{size}"
    count, lo, hi = conn.execute(
        "SELECT count(*), min(idx), max(idx) FROM entries WHERE origin = ? AND idx < ?",
        (origin, size),
    ).fetchone()
    assert count == size, f"{origin}: {count} entries stored, origin row says {size}"
    staged, slo, shi = conn.execute(
        "SELECT count(*), min(idx), max(idx) FROM entries WHERE origin = ? AND idx >= ?",
        (origin, size),
    ).fetchone()
    if staged:  # an unfinished sync's batches: contiguous from the size on
        assert (slo, shi) == (size, size + staged - 1), f"{origin}: staged rows {slo}..{shi}"
    if size == 0:
        assert not note, f"{origin}: a checkpoint for an empty log"
        return LogState(origin, 0, merkle.EMPTY_ROOT, False, staged)
    assert (lo, hi) == (0, size - 1), f"{origin}: indices {lo}..{hi} for size {size}"
    stored = conn.execute(
        "SELECT leaf_hash, envelope FROM entries WHERE origin = ? AND idx < ? ORDER BY idx",
        (origin, size),
    ).fetchall()
    leaves = [merkle.leaf_hash(env) for _, env in stored]
    bad = [i for i, ((lh, _), mine) in enumerate(zip(stored, leaves, strict=True)) if lh != mine]
    assert not bad, f"{origin}: stored leaf hashes differ from the envelopes at {bad[:5]}"
    assert len(set(leaves)) == size, f"{origin}: the same envelope is stored twice"
    tree = merkle.MemoryHashStore()
    tree.append(leaves)
    derived = merkle.root_hash(size, tree)
    assert derived == root, f"{origin}: origin row root differs from the entries' root"
    # The node's subtree table must hold exactly this tree: every complete subtree
    # with the right hash (no half-written append); past the head, only staged ones.
    nodes = {
        (lv, ix): h
        for lv, ix, h in conn.execute(
            "SELECT level, idx, hash FROM nodes WHERE origin = ?", (origin,)
        )
        # Level 0 is entries.leaf_hash, checked above; levels 1-3 are hashed when read.
        if ix < size >> lv and lv >= NODES_FROM_LEVEL
    }
    above = {k: h for k, h in tree.snapshot().items() if k[0] >= NODES_FROM_LEVEL}
    assert nodes == above, f"{origin}: subtree table differs from the entries' tree"
    # The head is an issuer-signed checkpoint for exactly this size and root.
    keys = [
        VerifyKey(r[0])
        for r in conn.execute("SELECT public_key FROM keys WHERE origin = ?", (origin,))
    ]
    assert keys, f"{origin}: no certified key stored"
    opened = None
    for k in keys:
        try:
            opened = open_checkpoint(note, Ed25519NoteVerifier(origin, k)).checkpoint
            break
        except Exception:  # try the origin's other keys
            continue
    assert opened is not None, f"{origin}: head checkpoint is not signed by the origin's key"
    assert (opened.size, opened.root_hash) == (size, derived), f"{origin}: checkpoint mismatch"
    hist = conn.execute(
        "SELECT root FROM checkpoints WHERE origin = ? AND size = ?", (origin, size)
    ).fetchone()
    assert hist is not None and hist[0] == derived, f"{origin}: head missing from history"
    # Every accepted checkpoint in the history is a prefix of this log.
    for csize, croot in conn.execute(
        "SELECT size, root FROM checkpoints WHERE origin = ? AND size < ?", (origin, size)
    ):
        assert merkle.root_hash(csize, tree) == croot, f"{origin}: history at {csize} forks"
    for (kidx,) in conn.execute("SELECT idx FROM keys WHERE origin = ?", (origin,)):
        kind = conn.execute(
            "SELECT type FROM entries WHERE origin = ? AND idx = ?", (origin, kidx)
        ).fetchone()
        assert kind == ("key_announcement",), f"{origin}: key row points at {kind}"
    # Projections hold exactly what the indexed part of the log says (no re-issued
    # ids in these tests): nothing missing, nothing from past the cursor.
    recognitions = _one(
        conn,
        "SELECT count(*) FROM entries WHERE origin = ? AND type = 'recognition' AND idx < ?",
        (origin, indexed),
    )
    joined = _one(
        conn,
        "SELECT count(*) FROM records r JOIN entries e ON e.origin = r.origin AND e.idx = r.idx"
        " AND e.type = 'recognition' WHERE r.origin = ? AND r.idx < ?",
        (origin, indexed),
    )
    rows = _one(conn, "SELECT count(*) FROM records WHERE origin = ?", (origin,))
    assert rows == joined == recognitions, (
        f"{origin}: {rows} record rows, {joined} backed by indexed entries,"
        f" {recognitions} recognitions among the first {indexed}"
    )
    for body, table in _PER_ENTRY.items():
        n = _one(
            conn,
            "SELECT count(*) FROM entries WHERE origin = ? AND type = ? AND idx < ?",
            (origin, body, indexed),
        )
        assert _one(conn, f"SELECT count(*) FROM {table} WHERE origin = ?", (origin,)) == n, table
    if anchors is not None:
        verify_log(origin, [env for _, env in stored], anchors, datetime.now(UTC))
    return LogState(origin, size, derived, False, staged, indexed)
