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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from exchange._proto.brandex.v1 import entries_pb2
from exchange.core.dsse import parse_envelope
from exchange.core.errors import NotFoundError
from exchange.store.facet_index import FacetIndex
from exchange.store.lock import DatabaseLock
from exchange.store.schema import create_schema
from exchange.store.search import merge_index
from exchange.store.tx import (
    ORIGIN_COLUMNS,
    OriginRow,
    SqliteHashReader,
    Staging,
    Tx,
    origin_row,
)

log = logging.getLogger(__name__)

__all__ = ["Store", "map_pages"]


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
        rows = self.read.execute(f"SELECT {ORIGIN_COLUMNS} FROM origins ORDER BY origin")
        return [origin_row(r) for r in rows]

    def origin(self, origin: str) -> OriginRow | None:
        r = self.read.execute(
            f"SELECT {ORIGIN_COLUMNS} FROM origins WHERE origin = ?", (origin,)
        ).fetchone()
        return origin_row(r) if r else None

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
        """Close the writer once no transaction holds it: closing a connection another
        thread is stepping a statement on is undefined behaviour in SQLite's API. A
        write after this raises ``sqlite3.ProgrammingError``."""
        with self._lock:
            self._writer.close()
        if self._owner is not None:
            self._owner.release()
