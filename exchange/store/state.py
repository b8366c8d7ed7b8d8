"""The registry tables read as the domain rules' state (:class:`exchange.core.rules.StateReader`).

Every lookup is one indexed query. A batch of recognitions can first ask
:meth:`SqliteState.prefetch` which record ids and certificate numbers are
free, in a few set-based queries, so checking a big sync does not cost two
queries per record. Those answers hold until the batch is written: check the
batch under a :class:`~exchange.core.rules.MemoryState` that folds in each
entry (it answers first), then :meth:`SqliteState.forget` them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import replace
from datetime import date

from exchange.core.rules import CaseState
from exchange.core.status import RecordState, StateName
from exchange.core.vocabulary import Kind, ReasonCode, Status

__all__ = ["SqliteState"]

_CHUNK = 500

#: The state a status change leaves a record in (RENEWED and CORRECTED leave it as it is).
_STATE_AFTER: dict[Status, StateName] = {
    Status.SUSPENDED: "suspended",
    Status.REINSTATED: "valid",
    Status.REVOKED: "revoked",
    Status.WITHDRAWN: "withdrawn",
}


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


class SqliteState:
    """Reads records, certificates, cases and accessions from a node's registry tables.

    Args:
        conn: a connection (inside the caller's transaction, if it writes).
        complete: whether this node's tables are the whole truth for every
            region (an issuing node refuses to sign a reference to something it
            does not hold); a mirror says ``False``: another region's log may
            not have reached it yet.
    """

    def __init__(self, conn: sqlite3.Connection, *, complete: bool = False) -> None:
        self.conn = conn
        self._complete = complete
        self._free_ids: set[tuple[str, str]] = set()
        self._free_certs: set[tuple[str, str]] = set()

    def prefetch(self, issuer: str, record_ids: Iterable[str], certificates: Iterable[str]) -> None:
        """Learn which of these record ids and certificate numbers ``issuer`` has not used."""
        for col, values, free in (
            ("record_id", list(dict.fromkeys(record_ids)), self._free_ids),
            ("certificate_no", list(dict.fromkeys(certificates)), self._free_certs),
        ):
            for i in range(0, len(values), _CHUNK):
                chunk = values[i : i + _CHUNK]
                taken = {
                    r[0]
                    for r in self.conn.execute(
                        f"SELECT {col} FROM records WHERE issuer = ? AND"
                        f" {col} IN ({', '.join('?' * len(chunk))})",
                        [issuer, *chunk],
                    )
                }
                free.update((issuer, v) for v in chunk if v not in taken)

    def forget(self, issuer: str, record_ids: Iterable[str], certificates: Iterable[str]) -> None:
        """Drop what :meth:`prefetch` learned of these (they may be taken now)."""
        self._free_ids.difference_update((issuer, v) for v in record_ids)
        self._free_certs.difference_update((issuer, v) for v in certificates)

    def record(self, issuer: str, record_id: str) -> RecordState | None:
        if (issuer, record_id) in self._free_ids:
            return None
        row = self.conn.execute(
            "SELECT certificate_no, kind, recognised_on, valid_from, valid_until FROM records"
            " WHERE issuer = ? AND record_id = ?",
            (issuer, record_id),
        ).fetchone()
        if row is None:
            return None
        certificate_no, kind, recognised_on, valid_from, valid_until = row
        on = date.fromisoformat(recognised_on)
        # The row holds the record as corrected and renewed so far; the changes
        # give the status, since when, why, and the latest effective date.
        state = RecordState(
            status="valid",
            recognised_on=on,
            valid_from=date.fromisoformat(valid_from),
            valid_until=_date(valid_until),
            last_effective=on,
            record_id=record_id,
            certificate_no=certificate_no,
            kind=Kind(kind),
            issuer=issuer,
        )
        for status, reason, effective_on in self.conn.execute(
            "SELECT status, reason, effective_on FROM status_changes"
            " WHERE issuer = ? AND record_id = ? ORDER BY idx",
            (issuer, record_id),
        ):
            when = date.fromisoformat(effective_on)
            state = replace(state, last_effective=max(state.last_effective, when))
            after = _STATE_AFTER.get(Status(status))
            if after is not None:
                state = replace(state, status=after, since=when, reason=ReasonCode(reason))
        return state

    def certificate_holder(self, issuer: str, certificate_no: str) -> str | None:
        if (issuer, certificate_no) in self._free_certs:
            return None
        row = self.conn.execute(
            "SELECT record_id FROM records WHERE issuer = ? AND certificate_no = ?",
            (issuer, certificate_no),
        ).fetchone()
        return row[0] if row else None

    def case(self, case_region: str, case_id: str) -> CaseState | None:
        row = self.conn.execute(
            "SELECT handling_region, open FROM cases WHERE case_region = ? AND case_id = ?",
            (case_region, case_id),
        ).fetchone()
        return CaseState(row[0], bool(row[1])) if row else None

    def acceded(self, region: str, agreement_id: str) -> bool:
        return (
            self.conn.execute(
                "SELECT 1 FROM accessions WHERE region = ? AND agreement_id = ? LIMIT 1",
                (region, agreement_id),
            ).fetchone()
            is not None
        )

    def complete(self, region: str) -> bool:
        return self._complete
