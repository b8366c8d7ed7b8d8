"""Read-side queries over the projections, returning core facts or plain rows.

The registry RPCs and the admin rules both read through here, so "what does
this node know about record X" has one answer.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import date
from types import SimpleNamespace
from typing import Any

from exchange.core import regions
from exchange.core.recognition import (
    AccessionFacts,
    ChangeFacts,
    EntryRef,
    RecordFacts,
    WithdrawalFacts,
)
from exchange.core.records import Kind, ReasonCode, Status
from exchange.core.status import RecordState, _state_from, apply_change
from exchange.store.search import COUNT_CAP, match_expression

__all__ = [
    "accession_facts",
    "change_facts",
    "change_rows",
    "find_records",
    "record_facts",
    "record_row",
    "record_state",
    "rows",
    "search_records",
    "withdrawal_facts",
]


def rows(conn: sqlite3.Connection, sql: str, params: Sequence[object] = ()) -> list[dict]:
    cur = conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur]


def _d(value: str) -> date | None:
    return date.fromisoformat(value) if value else None


def record_row(conn: sqlite3.Connection, issuer: str, record_id: str) -> dict | None:
    found = rows(
        conn, "SELECT * FROM records WHERE issuer = ? AND record_id = ?", (issuer, record_id)
    )
    return found[0] if found else None


def origin_of(conn: sqlite3.Connection, issuer: str) -> str:
    r = conn.execute("SELECT origin FROM origins WHERE region = ?", (issuer,)).fetchone()
    return r[0] if r else issuer


def record_facts(row: dict) -> RecordFacts:
    return RecordFacts(
        issuer=row["issuer"],
        record_id=row["record_id"],
        kind=Kind(row["kind"]),
        brand_name=row["brand_name"],
        recognised_on=date.fromisoformat(row["recognised_on"]),
        valid_from=date.fromisoformat(row["valid_from"]),
        valid_until=_d(row["valid_until"]),
        ref=EntryRef(row["origin"], row["idx"]),
    )


def change_rows(conn: sqlite3.Connection, issuer: str, record_id: str) -> list[dict]:
    return rows(
        conn,
        "SELECT * FROM status_changes WHERE issuer = ? AND record_id = ? ORDER BY idx",
        (issuer, record_id),
    )


def change_facts(conn: sqlite3.Connection, issuer: str, record_id: str) -> list[ChangeFacts]:
    return [
        ChangeFacts(
            status=Status(r["status"]),
            effective_on=date.fromisoformat(r["effective_on"]),
            new_valid_until=_d(r["new_valid_until"]),
            reason=ReasonCode(r["reason"]),
            ref=EntryRef(r["origin"], r["idx"]),
        )
        for r in change_rows(conn, issuer, record_id)
    ]


def accession_facts(conn: sqlite3.Connection) -> list[AccessionFacts]:
    return [
        AccessionFacts(
            agreement_id=r["agreement_id"],
            region=r["region"],
            covered_kinds=frozenset(Kind(k) for k in json.loads(r["covered_kinds"])),
            effective_from=date.fromisoformat(r["effective_from"]),
            effective_until=_d(r["effective_until"]),
            ref=EntryRef(r["origin"], r["idx"]),
        )
        for r in rows(conn, "SELECT * FROM accessions ORDER BY origin, idx")
    ]


def withdrawal_facts(conn: sqlite3.Connection) -> list[WithdrawalFacts]:
    return [
        WithdrawalFacts(
            agreement_id=r["agreement_id"],
            region=r["region"],
            effective_on=date.fromisoformat(r["effective_on"]),
            ref=EntryRef(r["origin"], r["idx"]),
        )
        for r in rows(conn, "SELECT * FROM withdrawals ORDER BY origin, idx")
    ]


def record_state(conn: sqlite3.Connection, issuer: str, record_id: str) -> RecordState | None:
    """Replay the record's changes through the state machine (for admin checks)."""
    row = record_row(conn, issuer, record_id)
    if row is None:
        return None
    state = _state_from(SimpleNamespace(**row), issuer=issuer)
    for r in change_rows(conn, issuer, record_id):
        change = SimpleNamespace(
            record_id=record_id,
            new_status=r["status"],
            effective_on=r["effective_on"],
            new_valid_until=r["new_valid_until"],
            reason=r["reason"],
            corrected=None,
        )
        try:
            state = apply_change(state, change)
        except Exception:  # a mirror's history is the issuer's word; keep replaying
            continue
    return state


def find_records(
    conn: sqlite3.Connection,
    *,
    uscc: str = "",
    brand: str = "",
    issuer: str = "",
    record_id: str = "",
) -> list[dict]:
    """Records by exact USCC, exact brand name, or (issuer, record id)."""
    if record_id:
        sql, params = "issuer = ? AND record_id = ?", [issuer, record_id]
        if not issuer:
            sql, params = "record_id = ?", [record_id]
    elif uscc:
        sql, params = "enterprise_uscc = ?", [uscc]
    else:
        sql, params = "brand_name = ?", [brand]
    return rows(conn, f"SELECT * FROM records WHERE {sql} ORDER BY issuer, record_id", params)


def _region_range(region: str) -> tuple[str, str]:
    """Codes within ``region``'s jurisdiction as an index-friendly range."""
    digits = (
        {"province": 2, "city": 4}.get(regions.level(region), 6) if regions.is_region(region) else 6
    )
    prefix = region[:digits]
    return prefix, prefix + ":"  # ':' sorts right after '9'


def search_records(conn: sqlite3.Connection, f: Any) -> tuple[list[dict], int, bool]:
    """Substring and filter search; ``f`` carries SearchRequest fields.

    Returns (rows, total, capped): totals stop counting at ``COUNT_CAP``.
    Results come in log order (rowid), which keeps every page an index walk.
    """
    where, params = [], []
    if f.text:
        expr = match_expression(f.text)
        if expr is None:
            return [], 0, False
        where.append("r.rowid IN (SELECT rowid FROM records_fts WHERE records_fts MATCH ?)")
        params.append(expr)
    if f.region:
        low, high = _region_range(f.region)
        where.append("r.enterprise_region >= ? AND r.enterprise_region < ?")
        params += [low, high]
    for col, value in (("issuer", f.issuer), ("enterprise_uscc", f.uscc), ("kind", f.kind)):
        if value:
            where.append(f"r.{col} = ?")
            params.append(value)
    if f.enterprise:
        expr = match_expression(f.enterprise)
        if expr is None:
            return [], 0, False
        where.append("r.rowid IN (SELECT rowid FROM records_fts WHERE records_fts MATCH ?)")
        params.append("enterprise : " + expr)
    if f.nice_class:
        where.append("EXISTS (SELECT 1 FROM json_each(r.nice_classes) WHERE value = ?)")
        params.append(f.nice_class)
    if f.status:
        where.append("r.status = ?")
        params.append(f.status)
    if f.valid_on:
        where.append("r.valid_from <= ? AND (r.valid_until = '' OR r.valid_until >= ?)")
        params += [f.valid_on, f.valid_on]
    sql = " AND ".join(where) or "1 = 1"
    total = conn.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM records r WHERE {sql} LIMIT {COUNT_CAP + 1})",
        params,
    ).fetchone()[0]
    limit = min(f.limit or 20, 1000)
    found = rows(
        conn,
        f"SELECT r.* FROM records r WHERE {sql} ORDER BY r.rowid LIMIT ? OFFSET ?",
        [*params, limit, f.offset],
    )
    return found, min(total, COUNT_CAP), total > COUNT_CAP
