"""Projections: the log's entries folded into queryable tables.

Applied in the same transaction as the append that carries the entry, so a
query never sees a record whose log entry is missing, or the reverse. The log
is the truth: these tables can always be rebuilt from it.

Every entry first passes the domain rules (:func:`exchange.core.rules.check_entry`,
reading these tables through :class:`exchange.store.state.SqliteState`); an
entry that breaks one is recorded in ``violations`` and changes nothing else.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from exchange.core.rules import (
    CLOSING_ACTIONS,
    MemoryState,
    StateReader,
    Violation,
    check_entry,
    not_a_party,
)
from exchange.core.vocabulary import Status
from exchange.store.search import INDEXED_COLUMNS, index_many, index_record, unindex_record
from exchange.store.state import SqliteState

__all__ = [
    "REGISTRY_TABLES",
    "TERMINAL_STATUSES",
    "apply_entries",
    "apply_entry",
    "forget_origin",
    "set_aside_suspects",
    "status_word",
]

#: The tables folded from the logs, each with the origin and index of its entry.
REGISTRY_TABLES = (
    "records",
    "status_changes",
    "cases",
    "case_actions",
    "accessions",
    "withdrawals",
)

# The word a record's status takes after a change (None: unchanged).
_STATUS_WORDS: dict[Status, str | None] = {
    Status.SUSPENDED: "suspended",
    Status.REINSTATED: "valid",
    Status.REVOKED: "revoked",
    Status.RENEWED: "valid",
    Status.CORRECTED: None,
    Status.WITHDRAWN: "withdrawn",
}
TERMINAL_STATUSES = frozenset({"revoked", "withdrawn"})


def status_word(status: int) -> str | None:
    """The record status a status change leads to (None: unchanged)."""
    try:
        return _STATUS_WORDS.get(Status(status))
    except ValueError:
        return None


def _record_columns(r: Any) -> dict[str, object]:
    return {
        "kind": r.kind,
        "sector": r.sector,
        "brand_name": r.brand_name,
        "brand_name_latin": r.brand_name_latin,
        "product": r.product,
        "nice_classes": json.dumps(list(r.nice_classes)),
        "industry_code": r.industry_code,
        "enterprise_name": r.enterprise_name,
        "enterprise_uscc": r.enterprise_uscc,
        "enterprise_region": r.enterprise_region,
        "certificate_no": r.certificate_no,
        "announcement_no": r.announcement_no,
        "recognised_on": r.recognised_on,
        "valid_from": r.valid_from,
        "valid_until": r.valid_until,
    }


def _indexed(conn: sqlite3.Connection, rowid: int) -> dict[str, object]:
    cur = conn.execute(
        f"SELECT {', '.join(INDEXED_COLUMNS)} FROM records WHERE rowid = ?", (rowid,)
    )
    return dict(zip(INDEXED_COLUMNS, cur.fetchone(), strict=True))


def _update_record(conn: sqlite3.Connection, rowid: int, cols: dict[str, object]) -> None:
    """Update a record row and its search-index entry (text and filter tags) together."""
    unindex_record(conn, rowid, _indexed(conn, rowid))
    sets = ", ".join(f"{k} = ?" for k in cols)
    conn.execute(f"UPDATE records SET {sets} WHERE rowid = ?", [*cols.values(), rowid])
    index_record(conn, rowid, _indexed(conn, rowid))


def _rowid(conn: sqlite3.Connection, issuer: str, record_id: str) -> int | None:
    r = conn.execute(
        "SELECT rowid FROM records WHERE issuer = ? AND record_id = ?", (issuer, record_id)
    ).fetchone()
    return r[0] if r else None


def _replace_record(
    conn: sqlite3.Connection, issuer: str, record_id: str, cols: dict[str, object]
) -> None:
    """Insert or update a record row and keep the search index in step."""
    rowid = _rowid(conn, issuer, record_id)
    if rowid is None:
        names = ", ".join(cols)
        marks = ", ".join("?" * len(cols))
        cur = conn.execute(f"INSERT INTO records ({names}) VALUES ({marks})", list(cols.values()))
        index_record(conn, cur.lastrowid, cols)
    else:
        _update_record(conn, rowid, cols)


def _new_record_row(origin: str, idx: int, entry: Any) -> dict[str, object]:
    """The records row a recognition entry starts: valid since its recognition date."""
    cols = _record_columns(entry.recognition)
    cols.update(
        issuer=entry.region,
        record_id=entry.recognition.record_id,
        status="valid",
        status_since=entry.recognition.recognised_on,
        origin=origin,
        idx=idx,
        issued_at=entry.issued_at,
    )
    return cols


def _recognition(conn: sqlite3.Connection, origin: str, idx: int, entry: Any) -> None:
    cols = _new_record_row(origin, idx, entry)
    _replace_record(conn, entry.region, entry.recognition.record_id, cols)


def _status_change(conn: sqlite3.Connection, origin: str, idx: int, entry: Any) -> None:
    c = entry.status_change
    conn.execute(
        "INSERT INTO status_changes (origin, idx, issuer, record_id, status, reason, reason_text,"
        " effective_on, announcement_no, new_valid_until, issued_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            origin,
            idx,
            entry.region,
            c.record_id,
            c.new_status,
            c.reason,
            c.reason_text,
            c.effective_on,
            c.announcement_no,
            c.new_valid_until,
            entry.issued_at,
        ),
    )
    rowid = _rowid(conn, entry.region, c.record_id)
    if rowid is None:
        return  # a change to a record this node never saw: kept in the log and table only
    cols: dict[str, object] = {}
    word = status_word(c.new_status)
    if word is not None:
        cols.update(status=word, status_since=c.effective_on)
    if c.new_status == Status.RENEWED and c.new_valid_until:
        cols["valid_until"] = c.new_valid_until
    if c.new_status == Status.CORRECTED and c.HasField("corrected"):
        cols.update(_record_columns(c.corrected))
    if cols:
        _update_record(conn, rowid, cols)


def _case(conn: sqlite3.Connection, origin: str, idx: int, entry: Any) -> None:
    c = entry.infringement_case
    conn.execute(
        "INSERT OR REPLACE INTO cases (case_region, case_id, protected_issuer,"
        " protected_record_id, handling_region, infringer_name, infringer_uscc, case_type,"
        " goods_value_fen, opened_on, description, open, origin, idx)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            entry.region,
            c.case_id,
            c.protected_issuer,
            c.protected_record_id,
            c.handling_region,
            c.infringer_name,
            c.infringer_uscc,
            c.case_type,
            c.goods_value_fen,
            c.opened_on,
            c.description,
            # The handling region's log may reach this node first: a closing action
            # already indexed closes the case as it arrives.
            0 if _closed(conn, entry.region, c.case_id, c.handling_region) else 1,
            origin,
            idx,
        ),
    )
    # Actions by other regions that arrived before the case (their log was synced
    # first) were unknown then: now they are violations, and undone.
    for a_origin, a_idx, acting in conn.execute(
        "SELECT origin, idx, acting_region FROM case_actions WHERE case_region = ? AND case_id = ?",
        (entry.region, c.case_id),
    ).fetchall():
        v = not_a_party(entry.region, c.case_id, c.handling_region, acting)
        if v is not None:
            conn.execute("DELETE FROM case_actions WHERE origin = ? AND idx = ?", (a_origin, a_idx))
            conn.execute(
                "INSERT INTO violations (origin, idx, rule, message, subject)"
                " VALUES (?, ?, ?, ?, ?)",
                (a_origin, a_idx, v.rule, v.message, f"{entry.region}/{c.case_id}"),
            )


_CLOSING = tuple(int(a) for a in sorted(CLOSING_ACTIONS))


def _closed(conn: sqlite3.Connection, case_region: str, case_id: str, handling: str) -> bool:
    """Whether a party to the case (its reporter or handler) already closed it here."""
    return (
        conn.execute(
            "SELECT 1 FROM case_actions WHERE case_region = ? AND case_id = ?"
            f" AND action IN ({', '.join('?' * len(_CLOSING))}) AND acting_region IN (?, ?)",
            (case_region, case_id, *_CLOSING, case_region, handling),
        ).fetchone()
        is not None
    )


def _case_action(conn: sqlite3.Connection, origin: str, idx: int, entry: Any) -> None:
    a = entry.case_action
    conn.execute(
        "INSERT INTO case_actions (origin, idx, case_region, case_id, acting_region, action,"
        " date, note, decision_no, fine_fen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            origin,
            idx,
            a.case_region,
            a.case_id,
            entry.region,
            a.action,
            a.date,
            a.note,
            a.decision_no,
            a.fine_fen,
        ),
    )
    if a.action in CLOSING_ACTIONS:
        conn.execute(
            "UPDATE cases SET open = 0 WHERE case_region = ? AND case_id = ?",
            (a.case_region, a.case_id),
        )


def _accession(conn: sqlite3.Connection, origin: str, idx: int, entry: Any) -> None:
    a = entry.accession
    conn.execute(
        "INSERT INTO accessions (origin, idx, agreement_id, region, title, covered_kinds,"
        " effective_from, effective_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            origin,
            idx,
            a.agreement_id,
            entry.region,
            a.title,
            json.dumps(list(a.covered_kinds)),
            a.effective_from,
            a.effective_until,
        ),
    )


def _withdrawal(conn: sqlite3.Connection, origin: str, idx: int, entry: Any) -> None:
    w = entry.withdrawal
    conn.execute(
        "INSERT INTO withdrawals (origin, idx, agreement_id, region, effective_on, reason_text)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (origin, idx, w.agreement_id, entry.region, w.effective_on, w.reason_text),
    )


def _ignore(conn: sqlite3.Connection, origin: str, idx: int, entry: Any) -> None:
    """Key entries feed the key table and federation updates the governance chain
    (both handled by the caller); neither changes the registry."""


_APPLY = {
    "recognition": _recognition,
    "status_change": _status_change,
    "infringement_case": _case,
    "case_action": _case_action,
    "accession": _accession,
    "withdrawal": _withdrawal,
    "key_announcement": _ignore,
    "key_revocation": _ignore,
    "federation_update": _ignore,
}


def apply_entry(conn: sqlite3.Connection, origin: str, idx: int, entry: Any) -> None:
    """Fold one parsed ``Entry`` into the projections."""
    body = entry.WhichOneof("body")
    if body is None:
        return
    _APPLY[body](conn, origin, idx, entry)


def _new_records(
    conn: sqlite3.Connection, origin: str, start: int, entries: list[tuple[int, Any]]
) -> None:
    """Insert a run of recognitions that are new to this node, in bulk.

    A bulk import or a cold sync is almost all new records: one executemany for
    the rows and one for the search index keep the per-entry cost small.
    """
    rows = [_new_record_row(origin, idx, entry) for idx, entry in entries]
    names = ", ".join(rows[0])
    marks = ", ".join("?" * len(rows[0]))
    conn.executemany(
        f"INSERT INTO records ({names}) VALUES ({marks})", [list(r.values()) for r in rows]
    )
    first, last = entries[0][0], entries[-1][0]
    rowids = dict(
        conn.execute(
            "SELECT idx, rowid FROM records WHERE origin = ? AND idx BETWEEN ? AND ?",
            (origin, first, last),
        )
    )
    index_many(conn, [(rowids[r["idx"]], r) for r in rows])


#: The stateless violations found ahead for an entry index (None: not run ahead).
Known = Callable[[int], "list[Violation] | None"]


def _flush(
    conn: sqlite3.Connection,
    origin: str,
    run: list[tuple[int, Any]],
    base: SqliteState,
    known: Known,
) -> None:
    """Check a run of recognitions against the rules, then insert the good ones in bulk.

    Whether an id or certificate number is taken is asked of the tables in a few
    set-based queries; a memory state on top catches duplicates within the run.
    """
    if not run:
        return
    region = run[0][1].region
    ids = [e.recognition.record_id for _, e in run]
    certs = [e.recognition.certificate_no for _, e in run]
    base.prefetch(region, ids, certs)
    state = MemoryState(base)
    good = []
    for idx, entry in run:
        if _checked(conn, origin, idx, entry, state, known):
            state.apply(region, entry)
            good.append((idx, entry))
    if good:
        _new_records(conn, origin, good[0][0], good)
    base.forget(region, ids, certs)  # taken now: the tables answer again
    run.clear()


def _checked(
    conn: sqlite3.Connection, origin: str, idx: int, entry: Any, state: StateReader, known: Known
) -> bool:
    """Apply the domain rules to one entry; record its violations; True if it may be applied."""
    found = known(idx)
    if found is None:
        violations = check_entry(state, entry.region, idx, entry)
    else:
        violations = found or check_entry(state, entry.region, idx, entry, stateless=False)
    if violations:
        subject = _subject(entry)
        conn.executemany(
            "INSERT INTO violations (origin, idx, rule, message, subject) VALUES (?, ?, ?, ?, ?)",
            [(origin, idx, v.rule, v.message, subject) for v in violations],
        )
    return not violations


def _subject(entry: Any) -> str:
    """The record or case an entry is about, as ``<region>/<id>`` ("" for others)."""
    body = entry.WhichOneof("body")
    if body in ("recognition", "status_change"):
        return f"{entry.region}/{getattr(entry, body).record_id}"
    if body == "infringement_case":
        return f"{entry.region}/{entry.infringement_case.case_id}"
    if body == "case_action":
        return f"{entry.case_action.case_region}/{entry.case_action.case_id}"
    return ""


def set_aside_suspects(
    conn: sqlite3.Connection, origin: str, start: int, entries: list[Any]
) -> list[Any]:
    """Replace entries flagged as suspects (``suspects`` table) by empty ones.

    Each is recorded as a violation of rule ``key-compromised`` naming the record
    or case it is about, so ``show`` and ``check`` say why it is not applied.
    """
    rows = conn.execute(
        "SELECT idx, reason FROM suspects WHERE origin = ? AND idx >= ? AND idx < ?",
        (origin, start, start + len(entries)),
    ).fetchall()
    if not rows:
        return entries
    out = list(entries)
    for idx, reason in rows:
        entry = out[idx - start]
        conn.execute(
            "INSERT INTO violations (origin, idx, rule, message, subject) VALUES (?, ?, ?, ?, ?)",
            (origin, idx, "key-compromised", reason, _subject(entry)),
        )
        out[idx - start] = type(entry)()
    return out


def apply_entries(
    conn: sqlite3.Connection,
    origin: str,
    start: int,
    entries: Any,
    stateless: Sequence[list[Violation]] | None = None,
) -> None:
    """Fold consecutive entries into the projections, batching runs of recognitions.

    Each entry is first checked by :func:`exchange.core.rules.check_entry` against
    what the tables (updated entry by entry, a run of recognitions at a time)
    hold; one that breaks a rule is written to ``violations`` instead, and
    changes nothing else. ``stateless``, one list per entry, is what
    :func:`exchange.core.rules.stateless_violations` found, when the caller ran
    it ahead (in worker processes).
    """

    def known(idx: int) -> list[Violation] | None:
        return None if stateless is None else stateless[idx - start]

    base = SqliteState(conn)
    run: list[tuple[int, Any]] = []
    for i, entry in enumerate(entries):
        if entry.WhichOneof("body") == "recognition":
            run.append((start + i, entry))
            continue
        _flush(conn, origin, run, base, known)
        if _checked(conn, origin, start + i, entry, base, known):
            apply_entry(conn, origin, start + i, entry)
    _flush(conn, origin, run, base, known)


def forget_origin(conn: sqlite3.Connection, origin: str) -> None:
    """Delete every registry row folded from ``origin``'s entries (and their search terms).

    The caller sets the origin's index cursor back to 0 so it is folded anew.
    Effects on other origins' rows (a case this origin closed) are not undone.
    """
    for (rowid,) in conn.execute(
        "SELECT rowid FROM records WHERE origin = ?", (origin,)
    ).fetchall():
        unindex_record(conn, rowid, _indexed(conn, rowid))
    for table in (*REGISTRY_TABLES, "violations"):
        conn.execute(f"DELETE FROM {table} WHERE origin = ?", (origin,))
