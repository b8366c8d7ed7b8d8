"""One write transaction on the node's SQLite file, and the rows it hands out.

:class:`Tx` is what ``Store.write()`` yields: every change to a log, its subtree
hashes, checkpoints, cosignatures, keys, evidence and the registry projections
goes through it, inside one ``BEGIN IMMEDIATE`` transaction, so an append is all
there or not at all. :class:`Staging` is a log being received in batches
(verified, not yet committed); :class:`OriginRow` a log's head as stored.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import cast

from exchange._proto.brandex.v1 import entries_pb2
from exchange.core import merkle
from exchange.core.dsse import parse_envelope
from exchange.core.errors import ConflictError, NotFoundError
from exchange.store.projections import apply_entries, forget_origin, set_aside_suspects
from exchange.store.schema import NODES_FROM_LEVEL

__all__ = ["ORIGIN_COLUMNS", "OriginRow", "SqliteHashReader", "Staging", "Tx", "origin_row"]


@dataclass(frozen=True)
class OriginRow:
    """The head of one origin's log as this node holds it."""

    origin: str
    region: str
    size: int
    root: bytes
    checkpoint: str
    frozen: bool
    frozen_reason: str
    indexed: int = 0  # entries reflected in the registry tables (<= size)


_SQLITE_MAX_INT = (1 << 63) - 1


class SqliteHashReader:
    """Serves complete-subtree hashes of one origin with at most two queries per proof.

    Level 0 (the leaves) is each entry's ``leaf_hash`` (schema version 4) and the
    ``nodes`` table holds levels :data:`~exchange.store.schema.NODES_FROM_LEVEL` and
    up (version 5). A node in between covers at most 8 leaves: it is hashed here
    from their leaf hashes, read in one query with any leaves asked for, so a proof
    still costs one query for the upper levels and one for the leaves.
    """

    def __init__(self, conn: sqlite3.Connection, origin: str) -> None:
        self._conn = conn
        self._origin = origin

    def get_many(self, keys: Sequence[tuple[int, int]]) -> list[bytes]:
        if not keys:
            return []
        found: dict[tuple[int, int], bytes] = {}
        # Keys no tree has (negative, or beyond what SQLite holds) are simply not found.
        stored = [k for k in keys if k[0] >= NODES_FROM_LEVEL and 0 <= k[1] <= _SQLITE_MAX_INT]
        low = [k for k in keys if 0 <= k[0] < NODES_FROM_LEVEL]
        # The keys go in as a VALUES table joined on the primary key: written as
        # OR-ed (level, idx) pairs or as a row-value IN, SQLite scans every node
        # of the origin instead, which made each proof and append O(n).
        rows = _pairs_join(
            self._conn,
            "WITH k(level, idx) AS (VALUES {values}) SELECT k.level, k.idx, n.hash"
            " FROM k JOIN nodes AS n ON n.origin = ? AND n.level = k.level AND n.idx = k.idx",
            stored,
            self._origin,
        )
        found.update({(lv, ix): h for lv, ix, h in rows})
        if low:
            leaves = self._leaves(_leaf_ranges(low))
            for lv, ix in low:
                first = ix << lv
                span = [leaves.get(i) for i in range(first, first + (1 << lv))]
                if None not in span:  # every leaf of the subtree is held
                    held = cast(list[bytes], span)
                    found[(lv, ix)] = held[0] if lv == 0 else merkle.subtree_hash(held)
        try:
            return [found[k] for k in keys]
        except KeyError as exc:
            raise NotFoundError(f"{self._origin}: subtree hash {exc.args[0]} not stored") from None

    def _leaves(self, ranges: list[tuple[int, int]]) -> dict[int, bytes]:
        """Leaf hashes of the ``[lo, hi)`` index ranges: one range search on the key each."""
        rows = _pairs_join(
            self._conn,
            "WITH r(lo, hi) AS (VALUES {values}) SELECT e.idx, e.leaf_hash FROM r"
            " JOIN entries AS e ON e.origin = ? AND e.idx >= r.lo AND e.idx < r.hi",
            ranges,
            self._origin,
        )
        return dict(rows)


def _pairs_join(
    conn: sqlite3.Connection, sql: str, pairs: Sequence[tuple[int, int]], origin: str
) -> Iterator[tuple]:
    """Rows of ``sql`` with ``pairs`` as its ``VALUES {values}`` table, then ``origin``.

    SQLite caps bound parameters, so the pairs go in chunks of 400 (a proof needs
    about 2*log2(n) of them: more than one chunk is rare).
    """
    for start in range(0, len(pairs), 400):
        chunk = pairs[start : start + 400]
        params: list[object] = [v for pair in chunk for v in pair]
        values = ", ".join(["(?, ?)"] * len(chunk))
        yield from conn.execute(sql.format(values=values), [*params, origin])


def _leaf_ranges(keys: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The leaf index ranges the subtrees ``keys`` cover, merged where they touch,
    and clipped to what SQLite can hold (no entry lies beyond)."""
    spans = sorted((max(ix << lv, 0), min((ix + 1) << lv, _SQLITE_MAX_INT)) for lv, ix in keys)
    merged: list[tuple[int, int]] = []
    for lo, hi in spans:
        if lo >= hi:
            continue
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def origin_row(r: sqlite3.Row | tuple) -> OriginRow:
    origin, region, size, root, checkpoint, frozen, reason, indexed = r
    return OriginRow(
        origin,
        region,
        size,
        root or merkle.EMPTY_ROOT,
        checkpoint or "",
        bool(frozen),
        reason or "",
        indexed or 0,
    )


ORIGIN_COLUMNS = "origin, region, size, root, checkpoint, frozen, frozen_reason, indexed"


class Staging:
    """A sync's claim on the rows past an origin's size.

    Rows past ``origins.size`` are invisible: every read is bounded by the size,
    which only moves when a checkpoint is accepted. A sync stores verified
    batches there while the stream goes on, each in a short transaction, and
    makes them the log in one small transaction at the end, or drops them.
    What a killed sync staged stays, still invisible, and the next sync of the
    origin goes on from its end (see ``Tx.begin_staging``). Only the newest
    claim on an origin may write; an older one (a stalled sync someone gave up
    waiting for) finds it has been taken over. A claim that is still storing
    batches is not taken over: peers that push the same origin would otherwise
    keep restarting a long sync.
    """

    def __init__(self, origin: str, start: int, created: bool) -> None:
        self.origin = origin
        self.start = start
        self.next = start
        self.created = created  # the origin row was made for this sync
        self.resumed = 0  # entries kept from an earlier claim
        self.touched = time.monotonic()  # last claimed or stored a batch


class Tx:
    """One write transaction. Obtain it from ``Store.write()``."""

    def __init__(self, conn: sqlite3.Connection, stagings: dict[str, Staging]) -> None:
        self.conn = conn
        self._stagings = stagings

    def origin(self, origin: str) -> OriginRow | None:
        r = self.conn.execute(
            f"SELECT {ORIGIN_COLUMNS} FROM origins WHERE origin = ?", (origin,)
        ).fetchone()
        return origin_row(r) if r else None

    def ensure_origin(self, origin: str, region: str) -> OriginRow:
        self.conn.execute(
            "INSERT OR IGNORE INTO origins (origin, region, size, root, checkpoint, frozen,"
            " frozen_reason, updated_at, indexed) VALUES (?, ?, 0, ?, '', 0, '', '', 0)",
            (origin, region, merkle.EMPTY_ROOT),
        )
        row = self.origin(origin)
        assert row is not None
        return row

    def hash_reader(self, origin: str) -> SqliteHashReader:
        return SqliteHashReader(self.conn, origin)

    def append(
        self,
        origin: str,
        start: int,
        envelopes: Sequence[bytes],
        entries: Sequence[object],
        leaf_hashes: Sequence[bytes] | None = None,
        *,
        index: bool = True,
    ) -> bytes:
        """Append verified envelopes at ``start`` (the current size); return the new root.

        ``entries`` are the parsed ``Entry`` messages of the same envelopes. With
        ``index`` (the default) they are folded into the registry tables in this
        same transaction, after any backlog; without it they wait for
        :meth:`index`, so a big sync commits its log without paying for the
        search index inside the write lock.
        """
        row = self.origin(origin)
        if row is None:
            raise NotFoundError(f"origin {origin} is not known here")
        if start != row.size:
            raise ValueError(f"{origin}: append at {start} but the log has {row.size} entries")
        self._stagings.pop(origin, None)  # this append wins over a sync in progress
        self.discard_past(origin, row.size)
        if leaf_hashes is None:
            leaf_hashes = [merkle.leaf_hash(e) for e in envelopes]
        types = [e.WhichOneof("body") for e in entries]  # type: ignore[attr-defined]
        self._insert(origin, start, envelopes, types, leaf_hashes)
        size = start + len(envelopes)
        indexed = row.indexed
        if index:
            if indexed < start:
                self.index(origin)  # the backlog first: projections follow log order
            apply_entries(self.conn, origin, start, entries)
            indexed = size
        root = merkle.root_hash(size, self.hash_reader(origin))
        self.conn.execute(
            "UPDATE origins SET size = ?, root = ?, indexed = ?, updated_at = datetime('now')"
            " WHERE origin = ?",
            (size, root, indexed, origin),
        )
        return root

    def _insert(
        self,
        origin: str,
        start: int,
        envelopes: Sequence[bytes],
        types: Sequence[str | None],
        leaf_hashes: Sequence[bytes],
    ) -> None:
        """The entry rows and the complete subtrees above them that ``nodes`` keeps
        (level 0 is the entries'; levels 1 to NODES_FROM_LEVEL - 1 are hashed when read)."""
        nodes = merkle.nodes_for_append(start, leaf_hashes, self.hash_reader(origin))
        self.conn.executemany(
            "INSERT INTO nodes (origin, level, idx, hash) VALUES (?, ?, ?, ?)",
            [(origin, lv, ix, h) for lv, ix, h in nodes if lv >= NODES_FROM_LEVEL],
        )
        self.conn.executemany(
            "INSERT INTO entries (origin, idx, leaf_hash, envelope, type) VALUES (?, ?, ?, ?, ?)",
            [
                (origin, start + i, lh, env, t)
                for i, (lh, env, t) in enumerate(zip(leaf_hashes, envelopes, types, strict=True))
            ],
        )

    # ---------------------------------------------------------------- staging

    def begin_staging(
        self,
        origin: str,
        region: str,
        take_over_after: float = 0.0,
        resume_up_to: int | None = None,
    ) -> Staging:
        """Claim the rows past ``origin``'s size for one sync (see :class:`Staging`).

        Rows staged before (by a sync that was killed, or taken over) were
        verified when they were stored; with ``resume_up_to`` (the size of the
        checkpoint this sync aims at) they are kept when they fit under it, and
        the claim goes on from their end. Otherwise they are dropped.

        Raises:
            ConflictError: another sync's claim stored a batch less than
                ``take_over_after`` seconds ago.
        """
        held = self._stagings.get(origin)
        if held is not None and time.monotonic() - held.touched < take_over_after:
            raise ConflictError(
                f"{origin}: another sync is storing entries (at {held.next} of the log)"
            )
        before = self.origin(origin)
        # An origin row holding nothing exists only for a sync: a failed one removes it.
        created = before is None or (before.size == 0 and not before.checkpoint)
        row = self.ensure_origin(origin, region)
        staging = Staging(origin, row.size, created)
        count, low, high = self.conn.execute(
            "SELECT count(*), min(idx), max(idx) FROM entries WHERE origin = ? AND idx >= ?",
            (origin, row.size),
        ).fetchone()
        if count and resume_up_to is not None and low == row.size and high < resume_up_to:
            staging.next = high + 1  # contiguous: every staging transaction is whole
            staging.resumed = count
        else:
            self.discard_past(origin, row.size)
        self._stagings[origin] = staging
        return staging

    def _owned(self, staging: Staging) -> None:
        if self._stagings.get(staging.origin) is not staging:
            raise ConflictError(f"{staging.origin}: another sync or append took over")

    def stage(
        self,
        staging: Staging,
        start: int,
        envelopes: Sequence[bytes],
        types: Sequence[str | None],
        leaf_hashes: Sequence[bytes],
    ) -> None:
        """Store verified entries past the size, where nobody reads them yet."""
        self._owned(staging)
        if start != staging.next:
            raise ValueError(f"{staging.origin}: staging at {start}, expected {staging.next}")
        self._insert(staging.origin, start, envelopes, types, leaf_hashes)
        staging.next = start + len(envelopes)
        staging.touched = time.monotonic()

    def staged_root(self, staging: Staging) -> bytes:
        """The root the log would have with every staged entry in it."""
        self._owned(staging)
        return merkle.root_hash(staging.next, self.hash_reader(staging.origin))

    def commit_staged(
        self,
        staging: Staging,
        root: bytes,
        *,
        index: bool = True,
        found: tuple[Sequence[object], Sequence[list]] | None = None,
    ) -> None:
        """Make the staged entries part of the log (the caller checked ``root``).

        ``found``: the staged entries parsed, with their stateless rule results
        (see :meth:`index_checked`), when the caller has them; otherwise ``index``
        reads and parses them again.
        """
        self._owned(staging)
        origin = staging.origin
        row = self.origin(origin)
        assert row is not None
        if row.size != staging.start:
            raise ConflictError(f"{origin}: the log moved from {staging.start} to {row.size}")
        self.conn.execute(
            "UPDATE origins SET size = ?, root = ?, updated_at = datetime('now') WHERE origin = ?",
            (staging.next, root, origin),
        )
        del self._stagings[origin]
        if index and (found is None or not self.index_checked(origin, staging.start, *found)):
            self.index(origin)

    def end_staging(self, staging: Staging) -> None:
        """Drop what an unfinished staging stored (nothing, once committed or taken over)."""
        if self._stagings.get(staging.origin) is staging:
            del self._stagings[staging.origin]
            row = self.origin(staging.origin)
            assert row is not None
            self.discard_past(staging.origin, row.size)
            if staging.created and row.size == 0:  # leave no trace of a failed first sync
                self.conn.execute("DELETE FROM origins WHERE origin = ?", (staging.origin,))

    def discard_past(self, origin: str, size: int) -> None:
        """Delete the entries and subtree hashes that a log of ``size`` does not hold."""
        staged = self.conn.execute(
            "SELECT 1 FROM entries WHERE origin = ? AND idx >= ? LIMIT 1", (origin, size)
        ).fetchone()
        if staged is None:
            return  # nodes are only ever staged with their entries
        self.conn.execute("DELETE FROM entries WHERE origin = ? AND idx >= ?", (origin, size))
        # Node (level, i) is complete in a tree of `size` leaves iff i < size >> level.
        # One range per level keeps every delete on the primary key. Levels below
        # NODES_FROM_LEVEL are only in older files (0: version 3, 1-3: version 4).
        self.conn.executemany(
            "DELETE FROM nodes WHERE origin = ? AND level = ? AND idx >= ?",
            [(origin, level, size >> level) for level in range(64)],
        )

    def index_checked(
        self, origin: str, start: int, entries: Sequence[object], stateless: Sequence[list]
    ) -> int:
        """Index parsed ``entries`` (``start...`` of ``origin``, as :meth:`Store.backlog`
        read them) with their stateless rule results found ahead.

        Returns 0, doing nothing, if the origin's cursor is no longer at ``start``.
        """
        row = self.origin(origin)
        if row is None or row.indexed != start or start + len(entries) > row.size:
            return 0
        entries = set_aside_suspects(self.conn, origin, start, list(entries))
        apply_entries(self.conn, origin, start, entries, stateless)
        end = start + len(entries)
        self.conn.execute("UPDATE origins SET indexed = ? WHERE origin = ?", (end, origin))
        return len(entries)

    def index(self, origin: str, limit: int | None = None) -> int:
        """Fold up to ``limit`` stored but unindexed entries into the registry tables.

        The envelopes were verified before they were stored, so they are only
        parsed here. Returns how many entries were indexed.
        """
        row = self.origin(origin)
        if row is None or row.indexed >= row.size:
            return 0
        end = row.size if limit is None else min(row.size, row.indexed + limit)
        rows = self.conn.execute(
            "SELECT envelope FROM entries WHERE origin = ? AND idx >= ? AND idx < ? ORDER BY idx",
            (origin, row.indexed, end),
        )
        entries = [entries_pb2.Entry.FromString(parse_envelope(raw).payload) for (raw,) in rows]
        entries = set_aside_suspects(self.conn, origin, row.indexed, entries)
        apply_entries(self.conn, origin, row.indexed, entries)
        self.conn.execute("UPDATE origins SET indexed = ? WHERE origin = ?", (end, origin))
        return end - row.indexed

    def accept_checkpoint(
        self, origin: str, size: int, root: bytes, note: str, source: str
    ) -> None:
        """Record a verified checkpoint as the origin's head (and in its history)."""
        self.conn.execute(
            "INSERT OR IGNORE INTO checkpoints (origin, size, root, note, source, accepted_at)"
            " VALUES (?, ?, ?, ?, ?, datetime('now'))",
            (origin, size, root, note, source),
        )
        self.conn.execute(
            "UPDATE origins SET checkpoint = ? WHERE origin = ? AND size = ?",
            (note, origin, size),
        )

    def add_cosignature(
        self, origin: str, size: int, witness: str, timestamp: int, line: str, replace: bool = False
    ) -> bool:
        """Keep a verified cosignature line; returns True if it was new (or, with
        ``replace``, different from the witness's line it replaced)."""
        if replace:
            old = self.conn.execute(
                "SELECT line FROM cosignatures WHERE origin = ? AND size = ? AND witness = ?",
                (origin, size, witness),
            ).fetchone()
            if old is not None and old[0] == line:
                return False
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        cur = self.conn.execute(
            f"{verb} INTO cosignatures (origin, size, witness, timestamp, line)"
            " VALUES (?, ?, ?, ?, ?)",
            (origin, size, witness, timestamp, line),
        )
        return cur.rowcount > 0

    def witness_state(self, origin: str) -> tuple[int, bytes] | None:
        """(size, root) this node last cosigned for ``origin`` as its witness, or None."""
        r = self.conn.execute(
            "SELECT size, root FROM witness_state WHERE origin = ?", (origin,)
        ).fetchone()
        return (r[0], bytes(r[1])) if r else None

    def advance_witness(self, origin: str, size: int, root: bytes) -> None:
        """Record a cosigned (size, root): never backwards, never another root at a size.

        The caller decided with exchange.core.witness in this same transaction; the
        statement re-checks it, so a bug there cannot make the witness go back.
        """
        cur = self.conn.execute(
            "INSERT INTO witness_state (origin, size, root, updated_at)"
            " VALUES (?, ?, ?, datetime('now'))"
            " ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root,"
            " updated_at = excluded.updated_at"
            " WHERE excluded.size > witness_state.size"
            " OR (excluded.size = witness_state.size AND excluded.root = witness_state.root)",
            (origin, size, root),
        )
        if cur.rowcount != 1:
            raise ConflictError(f"{origin}: witness state would go back or fork at size {size}")

    def envelopes(self, origin: str, start: int, end: int) -> list[tuple[int, bytes]]:
        """(index, envelope) of entries [start, end) as this transaction sees them."""
        rows = self.conn.execute(
            "SELECT idx, envelope FROM entries WHERE origin = ? AND idx >= ? AND idx < ?"
            " ORDER BY idx",
            (origin, start, end),
        )
        return [(i, e) for i, e in rows]

    def probe(self, at: str) -> None:
        """A tiny write (one row, replaced each time): proves the database takes writes."""
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS health_probe"
            " (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL)"
        )
        self.conn.execute("INSERT OR REPLACE INTO health_probe VALUES (1, ?)", (at,))

    def has_checkpoint(self, origin: str, size: int) -> bool:
        """Whether a checkpoint of ``origin`` at ``size`` was accepted here."""
        return (
            self.conn.execute(
                "SELECT 1 FROM checkpoints WHERE origin = ? AND size = ?", (origin, size)
            ).fetchone()
            is not None
        )

    def save_keys(self, origin: str, rows: Sequence[dict[str, object]]) -> None:
        """Store an origin's key history (``KeyHistory.to_rows``), replacing what was kept."""
        for r in rows:
            self.conn.execute(
                "INSERT OR REPLACE INTO keys (origin, keyid, public_key, chain_pem, idx,"
                " replaces, retired_at, revoked_at, compromised_since)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    origin,
                    r["keyid"],
                    r["public_key"],
                    r["chain_pem"],
                    r["idx"],
                    r["replaces"],
                    r["retired_at"],
                    r["revoked_at"],
                    r["compromised_since"],
                ),
            )

    def add_suspects(self, origin: str, suspects: Sequence[tuple[int, str, str]]) -> int:
        """Flag (index, keyid, reason) entries as signed inside a key's compromise."""
        n = 0
        for idx, keyid, reason in suspects:
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO suspects (origin, idx, keyid, reason) VALUES (?, ?, ?, ?)",
                (origin, idx, keyid, reason),
            )
            n += cur.rowcount
        return n

    def reindex(self, origin: str) -> None:
        """Forget what the registry tables hold of ``origin`` and index it anew.

        Used when a key revocation turns entries already applied into suspects.
        """
        forget_origin(self.conn, origin)
        self.conn.execute("UPDATE origins SET indexed = 0 WHERE origin = ?", (origin,))

    def unfreeze(self, origin: str, decision: str) -> int:
        """Let ``origin`` sync again; its open evidence is marked resolved by ``decision``.

        Returns how many evidence rows were resolved (they are kept).
        """
        self.conn.execute(
            "UPDATE origins SET frozen = 0, frozen_reason = '' WHERE origin = ?", (origin,)
        )
        cur = self.conn.execute(
            "UPDATE evidence SET resolved_at = datetime('now'), resolution = ?"
            " WHERE origin = ? AND resolved_at IS NULL",
            (decision, origin),
        )
        return cur.rowcount

    def forget_log(self, origin: str) -> int:
        """Delete this node's copy of ``origin`` (entries, tree, checkpoints, keys and
        registry rows) so it is fetched anew; evidence stays. Returns the size dropped."""
        row = self.origin(origin)
        if row is None:
            raise NotFoundError(f"origin {origin} is not held here")
        forget_origin(self.conn, origin)
        for table in ("entries", "nodes", "checkpoints", "cosignatures", "keys", "suspects"):
            self.conn.execute(f"DELETE FROM {table} WHERE origin = ?", (origin,))
        self.conn.execute("DELETE FROM origins WHERE origin = ?", (origin,))
        return row.size

    def add_evidence(self, origin: str, note_a: str, note_b: str, source: str, detail: str) -> None:
        """Store equivocation evidence and freeze the origin on this node."""
        self.conn.execute(
            "INSERT INTO evidence (origin, note_a, note_b, source, detail, detected_at)"
            " VALUES (?, ?, ?, ?, ?, datetime('now'))",
            (origin, note_a, note_b, source, detail),
        )
        self.conn.execute(
            "UPDATE origins SET frozen = 1, frozen_reason = ? WHERE origin = ?",
            (detail, origin),
        )
