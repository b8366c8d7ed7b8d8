"""Read-side queries over the projections, returning core facts or plain rows.

The registry RPCs read through here; the domain rules read the same tables
through :mod:`exchange.store.state`.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Any

from exchange.core import regions
from exchange.core.errors import ValidationError
from exchange.core.recognition import (
    AccessionFacts,
    ChangeFacts,
    EntryRef,
    RecordFacts,
    WithdrawalFacts,
)
from exchange.core.vocabulary import Kind, ReasonCode, Status
from exchange.store.database import map_pages
from exchange.store.facet_index import FacetIndex
from exchange.store.search import (
    COUNT_CAP,
    exact_brands,
    filter_tags,
    filters_match,
    match_expression,
    typo_expression,
)

__all__ = [
    "accession_facts",
    "change_facts_of",
    "change_rows",
    "find_records",
    "record_facts",
    "record_row",
    "rows",
    "search",
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


def _change_fact(r: dict) -> ChangeFacts:
    return ChangeFacts(
        status=Status(r["status"]),
        effective_on=date.fromisoformat(r["effective_on"]),
        new_valid_until=_d(r["new_valid_until"]),
        reason=ReasonCode(r["reason"]),
        ref=EntryRef(r["origin"], r["idx"]),
    )


def change_facts_of(
    conn: sqlite3.Connection, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], list[ChangeFacts]]:
    """The status changes of many records as facts, keyed by (issuer, record id): one
    statement per issuer instead of one per record (a search page of 20 hits
    was 20 statements, most of them finding nothing)."""
    out: dict[tuple[str, str], list[ChangeFacts]] = {key: [] for key in keys}
    by_issuer: dict[str, list[str]] = {}
    for issuer, record_id in out:
        by_issuer.setdefault(issuer, []).append(record_id)
    for issuer, ids in by_issuer.items():
        for start in range(0, len(ids), 500):  # under SQLite's bound-parameter limit
            chunk = ids[start : start + 500]
            for r in rows(
                conn,
                "SELECT * FROM status_changes WHERE issuer = ? AND record_id IN"
                f" ({', '.join('?' * len(chunk))}) ORDER BY idx",
                [issuer, *chunk],
            ):
                out[(issuer, r["record_id"])].append(_change_fact(r))
    return out


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


#: Facets count at most this many matches (in log order): counting is not free either.
FACET_CAP = 1000


@dataclass
class SearchAnswer:
    """One page of a search, ranked, with its total and (if asked) its facets."""

    rows: list[dict]
    total: int
    capped: bool
    facets: dict[str, Counter] = field(default_factory=dict)
    facets_over: int = 0
    facets_partial: bool = False
    typo: bool = False  # nothing matched as typed: these match one edit away


@dataclass(frozen=True)
class _Plan:
    """How to read a search's matches: ``FROM source WHERE where ORDER BY order``.

    ``row_where`` (with ``row_params``) is the part checked on the records row;
    ``text_only`` says the FTS5 expression is the query text alone, which any
    record whose brand equals the query satisfies, so the exact-brand rank can
    skip FTS5 (see :func:`_ranked_page`); ``fts_only`` that FTS5 alone decides
    the matches (nothing is checked on the records row).
    """

    source: str
    params: list
    where: str
    order: str
    row_where: str
    row_params: list
    text_only: bool
    fts_only: bool


def _plan(f: Any, text_expr: str | None) -> _Plan | None:
    """How to read the matches of ``f``, or None when nothing can match."""
    parts = []
    if f.text:
        if text_expr is None:
            return None
        parts.append(f"({text_expr})")
    if f.enterprise:
        expr = match_expression(f.enterprise, ("enterprise_name",))
        if expr is None:
            return None
        parts.append(f"({expr})")
    if f.region and not regions.is_region(f.region):
        raise ValidationError("region", "is not a GB/T 2260 region code", f.region)
    # Most records are valid: as an index term "valid" would make FTS5 walk a
    # posting list as long as the registry, so it is checked on the row instead.
    common_status = f.status == "valid"
    tags = filter_tags(
        issuer=f.issuer,
        region=f.region,
        kind=f.kind,
        status="" if common_status else f.status,
        nice=f.nice_class,
    )
    if tags:
        parts.append(filters_match(tags))
    text_only = bool(f.text) and len(parts) == 1
    row_where, row_params = [], []
    if common_status:
        row_where.append("r.status = ?")
        row_params.append(f.status)
    if f.uscc:
        row_where.append("r.enterprise_uscc = ?")
        row_params.append(f.uscc)
    if f.valid_on:
        row_where.append("r.valid_from <= ? AND (r.valid_until = '' OR r.valid_until >= ?)")
        row_params += [f.valid_on, f.valid_on]
    where, params = list(row_where), list(row_params)
    fts = bool(parts) and not f.uscc
    if fts:
        source, order = "records_fts f JOIN records r ON r.rowid = f.rowid", "f.rowid"
        where.insert(0, "records_fts MATCH ?")
        params.insert(0, " AND ".join(parts))
    else:
        source, order = "records r", "r.rowid"
        if parts:  # a USCC narrows to a handful of rows: check the rest against them
            where.append("r.rowid IN (SELECT rowid FROM records_fts WHERE records_fts MATCH ?)")
            params.append(" AND ".join(parts))
    return _Plan(
        source,
        params,
        " AND ".join(where) or "1 = 1",
        order,
        " AND ".join(row_where) or "1 = 1",
        row_params,
        text_only,
        fts_only=fts and not row_where,
    )


def _ranked_page(
    conn: sqlite3.Connection,
    plan: _Plan,
    exact: list[str],
    on: str,
    f: Any,
    ranked: bool = True,
) -> list[dict]:
    """The page ``[offset, offset + limit)`` of the matches in rank order.

    Ranks: the brand exactly as typed first, then records valid on ``on``, then
    the rest (expired, suspended, revoked, withdrawn), each in log order. Each
    rank is its own query that stops at the rows the page needs (SQLite skips
    the offset), so a common query (one character, a million records) still
    reads about a page. Without ``ranked`` (a listing by filters only, such as
    an export paging through an issuer's records) the order is the log's.
    """
    source, params, where, order = plan.source, plan.params, plan.where, plan.order
    limit = min(f.limit or 20, 1000)
    marks = ", ".join("?" * len(exact))
    valid = (
        "(r.status = 'valid' AND r.valid_from <= ? AND (r.valid_until = '' OR r.valid_until >= ?))"
    )
    tiers: list[tuple[str, str, list]] = []  # (source, where, params) per rank
    if not ranked:
        tiers.append((source, where, params))
    else:
        if exact and plan.text_only:
            # A brand equal to the query matches the query's text: the brand_name
            # index alone finds these, in rowid order, without asking FTS5 per row.
            tiers.append(
                (
                    "records r",
                    f"{plan.row_where} AND r.brand_name IN ({marks})",
                    [*plan.row_params, *exact],
                )
            )
        elif exact:
            # Driven by the brand_name index; FTS5 answers for those rowids only.
            exact_source = source.replace(
                "records_fts f JOIN records r", "records r CROSS JOIN records_fts f"
            )
            tiers.append(
                (exact_source, f"{where} AND r.brand_name IN ({marks})", [*params, *exact])
            )
        not_exact = [f"r.brand_name NOT IN ({marks})"] if exact else []
        for rank in (valid, f"NOT {valid}"):
            tiers.append(
                (source, " AND ".join([where, *not_exact, rank]), [*params, *exact, on, on])
            )
    out: list[dict] = []
    skip = f.offset
    for src, tier_where, tier_params in tiers:
        need = limit - len(out)
        if need <= 0:
            break
        sql = f"FROM {src} WHERE {tier_where}"
        tier_order = "r.rowid" if src == "records r" else order
        got = rows(
            conn,
            f"SELECT r.* {sql} ORDER BY {tier_order} LIMIT ? OFFSET ?",
            [*tier_params, need, skip],
        )
        out += got
        if len(got) == need:
            break
        if got:
            skip = 0  # this rank ran out inside the page: the next starts at its top
        elif skip:  # this rank lies wholly before the page: skip past it (counting <= skip)
            n = conn.execute(
                f"SELECT count(*) FROM (SELECT 1 {sql} LIMIT ?)", [*tier_params, skip]
            ).fetchone()[0]
            skip -= n
    return out


def _facets(
    conn: sqlite3.Connection, plan: _Plan, on: date, index: FacetIndex
) -> tuple[dict[str, Counter], int, bool]:
    """Counts by issuer, enterprise province, kind, status on ``on`` and Nice class,
    over the first :data:`FACET_CAP` matches (in log order), from ``index``.

    Only the matches' rowids are read (up to ``FACET_CAP + 1``, to say whether
    there are more); when every condition lives in the FTS5 index that is FTS5
    alone, with no records row read (:mod:`exchange.store.facet_index`).
    """
    if plan.fts_only:
        sql = f"SELECT f.rowid FROM records_fts f WHERE {plan.where} ORDER BY f.rowid LIMIT ?"
    else:
        sql = f"SELECT r.rowid FROM {plan.source} WHERE {plan.where} ORDER BY {plan.order} LIMIT ?"
    ids = [r[0] for r in conn.execute(sql, [*plan.params, FACET_CAP + 1])]
    matched = len(ids)
    return index.count(ids[:FACET_CAP], on), min(matched, FACET_CAP), matched > FACET_CAP


def search(
    conn: sqlite3.Connection,
    f: Any,
    on: date | None = None,
    with_facets: bool = False,
    facet_index: FacetIndex | None = None,
) -> SearchAnswer:
    """Substring, pinyin and initials search with filters; ``f`` carries SearchRequest fields.

    Text, issuer, region, kind, status and Nice class all live in the FTS5 index
    (see ``exchange.store.search``), so FTS5 intersects them in C and each query
    stops at the LIMIT; only a USCC (its own exact index) and a validity date
    are checked on the records table. Totals stop counting at ``COUNT_CAP``.
    Results are ranked (:func:`_ranked_page`). A pinyin query that matches
    nothing is tried once more one edit away (``typo``). Facets are counted from
    ``facet_index`` (a node passes its ``Store.facet_index()``); without one, one
    is loaded for this call (a full read of ``records``: fine for a small file).
    """
    day = on or date.today()
    today = day.isoformat()
    typo = False
    limit = min(f.limit or 20, 1000)
    terms = facet_index.terms if facet_index is not None else None
    plan = _plan(f, match_expression(f.text, terms=terms) if f.text else None)
    exact = exact_brands(f.text)
    walk = max(FACET_CAP + 1 if with_facets else COUNT_CAP + 1, f.offset + limit)
    ids: list[int] | None = None  # the first `walk` matches' rowids, when read
    found = _page_in_memory(conn, plan, facet_index, day, f, walk, exact)
    if found is not None:
        page, ids = found
    else:
        page = _ranked_page(conn, plan, exact, today, f, bool(f.text)) if plan else []
    if plan and not page and f.offset == 0 and f.text:
        expr = typo_expression(f.text)
        retry = _plan(f, expr) if expr else None
        if retry is not None:
            found = _page_in_memory(conn, retry, facet_index, day, f, walk)
            retry_page, retry_ids = found or (_ranked_page(conn, retry, [], today, f), None)
            if retry_page:
                plan, typo, page, ids = retry, True, retry_page, retry_ids
    if plan is None:
        return SearchAnswer([], 0, False)
    facets: tuple[dict[str, Counter], int, bool] = ({}, 0, False)
    if with_facets:
        index = facet_index or FacetIndex.load(conn)
        if ids is not None:  # the same walk read the matches the facets count
            matched = len(ids)
            facets = index.count(ids[:FACET_CAP], day), min(matched, FACET_CAP), matched > FACET_CAP
        else:
            facets = _facets(conn, plan, day, index)
    if len(page) < limit and (page or f.offset == 0):
        total, capped = f.offset + len(page), False  # the page ran out: that is the count
    elif ids is not None or with_facets:  # matches up to COUNT_CAP + 1 were read already
        matched = len(ids) if ids is not None else facets[1] + facets[2]
        total, capped = min(matched, COUNT_CAP), matched > COUNT_CAP
    else:
        source, params, where = plan.source, plan.params, plan.where
        if plan.fts_only:
            source = "records_fts f"
        total = conn.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {source} WHERE {where} LIMIT {COUNT_CAP + 1})",
            params,
        ).fetchone()[0]
        total, capped = min(total, COUNT_CAP), total > COUNT_CAP
    answer = SearchAnswer(page, total, capped, typo=typo)
    answer.facets, answer.facets_over, answer.facets_partial = facets
    return answer


def _page_in_memory(
    conn: sqlite3.Connection,
    plan: _Plan | None,
    index: FacetIndex | None,
    day: date,
    f: Any,
    walk: int,
    exact: list[str] = (),  # type: ignore[assignment]
) -> tuple[list[dict], list[int]] | None:
    """The ranked page read with one FTS5 walk, and the rowids walked (at least
    ``walk`` of them, when there are as many); None: use :func:`_ranked_page`.

    For a text query whose conditions all live in the FTS5 index (no USCC, date
    or common-status filter; with an exact-brand rank only for the text alone,
    whose exact brands the ``brand_name`` index lists). :func:`_ranked_page`
    asks SQLite for the records valid today first, reading rows until it has a
    page: when few matches are valid it reads every match's row, and the total
    and the facets then walk the matches again. Here the matches' rowids are
    read once, in log order, only until the page's valid ones are found and
    ``walk`` were seen (the total's and the facets' need), with the validity
    held in ``index`` (:meth:`FacetIndex.valid_on`); only the page's rows are
    read. The rank is :func:`_ranked_page`'s: valid today, then the rest, each
    in log order (the walk stops only once the page lies among the valid ones).
    """
    if index is None or plan is None or not f.text or not plan.fts_only:
        return None
    first: list[int] = []  # the exact brands' rowids: the first rank, in log order
    if exact:
        if not plan.text_only:
            return None
        marks = ", ".join("?" * len(exact))
        sql = f"SELECT rowid FROM records WHERE brand_name IN ({marks}) ORDER BY rowid"
        first = [r[0] for r in conn.execute(sql, exact)]
    skip = set(first)
    cur = conn.execute(
        f"SELECT f.rowid FROM records_fts f WHERE {plan.where} ORDER BY f.rowid", plan.params
    )
    limit = min(f.limit or 20, 1000)
    need = f.offset + limit
    ordinal = day.toordinal()
    ids: list[int] = []
    valid: list[int] = []
    size = max(walk, 256)
    while chunk := cur.fetchmany(size):
        got = [r[0] for r in chunk]
        ids += got
        if len(first) + len(valid) < need:  # past that only the count needs the rowids
            valid += index.valid_among([r for r in got if r not in skip] if skip else got, ordinal)
        if len(first) + len(valid) >= need and len(ids) >= walk:
            break
        # Few valid matches so far: the walk may go to the end; larger chunks
        # cost less per rowid (each valid_among call has a fixed cost).
        size = max(size, 2048)
    cur.close()
    head = first + valid
    if len(head) >= need:
        want = head[f.offset : need]
    else:
        chosen = skip.union(valid)
        rest = islice((r for r in ids if r not in chosen), need - len(head))
        want = [*head, *rest][f.offset : need]
    if not want:
        return [], ids
    marks = ", ".join("?" * len(want))
    by_rowid = {}
    for row in rows(conn, f"SELECT rowid AS rowid_, * FROM records WHERE rowid IN ({marks})", want):
        by_rowid[row.pop("rowid_")] = row
    return [by_rowid[r] for r in want if r in by_rowid], ids


def search_records(
    conn: sqlite3.Connection, f: Any, on: date | None = None
) -> tuple[list[dict], int, bool]:
    """:func:`search` without facets: (rows, total, capped)."""
    a = search(conn, f, on)
    return a.rows, a.total, a.capped


def bundle_refs(
    conn: sqlite3.Connection, issuer: str, record_id: str
) -> list[tuple[str, int, str]]:
    """(origin, index, type) of every entry a record's bundle carries besides the record.

    Its status changes, the cases about it and the actions on them, and every
    accession and withdrawal held (so recognition elsewhere can be decided offline).
    """
    out: list[tuple[str, int, str]] = []

    def add(sql: str, params: Sequence[object], type_: str) -> list[dict]:
        found = rows(conn, sql, params)
        out.extend((r["origin"], r["idx"], type_) for r in found)
        return found

    add(
        "SELECT origin, idx FROM status_changes WHERE issuer = ? AND record_id = ?"
        " ORDER BY origin, idx",
        (issuer, record_id),
        "status_change",
    )
    cases = add(
        "SELECT case_region, case_id, origin, idx FROM cases"
        " WHERE protected_issuer = ? AND protected_record_id = ? ORDER BY origin, idx",
        (issuer, record_id),
        "infringement_case",
    )
    for c in cases:
        add(
            "SELECT origin, idx FROM case_actions WHERE case_region = ? AND case_id = ?"
            " ORDER BY origin, idx",
            (c["case_region"], c["case_id"]),
            "case_action",
        )
    add("SELECT origin, idx FROM accessions ORDER BY origin, idx", (), "accession")
    add("SELECT origin, idx FROM withdrawals ORDER BY origin, idx", (), "withdrawal")
    return out


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """One read transaction, so every row and proof read inside is from the same state."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def accession_rows(conn: sqlite3.Connection, limit: int) -> list[dict]:
    """Up to ``limit`` accessions, oldest in force first."""
    return rows(conn, "SELECT * FROM accessions ORDER BY effective_from, origin LIMIT ?", (limit,))


def withdrawal_rows(conn: sqlite3.Connection, limit: int) -> list[dict]:
    """Up to ``limit`` withdrawals, oldest first."""
    return rows(conn, "SELECT * FROM withdrawals ORDER BY effective_on LIMIT ?", (limit,))


def case_rows(
    conn: sqlite3.Connection,
    *,
    record: Sequence[str] | None = None,
    brand_like: str = "",
    region: str = "",
    open_only: bool = False,
    limit: int,
    offset: int = 0,
) -> list[dict]:
    """Cases matching the filters, each with its protected record's brand.

    ``brand_like`` is a LIKE pattern whose wildcards the caller escaped with ``\\``.
    """
    where, params = ["1 = 1"], []
    if record:
        where.append("c.protected_issuer = ? AND c.protected_record_id = ?")
        params += list(record)
    if brand_like:
        where.append("r.brand_name LIKE ? ESCAPE '\\'")
        params.append(brand_like)
    if region:
        where.append("(c.handling_region = ? OR c.case_region = ?)")
        params += [region, region]
    if open_only:
        where.append("c.open = 1")
    return rows(
        conn,
        "SELECT c.*, coalesce(r.brand_name, '') AS brand_name FROM cases c LEFT JOIN records r ON"
        " r.issuer = c.protected_issuer AND r.record_id = c.protected_record_id"
        f" WHERE {' AND '.join(where)} ORDER BY c.opened_on, c.case_id LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )


def case_action_refs(
    conn: sqlite3.Connection, case_region: str, case_id: str, limit: int
) -> list[dict]:
    """(origin, idx) of up to ``limit`` actions on one case, in date order."""
    return rows(
        conn,
        "SELECT origin, idx FROM case_actions WHERE case_region = ?"
        " AND case_id = ? ORDER BY date, origin, idx LIMIT ?",
        (case_region, case_id, limit),
    )


def open_read_only(path: str | Path) -> sqlite3.Connection:
    """A read-only connection to a node's database (for scrapes beside the node)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30, check_same_thread=False)
    map_pages(conn)
    return conn


def origin_gauges(
    conn: sqlite3.Connection,
) -> tuple[list[tuple[str, int, int, int]], dict[str, int], dict[str, int]]:
    """What metrics show per origin: (origin, size, frozen, indexed) rows, cosignatures
    held at the head, and the newest cosignature's timestamp."""
    heads = [tuple(r) for r in conn.execute("SELECT origin, size, frozen, indexed FROM origins")]
    held = dict(
        conn.execute(
            "SELECT c.origin, count(*) FROM cosignatures c JOIN origins o"
            " ON o.origin = c.origin AND o.size = c.size GROUP BY c.origin"
        ).fetchall()
    )
    newest = dict(
        conn.execute("SELECT origin, max(timestamp) FROM cosignatures GROUP BY 1").fetchall()
    )
    return heads, held, newest  # type: ignore[return-value]


def case_row(conn: sqlite3.Connection, case_region: str, case_id: str) -> dict | None:
    """One case (for the record it protects), or None."""
    found = rows(
        conn, "SELECT * FROM cases WHERE case_region = ? AND case_id = ?", (case_region, case_id)
    )
    return found[0] if found else None


def violations_after(conn: sqlite3.Connection, after: int, limit: int) -> list[dict]:
    """Violations recorded after row ``after``, oldest first (for watches)."""
    return rows(
        conn,
        "SELECT id, origin, idx, rule, message, subject FROM violations WHERE id > ?"
        " ORDER BY id LIMIT ?",
        (after, limit),
    )


def evidence_after(conn: sqlite3.Connection, after: int, limit: int) -> list[dict]:
    """Equivocation evidence stored after row ``after``, oldest first (for watches)."""
    return rows(
        conn,
        "SELECT id, origin, source, detail, detected_at FROM evidence WHERE id > ?"
        " ORDER BY id LIMIT ?",
        (after, limit),
    )


def last_alert_ids(conn: sqlite3.Connection) -> tuple[int, int]:
    """The newest (violation id, evidence id): where a watch that starts now begins."""
    v = conn.execute("SELECT coalesce(max(id), 0) FROM violations").fetchone()[0]
    e = conn.execute("SELECT coalesce(max(id), 0) FROM evidence").fetchone()[0]
    return v, e
