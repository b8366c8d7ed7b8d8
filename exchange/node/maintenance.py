"""Offline repairs on a stopped node's database, after the federation decided.

An equivocating origin stays frozen on a node until its operator says what the
federation decided: ``--keep`` (the copy this node holds is the honest log:
sync it again) or ``--refetch`` (it is not: drop this node's copy and fetch the
log anew from peers). Either way the evidence stays in the database, marked
resolved with the decision, and the node must be stopped: the change is made
under the same lock a running node holds.
"""

from __future__ import annotations

from pathlib import Path

from exchange.core.errors import ConflictError, NotFoundError, ValidationError
from exchange.store import Store
from exchange.store.lock import DatabaseLock, database_in_use

__all__ = ["unfreeze_origin"]


def unfreeze_origin(
    database: Path, origin: str, decision: str, *, refetch: bool, own_origin: str
) -> dict[str, object]:
    """Unfreeze ``origin`` (and with ``refetch`` drop its copy); returns what was done."""
    if not decision.strip():
        raise ValidationError("decision", "say what the federation decided (kept in the database)")
    if refetch and origin == own_origin:
        raise ConflictError(
            f"{origin} is this node's own log: it is never dropped (restore a backup instead)"
        )
    if not database.exists():
        raise NotFoundError(f"no database at {database}")
    with DatabaseLock(database):
        if database_in_use(database):
            raise ConflictError(f"the database {database} is in use by another process")
        store = Store(database)
        try:
            row = store.origin(origin)
            if row is None:
                raise NotFoundError(f"origin {origin} is not held in {database}")
            with store.write(durable=True) as tx:
                resolved = tx.unfreeze(origin, decision.strip())
                dropped = tx.forget_log(origin) if refetch else 0
        finally:
            store.close()
    return {
        "origin": origin,
        "was_frozen": row.frozen,
        "evidence_resolved": resolved,
        "entries_dropped": dropped,
        "next": "start the node: it fetches the log from its peers"
        if refetch
        else "start the node: it syncs the origin again",
    }
