"""The stateless validation rules of each entry body.

The enums and kind metadata they check against live in
:mod:`exchange.core.vocabulary`.

An entry, once signed, stays in an append-only log for ever, so the rules that
keep nonsense out are applied before signing. These validators look at one
message alone; :func:`exchange.core.rules.check_entry` runs them (``ERRORS_BY_BODY``)
together with the rules that need the log's state, and it is what the issuing
node applies before signing, every mirror before it applies a received entry
to its registry, and ``brandex audit log`` while it replays a log. The
importer and the CLI call the validators directly, to report problems early.

Messages are read duck-typed by attribute name: the functions accept the
generated protobuf messages (``exchange._proto.brandex.v1.entries_pb2``) and
any simple object with the same attribute names, so the core never imports
protobuf. Dates are ISO calendar strings, ``""`` meaning absent, as on the wire.

The validators *collect* every problem (``*_errors`` functions) so an agency
importing a spreadsheet sees all that is wrong with a row at once; the
``validate_*`` functions raise them (one :class:`ValidationError`, or a
:class:`ValidationErrors` holding several).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from enum import IntEnum
from typing import Any

from exchange.core import regions
from exchange.core.errors import ValidationError
from exchange.core.uscc import uscc_region, validate_uscc
from exchange.core.vocabulary import (
    EXPIRES,
    KIND_LABEL,
    KIND_LEVEL,
    NEEDS_NICE,
    NICE_CLASSES,
    PRODUCT_KINDS,
    PROVINCIAL_FAMOUS_TRADEMARK_ABOLISHED,
    CaseActionType,
    CaseType,
    Kind,
    ReasonCode,
    Sector,
    Status,
    issuer_may_issue,
)

__all__ = [
    "ERRORS_BY_BODY",
    "ValidationErrors",
    "accession_errors",
    "case_action_errors",
    "case_errors",
    "has_field",
    "parse_date",
    "parse_optional_date",
    "raise_errors",
    "recognition_errors",
    "status_change_errors",
    "validate_accession",
    "validate_case",
    "validate_case_action",
    "validate_recognition",
    "validate_status_change",
    "validate_withdrawal",
    "withdrawal_errors",
]


_MAX_ID = 64
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*", re.ASCII)
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_INDUSTRY_RE = re.compile(r"[A-T]([0-9]{2,4})?", re.ASCII)
_DIGITS6_RE = re.compile(r"[0-9]{6}", re.ASCII)
#: USCC region part of enterprises registered by a national authority.
_NATIONAL_AUTHORITY = "100000"


# ------------------------------------------------------------------------- errors


class ValidationErrors(ValidationError):
    """Several rules rejected one message; ``errors`` lists every one of them.

    It is a :class:`ValidationError` (field, rule and value of the first
    problem), so callers that handle one error handle this too.
    """

    def __init__(self, errors: list[ValidationError]) -> None:
        if not errors:
            raise ValueError("ValidationErrors needs at least one error")
        first = errors[0]
        super().__init__(first.field, first.rule, first.value)
        self.errors = list(errors)
        self.args = (f"{len(errors)} problems: " + "; ".join(str(e) for e in errors),)


def raise_errors(errors: list[ValidationError]) -> None:
    """Raise nothing, the one error, or a :class:`ValidationErrors` of all of them."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ValidationErrors(errors)


# -------------------------------------------------------------------------- dates


def parse_date(value: object, field: str) -> date:
    """Parse a strict ``YYYY-MM-DD`` calendar date.

    ``date.fromisoformat`` alone accepts ``20240131`` and other ISO 8601 forms
    since Python 3.11, and ``\\d`` matches non-ASCII digits; signed entries must
    have one spelling per date, so only ASCII ``YYYY-MM-DD`` passes.

    Raises:
        ValidationError: if absent, malformed or not a calendar date.
    """
    if not isinstance(value, str) or value == "":
        raise ValidationError(field, "date is required (YYYY-MM-DD)", value)
    if not _DATE_RE.fullmatch(value):
        raise ValidationError(field, "date must be YYYY-MM-DD with ASCII digits", value)
    try:
        return date(int(value[:4]), int(value[5:7]), int(value[8:]))
    except ValueError:
        raise ValidationError(field, "not a calendar date", value) from None


def parse_optional_date(value: object, field: str) -> date | None:
    """Like :func:`parse_date`, but ``""`` (absent on the wire) gives ``None``."""
    if value == "" or value is None:
        return None
    return parse_date(value, field)


# ------------------------------------------------------------------------ helpers


def _get(msg: object, name: str, default: Any = "") -> Any:
    return getattr(msg, name, default)


def has_field(msg: object, name: str) -> bool:
    """Tell whether a sub-message is present, on protobuf messages and plain objects."""
    has = getattr(msg, "HasField", None)
    if callable(has):
        try:
            return bool(has(name))
        except ValueError:
            pass
    return getattr(msg, name, None) is not None


def _enum(errors: list[ValidationError], field: str, value: object, cls: type[IntEnum]) -> Any:
    """Return the enum member, or record why it is unspecified or unknown and return None."""
    try:
        member = cls(int(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        errors.append(ValidationError(field, f"unknown {cls.__name__} value", value))
        return None
    if member == 0:
        errors.append(ValidationError(field, "must be specified", member.name))
        return None
    return member


# Unicode category Cc is exactly these two ranges; a regex scans them in C.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _text(
    errors: list[ValidationError],
    field: str,
    value: object,
    *,
    max_len: int,
    required: bool = True,
) -> None:
    if not isinstance(value, str):
        errors.append(ValidationError(field, "must be text", value))
        return
    if value == "" or value.isspace():
        if required:
            errors.append(ValidationError(field, "is required", value or None))
        elif value:
            errors.append(ValidationError(field, "must not be only whitespace", value))
        return
    if len(value) > max_len:
        errors.append(
            ValidationError(field, f"must be at most {max_len} characters, not {len(value)}", value)
        )
    elif _CONTROL.search(value):
        errors.append(ValidationError(field, "must not contain control characters", value))
    elif value != value.strip():
        errors.append(ValidationError(field, "must not start or end with whitespace", value))


def _identifier(errors: list[ValidationError], field: str, value: object) -> None:
    """IDs end up in keys, URLs and file names, so only a safe ASCII alphabet passes."""
    if not isinstance(value, str) or value == "":
        errors.append(ValidationError(field, "is required", value or None))
    elif len(value) > _MAX_ID:
        errors.append(ValidationError(field, f"must be at most {_MAX_ID} characters", value))
    elif not _ID_RE.fullmatch(value):
        errors.append(
            ValidationError(
                field,
                "may contain only A-Z a-z 0-9 . _ - and must start with a letter or digit",
                value,
            )
        )


def _date(errors: list[ValidationError], field: str, value: object) -> date | None:
    try:
        return parse_date(value, field)
    except ValidationError as e:
        errors.append(e)
        return None


def _optional_date(errors: list[ValidationError], field: str, value: object) -> date | None:
    try:
        return parse_optional_date(value, field)
    except ValidationError as e:
        errors.append(e)
        return None


def _region(errors: list[ValidationError], field: str, value: object) -> bool:
    try:
        regions.validate_region(value, field)
    except ValidationError as e:
        errors.append(e)
        return False
    return True


def _own_region(errors: list[ValidationError], field: str, value: object, issuer: str) -> None:
    """The region field of an issuer's own statement must name the issuer itself."""
    if value != issuer:
        errors.append(ValidationError(field, f"must equal the issuer's region {issuer}", value))
    else:
        _region(errors, field, value)


def _issuer(errors: list[ValidationError], issuer: str) -> bool:
    return _region(errors, "issuer", issuer)


def _uscc(errors: list[ValidationError], field: str, value: object) -> None:
    try:
        validate_uscc(value, field)  # type: ignore[arg-type]
    except ValidationError as e:
        errors.append(e)
        return
    part = uscc_region(value)  # type: ignore[arg-type]
    # Positions 3-8 name the registering authority. Real codes carry divisions
    # since abolished (e.g. 220101, a former 市辖区) or 100000 (a national
    # authority), so only the province part must be a real province.
    if part == _NATIONAL_AUTHORITY:
        return
    if not _DIGITS6_RE.fullmatch(part) or not regions.is_region(part[:2] + "0000"):
        errors.append(
            ValidationError(
                field, f"USCC positions 3-8 ({part}) do not name a GB/T 2260 region", value
            )
        )


# -------------------------------------------------------------------- recognition


def recognition_errors(rec: object, *, issuer: str) -> list[ValidationError]:
    """Collect every rule a ``Recognition`` breaks when issued by region ``issuer``.

    Args:
        rec: a ``brandex.v1.Recognition`` or an object with the same attributes.
        issuer: the six-digit region code of the issuing node (the entry's region).

    Returns:
        All problems found, in field order; empty if the record may be signed.
    """
    errors: list[ValidationError] = []
    issuer_ok = _issuer(errors, issuer)

    _identifier(errors, "record_id", _get(rec, "record_id"))
    kind: Kind | None = _enum(errors, "kind", _get(rec, "kind", 0), Kind)
    _enum(errors, "sector", _get(rec, "sector", 0), Sector)
    _text(errors, "brand_name", _get(rec, "brand_name"), max_len=100)
    _text(errors, "brand_name_latin", _get(rec, "brand_name_latin"), max_len=200, required=False)
    _text(
        errors,
        "product",
        _get(rec, "product"),
        max_len=200,
        required=kind in PRODUCT_KINDS,
    )

    nice = list(_get(rec, "nice_classes", ()))
    if kind in NEEDS_NICE and not nice:
        errors.append(
            ValidationError("nice_classes", f"at least one Nice class is required for {kind.name}")
        )
    bad = [c for c in nice if not isinstance(c, int) or c not in NICE_CLASSES]
    if bad:
        errors.append(ValidationError("nice_classes", "Nice classes are 1..45", bad))
    dupes = sorted({c for c in nice if nice.count(c) > 1})
    if dupes:
        errors.append(ValidationError("nice_classes", "Nice classes must not repeat", dupes))

    industry = _get(rec, "industry_code")
    if industry and not (isinstance(industry, str) and _INDUSTRY_RE.fullmatch(industry)):
        errors.append(
            ValidationError(
                "industry_code",
                "GB/T 4754 code is a section letter A-T, optionally followed by 2-4 digits",
                industry,
            )
        )

    _text(errors, "enterprise_name", _get(rec, "enterprise_name"), max_len=200)
    _uscc(errors, "enterprise_uscc", _get(rec, "enterprise_uscc"))

    ent_region = _get(rec, "enterprise_region")
    region_ok = _region(errors, "enterprise_region", ent_region)
    if region_ok and issuer_ok and not regions.within(ent_region, issuer):
        errors.append(
            ValidationError(
                "enterprise_region",
                f"outside the issuer's jurisdiction {regions.region_label(issuer)}",
                ent_region,
            )
        )

    _text(errors, "certificate_no", _get(rec, "certificate_no"), max_len=_MAX_ID)
    _text(errors, "announcement_no", _get(rec, "announcement_no"), max_len=_MAX_ID)

    recognised_on = _date(errors, "recognised_on", _get(rec, "recognised_on"))
    valid_from = _date(errors, "valid_from", _get(rec, "valid_from"))
    raw_until = _get(rec, "valid_until")
    if kind is not None and not EXPIRES[kind]:
        if raw_until:
            errors.append(
                ValidationError(
                    "valid_until", f"must be empty: {kind.name} does not expire", raw_until
                )
            )
    elif kind is not None and not raw_until:
        errors.append(ValidationError("valid_until", f"is required: {kind.name} expires"))
    else:
        valid_until = _optional_date(errors, "valid_until", raw_until)
        if valid_until is not None and valid_from is not None and valid_until <= valid_from:
            errors.append(
                ValidationError("valid_until", f"must be after valid_from {valid_from}", raw_until)
            )

    if (
        kind == Kind.PROVINCIAL_FAMOUS_TRADEMARK
        and recognised_on is not None
        and recognised_on >= PROVINCIAL_FAMOUS_TRADEMARK_ABOLISHED
    ):
        errors.append(
            ValidationError(
                "recognised_on",
                "provincial famous trademarks were abolished; must be before 2018-01-01",
                _get(rec, "recognised_on"),
            )
        )

    if kind is not None and issuer_ok:
        issuer_level = regions.level(issuer)
        if not issuer_may_issue(kind, issuer_level):
            errors.append(
                ValidationError(
                    "kind",
                    f"{regions.region_label(issuer)} is a {issuer_level}-level issuer and "
                    f"cannot issue {KIND_LABEL[kind]}s (a {KIND_LEVEL[kind]} kind"
                    + (
                        "; national decisions are logged by the enterprise's province)"
                        if KIND_LEVEL[kind] == "national"
                        else ")"
                    ),
                    kind.name,
                )
            )
    return errors


def validate_recognition(rec: object, *, issuer: str) -> None:
    """Raise if :func:`recognition_errors` finds anything.

    Raises:
        ValidationError: the single problem, or :class:`ValidationErrors` with all.
    """
    raise_errors(recognition_errors(rec, issuer=issuer))


# ---------------------------------------------------------------- status changes


def status_change_errors(change: object, *, issuer: str) -> list[ValidationError]:
    """Collect the rules a ``StatusChange`` breaks on its own, without the record's history.

    Whether the change fits the record's current state is
    :func:`exchange.core.status.apply_change`'s job; this checks only what the
    message alone can tell (fields present for its type and absent otherwise).
    """
    errors: list[ValidationError] = []
    _issuer(errors, issuer)
    _identifier(errors, "record_id", _get(change, "record_id"))
    status: Status | None = _enum(errors, "new_status", _get(change, "new_status", 0), Status)
    reason = _get(change, "reason", 0)
    try:
        reason = ReasonCode(int(reason))
    except (TypeError, ValueError):
        errors.append(ValidationError("reason", "unknown ReasonCode value", reason))
        reason = None
    if (
        status in (Status.SUSPENDED, Status.REVOKED)
        and reason == ReasonCode.REASON_CODE_UNSPECIFIED
    ):
        errors.append(ValidationError("reason", f"a reason is required for {status.name}"))
    _text(errors, "reason_text", _get(change, "reason_text"), max_len=2000, required=False)
    _date(errors, "effective_on", _get(change, "effective_on"))
    _text(
        errors, "announcement_no", _get(change, "announcement_no"), max_len=_MAX_ID, required=False
    )

    raw_until = _get(change, "new_valid_until")
    if status == Status.RENEWED:
        if not raw_until:
            errors.append(ValidationError("new_valid_until", "is required for RENEWED"))
        else:
            _date(errors, "new_valid_until", raw_until)
    elif raw_until:
        errors.append(ValidationError("new_valid_until", "is for RENEWED only", raw_until))

    present = has_field(change, "corrected")
    if status == Status.CORRECTED and not present:
        errors.append(
            ValidationError("corrected", "the corrected record is required for CORRECTED")
        )
    elif status is not None and status != Status.CORRECTED and present:
        errors.append(ValidationError("corrected", "is for CORRECTED only"))
    return errors


def validate_status_change(change: object, *, issuer: str) -> None:
    """Raise if :func:`status_change_errors` finds anything."""
    raise_errors(status_change_errors(change, issuer=issuer))


# -------------------------------------------------------------------------- cases


def case_errors(case: object, *, issuer: str) -> list[ValidationError]:
    """Collect the rules an ``InfringementCase`` logged by ``issuer`` breaks."""
    errors: list[ValidationError] = []
    _issuer(errors, issuer)
    _identifier(errors, "case_id", _get(case, "case_id"))
    _region(errors, "protected_issuer", _get(case, "protected_issuer"))
    _identifier(errors, "protected_record_id", _get(case, "protected_record_id"))
    _own_region(errors, "reporting_region", _get(case, "reporting_region"), issuer)
    _region(errors, "handling_region", _get(case, "handling_region"))
    _text(errors, "infringer_name", _get(case, "infringer_name"), max_len=200)
    if _get(case, "infringer_uscc"):
        _uscc(errors, "infringer_uscc", _get(case, "infringer_uscc"))
    _enum(errors, "case_type", _get(case, "case_type", 0), CaseType)
    goods = _get(case, "goods_value_fen", 0)
    if not isinstance(goods, int) or goods < 0:
        errors.append(ValidationError("goods_value_fen", "must be a whole number >= 0", goods))
    _date(errors, "opened_on", _get(case, "opened_on"))
    _text(errors, "description", _get(case, "description"), max_len=4000, required=False)
    return errors


def validate_case(case: object, *, issuer: str) -> None:
    """Raise if :func:`case_errors` finds anything."""
    raise_errors(case_errors(case, issuer=issuer))


def case_action_errors(action: object, *, issuer: str) -> list[ValidationError]:
    """Collect the rules a ``CaseAction`` logged by ``issuer`` breaks."""
    errors: list[ValidationError] = []
    _issuer(errors, issuer)
    _region(errors, "case_region", _get(action, "case_region"))
    _identifier(errors, "case_id", _get(action, "case_id"))
    _own_region(errors, "acting_region", _get(action, "acting_region"), issuer)
    kind: CaseActionType | None = _enum(errors, "action", _get(action, "action", 0), CaseActionType)
    _date(errors, "date", _get(action, "date"))
    _text(errors, "note", _get(action, "note"), max_len=4000, required=False)
    decision_no = _get(action, "decision_no")
    fine = _get(action, "fine_fen", 0)
    if not isinstance(fine, int) or fine < 0:
        errors.append(ValidationError("fine_fen", "must be a whole number >= 0", fine))
    if kind == CaseActionType.PENALTY:
        _text(errors, "decision_no", decision_no, max_len=_MAX_ID)
    elif kind is not None:
        if decision_no:
            errors.append(ValidationError("decision_no", "is for PENALTY only", decision_no))
        if fine:
            errors.append(ValidationError("fine_fen", "is for PENALTY only", fine))
    return errors


def validate_case_action(action: object, *, issuer: str) -> None:
    """Raise if :func:`case_action_errors` finds anything."""
    raise_errors(case_action_errors(action, issuer=issuer))


# ----------------------------------------------------------------------- agreements


def accession_errors(acc: object, *, issuer: str) -> list[ValidationError]:
    """Collect the rules an ``Accession`` logged by ``issuer`` breaks."""
    errors: list[ValidationError] = []
    _issuer(errors, issuer)
    _identifier(errors, "agreement_id", _get(acc, "agreement_id"))
    _text(errors, "title", _get(acc, "title"), max_len=400, required=False)
    kinds = list(_get(acc, "covered_kinds", ()))
    if not kinds:
        errors.append(ValidationError("covered_kinds", "at least one kind must be covered"))
    for value in kinds:
        _enum(errors, "covered_kinds", value, Kind)
    dupes = sorted({int(k) for k in kinds if kinds.count(k) > 1})
    if dupes:
        errors.append(ValidationError("covered_kinds", "kinds must not repeat", dupes))
    start = _date(errors, "effective_from", _get(acc, "effective_from"))
    end = _optional_date(errors, "effective_until", _get(acc, "effective_until"))
    if start is not None and end is not None and end < start:
        errors.append(
            ValidationError(
                "effective_until", f"must not be before effective_from {start}", end.isoformat()
            )
        )
    _own_region(errors, "region", _get(acc, "region"), issuer)
    return errors


def validate_accession(acc: object, *, issuer: str) -> None:
    """Raise if :func:`accession_errors` finds anything."""
    raise_errors(accession_errors(acc, issuer=issuer))


def withdrawal_errors(w: object, *, issuer: str) -> list[ValidationError]:
    """Collect the rules a ``Withdrawal`` logged by ``issuer`` breaks."""
    errors: list[ValidationError] = []
    _issuer(errors, issuer)
    _identifier(errors, "agreement_id", _get(w, "agreement_id"))
    _own_region(errors, "region", _get(w, "region"), issuer)
    _date(errors, "effective_on", _get(w, "effective_on"))
    _text(errors, "reason_text", _get(w, "reason_text"), max_len=2000, required=False)
    return errors


def validate_withdrawal(w: object, *, issuer: str) -> None:
    """Raise if :func:`withdrawal_errors` finds anything."""
    raise_errors(withdrawal_errors(w, issuer=issuer))


#: The errors function for each ``Entry.body`` oneof field that carries a rule
#: set (``key_announcement`` is checked by the certificate code, not here).
ERRORS_BY_BODY: dict[str, Callable[..., list[ValidationError]]] = {
    "recognition": recognition_errors,
    "status_change": status_change_errors,
    "infringement_case": case_errors,
    "case_action": case_action_errors,
    "accession": accession_errors,
    "withdrawal": withdrawal_errors,
}
