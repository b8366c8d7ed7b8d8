"""A typed client of one node: the read-side RPCs as methods returning dataclasses.

Built from a node config (its address, operator certificate and anchors) or
from explicit paths; a staff console passes its staff certificate the same way.
Every method raises :mod:`exchange.client.errors` (core errors), never
``grpc.RpcError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from exchange._proto.brandex.v1 import entries_pb2, services_pb2, services_pb2_grpc
from exchange.client import types as t
from exchange.client.admin import AdminCalls
from exchange.client.convert import from_message
from exchange.client.errors import RemoteNotFound, remote_errors
from exchange.core.errors import BrandexError
from exchange.core.origin import parse_origin
from exchange.node.config import NodeConfig, load_config
from exchange.node.identity import channel_credentials, load_anchors, open_channel

__all__ = ["NodeClient", "kind_names"]

#: Seconds a call may take before it counts as unreachable.
TIMEOUT = 60


def kind_names() -> list[str]:
    """The recognition kinds a search or an agreement can name."""
    return [n for n in entries_pb2.RecognitionKind.keys() if not n.endswith("UNSPECIFIED")]  # noqa: SIM118


def _str(value: object) -> str:
    return "" if value is None else str(value)


#: The initial-metadata key under which a node sends what every answer should say
#: (exchange.node.observe.RpcInterceptor.WARNING_KEY).
WARNING_KEY = "brandex-warning"


class _Warnings(grpc.UnaryUnaryClientInterceptor):
    """Collects the warnings nodes attach to their answers (each text once)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def intercept_unary_unary(self, continuation, client_call_details, request):
        outcome = continuation(client_call_details, request)
        try:
            metadata = outcome.initial_metadata() or ()
        except Exception:  # a failed call: the error says what matters
            metadata = ()
        for key, value in metadata:
            if key == WARNING_KEY and value not in self.seen:
                self.seen.append(value)
        return outcome


@dataclass
class NodeClient(AdminCalls):
    """An open mTLS channel to one node, and the calls staff and operators make.

    ``warnings`` collects what the node says with its answers whatever the
    question (its federation document expired, say); a caller shows them."""

    address: str
    channel: grpc.Channel
    config: NodeConfig | None = None
    warnings: list[str] = field(default_factory=list)

    # ------------------------------------------------------------ connecting

    @classmethod
    def connect(
        cls,
        address: str,
        *,
        cert: Path,
        key: Path,
        anchors: list[Path],
        config: NodeConfig | None = None,
    ) -> NodeClient:
        """A client presenting ``cert``/``key``, trusting the CA certificates in ``anchors``."""
        anchors_pem, _ = load_anchors(anchors)
        creds = channel_credentials(cert, key, anchors_pem)
        warnings = _Warnings()
        channel = grpc.intercept_channel(open_channel(address, creds), warnings)
        client = cls(address, channel, config)
        client.warnings = warnings.seen
        return client

    @classmethod
    def from_config(
        cls,
        config: NodeConfig | Path | str,
        *,
        node: str | None = None,
        cert: Path | None = None,
        key: Path | None = None,
    ) -> NodeClient:
        """A client for the node a config describes (or ``node``, another member's
        address, asked with the same certificate), with the config's operator
        certificate unless ``cert``/``key`` (a staff certificate, say) are given."""
        if not isinstance(config, NodeConfig):
            config = load_config(config)
        config.require_files("anchors", *(() if cert else ("tls.operator_cert",)))
        config.require_files(*(() if key else ("tls.operator_key",)))
        return cls.connect(
            node or config.listen,
            cert=cert or config.operator_cert,
            key=key or config.operator_key,
            anchors=list(config.anchors),
            config=config,
        )

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stub(self, cls: type) -> Any:
        """A generated stub on this channel (for the admin calls not wrapped yet)."""
        return cls(self.channel)

    @property
    def _registry(self) -> Any:
        return services_pb2_grpc.RegistryServiceStub(self.channel)

    @property
    def _log(self) -> Any:
        return services_pb2_grpc.LogServiceStub(self.channel)

    # -------------------------------------------------------------- registry

    def search(
        self,
        text: str = "",
        *,
        region: str | None = None,
        issuer: str | None = None,
        kind: str | None = None,
        nice_class: int | None = None,
        status: str | None = None,
        valid_on: object = None,
        uscc: str | None = None,
        enterprise: str | None = None,
        limit: int = 20,
        offset: int = 0,
        today: object = None,
        facets: bool = False,
    ) -> t.SearchResult:
        """Records matching ``text`` (characters, pinyin, initials) and the filters,
        ranked (exact brand, then valid records), with facet counts if asked for."""
        req = services_pb2.SearchRequest(
            text=text or "",
            region=_str(region),
            issuer=_str(issuer),
            kind=entries_pb2.RecognitionKind.Value(kind.upper()) if kind else 0,
            nice_class=nice_class or 0,
            status=_str(status),
            valid_on=_str(valid_on),
            uscc=_str(uscc),
            enterprise=_str(enterprise),
            limit=limit,
            offset=offset,
            today=_str(today),
            facets=facets,
        )
        with remote_errors():
            resp = self._registry.Search(req, timeout=TIMEOUT)
        out = from_message(t.SearchResult, _without_facets(resp))
        out.facets = {f.field: [(c.value, int(c.count)) for c in f.counts] for f in resp.facets}
        out.keep_message(resp)  # wire: the whole answer, facets too
        return out

    def record(self, issuer: str, record_id: str, today: object = None) -> t.RecordHistory:
        """One record with its status changes and cases (RemoteNotFound if not held)."""
        req = services_pb2.GetRecordRequest(issuer=issuer, record_id=record_id, today=_str(today))
        with remote_errors():
            return from_message(t.RecordHistory, self._registry.GetRecord(req, timeout=TIMEOUT))

    def issuers_holding(self, record_id: str, today: object = None) -> list[t.RecordHistory]:
        """Every issuer's record with this id (ids are issuer-scoped), the own region first."""
        regions = set()
        for o in self.origins():
            try:
                regions.add(parse_origin(o.origin).region)
            except BrandexError:
                continue
        own = self.config.region if self.config else ""
        hits = []
        for region in sorted(regions, key=lambda r: (r != own, r)):
            try:
                hits.append(self.record(region, record_id, today))
            except RemoteNotFound:
                continue
        return hits

    def check(
        self,
        region: str,
        on: object = None,
        *,
        record: tuple[str, str] | None = None,
        brand: str | None = None,
        uscc: str | None = None,
    ) -> list[t.CheckResult]:
        """Whether a record (or every record of a brand or enterprise) is recognised in
        ``region`` on ``on``, with the reasons."""
        req = services_pb2.CheckRequest(region=region, on=_str(on))
        if uscc:
            req.uscc = uscc
        elif brand:
            req.brand = brand
        elif record:
            req.record.CopyFrom(services_pb2.RecordRef(issuer=record[0], record_id=record[1]))
        with remote_errors():
            resp = self._registry.Check(req, timeout=TIMEOUT)
        return [from_message(t.CheckResult, r) for r in resp.results]

    def cases(
        self,
        *,
        brand: str | None = None,
        region: str | None = None,
        open_only: bool = False,
        record: tuple[str, str] | None = None,
        limit: int = 0,
        offset: int = 0,
    ) -> t.CaseList:
        """Counterfeit and infringement cases, newest answer first as the node orders them."""
        req = services_pb2.ListCasesRequest(
            brand=_str(brand), region=_str(region), open_only=open_only, limit=limit, offset=offset
        )
        if record:
            req.record.CopyFrom(services_pb2.RecordRef(issuer=record[0], record_id=record[1]))
        with remote_errors():
            return from_message(t.CaseList, self._registry.ListCases(req, timeout=TIMEOUT))

    def agreements(self) -> t.AgreementList:
        """Every mutual-recognition agreement: who acceded, to which kinds, when."""
        with remote_errors():
            resp = self._registry.ListAgreements(services_pb2.ListAgreementsRequest(), timeout=30)
        return from_message(t.AgreementList, resp)

    def bundle(self, issuer: str, record_id: str) -> str:
        """A record's evidence bundle: the JSON text exactly as the node wrote it."""
        req = services_pb2.BundleRequest(
            record=services_pb2.RecordRef(issuer=issuer, record_id=record_id)
        )
        with remote_errors():
            stub = services_pb2_grpc.AuditServiceStub(self.channel)
            return stub.GetBundle(req, timeout=TIMEOUT).bundle_json

    # ------------------------------------------------------------ federation

    def federation_documents(self, from_version: int = 0) -> list[bytes]:
        """The federation document versions the node holds from ``from_version`` on
        (signed envelopes, in version order; check them with exchange.core.federation)."""
        req = services_pb2.GetFederationRequest(from_version=from_version)
        with remote_errors():
            return list(self._log.GetFederation(req, timeout=TIMEOUT).documents)

    def publish_federation(self, document: bytes) -> t.PublishedFederation:
        """Hand the next federation document to the node (operator certificate): it checks
        the chain, accepts it and logs it as an entry of its own log."""
        req = services_pb2.PublishFederationRequest(document=document)
        with remote_errors():
            stub = services_pb2_grpc.AdminServiceStub(self.channel)
            resp = stub.PublishFederation(req, timeout=60)
        return from_message(t.PublishedFederation, resp)

    # ------------------------------------------------------------------- log

    def node_status(self) -> t.NodeStatus:
        """The node's origins, peers, evidence of forks and rule violations."""
        with remote_errors():
            resp = self._log.GetNodeStatus(services_pb2.NodeStatusRequest(), timeout=30)
        return from_message(t.NodeStatus, resp)

    def origins(self) -> list[t.OriginState]:
        """Every log this node holds, with its latest checkpoint."""
        with remote_errors():
            resp = self._log.ListOrigins(services_pb2.ListOriginsRequest(), timeout=30)
        return [from_message(t.OriginState, o) for o in resp.origins]

    def checkpoint(self, origin: str) -> t.OriginState:
        """One origin's latest accepted checkpoint (signed note text, cosignatures included)."""
        with remote_errors():
            resp = self._log.GetCheckpoint(
                services_pb2.GetCheckpointRequest(origin=origin), timeout=30
            )
        return from_message(t.OriginState, resp)

    def inclusion_proof(self, origin: str, index: int, size: int = 0) -> t.InclusionProof:
        """Proof that entry ``index`` is in ``origin``'s log (at ``size``; 0: the latest)."""
        req = services_pb2.InclusionRequest(origin=origin, index=index, size=size)
        with remote_errors():
            stub = services_pb2_grpc.AuditServiceStub(self.channel)
            return from_message(t.InclusionProof, stub.GetInclusionProof(req, timeout=30))

    def consistency_proof(self, origin: str, size1: int, size2: int) -> list[bytes]:
        """The RFC 9162 consistency proof between two sizes of ``origin``'s log."""
        req = services_pb2.ConsistencyRequest(origin=origin, size1=size1, size2=size2)
        with remote_errors():
            return list(self._log.GetConsistencyProof(req, timeout=30).proof)

    def entries(self, origin: str, start: int, end: int) -> Iterator[tuple[int, bytes]]:
        """``(index, envelope bytes)`` of ``[start, end)``, exactly as logged."""
        req = services_pb2.GetEntriesRequest(origin=origin, start=start, end=end)
        with remote_errors():
            for batch in self._log.GetEntries(req, timeout=300):
                for i, env in enumerate(batch.envelopes):
                    yield batch.start + i, env


def _without_facets(resp: Any) -> Any:
    """The response without its facets (they become a dict, not a dataclass list)."""
    copy = services_pb2.SearchResponse()
    copy.CopyFrom(resp)
    del copy.facets[:]
    return copy
