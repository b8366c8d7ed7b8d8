"""DSSE v1 envelopes signed with Ed25519.

The envelope's canonical JSON bytes, written once by the issuer, are the Merkle
leaf. Verifiers hash and check exactly those bytes and only then parse the
payload, so nothing is ever re-serialised between verifying and using it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey

from exchange.core.ed25519 import VerifyKey
from exchange.core.errors import FormatError, VerificationError

__all__ = [
    "MAX_ENVELOPE_BYTES",
    "PAYLOAD_TYPE",
    "Envelope",
    "keyid_of",
    "pae",
    "parse_envelope",
    "sign_envelope",
    "verify_envelope",
]

PAYLOAD_TYPE = "application/vnd.brandex.entry+protobuf"
MAX_ENVELOPE_BYTES = 256 * 1024
_MAX_SIGNATURES = 8

# The exact bytes ``sign_envelope`` writes for one signature: sorted keys, no
# spaces, and strings of printable ASCII without quotes or backslashes, whose
# JSON value is the text itself. Such bytes are parsed by this match, the same
# values ``json.loads`` would give (no duplicate key can occur), at a fraction of
# the cost; anything else (other spacing, escapes, more signatures) takes the
# general path, so what is accepted does not change. The two base64 values are
# matched as any run of bytes without a quote (a faster match) and then must be
# canonical base64, which holds only for bytes of the base64 alphabet: so they
# too are texts whose JSON value is the text itself, or the general path decides.
_STR = rb'"([ !#-\[\]-~]*)"'
_B64 = rb'"([^"]*)"'
_CANONICAL = re.compile(
    rb'\{"payload":' + _B64 + rb',"payloadType":' + _STR
    + rb',"signatures":\[\{"keyid":' + _STR + rb',"sig":' + _B64 + rb"\}\]\}"
)  # fmt: skip


def pae(payload_type: str, payload: bytes) -> bytes:
    """Pre-authentication encoding: lengths are byte lengths, never character counts."""
    prefix = _PAE_PREFIXES.get(payload_type)
    if prefix is None:
        t = payload_type.encode("utf-8")
        return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)
    return b"%s%d %s" % (prefix, len(payload), payload)


def _pae_prefix(payload_type: str) -> bytes:
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s " % (len(t), t)


# The part of the encoding before the payload's length, for the log entries' type:
# written once rather than for every entry verified (the same bytes either way).
_PAE_PREFIXES = {PAYLOAD_TYPE: _pae_prefix(PAYLOAD_TYPE)}


def keyid_of(public_key: bytes) -> str:
    """The DSSE key id brandex uses: hex SHA-256 of the raw 32-byte Ed25519 key."""
    return hashlib.sha256(public_key).hexdigest()


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed envelope; ``raw`` keeps the exact bytes that were hashed as the leaf."""

    payload_type: str
    payload: bytes
    signatures: tuple[tuple[str, bytes], ...]
    raw: bytes

    def to_json(self) -> dict[str, object]:
        """The DSSE JSON form, for bundles and humans."""
        return json.loads(self.raw)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise FormatError(f"envelope {what} must be a base64 string")
    try:
        out = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FormatError(f"envelope {what} is not valid base64: {exc}") from None
    if _b64(out) != value:
        raise FormatError(f"envelope {what} is not canonical base64")
    return out


def sign_envelope(
    payload: bytes, signing_key: SigningKey, *, payload_type: str = PAYLOAD_TYPE
) -> bytes:
    """Sign ``payload`` and return the canonical envelope bytes (the future leaf)."""
    sig = signing_key.sign(pae(payload_type, payload)).signature
    doc = {
        "payload": _b64(payload),
        "payloadType": payload_type,
        "signatures": [{"keyid": keyid_of(bytes(signing_key.verify_key)), "sig": _b64(sig)}],
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode("ascii")


def parse_envelope(
    raw: bytes,
    *,
    max_bytes: int = MAX_ENVELOPE_BYTES,
    signatures: tuple[int, int] = (1, _MAX_SIGNATURES),
) -> Envelope:
    """Parse envelope bytes strictly; raises FormatError with the reason.

    ``max_bytes`` and ``signatures`` (the least and most signatures) default to
    what a log entry allows; a federation document, signed by many members and
    passed around unsigned as a proposal, asks for other bounds.
    """
    if len(raw) > max_bytes:
        raise FormatError(f"envelope is {len(raw)} bytes; the limit is {max_bytes}")
    if signatures[0] <= 1 <= signatures[1]:
        fast = _parse_canonical(raw)
        if fast is not None:
            return fast
    return _parse_json(raw, signatures)


_new = object.__new__
# The slots' own setters: an Envelope built from values already checked, without the
# frozen dataclass's __init__ (which costs as much as the rest of the parse).
_set_payload_type, _set_payload, _set_signatures, _set_raw = (
    Envelope.__dict__[name].__set__ for name in ("payload_type", "payload", "signatures", "raw")
)
_match_canonical = _CANONICAL.fullmatch
_a2b = binascii.a2b_base64
_b2a = binascii.b2a_base64


def _parse_canonical(raw: bytes) -> Envelope | None:
    """The envelope, when ``raw`` is in the canonical one-signature form; else None.

    Both base64 values must decode strictly and encode back to themselves
    (canonical), checked in C; when either does not, the general path gives the
    verdict and the reason.
    """
    m = _match_canonical(raw)
    if m is None:
        return None
    payload, ptype, keyid, sig = m.groups()
    try:
        body = _a2b(payload, strict_mode=True)
        signature = _a2b(sig, strict_mode=True)
    except binascii.Error:
        return None
    if _b2a(body, newline=False) != payload or _b2a(signature, newline=False) != sig:
        return None
    env = _new(Envelope)
    _set_payload_type(env, ptype.decode("ascii"))
    _set_payload(env, body)
    _set_signatures(env, ((keyid.decode("ascii"), signature),))
    _set_raw(env, raw)
    return env


def _parse_json(raw: bytes, signatures: tuple[int, int]) -> Envelope:
    """Any JSON spelling of an envelope (the general path of :func:`parse_envelope`)."""
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormatError(f"envelope is not JSON: {exc}") from None
    except RecursionError:  # "[[[[..." fits in the size limit and exhausts the stack
        raise FormatError("envelope is not JSON: nested too deeply") from None
    if not isinstance(doc, dict) or set(doc) != {"payload", "payloadType", "signatures"}:
        raise FormatError("envelope must be an object with payload, payloadType and signatures")
    ptype = doc["payloadType"]
    if not isinstance(ptype, str) or not ptype.isascii():
        raise FormatError("envelope payloadType must be an ASCII string")
    sigs = doc["signatures"]
    least, most = signatures
    if not isinstance(sigs, list) or not least <= len(sigs) <= most:
        raise FormatError(f"envelope must carry {least} to {most} signatures")
    parsed: list[tuple[str, bytes]] = []
    for s in sigs:
        if not isinstance(s, dict) or not isinstance(s.get("keyid"), str):
            raise FormatError("envelope signature must be an object with keyid and sig")
        parsed.append((s["keyid"], _unb64(s.get("sig"), "signature")))
    return Envelope(ptype, _unb64(doc["payload"], "payload"), tuple(parsed), raw)


def verify_envelope(
    envelope: Envelope,
    keys: Mapping[str, VerifyKey],
    *,
    payload_type: str = PAYLOAD_TYPE,
) -> str:
    """Check the envelope against the issuer's certified keys (by key id).

    Returns the key id that verified. Raises VerificationError when the payload
    type is unexpected, no signature is from a known key, or a known key's
    signature is bad.
    """
    if envelope.payload_type != payload_type:
        raise VerificationError(f"payload type {envelope.payload_type!r} is not {payload_type!r}")
    message = pae(envelope.payload_type, envelope.payload)
    for keyid, sig in envelope.signatures:
        key = keys.get(keyid)
        if key is None:
            continue
        if type(key) is VerifyKey:  # the rule itself, without verify()'s argument checks
            if not key.verify_bool(message, sig):
                raise VerificationError(f"signature by key {keyid[:16]}… does not verify")
            return keyid
        try:
            key.verify(message, sig)
        except (BadSignatureError, ValueError):
            raise VerificationError(f"signature by key {keyid[:16]}… does not verify") from None
        return keyid
    raise VerificationError("no signature is by a key certified for this issuer")
