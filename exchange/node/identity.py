"""Who is calling: mTLS credentials and certificate-based roles.

TLS already refused any certificate that does not chain to a trusted anchor;
here the caller's certificate is checked once more against the anchors'
jurisdictions and mapped to a role: a member node (``urn:brandex:region:R``)
and a member's staff (``urn:brandex:staff:R``, the staff console) read, and
only the node's own operator (``urn:brandex:operator:R``) writes.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import serialization

from exchange.core import x509
from exchange.core.errors import VerificationError

if TYPE_CHECKING:
    from exchange.node.governance import Governance

log = logging.getLogger("brandex.identity")

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
    serial: str = ""  # the certificate's serial number, hex
    staff: str | None = None  # staff (read-only) of this region

    @property
    def role(self) -> tuple[str, str | None]:
        """(role, region) as the federation document admits it: 'operator', 'node' or 'staff'."""
        if self.operator:
            return "operator", self.operator
        if self.region:
            return "node", self.region
        return "staff", self.staff

    @property
    def actor(self) -> tuple[str, str]:
        """(subject, serial): what an entry this caller causes records of it."""
        return self.subject, self.serial

    def __str__(self) -> str:
        if self.operator:
            return f"operator of {self.operator}"
        if self.region:
            return f"member {self.region}"
        return f"staff of {self.staff}" if self.staff else self.subject


class CallerCache:
    """Verifies each distinct client certificate once (chain, expiry, jurisdiction),
    and every call against the anchor's revocation list when one is configured.

    The list (``[tls] crl``) is read again whenever its file changes, so a
    certificate revoked by the anchor is refused from the next call on, and
    open streams, which check their caller again as they go, are closed.
    """

    def __init__(
        self,
        anchors: Sequence[cx509.Certificate],
        crl_path: Path | None = None,
        governance: Governance | None = None,
    ) -> None:
        self._anchors = list(anchors)
        #: With a federation document: only its members' listed certificates, and not
        #: its revoked serials, get in (checked on every call: a new version applies at once).
        self.governance = governance
        self._cache: dict[bytes, tuple[Caller, datetime, int, datetime, str]] = {}
        self._lock = threading.Lock()
        self._crl_path = crl_path
        self._crl_stamp: tuple[float, int] | None = None
        self._revoked: frozenset[int] = frozenset()

    def revoked(self) -> frozenset[int]:
        """Serials the anchor's revocation list revokes (re-read when the file changes)."""
        if self._crl_path is None:
            return frozenset()
        try:
            st = self._crl_path.stat()
        except OSError as exc:
            raise VerificationError(f"revocation list {self._crl_path} unreadable: {exc}") from None
        stamp = (st.st_mtime, st.st_size)
        with self._lock:
            if stamp == self._crl_stamp:
                return self._revoked
        serials = x509.load_crl(self._crl_path.read_bytes(), self._anchors, datetime.now(UTC))
        with self._lock:
            self._crl_stamp, self._revoked = stamp, serials
        if serials:
            log.info("revocation list %s: %d serial(s) revoked", self._crl_path, len(serials))
        return serials

    def caller(self, context: grpc.ServicerContext) -> Caller:
        """Raise VerificationError when the peer presented no acceptable certificate."""
        pems = context.auth_context().get("x509_pem_cert") or []
        if not pems:
            raise VerificationError("no client certificate presented")
        pem = pems[0]
        now = datetime.now(UTC)
        with self._lock:
            hit = self._cache.get(pem)
        if hit is None or hit[1] <= now:
            cert = cx509.load_pem_x509_certificate(pem)
            x509.verify_chain(cert, [], self._anchors, at=now)
            caller = Caller(
                x509.cert_region(cert),
                x509.cert_operator_region(cert),
                cert.subject.rfc4514_string(),
                f"{cert.serial_number:x}",
                x509.cert_staff_region(cert),
            )
            hit = (
                caller,
                min(cert.not_valid_after_utc, now + _TTL),
                cert.serial_number,
                cert.not_valid_after_utc,
                hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
            )
            with self._lock:
                if len(self._cache) > 1024:
                    self._cache.clear()
                self._cache[pem] = hit
        caller, _, serial, not_after, fingerprint = hit
        if now > not_after:
            raise VerificationError(f"certificate of {caller.subject} expired on {not_after}")
        if serial in self.revoked():
            raise VerificationError(
                f"certificate {serial:x} of {caller.subject} is revoked by the anchor's list"
            )
        if self.governance is not None:
            if serial in self.governance.revoked_serials():
                raise VerificationError(
                    f"certificate {serial:x} of {caller.subject} is revoked by federation "
                    f"document version {self.governance.latest.version}"
                )
            role, region = caller.role
            why = self.governance.admits(region, fingerprint, role)
            if why is not None:
                raise VerificationError(why)
        return caller
