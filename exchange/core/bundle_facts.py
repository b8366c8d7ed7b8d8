"""Reading decoded (proto3 JSON) entries of a bundle into recognition facts.

The bundle verifier calls these only on payloads whose DSSE signature has
verified; they turn the mapping into the typed facts :mod:`exchange.core.recognition`
decides on, and check that an entry's body is about the bundle's record.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from exchange.core.bundle_format import Item, Parsed
from exchange.core.errors import FormatError, VerificationError
from exchange.core.keys import parse_time
from exchange.core.recognition import (
    AccessionFacts,
    ChangeFacts,
    EntryRef,
    RecordFacts,
    WithdrawalFacts,
)
from exchange.core.records import parse_date, parse_optional_date
from exchange.core.vocabulary import BODIES, Kind, ReasonCode, Status


class Fields:
    """Attribute access to a proto3 JSON mapping (bytes fields are base64)."""

    def __init__(self, d: Mapping[str, Any]) -> None:
        self._d = d

    def __getattr__(self, name: str) -> Any:
        value = self._d.get(name, "")
        if name == "public_key":
            return base64.b64decode(value or "")
        if isinstance(value, Mapping):
            return Fields(value)
        return value


class KeyEntry(Fields):
    """A decoded key entry, read by :meth:`KeyHistory.apply` as it reads a protobuf."""


def key_text(life: Any) -> str:
    state = "current"
    if life.revoked_at is not None:
        since = life.compromised_since.isoformat() if life.compromised_since else "?"
        state = f"revoked at entry {life.revoked_at}, compromised since {since}"
    elif life.retired_at is not None:
        state = f"replaced at entry {life.retired_at}"
    return f"{life.describe()} from entry {life.index} ({state})"


def _enum(cls: Any, value: object, what: str) -> Any:
    if value is None:
        return cls(0)
    try:
        return cls[value] if isinstance(value, str) else cls(int(value))  # type: ignore[arg-type]
    except (KeyError, ValueError, TypeError):
        raise FormatError(f"{what}: unknown {cls.__name__} value {value!r}") from None


def entry_body(entry: Mapping[str, Any]) -> tuple[str | None, Mapping[str, Any]]:
    present = [b for b in BODIES if b in entry]
    if len(present) != 1:
        return None, {}
    body = entry[present[0]]
    return present[0], body if isinstance(body, Mapping) else {}


def text_of(d: Mapping[str, Any], key: str) -> str:
    v = d.get(key, "")
    return v if isinstance(v, str) else ""


def record_facts(rec: Mapping[str, Any], issuer: str, ref: EntryRef, record_id: str) -> RecordFacts:
    return RecordFacts(
        issuer=issuer,
        record_id=record_id,
        kind=_enum(Kind, rec.get("kind"), "recognition.kind"),
        brand_name=text_of(rec, "brand_name"),
        recognised_on=parse_date(text_of(rec, "recognised_on"), "recognised_on"),
        valid_from=parse_date(text_of(rec, "valid_from"), "valid_from"),
        valid_until=parse_optional_date(text_of(rec, "valid_until"), "valid_until"),
        ref=ref,
    )


def change_facts(ch: Mapping[str, Any], ref: EntryRef) -> ChangeFacts:
    return ChangeFacts(
        status=_enum(Status, ch.get("new_status"), "status_change.new_status"),
        effective_on=parse_date(text_of(ch, "effective_on"), "effective_on"),
        new_valid_until=parse_optional_date(text_of(ch, "new_valid_until"), "new_valid_until"),
        reason=_enum(ReasonCode, ch.get("reason"), "status_change.reason"),
        ref=ref,
    )


def accession_facts(a: Mapping[str, Any], region: str, ref: EntryRef) -> AccessionFacts:
    kinds = a.get("covered_kinds", [])
    return AccessionFacts(
        agreement_id=text_of(a, "agreement_id"),
        region=region,
        covered_kinds=frozenset(_enum(Kind, k, "accession.covered_kinds") for k in kinds),
        effective_from=parse_date(text_of(a, "effective_from"), "effective_from"),
        effective_until=parse_optional_date(text_of(a, "effective_until"), "effective_until"),
        ref=ref,
    )


def withdrawal_facts(w: Mapping[str, Any], region: str, ref: EntryRef) -> WithdrawalFacts:
    return WithdrawalFacts(
        agreement_id=text_of(w, "agreement_id"),
        region=region,
        effective_on=parse_date(text_of(w, "effective_on"), "effective_on"),
        ref=ref,
    )


def entry_issued_at(entry: Mapping[str, Any]) -> datetime:
    return parse_time(text_of(entry, "issued_at"))


def check_body(
    it: Item, body_type: str | None, body: Mapping[str, Any], p: Parsed, region: str
) -> None:
    """The body is of the declared type and about this record (or this issuer's agreements)."""
    if body_type != it.type:
        raise VerificationError(f"the signed entry is a {body_type}, the bundle says {it.type}")
    if it.type == "recognition":
        if text_of(body, "record_id") != p.record_id:
            raise VerificationError(
                f"the signed record is {text_of(body, 'record_id')!r}, not {p.record_id!r}"
            )
    elif it.type == "status_change":
        if it.origin != p.origin or text_of(body, "record_id") != p.record_id:
            raise VerificationError(
                f"the status change is for {it.origin} record {text_of(body, 'record_id')!r},"
                f" not {p.origin} record {p.record_id!r}"
            )
    elif it.type == "infringement_case":
        if (text_of(body, "protected_issuer"), text_of(body, "protected_record_id")) != (
            p.issuer,
            p.record_id,
        ):
            raise VerificationError(
                f"the case protects {text_of(body, 'protected_issuer')}/"
                f"{text_of(body, 'protected_record_id')}, not {p.issuer}/{p.record_id}"
            )
        if text_of(body, "reporting_region") != region:
            raise VerificationError("the case's reporting_region is not its log's region")
    elif it.type == "case_action":
        if text_of(body, "acting_region") != region:
            raise VerificationError("the case action's acting_region is not its log's region")
    elif text_of(body, "region") != region:  # accession, withdrawal
        raise VerificationError(
            f"the {it.type} names region {text_of(body, 'region')!r}, not {region}"
        )
