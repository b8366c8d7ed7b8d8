"""The gRPC services of a node that run its log: log (sync, proofs, status) and admin
(the operator's writes); ``add_services`` registers them with the read services.

Each RPC first establishes who is calling (``identity``), then does its work
through the ledger and the store; errors are mapped to status codes in
``exchange.node.errors`` only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc

from exchange._proto.brandex.v1 import entries_pb2, services_pb2, services_pb2_grpc
from exchange.core import merkle
from exchange.core.errors import (
    BrandexError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from exchange.core.keys import parse_time, resolve_keyid
from exchange.core.records import (
    raise_errors,
    recognition_errors,
    validate_accession,
    validate_case,
    validate_case_action,
    validate_status_change,
    validate_withdrawal,
)
from exchange.core.rules import MemoryState, Violation, check_entry
from exchange.node import requests as checks
from exchange.node import witnessing
from exchange.node.errors import PermissionDenied, abort, translate_errors
from exchange.node.identity import Caller
from exchange.node.read_services import AuditService, RegistryService, WatchService
from exchange.node.service_base import (
    MAX_BATCH,
    MAX_BATCH_BYTES,
    MAX_ISSUE_BATCH,
    NodeContext,
    Service,
    origin_state,
)
from exchange.node.verify import validate_records
from exchange.store import queries
from exchange.store.state import SqliteState
from exchange.store.tx import Tx

__all__ = ["AdminService", "LogService", "NodeContext", "add_services"]


# ------------------------------------------------------------------ LogService


def _by_bytes(start: int, envs: list[bytes], limit: int) -> Iterator[tuple[int, list[bytes]]]:
    """Consecutive runs of ``envs`` of at most ``limit`` bytes (a bigger one alone)."""
    part: list[bytes] = []
    size = 0
    for env in envs:
        if part and size + len(env) > limit:
            yield start, part
            start += len(part)
            part, size = [], 0
        part.append(env)
        size += len(env)
    if part:
        yield start, part


class LogService(Service, services_pb2_grpc.LogServiceServicer):
    @translate_errors
    def ListOrigins(self, request, context):
        self.member(context)
        out = services_pb2.ListOriginsResponse()
        for row in self.node.store.origins():
            if row.checkpoint:
                out.origins.append(origin_state(self.node.ledger, row.origin, row))
        return out

    @translate_errors
    def GetCheckpoint(self, request, context):
        self.member(context)
        checks.get_checkpoint(request, self.node.ledger.federation)
        return origin_state(self.node.ledger, request.origin)

    def GetEntries(self, request, context) -> Iterator[services_pb2.EntryBatch]:
        release = None
        try:
            self.member(context)
            checks.get_entries(request, self.node.ledger.federation)
            release = self.node.streams.open(context, "GetEntries")
            row = self.node.store.origin(request.origin)
            if row is None:
                raise NotFoundError(f"origin {request.origin} is not held here")
            # Serve only what a checkpoint covers: never anything unverified.
            end = min(request.end or row.size, row.size)
            if request.start > end:
                raise ValidationError("start", f"must be <= {end}", request.start)
            # An open-ended request gets at most one call's worth; the caller asks again.
            end = min(end, request.start + checks.MAX_ENTRIES_PER_CALL)
            step = max(1, min(request.batch_size or 1000, MAX_BATCH))
            start = request.start
            while start < end and context.is_active():
                stop = min(start + step, end)
                envs = self.node.store.envelopes(request.origin, start, stop)
                for first, part in _by_bytes(start, envs, MAX_BATCH_BYTES):
                    yield services_pb2.EntryBatch(
                        origin=request.origin, start=first, envelopes=part
                    )
                start = stop
        except BrandexError as exc:
            abort(context, exc)
        finally:
            if release is not None:
                release()

    def WatchCheckpoints(self, request, context):
        try:
            self.member(context)
            release = self.node.streams.open(context, "WatchCheckpoints")
        except BrandexError as exc:
            abort(context, exc)
            return
        try:
            yield from self._watch(context)
        finally:
            release()

    def _watch(self, context) -> Iterator[services_pb2.OriginState]:
        ledger = self.node.ledger
        sent: dict[str, tuple[int, str]] = {}
        version = -1
        while context.is_active() and not ledger.closing.is_set():
            new_version = ledger.wait_for_change(version, timeout=1.0)
            try:  # a certificate revoked or expired since the stream opened ends it
                self.member(context)
            except BrandexError as exc:
                abort(context, exc)
                return
            if new_version == version:
                continue
            changed = ledger.changed_since(version) if version >= 0 else None
            version = new_version
            if changed is not None and changed <= sent.keys():
                # Only heads this stream already sends changed: re-read just those.
                rows = [r for r in map(ledger.store.origin, sorted(changed)) if r and r.checkpoint]
            else:
                gov = ledger.governance
                rows = [
                    r
                    for r in ledger.store.origins()
                    if r.checkpoint and checks.acceptable_origin(r.origin, ledger.federation)
                ][: checks.watch_limit(len(gov.latest.members) if gov is not None else 0)]
                held = {r.origin for r in rows}
                for gone in [o for o in sent if o not in held]:  # never more than it streams
                    del sent[gone]
            for row in rows:
                state = origin_state(ledger, row.origin, row)
                key = (state.size, state.checkpoint)
                if sent.get(row.origin) != key:
                    sent[row.origin] = key
                    yield state

    @translate_errors
    def GetNodeStatus(self, request, context):
        self.member(context)
        store, ledger = self.node.store, self.node.ledger
        out = services_pb2.NodeStatus(
            name=self.node.name,
            region=self.node.region,
            origin=ledger.origin,
            started_at=self.node.started_at,
        )
        violations = store.violation_counts()
        suspects = store.suspect_count()
        origins = store.origins()
        if len(origins) > checks.MAX_STATUS_ORIGINS:
            origins, out.truncated = origins[: checks.MAX_STATUS_ORIGINS], True
        for row in origins:
            out.origins.append(
                services_pb2.OriginStatus(
                    origin=row.origin,
                    size=row.size,
                    frozen=row.frozen,
                    frozen_reason=row.frozen_reason,
                    indexed=row.indexed,
                    cosigners=[w for w, _, _ in store.cosignatures(row.origin, row.size)],
                    violations=violations.get(row.origin, 0),
                    suspects=suspects.get(row.origin, 0),
                )
            )
        for v in store.violations(limit=10):
            out.violations.append(
                services_pb2.Violation(
                    origin=v["origin"], index=v["idx"], rule=v["rule"], message=v["message"]
                )
            )
        for st in self.node.peer_states():
            out.peers.append(
                services_pb2.PeerStatus(
                    address=st.address,
                    region=st.region,
                    reachable=st.reachable,
                    last_sync=st.last_sync,
                    last_error=st.last_error,
                    sizes=st.sizes,
                    backoff_until=st.backoff_text(),
                )
            )
        gov = ledger.governance
        if gov is not None:
            out.federation_version = gov.latest.version
            out.federation_warning = gov.warning() or ""
            out.federation_expired = gov.expired()
            for ev in gov.evidence()[: checks.MAX_EVIDENCE]:
                out.governance_evidence.append(services_pb2.GovernanceEvidence(**ev))
        evidence = store.evidence()
        if len(evidence) > checks.MAX_EVIDENCE:  # the most recent
            evidence, out.truncated = evidence[-checks.MAX_EVIDENCE :], True
        for ev in evidence:
            out.evidence.append(
                services_pb2.Evidence(
                    origin=ev["origin"],
                    note_a=ev["note_a"],
                    note_b=ev["note_b"],
                    source=ev["source"],
                    detail=ev["detail"],
                    detected_at=ev["detected_at"],
                )
            )
        return out

    @translate_errors
    def GetFederation(self, request, context):
        self.member(context)
        gov = self.node.ledger.governance
        if gov is None:
            raise NotFoundError("this node runs without a federation document")
        docs = gov.documents_from(request.from_version)[:_MAX_FEDERATION_DOCS]
        return services_pb2.FederationDocuments(documents=docs, latest=gov.latest.version)

    @translate_errors
    def GetConsistencyProof(self, request, context):
        self.reader(context, "GetConsistencyProof")
        checks.consistency(request, self.node.ledger.federation)
        row = self.node.store.origin(request.origin)
        if row is None:
            raise NotFoundError(f"origin {request.origin} is not held here")
        if not 0 < request.size1 <= request.size2 <= row.size:
            raise ValidationError(
                "size1/size2",
                f"need 0 < size1 <= size2 <= {row.size}",
                (request.size1, request.size2),
            )
        proof = merkle.consistency_proof(
            request.size1, request.size2, self.node.store.hash_reader(request.origin)
        )
        return services_pb2.ConsistencyResponse(proof=proof)


# ---------------------------------------------------------------- AdminService


class AdminService(Service, services_pb2_grpc.AdminServiceServicer):
    """The operator's write RPCs: each entry passes :func:`exchange.core.rules.check_entry`
    against this node's tables before it is signed, and again inside the write lock."""

    def _issue_one(self, field: str, msg: Any, check, caller: Caller) -> services_pb2.IssueResponse:
        start, envs = self.node.ledger.issue([(field, msg)], check=check, actor=caller.actor)
        return services_pb2.IssueResponse(
            origin=self.node.ledger.origin, index=start, envelope=envs[0]
        )

    def _issue_checked(self, field: str, msg: Any, caller: Caller) -> services_pb2.IssueResponse:
        """Issue one entry that the domain rules allow (checked again inside the lock)."""
        return self._issue_one(field, msg, self._checked(field, msg), caller)

    def _violations(self, conn: Any, field: str, msg: Any) -> list[Violation]:
        entry = SimpleNamespace(region=self.node.region, **{field: msg})
        return check_entry(SqliteState(conn, complete=True), self.node.region, -1, entry)

    def _state(self) -> SqliteState:
        return SqliteState(self.node.store.read, complete=True)

    def _checked(self, field: str, msg: Any) -> Callable[[Tx, list], None]:
        """The in-lock check of one entry: refuse it if it breaks any rule."""

        def check(tx: Tx, bodies: list) -> None:
            _refuse(self._violations(tx.conn, field, msg))

        return check

    @translate_errors
    def Issue(self, request, context):
        caller = self.operator(context)
        violations = self._violations(self.node.store.read, "recognition", request)
        if _same_record(violations, self._state(), self.node.region, request):
            existing = queries.record_row(self.node.store.read, self.node.region, request.record_id)
            assert existing is not None
            return services_pb2.IssueResponse(
                origin=existing["origin"],
                index=existing["idx"],
                duplicate=True,
                envelope=self.node.store.envelope(existing["origin"], existing["idx"]),
            )
        _refuse(violations, request)

        def check(tx: Tx, bodies: list) -> None:
            if self._violations(tx.conn, "recognition", request):
                raise ConflictError(f"record {request.record_id} was issued meanwhile")

        return self._issue_one("recognition", request, check, caller)

    def _partition(self, conn: Any, records: list) -> tuple[list, int]:
        """Split (already validated) records into new ones and exact re-issues.

        A record whose id or certificate number is taken by a *different* record
        breaks a duplicate rule: re-importing a file must add nothing, never
        overwrite. The ids and numbers are looked up in a few set-based queries.
        """
        region = self.node.region
        base = SqliteState(conn, complete=True)
        base.prefetch(region, (r.record_id for r in records), (r.certificate_no for r in records))
        state = MemoryState(base)
        fresh, dup = [], 0
        for rec in records:
            entry = SimpleNamespace(region=region, recognition=rec)
            violations = check_entry(state, region, -1, entry, stateless=False)
            if _same_record(violations, state, region, rec):
                dup += 1
                continue
            _refuse(violations, rec)
            state.apply(region, entry)
            fresh.append(rec)
        return fresh, dup

    def _batch_errors(self, records: list) -> list[ValidationError]:
        """Every problem of every record; in worker processes for big batches."""
        pool, region, step = self.node.ledger.pool, self.node.region, 500
        if pool is None or len(records) < 2 * step:
            return [
                ValidationError(f"records[{i}].{e.field}", e.rule, e.value)
                for i, rec in enumerate(records)
                for e in recognition_errors(rec, issuer=region)
            ]
        futures = [
            (
                start,
                pool.submit(
                    validate_records,
                    region,
                    [r.SerializeToString() for r in records[start : start + step]],
                ),
            )
            for start in range(0, len(records), step)
        ]
        return [
            ValidationError(f"records[{start + i}].{field}", rule, value or None)
            for start, fut in futures
            for i, field, rule, value in fut.result()
        ]

    @translate_errors
    def IssueBatch(self, request, context):
        caller = self.operator(context)
        if len(request.records) > MAX_ISSUE_BATCH:
            raise ValidationError(
                "records", f"at most {MAX_ISSUE_BATCH} per call", len(request.records)
            )
        raise_errors(self._batch_errors(list(request.records)))
        fresh, dup = self._partition(self.node.store.read, list(request.records))
        if not fresh:
            return services_pb2.IssueBatchResponse(added=0, duplicates=dup)

        def check(tx: Tx, bodies: list) -> None:
            # Signed outside the lock; re-checked inside it against a concurrent import.
            try:
                again, _ = self._partition(tx.conn, [rec for _, rec in bodies])
            except ConflictError:
                again = []
            if len(again) != len(bodies):
                raise ConflictError("some of these records were issued meanwhile; retry")

        start, envs = self.node.ledger.issue(
            [("recognition", r) for r in fresh], check=check, actor=caller.actor
        )
        return services_pb2.IssueBatchResponse(first_index=start, added=len(envs), duplicates=dup)

    @translate_errors
    def ChangeStatus(self, request, context):
        caller = self.operator(context)
        validate_status_change(request, issuer=self.node.region)
        return self._issue_checked("status_change", request, caller)

    @translate_errors
    def ReportCase(self, request, context):
        caller = self.operator(context)
        validate_case(request, issuer=self.node.region)
        return self._issue_checked("infringement_case", request, caller)

    @translate_errors
    def ActOnCase(self, request, context):
        caller = self.operator(context)
        validate_case_action(request, issuer=self.node.region)
        return self._issue_checked("case_action", request, caller)

    @translate_errors
    def Accede(self, request, context):
        caller = self.operator(context)
        validate_accession(request, issuer=self.node.region)
        return self._issue_checked("accession", request, caller)

    @translate_errors
    def Withdraw(self, request, context):
        caller = self.operator(context)
        validate_withdrawal(request, issuer=self.node.region)
        return self._issue_checked("withdrawal", request, caller)

    @translate_errors
    def RotateKey(self, request, context):
        caller = self.operator(context)
        if self.node.rotate_key is None:
            raise ConflictError("this node cannot rotate its key (no key files configured)")
        start, envs = self.node.rotate_key(
            Path(request.key_path), Path(request.certificate_path), caller.actor
        )
        return services_pb2.IssueResponse(
            origin=self.node.ledger.origin, index=start, envelope=envs[0]
        )

    @translate_errors
    def PublishFederation(self, request, context):
        """Accept the next federation document, then log it in the own log (its history
        is auditable there); a refused document is kept as evidence and the error says why."""
        caller = self.operator(context)
        gov = self.node.ledger.governance
        if gov is None:
            raise ConflictError(
                "this node runs without a federation document (set federation_document)"
            )
        doc = gov.publish(bytes(request.document))
        update = entries_pb2.FederationUpdate(document=doc.raw, version=doc.version)
        start, _ = self.node.ledger.issue([("federation_update", update)], actor=caller.actor)
        row = self.node.store.origin(self.node.ledger.origin)
        return services_pb2.PublishFederationResponse(
            version=doc.version, index=start, checkpoint=row.checkpoint if row else ""
        )

    @translate_errors
    def RevokeKey(self, request, context):
        caller = self.operator(context)
        history = self.node.ledger.history(self.node.ledger.origin)
        keyid = resolve_keyid(history, request.keyid)
        parse_time(request.compromised_since, "compromised_since")
        start, envs = self.node.ledger.revoke(
            keyid, request.compromised_since, request.reason_text, actor=caller.actor
        )
        return services_pb2.IssueResponse(
            origin=self.node.ledger.origin, index=start, envelope=envs[0]
        )


#: Federation document versions one GetFederation answer carries at most.
_MAX_FEDERATION_DOCS = 64


#: The error an issuing node refuses with, per rule (``invalid-entry`` raises the
#: validators' own errors, ``status-transition`` the state machine's).
_REFUSALS: dict[str, type[BrandexError]] = {
    "duplicate-record": ConflictError,
    "duplicate-certificate": ConflictError,
    "duplicate-case": ConflictError,
    "case-unknown-record": NotFoundError,
    "status-unknown-record": NotFoundError,
    "status-transition": ConflictError,
    "case-unknown": NotFoundError,
    "case-not-party": PermissionDenied,
    "case-closed": ConflictError,
    "withdrawal-without-accession": ConflictError,
}


def _refuse(violations: list[Violation], rec: Any = None) -> None:
    """Raise the user-facing error for the first broken rule (nothing if none)."""
    if not violations:
        return
    invalid = [v.error for v in violations if v.rule == "invalid-entry" and v.error]
    if invalid:
        raise_errors(invalid)  # type: ignore[arg-type]
    first = violations[0]
    if first.error is not None:
        raise first.error
    message = "; ".join(v.message for v in violations)
    if rec is not None:  # a recognition: name both keys, as an importer reads them
        message = f"record {rec.record_id} / certificate {rec.certificate_no}: {message}"
    raise _REFUSALS.get(first.rule, ConflictError)(message)


def _same_record(violations: list[Violation], reader: Any, region: str, rec: Any) -> bool:
    """Whether the only broken rule is that this very record was issued already."""
    if [v.rule for v in violations] != ["duplicate-record"]:
        return False
    existing = reader.record(region, rec.record_id)
    return existing is not None and existing.certificate_no == rec.certificate_no


# -------------------------------------------------------------- WitnessService


class WitnessService(Service, services_pb2_grpc.WitnessServiceServicer):
    """C2SP tlog-witness add-checkpoint: cosign an origin's checkpoint that extends what
    this node cosigned before (exchange.node.witnessing, rule in exchange.core.witness)."""

    @translate_errors
    def AddCheckpoint(self, request, context):
        self.reader(context, "AddCheckpoint")
        line = witnessing.add_checkpoint(
            self.node.ledger,
            request.checkpoint,
            request.old_size,
            list(request.consistency_proof),
        )
        return services_pb2.AddCheckpointResponse(cosignature=line.to_line())


def add_services(server: grpc.Server, node: NodeContext) -> list[str]:
    """Register every brandex service; returns their full names (for reflection)."""
    services_pb2_grpc.add_LogServiceServicer_to_server(LogService(node), server)
    services_pb2_grpc.add_AdminServiceServicer_to_server(AdminService(node), server)
    services_pb2_grpc.add_RegistryServiceServicer_to_server(RegistryService(node), server)
    services_pb2_grpc.add_AuditServiceServicer_to_server(AuditService(node), server)
    services_pb2_grpc.add_WatchServiceServicer_to_server(WatchService(node), server)
    services_pb2_grpc.add_WitnessServiceServicer_to_server(WitnessService(node), server)
    d = services_pb2.DESCRIPTOR
    return [
        d.services_by_name[n].full_name
        for n in (
            "LogService",
            "AdminService",
            "RegistryService",
            "AuditService",
            "WatchService",
            "WitnessService",
        )
    ]
