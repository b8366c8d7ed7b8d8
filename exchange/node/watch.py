"""Watches: the changes to a brand, an enterprise, a record or a region, as they arrive.

A watch reads what the node has indexed, in log order, and turns matching
entries into :class:`WatchEvent` messages: new recognitions, status changes,
cases and actions on them, rule violations and equivocation evidence.

Its position is a :class:`Cursor`: for each origin the next log index to look
at (log indices are the same on every node and never change, so a cursor
survives a reconnect and a node restart), plus the last violation and
evidence rows seen. Every event carries the cursor just past it; a client
that resumes with the last cursor it received gets nothing twice and misses
nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from exchange._proto.brandex.v1 import entries_pb2, services_pb2
from exchange.core.dsse import parse_envelope
from exchange.core.errors import ValidationError
from exchange.core.origin import parse_origin
from exchange.store import Store, queries

__all__ = ["MAX_CURSOR", "Cursor", "WatchFilter", "Watcher"]

MAX_CURSOR = 64 * 1024  # characters; a cursor names at most a few hundred origins
_CHUNK = 1000  # entries read per origin per poll


@dataclass
class Cursor:
    """Where a watch stands: next index per origin, last violation and evidence rows."""

    positions: dict[str, int] = field(default_factory=dict)
    violation: int = 0
    evidence: int = 0

    def encode(self) -> str:
        doc = {"o": dict(sorted(self.positions.items())), "v": self.violation, "e": self.evidence}
        raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=True).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Parse a cursor a client sent back; ValidationError if it is not one of ours."""
        if len(text) > MAX_CURSOR:
            raise ValidationError("cursor", f"must be at most {MAX_CURSOR} characters")
        try:
            doc = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise ValidationError("cursor", "is not a watch cursor", text[:40]) from None
        ok = (
            isinstance(doc, dict)
            and isinstance(doc.get("o"), dict)
            and all(isinstance(k, str) for k in doc["o"])
            and all(_count(v) for v in doc["o"].values())
            and _count(doc.get("v"))
            and _count(doc.get("e"))
        )
        if not ok:
            raise ValidationError("cursor", "is not a watch cursor", text[:40])
        return cls(dict(doc["o"]), doc["v"], doc["e"])

    def copy(self) -> Cursor:
        return Cursor(dict(self.positions), self.violation, self.evidence)


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 63


@dataclass(frozen=True)
class WatchFilter:
    """At most one of: brand substring, enterprise USCC, one record, issuing region."""

    brand: str = ""
    uscc: str = ""
    issuer: str = ""
    record_id: str = ""
    region: str = ""

    @classmethod
    def of(cls, req: services_pb2.WatchRequest) -> WatchFilter:
        return cls(req.brand, req.uscc, req.record.issuer, req.record.record_id, req.region)

    @property
    def everything(self) -> bool:
        return not (self.brand or self.uscc or self.record_id or self.region)

    def record(self, issuer: str, rec: Any) -> bool:
        """Whether a record (a Recognition or a records row, via attribute or key) matches."""

        def get(name: str) -> str:
            return str(rec.get(name, "") if isinstance(rec, dict) else getattr(rec, name, ""))

        if self.everything:
            return True
        if self.region and issuer == self.region:
            return True
        if self.brand and (
            self.brand in get("brand_name") or self.brand.lower() in get("brand_name_latin").lower()
        ):
            return True
        if self.uscc and get("enterprise_uscc") == self.uscc:
            return True
        return bool(self.record_id) and (issuer, get("record_id")) == (self.issuer, self.record_id)


class Watcher:
    """Reads the store from a cursor and yields the events a filter lets through."""

    def __init__(self, store: Store, flt: WatchFilter, cursor: Cursor | None = None) -> None:
        self.store = store
        self.filter = flt
        if cursor is None:  # from now: everything indexed so far is behind us
            v, e = queries.last_alert_ids(store.read)
            cursor = Cursor({o.origin: o.indexed for o in store.origins()}, v, e)
        self.cursor = cursor
        self.more = False  # the last poll left entries or alerts unread

    def position(self) -> services_pb2.WatchEvent:
        """A "cursor" event: no change, only where the stream stands."""
        return services_pb2.WatchEvent(cursor=self.cursor.encode(), kind="cursor")

    def poll(self) -> Iterator[services_pb2.WatchEvent]:
        """Events past the cursor, moving it; each event carries the cursor after it.

        Reads at most a chunk per origin and table; ``more`` says whether
        anything was left for the next call.
        """
        conn = self.store.read
        self.more = False
        for row in self.store.origins():
            start = self.cursor.positions.get(row.origin, 0)
            end = min(row.indexed, start + _CHUNK)
            self.more = self.more or end < row.indexed
            if end <= start:
                continue
            for i, raw in enumerate(self.store.envelopes(row.origin, start, end)):
                idx = start + i
                entry = entries_pb2.Entry.FromString(parse_envelope(raw).payload)
                ev = self._entry_event(conn, row.origin, idx, entry)
                self.cursor.positions[row.origin] = idx + 1
                if ev is not None:
                    ev.cursor = self.cursor.encode()
                    yield ev
        violations = queries.violations_after(conn, self.cursor.violation, _CHUNK)
        evidence = queries.evidence_after(conn, self.cursor.evidence, _CHUNK)
        self.more = self.more or len(violations) == _CHUNK or len(evidence) == _CHUNK
        for v in violations:
            ev = self._violation_event(conn, v)
            self.cursor.violation = v["id"]
            if ev is not None:
                ev.cursor = self.cursor.encode()
                yield ev
        for e in evidence:
            self.cursor.evidence = e["id"]
            region = _region_of(e["origin"])
            if self.filter.region and region != self.filter.region and not self.filter.everything:
                continue  # a region watch hears of its own region's log only
            yield services_pb2.WatchEvent(
                cursor=self.cursor.encode(),
                kind="equivocation",
                origin=e["origin"],
                issuer=region,
                issued_at=e["detected_at"],
                summary=f"EQUIVOCATION by {e['origin']} (from {e['source']}): {e['detail']}",
            )

    # ------------------------------------------------------------------ events

    def _entry_event(
        self, conn: Any, origin: str, idx: int, entry: entries_pb2.Entry
    ) -> services_pb2.WatchEvent | None:
        body = entry.WhichOneof("body")
        ev = services_pb2.WatchEvent(origin=origin, index=idx, issued_at=entry.issued_at)
        f = self.filter
        if body == "recognition":
            r = entry.recognition
            if not f.record(entry.region, r):
                return None
            _fill(ev, "recognition", entry.region, r.record_id, r.brand_name, r.enterprise_uscc)
            ev.status = "valid"
            ev.summary = f"recognised: {r.brand_name} ({r.enterprise_name}) {r.product}".strip()
            return ev
        if body == "status_change":
            c = entry.status_change
            row = queries.record_row(conn, entry.region, c.record_id) or {}
            if not (
                f.record(entry.region, {**row, "record_id": c.record_id})
                or (c.HasField("corrected") and f.record(entry.region, c.corrected))
            ):
                return None
            status = entries_pb2.Status.Name(c.new_status).lower()
            _fill(
                ev,
                "status_change",
                entry.region,
                c.record_id,
                row.get("brand_name", ""),
                row.get("enterprise_uscc", ""),
            )
            ev.status = status
            ev.summary = f"{status} from {c.effective_on}: {c.reason_text}".strip().rstrip(":")
            return ev
        if body == "infringement_case":
            c = entry.infringement_case
            return self._case_event(conn, ev, c, c.case_id, entry.region, "case")
        if body == "case_action":
            a = entry.case_action
            case = queries.case_row(conn, a.case_region, a.case_id) or {}
            ev.summary = f"{entries_pb2.CaseActionType.Name(a.action).lower()} on {a.date}"
            return self._case_event(conn, ev, case, a.case_id, a.case_region, "case_action")
        return None

    def _case_event(
        self, conn: Any, ev: services_pb2.WatchEvent, case: Any, case_id: str, by: str, kind: str
    ) -> services_pb2.WatchEvent | None:
        def get(name: str) -> str:
            return str(case.get(name, "") if isinstance(case, dict) else getattr(case, name, ""))

        issuer, record_id = get("protected_issuer"), get("protected_record_id")
        row = queries.record_row(conn, issuer, record_id) or {"record_id": record_id}
        f = self.filter
        hit = (
            f.record(issuer, row)
            or (bool(f.region) and f.region in (by, get("handling_region")))
            or (bool(f.uscc) and get("infringer_uscc") == f.uscc)
        )
        if not hit:
            return None
        _fill(
            ev,
            kind,
            issuer,
            record_id,
            str(row.get("brand_name", "")),
            str(row.get("enterprise_uscc", "")),
        )
        ev.case_id = case_id
        if kind == "case":
            ev.summary = f"case {by}/{case_id} against {get('infringer_name')}"
        return ev

    def _violation_event(self, conn: Any, v: dict) -> services_pb2.WatchEvent | None:
        issuer, _, record_id = str(v["subject"] or "").partition("/")
        row = queries.record_row(conn, issuer, record_id) if record_id else None
        region = _region_of(v["origin"])
        f = self.filter
        if not (
            f.everything or (f.region and region == f.region) or (row and f.record(issuer, row))
        ):
            return None
        ev = services_pb2.WatchEvent(origin=v["origin"], index=v["idx"], kind="violation")
        ev.issuer, ev.record_id = issuer, record_id
        if row:
            ev.brand_name = str(row.get("brand_name", ""))
            ev.enterprise_uscc = str(row.get("enterprise_uscc", ""))
        ev.summary = f"rule {v['rule']} broken: {v['message']}"
        return ev


def _fill(
    ev: services_pb2.WatchEvent,
    kind: str,
    issuer: str,
    record_id: str,
    brand: str,
    uscc: str,
) -> None:
    ev.kind, ev.issuer, ev.record_id, ev.brand_name, ev.enterprise_uscc = (
        kind,
        issuer,
        record_id,
        brand,
        uscc,
    )


def _region_of(origin: str) -> str:
    try:
        return parse_origin(origin).region
    except ValidationError:
        return ""
