"""What every gRPC service of a node shares: the node context and the caller checks.

``exchange.node.services`` (log and admin) and ``exchange.node.read_services``
(registry, audit and watch) build on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import grpc

from exchange._proto.brandex.v1 import services_pb2
from exchange.core.errors import (
    NotFoundError,
    ValidationError,
    VerificationError,
)
from exchange.node import requests as checks
from exchange.node.errors import PermissionDenied, Unauthenticated
from exchange.node.identity import Caller, CallerCache
from exchange.node.ledger import Ledger
from exchange.node.limits import StreamSlots, TokenBuckets, client_key

__all__ = [
    "MAX_BATCH",
    "MAX_BATCH_BYTES",
    "MAX_ISSUE_BATCH",
    "NodeContext",
    "Service",
    "origin_state",
]

MAX_BATCH = 5000  # envelopes per streamed message, whatever the client asks
MAX_ISSUE_BATCH = 10000
MAX_BATCH_BYTES = checks.MAX_BATCH_BYTES


@dataclass
class NodeContext:
    """What every service needs: the ledger, the caller check and the clock."""

    ledger: Ledger
    callers: CallerCache
    today: Callable[[], date]
    name: str = ""
    started_at: str = ""
    peer_states: Callable[[], list[Any]] = lambda: []
    #: Rotates the node's signing key to the key and certificate files given.
    rotate_key: Callable[[Path, Path, tuple[str, str]], tuple[int, list[bytes]]] | None = None
    streams: StreamSlots = field(default_factory=StreamSlots)
    reads: TokenBuckets = field(default_factory=lambda: TokenBuckets(0, 1))  # 0: no limit

    @property
    def store(self):
        return self.ledger.store

    @property
    def region(self) -> str:
        return self.ledger.region


class Service:
    def __init__(self, node: NodeContext) -> None:
        self.node = node

    def member(self, context: grpc.ServicerContext) -> Caller:
        try:
            caller = self.node.callers.caller(context)
        except VerificationError as exc:
            raise Unauthenticated(f"client certificate refused: {exc}") from None
        if not caller.region and not caller.operator and not caller.staff:
            raise PermissionDenied("certificate names no member region, operator or staff")
        return caller

    def reader(self, context: grpc.ServicerContext, what: str) -> Caller:
        """A member making a registry/proof read: also spends one of its rate tokens."""
        caller = self.member(context)
        self.node.reads.take(client_key(context), what)
        return caller

    def operator(self, context: grpc.ServicerContext) -> Caller:
        caller = self.member(context)
        if caller.operator != self.node.region:
            raise PermissionDenied(
                f"{caller} may not write to {self.node.ledger.origin}: only the operator of "
                f"{self.node.region} may"
            )
        return caller

    def _on(self, value: str) -> date:
        if not value:
            return self.node.today()
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValidationError("date", "must be YYYY-MM-DD", value) from None


def origin_state(ledger: Ledger, origin: str, row: Any = None) -> services_pb2.OriginState:
    """Size and note from one read of the origin's head, so they always agree."""
    row = row or ledger.store.origin(origin)
    if row is None:
        raise NotFoundError(f"origin {origin} is not held here")
    note = ledger.checkpoint_with_cosignatures(origin, row=row) if row.checkpoint else ""
    gov = ledger.governance
    return services_pb2.OriginState(
        origin=origin,
        size=row.size,
        checkpoint=note,
        equivocating=row.frozen,
        federation_version=gov.latest.version if gov is not None else 0,
    )
