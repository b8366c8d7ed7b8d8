"""Search facets counted from values held in memory, one slot per records rowid.

Counting facets over the first :data:`queries.FACET_CAP` matches in SQL read up
to a thousand records rows scattered over the file (one B-tree descent each:
4-6 ms CPU at 1,000,000 records, memory-mapped). A narrow side table measured no
better (its rows are as scattered) and counting fetched rows in Python worse.
Here the facet values of every record (issuer, enterprise province, kind,
status, validity dates, Nice classes) sit in flat ``array`` columns indexed by
rowid (~22 bytes a record: ~22 MB at a million), so a facet count is a loop over
the matching rowids that FTS5 returns, with no row read at all.

The index is loaded once (:meth:`FacetIndex.load`, a full read of ``records``)
and then kept current by the writes that keep the search index current:
:func:`exchange.store.search.index_record`, ``index_many`` and
``unindex_record`` note each change on the writer connection
(:func:`note_change`), and ``Store.write`` applies the notes after its COMMIT
(and drops them on ROLLBACK).
"""

from __future__ import annotations

import json
import sqlite3
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from exchange.core.records import Kind

__all__ = ["FACET_COLUMNS", "FacetIndex", "facet_status", "note_change"]

#: The records columns the facets are counted from.
FACET_COLUMNS = (
    "issuer",
    "enterprise_region",
    "kind",
    "status",
    "valid_from",
    "valid_until",
    "nice_classes",
)
_NO_DATE = 0  # valid_until '' (no end)


def facet_status(status: str, valid_from: int, valid_until: int, on: int) -> str:
    """A record's status on day ``on`` (date ordinals) as the status facet shows it:
    a valid record past its end is ``expired``, one before its start ``not yet valid``."""
    if status == "valid":
        if valid_until != _NO_DATE and valid_until < on:
            return "expired"
        if valid_from > on:
            return "not yet valid"
    return status


def _ordinal(value: str | None) -> int:
    return date.fromisoformat(value).toordinal() if value else _NO_DATE


def note_change(conn: sqlite3.Connection, rowid: int, rec: Mapping[str, Any] | None) -> None:
    """Note that records row ``rowid`` now holds ``rec`` (None: it is gone), for the
    Store to apply to its :class:`FacetIndex` when the transaction commits.

    Only a connection that carries a ``facet_changes`` list (the Store's writer,
    while a loaded index is kept current) collects notes; elsewhere this is a no-op.
    """
    notes = getattr(conn, "facet_changes", None)
    if notes is not None:
        notes.append((rowid, None if rec is None else {c: rec.get(c) for c in FACET_COLUMNS}))


class _Values:
    """Small ints for repeated strings (issuers, provinces, statuses, Nice lists)."""

    def __init__(self, first: Any = None) -> None:
        self.values: list[Any] = [first]
        self.codes: dict[Any, int] = {first: 0}

    def code(self, value: Any) -> int:
        c = self.codes.get(value)
        if c is None:
            c = self.codes[value] = len(self.values)
            self.values.append(value)
        return c


class FacetIndex:
    """Facet values per rowid (status code 0: no record at that rowid)."""

    def __init__(self) -> None:
        self._issuers = _Values()
        self._regions = _Values()
        self._statuses = _Values()  # code 0 = no record
        self._nice = _Values(())  # tuples of classes, e.g. (33,) or (29, 30)
        self._issuer = array("H")
        self._region = array("H")
        self._kind = array("H")
        self._status = array("B")
        self._from = array("i")
        self._until = array("i")
        self._nice_of = array("H")
        self._valid = self._statuses.code("valid")

    @classmethod
    def load(cls, conn: sqlite3.Connection) -> FacetIndex:
        """Every record's facet values, read once (seconds at a million records)."""
        index = cls()
        cur = conn.execute(f"SELECT rowid, {', '.join(FACET_COLUMNS)} FROM records ORDER BY rowid")
        while batch := cur.fetchmany(10_000):
            for rowid, *values in batch:
                index._set(rowid, dict(zip(FACET_COLUMNS, values, strict=True)))
        return index

    def _grow(self, rowid: int) -> None:
        extra = rowid + 1 - len(self._status)
        if extra > 0:
            for column in self._columns():
                column.extend(array(column.typecode, bytes(extra * column.itemsize)))

    def _columns(self) -> tuple[array, ...]:
        return (
            self._issuer,
            self._region,
            self._kind,
            self._status,
            self._from,
            self._until,
            self._nice_of,
        )

    def _set(self, rowid: int, rec: Mapping[str, Any] | None) -> None:
        self._grow(rowid)
        if rec is None:
            self._status[rowid] = 0
            return
        nice = rec.get("nice_classes") or "[]"
        classes = json.loads(nice) if isinstance(nice, str) else nice
        self._issuer[rowid] = self._issuers.code(rec.get("issuer") or "")
        self._region[rowid] = self._regions.code((rec.get("enterprise_region") or "")[:2])
        self._kind[rowid] = int(rec.get("kind") or 0)
        self._status[rowid] = self._statuses.code(rec.get("status") or "")
        self._from[rowid] = _ordinal(rec.get("valid_from"))
        self._until[rowid] = _ordinal(rec.get("valid_until"))
        self._nice_of[rowid] = self._nice.code(tuple(int(n) for n in classes))

    def apply(self, changes: Iterable[tuple[int, Mapping[str, Any] | None]]) -> None:
        """Apply the notes of one committed transaction, in order."""
        for rowid, rec in changes:
            self._set(rowid, rec)

    def valid_on(self, rowid: int, day: int) -> bool:
        """Whether the record at ``rowid`` is valid on ``day`` (a date ordinal): its
        status is valid and the day lies in [valid_from, valid_until] (the rank
        "valid today" of a search, as ``queries._ranked_page`` checks it in SQL)."""
        if rowid >= len(self._status) or self._status[rowid] != self._valid:
            return False
        until = self._until[rowid]
        return self._from[rowid] <= day and (until == _NO_DATE or until >= day)

    def valid_among(self, rowids: Iterable[int], day: int) -> list[int]:
        """The ``rowids`` whose records are valid on ``day`` (:meth:`valid_on`, for
        many at once: a search walks up to thousands of matches)."""
        status, start, until, valid, n = (
            self._status,
            self._from,
            self._until,
            self._valid,
            len(self._status),
        )
        return [
            r
            for r in rowids
            if r < n
            and status[r] == valid
            and start[r] <= day
            and (until[r] == _NO_DATE or until[r] >= day)
        ]

    def nbytes(self) -> int:
        """Bytes held by the per-rowid columns (the value tables are a few KB)."""
        return sum(c.itemsize * len(c) for c in self._columns())

    def count(self, rowids: Iterable[int], on: date) -> dict[str, Counter]:
        """Counts by issuer, enterprise province, kind, status on ``on`` and Nice
        class over ``rowids`` (each a record's rowid; unknown ones are skipped)."""
        status = self._status
        n = len(status)
        ids = [r for r in rowids if r < n and status[r]]
        facets: dict[str, Counter] = {}
        by = Counter(map(self._issuer.__getitem__, ids))
        facets["issuer"] = Counter({self._issuers.values[c]: k for c, k in by.items()})
        by = Counter(map(self._region.__getitem__, ids))
        facets["region"] = Counter()
        for c, k in by.items():
            facets["region"][str(self._regions.values[c]).ljust(6, "0")] += k
        kinds: Counter = Counter()
        for value, k in Counter(map(self._kind.__getitem__, ids)).items():
            kinds[Kind(value).name if value in Kind._value2member_map_ else str(value)] += k
        facets["kind"] = kinds
        day = on.toordinal()
        statuses: Counter = Counter()
        valid = self._valid
        for c, k in Counter(map(status.__getitem__, ids)).items():
            if c != valid:
                statuses[self._statuses.values[c]] += k
        for r in ids:
            if status[r] == valid:
                statuses[facet_status("valid", self._from[r], self._until[r], day)] += 1
        facets["status"] = statuses
        nice: Counter = Counter()
        for c, k in Counter(map(self._nice_of.__getitem__, ids)).items():
            for cls in self._nice.values[c]:
                nice[str(cls)] += k
        facets["nice_class"] = nice
        return facets
