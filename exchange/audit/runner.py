"""Download every entry of some origins from some nodes and check them all.

Nothing a node says is trusted: the entries are verified here, against the
trust anchors, with :mod:`exchange.core.logcheck`. Signature checking runs in
"spawn" worker processes (started before any gRPC channel exists, as the node
does) while the next batches stream in; each node's copy of an origin is
compared leaf hash by leaf hash with what was already verified, so a second
node's identical copy costs a download and a SHA-256 per entry, nothing more.

Usage::

    pool = start_pool(workers)            # exchange.workers; before any channel
    run = LogAuditRun(anchors_pem, credentials, ["127.0.0.1:7001"], pool=pool)
    total = run.connect()                 # lists origins, checkpoints, evidence
    run.download(progress=lambda n: ...)
    result = run.finish()
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from exchange._proto.brandex.v1 import entries_pb2, services_pb2, services_pb2_grpc
from exchange.core import merkle, x509
from exchange.core.checkpoint import parse_checkpoint_body
from exchange.core.errors import BrandexError, FormatError, NotFoundError
from exchange.core.keys import CLOCK_SKEW, KeyHistory
from exchange.core.log_envelopes import BatchResult, check_envelopes
from exchange.core.log_issues import Issue
from exchange.core.logcheck import AuditResult, History, LogAudit
from exchange.core.note import parse_note
from exchange.core.origin import parse_origin
from exchange.node.identity import open_channel
from exchange.node.requests import EntryStream

__all__ = [
    "LogAuditRun",
    "NodeUnreachable",
    "check_in_worker",
    "decode_entry",
]

#: Envelopes asked for per streamed message (the node caps it at 5000).
BATCH = 2000
#: RPC codes that mean the node, not the request, is the problem.
_TRANSPORT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class NodeUnreachable(Exception):
    """A named node could not be reached (or refused the auditor's certificate)."""

    def __init__(self, address: str, detail: str) -> None:
        super().__init__(f"node {address} unreachable: {detail}")
        self.address = address


def decode_entry(payload: bytes) -> entries_pb2.Entry:
    """Payload bytes -> ``brandex.v1.Entry``; FormatError if they are not one."""
    try:
        return entries_pb2.Entry.FromString(payload)
    except DecodeError as exc:
        raise FormatError(f"not a brandex.v1.Entry: {exc}") from None


_ANCHORS: dict[bytes, list] = {}


def _anchors(pem: bytes) -> list:
    found = _ANCHORS.get(pem)
    if found is None:
        found = _ANCHORS[pem] = x509.load_pem_chain(pem)
    return found


def check_in_worker(
    origin: str,
    start: int,
    envelopes: list[bytes],
    history: KeyHistory,
    anchors_pem: bytes,
    foreign: dict[str, str],
    now: datetime,
) -> BatchResult:
    """:func:`check_envelopes` in a worker process: anchors travel as PEM."""
    return check_envelopes(
        origin,
        start,
        envelopes,
        history,
        _anchors(anchors_pem),
        decode_entry,
        now=now,
        foreign=foreign,
    )


@dataclass
class _Node:
    address: str
    channel: grpc.Channel
    log: services_pb2_grpc.LogServiceStub
    origins: dict[str, services_pb2.OriginState] = field(default_factory=dict)
    evidence: list[Any] = field(default_factory=list)


def _rpc_text(exc: grpc.RpcError) -> str:
    code = exc.code()  # type: ignore[attr-defined]
    return f"{code.name if code else 'UNKNOWN'}: {exc.details()}"  # type: ignore[attr-defined]


def _claimed_size(state: services_pb2.OriginState) -> int:
    """The size the node's checkpoint claims (read, not trusted: it is checked later)."""
    try:
        return parse_checkpoint_body(parse_note(state.checkpoint).text).size
    except BrandexError:
        return int(state.size)


class LogAuditRun:
    """One ``brandex audit log`` run over some nodes.

    Args:
        anchors_pem: the federation's trust anchors (PEM).
        credentials: the auditor's mTLS channel credentials.
        addresses: nodes to audit, ``host:port``.
        origins: origins to audit (default: every origin any node lists).
        pool: verification workers from :func:`start_pool`, or None (in-process).
        batch_size: envelopes asked for per streamed message.
        timeout: deadline in seconds for one origin's download from one node.
    """

    def __init__(
        self,
        anchors_pem: bytes,
        credentials: grpc.ChannelCredentials,
        addresses: Sequence[str],
        *,
        origins: Sequence[str] = (),
        pool: Executor | None = None,
        batch_size: int = BATCH,
        timeout: float = 3600.0,
    ) -> None:
        self.anchors_pem = anchors_pem
        self.anchors = x509.load_pem_chain(anchors_pem)
        self.credentials = credentials
        self.addresses = list(dict.fromkeys(addresses))
        self.wanted = list(dict.fromkeys(origins))
        self.pool = pool
        self.depth = 2 * max(1, getattr(pool, "_max_workers", 1))
        self.batch_size = batch_size
        self.timeout = timeout
        self.nodes: list[_Node] = []
        #: address -> (member name, region code, federation document version), as each
        #: node states in its status over mTLS (for the report; never trusted for checks).
        self.members: dict[str, tuple[str, str, int]] = {}
        self.origins: list[str] = []
        self.audit = LogAudit(self.anchors, decode_entry, now=datetime.now(UTC))
        self.started = time.perf_counter()
        self.downloaded = 0
        self._grow: Callable[[int], None] = lambda n: None

    # ------------------------------------------------------------ listing

    def connect(self) -> int:
        """List every node's origins, checkpoints and evidence; return entries to fetch.

        Raises:
            NodeUnreachable: a node did not answer (or refused the certificate).
            NotFoundError: an origin asked for is served by none of the nodes.
        """
        for address in self.addresses:
            channel = open_channel(address, self.credentials)
            node = _Node(address, channel, services_pb2_grpc.LogServiceStub(channel))
            self.nodes.append(node)
            try:
                listed = node.log.ListOrigins(services_pb2.ListOriginsRequest(), timeout=30)
            except grpc.RpcError as exc:
                raise NodeUnreachable(address, _rpc_text(exc)) from None
            node.origins = {o.origin: o for o in listed.origins}
            try:
                status = node.log.GetNodeStatus(services_pb2.NodeStatusRequest(), timeout=30)
                node.evidence = list(status.evidence)
                region = status.origin.rpartition("/")[2]
                self.members[address] = (status.name, region, status.federation_version)
            except grpc.RpcError as exc:
                self.audit.notes.append(f"{address}: node status not read ({_rpc_text(exc)})")
        served = {o for n in self.nodes for o in n.origins}
        for origin in self.wanted:
            if origin not in served:
                raise NotFoundError(f"none of the nodes serves origin {origin}")
        self.origins = sorted(self.wanted or served)
        for node in self.nodes:
            self.audit.add_source(node.address)
            for origin in self.origins:
                state = node.origins.get(origin)
                if state is not None:
                    self.audit.checkpoint(origin, node.address, state.checkpoint)
            for ev in node.evidence:
                if ev.origin not in self.origins:
                    continue
                a = f"{node.address} (evidence: its accepted checkpoint)"
                b = f"{node.address} (evidence: from {ev.source})"
                for source, note in ((a, ev.note_a), (b, ev.note_b)):
                    if note:
                        self.audit.checkpoint(ev.origin, source, note, evidence=True)
                self.audit.add_issue(
                    Issue(
                        "evidence",
                        ev.origin,
                        f"{node.address} holds evidence of equivocation on {ev.origin} "
                        f"(detected {ev.detected_at}): {ev.detail}",
                        source=node.address,
                        evidence=(
                            ("checkpoint the node had accepted", ev.note_a),
                            (f"conflicting checkpoint from {ev.source}", ev.note_b),
                        ),
                    )
                )
        return sum(
            _claimed_size(n.origins[o]) for n in self.nodes for o in self.origins if o in n.origins
        )

    # ----------------------------------------------------------- download

    def download(
        self,
        progress: Callable[[int], None] = lambda n: None,
        grow: Callable[[int], None] = lambda n: None,
    ) -> None:
        """Fetch and check every chosen origin from every node that lists it.

        Args:
            progress: called with the number of entries each batch brought.
            grow: called with extra entries to fetch (a diverging copy is read again).

        Raises:
            NodeUnreachable: a node stopped answering.
        """
        self._grow = grow
        self._learn_other_keys()
        for origin in self.origins:
            for node in self.nodes:
                state = node.origins.get(origin)
                if state is None:
                    continue
                size = _claimed_size(state)
                if not self._copy(node, origin, size, progress, fresh=False):
                    # It differs from every copy read so far: read it as a history of its own.
                    grow(size)
                    self._copy(node, origin, size, progress, fresh=True)

    def _learn_other_keys(self) -> None:
        """Keys of origins not audited, from their first entry, to check their cosignatures."""
        for node in self.nodes:
            for origin in node.origins:
                if origin in self.origins or self.audit.knows_keys(origin):
                    continue
                try:
                    parse_origin(origin)
                    envs = [
                        e
                        for b in node.log.GetEntries(
                            services_pb2.GetEntriesRequest(origin=origin, start=0, end=1),
                            timeout=30,
                        )
                        for e in b.envelopes
                    ][:1]
                except (grpc.RpcError, FormatError) as exc:
                    self.audit.notes.append(f"{origin}: key not learned from {node.address}: {exc}")
                    continue
                res = check_envelopes(
                    origin,
                    0,
                    envs,
                    KeyHistory(parse_origin(origin)),
                    self.anchors,
                    decode_entry,
                    now=self.audit.now,
                )
                if res.history is not None and res.history.keys:
                    self.audit.learn_keys(origin, res.history)
                else:
                    why = "; ".join(i.message for i in res.issues) or "no entry"
                    self.audit.notes.append(f"{origin}: no certified key learned: {why}")

    def _copy(
        self,
        node: _Node,
        origin: str,
        size: int,
        progress: Callable[[int], None],
        *,
        fresh: bool,
    ) -> bool:
        """Read one node's copy of one origin; False if it diverged (nothing settled)."""
        cp = self.audit.copy(origin, node.address, fresh=fresh)
        foreign = self.audit.foreign_keys(origin)
        pending: deque[tuple[Future | None, int, list[bytes], int, History]] = deque()

        def settle(item: tuple[Future | None, int, list[bytes], int, History]) -> None:
            fut, start, envs, version, hist = item
            assert fut is not None and hist.keys is not None
            result = fut.result()
            last = hist.keys.last_issued_at
            if hist.keys.version != version or (
                last is not None
                and result.first_issued_at is not None
                and result.first_issued_at < last - CLOCK_SKEW
            ):
                # Checked ahead of a key event or a time it could not know: check again.
                result = check_envelopes(
                    origin,
                    start,
                    envs,
                    hist.keys,
                    self.anchors,
                    decode_entry,
                    now=self.audit.now,
                    foreign=foreign,
                )
            cp.settle(result)

        if size == 0:
            cp.end()
            return True
        stream = EntryStream(
            node.log, origin, 0, size, batch_size=self.batch_size, timeout=self.timeout
        )
        try:
            for batch in stream:
                envs = list(batch.envelopes)
                if not envs or batch.start + len(envs) > size:
                    raise FormatError(
                        f"{node.address} sent {len(envs)} entries at {batch.start}, "
                        f"beyond its checkpoint's {size}"
                    )
                route = cp.route(batch.start, [merkle.leaf_hash(e) for e in envs])
                self.downloaded += len(envs)
                if route.diverged:
                    while pending:
                        settle(pending.popleft())
                    stream.cancel()
                    progress(len(envs))
                    return False
                if route.verify:
                    hist = route.history
                    assert hist is not None
                    start, part = batch.start + route.offset, envs[route.offset :]
                    assert hist.keys is not None
                    if self.pool is None or not hist.keys.keys:
                        while pending:
                            settle(pending.popleft())
                        cp.settle(
                            check_envelopes(
                                origin,
                                start,
                                part,
                                hist.keys,
                                self.anchors,
                                decode_entry,
                                now=self.audit.now,
                                foreign=foreign,
                            )
                        )
                    else:
                        fut = self.pool.submit(
                            check_in_worker,
                            origin,
                            start,
                            part,
                            hist.keys,
                            self.anchors_pem,
                            foreign,
                            self.audit.now,
                        )
                        pending.append((fut, start, part, hist.keys.version, hist))
                        while len(pending) > self.depth:
                            settle(pending.popleft())
                progress(len(envs))
            while pending:
                settle(pending.popleft())
        except grpc.RpcError as exc:
            while pending:
                settle(pending.popleft())
            if exc.code() in _TRANSPORT:  # type: ignore[attr-defined]
                raise NodeUnreachable(node.address, _rpc_text(exc)) from None
            self.audit.add_issue(
                Issue(
                    "fetch",
                    origin,
                    f"{node.address} stopped serving {origin} after {cp.pos} entries: "
                    f"{_rpc_text(exc)}",
                    source=node.address,
                )
            )
        except FormatError as exc:
            stream.cancel()
            while pending:
                settle(pending.popleft())
            self.audit.add_issue(Issue("fetch", origin, str(exc), source=node.address))
        cp.end()
        return True

    # ------------------------------------------------------------- finish

    def finish(self) -> AuditResult:
        """Judge everything downloaded (trees, checkpoints, forks, references)."""
        result = self.audit.finish()
        seconds = time.perf_counter() - self.started
        checked, verified = self.audit.counts()
        result.stats.update(
            {
                "seconds": round(seconds, 3),
                "entries_downloaded": self.downloaded,
                "entries_checked": checked,
                "entries_verified": verified,
                "entries_per_s": round(self.downloaded / seconds) if seconds > 0 else 0,
                "workers": getattr(self.pool, "_max_workers", 0),
            }
        )
        return result

    def close(self) -> None:
        for node in self.nodes:
            node.channel.close()
