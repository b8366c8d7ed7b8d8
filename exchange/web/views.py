"""What each page shows, as plain JSON-ready dicts built from the client's answers.

One function per page; the HTML templates and the JSON API (``/api/v1``) both
render these, so the two always give the same answer. Values stay as the node
sent them (codes, dates as ``YYYY-MM-DD``, RFC 3339 times); next to each code
goes its label in the page's language (``..._label``), from exchange.i18n.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable
from datetime import UTC, date, datetime
from enum import IntEnum
from typing import Any
from urllib.parse import urlencode

from exchange.client import types as t
from exchange.core import vocabulary as vocab
from exchange.core.errors import BrandexError
from exchange.core.note import parse_note
from exchange.core.regions import region_name
from exchange.i18n import terms
from exchange.i18n.reasons import reason_text
from exchange.web.highlight import segments

__all__ = [
    "FACET_FIELDS",
    "agreements_view",
    "cases_view",
    "check_view",
    "federation_view",
    "jsonable",
    "record_view",
    "region_text",
    "search_view",
]

#: The facets a search offers, in the order shown, and the search filter each sets.
FACET_FIELDS = ("issuer", "region", "kind", "status", "nice_class")

Tr = Callable[..., str]


def jsonable(value: Any) -> Any:
    """Dataclasses, dates and bytes as JSON values (dates ISO, bytes base64)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def region_text(code: str, lang: str = "zh") -> str:
    """``安徽省`` (zh) or ``安徽省 (340000)`` (en); an unknown code as it is."""
    try:
        name = region_name(code)
    except BrandexError:
        return str(code)
    return name if lang == "zh" else f"{name} ({code})"


def _enum(enum: type[IntEnum], name: str) -> int:
    try:
        return int(enum[name])
    except KeyError:
        return -1


def kind_label(kind: str, lang: str) -> str:
    return terms.kind_name(_enum(vocab.Kind, kind), lang) if kind else ""


def _iso(d: date | None) -> str:
    return d.isoformat() if d else ""


def _record_row(v: t.RecordView, query: str, lang: str, tr: Tr) -> dict[str, Any]:
    r = v.record
    return {
        "issuer": v.issuer,
        "issuer_label": region_text(v.issuer, lang),
        "record_id": r.record_id,
        "brand_name": r.brand_name,
        "brand_segments": [{"text": s, "match": m} for s, m in segments(r.brand_name, query)],
        "brand_name_latin": r.brand_name_latin,
        "kind": r.kind,
        "kind_label": kind_label(r.kind, lang),
        "product": r.product,
        "enterprise_name": r.enterprise_name,
        "enterprise_region": r.enterprise_region,
        "enterprise_region_label": region_text(r.enterprise_region, lang),
        "status": v.status_today,
        "status_label": terms.state_name(v.status_today, lang),
        "valid_until": _iso(v.valid_until),
        "nice_classes": list(r.nice_classes),
        "url": f"/record/{v.issuer}/{r.record_id}",
    }


def _facet_label(field: str, value: str, lang: str) -> str:
    if field in ("issuer", "region"):
        return region_text(value, lang)
    if field == "kind":
        return kind_label(value, lang)
    if field == "status":
        return terms.state_name(value, lang)
    return value


def search_view(
    result: t.SearchResult, query: str, filters: dict[str, str], lang: str, tr: Tr
) -> dict[str, Any]:
    """A search answer: ranked rows with highlighted brand names, and clickable facets."""
    facets = []
    for field in FACET_FIELDS:
        values = []
        for value, count in result.facets.get(field, []):
            active = filters.get(field) == value
            chosen = {**filters, field: value}
            if active:
                chosen.pop(field)
            params = {"q": query, **chosen}
            values.append(
                {
                    "value": value,
                    "label": _facet_label(field, value, lang),
                    "count": count,
                    "active": active,
                    "url": "/?" + urlencode({k: v for k, v in params.items() if v}),
                }
            )
        if values:
            facets.append({"field": field, "label": tr(_FACET_TITLES[field]), "values": values})
    return {
        "query": query,
        "filters": filters,
        "total": result.total,
        "total_is_lower_bound": result.total_is_lower_bound,
        "typo": result.typo,
        "facets_partial": result.facets_partial,
        "records": [_record_row(v, query, lang, tr) for v in result.records],
        "facets": facets,
    }


_FACET_TITLES = {
    "issuer": "Issuer",
    "region": "Enterprise region",
    "kind": "Kind",
    "status": "Status",
    "nice_class": "Nice class",
}


def _provenance(p: t.Provenance) -> dict[str, Any]:
    return {
        "origin": p.origin,
        "index": p.index,
        "signing_key": p.signing_key,
        "issued_at": p.issued_at,
        "witnessed_at": p.witnessed_at,
        "witnesses": p.witnesses,
        "cosigners": list(p.cosigners),
        "checkpoint_size": p.checkpoint_size,
        "confirmed": p.confirmed,
        "confirmation": p.confirmation,
    }


def _fields(v: t.RecordView, lang: str, tr: Tr) -> list[dict[str, str]]:
    r = v.record
    rows = [
        ("Record", r.record_id),
        ("Issuer", region_text(v.issuer, lang)),
        ("Brand", r.brand_name),
        ("Brand (Latin)", r.brand_name_latin),
        ("Kind", kind_label(r.kind, lang)),
        ("Sector", terms.sector_name(_enum(vocab.Sector, r.sector), lang) if r.sector else ""),
        ("Product", r.product),
        ("Nice classes", ", ".join(str(c) for c in r.nice_classes)),
        ("Industry code", r.industry_code),
        ("Enterprise", r.enterprise_name),
        ("Credit code (USCC)", r.enterprise_uscc),
        ("Enterprise region", region_text(r.enterprise_region, lang)),
        ("Certificate no.", r.certificate_no),
        ("Announcement no.", r.announcement_no),
        ("Recognised on", _iso(r.recognised_on)),
        ("Valid from", _iso(r.valid_from)),
        ("Valid until", _iso(v.valid_until or r.valid_until)),
        ("Status today", terms.state_name(v.status_today, lang)),
    ]
    return [{"label": tr(k), "value": val} for k, val in rows]


def _case(c: t.CaseView, lang: str, tr: Tr) -> dict[str, Any]:
    k = c.case
    return {
        "case_region": c.case_region,
        "case_region_label": region_text(c.case_region, lang),
        "case_id": k.case_id,
        "brand_name": c.brand_name,
        "protected": f"{k.protected_issuer}/{k.protected_record_id}",
        "record_url": f"/record/{k.protected_issuer}/{k.protected_record_id}",
        "infringer_name": k.infringer_name,
        "case_type": k.case_type,
        "case_type_label": terms.case_type_name(_enum(vocab.CaseType, k.case_type), lang),
        "handling_region_label": region_text(k.handling_region, lang),
        "opened_on": _iso(k.opened_on),
        "open": c.open,
        "state_label": tr("open") if c.open else tr("closed"),
        "description": k.description,
        "actions": [
            {
                "action": a.action,
                "action_label": terms.case_action_name(_enum(vocab.CaseActionType, a.action), lang),
                "date": _iso(a.date),
                "acting_region_label": region_text(a.acting_region, lang),
                "note": a.note,
            }
            for a in c.actions
        ],
    }


def record_view(
    h: t.RecordHistory, why: dict[str, list[t.CheckResult]], lang: str, tr: Tr
) -> dict[str, Any]:
    """A record: every field, its lifecycle, where it counts today and why (``why``: the
    regions where it is recognised, each with the node's answer), its cases."""
    v = h.view
    timeline = [
        {
            "what": tr("Recognised"),
            "detail": kind_label(v.record.kind, lang),
            "effective_on": _iso(v.record.recognised_on),
            **_provenance(v.provenance),
        }
    ]
    for ev in h.events:
        ch = ev.change
        change = terms.status_name(_enum(vocab.Status, ch.new_status), lang)
        reason = terms.reason_name(_enum(vocab.ReasonCode, ch.reason), lang) if ch.reason else ""
        detail = "; ".join(x for x in (reason, ch.reason_text) if x)
        timeline.append(
            {
                "what": change,
                "detail": detail,
                "effective_on": _iso(ch.effective_on),
                **_provenance(ev.provenance),
            }
        )
    recognised = []
    for region, results in why.items():
        reasons = [_reason(r, lang) for c in results for r in c.reasons]
        recognised.append(
            {"region": region, "region_label": region_text(region, lang), "reasons": reasons}
        )
    return {
        "issuer": v.issuer,
        "issuer_label": region_text(v.issuer, lang),
        "record_id": v.record.record_id,
        "brand_name": v.record.brand_name,
        "status": v.status_today,
        "status_label": terms.state_name(v.status_today, lang),
        "fields": _fields(v, lang, tr),
        "timeline": timeline,
        "recognised_in": recognised,
        "cases": [_case(c, lang, tr) for c in h.cases],
        "bundle_url": f"/api/v1/records/{v.issuer}/{v.record.record_id}/bundle",
    }


def _reason(r: t.Reason, lang: str) -> dict[str, Any]:
    return {
        "code": r.code,
        "label": terms.decision_name(r.code, lang),
        "text": reason_text(r.text, lang),
        "entries": [f"{p.origin}#{p.index}" for p in r.entries],
    }


def check_view(
    results: list[t.CheckResult], region: str, on: str, lang: str, tr: Tr
) -> dict[str, Any]:
    """The answer to "is it recognised here?": per record, yes or no and the reasons."""
    return {
        "region": region,
        "region_label": region_text(region, lang),
        "on": on,
        "answers": [
            {
                "issuer": c.record.issuer,
                "issuer_label": region_text(c.record.issuer, lang),
                "record_id": c.record.record_id,
                "brand_name": c.brand_name,
                "recognised": c.recognised,
                "verdict": tr("Yes, recognised") if c.recognised else tr("No, not recognised"),
                "reasons": [_reason(r, lang) for r in c.reasons],
                "url": f"/record/{c.record.issuer}/{c.record.record_id}",
            }
            for c in results
        ],
    }


def cases_view(cases: t.CaseList, lang: str, tr: Tr) -> dict[str, Any]:
    return {"truncated": cases.truncated, "cases": [_case(c, lang, tr) for c in cases.cases]}


def agreements_view(agreements: t.AgreementList, lang: str, tr: Tr) -> dict[str, Any]:
    """Who acceded to which agreement, for which kinds, from when; and who withdrew."""
    out = []
    for a in agreements.agreements:
        out.append(
            {
                "agreement_id": a.agreement_id,
                "title": a.title,
                "covered_kinds": [kind_label(k, lang) for k in a.covered_kinds],
                "accessions": [
                    {
                        "region": x.region,
                        "region_label": region_text(x.region, lang),
                        "covered_kinds": [kind_label(k, lang) for k in x.covered_kinds],
                        "effective_from": _iso(x.effective_from),
                        "effective_until": _iso(x.effective_until),
                    }
                    for x in a.accessions
                ],
                "withdrawals": [
                    {
                        "region": w.region,
                        "region_label": region_text(w.region, lang),
                        "effective_on": _iso(w.effective_on),
                        "reason_text": w.reason_text,
                    }
                    for w in a.withdrawals
                ],
            }
        )
    return {"truncated": agreements.truncated, "agreements": out}


def _latest_cosignature(note_text: str) -> datetime | None:
    """The newest witness timestamp on a checkpoint note (C2SP cosignature/v1: the
    first 8 bytes of a 72-byte signature), as the node reports it."""
    try:
        note = parse_note(note_text)
    except BrandexError:
        return None
    stamps = [int.from_bytes(s.sig[:8], "big") for s in note.signatures if len(s.sig) == 72]
    return datetime.fromtimestamp(max(stamps), UTC) if stamps else None


def _age(then: datetime | None, now: datetime, tr: Tr) -> str:
    if then is None:
        return tr("no cosignature yet")
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return tr("{n} s", n=seconds)
    if seconds < 7200:
        return tr("{n} min", n=seconds // 60)
    return tr("{n} h", n=seconds // 3600)


def federation_view(
    status: t.NodeStatus, heads: list[t.OriginState], now: datetime, lang: str, tr: Tr
) -> dict[str, Any]:
    """The node's view of the federation: logs, witnesses, peers, frozen origins, violations."""
    notes = {h.origin: h.checkpoint for h in heads}
    origins = []
    for o in status.origins:
        region = o.origin.rpartition("/")[2]
        latest = _latest_cosignature(notes.get(o.origin, ""))
        origins.append(
            {
                "origin": o.origin,
                "region_label": region_text(region, lang),
                "size": o.size,
                "indexed": o.indexed,
                "cosigners": list(o.cosigners),
                "witnessed_at": latest.isoformat(timespec="seconds") if latest else "",
                "checkpoint_age": _age(latest, now, tr),
                "frozen": o.frozen,
                "frozen_reason": o.frozen_reason,
                "violations": o.violations,
            }
        )
    return {
        "name": status.name,
        "region": status.region,
        "region_label": region_text(status.region, lang),
        "origin": status.origin,
        "started_at": status.started_at,
        "federation_version": status.federation_version,
        "federation_warning": status.federation_warning,
        "origins": origins,
        "frozen": [o for o in origins if o["frozen"]],
        "peers": [
            {
                "address": p.address,
                "region": p.region,
                "region_label": region_text(p.region, lang),
                "reachable": p.reachable,
                "last_sync": p.last_sync,
                "last_error": p.last_error,
            }
            for p in status.peers
        ],
        "violations": [jsonable(v) for v in status.violations],
        "evidence": [jsonable(e) for e in status.evidence],
    }
