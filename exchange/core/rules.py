"""The domain rules of a log, in one place, applied entry by entry by every driver.

An issuing node checks an entry with :func:`check_entry` before it signs it, a
mirror before it folds a received entry into its registry, and ``brandex audit
log`` while it replays a downloaded log: the same function, so all three agree
(trust rule 8). An entry with violations is signed evidence: drivers keep it
in the log, but do not let it change the registry.

The check is a state machine step: the stateless validators of
:mod:`exchange.core.records` (``ERRORS_BY_BODY``, with the issuer being the
entry's region), then the stateful rules, which read what earlier entries
established through a :class:`StateReader`. :class:`MemoryState` is a reader
that folds entries in memory (the auditor; batches on top of a store). The
SQLite reader lives in :mod:`exchange.store.state`.

Rule names are stable; :data:`RULES` is the table of them:

==============================  =====================================================
rule                            broken when
==============================  =====================================================
``invalid-entry``               the body breaks its validator, or there is no body
``duplicate-record``            a recognition reuses a record id of its issuer
``duplicate-certificate``       a recognition reuses a certificate number of its issuer
``duplicate-case``              a case reuses a case id of its reporting region
``case-unknown-record``         a case protects a record that does not exist
``status-unknown-record``       a status change names a record its issuer never issued
``status-transition``           the record's lifecycle does not allow the change
``case-unknown``                an action names a case that does not exist
``case-not-party``              the acting region neither reported nor handles the case
``case-closed``                 an action on a case already closed or dismissed
``withdrawal-without-accession``  a withdrawal from an agreement never acceded to
==============================  =====================================================

References into another region's log are checked only when the reader can
answer for that region (:meth:`StateReader.complete`): a mirror may not hold
that log yet, or hold it only in part, so a reference it cannot find there is
*unknown*, never a violation. References into the entry's own log are always
answerable: its earlier entries were applied first.

Pure: no storage, no sockets, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from exchange.core.errors import BrandexError, ConflictError, ValidationError
from exchange.core.records import ERRORS_BY_BODY
from exchange.core.status import RecordState, apply_change, state_of_record
from exchange.core.vocabulary import BODIES, CaseActionType

__all__ = [
    "CLOSING_ACTIONS",
    "RULES",
    "CaseState",
    "MemoryState",
    "StateReader",
    "Violation",
    "body_of",
    "check_entry",
    "not_a_party",
    "stateless_violations",
]

#: Every rule name and what breaking it means.
RULES: dict[str, str] = {
    "invalid-entry": "the entry breaks the record rules of its kind, or has no body",
    "duplicate-record": "a recognition reuses a record id its issuer already used",
    "duplicate-certificate": "a recognition reuses a certificate number its issuer already "
    "used for another record",
    "duplicate-case": "a case reuses a case id its reporting region already used",
    "case-unknown-record": "a case protects a record that does not exist",
    "status-unknown-record": "a status change for a record its issuer never issued",
    "status-transition": "a status change the record's lifecycle does not allow",
    "case-unknown": "an action on a case that does not exist",
    "case-not-party": "an action by a region that neither reported nor handles the case",
    "case-closed": "an action on a case that was already closed or dismissed",
    "withdrawal-without-accession": "a withdrawal from an agreement the region never acceded to",
}

#: Actions after which a case is no longer open.
CLOSING_ACTIONS: frozenset[CaseActionType] = frozenset(
    {CaseActionType.CLOSED, CaseActionType.DISMISSED}
)


@dataclass(frozen=True)
class Violation:
    """One rule an entry breaks.

    Attributes:
        rule: a key of :data:`RULES`.
        message: what is wrong, for people.
        error: the underlying error (a ``ValidationError`` of a validator, the
            ``ConflictError`` of the state machine ...), for an issuing node
            that refuses with it; ``None`` when there is none.
    """

    rule: str
    message: str
    error: BrandexError | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class CaseState:
    """What the rules need of a case: who handles it and whether it is open."""

    handling_region: str
    open: bool = True


class StateReader(Protocol):
    """The state earlier entries established, as the rules read it."""

    def record(self, issuer: str, record_id: str) -> RecordState | None:
        """The record's current state, ``None`` if not known."""
        ...

    def certificate_holder(self, issuer: str, certificate_no: str) -> str | None:
        """The record id of ``issuer``'s record with that certificate number, if any."""
        ...

    def case(self, case_region: str, case_id: str) -> CaseState | None:
        """The case reported by ``case_region`` under ``case_id``, ``None`` if not known."""
        ...

    def acceded(self, region: str, agreement_id: str) -> bool:
        """Whether ``region`` logged an accession to ``agreement_id``."""
        ...

    def complete(self, region: str) -> bool:
        """Whether not finding something of ``region`` means it does not exist.

        Asked only about regions other than the entry's own.
        """
        ...


def body_of(entry: object) -> str | None:
    """The name of the Entry's ``body`` oneof field (protobuf or plain object)."""
    which = getattr(entry, "WhichOneof", None)
    if callable(which):
        return which("body")
    for name in BODIES:
        if getattr(entry, name, None) is not None:
            return name
    return None


def check_entry(
    reader: StateReader, region: str, index: int, entry: object, *, stateless: bool = True
) -> list[Violation]:
    """Every rule ``entry``, at ``index`` of region ``region``'s log, breaks.

    Args:
        reader: the state before this entry.
        region: the issuer: the region of the log the entry is in.
        index: its index in that log (for messages only).
        entry: a ``brandex.v1.Entry`` or an object with the same attributes.
        stateless: run the body's validator too; ``False`` when the caller
            already ran it (and refused or reported what it found).

    Returns:
        The violations; empty if the entry may change the registry.
    """
    body = body_of(entry)
    if body is None:
        return [Violation("invalid-entry", f"entry {index} has no body")]
    if stateless:
        found = stateless_violations(region, index, entry)
        if found:
            return found
    stateful = _STATEFUL.get(body)
    return stateful(reader, region, getattr(entry, body)) if stateful is not None else []


def stateless_violations(region: str, index: int, entry: object) -> list[Violation]:
    """The ``invalid-entry`` violations alone: what the entry's body validator finds.

    The first step of :func:`check_entry`, on its own so a caller can run it
    ahead, elsewhere (a worker process), and then call :func:`check_entry`
    with ``stateless=False``.
    """
    body = body_of(entry)
    if body is None:
        return [Violation("invalid-entry", f"entry {index} has no body")]
    validator = ERRORS_BY_BODY.get(body)
    if validator is None:
        return []
    return [
        Violation("invalid-entry", f"{body}: {e}", e)
        for e in validator(getattr(entry, body), issuer=region)
    ]


# ------------------------------------------------------------------ stateful


def _recognition(reader: StateReader, region: str, rec: Any) -> list[Violation]:
    out: list[Violation] = []
    existing = reader.record(region, rec.record_id)
    if existing is not None:
        out.append(
            Violation(
                "duplicate-record",
                f"record id {rec.record_id!r} was already issued "
                f"(certificate {existing.certificate_no!r})",
            )
        )
    holder = reader.certificate_holder(region, rec.certificate_no)
    if holder is not None and holder != rec.record_id:
        out.append(
            Violation(
                "duplicate-certificate",
                f"certificate number {rec.certificate_no!r} of record {rec.record_id!r} was "
                f"already used by record {holder!r}",
            )
        )
    return out


def _status_change(reader: StateReader, region: str, change: Any) -> list[Violation]:
    state = reader.record(region, change.record_id)
    if state is None:
        return [
            Violation(
                "status-unknown-record",
                f"record {change.record_id} is not one of {region}'s records",
            )
        ]
    try:
        apply_change(state, change)
    except (ConflictError, ValidationError) as exc:
        return [Violation("status-transition", str(exc), exc)]
    return []


def _case(reader: StateReader, region: str, case: Any) -> list[Violation]:
    out: list[Violation] = []
    if reader.case(region, case.case_id) is not None:
        out.append(Violation("duplicate-case", f"case {case.case_id} already exists"))
    issuer, record_id = case.protected_issuer, case.protected_record_id
    if reader.record(issuer, record_id) is None and (issuer == region or reader.complete(issuer)):
        out.append(
            Violation(
                "case-unknown-record",
                f"protected record {issuer}/{record_id} is not known",
            )
        )
    return out


def _case_action(reader: StateReader, region: str, action: Any) -> list[Violation]:
    case_region, case_id = action.case_region, action.case_id
    case = reader.case(case_region, case_id)
    if case is None:
        if case_region == region or reader.complete(case_region):
            return [Violation("case-unknown", f"case {case_region}/{case_id} is not known")]
        return []  # the case's log is not (all) here: unknown, not a violation
    party = not_a_party(case_region, case_id, case.handling_region, action.acting_region)
    if party is not None:
        return [party]
    if not case.open:
        return [Violation("case-closed", f"case {case_region}/{case_id} is closed")]
    return []


def not_a_party(
    case_region: str, case_id: str, handling_region: str, acting_region: str
) -> Violation | None:
    """Who may act on a case: its reporting or its handling region, no one else."""
    if acting_region in (case_region, handling_region):
        return None
    return Violation(
        "case-not-party",
        f"{acting_region} may not act on case {case_region}/{case_id}: only the handling "
        f"region {handling_region} or the reporting region {case_region} may",
    )


def _withdrawal(reader: StateReader, region: str, w: Any) -> list[Violation]:
    if reader.acceded(region, w.agreement_id):
        return []
    return [
        Violation(
            "withdrawal-without-accession",
            f"{region} never acceded to {w.agreement_id}",
        )
    ]


_STATEFUL = {
    "recognition": _recognition,
    "status_change": _status_change,
    "infringement_case": _case,
    "case_action": _case_action,
    "withdrawal": _withdrawal,
}


# ------------------------------------------------------------------ memory


class MemoryState:
    """A :class:`StateReader` that folds entries in memory, over an optional base.

    The auditor keeps one per log it replays; a store checks a batch with one
    on top of its SQLite reader, so entries of the batch see each other.
    ``complete`` names the regions (besides an entry's own) whose state is all
    here: lookups that miss there are misses, not unknowns.
    """

    def __init__(
        self, base: StateReader | None = None, *, complete: frozenset[str] = frozenset()
    ) -> None:
        self.base = base
        self.complete_regions = complete
        self.records: dict[tuple[str, str], RecordState] = {}
        # Recognitions applied but not yet asked about: their state is built on
        # first use, as most records of a big batch are never asked about again.
        self._issued: dict[tuple[str, str], Any] = {}
        self.certificates: dict[tuple[str, str], str] = {}
        self.cases: dict[tuple[str, str], CaseState] = {}
        self.accessions: set[tuple[str, str]] = set()

    # reader

    def record(self, issuer: str, record_id: str) -> RecordState | None:
        key = (issuer, record_id)
        found = self.records.get(key)
        if found is None and key in self._issued:
            found = self.records[key] = state_of_record(self._issued.pop(key), issuer=issuer)
        if found is None and self.base is not None:
            return self.base.record(issuer, record_id)
        return found

    def certificate_holder(self, issuer: str, certificate_no: str) -> str | None:
        found = self.certificates.get((issuer, certificate_no))
        if found is None and self.base is not None:
            return self.base.certificate_holder(issuer, certificate_no)
        return found

    def case(self, case_region: str, case_id: str) -> CaseState | None:
        found = self.cases.get((case_region, case_id))
        if found is None and self.base is not None:
            return self.base.case(case_region, case_id)
        return found

    def acceded(self, region: str, agreement_id: str) -> bool:
        if (region, agreement_id) in self.accessions:
            return True
        return self.base is not None and self.base.acceded(region, agreement_id)

    def complete(self, region: str) -> bool:
        if region in self.complete_regions:
            return True
        return self.base is not None and self.base.complete(region)

    # writer

    def apply(self, region: str, entry: object) -> None:
        """Fold an entry that :func:`check_entry` passed into the state."""
        body = body_of(entry)
        msg = getattr(entry, body) if body else None
        if body == "recognition":
            self.records.pop((region, msg.record_id), None)
            self._issued[(region, msg.record_id)] = msg
            self.certificates[(region, msg.certificate_no)] = msg.record_id
        elif body == "status_change":
            state = self.record(region, msg.record_id)
            if state is not None:
                self.records[(region, msg.record_id)] = apply_change(state, msg)
        elif body == "infringement_case":
            self.cases[(region, msg.case_id)] = CaseState(msg.handling_region)
        elif body == "case_action":
            case = self.case(msg.case_region, msg.case_id)
            if case is not None and int(msg.action) in CLOSING_ACTIONS:
                self.cases[(msg.case_region, msg.case_id)] = CaseState(
                    case.handling_region, open=False
                )
        elif body == "accession":
            self.accessions.add((region, msg.agreement_id))

    def check_and_apply(self, region: str, index: int, entry: object) -> list[Violation]:
        """:func:`check_entry`, then :meth:`apply` if nothing is violated."""
        violations = check_entry(self, region, index, entry)
        if not violations:
            self.apply(region, entry)
        return violations
