"""Plain typed answers of a node: dataclasses, dates as ``datetime.date``, numbers as int.

Enumerations are their names (``"WELL_KNOWN_TRADEMARK"``, ``"REVOKED"``).
Timestamps (``issued_at``, ``witnessed_at``) stay RFC 3339 text exactly as the
issuer or witness wrote it: they are signed claims, and re-formatting would
hide what was signed. Each top-level answer also keeps ``wire``, the message in
protobuf's JSON mapping (proto field names, numbers as numbers), which is what
``--format json`` prints, so JSON output does not change with this library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from exchange.client.convert import Wired

__all__ = [
    "Accession",
    "AgreementList",
    "AgreementView",
    "BatchLogged",
    "CaseAction",
    "CaseList",
    "CaseView",
    "CheckResult",
    "Evidence",
    "InclusionProof",
    "InfringementCase",
    "Logged",
    "NodeStatus",
    "OriginState",
    "OriginStatus",
    "PeerStatus",
    "Provenance",
    "Reason",
    "Recognition",
    "RecordHistory",
    "RecordRef",
    "RecordView",
    "SearchResult",
    "StatusChange",
    "StatusEvent",
    "Violation",
    "WatchEvent",
    "Withdrawal",
]


@dataclass
class Recognition:
    record_id: str
    kind: str
    sector: str
    brand_name: str
    brand_name_latin: str
    product: str
    nice_classes: list[int]
    industry_code: str
    enterprise_name: str
    enterprise_uscc: str
    enterprise_region: str
    certificate_no: str
    announcement_no: str
    recognised_on: date | None
    valid_from: date | None
    valid_until: date | None


@dataclass
class Provenance:
    origin: str
    index: int
    checkpoint_size: int
    cosigners: list[str]
    witnessed_at: str
    witnesses: int
    issued_at: str
    signing_key: str
    confirmation: str = ""  # under the federation's witness policy (empty: no document)
    confirmed: bool = False


@dataclass
class RecordView(Wired):
    issuer: str
    issuer_name: str
    record: Recognition
    status_today: str
    valid_until: date | None
    provenance: Provenance
    recognised_in: list[str]


@dataclass
class StatusChange:
    record_id: str
    new_status: str
    reason: str
    reason_text: str
    effective_on: date | None
    announcement_no: str
    new_valid_until: date | None


@dataclass
class StatusEvent:
    change: StatusChange
    provenance: Provenance
    issued_at: str


@dataclass
class InfringementCase:
    case_id: str
    protected_issuer: str
    protected_record_id: str
    reporting_region: str
    handling_region: str
    infringer_name: str
    infringer_uscc: str
    case_type: str
    goods_value_fen: int
    opened_on: date | None
    description: str


@dataclass
class CaseAction:
    case_region: str
    case_id: str
    acting_region: str
    action: str
    date: date | None
    note: str
    decision_no: str
    fine_fen: int


@dataclass
class CaseView:
    case_region: str
    case: InfringementCase
    provenance: Provenance
    actions: list[CaseAction]
    open: bool
    brand_name: str


@dataclass
class RecordHistory(Wired):
    view: RecordView
    events: list[StatusEvent]
    cases: list[CaseView]


@dataclass
class SearchResult(Wired):
    records: list[RecordView]
    total: int
    total_is_lower_bound: bool
    #: field -> [(value, count)], most frequent first (when facets were asked for)
    facets: dict[str, list[tuple[str, int]]]
    facets_over: int
    facets_partial: bool
    typo: bool


@dataclass
class RecordRef:
    issuer: str
    record_id: str


@dataclass
class Reason:
    code: str
    text: str
    entries: list[Provenance]


@dataclass
class CheckResult(Wired):
    record: RecordRef
    brand_name: str
    recognised: bool
    reasons: list[Reason]


@dataclass
class CaseList(Wired):
    cases: list[CaseView]
    truncated: bool


@dataclass
class Accession:
    agreement_id: str
    title: str
    covered_kinds: list[str]
    effective_from: date | None
    effective_until: date | None
    region: str


@dataclass
class Withdrawal:
    agreement_id: str
    region: str
    effective_on: date | None
    reason_text: str


@dataclass
class AgreementView:
    agreement_id: str
    title: str
    covered_kinds: list[str]
    accessions: list[Accession]
    withdrawals: list[Withdrawal]


@dataclass
class AgreementList(Wired):
    agreements: list[AgreementView]
    truncated: bool


@dataclass
class OriginState:
    origin: str
    size: int
    checkpoint: str
    equivocating: bool
    federation_version: int = 0


@dataclass
class OriginStatus:
    origin: str
    size: int
    cosigners: list[str]
    frozen: bool
    frozen_reason: str
    indexed: int
    violations: int
    suspects: int


@dataclass
class PeerStatus:
    address: str
    region: str
    reachable: bool
    last_sync: str
    last_error: str
    sizes: dict[str, int]
    backoff_until: str


@dataclass
class Evidence:
    origin: str
    note_a: str
    note_b: str
    source: str
    detail: str
    detected_at: str


@dataclass
class PublishedFederation:
    version: int
    index: int  # the FederationUpdate entry in the publisher's own log
    checkpoint: str


@dataclass
class GovernanceEvidence:
    """A federation document the node refused (fork, rollback, invalid), with why."""

    kind: str
    version: int
    digest: str
    detail: str
    source: str
    recorded_at: str


@dataclass
class Violation:
    origin: str
    index: int
    rule: str
    message: str


@dataclass
class NodeStatus(Wired):
    name: str
    region: str
    origin: str
    origins: list[OriginStatus]
    peers: list[PeerStatus]
    evidence: list[Evidence]
    started_at: str
    truncated: bool
    violations: list[Violation]
    federation_version: int = 0  # 0: the node runs without a federation document
    federation_warning: str = ""  # "... expired on D" or "... expires on D"
    federation_expired: bool = False
    governance_evidence: list[GovernanceEvidence] = field(default_factory=list)


@dataclass
class InclusionProof:
    index: int
    envelope: bytes  # the entry exactly as logged
    proof: list[bytes]  # RFC 9162 audit path
    checkpoint: str  # the signed note the proof is against
    tlog_proof: str  # the same as C2SP tlog-proof text


@dataclass
class Logged:
    """What a write signed: the entry's place in the node's own log."""

    origin: str
    index: int
    duplicate: bool  # already in the log (same certificate number): nothing new signed


@dataclass
class BatchLogged(Wired):
    """A batch of recognitions: the first new entry's index, how many were new or known."""

    first_index: int
    added: int
    duplicates: int


@dataclass
class WatchEvent:
    """One change a watch reports (fields in the order of the wire message)."""

    cursor: str
    kind: str  # "cursor", "recognition", "status_change", "case", "case_action", ...
    origin: str
    index: int
    issuer: str
    record_id: str
    brand_name: str
    enterprise_uscc: str
    status: str
    case_id: str
    issued_at: str
    summary: str
