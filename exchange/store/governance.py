"""Where a node keeps its federation document chain and the documents it refused.

The chain itself is judged in :mod:`exchange.core.federation`; this module only
stores what was judged, in the node's database file, so a restart resumes from
the newest accepted version and evidence of a fork or rollback survives.
"""

from __future__ import annotations

from datetime import UTC, datetime

from exchange.store.database import Store
from exchange.store.tx import Tx

__all__ = ["add_evidence", "documents", "evidence", "save_document"]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def save_document(tx: Tx, version: int, digest: str, document: bytes, source: str) -> None:
    """Record an accepted version (replacing nothing: a version is accepted once)."""
    tx.conn.execute(
        "INSERT OR IGNORE INTO federation_docs (version, digest, document, source, accepted_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (version, digest, document, source, _now()),
    )


def documents(store: Store, from_version: int = 0) -> list[tuple[int, str, bytes]]:
    """(version, digest, envelope) of every accepted version >= ``from_version``, in order."""
    rows = store.read.execute(
        "SELECT version, digest, document FROM federation_docs WHERE version >= ? ORDER BY version",
        (from_version,),
    ).fetchall()
    return [(v, d, bytes(doc)) for v, d, doc in rows]


def add_evidence(
    tx: Tx, kind: str, version: int, digest: str, document: bytes, detail: str, source: str
) -> bool:
    """Keep a refused document once per (kind, digest); True if it is new."""
    cur = tx.conn.execute(
        "INSERT OR IGNORE INTO governance_evidence"
        " (kind, version, digest, document, detail, source, recorded_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (kind, version, digest, document, detail, source, _now()),
    )
    return cur.rowcount > 0


def evidence(store: Store, limit: int = 50) -> list[dict[str, object]]:
    """The newest refused documents first, without their bytes."""
    rows = store.read.execute(
        "SELECT kind, version, digest, detail, source, recorded_at FROM governance_evidence"
        " ORDER BY recorded_at DESC LIMIT ?",
        (limit,),
    ).fetchall()
    keys = ("kind", "version", "digest", "detail", "source", "recorded_at")
    return [dict(zip(keys, r, strict=True)) for r in rows]
