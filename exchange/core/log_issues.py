"""What a whole-log audit reports: the kinds of issue and one issue found.

Shared by the envelope checks (:mod:`exchange.core.log_envelopes`, run in worker
processes), the audit itself (:mod:`exchange.core.logcheck`) and the report
(:mod:`exchange.audit.report`). Pure: no files, sockets or clock reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ISSUE_KINDS", "Issue"]

#: What each issue kind means (the report's legend).
ISSUE_KINDS: dict[str, str] = {
    "envelope": "an envelope that is not DSSE, not signed as it claims (altered bytes), "
    "or whose payload is not an Entry",
    "signer": "an entry not signed by a key certified for the origin's region, or a key "
    "announcement whose certificate does not chain to an anchor for that region",
    "region": "a payload naming another federation or region than the log it is in",
    "invalid-entry": "an entry that breaks the record rules every issuer applies before signing",
    "duplicate": "a record id, certificate number or case id used twice by one issuer",
    "status": "a status change for a record the log never issued, or one the record's "
    "lifecycle does not allow",
    "reference": "a case, case action or withdrawal naming a record, case or accession "
    "that does not exist",
    "case": "a case action by a region that neither reported nor handles the case, or "
    "after the case was closed",
    "checkpoint": "a checkpoint that is malformed, not signed by a certified key, or not "
    "backed by the entries the node served",
    "fork": "two validly signed checkpoints of one origin that cannot both describe one "
    "append-only log (equivocation)",
    "evidence": "a node reports that it holds evidence of equivocation",
    "cosignature": "a witness cosignature that does not verify or is by an unknown key",
    "time": "an entry whose issued_at lies outside its signing key's certificate, more than "
    "5 minutes after the audit's clock, or more than 5 minutes before the entry before it",
    "suspect": "an entry signed by a revoked key at or after the time from which the key was "
    "declared compromised (kept as evidence; nodes do not apply it)",
    "fetch": "a node that could not serve an origin it lists",
    "governance": "a logged federation document that does not follow the one before it "
    "(too few signatures, a stranger's signature, a skipped version) or two different "
    "documents with one version (a fork of governance)",
}


@dataclass(frozen=True)
class Issue:
    """One thing found.

    Attributes:
        kind: one of :data:`ISSUE_KINDS`.
        origin: the log it concerns.
        message: what is wrong, in English.
        index: the entry's index, when it is about one entry.
        source: the node(s) whose copy or checkpoint showed it.
        evidence: ``(label, text)`` pairs, e.g. the signed checkpoint notes of a fork.
    """

    kind: str
    origin: str
    message: str
    index: int | None = None
    source: str = ""
    evidence: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "origin": self.origin, "message": self.message}
        if self.index is not None:
            d["index"] = self.index
        if self.source:
            d["source"] = self.source
        if self.evidence:
            d["evidence"] = [{"label": label, "text": text} for label, text in self.evidence]
        return d
