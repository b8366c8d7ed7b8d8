"""The lifecycle of one record: which status changes an issuer may sign, and when.

A signed change can never be taken back, so :func:`apply_change` decides
whether a change fits the record's current state. It is called by
:func:`exchange.core.rules.check_entry`: the issuing node refuses a change that
does not fit *before* signing it, and a mirror records one that slipped
through as a violation instead of applying it to its registry. The current
state comes from the store's tables (``exchange.store.state``) or from a
:class:`~exchange.core.rules.MemoryState` that folded the earlier entries.

States are ``valid``, ``suspended``, ``revoked`` and ``withdrawn``; the last
two are terminal. "Expired" is not a state: it follows from ``valid_until``
and the date one asks about (see :mod:`exchange.core.recognition`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

from exchange.core.errors import ConflictError, ValidationError
from exchange.core.records import (
    has_field,
    parse_date,
    parse_optional_date,
    raise_errors,
    recognition_errors,
    status_change_errors,
    validate_recognition,
)
from exchange.core.vocabulary import EXPIRES, Kind, ReasonCode, Status, reason_label

__all__ = [
    "TERMINAL",
    "RecordState",
    "StateName",
    "apply_change",
    "initial_state",
    "state_of_record",
]

StateName = Literal["valid", "suspended", "revoked", "withdrawn"]

#: States after which nothing may change.
TERMINAL: frozenset[str] = frozenset({"revoked", "withdrawn"})

_VERB: dict[Status, str] = {
    Status.SUSPENDED: "suspended",
    Status.REINSTATED: "reinstated",
    Status.REVOKED: "revoked",
    Status.RENEWED: "renewed",
    Status.CORRECTED: "corrected",
    Status.WITHDRAWN: "withdrawn",
}


@dataclass(frozen=True)
class RecordState:
    """Where one record stands after the changes applied so far.

    Attributes:
        status: the current state.
        recognised_on: date of the recognition decision.
        valid_from: first day of validity.
        valid_until: last day of validity, ``None`` for kinds without expiry.
        last_effective: ``effective_on`` of the latest change (``recognised_on``
            before any); later changes may not take effect earlier.
        record_id: the issuer-scoped record id.
        certificate_no: the certificate number, which a correction may not change.
        kind: the record's kind (a correction may change it).
        issuer: region code of the issuer, needed to re-validate corrections.
        since: ``effective_on`` of the change that set ``status`` (``None`` if
            the record has been valid since it was issued).
        reason: the reason given for that change.
    """

    status: StateName
    recognised_on: date
    valid_from: date
    valid_until: date | None
    last_effective: date
    record_id: str = ""
    certificate_no: str = ""
    kind: Kind = Kind.RECOGNITION_KIND_UNSPECIFIED
    issuer: str = ""
    since: date | None = None
    reason: ReasonCode = ReasonCode.REASON_CODE_UNSPECIFIED


def initial_state(rec: object, *, issuer: str) -> RecordState:
    """Build the state of a freshly issued record, validating it first.

    Args:
        rec: a ``brandex.v1.Recognition`` (or an object with its attributes).
        issuer: the issuing region, because corrections are re-validated
            against the same jurisdiction later.

    Raises:
        ValidationError: if the record breaks any rule (see
            :func:`exchange.core.records.recognition_errors`).
    """
    validate_recognition(rec, issuer=issuer)
    return state_of_record(rec, issuer=issuer)


def state_of_record(rec: object, *, issuer: str) -> RecordState:
    """The state of a record as first issued, without validating it.

    For callers that checked the record already (:mod:`exchange.core.rules`)
    or read it back from a log; it raises only if a date does not parse.
    """
    recognised_on = parse_date(rec.recognised_on, "recognised_on")  # type: ignore[attr-defined]
    return RecordState(
        status="valid",
        recognised_on=recognised_on,
        valid_from=parse_date(rec.valid_from, "valid_from"),  # type: ignore[attr-defined]
        valid_until=parse_optional_date(getattr(rec, "valid_until", ""), "valid_until"),
        last_effective=recognised_on,
        record_id=rec.record_id,  # type: ignore[attr-defined]
        certificate_no=rec.certificate_no,  # type: ignore[attr-defined]
        kind=Kind(int(rec.kind)),  # type: ignore[attr-defined]
        issuer=issuer,
    )


def _refuse(state: RecordState, status: Status) -> ConflictError:
    reason = (
        f" ({reason_label(state.reason)})"
        if state.reason != ReasonCode.REASON_CODE_UNSPECIFIED
        else ""
    )
    return ConflictError(
        f"record is {state.status} since {state.since}{reason}; "
        f"a {state.status} record cannot be {_VERB[status]}"
    )


def apply_change(state: RecordState, change: object) -> RecordState:
    """Apply one ``StatusChange`` to ``state`` or refuse it.

    Args:
        state: the record's state before the change.
        change: a ``brandex.v1.StatusChange`` (or an object with its attributes).

    Returns:
        The new state; ``state`` itself is not modified.

    Raises:
        ValidationError: the message itself is malformed (missing reason,
            ``new_valid_until`` on a non-renewal, corrected record invalid ...).
        ConflictError: the change does not fit the record's history (terminal
            state, wrong state for the transition, dates running backwards,
            renewal that does not extend).
    """
    raise_errors(status_change_errors(change, issuer=state.issuer))
    record_id = change.record_id  # type: ignore[attr-defined]
    if state.record_id and record_id != state.record_id:
        raise ValidationError(
            "record_id", f"change is for another record than {state.record_id}", record_id
        )
    status = Status(int(change.new_status))  # type: ignore[attr-defined]
    reason = ReasonCode(int(getattr(change, "reason", 0)))
    effective_on = parse_date(change.effective_on, "effective_on")  # type: ignore[attr-defined]

    if state.status in TERMINAL:
        raise _refuse(state, status)
    if effective_on < state.recognised_on:
        raise ConflictError(
            f"effective_on {effective_on} is before the record was recognised on "
            f"{state.recognised_on}; nothing takes effect before recognition"
        )
    if effective_on < state.last_effective:
        raise ConflictError(
            f"effective_on {effective_on} is before the previous change, effective on "
            f"{state.last_effective}; changes must not take effect out of order"
        )
    moved = replace(state, last_effective=effective_on)

    if status == Status.SUSPENDED:
        if state.status != "valid":
            raise ConflictError(
                f"record is {state.status} since {state.since}; "
                "only a valid record can be suspended"
            )
        return replace(moved, status="suspended", since=effective_on, reason=reason)

    if status == Status.REINSTATED:
        if state.status != "suspended":
            raise ConflictError(
                f"record is {state.status}; only a suspended record can be reinstated"
            )
        return replace(moved, status="valid", since=effective_on, reason=reason)

    if status in (Status.REVOKED, Status.WITHDRAWN):
        name: StateName = "revoked" if status == Status.REVOKED else "withdrawn"
        return replace(moved, status=name, since=effective_on, reason=reason)

    if status == Status.RENEWED:
        if state.valid_until is None or not EXPIRES.get(state.kind, True):
            raise ConflictError(f"a {state.kind.name} record has no expiry; it cannot be renewed")
        new_until = parse_date(change.new_valid_until, "new_valid_until")  # type: ignore[attr-defined]
        if new_until <= state.valid_until:
            raise ConflictError(
                f"new_valid_until {new_until} does not extend the current valid_until "
                f"{state.valid_until}; a renewal must extend validity"
            )
        return replace(moved, valid_until=new_until)

    # Status.CORRECTED (status_change_errors rejected UNSPECIFIED and unknown values)
    return _correct(moved, change)


def _correct(state: RecordState, change: object) -> RecordState:
    if not has_field(change, "corrected"):  # pragma: no cover - status_change_errors checks it
        raise ValidationError("corrected", "the corrected record is required for CORRECTED")
    corrected = change.corrected  # type: ignore[attr-defined]
    errors: list[ValidationError] = []
    if corrected.record_id != state.record_id:
        errors.append(
            ValidationError(
                "corrected.record_id",
                f"a correction may not change the record id {state.record_id}",
                corrected.record_id,
            )
        )
    if corrected.certificate_no != state.certificate_no:
        errors.append(
            ValidationError(
                "corrected.certificate_no",
                f"a correction may not change the certificate number {state.certificate_no}",
                corrected.certificate_no,
            )
        )
    errors.extend(
        ValidationError(f"corrected.{e.field}", e.rule, e.value)
        for e in recognition_errors(corrected, issuer=state.issuer)
    )
    raise_errors(errors)
    fixed = state_of_record(corrected, issuer=state.issuer)
    return replace(
        state,
        recognised_on=fixed.recognised_on,
        valid_from=fixed.valid_from,
        valid_until=fixed.valid_until,
        kind=fixed.kind,
    )
