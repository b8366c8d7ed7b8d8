"""Copies of the node's SQLite file: online backup, a read-only view, restore.

A backup is taken with SQLite's online backup API while the node writes: the
copy is made in one step inside one read transaction, so it is the database
as of one commit (WAL readers never block the writer). A restore writes the
copy back under the node's lock file, so it cannot overwrite a database a
running node holds. What the copy holds is judged elsewhere (the node layer
verifies every log); this module only moves bytes and reads rows.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

from exchange.core.errors import ConflictError, FormatError
from exchange.store.lock import DatabaseLock
from exchange.store.schema import NODES_FROM_LEVEL
from exchange.store.tx import ORIGIN_COLUMNS, OriginRow, origin_row

__all__ = ["DatabaseLock", "Snapshot", "copy_online", "file_sha256", "restore_file"]

_SIDE_FILES = ("-wal", "-shm", "-journal")


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def copy_online(source: str | Path, target: str | Path) -> None:
    """Copy a live database to ``target`` (a new file) as of one commit.

    The copy is left in rollback-journal mode so it is one self-contained file.
    """
    if Path(target).exists():
        raise ConflictError(f"{target} exists; a backup never overwrites a file")
    if not Path(source).exists():
        raise FormatError(f"no database at {source}")
    src = sqlite3.connect(str(source), timeout=60)
    try:
        src.execute("PRAGMA busy_timeout = 60000")
        dst = sqlite3.connect(str(target))
        try:
            src.backup(dst)  # pages=-1: every page in one step, one read transaction
            dst.execute("PRAGMA journal_mode = DELETE")
            dst.commit()
        finally:
            dst.close()
    finally:
        src.close()
    _fsync(Path(target))


def restore_file(copy: str | Path, database: str | Path) -> None:
    """Replace ``database`` (and its WAL and shared memory) by ``copy``.

    The caller holds the database's :class:`DatabaseLock`. The copy is written
    beside the target and renamed over it, so a crash leaves the old file or
    the new one, and a stale WAL of the old database is removed first: SQLite
    would otherwise replay it onto the restored file.
    """
    database = Path(database)
    database.parent.mkdir(parents=True, exist_ok=True)
    tmp = database.with_name(database.name + ".restoring")
    for p in (tmp, *(Path(str(tmp) + s) for s in _SIDE_FILES)):
        p.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{copy}?mode=ro&immutable=1", uri=True)
    try:
        dst = sqlite3.connect(str(tmp))
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")
            dst.commit()
        finally:
            dst.close()
    finally:
        src.close()
    _fsync(tmp)
    for s in _SIDE_FILES:
        Path(str(database) + s).unlink(missing_ok=True)
    os.replace(tmp, database)
    _fsync(database.parent)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Snapshot:
    """Read-only rows of a database copy that nobody writes (a backup file)."""

    def __init__(self, path: str | Path) -> None:
        if not Path(path).is_file():
            raise FormatError(f"no database file at {path}")
        self.path = Path(path)
        self._conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            self._conn.execute("SELECT count(*) FROM origins").fetchone()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise FormatError(f"{path} is not a brandex database: {exc}") from None

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def origins(self) -> list[OriginRow]:
        rows = self._conn.execute(f"SELECT {ORIGIN_COLUMNS} FROM origins ORDER BY origin")
        return [origin_row(r) for r in rows]

    def entries(self, origin: str, size: int) -> list[tuple[int, bytes, bytes]]:
        """(index, stored leaf hash, envelope) of the first ``size`` entries, in order."""
        rows = self._conn.execute(
            "SELECT idx, leaf_hash, envelope FROM entries WHERE origin = ? AND idx < ?"
            " ORDER BY idx",
            (origin, size),
        )
        return [(i, bytes(lh), bytes(env)) for i, lh, env in rows]

    def nodes(self, origin: str, size: int) -> set[tuple[int, int, bytes]]:
        """Stored complete-subtree hashes of the tree of ``size`` leaves: those of the
        levels :func:`~exchange.store.schema.stores_level` names.

        Level 0 is the entries' leaf hashes. The rows of lower levels that older
        files hold (level 0 in version 3, levels 1 to 3 in version 4) are not
        read: nothing reads them any more.
        """
        rows = self._conn.execute(
            "SELECT idx, leaf_hash FROM entries WHERE origin = ? AND idx < ?", (origin, size)
        )
        out: set[tuple[int, int, bytes]] = {(0, ix, bytes(h)) for ix, h in rows}
        for level in range(NODES_FROM_LEVEL, max(size, 1).bit_length()):
            rows = self._conn.execute(
                "SELECT level, idx, hash FROM nodes WHERE origin = ? AND level = ? AND idx < ?",
                (origin, level, size >> level),
            )
            out.update((lv, ix, bytes(h)) for lv, ix, h in rows)
        return out

    def key_rows(self, origin: str) -> list[dict[str, object]]:
        cur = self._conn.execute(
            "SELECT keyid, public_key, chain_pem, idx, replaces, retired_at, revoked_at,"
            " compromised_since FROM keys WHERE origin = ? ORDER BY idx",
            (origin,),
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur]
