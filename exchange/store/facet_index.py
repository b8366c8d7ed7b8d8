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
from exchange.store.latin_terms import LatinTerms

__all__ = ["FACET_COLUMNS", "TEXT_COLUMNS", "FacetIndex", "facet_status", "note_change"]

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
#: The records columns whose Latin words the search index holds (LatinTerms).
TEXT_COLUMNS = ("brand_name", "product", "enterprise_name", "brand_name_latin")
_NO_DATE = 0  # valid_until '' (no end)
_FOREVER = 2**31 - 1  # a day after every date
_WIDE = 0xFFFF  # a packed value that says: see FacetIndex._wide


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
        columns = (*FACET_COLUMNS, *TEXT_COLUMNS)
        notes.append((rowid, None if rec is None else {c: rec.get(c) for c in columns}))


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
    """Facet values per rowid (status code 0: no record at that rowid).

    Issuer, province, kind and Nice classes are packed into one 64-bit int per
    record (16 bits each, codes of :class:`_Values`): a facet count is then one
    ``Counter`` over the matches, whose few distinct values are unpacked after.
    """

    def __init__(self) -> None:
        self._issuers = _Values()
        self._regions = _Values()
        self._statuses = _Values()  # code 0 = no record
        self._nice = _Values(())  # tuples of classes, e.g. (33,) or (29, 30)
        self._packed = array("Q")
        self._wide: dict[int, tuple[int, ...]] = {}  # codes too wide to pack, by rowid
        self._status = array("B")
        # The days a record is valid on are lo..hi (see _set): one check per match.
        self._lo = array("i")
        self._hi = array("i")
        self._valid = self._statuses.code("valid")
        #: The search index's Latin terms, kept current by the same notes.
        self.terms = LatinTerms()

    @classmethod
    def load(cls, conn: sqlite3.Connection) -> FacetIndex:
        """Every record's facet values, read once (seconds at a million records),
        and the search index's Latin terms (read first: a record written after
        that is noted, :func:`note_change`)."""
        index = cls()
        index.terms = LatinTerms.load(conn)
        cur = conn.execute(f"SELECT rowid, {', '.join(FACET_COLUMNS)} FROM records ORDER BY rowid")
        while batch := cur.fetchmany(10_000):
            for rowid, *values in batch:
                index._set(rowid, dict(zip(FACET_COLUMNS, values, strict=True)))
        return index

    def _columns(self) -> tuple[array, ...]:
        return (self._packed, self._status, self._lo, self._hi)

    def _grow(self, rowid: int) -> None:
        extra = rowid + 1 - len(self._status)
        if extra > 0:
            for column in self._columns():
                column.extend(array(column.typecode, bytes(extra * column.itemsize)))

    def _set(self, rowid: int, rec: Mapping[str, Any] | None) -> None:
        self._grow(rowid)
        if rec is None:
            self._status[rowid] = 0
            return
        nice = rec.get("nice_classes") or "[]"
        classes = json.loads(nice) if isinstance(nice, str) else nice
        codes = (
            self._issuers.code(rec.get("issuer") or ""),
            self._regions.code((rec.get("enterprise_region") or "")[:2]),
            int(rec.get("kind") or 0),
            self._nice.code(tuple(int(n) for n in classes)),
        )
        self._wide.pop(rowid, None)
        if not 0 <= min(codes) <= max(codes) < _WIDE:  # never in practice: 16 bits each
            self._wide[rowid] = codes
            self._packed[rowid] = _WIDE
        else:
            self._packed[rowid] = codes[0] | codes[1] << 16 | codes[2] << 32 | codes[3] << 48
        status = self._statuses.code(rec.get("status") or "")
        self._status[rowid] = status
        if status == self._valid:
            # hi < day: expired; lo > day: not yet valid. lo is at most hi + 1, so
            # the two never overlap and "expired" wins, as in facet_status.
            hi = _ordinal(rec.get("valid_until")) or _FOREVER
            self._lo[rowid] = min(_ordinal(rec.get("valid_from")), hi + 1)
            self._hi[rowid] = hi
        else:  # never valid, never expired: the status is the facet
            self._lo[rowid] = self._hi[rowid] = _FOREVER

    def apply(self, changes: Iterable[tuple[int, Mapping[str, Any] | None]]) -> None:
        """Apply the notes of one committed transaction, in order."""
        for rowid, rec in changes:
            self._set(rowid, rec)
            if rec is not None:
                self.terms.note(str(rec.get(c) or "") for c in TEXT_COLUMNS)

    def valid_on(self, rowid: int, day: int) -> bool:
        """Whether the record at ``rowid`` is valid on ``day`` (a date ordinal): its
        status is valid and the day lies in [valid_from, valid_until] (the rank
        "valid today" of a search, as ``queries._ranked_page`` checks it in SQL)."""
        return bool(self.valid_among([rowid], day))

    def valid_among(self, rowids: Iterable[int], day: int) -> list[int]:
        """The ``rowids`` whose records are valid on ``day`` (:meth:`valid_on`, for
        many at once: a search walks up to thousands of matches)."""
        lo, hi, n = self._lo, self._hi, len(self._lo)
        return [r for r in rowids if r < n and lo[r] <= day <= hi[r]]

    def nbytes(self) -> int:
        """Bytes held by the per-rowid columns (the value tables are a few KB)."""
        return sum(c.itemsize * len(c) for c in self._columns())

    def count(self, rowids: Iterable[int], on: date) -> dict[str, Counter]:
        """Counts by issuer, enterprise province, kind, status on ``on`` and Nice
        class over ``rowids`` (each a record's rowid; unknown ones are skipped).

        Every pass over the matches is a ``map`` in C (a Python loop over a
        thousand matches cost a millisecond).
        """
        status, n = self._status, len(self._status)
        ids = list(rowids)
        by_status = Counter(map(status.__getitem__, ids)) if not ids or max(ids) < n else None
        if by_status is None or 0 in by_status:  # rowids the index does not hold (yet)
            ids = [r for r in ids if r < n and status[r]]
            by_status = Counter(map(status.__getitem__, ids))
        facets: dict[str, Counter] = {
            k: Counter() for k in ("issuer", "region", "kind", "status", "nice_class")
        }
        by_codes: Counter = Counter()
        for packed, k in Counter(map(self._packed.__getitem__, ids)).items():
            if packed == _WIDE:
                by_codes.update(self._wide[r] for r in ids if r in self._wide)
            else:
                by_codes[tuple(packed >> b & 0xFFFF for b in (0, 16, 32, 48))] += k
        for (issuer, region, kind, nice), k in by_codes.items():
            facets["issuer"][self._issuers.values[issuer]] += k
            facets["region"][str(self._regions.values[region]).ljust(6, "0")] += k
            facets["kind"][Kind(kind).name if kind in Kind._value2member_map_ else str(kind)] += k
            for cls in self._nice.values[nice]:
                facets["nice_class"][str(cls)] += k
        statuses = facets["status"]
        for c, k in by_status.items():
            if c != self._valid:
                statuses[self._statuses.values[c]] += k
        held = by_status.get(self._valid, 0)
        if held:  # status valid: valid, expired or not yet valid on the day (facet_status)
            day = on.toordinal()
            expired = sum(map(day.__gt__, map(self._hi.__getitem__, ids)))
            later = sum(map(day.__lt__, map(self._lo.__getitem__, ids))) - (len(ids) - held)
            for name, k in (
                ("valid", held - expired - later),
                ("expired", expired),
                ("not yet valid", later),
            ):
                if k:
                    statuses[name] += k
        return facets
