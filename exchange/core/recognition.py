"""Trust rule 5: does a recognition hold in region R on date D, and why?

Recognition in region R of a record issued by region I holds on D iff the
record is valid on D and either R lies within I's jurisdiction, or I and a
region P whose jurisdiction contains R have both acceded to an agreement in
force on D that covers the record's kind. Whether a recognition counts
elsewhere is decided by the agreements regions signed, not by the software,
so every answer carries its reasons and the log entries they rest on.

Inputs are plain frozen dataclasses built by the store from verified entries,
which keeps this module free of protobuf and of any storage. Changes are
replayed leniently here (one that does not fit is skipped, not refused): a
node's tables hold only changes that passed :func:`exchange.core.rules.check_entry`
(the state machine of :mod:`exchange.core.status`), at the issuer before
signing and at every mirror before they were applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from exchange.core import regions
from exchange.core.vocabulary import Kind, ReasonCode, Status, kind_label, reason_label

__all__ = [
    "AccessionFacts",
    "ChangeFacts",
    "Decision",
    "EntryRef",
    "Reason",
    "RecordFacts",
    "StatusOn",
    "WithdrawalFacts",
    "decide",
    "recognised_regions",
    "status_on",
]


@dataclass(frozen=True, order=True)
class EntryRef:
    """Where a fact was read: entry ``index`` of log ``origin`` (e.g. ``yrd/330000``)."""

    origin: str
    index: int


@dataclass(frozen=True)
class RecordFacts:
    """A recognition as it stands (after any corrections), with its log entry."""

    issuer: str
    record_id: str
    kind: Kind
    brand_name: str
    recognised_on: date
    valid_from: date
    valid_until: date | None
    ref: EntryRef | None = None


@dataclass(frozen=True)
class ChangeFacts:
    """One status change of the record.

    ``new_valid_until`` is the renewed end date for ``RENEWED``; for
    ``CORRECTED`` the store may pass the corrected record's ``valid_until``
    here (``None`` leaves it as it was).
    """

    status: Status
    effective_on: date
    new_valid_until: date | None = None
    reason: ReasonCode = ReasonCode.REASON_CODE_UNSPECIFIED
    ref: EntryRef | None = None


@dataclass(frozen=True)
class AccessionFacts:
    """Region ``region`` acceded to ``agreement_id`` for ``covered_kinds``."""

    agreement_id: str
    region: str
    covered_kinds: frozenset[Kind]
    effective_from: date
    effective_until: date | None = None
    ref: EntryRef | None = None


@dataclass(frozen=True)
class WithdrawalFacts:
    """Region ``region`` left ``agreement_id`` from ``effective_on`` on."""

    agreement_id: str
    region: str
    effective_on: date
    ref: EntryRef | None = None


@dataclass(frozen=True)
class StatusOn:
    """A record's status on one date.

    Attributes:
        status: ``valid``, ``suspended``, ``revoked``, ``withdrawn``,
            ``expired`` or ``not-yet-valid``.
        valid_until: the end of validity as of that date (after renewals).
        since: first day of this status (``None`` if unknown).
        refs: the entries this rests on (the record and the changes applied).
        reason: the reason code of the change that set the status, if any.
    """

    status: str
    valid_until: date | None
    since: date | None
    refs: tuple[EntryRef, ...]
    reason: ReasonCode = ReasonCode.REASON_CODE_UNSPECIFIED
    valid_from: date | None = None


@dataclass(frozen=True)
class Reason:
    """One reason for a decision: a stable ``code``, English ``text``, supporting entries."""

    code: str
    text: str
    refs: tuple[EntryRef, ...] = ()


@dataclass(frozen=True)
class Decision:
    """The answer to "is this record recognised in R on D?".

    ``reasons[0]`` is the deciding reason (the most specific cause when the
    answer is no); later reasons add context.
    """

    recognised: bool
    reasons: list[Reason] = field(default_factory=list)

    @property
    def code(self) -> str:
        """The code of the deciding reason."""
        return self.reasons[0].code if self.reasons else ""


def _refs(*refs: EntryRef | None) -> tuple[EntryRef, ...]:
    return tuple(r for r in refs if r is not None)


def _label(code: str) -> str:
    return regions.region_label(code)


# ------------------------------------------------------------------------- status


def status_on(record: RecordFacts, changes: Iterable[ChangeFacts], on: date) -> StatusOn:
    """Return the record's status on ``on``, applying only changes effective by then.

    Changes are applied in ``effective_on`` order (log order among equal
    dates); the first revocation or withdrawal ends the replay.
    """
    status = "valid"
    valid_until = record.valid_until
    since: date | None = record.valid_from
    reason = ReasonCode.REASON_CODE_UNSPECIFIED
    refs: list[EntryRef | None] = [record.ref]
    for ch in sorted(changes, key=lambda c: c.effective_on):
        if ch.effective_on > on:
            break
        if ch.status == Status.SUSPENDED and status == "valid":
            status, since, reason = "suspended", ch.effective_on, ch.reason
        elif ch.status == Status.REINSTATED and status == "suspended":
            status, since, reason = "valid", ch.effective_on, ch.reason
        elif ch.status in (Status.REVOKED, Status.WITHDRAWN):
            status = "revoked" if ch.status == Status.REVOKED else "withdrawn"
            since, reason = ch.effective_on, ch.reason
            refs.append(ch.ref)
            break
        elif ch.status in (Status.RENEWED, Status.CORRECTED) and ch.new_valid_until is not None:
            valid_until = ch.new_valid_until
        else:
            continue
        refs.append(ch.ref)
    if status == "valid":
        if on < record.valid_from:
            status, since = "not-yet-valid", None
        elif valid_until is not None and on > valid_until:
            status, since = "expired", valid_until + timedelta(days=1)
    return StatusOn(status, valid_until, since, _refs(*refs), reason, record.valid_from)


def _status_reason(record: RecordFacts, st: StatusOn, on: date) -> Reason:
    why = f" ({reason_label(st.reason)})" if st.reason else ""
    what = f"record {record.record_id} ({record.brand_name}) of {_label(record.issuer)}"
    text = {
        "valid": f"{what} is valid on {on}"
        + (f" (valid until {st.valid_until})" if st.valid_until else " (no expiry)"),
        "expired": f"{what} expired: it was valid until {st.valid_until}",
        "not-yet-valid": f"{what} is not valid before {st.valid_from}",
        "suspended": f"{what} is suspended since {st.since}{why}",
        "revoked": f"{what} is revoked since {st.since}{why}",
        "withdrawn": f"{what} was withdrawn by its issuer on {st.since}{why}",
    }[st.status]
    return Reason(st.status, text, st.refs)


# ---------------------------------------------------------------------- agreements


@dataclass(frozen=True)
class _Side:
    """One region's standing in one agreement on one date."""

    region: str
    accession: AccessionFacts | None  # the accession in force, or the latest one
    in_force: bool
    why_not: str  # when not in force
    refs: tuple[EntryRef, ...]


def _side(
    agreement: str,
    region: str,
    accessions: Sequence[AccessionFacts],
    withdrawals: Sequence[WithdrawalFacts],
    on: date,
) -> _Side | None:
    """Find whether ``region`` is party to ``agreement`` on ``on``; None if it never acceded."""
    mine = [a for a in accessions if a.agreement_id == agreement and a.region == region]
    if not mine:
        return None
    left = [w for w in withdrawals if w.agreement_id == agreement and w.region == region]
    best: _Side | None = None
    for acc in sorted(mine, key=lambda a: a.effective_from):
        # A withdrawal ends the accessions that started on or before it.
        gone = [w for w in left if acc.effective_from <= w.effective_on <= on]
        if acc.effective_from > on:
            why = f"{_label(region)} accedes only from {acc.effective_from}"
            side = _Side(region, acc, False, why, _refs(acc.ref))
        elif gone:
            w = min(gone, key=lambda w: w.effective_on)
            why = f"{_label(region)} withdrew on {w.effective_on}"
            side = _Side(region, acc, False, why, _refs(acc.ref, w.ref))
        elif acc.effective_until is not None and on > acc.effective_until:
            why = f"the accession of {_label(region)} ended on {acc.effective_until}"
            side = _Side(region, acc, False, why, _refs(acc.ref))
        else:
            return _Side(region, acc, True, "", _refs(acc.ref))
        # Prefer explaining the accession nearest to ``on``: the latest one
        # that started by then, or else the earliest future one.
        if best is None or acc.effective_from <= on:
            best = side
    return best


def _kinds_text(kinds: frozenset[Kind]) -> str:
    names = sorted(kind_label(k) + "s" for k in kinds)
    if len(names) <= 1:
        return "".join(names) or "no kinds"
    return ", ".join(names[:-1]) + " and " + names[-1]


def _candidates(region: str) -> list[str]:
    """``region`` and every region whose jurisdiction contains it, nearest first."""
    return [region, *regions.ancestors(region)] if regions.is_region(region) else [region]


def _joined_text(
    agreement: str, ours: _Side, theirs: _Side, region: str, kind: Kind, on: date
) -> str:
    a, b = ours.accession, theirs.accession
    assert a is not None and b is not None
    text = (
        f"agreement {agreement} binds {_label(ours.region)} (acceded {a.effective_from}) and "
        f"{_label(theirs.region)} (acceded {b.effective_from}), both in force on {on}, "
        f"and covers {kind_label(kind)}s"
    )
    if theirs.region != region:
        text += f"; the jurisdiction of {_label(theirs.region)} includes {_label(region)}"
    return text


# Causes of a "no", most specific first: an agreement that would cover the
# record but is not in force explains more than one that never covers it.
_RANK = {"agreement-not-in-force": 0, "kind-not-covered": 1, "issuer-not-party": 2}


def decide(
    record: RecordFacts,
    changes: Iterable[ChangeFacts],
    accessions: Iterable[AccessionFacts],
    withdrawals: Iterable[WithdrawalFacts],
    region: str,
    on: date,
) -> Decision:
    """Decide whether ``record`` is recognised in ``region`` on ``on`` (trust rule 5).

    Args:
        record: the record as it stands.
        changes: its status changes (any order; those after ``on`` are ignored).
        accessions: every accession known, from every origin.
        withdrawals: every withdrawal known, from every origin.
        region: the region asked about.
        on: the date asked about.

    Returns:
        The decision with its reasons, deciding reason first. Codes:
        ``jurisdiction`` and ``agreement`` (recognised); ``expired``,
        ``not-yet-valid``, ``suspended``, ``revoked``, ``withdrawn``,
        ``agreement-not-in-force``, ``kind-not-covered``, ``issuer-not-party``
        and ``no-agreement`` (not recognised).
    """
    st = status_on(record, changes, on)
    validity = _status_reason(record, st, on)
    if st.status != "valid":
        return Decision(False, [validity])

    issuer = record.issuer
    if regions.within(region, issuer):
        if region == issuer:
            text = f"issued by {_label(issuer)} itself"
        else:
            text = f"issued by {_label(issuer)}, whose jurisdiction includes {_label(region)}"
        return Decision(True, [Reason("jurisdiction", text, _refs(record.ref)), validity])

    accs = list(accessions)
    wds = list(withdrawals)
    candidates = _candidates(region)
    issuer_agreements = sorted({a.agreement_id for a in accs if a.region == issuer})
    failures: list[tuple[int, int, Reason]] = []

    for agreement in issuer_agreements:
        ours = _side(agreement, issuer, accs, wds, on)
        if ours is None or ours.accession is None:  # pragma: no cover - issuer acceded
            continue
        for depth, partner in enumerate(candidates):
            theirs = _side(agreement, partner, accs, wds, on)
            if theirs is None or theirs.accession is None:
                continue
            covered = (
                record.kind in ours.accession.covered_kinds
                and record.kind in theirs.accession.covered_kinds
            )
            refs = _refs(record.ref, *ours.refs, *theirs.refs)
            if ours.in_force and theirs.in_force and covered:
                text = _joined_text(agreement, ours, theirs, region, record.kind, on)
                return Decision(True, [Reason("agreement", text, refs), validity])
            if not covered:
                failures.append(
                    (
                        _RANK["kind-not-covered"],
                        depth,
                        _not_covered(agreement, ours, theirs, record, refs),
                    )
                )
            else:
                why = "; ".join(s.why_not for s in (ours, theirs) if not s.in_force)
                text = f"agreement {agreement} is not in force on {on}: {why}"
                failures.append(
                    (
                        _RANK["agreement-not-in-force"],
                        depth,
                        Reason("agreement-not-in-force", text, refs),
                    )
                )

    # Parties to agreements covering the region, which the issuer never joined.
    for depth, partner in enumerate(candidates):
        for acc in accs:
            if acc.region == partner and acc.agreement_id not in issuer_agreements:
                text = (
                    f"{_label(issuer)} is not a party to agreement {acc.agreement_id}, "
                    f"to which {_label(partner)} acceded"
                )
                parties = _parties_above(issuer, acc.agreement_id, accs)
                if parties:
                    whose = " and ".join(_label(p) for p in parties)
                    text += (
                        f"; the accession of {whose} covers its own records only, "
                        f"not those of {_label(issuer)}"
                    )
                failures.append(
                    (
                        _RANK["issuer-not-party"],
                        depth,
                        Reason("issuer-not-party", text, _refs(record.ref, acc.ref)),
                    )
                )

    if failures:
        failures.sort(key=lambda f: (f[0], f[1]))
        seen: set[tuple[str, str]] = set()
        reasons: list[Reason] = []
        for _, _, reason in failures:
            if (reason.code, reason.text) not in seen:
                seen.add((reason.code, reason.text))
                reasons.append(reason)
        return Decision(False, [*reasons, validity])

    others = " or ".join(_label(c) for c in candidates)
    text = f"no agreement binds {_label(issuer)} and {others}"
    return Decision(False, [Reason("no-agreement", text, _refs(record.ref)), validity])


def _parties_above(issuer: str, agreement: str, accs: Sequence[AccessionFacts]) -> list[str]:
    """Regions above the issuer that are parties (explains why a city is not covered)."""
    if not regions.is_region(issuer):
        return []
    above = set(regions.ancestors(issuer))
    return sorted({a.region for a in accs if a.agreement_id == agreement and a.region in above})


def _not_covered(
    agreement: str,
    ours: _Side,
    theirs: _Side,
    record: RecordFacts,
    refs: tuple[EntryRef, ...],
) -> Reason:
    a, b = ours.accession, theirs.accession
    assert a is not None and b is not None
    what = f"record {record.record_id} of {_label(record.issuer)} is a {kind_label(record.kind)}"
    if a.covered_kinds == b.covered_kinds:
        text = f"agreement {agreement} covers {_kinds_text(a.covered_kinds)} only; {what}"
    else:
        lacking = a if record.kind not in a.covered_kinds else b
        who = ours.region if lacking is a else theirs.region
        text = (
            f"agreement {agreement} as acceded by {_label(who)} covers "
            f"{_kinds_text(lacking.covered_kinds)} only; {what}"
        )
    return Reason("kind-not-covered", text, refs)


def recognised_regions(
    record: RecordFacts,
    changes: Iterable[ChangeFacts],
    accessions: Iterable[AccessionFacts],
    withdrawals: Iterable[WithdrawalFacts],
    on: date,
) -> list[str]:
    """List the agreement partners (outside the issuer's jurisdiction) where the record holds.

    The issuer's own jurisdiction is implied and not listed; each partner's
    own jurisdiction is implied too (a partner province covers its cities).
    Used by search output ("recognised in: ...").
    """
    changes = list(changes)
    if status_on(record, changes, on).status != "valid":
        return []
    accs = list(accessions)
    wds = list(withdrawals)
    found: set[str] = set()
    issuer = record.issuer
    for agreement in {a.agreement_id for a in accs if a.region == issuer}:
        ours = _side(agreement, issuer, accs, wds, on)
        if ours is None or not ours.in_force or ours.accession is None:
            continue
        if record.kind not in ours.accession.covered_kinds:
            continue
        for partner in {a.region for a in accs if a.agreement_id == agreement}:
            if regions.within(partner, issuer) or partner in found:
                continue
            theirs = _side(agreement, partner, accs, wds, on)
            if (
                theirs is not None
                and theirs.in_force
                and theirs.accession is not None
                and record.kind in theirs.accession.covered_kinds
            ):
                found.add(partner)
    return sorted(found)
