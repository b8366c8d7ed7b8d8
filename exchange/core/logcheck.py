"""Whole-log audit: the pure checks behind ``brandex audit log``.

An auditor downloads every entry of some origins from one or more nodes, plus
each node's signed checkpoints, and checks them with nothing but the
federation's trust anchors, never trusting what a node says about itself:

* every envelope (DSSE signature by a key certified for the origin's region by
  a KeyAnnouncement whose certificate chains to an anchor; payload naming the
  origin's federation and region) -- ``check_envelopes`` in
  :mod:`exchange.core.log_envelopes`, a plain function over bytes so callers
  can run it in worker processes;
* every entry's domain validity: the ``*_errors`` validators of
  :mod:`exchange.core.records` (in :func:`check_envelopes`), then the stateful
  rules of :mod:`exchange.core.rules` (status state machine, references to
  records, cases and agreements that exist, no duplicate record ids,
  certificate numbers or case ids per issuer), the same rules an issuing node
  and every mirror apply; :data:`RULE_ISSUES` maps rule names to issue kinds;
* every checkpoint seen from every node: signed by a certified key of the
  origin, backed by the entries that node served, and consistent with every
  other checkpoint of that origin. Two validly signed checkpoints that cannot
  both describe one append-only log are a **fork**, reported with both signed
  notes as evidence;
* every cosignature: which witnesses saw which sizes; bad or unknown ones.

Each node's copy of an origin is compared leaf hash by leaf hash with the copies
already read; identical leaves are verified only once, and a copy that diverges
becomes a history of its own (one origin, several histories: a fork, or a node
serving entries that are not the issuer's).

Pure like the rest of :mod:`exchange.core`: no protobuf, files, sockets or clock
reads. Entry payloads are decoded by a function the caller passes in
(``decode``: payload bytes to a ``brandex.v1.Entry`` or an object with the same
attributes, raising :class:`FormatError` on bad bytes); it is called only on
payloads whose signature verified, except for a log's first entry, which must
be read to learn the key that signs it.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from cryptography import x509 as cx509

from exchange.core import federation as federation_doc
from exchange.core import merkle
from exchange.core.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint_body
from exchange.core.cosignature import CosignatureVerifier, cosigner_key
from exchange.core.ed25519 import VerifyKey
from exchange.core.errors import (
    BrandexError,
    FormatError,
    VerificationError,
)
from exchange.core.keys import KeyHistory
from exchange.core.log_envelopes import BatchResult, check_envelopes
from exchange.core.log_issues import ISSUE_KINDS, Issue
from exchange.core.note import Ed25519NoteVerifier, Note, parse_note
from exchange.core.origin import parse_origin, parse_witness
from exchange.core.rules import CaseState, MemoryState, Violation, body_of, check_entry
from exchange.core.status import RecordState
from exchange.core.vocabulary import Status

__all__ = [
    "FORMAT",
    "MAX_LISTED",
    "AuditResult",
    "Copy",
    "History",
    "LogAudit",
    "Route",
]

#: Name of the JSON report format.
FORMAT = "brandex.log-audit/v1"
#: Issues listed one by one per (origin, kind); the rest are only counted.
MAX_LISTED = 100


def _trusted_keys(history: KeyHistory) -> dict[str, bytes]:
    """The keys of a history whose signatures (cosignatures included) count: not revoked."""
    return {k: life.public_key for k, life in history.keys.items() if life.revoked_at is None}


# ----------------------------------------------------------------- histories


@dataclass
class History:
    """One sequence of leaves for an origin, with the state of checking it.

    Usually an origin has one history, which every node's copy agrees with (a
    lagging node's copy is a prefix). A copy that differs gets a history of its
    own, checked from its first entry.
    """

    number: int
    origin: str
    leaves: list[bytes] = field(default_factory=list)
    keys: KeyHistory | None = None  # the origin's key history after ``settled`` leaves
    signed: list[tuple[int, str, datetime]] = field(default_factory=list)
    settled: int = 0  # leaves whose verification result has been applied
    verified: int = 0  # of which verified
    kinds: Counter = field(default_factory=Counter)
    #: The domain state of this log's entries so far (see :mod:`exchange.core.rules`).
    state: MemoryState = field(default_factory=MemoryState)
    sources: list[str] = field(default_factory=list)
    _tree: merkle.MemoryHashStore | None = None

    def root_at(self, size: int) -> bytes:
        """RFC 9162 root of the first ``size`` leaves (``size <= len(leaves)``)."""
        if size > len(self.leaves):
            raise ValueError(f"history has {len(self.leaves)} leaves, not {size}")
        if self._tree is None or self._tree.size < len(self.leaves):
            if self._tree is None:
                self._tree = merkle.MemoryHashStore()
            self._tree.append(self.leaves[self._tree.size :])
        return merkle.root_hash(size, self._tree)


@dataclass(frozen=True)
class Route:
    """Where a batch of a copy goes: ``verify`` the envelopes from ``offset`` on
    (appended to ``history``), or nothing new to verify; or ``diverged`` at ``at``."""

    history: History | None
    verify: bool = False
    offset: int = 0
    diverged: bool = False
    at: int = 0


class Copy:
    """One node's copy of one origin, read batch by batch in log order."""

    def __init__(self, audit: LogAudit, origin: str, source: str, history: History | None):
        self.audit = audit
        self.origin = origin
        self.source = source
        self.pos = 0
        own = audit._histories.setdefault(origin, [])
        self.candidates: list[History] = [history] if history is not None else list(own)
        self.history: History | None = history

    def route(self, start: int, hashes: Sequence[bytes]) -> Route:
        """Compare a batch's leaf hashes with the histories known; extend one if needed.

        Raises:
            FormatError: if the batch is not the next one in order.
        """
        if start != self.pos:
            raise FormatError(f"{self.source} sent a batch at {start}, expected {self.pos}")
        n = len(hashes)
        agree = []
        first_diff = start + n
        for h in self.candidates:
            have = h.leaves[start : start + n]
            if have == list(hashes[: len(have)]):
                agree.append(h)
            else:
                d = next(i for i, (a, b) in enumerate(zip(have, hashes, strict=False)) if a != b)
                first_diff = min(first_diff, start + d)
        if not agree and self.candidates:
            return Route(None, diverged=True, at=first_diff)
        if not agree:
            # The first copy of the origin: a history of its own.
            self.history = self.audit._new_history(self.origin)
            agree = [self.history]
        longest = max(agree, key=lambda h: len(h.leaves))
        self.pos = start + n
        if start + n <= len(longest.leaves):
            self.candidates = agree
            self.history = longest
            return Route(longest, verify=False)
        offset = len(longest.leaves) - start
        longest.leaves.extend(hashes[offset:])
        self.candidates = [longest]
        self.history = longest
        return Route(longest, verify=True, offset=offset)

    def settle(self, result: BatchResult) -> None:
        """Apply a verified batch (in log order) to the history it extended."""
        h = self.history
        assert h is not None
        if result.start != h.settled:
            raise ValueError(f"result at {result.start}, expected {h.settled}")
        self.audit._apply(h, result)

    def end(self) -> None:
        """The node sent all it would: remember how much and which history it matched."""
        hist = self.history
        if hist is None and self.candidates:
            hist = max(self.candidates, key=lambda h: len(h.leaves))
        if hist is not None and self.source not in hist.sources:
            hist.sources.append(self.source)
        self.audit._copies[(self.origin, self.source)] = (hist, self.pos)


# -------------------------------------------------------------- checkpoints


@dataclass
class _Seen:
    origin: str
    source: str
    note_text: str
    evidence: bool = False  # held by the node as equivocation evidence
    checkpoint: Checkpoint | None = None
    note: Note | None = None


@dataclass
class _Head:
    """A distinct validly signed (size, root) of an origin and who showed it."""

    checkpoint: Checkpoint
    notes: list[tuple[str, str]] = field(default_factory=list)  # (source, note text)
    cosigners: set[str] = field(default_factory=set)
    backed_by: History | None = None

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root(self) -> bytes:
        return self.checkpoint.root_hash

    def label(self) -> str:
        root = base64.b64encode(self.root).decode()
        return f"size {self.size}, root {root}"

    def sources(self) -> str:
        return ", ".join(dict.fromkeys(s for s, _ in self.notes))


# ------------------------------------------------------------------- result


@dataclass
class AuditResult:
    """Everything a whole-log audit found, ready for a report."""

    sources: list[str]
    origins: dict[str, dict[str, Any]]
    issues: list[Issue]
    unlisted: dict[tuple[str, str], int]
    notes: list[str]
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def total_issues(self) -> int:
        return len(self.issues) + sum(self.unlisted.values())

    @property
    def clean(self) -> bool:
        return self.total_issues == 0

    def issue_counts(self) -> dict[str, dict[str, int]]:
        """origin -> kind -> number of issues (listed and unlisted)."""
        out: dict[str, dict[str, int]] = {}
        for i in self.issues:
            d = out.setdefault(i.origin, {})
            d[i.kind] = d.get(i.kind, 0) + 1
        for (origin, kind), n in self.unlisted.items():
            d = out.setdefault(origin, {})
            d[kind] = d.get(kind, 0) + n
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "clean": self.clean,
            "nodes": list(self.sources),
            "origins": self.origins,
            "issue_count": self.total_issues,
            "issues": [i.to_dict() for i in self.issues],
            "unlisted": [
                {"origin": o, "kind": k, "count": n} for (o, k), n in sorted(self.unlisted.items())
            ],
            "notes": list(self.notes),
            "stats": dict(self.stats),
        }


# -------------------------------------------------------------------- audit


class LogAudit:
    """Collects copies and checkpoints of origins, then judges them in :meth:`finish`.

    Use: :meth:`checkpoint` for every signed note seen, :meth:`copy` for every
    node's copy of an origin (``route`` each batch of leaf hashes, verify the
    envelopes it says to with :func:`check_envelopes`, ``settle`` the results in
    order, ``end``), :meth:`learn_keys` for certified keys of origins not
    audited (to check their cosignatures), then :meth:`finish`.
    :meth:`add_copy` does all of a copy in-process, for small logs and tests.
    """

    def __init__(
        self,
        anchors: Sequence[cx509.Certificate],
        decode: Callable[[bytes], Any],
        *,
        now: datetime,
        origins: Iterable[str] = (),
    ) -> None:
        self.anchors = list(anchors)
        self.now = now
        self.decode = decode
        self.audited: list[str] = list(dict.fromkeys(origins))
        self._histories: dict[str, list[History]] = {}
        self._copies: dict[tuple[str, str], tuple[History | None, int]] = {}
        self._seen: list[_Seen] = []
        self._keys: dict[str, dict[str, bytes]] = {}  # learned keys of other origins
        self._issues: list[Issue] = []
        self._unlisted: Counter = Counter()
        self._listed: Counter = Counter()
        self._deferred: list[tuple[History, int, str, Any]] = []
        #: (origin, index, document) of every FederationUpdate entry read.
        self._governance: list[tuple[str, int, bytes]] = []
        self.notes: list[str] = []
        self.sources: list[str] = []
        self._count = 0

    # ------------------------------------------------------------ intake

    def add_issue(self, issue: Issue) -> None:
        key = (issue.origin, issue.kind)
        if self._listed[key] >= MAX_LISTED:
            self._unlisted[key] += 1
            return
        self._listed[key] += 1
        self._issues.append(issue)

    def add_source(self, source: str) -> None:
        if source not in self.sources:
            self.sources.append(source)

    def checkpoint(self, origin: str, source: str, note_text: str, *, evidence: bool = False):
        """Record a signed checkpoint note ``source`` served (or holds as evidence)."""
        if origin not in self.audited:
            self.audited.append(origin)
        self._seen.append(_Seen(origin, source, note_text, evidence))

    def learn_keys(self, origin: str, history: KeyHistory) -> None:
        """Keys certified for an origin that is not audited, for its cosignatures."""
        self._keys.setdefault(origin, {}).update(_trusted_keys(history))

    def copy(self, origin: str, source: str, *, fresh: bool = False) -> Copy:
        """Start reading ``source``'s copy of ``origin``; ``fresh``: a history of its own
        (after the copy diverged from every known one)."""
        if origin not in self.audited:
            self.audited.append(origin)
        self.add_source(source)
        return Copy(self, origin, source, self._new_history(origin) if fresh else None)

    def histories(self, origin: str) -> list[History]:
        """The histories read so far for ``origin`` (usually one)."""
        return list(self._histories.get(origin, []))

    def knows_keys(self, origin: str) -> bool:
        """Whether any certified key of ``origin`` is known."""
        return bool(self._all_keys().get(origin))

    def counts(self) -> tuple[int, int]:
        """(entries checked, entries that verified) over every history."""
        hs = [h for own in self._histories.values() for h in own]
        return sum(h.settled for h in hs), sum(h.verified for h in hs)

    def foreign_keys(self, origin: str) -> dict[str, str]:
        """keyid -> origin for every certified key of an origin other than ``origin``."""
        out: dict[str, str] = {}
        for o, keys in self._all_keys().items():
            if o != origin:
                out.update(dict.fromkeys(keys, o))
        return out

    def add_copy(self, origin: str, source: str, envelopes: Sequence[bytes], batch: int = 1000):
        """Check a whole copy in this process (small logs, tests)."""
        hashes = [merkle.leaf_hash(e) for e in envelopes]
        for attempt in range(2):
            cp = self.copy(origin, source, fresh=attempt == 1)
            for s in range(0, len(envelopes), batch):
                route = cp.route(s, hashes[s : s + batch])
                if route.diverged:
                    break
                if route.verify:
                    assert route.history is not None
                    cp.settle(
                        check_envelopes(
                            origin,
                            s + route.offset,
                            envelopes[s + route.offset : s + batch],
                            route.history.keys,
                            self.anchors,
                            self.decode,
                            now=self.now,
                            foreign=self.foreign_keys(origin),
                        )
                    )
            else:
                cp.end()
                return

    # ------------------------------------------------------- histories

    def _new_history(self, origin: str) -> History:
        own = self._histories.setdefault(origin, [])
        h = History(len(own), origin, keys=KeyHistory(parse_origin(origin)))
        own.append(h)
        return h

    def _apply(self, h: History, result: BatchResult) -> None:
        for issue in result.issues:
            self.add_issue(issue)
        if result.history is not None:
            h.keys = result.history
        h.signed += result.signed
        for fact in result.facts:
            self._fact(h, fact)
        h.settled = result.start + result.count
        h.verified += len(result.facts)

    def _issue(self, kind: str, h: History, idx: int, message: str) -> None:
        where = f" (history {h.number + 1})" if len(self._histories[h.origin]) > 1 else ""
        self.add_issue(Issue(kind, h.origin, message + where, index=idx))

    def _fact(self, h: History, fact: tuple[Any, ...]) -> None:
        """Apply the domain rules (:func:`exchange.core.rules.check_entry`) to one entry.

        The stateless rules were applied by :func:`check_envelopes` (an entry that
        broke them is already reported and changes no state). References into
        another log are checked in :meth:`_resolve_deferred`, once every log is read.
        """
        body, idx, ok = fact[0], fact[1], fact[2]
        h.kinds[body] += 1
        if not ok:
            return
        if body == "federation_update":
            self._governance.append((h.origin, idx, fact[3]))
            return
        where = parse_origin(h.origin)
        federation, region = where.federation, where.region
        entry = _entry_of(body, region, fact, self.decode)
        violations = check_entry(h.state, region, idx, entry, stateless=False)
        for v in violations:
            self._issue(RULE_ISSUES[v.rule], h, idx, _described(v, entry))
        if violations:
            return  # not applied: as on a mirror, it changes no state
        h.state.apply(region, entry)
        msg = getattr(entry, body, None)
        if body == "infringement_case" and msg.protected_issuer != region:
            self._deferred.append((h, idx, f"{federation}/{msg.protected_issuer}", entry))
        elif body == "case_action" and msg.case_region != region:
            self._deferred.append((h, idx, f"{federation}/{msg.case_region}", entry))

    def _resolve_deferred(self) -> None:
        """Check references into other logs against every history read of them.

        Logs have no order between them, so only the rules about what exists and
        who may act are checked here, not whether a case was still open.
        """
        for h, idx, target, entry in self._deferred:
            if not self._histories.get(target):
                what = "record" if body_of(entry) == "infringement_case" else "case"
                ref = entry.infringement_case.protected_record_id if what == "record" else (
                    entry.case_action.case_id
                )  # fmt: skip
                self.notes.append(
                    f"{h.origin} entry {idx}: refers to {what} {ref!r} of {target}, "
                    "which this audit did not download; not checked"
                )
                continue
            where = parse_origin(h.origin)
            federation, region = where.federation, where.region
            reader = _Federation(self._histories, federation)
            for v in check_entry(reader, region, idx, entry, stateless=False):
                if v.rule in _CROSS_LOG_RULES:
                    self._issue(RULE_ISSUES[v.rule], h, idx, v.message)

    # -------------------------------------------------------- checkpoints

    def _all_keys(self) -> dict[str, dict[str, bytes]]:
        out = {o: dict(k) for o, k in self._keys.items()}
        for origin, hs in self._histories.items():
            d = out.setdefault(origin, {})
            for h in hs:
                if h.keys is not None:
                    d.update(_trusted_keys(h.keys))
        return out

    def _checkpoint_keys(
        self, origin: str, seen: _Seen, all_keys: Mapping[str, Mapping[str, bytes]]
    ) -> dict[str, bytes]:
        """The key that signs the checkpoint's size, by the origin's key history.

        Falls back to every key known for the origin when its log was not read
        far enough to know which key signed that size.
        """
        try:
            size = parse_checkpoint_body(parse_note(seen.note_text).text).size
        except FormatError:
            return dict(all_keys.get(origin, {}))
        for h in self._histories.get(origin, []):
            if h.keys is not None and h.keys.size >= size > 0:
                return {life.keyid: life.public_key for life in h.keys.checkpoint_keys(size)}
        return dict(all_keys.get(origin, {}))

    def _checkpoint_time(
        self, origin: str, seen: _Seen, cp: Checkpoint, cosignatures: Mapping[str, int]
    ) -> None:
        """The checkpoint's key must hold a valid certificate at its time evidence."""
        for h in self._histories.get(origin, []):
            if h.keys is None or h.keys.size < cp.size or cp.size == 0:
                continue
            life = h.keys.checkpoint_signer(cp.size)
            if life is None:
                return
            witnessed = [datetime.fromtimestamp(t, UTC) for t in cosignatures.values()]
            try:
                h.keys.check_checkpoint_key(life, cp.size, self.now, witnessed)
            except VerificationError as exc:
                self.add_issue(
                    Issue(
                        "checkpoint",
                        origin,
                        str(exc),
                        source=seen.source,
                        evidence=((f"note from {seen.source}", seen.note_text),),
                    )
                )
            return

    def _open(self, seen: _Seen, keys: Mapping[str, bytes]) -> None:
        try:
            note = parse_note(seen.note_text)
            body = parse_checkpoint_body(note.text)
        except FormatError as exc:
            self.add_issue(
                Issue(
                    "checkpoint",
                    seen.origin,
                    f"malformed checkpoint note: {exc}",
                    source=seen.source,
                    evidence=((f"note from {seen.source}", seen.note_text),),
                )
            )
            return
        if body.origin != seen.origin:
            self.add_issue(
                Issue(
                    "checkpoint",
                    seen.origin,
                    f"checkpoint names origin {body.origin!r}",
                    source=seen.source,
                    evidence=((f"note from {seen.source}", seen.note_text),),
                )
            )
            return
        if not keys:
            self.add_issue(
                Issue(
                    "checkpoint",
                    seen.origin,
                    f"checkpoint of size {body.size} cannot be checked: no key certified for "
                    f"{seen.origin} is known (its log was not downloaded)",
                    source=seen.source,
                )
            )
            return
        last: BrandexError | None = None
        for pub in keys.values():
            try:
                cp, note = open_checkpoint(
                    seen.note_text, Ed25519NoteVerifier(seen.origin, VerifyKey(pub))
                )
            except BrandexError as exc:
                last = exc
                continue
            seen.checkpoint, seen.note = cp, note
            return
        self.add_issue(
            Issue(
                "checkpoint",
                seen.origin,
                f"checkpoint of size {body.size} is not validly signed by a key certified for "
                f"{seen.origin}: {last}",
                source=seen.source,
                evidence=((f"note from {seen.source}", seen.note_text),),
            )
        )

    def _cosignatures(
        self, seen: _Seen, all_keys: Mapping[str, Mapping[str, bytes]], head: _Head
    ) -> dict[str, int]:
        """Check every cosignature on a verified note; return witness -> timestamp."""
        assert seen.note is not None and seen.checkpoint is not None
        out: dict[str, int] = {}
        for sig in seen.note.signatures:
            if sig.name == seen.origin:
                continue
            found = cosigner_key(sig, lambda m: all_keys.get(m, {}).values())
            size = seen.checkpoint.size
            if found is None:
                try:
                    member = parse_witness(sig.name).name
                except FormatError:
                    member = ""
                keys = all_keys.get(member, {}) if member else {}
                why = (
                    f"key id {sig.key_id.hex()} is not a key certified for {member}"
                    if keys
                    else "not a cosigner this audit knows (no certified key for that name)"
                )
                self.add_issue(
                    Issue(
                        "cosignature",
                        seen.origin,
                        f"cosignature by {sig.name} on the checkpoint of size {size}: {why}",
                        source=seen.source,
                    )
                )
                continue
            try:
                ts = CosignatureVerifier(sig.name, VerifyKey(found[1])).verify_cosignature(
                    seen.note.text, sig
                )
            except VerificationError as exc:
                self.add_issue(
                    Issue(
                        "cosignature",
                        seen.origin,
                        f"cosignature by {sig.name} on the checkpoint of size {size}: {exc}",
                        source=seen.source,
                        evidence=((f"note from {seen.source}", seen.note_text),),
                    )
                )
                continue
            out[sig.name] = ts
            head.cosigners.add(sig.name)
        return out

    def _judge_origin(self, origin: str, all_keys: Mapping[str, Mapping[str, bytes]]) -> dict:
        histories = self._histories.get(origin, [])
        heads: dict[tuple[int, bytes], _Head] = {}
        witnesses: dict[str, dict[int, int]] = {}
        checkpoints: list[dict[str, Any]] = []
        for seen in (s for s in self._seen if s.origin == origin):
            self._open(seen, self._checkpoint_keys(origin, seen, all_keys))
            if seen.checkpoint is None:
                continue
            cp = seen.checkpoint
            head = heads.setdefault((cp.size, cp.root_hash), _Head(cp))
            head.notes.append((seen.source, seen.note_text))
            cos = self._cosignatures(seen, all_keys, head)
            for name, ts in cos.items():
                sizes = witnesses.setdefault(name, {})
                sizes[cp.size] = max(ts, sizes.get(cp.size, 0))
            self._checkpoint_time(origin, seen, cp, cos)
            if seen.evidence:
                continue
            # The node's own entries must back its own checkpoint.
            hist, served = self._copies.get((origin, seen.source), (None, 0))
            if cp.size == 0:
                if cp.root_hash != merkle.EMPTY_ROOT:
                    self.add_issue(
                        Issue(
                            "checkpoint",
                            origin,
                            "a checkpoint of size 0 must have the empty tree's root",
                            source=seen.source,
                            evidence=((f"checkpoint from {seen.source}", seen.note_text),),
                        )
                    )
            elif hist is None or served < cp.size:
                self.add_issue(
                    Issue(
                        "checkpoint",
                        origin,
                        f"the node served {served} entries, but its checkpoint commits to "
                        f"{cp.size}",
                        source=seen.source,
                    )
                )
            elif hist.root_at(cp.size) != cp.root_hash:
                self.add_issue(
                    Issue(
                        "checkpoint",
                        origin,
                        f"the entries the node served do not hash to the root of its own "
                        f"signed checkpoint of size {cp.size}",
                        source=seen.source,
                        evidence=((f"checkpoint from {seen.source}", seen.note_text),),
                    )
                )
        for head in heads.values():
            for h in histories:
                if len(h.leaves) >= head.size and h.root_at(head.size) == head.root:
                    head.backed_by = h
                    break
        self._forks(origin, sorted(heads.values(), key=lambda x: (x.size, x.root)))
        for head in sorted(heads.values(), key=lambda x: (x.size, x.root)):
            checkpoints.append(
                {
                    "size": head.size,
                    "root": base64.b64encode(head.root).decode(),
                    "sources": list(dict.fromkeys(s for s, _ in head.notes)),
                    "backed": head.backed_by is not None,
                    "cosigners": sorted(head.cosigners),
                }
            )
        main = max(histories, key=lambda h: len(h.leaves)) if histories else None
        return {
            "entries": len(main.leaves) if main else 0,
            "verified": main.verified if main else 0,
            "kinds": dict(sorted(main.kinds.items())) if main else {},
            "histories": [
                {
                    "entries": len(h.leaves),
                    "verified": h.verified,
                    "kinds": dict(sorted(h.kinds.items())),
                    "nodes": list(h.sources),
                }
                for h in histories
            ],
            "copies": [
                {"node": src, "served": served, "history": hist.number if hist else None}
                for (o, src), (hist, served) in self._copies.items()
                if o == origin
            ],
            "checkpoints": checkpoints,
            "witnesses": {name: sorted(sizes) for name, sizes in sorted(witnesses.items())},
        }

    def _forks(self, origin: str, heads: list[_Head]) -> None:
        """Report each pair of conflicting heads once per pair of histories behind them,
        largest heads first (many lagging nodes on two branches make one fork)."""
        reported: set[frozenset[int]] = set()
        ordered = sorted(heads, key=lambda x: (-x.size, x.root))
        for i, b in enumerate(ordered):
            for a in ordered[i + 1 :]:
                # a.size <= b.size; a head is one (size, root), so a == b never comes up.
                pair = frozenset({id(a.backed_by or a), id(b.backed_by or b)})
                if pair in reported:
                    continue
                if a.size == b.size:
                    why = f"both have size {a.size} but different roots"
                else:
                    tree = b.backed_by
                    if tree is None:
                        continue  # reported as unbacked; nothing to compare against
                    if tree.root_at(a.size) == a.root:
                        continue
                    why = (
                        f"the tree of size {b.size} (whose entries were downloaded and match "
                        f"it) does not have the root of the size-{a.size} checkpoint at size "
                        f"{a.size}: the smaller is not a prefix of the larger"
                    )
                both = sorted(a.cosigners & b.cosigners)
                witnessed = f" Witnesses that cosigned both: {', '.join(both)}." if both else ""
                reported.add(pair)
                self.add_issue(
                    Issue(
                        "fork",
                        origin,
                        f"FORK: two validly signed checkpoints of {origin} conflict: "
                        f"{a.label()} (from {a.sources()}) and {b.label()} (from "
                        f"{b.sources()}); {why}.{witnessed}",
                        source=", ".join(dict.fromkeys([a.sources(), b.sources()])),
                        evidence=(
                            (f"checkpoint {a.label()} from {a.notes[0][0]}", a.notes[0][1]),
                            (f"checkpoint {b.label()} from {b.notes[0][0]}", b.notes[0][1]),
                        ),
                    )
                )

    def _suspects(self) -> None:
        """Report entries signed by a revoked key inside its declared compromise."""
        for hs in self._histories.values():
            for h in hs:
                if h.keys is None:
                    continue
                for idx, keyid, at in h.signed:
                    life = h.keys.keys.get(keyid)
                    if life is not None and life.suspect(at):
                        assert life.compromised_since is not None
                        self._issue(
                            "suspect",
                            h,
                            idx,
                            f"signed by {life.describe()} at {at.isoformat()}, after its "
                            f"compromise since {life.compromised_since.isoformat()} "
                            f"(revoked at entry {life.revoked_at})",
                        )

    def _check_governance(self) -> None:
        """The federation documents the logs carry form one chain (core.federation).

        The lowest version found is the base, checked against its own threshold
        (what came before it is not in the logs read); each later version must
        follow the one before, judged at its own issue time. One version with
        two different documents is a fork of governance.
        """
        by_version: dict[int, dict[str, tuple[str, int, federation_doc.FederationDoc]]] = {}
        for origin, idx, raw in self._governance:
            try:
                doc = federation_doc.parse_document(raw)
            except FormatError as exc:
                self.add_issue(
                    Issue("governance", origin, f"not a federation document: {exc}", index=idx)
                )
                continue
            by_version.setdefault(doc.version, {})[doc.digest] = (origin, idx, doc)
        chain: federation_doc.Chain | None = None
        for version in sorted(by_version):
            docs = list(by_version[version].values())
            if len(docs) > 1:
                where = ", ".join(f"{o} #{i}" for o, i, _ in docs)
                self.add_issue(
                    Issue("governance", docs[0][0], f"fork of governance: version {version} "
                          f"has {len(docs)} different documents ({where})", index=docs[0][1])
                )  # fmt: skip
                continue
            origin, idx, doc = docs[0]
            try:
                if chain is None:
                    chain = federation_doc.Chain.pinned(doc.raw)
                else:
                    chain.offer(doc.raw, doc.issued_at)
            except BrandexError as exc:
                self.add_issue(Issue("governance", origin, f"version {version}: {exc}", index=idx))

    def finish(self, stats: Mapping[str, Any] | None = None) -> AuditResult:
        """Judge everything collected: deferred references, checkpoints, forks."""
        self._resolve_deferred()
        self._suspects()
        self._check_governance()
        all_keys = self._all_keys()
        origins = {o: self._judge_origin(o, all_keys) for o in sorted(self.audited)}
        counts = Counter()
        for i in self._issues:
            counts[i.origin] += 1
        for (o, _), n in self._unlisted.items():
            counts[o] += n
        for o, d in origins.items():
            d["issues"] = counts.get(o, 0)
        order = {k: n for n, k in enumerate(ISSUE_KINDS)}
        issues = sorted(
            self._issues,
            key=lambda i: (i.origin, order.get(i.kind, 99), -1 if i.index is None else i.index),
        )
        return AuditResult(
            sources=list(self.sources),
            origins=origins,
            issues=issues,
            unlisted=dict(self._unlisted),
            notes=list(dict.fromkeys(self.notes)),
            stats=dict(stats or {}),
        )


def _status_name(change: object) -> str:
    try:
        return Status(int(getattr(change, "new_status", 0))).name
    except ValueError:
        return "status change"


#: The audit issue kind each rule of :data:`exchange.core.rules.RULES` is reported as.
RULE_ISSUES: dict[str, str] = {
    "invalid-entry": "invalid-entry",
    "duplicate-record": "duplicate",
    "duplicate-certificate": "duplicate",
    "duplicate-case": "duplicate",
    "status-unknown-record": "status",
    "status-transition": "status",
    "case-unknown-record": "reference",
    "case-unknown": "reference",
    "withdrawal-without-accession": "reference",
    "case-not-party": "case",
    "case-closed": "case",
}

#: Rules about references into another log, checked once every log is read.
_CROSS_LOG_RULES = frozenset({"case-unknown-record", "case-unknown", "case-not-party"})


def _entry_of(body: str, region: str, fact: tuple[Any, ...], decode: Callable) -> Any:
    """An Entry-like object for the rules, from the fields ``_facts`` kept."""
    if body == "recognition":
        record_id, cert_no, recognised_on, valid_from, valid_until, kind = fact[3:]
        msg: Any = SimpleNamespace(
            record_id=record_id,
            certificate_no=cert_no,
            recognised_on=recognised_on,
            valid_from=valid_from,
            valid_until=valid_until,
            kind=kind,
        )
    elif body == "status_change":
        msg = decode(fact[4]).status_change
    elif body == "infringement_case":
        case_id, prot_issuer, prot_record, handling = fact[3:]
        msg = SimpleNamespace(
            case_id=case_id,
            protected_issuer=prot_issuer,
            protected_record_id=prot_record,
            reporting_region=region,
            handling_region=handling,
        )
    elif body == "case_action":
        case_region, case_id, acting, action = fact[3:]
        msg = SimpleNamespace(
            case_region=case_region, case_id=case_id, acting_region=acting, action=action
        )
    elif body in ("accession", "withdrawal"):
        msg = SimpleNamespace(agreement_id=fact[3])
    else:
        msg = SimpleNamespace()
    return SimpleNamespace(region=region, **{body: msg})


def _described(v: Violation, entry: Any) -> str:
    if v.rule == "status-transition":
        change = entry.status_change
        return f"{_status_name(change)} of record {change.record_id!r} is not allowed: {v.message}"
    return v.message


class _Federation:
    """A rules reader over the final state of every history read, for cross-log checks."""

    def __init__(self, histories: Mapping[str, list[History]], federation: str) -> None:
        self._histories = histories
        self._federation = federation

    def _states(self, region: str) -> list[MemoryState]:
        return [h.state for h in self._histories.get(f"{self._federation}/{region}", [])]

    def record(self, issuer: str, record_id: str) -> RecordState | None:
        found = (st.record(issuer, record_id) for st in self._states(issuer))
        return next((r for r in found if r is not None), None)

    def certificate_holder(self, issuer: str, certificate_no: str) -> str | None:
        found = (st.certificate_holder(issuer, certificate_no) for st in self._states(issuer))
        return next((r for r in found if r is not None), None)

    def case(self, case_region: str, case_id: str) -> CaseState | None:
        found = (st.case(case_region, case_id) for st in self._states(case_region))
        return next((c for c in found if c is not None), None)

    def acceded(self, region: str, agreement_id: str) -> bool:
        return any(st.acceded(region, agreement_id) for st in self._states(region))

    def complete(self, region: str) -> bool:
        return bool(self._states(region))
