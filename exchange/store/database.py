"""The node's SQLite file: one writer at a time, many readers (WAL).

gRPC serves from a thread pool, so reads use one connection per thread and all
writes go through a single connection behind a lock, each in one
``BEGIN IMMEDIATE`` transaction. That keeps the log, its subtree hashes and
the projections in step: an append is all there or not there at all.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from exchange._proto.brandex.v1 import entries_pb2
from exchange.core import merkle
from exchange.core.dsse import parse_envelope
from exchange.core.errors import ConflictError, NotFoundError
from exchange.store.facet_index import FacetIndex
from exchange.store.lock import DatabaseLock
from exchange.store.projections import apply_entries, forget_origin, set_aside_suspects
from exchange.store.schema import create_schema
from exchange.store.search import merge_index

log = logging.getLogger(__name__)

__all__ = ["OriginRow", "SqliteHashReader", "Staging", "Store", "Tx"]


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


class SqliteHashReader:
    """Serves complete-subtree hashes of one origin with a single query per proof."""

    def __init__(self, conn: sqlite3.Connection, origin: str) -> None:
        self._conn = conn
        self._origin = origin

    def get_many(self, keys: Sequence[tuple[int, int]]) -> list[bytes]:
        if not keys:
            return []
        found: dict[tuple[int, int], bytes] = {}
        # The keys go in as a VALUES table joined on the primary key: written as
        # OR-ed (level, idx) pairs or as a row-value IN, SQLite scans every node
        # of the origin instead, which made each proof and append O(n).
        # SQLite caps bound parameters; proofs need ~2*log2(n) keys, so chunks are rare.
        for start in range(0, len(keys), 400):
            chunk = keys[start : start + 400]
            values = ", ".join(["(?, ?)"] * len(chunk))
            params: list[object] = [v for key in chunk for v in key]
            rows = self._conn.execute(
                f"WITH k(level, idx) AS (VALUES {values}) SELECT k.level, k.idx, n.hash"
                " FROM k JOIN nodes AS n ON n.origin = ? AND n.level = k.level AND n.idx = k.idx",
                [*params, self._origin],
            )
            found.update({(lv, ix): h for lv, ix, h in rows})
        try:
            return [found[k] for k in keys]
        except KeyError as exc:
            raise NotFoundError(f"{self._origin}: subtree hash {exc.args[0]} not stored") from None


def _row(r: sqlite3.Row | tuple) -> OriginRow:
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


_ORIGIN_COLS = "origin, region, size, root, checkpoint, frozen, frozen_reason, indexed"


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
            f"SELECT {_ORIGIN_COLS} FROM origins WHERE origin = ?", (origin,)
        ).fetchone()
        return _row(r) if r else None

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
        """The entry rows and every complete subtree they create."""
        nodes = merkle.nodes_for_append(start, leaf_hashes, self.hash_reader(origin))
        self.conn.executemany(
            "INSERT INTO nodes (origin, level, idx, hash) VALUES (?, ?, ?, ?)",
            [(origin, lv, ix, h) for lv, ix, h in nodes],
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
        # One range per level keeps every delete on the primary key.
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


#: Bytes of the file each connection maps into memory (SQLite caps it at its
#: compile-time limit, 2 GiB in Debian's build).
MMAP_BYTES = 1 << 32


def map_pages(conn: sqlite3.Connection) -> None:
    """Read the file through a memory map instead of a read() call per page.

    A search at 1,000,000 records visits hundreds of pages scattered over the
    file (its matches' rows, for facets up to a thousand): through the page
    cache each costs a system call and a copy, mapped it is a memory read, which
    halved the CPU time of reading a thousand matches (3.4 to 1.8 ms).
    """
    conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")


class _Connection(sqlite3.Connection):
    """A connection that can carry notes for the facet index (see
    :func:`exchange.store.facet_index.note_change`): None when nothing listens."""

    facet_changes: list | None = None


class Store:
    """The node's database file."""

    def __init__(self, path: str | Path, *, exclusive: bool = False) -> None:
        """Open (and create) the file; ``exclusive``: as the node that owns it, holding
        its :class:`~exchange.store.lock.DatabaseLock` until :meth:`close` (a second
        node, or a restore, is refused meanwhile)."""
        self.path = str(path)
        self._owner = DatabaseLock(path).acquire() if exclusive else None
        self._lock = threading.Lock()
        self._local = threading.local()
        self._stagings: dict[str, Staging] = {}
        self._facets: FacetIndex | None = None
        self._facets_loading: list | None = None  # notes of commits during the load
        self._facets_load = threading.Lock()
        self._writer = self._connect()
        db = sqlite_utils.Database(self._writer)
        with self._lock:
            create_schema(db)
            self._writer.commit()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=60,
            check_same_thread=False,
            isolation_level=None,
            factory=_Connection,
        )
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 60000")
        conn.execute("PRAGMA cache_size = -16384")  # 16 MiB per connection
        map_pages(conn)
        return conn

    def merge_search_index(self) -> None:
        """Merge the search index into one segment (:func:`search.merge_index`),
        for a bulk load such as the benchmarks' million records."""
        with self.write() as tx:
            merge_index(tx.conn)

    def facet_index(self) -> FacetIndex:
        """The records' facet values in memory (:mod:`exchange.store.facet_index`):
        loaded on first use (a full read of ``records``: seconds at a million; the
        node loads it at start), then kept current by every write transaction.

        Writes go on during the load: from its start they note their changes,
        which are applied after it in commit order (setting a rowid's values
        again is harmless when the load's snapshot already had them).
        """
        if self._facets is None:
            with self._facets_load:
                if self._facets is None:
                    with self._lock:
                        self._facets_loading = []
                    conn = self._connect()
                    try:
                        index = FacetIndex.load(conn)
                    finally:
                        conn.close()
                    with self._lock:
                        index.apply(self._facets_loading)
                        self._facets, self._facets_loading = index, None
        return self._facets

    @property
    def read(self) -> sqlite3.Connection:
        """This thread's read connection (WAL readers never block the writer)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
        return conn

    @property
    def db(self) -> sqlite_utils.Database:
        """A sqlite-utils view over this thread's read connection."""
        return sqlite_utils.Database(self.read)

    @contextmanager
    def write(self, *, durable: bool = False) -> Iterator[Tx]:
        """One write transaction: committed on success, rolled back on any error.

        ``durable``: the commit is synced to disk before it returns (SQLite's
        ``synchronous = FULL``), so what it holds survives a power loss, not
        only a crash. Used for the node's own entries, whose checkpoint peers
        hold as soon as it is served: a lost tail would make the next issue a
        fork. Mirrored entries can be fetched again and stay ``NORMAL``.
        """
        with self._lock:
            if durable:
                self._writer.execute("PRAGMA synchronous = FULL")
            self._writer.execute("BEGIN IMMEDIATE")
            listening = self._facets is not None or self._facets_loading is not None
            notes: list | None = [] if listening else None
            self._writer.facet_changes = notes  # type: ignore[attr-defined]
            try:
                yield Tx(self._writer, self._stagings)
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            else:
                self._writer.execute("COMMIT")
                if notes and self._facets is not None:
                    try:
                        self._facets.apply(notes)
                    except Exception:  # the write is committed: only the index is stale
                        log.exception("facet index update failed; it is loaded again")
                        self._facets = None
                elif notes and self._facets_loading is not None:
                    self._facets_loading += notes
            finally:
                self._writer.facet_changes = None  # type: ignore[attr-defined]
                if durable:
                    self._writer.execute("PRAGMA synchronous = NORMAL")

    def staged_of_type(
        self, origin: str, start: int, bodies: Sequence[str]
    ) -> list[tuple[int, bytes]]:
        """(index, envelope) of staged entries of some types, e.g. key entries."""
        marks = ", ".join("?" for _ in bodies)
        rows = self.read.execute(
            f"SELECT idx, envelope FROM entries WHERE origin = ? AND idx >= ? AND type IN ({marks})"
            " ORDER BY idx",
            (origin, start, *bodies),
        )
        return [(i, e) for i, e in rows]

    def staged_end(self, origin: str, start: int) -> int:
        """One past the last staged entry of ``origin`` at or after ``start``."""
        r = self.read.execute(
            "SELECT MAX(idx) FROM entries WHERE origin = ? AND idx >= ?", (origin, start)
        ).fetchone()
        return start if r[0] is None else r[0] + 1

    def pause_staging(self, staging: Staging) -> None:
        """Give up a staging's claim but keep its verified rows: the next sync resumes them."""
        with self.write():
            if self._stagings.get(staging.origin) is staging:
                del self._stagings[staging.origin]

    def end_staging(self, staging: Staging) -> None:
        """Drop an unfinished staging's rows; free when it was committed."""
        if self._stagings.get(staging.origin) is staging:
            with self.write() as tx:
                tx.end_staging(staging)

    def index_backlog(self, limit: int = 2000) -> int:
        """Index one chunk of some origin's backlog, in its own short transaction.

        Returns how many entries were indexed (0: nothing is waiting). Callers
        loop, so issuing and syncing get the write lock between chunks.
        """
        waiting = "SELECT origin FROM origins WHERE indexed < size LIMIT 1"
        if self.read.execute(waiting).fetchone() is None:
            return 0  # the usual case: no write lock for nothing
        with self.write() as tx:
            r = tx.conn.execute(waiting).fetchone()
            return tx.index(r[0], limit) if r else 0

    def backlog(
        self, limit: int, origin: str = "", start: int = -1
    ) -> tuple[str, int, list[bytes]] | None:
        """Up to ``limit`` stored but unindexed envelopes, read without the write lock.

        Of some origin's backlog from its cursor; or, with ``origin`` and
        ``start``, of that origin from ``start`` (the chunk after one in hand).
        """
        if origin:
            r = self.read.execute(
                "SELECT origin, ?, size FROM origins WHERE origin = ? AND ? < size",
                (start, origin, start),
            ).fetchone()
        else:
            r = self.read.execute(
                "SELECT origin, indexed, size FROM origins WHERE indexed < size LIMIT 1"
            ).fetchone()
        if r is None:
            return None
        name, first, size = r
        return name, first, self.envelopes(name, first, min(size, first + limit))

    def index_checked(
        self, origin: str, start: int, entries: Sequence[object], stateless: Sequence[list]
    ) -> int:
        """:meth:`Tx.index_checked` in its own short transaction."""
        with self.write() as tx:
            return tx.index_checked(origin, start, entries, stateless)

    # ------------------------------------------------------------------ reads

    def origins(self) -> list[OriginRow]:
        rows = self.read.execute(f"SELECT {_ORIGIN_COLS} FROM origins ORDER BY origin")
        return [_row(r) for r in rows]

    def origin(self, origin: str) -> OriginRow | None:
        r = self.read.execute(
            f"SELECT {_ORIGIN_COLS} FROM origins WHERE origin = ?", (origin,)
        ).fetchone()
        return _row(r) if r else None

    def hash_reader(self, origin: str) -> SqliteHashReader:
        return SqliteHashReader(self.read, origin)

    def envelopes(self, origin: str, start: int, end: int) -> list[bytes]:
        rows = self.read.execute(
            "SELECT envelope FROM entries WHERE origin = ? AND idx >= ? AND idx < ? ORDER BY idx",
            (origin, start, end),
        )
        return [r[0] for r in rows]

    def envelope(self, origin: str, idx: int) -> bytes:
        r = self.read.execute(
            "SELECT envelope FROM entries WHERE origin = ? AND idx = ?", (origin, idx)
        ).fetchone()
        if r is None:
            raise NotFoundError(f"{origin} has no entry {idx}")
        return r[0]

    def checkpoint_note(self, origin: str, size: int) -> str:
        r = self.read.execute(
            "SELECT note FROM checkpoints WHERE origin = ? AND size = ?", (origin, size)
        ).fetchone()
        if r is None:
            raise NotFoundError(f"{origin} has no accepted checkpoint of size {size}")
        return r[0]

    def witness_state(self, origin: str) -> tuple[int, bytes] | None:
        """(size, root) this node last cosigned for ``origin`` as its witness, or None."""
        r = self.read.execute(
            "SELECT size, root FROM witness_state WHERE origin = ?", (origin,)
        ).fetchone()
        return (r[0], bytes(r[1])) if r else None

    def cosignatures(self, origin: str, size: int) -> list[tuple[str, int, str]]:
        rows = self.read.execute(
            "SELECT witness, timestamp, line FROM cosignatures WHERE origin = ? AND size = ?"
            " ORDER BY witness",
            (origin, size),
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]

    def keys(self, origin: str) -> list[tuple[str, bytes, str]]:
        rows = self.read.execute(
            "SELECT keyid, public_key, chain_pem FROM keys WHERE origin = ? ORDER BY idx",
            (origin,),
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]

    def issued_at(self, origin: str, idx: int) -> str | None:
        """The ``issued_at`` an entry of ``origin`` states (None when not held)."""
        r = self.read.execute(
            "SELECT envelope FROM entries WHERE origin = ? AND idx = ?", (origin, idx)
        ).fetchone()
        if r is None:
            return None
        return entries_pb2.Entry.FromString(parse_envelope(r[0]).payload).issued_at

    def key_rows(self, origin: str | None = None) -> list[dict[str, object]]:
        """The stored key history of one origin (or of all, with an ``origin`` key)."""
        sql = (
            "SELECT origin, keyid, public_key, chain_pem, idx, replaces, retired_at, revoked_at,"
            " compromised_since FROM keys"
        )
        args: tuple = ()
        if origin is not None:
            sql += " WHERE origin = ?"
            args = (origin,)
        cur = self.read.execute(sql + " ORDER BY origin, idx", args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur]

    def key_entry_indices(self, origin: str, size: int) -> list[tuple[int, str]]:
        """(index, type) of the key announcements and revocations among the first ``size``."""
        rows = self.read.execute(
            "SELECT idx, 'key_announcement' FROM keys WHERE origin = ? AND idx < ?"
            " UNION SELECT revoked_at, 'key_revocation' FROM keys"
            " WHERE origin = ? AND revoked_at IS NOT NULL AND revoked_at < ? ORDER BY 1",
            (origin, size, origin, size),
        )
        return [(i, t) for i, t in rows]

    def witnessed(self, origin: str, idx: int) -> tuple[int | None, int]:
        """(earliest cosignature timestamp, distinct witnesses) over checkpoints covering idx."""
        r = self.read.execute(
            "SELECT min(timestamp), count(DISTINCT witness) FROM cosignatures"
            " WHERE origin = ? AND size > ?",
            (origin, idx),
        ).fetchone()
        return (r[0], r[1]) if r else (None, 0)

    def suspects(self, origin: str | None = None) -> list[dict[str, object]]:
        sql = "SELECT origin, idx, keyid, reason FROM suspects"
        args: tuple = ()
        if origin is not None:
            sql += " WHERE origin = ?"
            args = (origin,)
        cur = self.read.execute(sql + " ORDER BY origin, idx", args)
        return [dict(zip(("origin", "idx", "keyid", "reason"), r, strict=True)) for r in cur]

    def suspect_count(self) -> dict[str, int]:
        rows = self.read.execute("SELECT origin, COUNT(*) FROM suspects GROUP BY origin")
        return {o: n for o, n in rows}

    def evidence(self, *, resolved: bool = False) -> list[dict[str, object]]:
        """Equivocation evidence not yet resolved by an unfreeze (all of it with ``resolved``)."""
        where = "" if resolved else " WHERE resolved_at IS NULL"
        cur = self.read.execute(f"SELECT * FROM evidence{where} ORDER BY id")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur]

    def violation_counts(self) -> dict[str, int]:
        """origin -> how many domain-rule violations its entries broke here."""
        rows = self.read.execute("SELECT origin, count(*) FROM violations GROUP BY origin")
        return dict(rows.fetchall())

    def violations(
        self, limit: int = 10, origin: str = "", subject: str = ""
    ) -> list[dict[str, object]]:
        """The latest violations recorded at ingest, of one origin or one subject
        (``<region>/<record or case id>``) if given."""
        where, params = "WHERE 1 = 1", []
        for col, value in (("origin", origin), ("subject", subject)):
            if value:
                where += f" AND {col} = ?"
                params.append(value)
        rows = self.read.execute(
            f"SELECT origin, idx, rule, message FROM violations {where} ORDER BY id DESC LIMIT ?",
            [*params, limit],
        )
        return [dict(zip(("origin", "idx", "rule", "message"), r, strict=True)) for r in rows]

    def close(self) -> None:
        self._writer.close()
        if self._owner is not None:
            self._owner.release()
