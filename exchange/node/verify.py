"""Verifying a range of envelopes from one origin before anything is stored.

A plain function over bytes, so it can run in worker processes: every envelope
is checked against the issuer's certified keys (learned from the log's own
KeyAnnouncement entries, whose certificates must chain to a trusted anchor),
and every payload must name the origin's federation and region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from google.protobuf.message import DecodeError
from nacl.signing import SigningKey, VerifyKey

from exchange._proto.brandex.v1 import entries_pb2
from exchange.core import merkle, x509
from exchange.core.dsse import keyid_of, parse_envelope, sign_envelope, verify_envelope
from exchange.core.errors import BrandexError, VerificationError
from exchange.core.logcheck import split_origin as parse_origin
from exchange.core.records import recognition_errors

__all__ = [
    "KeyInfo",
    "VerifiedBatch",
    "parse_origin",
    "sign_entries",
    "validate_records",
    "verify_batch",
    "verify_batch_in_worker",
]


@dataclass(frozen=True)
class KeyInfo:
    """A signing key certified for an origin, and where it was announced."""

    keyid: str
    public_key: bytes
    chain_pem: str
    idx: int


@dataclass
class VerifiedBatch:
    """The outcome of checking envelopes[start:start+n] of one origin.

    Plain bytes and strings, so it crosses process boundaries cheaply; the
    envelopes themselves stay with the caller, which stores them as received.
    """

    leaf_hashes: list[bytes] = field(default_factory=list)
    new_keys: list[KeyInfo] = field(default_factory=list)
    types: list[str] = field(default_factory=list)  # each entry's body field name


def _issued_at(entry: entries_pb2.Entry) -> datetime:
    try:
        at = datetime.fromisoformat(entry.issued_at)
    except ValueError:
        raise VerificationError(f"issued_at {entry.issued_at!r} is not an RFC 3339 time") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _key_announcement(
    entry: entries_pb2.Entry, region: str, anchors: Sequence[x509.x509.Certificate], idx: int
) -> KeyInfo:
    ka = entry.key_announcement
    chain = [c for pem in ka.certificate_chain_pem for c in x509.load_pem_chain(pem.encode())]
    if not chain:
        raise VerificationError(f"key announcement at {idx} carries no certificate")
    public = x509.verify_signing_certificate(
        chain[0], chain[1:], anchors, at=_issued_at(entry), region=region
    )
    if public != ka.public_key:
        raise VerificationError(f"key announcement at {idx}: key differs from its certificate")
    return KeyInfo(keyid_of(public), public, "".join(ka.certificate_chain_pem), idx)


def verify_batch(
    origin: str,
    start: int,
    envelopes: Sequence[bytes],
    keys: dict[str, bytes],
    anchors: Sequence[x509.x509.Certificate],
) -> VerifiedBatch:
    """Verify envelopes that would sit at indices start, start+1, ... of ``origin``.

    Args:
        origin: the log they claim to belong to.
        start: index of the first envelope.
        envelopes: exact envelope bytes as received.
        keys: keyid -> raw public key already certified for this origin.
        anchors: trusted anchors, for key announcements in the range.

    Raises:
        VerificationError: naming the index and the check that failed.
    """
    federation, region = parse_origin(origin)
    verify_keys = {k: VerifyKey(v) for k, v in keys.items()}
    out = VerifiedBatch()
    for i, raw in enumerate(envelopes):
        idx = start + i
        try:
            env = parse_envelope(raw)
            if idx == 0 or not verify_keys:
                # The first entry must announce the key that signs it.
                entry = entries_pb2.Entry.FromString(env.payload)
                if entry.WhichOneof("body") != "key_announcement":
                    raise VerificationError("the first entry of a log must announce its key")
                if entry.region != region or entry.federation != federation:
                    raise VerificationError(
                        f"payload names {entry.federation}/{entry.region}, not {origin}"
                    )
                info = _key_announcement(entry, region, anchors, idx)
                verify_envelope(env, {info.keyid: VerifyKey(info.public_key)})
            else:
                verify_envelope(env, verify_keys)
                entry = entries_pb2.Entry.FromString(env.payload)
                if entry.region != region or entry.federation != federation:
                    raise VerificationError(
                        f"payload names {entry.federation}/{entry.region}, not {origin}"
                    )
                if entry.WhichOneof("body") is None:
                    raise VerificationError("entry has no body")
                info = None
                if entry.WhichOneof("body") == "key_announcement":
                    info = _key_announcement(entry, region, anchors, idx)
            if info is not None:
                out.new_keys.append(info)
                verify_keys[info.keyid] = VerifyKey(info.public_key)
        except DecodeError as exc:
            raise VerificationError(
                f"{origin} entry {idx}: payload is not an Entry: {exc}"
            ) from None
        except BrandexError as exc:
            raise VerificationError(f"{origin} entry {idx}: {exc}") from None
        out.types.append(entry.WhichOneof("body"))
        out.leaf_hashes.append(merkle.leaf_hash(raw))
    return out


_ANCHORS: dict[bytes, list[x509.x509.Certificate]] = {}


def verify_batch_in_worker(
    origin: str, start: int, envelopes: list[bytes], keys: dict[str, bytes], anchors_pem: bytes
) -> VerifiedBatch:
    """``verify_batch`` for a worker process: the anchors travel as PEM."""
    anchors = _ANCHORS.get(anchors_pem)
    if anchors is None:
        anchors = _ANCHORS[anchors_pem] = x509.load_pem_chain(anchors_pem)
    return verify_batch(origin, start, envelopes, keys, anchors)


def sign_entries(
    seed: bytes, federation: str, region: str, issued_at: str, bodies: list[tuple[str, bytes]]
) -> list[tuple[bytes, bytes]]:
    """Build and sign entries in a worker: (payload, envelope) pairs, in order.

    The payload is serialised here, once; the caller parses it back for the
    projections and stores the envelope exactly as signed.
    """
    key = SigningKey(seed)
    out = []
    for name, body in bodies:
        entry = entries_pb2.Entry(federation=federation, region=region, issued_at=issued_at)
        getattr(entry, name).ParseFromString(body)
        payload = entry.SerializeToString()
        out.append((payload, sign_envelope(payload, key)))
    return out


def validate_records(issuer: str, blobs: list[bytes]) -> list[tuple[int, str, str, str]]:
    """Validation of serialised Recognitions in a worker: (index, field, rule, value)."""
    out = []
    for i, blob in enumerate(blobs):
        rec = entries_pb2.Recognition.FromString(blob)
        out += [
            (i, e.field, e.rule, "" if e.value is None else str(e.value))
            for e in recognition_errors(rec, issuer=issuer)
        ]
    return out
