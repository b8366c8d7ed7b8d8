"""Search facets counted from values held in memory, one slot per records rowid.

Counting facets over the first :data:`queries.FACET_CAP` matches in SQL read up
to a thousand records rows scattered over the file (one B-tree descent each:
4-6 ms CPU at 1,000,000 records, memory-mapped). A narrow side table measured no
better (its rows are as scattered) and counting fetched rows in Python worse.
Here the facet values of every record (issuer, enterprise province, kind,
status, validity dates, Nice classes) sit in flat ``array`` columns indexed by
rowid (~17 bytes a record: ~17 MB at a million, up to an eighth more as the
columns grow), so a facet count is a few array operations (numpy views of the
columns) over the matching rowids that FTS5 returns, with no row read at all.

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

import numpy as np

from exchange.core.vocabulary import Kind
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
    record (16 bits each, codes of :class:`_Values`): a facet count takes each
    field's codes of the matches out of it and counts them (:func:`_tally`).
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
        """Make room for ``rowid``: new, longer columns (an eighth more than needed),
        never one resized in place, since a search may be reading a column
        through a numpy view (:meth:`count`) while a write commits; empty slots
        hold status 0 (no record)."""
        size = len(self._status)
        if rowid >= size:
            extra = max(rowid + 1 - size, size // 8, 1024)
            for name in ("_packed", "_status", "_lo", "_hi"):
                column = getattr(self, name)
                setattr(self, name, column + array(column.typecode, bytes(extra * column.itemsize)))

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
        changes = list(changes)
        for rowid, rec in changes:
            self._set(rowid, rec)
        self.terms.note(
            str(rec.get(c) or "") for _, rec in changes if rec is not None for c in TEXT_COLUMNS
        )

    def valid_on(self, rowid: int, day: int) -> bool:
        """Whether the record at ``rowid`` is valid on ``day`` (a date ordinal): its
        status is valid and the day lies in [valid_from, valid_until] (the rank
        "valid today" of a search, as ``queries._ranked_page`` checks it in SQL)."""
        return bool(self.valid_among([rowid], day))

    def valid_among(self, rowids: Iterable[int], day: int) -> list[int]:
        """The ``rowids`` whose records are valid on ``day`` (:meth:`valid_on`, for
        many at once: a search walks up to thousands of matches)."""
        lo, hi = self._lo, self._hi
        ids = _known(rowids, min(len(lo), len(hi)))
        days = _view(lo)[ids], _view(hi)[ids]
        return ids[(days[0] <= day) & (day <= days[1])].tolist()

    def nbytes(self) -> int:
        """Bytes held by the per-rowid columns (the value tables are a few KB)."""
        return sum(c.itemsize * len(c) for c in self._columns())

    def count(self, rowids: Iterable[int], on: date) -> dict[str, Counter]:
        """Counts by issuer, enterprise province, kind, status on ``on`` and Nice
        class over ``rowids`` (each a record's rowid; unknown ones are skipped).

        Array operations over the matches' slots (numpy views of the columns,
        no copy): a thousand matches cost ~0.1 ms, where a ``Counter`` per
        column over them cost ~0.5 ms. Each facet lists its values in the order
        they first appear among ``rowids`` (so ties keep log order).
        """
        # The columns are replaced, never resized, when they grow (_grow): these
        # locals stay whole while a write commits.
        packed_col, status_col, lo_col, hi_col = self._packed, self._status, self._lo, self._hi
        n = min(len(packed_col), len(status_col), len(lo_col), len(hi_col))
        facets: dict[str, Counter] = {
            k: Counter() for k in ("issuer", "region", "kind", "status", "nice_class")
        }
        ids = _known(rowids, n)
        status = _view(status_col)[ids]
        held = status != 0  # rowids the index does not hold (yet) are skipped
        ids, status = ids[held], status[held]
        packed = _view(packed_col)[ids]
        wide = packed == _WIDE
        if wide.any():  # never in practice: codes wider than 16 bits
            extra = Counter(self._wide[r] for r in ids[wide].tolist() if r in self._wide)
            packed = packed[~wide]
        else:
            extra = Counter()
        # Each packed field: its facet, its bit offset, and the facet values of a code.
        fields = (
            ("issuer", 0, lambda c: [self._issuers.values[c]]),
            ("region", 16, lambda c: [str(self._regions.values[c]).ljust(6, "0")]),
            ("kind", 32, lambda c: [Kind(c).name if c in Kind._value2member_map_ else str(c)]),
            ("nice_class", 48, lambda c: [str(cls) for cls in self._nice.values[c]]),
        )
        for name, shift, labels in fields:
            tally = _tally((packed >> np.uint64(shift)) & np.uint64(0xFFFF))
            tally += [(codes[shift // 16], k) for codes, k in extra.items()]
            counter = facets[name]
            for code, k in tally:
                for label in labels(code):
                    counter[label] += k
        statuses = facets["status"]
        for code, k in _tally(status):
            if code != self._valid:
                statuses[self._statuses.values[code]] += k
        valid = ids[status == self._valid]
        if valid.size:  # status valid: valid, expired or not yet valid on the day (facet_status)
            day = on.toordinal()
            expired = int((_view(hi_col)[valid] < day).sum())
            later = int((_view(lo_col)[valid] > day).sum())
            for name, k in (
                ("valid", valid.size - expired - later),
                ("expired", expired),
                ("not yet valid", later),
            ):
                if k:
                    statuses[name] += k
        return facets


def _view(column: array) -> np.ndarray:
    """A numpy view of an ``array`` column (no copy)."""
    return np.frombuffer(column, dtype=column.typecode)


def _known(rowids: Iterable[int], n: int) -> np.ndarray:
    """``rowids`` as an int64 array, without those past the columns' ``n`` slots."""
    ids = np.fromiter(rowids, dtype=np.int64)
    return ids[(ids >= 0) & (ids < n)]


def _tally(codes: np.ndarray) -> list[tuple[int, int]]:
    """(code, how many) for each distinct code, in the order codes first appear.

    The codes are small (indices into a value table), so ``bincount`` counts
    them; the first appearances come from writing positions in reverse (the
    last write to a slot, the earliest position, is the one kept).
    """
    if not codes.size:
        return []
    codes = codes.astype(np.intp)
    counts = np.bincount(codes)
    present = np.flatnonzero(counts)
    if present.size > 1:
        first = np.empty(counts.size, dtype=np.intp)
        first[codes[::-1]] = np.arange(codes.size - 1, -1, -1)
        present = present[np.argsort(first[present])]
    return list(zip(present.tolist(), counts[present].tolist(), strict=True))
