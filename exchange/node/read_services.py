"""The read services of a node: registry (search, records, check, cases,
agreements), audit (proofs and bundles) and watch (change streams).

Each RPC establishes who is calling (``Service.member``/``reader``) and answers
from the store; errors are mapped to status codes in ``exchange.node.errors``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime

from exchange._proto.brandex.v1 import entries_pb2, services_pb2, services_pb2_grpc
from exchange.core import merkle, regions
from exchange.core.dsse import parse_envelope
from exchange.core.errors import (
    BrandexError,
    NotFoundError,
    ValidationError,
)
from exchange.core.recognition import decide, recognised_regions, status_on
from exchange.core.tlogproof import TlogProof, format_tlog_proof
from exchange.node import requests as checks
from exchange.node.errors import abort, translate_errors
from exchange.node.service_base import NodeContext, Service
from exchange.node.watch import Cursor, Watcher, WatchFilter
from exchange.store import queries

__all__ = ["AuditService", "RegistryService", "WatchService", "record_view", "record_views"]


# ------------------------------------------------------------- RegistryService


def _provenance(
    node: NodeContext, origin: str, idx: int, *, evidence: bool = True
) -> services_pb2.Provenance:
    """Where an entry is and who cosigned its log; with ``evidence``, also the time
    evidence for this entry (its signer and claimed time, the earliest witness)."""
    row = node.store.origin(origin)
    size = row.size if row else 0
    cos = [w for w, _, _ in node.store.cosignatures(origin, size)] if row else []
    out = services_pb2.Provenance(origin=origin, index=idx, checkpoint_size=size, cosigners=cos)
    gov = node.ledger.governance
    if gov is not None:
        policy = gov.latest.policy
        out.confirmation, out.confirmed = policy.describe(cos), policy.holds(cos)
    if not evidence:
        return out
    first, out.witnesses = node.store.witnessed(origin, idx)
    if first is not None:
        out.witnessed_at = datetime.fromtimestamp(first, UTC).isoformat(timespec="seconds")
    if row is not None and idx < size:
        env = parse_envelope(node.store.envelope(origin, idx))
        out.issued_at = entries_pb2.Entry.FromString(env.payload).issued_at
        out.signing_key = env.signatures[0][0] if env.signatures else ""
    return out


#: The Recognition fields a records row holds as they are (nice_classes is JSON);
#: listed once instead of walking the descriptor's field map for every hit.
_RECOGNITION_FIELDS = tuple(
    k for k in entries_pb2.Recognition.DESCRIPTOR.fields_by_name if k != "nice_classes"
)


def _recognition_msg(row: dict) -> entries_pb2.Recognition:
    fields = {k: row[k] for k in _RECOGNITION_FIELDS if k in row}
    return entries_pb2.Recognition(nice_classes=json.loads(row["nice_classes"]), **fields)


def record_views(
    node: NodeContext, found: list[dict], on: date, conn
) -> list[services_pb2.RecordView]:
    """Views of several records, reading the agreements, log heads and the records'
    status changes once."""
    accessions, withdrawals = queries.accession_facts(conn), queries.withdrawal_facts(conn)
    changes_of = queries.change_facts_of(conn, [(r["issuer"], r["record_id"]) for r in found])
    heads: dict[str, services_pb2.Provenance] = {}
    out = []
    for row in found:
        facts = queries.record_facts(row)
        changes = changes_of[(row["issuer"], row["record_id"])]
        st = status_on(facts, changes, on)
        if row["origin"] not in heads:
            heads[row["origin"]] = _provenance(node, row["origin"], 0, evidence=False)
        prov = services_pb2.Provenance()
        prov.CopyFrom(heads[row["origin"]])
        prov.index = row["idx"]
        out.append(
            services_pb2.RecordView(
                issuer=row["issuer"],
                issuer_name=regions.region_name(row["issuer"]),
                record=_recognition_msg(row),
                status_today=st.status,
                valid_until=st.valid_until.isoformat() if st.valid_until else "",
                provenance=prov,
                recognised_in=recognised_regions(facts, changes, accessions, withdrawals, on),
            )
        )
    return out


def record_view(node: NodeContext, row: dict, on: date, conn) -> services_pb2.RecordView:
    return record_views(node, [row], on, conn)[0]


class RegistryService(Service, services_pb2_grpc.RegistryServiceServicer):
    @translate_errors
    def Search(self, request, context):
        self.reader(context, "Search")
        checks.search(request)
        on = self._on(request.today)
        conn = self.node.store.read
        found = queries.search(
            conn, request, on, with_facets=request.facets, facet_index=self.node.store.facet_index()
        )
        return services_pb2.SearchResponse(
            records=record_views(self.node, found.rows, on, conn),
            total=found.total,
            total_is_lower_bound=found.capped,
            facets=[
                services_pb2.Facet(
                    field=name,
                    counts=[
                        services_pb2.FacetCount(value=v, count=n) for v, n in counts.most_common()
                    ],
                )
                for name, counts in found.facets.items()
            ],
            facets_over=found.facets_over,
            facets_partial=found.facets_partial,
            typo=found.typo,
        )

    @translate_errors
    def GetRecord(self, request, context):
        self.reader(context, "GetRecord")
        checks.get_record(request)
        on = self._on(request.today)
        conn = self.node.store.read
        row = queries.record_row(conn, request.issuer, request.record_id)
        if row is None:
            raise NotFoundError(
                f"record {request.issuer}/{request.record_id} is not known here"
                + _broken_rules(self.node, f"{request.issuer}/{request.record_id}")
            )
        out = services_pb2.RecordHistory(view=record_view(self.node, row, on, conn))
        out.view.provenance.CopyFrom(_provenance(self.node, row["origin"], row["idx"]))
        for r in queries.change_rows(conn, request.issuer, request.record_id):
            env = entries_pb2.Entry.FromString(_payload(self.node, r["origin"], r["idx"]))
            out.events.append(
                services_pb2.StatusEvent(
                    change=env.status_change,
                    issued_at=env.issued_at,
                    provenance=_provenance(self.node, r["origin"], r["idx"]),
                )
            )
        cases, _ = _cases(self.node, conn, record=(request.issuer, request.record_id))
        out.cases.extend(cases)
        return out

    @translate_errors
    def Check(self, request, context):
        self.reader(context, "Check")
        checks.check(request)
        on = self._on(request.on)
        conn = self.node.store.read
        which = request.WhichOneof("subject")
        if which == "uscc":
            found = queries.find_records(conn, uscc=request.uscc)
        elif which == "brand":
            found = queries.find_records(conn, brand=request.brand)
        elif which == "record":
            found = queries.find_records(
                conn, issuer=request.record.issuer, record_id=request.record.record_id
            )
        else:
            raise ValidationError("subject", "give a USCC, a brand name or a record")
        if not found:
            why = (
                _broken_rules(self.node, f"{request.record.issuer}/{request.record.record_id}")
                if which == "record"
                else ""
            )
            raise NotFoundError(f"no record matches {getattr(request, which or 'uscc')!s}{why}")
        accs, wds = queries.accession_facts(conn), queries.withdrawal_facts(conn)
        out = services_pb2.CheckResponse()
        changes_of = queries.change_facts_of(
            conn, [(r["issuer"], r["record_id"]) for r in found[:50]]
        )
        for row in found[:50]:
            facts = queries.record_facts(row)
            d = decide(
                facts,
                changes_of[(row["issuer"], row["record_id"])],
                accs,
                wds,
                request.region,
                on,
            )
            result = services_pb2.CheckResult(
                record=services_pb2.RecordRef(issuer=row["issuer"], record_id=row["record_id"]),
                brand_name=row["brand_name"],
                recognised=d.recognised,
            )
            for reason in d.reasons:
                result.reasons.append(
                    services_pb2.Reason(
                        code=reason.code,
                        text=reason.text,
                        entries=[_provenance(self.node, r.origin, r.index) for r in reason.refs],
                    )
                )
            out.results.append(result)
        return out

    @translate_errors
    def ListCases(self, request, context):
        self.reader(context, "ListCases")
        checks.list_cases(request)
        conn = self.node.store.read
        record = (
            (request.record.issuer, request.record.record_id)
            if request.HasField("record")
            else None
        )
        cases, truncated = _cases(
            self.node,
            conn,
            record=record,
            brand=request.brand,
            region=request.region,
            open_only=request.open_only,
            limit=request.limit or checks.MAX_LIST,
            offset=request.offset,
        )
        return services_pb2.ListCasesResponse(cases=cases, truncated=truncated)

    @translate_errors
    def ListAgreements(self, request, context):
        self.reader(context, "ListAgreements")
        conn = self.node.store.read
        views: dict[str, services_pb2.AgreementView] = {}
        accessions = queries.accession_rows(conn, checks.MAX_ACCESSIONS + 1)
        truncated = len(accessions) > checks.MAX_ACCESSIONS
        for r in accessions[: checks.MAX_ACCESSIONS]:
            v = views.setdefault(
                r["agreement_id"],
                services_pb2.AgreementView(agreement_id=r["agreement_id"], title=r["title"]),
            )
            v.accessions.append(
                entries_pb2.Accession(
                    agreement_id=r["agreement_id"],
                    title=r["title"],
                    region=r["region"],
                    covered_kinds=json.loads(r["covered_kinds"]),
                    effective_from=r["effective_from"],
                    effective_until=r["effective_until"],
                )
            )
            for k in json.loads(r["covered_kinds"]):
                if k not in v.covered_kinds:
                    v.covered_kinds.append(k)
        for r in queries.withdrawal_rows(conn, checks.MAX_ACCESSIONS):
            if r["agreement_id"] in views:
                views[r["agreement_id"]].withdrawals.append(
                    entries_pb2.Withdrawal(
                        agreement_id=r["agreement_id"],
                        region=r["region"],
                        effective_on=r["effective_on"],
                        reason_text=r["reason_text"],
                    )
                )
        return services_pb2.ListAgreementsResponse(
            agreements=list(views.values()), truncated=truncated
        )


def _broken_rules(node: NodeContext, subject: str) -> str:
    """Say which logged entries about ``subject`` broke a rule and were not applied."""
    found = node.store.violations(limit=3, subject=subject)
    return "".join(
        f"; entry {v['origin']} #{v['idx']} about it broke rule {v['rule']} and was not"
        f" applied ({v['message']})"
        for v in found
    )


def _payload(node: NodeContext, origin: str, idx: int) -> bytes:
    return parse_envelope(node.store.envelope(origin, idx)).payload


def _cases(
    node: NodeContext,
    conn,
    *,
    record=None,
    brand="",
    region="",
    open_only=False,
    limit: int = checks.MAX_LIST,
    offset: int = 0,
) -> tuple[list[services_pb2.CaseView], bool]:
    """At most ``limit`` cases from ``offset`` and ``MAX_ANSWER_BYTES``; True: more match."""
    found = queries.case_rows(
        conn,
        record=record,
        brand_like=checks.like_pattern(brand) if brand else "",
        region=region,
        open_only=open_only,
        limit=limit + 1,
        offset=offset,
    )
    truncated = len(found) > limit
    out: list[services_pb2.CaseView] = []
    size = 0
    for c in found[:limit]:
        entry = entries_pb2.Entry.FromString(_payload(node, c["origin"], c["idx"]))
        view = services_pb2.CaseView(
            case_region=c["case_region"],
            case=entry.infringement_case,
            provenance=_provenance(node, c["origin"], c["idx"]),
            open=bool(c["open"]),
            brand_name=c["brand_name"],
        )
        for a in queries.case_action_refs(conn, c["case_region"], c["case_id"], checks.MAX_ACTIONS):
            view.actions.append(
                entries_pb2.Entry.FromString(_payload(node, a["origin"], a["idx"])).case_action
            )
        size += view.ByteSize()
        if out and size > checks.MAX_ANSWER_BYTES:
            return out, True
        out.append(view)
    return out, truncated


# ---------------------------------------------------------------- AuditService


class AuditService(Service, services_pb2_grpc.AuditServiceServicer):
    @translate_errors
    def GetInclusionProof(self, request, context):
        self.reader(context, "GetInclusionProof")
        checks.inclusion(request, self.node.ledger.federation)
        row = self.node.store.origin(request.origin)
        if row is None:
            raise NotFoundError(f"origin {request.origin} is not held here")
        size = request.size or row.size
        if size > row.size or request.index >= size:
            raise ValidationError("index", f"must be < size {size} <= {row.size}", request.index)
        proof = merkle.inclusion_proof(
            request.index, size, self.node.store.hash_reader(request.origin)
        )
        note = self.node.ledger.checkpoint_with_cosignatures(request.origin, size)
        return services_pb2.InclusionResponse(
            index=request.index,
            envelope=self.node.store.envelope(request.origin, request.index),
            proof=proof,
            checkpoint=note,
            tlog_proof=format_tlog_proof(TlogProof(request.index, proof, note)),
        )

    @translate_errors
    def GetBundle(self, request, context):
        self.reader(context, "GetBundle")
        checks.bundle(request)
        from exchange.node.bundles import build_bundle

        return services_pb2.BundleResponse(
            bundle_json=build_bundle(
                self.node.ledger, request.record.issuer, request.record.record_id
            )
        )


class WatchService(Service, services_pb2_grpc.WatchServiceServicer):
    """Watches (exchange.node.watch): one stream slot each, ended when the node stops."""

    #: Seconds between "cursor" events while nothing matches (a keepalive that
    #: also moves the client's resume point past entries it did not want).
    HEARTBEAT = 15.0

    def Watch(self, request, context):
        try:
            self.member(context)
            checks.watch(request)
            cursor = Cursor.decode(request.cursor) if request.cursor else None
            watcher = Watcher(self.node.store, WatchFilter.of(request), cursor)
            release = self.node.streams.open(context, "Watch")
        except BrandexError as exc:
            abort(context, exc)
            return
        try:
            yield from self._stream(context, watcher)
        finally:
            release()

    def _stream(self, context, watcher: Watcher) -> Iterator[services_pb2.WatchEvent]:
        ledger = self.node.ledger
        version = ledger.version
        yield watcher.position()
        sent, quiet = watcher.cursor.encode(), 0.0
        while context.is_active() and not ledger.closing.is_set():
            events = list(watcher.poll())
            yield from events
            now = watcher.cursor.encode()
            if events or watcher.more:
                if events:
                    sent, quiet = now, 0.0
                continue  # more is waiting past the chunk read
            if quiet >= self.HEARTBEAT and now != sent:
                sent, quiet = now, 0.0
                yield watcher.position()
            new_version = ledger.wait_for_change(version, timeout=1.0)
            quiet += 1.0 if new_version == version else 0.0
            version = new_version
            try:  # a certificate revoked or expired since the stream opened ends it
                self.member(context)
            except BrandexError as exc:
                abort(context, exc)
                return
