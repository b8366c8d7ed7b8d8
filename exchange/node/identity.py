"""Who is calling: mTLS credentials and certificate-based roles.

TLS already refused any certificate that does not chain to a trusted anchor;
here the caller's certificate is checked once more against the anchors'
jurisdictions and mapped to a role: a member node (``urn:brandex:region:R``)
reads, and only the node's own operator (``urn:brandex:operator:R``) writes.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
from cryptography import x509 as cx509

from exchange.core import x509
from exchange.core.errors import VerificationError

__all__ = [
    "Caller",
    "CallerCache",
    "channel_credentials",
    "load_anchors",
    "open_channel",
    "server_credentials",
]

_TTL = timedelta(minutes=5)  # re-check cached certificates now and then (expiry)


def load_anchors(paths: Sequence[Path]) -> tuple[bytes, list[cx509.Certificate]]:
    """Read the trust anchors: PEM bytes for TLS and parsed certificates for checks."""
    pem = b"".join(Path(p).read_bytes() for p in paths)
    return pem, x509.load_pem_chain(pem)


def server_credentials(cert: Path, key: Path, anchors_pem: bytes) -> grpc.ServerCredentials:
    """Mutual TLS only: a client without a trusted certificate gets no connection."""
    return grpc.ssl_server_credentials(
        [(Path(key).read_bytes(), Path(cert).read_bytes())],
        root_certificates=anchors_pem,
        require_client_auth=True,
    )


def channel_credentials(cert: Path, key: Path, anchors_pem: bytes) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=anchors_pem,
        private_key=Path(key).read_bytes(),
        certificate_chain=Path(cert).read_bytes(),
    )


def open_channel(
    address: str, creds: grpc.ChannelCredentials, *, max_message_bytes: int = 16 << 20
) -> grpc.Channel:
    """A channel to a node; demo certificates name ``localhost`` and 127.0.0.1."""
    host = address.rpartition(":")[0]
    options = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.keepalive_permit_without_calls", 1),  # watch streams idle for long
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 5_000),
    ]
    if host in ("127.0.0.1", "localhost", "[::1]"):
        options.append(("grpc.ssl_target_name_override", "localhost"))
    return grpc.secure_channel(address, creds, options=options)


@dataclass(frozen=True)
class Caller:
    """The authenticated identity behind one RPC."""

    region: str | None  # member node of this region
    operator: str | None  # operator of this region
    subject: str

    def __str__(self) -> str:
        if self.operator:
            return f"operator of {self.operator}"
        return f"member {self.region}" if self.region else self.subject


class CallerCache:
    """Verifies each distinct client certificate once (chain, expiry, jurisdiction)."""

    def __init__(self, anchors: Sequence[cx509.Certificate]) -> None:
        self._anchors = list(anchors)
        self._cache: dict[bytes, tuple[Caller, datetime]] = {}
        self._lock = threading.Lock()

    def caller(self, context: grpc.ServicerContext) -> Caller:
        """Raise VerificationError when the peer presented no acceptable certificate."""
        pems = context.auth_context().get("x509_pem_cert") or []
        if not pems:
            raise VerificationError("no client certificate presented")
        pem = pems[0]
        now = datetime.now(UTC)
        with self._lock:
            hit = self._cache.get(pem)
        if hit is not None and hit[1] > now:
            return hit[0]
        cert = cx509.load_pem_x509_certificate(pem)
        x509.verify_chain(cert, [], self._anchors, at=now)
        caller = Caller(
            x509.cert_region(cert), x509.cert_operator_region(cert), cert.subject.rfc4514_string()
        )
        with self._lock:
            if len(self._cache) > 1024:
                self._cache.clear()
            self._cache[pem] = (caller, min(cert.not_valid_after_utc, now + _TTL))
        return caller
