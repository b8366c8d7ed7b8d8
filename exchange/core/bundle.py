"""Offline verification of record bundles (``brandex.bundle/v1``).

A bundle is what an auditor is handed to check one record with nothing but the
federation's trust anchors: the record's DSSE envelope (the exact Merkle leaf),
the signer's certificate chain, a C2SP tlog-proof against the issuer's signed
checkpoint with its witness cosignatures, and the related entries (status
changes, cases, accessions and withdrawals) that bear on its status, each
proven the same way. ``docs/audit.md`` documents every field.

:func:`verify_bundle` runs the named checks in a fixed order and stops at the
first failure, so a report says either "all of these passed" or "this one
failed, and why". Status and recognition are recomputed only from entries
whose signature and inclusion verified.

Pure like the rest of :mod:`exchange.core`: no protobuf, files, sockets or
clock reads. The Entry payload is decoded by a function the caller passes in
(``decode_entry``), which must return the proto3 JSON mapping of
``brandex.v1.Entry`` with the original field names (what
``google.protobuf.json_format.MessageToDict(entry,
preserving_proto_field_name=True)`` gives). It is only ever called on payload
bytes whose DSSE signature has verified. Time (``now``) is passed in too.

What a bundle cannot prove: that it is *complete*. Inclusion proofs show that
each entry it carries is in the log; they do not show that no other entry
(say, a later revocation) is. See ``docs/audit.md``, "Limits".
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from cryptography import x509 as cx509
from nacl.signing import VerifyKey

from exchange.core import merkle, regions, x509
from exchange.core.bundle_facts import (
    KeyEntry,
    accession_facts,
    change_facts,
    check_body,
    entry_body,
    entry_issued_at,
    key_text,
    record_facts,
    text_of,
    withdrawal_facts,
)
from exchange.core.bundle_format import FORMAT, KEY_TYPES, Item, Parsed, parse_bundle
from exchange.core.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint_body
from exchange.core.cosignature import (
    WITNESS_SUFFIX,
    CosignatureVerifier,
    cosigner_key,
    parse_cosignature_vkey,
)
from exchange.core.dsse import keyid_of, parse_envelope, verify_envelope
from exchange.core.errors import BrandexError, FormatError, VerificationError
from exchange.core.keys import KeyHistory, KeyLife, certify_announcement, issued_at
from exchange.core.note import (
    Ed25519NoteVerifier,
    parse_note,
    parse_vkey,
)
from exchange.core.origin import parse_origin, parse_witness
from exchange.core.recognition import (
    AccessionFacts,
    ChangeFacts,
    Decision,
    EntryRef,
    RecordFacts,
    StatusOn,
    WithdrawalFacts,
    decide,
    status_on,
)
from exchange.core.rules import MemoryState, body_of, check_entry
from exchange.core.tlogproof import parse_tlog_proof
from exchange.core.vocabulary import ReasonCode, Status

__all__ = [
    "CHECKS",
    "FORMAT",
    "Check",
    "DecodeEntry",
    "Report",
    "verify_bundle",
]

#: The checks a report may name, in the order they run for each entry.
CHECKS = (
    "format",
    "certificate-chain",
    "dsse-signature",
    "payload-region",
    "payload-copy",
    "signing-time",
    "key-history",
    "checkpoint-signature",
    "inclusion-proof",
    "cosignatures",
    "references",
    "vkeys",
    "status",
    "recognition",
    "rules",
)


DecodeEntry = Callable[[bytes], Mapping[str, Any]]
"""Decodes an Entry payload to its proto3 JSON mapping (original field names)."""


@dataclass(frozen=True)
class Check:
    """One named check on one subject (``record yrd/330000#1``, ``bundle`` ...)."""

    name: str
    subject: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, object]:
        return {"check": self.name, "subject": self.subject, "ok": self.ok, "detail": self.detail}


@dataclass
class Report:
    """What :func:`verify_bundle` found: the checks passed, then the first failure if any.

    Attributes:
        checks: every check run, in order; only the last may have failed.
        origin: the record's origin (``""`` if the bundle did not parse).
        record_id: the record's id (``""`` if the bundle did not parse).
        on: the date status and recognition were computed for.
        region: the region recognition was asked about, if any.
        status: the record's status on ``on`` (when the bundle verified that far).
        decision: the recognition decision in ``region`` (when asked and reached).
        entries: ``origin#index`` of every entry that verified, record first.
    """

    checks: list[Check] = field(default_factory=list)
    origin: str = ""
    record_id: str = ""
    on: date | None = None
    region: str | None = None
    status: StatusOn | None = None
    decision: Decision | None = None
    entries: list[str] = field(default_factory=list)

    @property
    def failure(self) -> Check | None:
        """The check that failed, or ``None`` if every check passed."""
        return next((c for c in self.checks if not c.ok), None)

    @property
    def valid(self) -> bool:
        """True iff at least one check ran and none failed."""
        return bool(self.checks) and self.failure is None

    def passed(self) -> list[Check]:
        return [c for c in self.checks if c.ok]

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form (``brandex audit verify --format json``)."""
        st = self.status
        d = self.decision
        return {
            "valid": self.valid,
            "origin": self.origin,
            "record_id": self.record_id,
            "on": self.on.isoformat() if self.on else None,
            "region": self.region,
            "status": None
            if st is None
            else {
                "status": st.status,
                "valid_from": st.valid_from.isoformat() if st.valid_from else None,
                "valid_until": st.valid_until.isoformat() if st.valid_until else None,
                "since": st.since.isoformat() if st.since else None,
                "reason": ReasonCode(st.reason).name,
                "entries": [f"{r.origin}#{r.index}" for r in st.refs],
            },
            "recognition": None
            if d is None
            else {
                "recognised": d.recognised,
                "code": d.code,
                "reasons": [
                    {
                        "code": r.code,
                        "text": r.text,
                        "entries": [f"{e.origin}#{e.index}" for e in r.refs],
                    }
                    for r in d.reasons
                ],
            },
            "entries": list(self.entries),
            "checks": [c.to_dict() for c in self.checks],
            "failure": self.failure.to_dict() if self.failure else None,
        }

    def to_text(self) -> str:
        """A human-readable report: one line per check, the failure last and explained."""
        lines = [f"bundle for record {self.record_id or '?'} of {self.origin or '?'}"]
        for c in self.checks:
            mark = "ok  " if c.ok else "FAIL"
            lines.append(f"  {mark} {c.name:<20} {c.subject}: {c.detail}")
        f = self.failure
        if f is None and self.checks:
            lines.append(f"VALID: {len(self.checks)} checks passed")
        else:
            why = f"{f.name} ({f.subject}): {f.detail}" if f else "no checks ran"
            lines.append(f"INVALID: {why}")
        return "\n".join(lines)


class _Stop(Exception):
    """Raised internally after the first failed check is recorded."""


class _Run:
    def __init__(self, report: Report) -> None:
        self.report = report

    def ok(self, name: str, subject: str, detail: str) -> None:
        self.report.checks.append(Check(name, subject, True, detail))

    def fail(self, name: str, subject: str, detail: str) -> _Stop:
        self.report.checks.append(Check(name, subject, False, detail))
        return _Stop()


# ---------------------------------------------------------- certificates


def _certify(
    pems: Sequence[str], region: str, anchors: Sequence[cx509.Certificate], now: datetime
) -> tuple[bytes, cx509.Certificate]:
    """Verify a signing chain for ``region``; returns (raw Ed25519 key, leaf).

    The chain is judged at ``now``, or at the leaf's expiry if that has
    passed: an entry signed while the certificate was valid stays valid, and
    the signing time itself is checked against the leaf afterwards.
    """
    try:
        blocks = [pem.encode("utf-8") for pem in pems]
    except UnicodeEncodeError as exc:  # a JSON "\ud800" escape gives a lone surrogate
        raise FormatError(f"certificate chain is not valid text: {exc}") from None
    chain = [c for block in blocks for c in x509.load_pem_chain(block)]
    leaf = chain[0]
    at = min(now, leaf.not_valid_after_utc)
    key = x509.verify_signing_certificate(leaf, chain[1:], anchors, at=at, region=region)
    return key, leaf


# -------------------------------------------------------------- verifier


@dataclass
class _Verified:
    """Facts from entries whose signature and inclusion verified."""

    record: Mapping[str, Any] | None = None
    record_ref: EntryRef | None = None
    corrections: list[tuple[int, Mapping[str, Any]]] = field(default_factory=list)
    changes: list[ChangeFacts] = field(default_factory=list)
    accessions: list[AccessionFacts] = field(default_factory=list)
    withdrawals: list[WithdrawalFacts] = field(default_factory=list)
    cases: set[tuple[str, str]] = field(default_factory=set)
    actions: list[tuple[Item, tuple[str, str]]] = field(default_factory=list)


class _Verifier:
    def __init__(
        self,
        run: _Run,
        p: Parsed,
        anchors: Sequence[cx509.Certificate],
        *,
        min_cosignatures: int,
        now: datetime,
        decode_entry: DecodeEntry,
    ) -> None:
        self.run = run
        self.p = p
        self.anchors = anchors
        self.k = min_cosignatures
        self.now = now
        self.decode = decode_entry
        # origin -> raw Ed25519 keys certified for it by chains in this bundle.
        self.keys: dict[str, list[bytes]] = {}
        self.witness_problems: dict[str, str] = {}
        # origin -> (checkpoint note text as given, verified checkpoint)
        self.checkpoints: dict[str, tuple[str, Checkpoint]] = {}
        self.facts = _Verified()
        # origin -> its key history, from the key entries the bundle carries.
        self.histories: dict[str, KeyHistory] = {}
        self.cosigned_at: dict[str, list[datetime]] = {}
        # (origin, index) -> (issued_at, signing key) and (body type, decoded entry)
        self.signed_at: dict[tuple[str, int], tuple[datetime, bytes]] = {}
        self.bodies: dict[tuple[str, int], tuple[str | None, Mapping[str, Any]]] = {}
        self.leaves: dict[tuple[str, int], bytes] = {}

    def _add_key(self, origin: str, key: bytes) -> None:
        keys = self.keys.setdefault(origin, [])
        if key not in keys:
            keys.append(key)

    def load_side_chains(self) -> None:
        """Certify the checkpoint keys (``log_chains``) and witness keys (``witness_chains``)."""
        for origin, pems in self.p.log_chains.items():
            region = parse_origin(origin).region
            try:
                key, _ = _certify(pems, region, self.anchors, self.now)
            except BrandexError as exc:
                raise self.run.fail("certificate-chain", f"log key {origin}", str(exc)) from None
            self._add_key(origin, key)
            self.run.ok("certificate-chain", f"log key {origin}", f"certified for region {region}")
        for origin, pems in self.p.witness_chains.items():
            region = parse_origin(origin).region
            try:
                key, _ = _certify(pems, region, self.anchors, self.now)
            except BrandexError as exc:
                # Not fatal by itself: that witness is simply not counted (and named).
                self.witness_problems[origin] = str(exc)
                continue
            self._add_key(origin, key)

    def entry(self, it: Item) -> None:
        run, subject = self.run, it.subject
        region = parse_origin(it.origin).region

        # 1. The signer's certificate chains to an anchor and names the origin's region.
        pems = it.chain_pem if it.chain_pem is not None else self.p.items[0].chain_pem
        assert pems is not None
        try:
            key, leaf_cert = _certify(pems, region, self.anchors, self.now)
        except BrandexError as exc:
            raise run.fail("certificate-chain", subject, str(exc)) from None
        self._add_key(it.origin, key)
        anchor_note = f"Ed25519 key {keyid_of(key)[:16]}… certified for region {region}"
        run.ok("certificate-chain", subject, anchor_note)

        # 2. The DSSE signature over the exact leaf, by that key.
        try:
            env = parse_envelope(it.leaf)
            verify_envelope(env, {keyid_of(key): VerifyKey(key)})
        except BrandexError as exc:
            raise run.fail("dsse-signature", subject, str(exc)) from None
        run.ok("dsse-signature", subject, "signature over PAE(payloadType, payload) verifies")

        # 3. Only now is the payload read: it must name the origin's federation and region.
        try:
            entry = self.decode(env.payload)
        except Exception as exc:  # the decoder is the caller's; any failure means "not an Entry"
            raise run.fail("payload-region", subject, f"payload is not an Entry: {exc}") from None
        fed, reg = text_of(entry, "federation"), text_of(entry, "region")
        if (fed, reg) != (self.p.federation, region):
            raise run.fail(
                "payload-region", subject, f"payload names {fed}/{reg}, but the log is {it.origin}"
            )
        body_type, body = entry_body(entry)
        try:
            if it.context:
                if body_type != it.type:
                    raise VerificationError(
                        f"the signed entry is a {body_type}, the bundle says {it.type}"
                    )
            else:
                check_body(it, body_type, body, self.p, region)
        except BrandexError as exc:
            raise run.fail("payload-region", subject, str(exc)) from None
        run.ok("payload-region", subject, f"{body_type} entry of {it.origin}")

        # 4. The human-readable copy says what was signed.
        try:
            copied = json.dumps(it.payload, sort_keys=True)
        except RecursionError:  # nested as deep as json.loads allowed, a few frames up
            copied = None
        if copied != json.dumps(entry, sort_keys=True):
            raise run.fail(
                "payload-copy", subject, "the payload field differs from the signed payload"
            )
        run.ok("payload-copy", subject, "the payload field is the signed payload, decoded")

        # 5. Signed while the certificate was valid, not in the future: the kernel's rule.
        try:
            at = entry_issued_at(entry)
            life = KeyLife(
                keyid_of(key),
                key,
                "",
                it.index,
                leaf_cert.not_valid_before_utc,
                leaf_cert.not_valid_after_utc,
            )
            KeyHistory(parse_origin(it.origin)).check_time(life, it.index, at, self.now)
        except BrandexError as exc:
            raise run.fail("signing-time", subject, str(exc)) from None
        run.ok("signing-time", subject, f"issued at {at.isoformat()}, within the certificate")
        self._key_history(it, key, at)

        # 6. The checkpoint (one per origin), its cosignatures, and the inclusion proof.
        try:
            proof = parse_tlog_proof(it.tlog_proof)
        except BrandexError as exc:
            raise run.fail("inclusion-proof", subject, f"malformed tlog-proof: {exc}") from None
        cp = self._checkpoint(it, proof.checkpoint_note)
        if proof.index != it.index:
            raise run.fail(
                "inclusion-proof", subject, f"the proof is for index {proof.index}, not {it.index}"
            )
        try:
            merkle.verify_inclusion(
                merkle.leaf_hash(it.leaf), proof.index, cp.size, proof.proof, cp.root_hash
            )
        except BrandexError as exc:
            raise run.fail("inclusion-proof", subject, str(exc)) from None
        witnessed = sorted(self.cosigned_at.get(it.origin, []))
        when = (
            f"; logged no later than {witnessed[0].isoformat()} by {len(witnessed)} witness"
            + ("es" if len(witnessed) != 1 else "")
            if witnessed
            else ""
        )
        run.ok(
            "inclusion-proof",
            subject,
            f"leaf {it.index} is in the tree of size {cp.size} (RFC 9162){when}",
        )
        self.signed_at[(it.origin, it.index)] = (at, key)
        self.leaves[(it.origin, it.index)] = it.leaf
        self.bodies[(it.origin, it.index)] = (body_type, entry)
        if not it.context:
            self._collect(it, body_type, body, region)

    def load_key_histories(self) -> None:
        """Rebuild each origin's key history from the key entries the bundle carries.

        Each key entry is checked like a node checks it (certificate at its
        issued_at, a rotation signed by the key it replaces, a revocation not
        by the key it revokes); its inclusion is proven with the others.
        """
        by_origin: dict[str, list[Item]] = {}
        for it in self.p.key_entries:
            by_origin.setdefault(it.origin, []).append(it)
        for origin, items in by_origin.items():
            items.sort(key=lambda it: it.index)
            h = KeyHistory(parse_origin(origin))
            for it in items:
                try:
                    env = parse_envelope(it.leaf)
                    if it.index == 0:
                        signer = env.signatures[0][0] if env.signatures else ""
                    elif not h.keys:
                        raise VerificationError("the log's first key announcement is missing")
                    else:
                        signer = h.signer(it.index, env.signatures)[0].keyid
                    entry = KeyEntry(self.decode(env.payload))
                    if it.type == "key_announcement":
                        try:  # the certificate first, so its failure is named as one
                            certify_announcement(
                                entry.key_announcement,
                                parse_origin(origin).region,
                                self.anchors,
                                issued_at(entry),
                            )
                        except BrandexError as exc:
                            raise self.run.fail("certificate-chain", it.subject, str(exc)) from None
                    trial = h.copy()
                    trial.size = it.index
                    trial.apply(it.index, entry, it.type, signer, self.anchors)
                    life = trial.keys[signer]
                    verify_envelope(env, {life.keyid: VerifyKey(life.public_key)})
                except _Stop:
                    raise
                except Exception as exc:  # the decoder is the caller's, like in entry()
                    raise self.run.fail("key-history", it.subject, str(exc)) from None
                h = trial
                for k in h.keys.values():
                    self._add_key(origin, k.public_key)
            self.histories[origin] = h
            self.run.ok(
                "key-history",
                f"keys of {origin}",
                f"{len(h.keys)} key(s) from {len(items)} key entries: "
                + ", ".join(key_text(k) for k in h.keys.values()),
            )

    def rules(self, parse: Callable[[bytes], Any]) -> None:
        """The domain rules (exchange.core.rules) over every entry carried, in log order.

        Each log's entries are replayed into one in-memory state, as a mirror
        and ``brandex audit log`` replay them: an entry that breaks a rule (a
        region acting on a case it is no party to, a transition out of a
        terminal status, a duplicate certificate number ...) fails the check.
        What the bundle does not carry is unknown, not a violation.
        """
        state = MemoryState()
        found: list[str] = []
        for origin, idx in sorted(self.leaves):
            region = parse_origin(origin).region
            entry = parse(parse_envelope(self.leaves[(origin, idx)]).payload)
            if body_of(entry) in KEY_TYPES:
                continue
            broken = check_entry(state, region, idx, entry)
            if broken:
                found += [f"{origin}#{idx}: {v.rule}: {v.message}" for v in broken]
                continue
            state.apply(region, entry)
        if found:
            raise self.run.fail("rules", "bundle", "; ".join(found))
        self.run.ok("rules", "bundle", f"{len(self.leaves)} entries keep the domain rules")

    def time_order(self) -> None:
        """Entries carried at neighbouring indices of a log keep its time (trust rule 6)."""
        checked = 0
        for (origin, idx), (at, key) in sorted(self.signed_at.items()):
            before = self.signed_at.get((origin, idx - 1))
            history = self.histories.get(origin)
            if before is None or history is None:
                continue
            life = history.signer_at(idx)
            if life is None or life.public_key != key:
                continue  # already failed key-history
            h = history.copy()
            h.last_issued_at = before[0]
            try:
                h.check_time(life, idx, at, self.now)
            except BrandexError as exc:
                raise self.run.fail("signing-time", f"{origin}#{idx}", str(exc)) from None
            checked += 1
        if checked:
            self.run.ok("signing-time", "bundle", f"{checked} neighbouring entries keep log time")

    def key_inclusion(self) -> None:
        """Every key entry carried is in its log (proven against the same checkpoint)."""
        for it in self.p.key_entries:
            try:
                proof = parse_tlog_proof(it.tlog_proof)
            except BrandexError as exc:
                raise self.run.fail("inclusion-proof", it.subject, str(exc)) from None
            cp = self._checkpoint(it, proof.checkpoint_note)
            try:
                if proof.index != it.index:
                    raise VerificationError(f"the proof is for index {proof.index}")
                merkle.verify_inclusion(
                    merkle.leaf_hash(it.leaf), proof.index, cp.size, proof.proof, cp.root_hash
                )
            except BrandexError as exc:
                raise self.run.fail("inclusion-proof", it.subject, str(exc)) from None
        if self.p.key_entries:
            self.run.ok(
                "inclusion-proof", "key entries", f"{len(self.p.key_entries)} in their logs"
            )

    def _key_history(self, it: Item, key: bytes, at: datetime) -> None:
        """The key that signed the entry signs that index, and not inside a compromise."""
        history = self.histories.get(it.origin)
        if history is None:
            return
        life = history.signer_at(it.index)
        if life is None or life.public_key != key:
            raise self.run.fail(
                "key-history",
                it.subject,
                f"signed by key {keyid_of(key)[:16]}…, which does not sign entry {it.index} of "
                f"{it.origin} (replaced or revoked before it)",
            )
        if life.suspect(at):
            raise self.run.fail(
                "key-history",
                it.subject,
                f"SUSPECT: signed by {life.describe()} at {at.isoformat()}, after its declared "
                f"compromise since {life.compromised_since.isoformat()}"  # type: ignore[union-attr]
                f" (revoked at entry {life.revoked_at})",
            )
        self.run.ok("key-history", it.subject, f"{life.describe()} signs entry {it.index}")

    def _checkpoint(self, it: Item, note_text: str) -> Checkpoint:
        run, subject = self.run, it.subject
        known = self.checkpoints.get(it.origin)
        if known is not None:
            if note_text != known[0]:
                raise run.fail(
                    "checkpoint-signature",
                    subject,
                    f"proven against another checkpoint than the other entries of {it.origin}",
                )
            return known[1]
        last: BrandexError = VerificationError(f"no certified key for {it.origin}")
        cp: Checkpoint | None = None
        history = self.histories.get(it.origin)
        candidates = self.keys.get(it.origin, [])
        if history is not None:
            try:
                size = parse_checkpoint_body(parse_note(note_text).text).size
            except BrandexError as exc:
                raise run.fail("checkpoint-signature", subject, str(exc)) from None
            candidates = [life.public_key for life in history.checkpoint_keys(size)]
            last = VerificationError(f"no key of {it.origin} signs its checkpoint of size {size}")
        for key in candidates:
            try:
                cp, _ = open_checkpoint(note_text, Ed25519NoteVerifier(it.origin, VerifyKey(key)))
                break
            except BrandexError as exc:
                last = exc
        if cp is None:
            raise run.fail("checkpoint-signature", subject, str(last))
        run.ok(
            "checkpoint-signature",
            f"checkpoint {it.origin}@{cp.size}",
            f"signed by the log key of {it.origin}",
        )
        self.checkpoints[it.origin] = (note_text, cp)
        self._cosignatures(it.origin, cp, note_text)
        if history is not None:
            life = history.checkpoint_keys(cp.size)[0]
            try:
                history.check_checkpoint_key(
                    life, cp.size, self.now, self.cosigned_at.get(it.origin, [])
                )
            except BrandexError as exc:
                raise run.fail(
                    "key-history", f"checkpoint {it.origin}@{cp.size}", str(exc)
                ) from None
            run.ok(
                "key-history",
                f"checkpoint {it.origin}@{cp.size}",
                f"signed by {life.describe()}, the key of {it.origin} at that size",
            )
        return cp

    def _cosignatures(self, origin: str, cp: Checkpoint, note_text: str) -> None:
        """Count valid cosignatures of other members whose witness key is certified."""
        subject = f"checkpoint {origin}@{cp.size}"
        note = parse_note(note_text)  # parsed already by parse_tlog_proof
        good: list[str] = []
        skipped: list[str] = []
        for sig in note.signatures:
            if sig.name == origin:
                continue
            try:
                witness = parse_witness(sig.name)
            except FormatError as exc:
                skipped.append(f"{sig.name}: not a member's witness name ({exc})")
                continue
            member, fed = witness.name, witness.federation
            if member == origin:
                skipped.append(f"{sig.name}: a log does not witness itself")
                continue
            if fed != self.p.federation:
                skipped.append(f"{sig.name}: another federation")
                continue
            found = cosigner_key(sig, lambda m: self.keys.get(m, []))
            if found is None:
                why = self.witness_problems.get(member, "no certified key in the bundle")
                skipped.append(f"{sig.name}: {why}")
                continue
            ts = CosignatureVerifier(sig.name, VerifyKey(found[1])).timestamp_of(note.text, sig.sig)
            if ts is not None:
                self.cosigned_at.setdefault(origin, []).append(datetime.fromtimestamp(ts, UTC))
            if ts is None:
                raise self.run.fail(
                    "cosignatures",
                    subject,
                    f"cosignature by {sig.name} (certified key) does not verify",
                )
            if member not in good:
                good.append(member)
        detail = f"{len(good)} valid from other members"
        if good:
            detail += f" ({', '.join(g + WITNESS_SUFFIX for g in good)})"
        if skipped:
            detail += f"; not counted: {'; '.join(skipped)}"
        if len(good) < self.k:
            raise self.run.fail("cosignatures", subject, f"{detail}; at least {self.k} required")
        self.run.ok("cosignatures", subject, f"{detail}; at least {self.k} required")

    def _collect(self, it: Item, body_type: str | None, body: Mapping[str, Any], region: str):
        """Keep the facts of a verified entry for status and recognition."""
        ref = EntryRef(it.origin, it.index)
        f = self.facts
        self.run.report.entries.append(f"{it.origin}#{it.index}")
        try:
            if body_type == "recognition":
                f.record, f.record_ref = body, ref
                record_facts(body, self.p.issuer, ref, self.p.record_id)
            elif body_type == "status_change":
                change = change_facts(body, ref)
                f.changes.append(change)
                if change.status == Status.CORRECTED and isinstance(body.get("corrected"), Mapping):
                    f.corrections.append((it.index, body["corrected"]))
            elif body_type == "accession":
                f.accessions.append(accession_facts(body, region, ref))
            elif body_type == "withdrawal":
                f.withdrawals.append(withdrawal_facts(body, region, ref))
            elif body_type == "infringement_case":
                f.cases.add((region, text_of(body, "case_id")))
            elif body_type == "case_action":
                f.actions.append((it, (text_of(body, "case_region"), text_of(body, "case_id"))))
        except BrandexError as exc:
            raise self.run.fail("payload-region", it.subject, f"malformed entry: {exc}") from None

    def references(self) -> None:
        """Every case action in the bundle acts on a case the bundle proves."""
        for it, case in self.facts.actions:
            if case not in self.facts.cases:
                raise self.run.fail(
                    "references",
                    it.subject,
                    f"acts on case {case[0]}/{case[1]}, which the bundle does not carry",
                )
        n = len(self.facts.actions)
        if n:
            self.run.ok("references", "bundle", f"{n} case action(s) refer to included cases")

    def vkeys(self) -> None:
        """The bundle's vkey strings are the certified keys, so a third party may use them."""
        listed: set[str] = set()
        items_vkeys = [it.vkey for it in self.p.items if it.vkey]
        for v in [*self.p.vkeys, *items_vkeys]:
            try:
                if v.split("+", 1)[0].endswith(WITNESS_SUFFIX):
                    cv = parse_cosignature_vkey(v)
                    member, key = cv.name[: -len(WITNESS_SUFFIX)], cv.public_key
                else:
                    nv = parse_vkey(v)
                    member, key = nv.name, nv.public_key
            except BrandexError as exc:
                raise self.run.fail("vkeys", "bundle", f"vkey {v!r}: {exc}") from None
            if key not in self.keys.get(member, []):
                name = v.split("+", 1)[0]
                raise self.run.fail(
                    "vkeys", "bundle", f"vkey {name} is not a key certified for {member}"
                )
            listed.add(v)
        for origin in self.checkpoints:
            # Every log key that signed a checkpoint here must be listed.
            mine = {
                Ed25519NoteVerifier(origin, VerifyKey(k)).vkey_string()
                for k in self.keys.get(origin, [])
            }
            if not mine & listed:
                raise self.run.fail("vkeys", "bundle", f"no vkey for the log key of {origin}")
        self.run.ok("vkeys", "bundle", f"{len(listed)} vkey(s), each a certified key")

    def record_facts(self) -> tuple[RecordFacts, list[ChangeFacts]]:
        f = self.facts
        assert f.record is not None and f.record_ref is not None
        rec = f.record
        if f.corrections:  # the record as it stands, as the nodes project it
            rec = max(f.corrections, key=lambda c: c[0])[1]
        facts = record_facts(rec, self.p.issuer, f.record_ref, self.p.record_id)
        return facts, sorted(f.changes, key=lambda c: c.ref.index if c.ref else 0)


def verify_bundle(
    doc: object,
    anchors: Sequence[cx509.Certificate],
    *,
    min_cosignatures: int,
    on: date,
    region: str | None,
    now: datetime,
    decode_entry: DecodeEntry,
    parse_entry: Callable[[bytes], Any] | None = None,
) -> Report:
    """Verify a ``brandex.bundle/v1`` document offline.

    Checks, for the record and then each related entry: the signer's
    certificate chain to one of ``anchors`` with the origin's region in its
    SAN (``certificate-chain``), the DSSE signature over the exact leaf
    (``dsse-signature``), that the signed payload names the origin's
    federation and region and the right record (``payload-region``), that the
    human-readable ``payload`` is the signed one (``payload-copy``), that it
    was signed while the certificate was valid (``signing-time``), the
    checkpoint's signature by the origin's certified key
    (``checkpoint-signature``), at least ``min_cosignatures`` valid
    cosignatures from other members whose keys are certified
    (``cosignatures``), and the RFC 9162 inclusion proof
    (``inclusion-proof``). Then that the vkey strings are certified keys
    (``vkeys``), and finally recomputes the status on ``on`` (``status``) and,
    if ``region`` is given, whether the record is recognised there
    (``recognition``: a "no" is a failed check, with the deciding reason).

    Args:
        doc: the parsed JSON bundle.
        anchors: the federation's trust anchors.
        min_cosignatures: how many other members must have cosigned each
            checkpoint the bundle relies on.
        on: the date to compute status and recognition for.
        region: the region to decide recognition in, or ``None``.
        now: the verifier's clock (timezone-aware), for certificate validity.
        decode_entry: turns verified payload bytes into the proto3 JSON
            mapping of ``brandex.v1.Entry`` (see the module docstring).
        parse_entry: turns verified payload bytes into a ``brandex.v1.Entry``
            (or an object with its attributes) for the domain rules (``rules``);
            without it that check is not run.

    Returns:
        The report; ``report.valid`` tells the verdict, ``report.failure``
        the first failed check.

    Raises:
        ValueError: if ``now`` is naive or ``min_cosignatures`` is negative
            (caller errors, not bundle errors).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    if min_cosignatures < 0:
        raise ValueError("min_cosignatures must be >= 0")
    report = Report(on=on, region=region)
    run = _Run(report)
    with contextlib.suppress(_Stop):  # the failure is in the report
        _verify(run, doc, anchors, min_cosignatures, on, region, now, decode_entry, parse_entry)
    return report


def _verify(
    run: _Run,
    doc: object,
    anchors: Sequence[cx509.Certificate],
    k: int,
    on: date,
    region: str | None,
    now: datetime,
    decode_entry: DecodeEntry,
    parse_entry: Callable[[bytes], Any] | None,
) -> None:
    try:
        p = parse_bundle(doc)
    except FormatError as exc:
        raise run.fail("format", "bundle", str(exc)) from None
    run.report.origin, run.report.record_id = p.origin, p.record_id
    run.ok("format", "bundle", f"{FORMAT}: record and {len(p.items) - 1} related entries")

    v = _Verifier(run, p, anchors, min_cosignatures=k, now=now, decode_entry=decode_entry)
    v.load_side_chains()
    v.load_key_histories()
    for it in [*p.items, *p.context]:
        v.entry(it)
    v.key_inclusion()
    v.time_order()
    v.references()
    if parse_entry is not None:
        v.rules(parse_entry)
    v.vkeys()

    try:
        record, changes = v.record_facts()
    except BrandexError as exc:
        raise run.fail("status", f"record {p.origin}#{p.items[0].index}", str(exc)) from None
    st = status_on(record, changes, on)
    run.report.status = st
    until = f", valid until {st.valid_until}" if st.valid_until else ", no expiry"
    since = f" since {st.since}" if st.since and st.status != "valid" else ""
    run.ok(
        "status",
        f"record {p.origin}#{p.items[0].index}",
        f"{st.status}{since} on {on}{until} (from {len(changes)} status change(s) in the bundle)",
    )
    if region is None:
        return
    if not regions.is_region(region):
        raise run.fail("recognition", region, f"{region!r} is not a GB/T 2260 region code")
    d = decide(record, changes, v.facts.accessions, v.facts.withdrawals, region, on)
    run.report.decision = d
    text = "; ".join(r.text for r in d.reasons)
    if not d.recognised:
        raise run.fail("recognition", f"in {region} on {on}", f"not recognised ({d.code}): {text}")
    run.ok("recognition", f"in {region} on {on}", f"recognised ({d.code}): {text}")
