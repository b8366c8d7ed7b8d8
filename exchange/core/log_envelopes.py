"""The audit's per-envelope checks: a plain function over bytes, for worker processes.

:func:`check_envelopes` checks a run of one origin's envelopes (DSSE signature by
the key that may sign each index, payload federation and region, key events
with their certificates, the time rules, the stateless record rules) and goes
on past a bad entry to report every one, unlike a node, which refuses the whole
batch. What the stateful checks of :mod:`exchange.core.logcheck` need comes
back as plain tuples, cheap to send between processes. Pure: payloads are
decoded by a function the caller passes in; the clock is handed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509 as cx509
from nacl.exceptions import BadSignatureError

from exchange.core.dsse import PAYLOAD_TYPE, pae, parse_envelope
from exchange.core.ed25519 import VerifyKey
from exchange.core.errors import BrandexError, FormatError, VerificationError
from exchange.core.keys import KeyHistory, KeyLife, issued_at
from exchange.core.log_issues import Issue
from exchange.core.origin import parse_origin
from exchange.core.records import ERRORS_BY_BODY
from exchange.core.rules import body_of

__all__ = ["BatchResult", "check_envelopes"]


@dataclass
class BatchResult:
    """What :func:`check_envelopes` found in envelopes ``[start, start + n)``.

    ``facts`` has one tuple per entry that verified, ``(body, index, ok, *fields)``
    where ``ok`` says whether the entry passed the stateless record rules; the
    fields are what the stateful checks need (see ``_facts``). Tuples of str,
    int and bytes, so a result crosses process boundaries cheaply.
    """

    start: int
    count: int
    facts: list[tuple[Any, ...]] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    #: True if an entry failed only because its key was not (yet) known.
    unknown_key: bool = False
    #: The origin's key history after the batch.
    history: KeyHistory | None = None
    #: The issued_at of the batch's first entry that verified (see KeyHistory.check_time).
    first_issued_at: datetime | None = None
    #: (index, keyid, issued_at) of each verified entry, to flag suspects after a revocation.
    signed: list[tuple[int, str, datetime]] = field(default_factory=list)


def _facts(body: str, idx: int, ok: bool, msg: Any, payload: bytes) -> tuple[Any, ...]:
    """The few fields the stateful checks need, as a plain tuple."""
    if body == "recognition":
        return (
            body,
            idx,
            ok,
            msg.record_id,
            msg.certificate_no,
            msg.recognised_on,
            msg.valid_from,
            msg.valid_until,
            int(msg.kind),
        )
    if body == "status_change":
        # apply_change needs the whole message (a correction carries a record):
        # the verified payload goes back to be decoded once more.
        return (body, idx, ok, msg.record_id, payload)
    if body == "infringement_case":
        return (body, idx, ok, msg.case_id, msg.protected_issuer, msg.protected_record_id,
                msg.handling_region)  # fmt: skip
    if body == "case_action":
        return (body, idx, ok, msg.case_region, msg.case_id, msg.acting_region, int(msg.action))
    if body in ("accession", "withdrawal"):
        return (body, idx, ok, msg.agreement_id)
    if body == "federation_update":
        return (body, idx, ok, bytes(msg.document))
    return (body, idx, ok)


def check_envelopes(
    origin: str,
    start: int,
    envelopes: Sequence[bytes],
    history: KeyHistory,
    anchors: Sequence[cx509.Certificate],
    decode: Callable[[bytes], Any],
    *,
    now: datetime,
    foreign: Mapping[str, str] | None = None,
) -> BatchResult:
    """Check envelopes that sit at indices ``start, start + 1, ...`` of ``origin``.

    Unlike a node, which refuses a whole batch at the first bad entry, this
    goes on and reports every bad entry; entries that fail are left out of the
    facts (they are not part of the issuer's log). Keys and time are judged by
    the origin's :class:`KeyHistory`, exactly as a node judges them.

    Args:
        origin: the log, ``<federation>/<region>``.
        start: index of the first envelope.
        envelopes: the exact envelope bytes (Merkle leaves).
        history: the origin's key history, positioned at ``start`` (not modified).
        anchors: the federation's trust anchors.
        decode: payload bytes -> Entry (raises FormatError).
        now: the auditor's clock.
        foreign: keyid -> origin, for keys certified for other origins (only
            to name the culprit when an entry is signed with one).
    """
    where = parse_origin(origin)
    federation, region = where.federation, where.region
    h = history.copy()
    h.size = start
    out = BatchResult(start, len(envelopes))

    def issue(kind: str, idx: int, message: str) -> None:
        out.issues.append(Issue(kind, origin, message, index=idx))
        h.skip(idx)

    def timed(entry: Any, life: KeyLife, idx: int) -> datetime | None:
        """The entry's issued_at when the time rules pass; else None, the issue noted."""
        try:
            at = issued_at(entry)
            h.check_time(life, idx, at, now)
        except VerificationError as exc:
            issue("time", idx, str(exc))
            return None
        return at

    for i, raw in enumerate(envelopes):
        idx = start + i
        try:
            env = parse_envelope(raw)
        except FormatError as exc:
            issue("envelope", idx, f"not a DSSE envelope: {exc}")
            continue
        if env.payload_type != PAYLOAD_TYPE:
            issue("envelope", idx, f"payload type {env.payload_type!r} is not {PAYLOAD_TYPE!r}")
            continue
        message = pae(env.payload_type, env.payload)
        if idx > 0 and not h.keys:
            issue(
                "signer",
                idx,
                f"no key is certified for {origin}: its first entry did not announce one",
            )
            out.unknown_key = True
            continue
        life: KeyLife
        if idx == 0:
            # The key that signs a log is learned from its first entry.
            try:
                entry = decode(env.payload)
            except FormatError as exc:
                issue("envelope", idx, f"payload is not an Entry: {exc}")
                continue
            if body_of(entry) != "key_announcement":
                issue(
                    "signer",
                    idx,
                    "the first entry of a log must announce the key that signs it; "
                    f"found {body_of(entry) or 'no body'}",
                )
                continue
            if entry.region != region or entry.federation != federation:
                issue("region", idx, f"payload names {entry.federation}/{entry.region}")
                continue
            trial = h.copy()
            try:
                trial.apply(idx, entry, "key_announcement", env.signatures[0][0], anchors)
            except (BrandexError, IndexError) as exc:
                issue("signer", idx, f"key announcement refused: {exc}")
                continue
            life = next(iter(trial.keys.values()))
            signed = [sig for kid, sig in env.signatures if kid == life.keyid]
            try:
                VerifyKey(life.public_key).verify(message, signed[0])
            except (BadSignatureError, ValueError):
                issue("envelope", idx, "signature does not verify: the entry was altered")
                continue
            at = timed(entry, life, idx)
            if at is None:
                continue
            h = trial
        else:
            try:
                life, sig = h.signer(idx, env.signatures)
            except VerificationError as exc:
                names = sorted({foreign[k] for k, _ in env.signatures if foreign and k in foreign})
                who = f" (a key certified for {', '.join(names)})" if names else ""
                issue("signer", idx, f"{exc}{who}")
                out.unknown_key = not any(k in h.keys for k, _ in env.signatures)
                continue
            try:
                VerifyKey(life.public_key).verify(message, sig)
            except (BadSignatureError, ValueError):
                issue(
                    "envelope",
                    idx,
                    f"signature by key {life.keyid[:16]}… does not verify: the entry was altered",
                )
                continue
            try:
                entry = decode(env.payload)
            except FormatError as exc:
                issue("envelope", idx, f"payload is not an Entry: {exc}")
                continue
            if entry.region != region or entry.federation != federation:
                issue(
                    "region",
                    idx,
                    f"payload names {entry.federation}/{entry.region}, not {origin}",
                )
                continue
            at = timed(entry, life, idx)
            if at is None:
                continue
            body = body_of(entry)
            if body in ("key_announcement", "key_revocation"):
                trial = h.copy()
                try:
                    trial.apply(idx, entry, body, life.keyid, anchors)
                except BrandexError as exc:
                    issue("signer", idx, f"{body.replace('_', ' ')} refused: {exc}")
                    continue
                h = trial
            else:
                h.apply(idx, entry, body, life.keyid, anchors)

        if out.first_issued_at is None:
            out.first_issued_at = at
        out.signed.append((idx, life.keyid, at))
        body = body_of(entry)
        if body is None:
            out.issues.append(Issue("invalid-entry", origin, "entry has no body", index=idx))
            continue
        problems: list[str] = []
        msg = getattr(entry, body)
        rules = ERRORS_BY_BODY.get(body)
        if rules is not None:
            problems += [str(e) for e in rules(msg, issuer=region)]
        if problems:
            out.issues.append(
                Issue("invalid-entry", origin, f"{body}: " + "; ".join(problems), index=idx)
            )
        out.facts.append(_facts(body, idx, not problems, msg, env.payload))
    out.history = h
    return out
