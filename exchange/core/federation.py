"""The federation document: who is a member, signed by the members themselves.

A document is a DSSE envelope (payload type :data:`PAYLOAD_TYPE`) whose
payload is the document body in RFC 8785 canonical JSON (JCS): object keys
sorted, no insignificant whitespace, UTF-8, integers only. A payload that is
not already in that form is refused, so one body has exactly one byte string
and one digest, and two documents of the same version with different digests
are a fork of governance, never an encoding accident. Signatures are Ed25519
by members' *governance* keys (kept offline, apart from their signing keys),
over the DSSE PAE of the payload; key ids are the hex SHA-256 of the raw key.

The chain rule, after TUF's root rotation: version N+1 is valid only if its
version is exactly N+1, it names the same federation, it is not expired, and it
carries valid signatures by at least ``threshold(N)`` of version N's members
and at least ``threshold(N+1)`` of its own (each key counted once). A verifier
starts from a pinned version and walks the chain one version at a time,
:data:`MAX_WALK` at most per update. A signature by a key that belongs to no
member of either version, or a member's signature that does not verify, makes
the document invalid (it was tampered with or mis-assembled).

What a version decides, from its ``issued_at`` (its effective time) on:
its members and their node addresses, TLS and operator certificate
fingerprints, signing key ids and governance keys; members that left
(``departed``, cumulative: entries a departed member signed before it left stay
valid); revoked certificate serials and signing keys (fed to the trust
kernel); the witness policy (:mod:`exchange.core.policy`); and the threshold
for the next change.

Pure: bytes and times in, decisions out.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import rfc8785
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey

from exchange.core import regions
from exchange.core.dsse import Envelope, keyid_of, pae, parse_envelope
from exchange.core.ed25519 import VerifyKey
from exchange.core.errors import ConflictError, FormatError, VerificationError
from exchange.core.parsing import host_port
from exchange.core.policy import WitnessPolicy, parse_policy

__all__ = [
    "DOC_TYPE",
    "MAX_WALK",
    "PAYLOAD_TYPE",
    "Chain",
    "Departure",
    "FederationDoc",
    "GovernanceFork",
    "GovernanceRollback",
    "Member",
    "RevokedKey",
    "canonical",
    "cert_fingerprint",
    "expiry_warning",
    "format_time",
    "genesis_body",
    "parse_document",
    "propose",
    "sign_document",
    "unsigned_document",
    "verify_genesis",
    "verify_successor",
]

PAYLOAD_TYPE = "application/vnd.brandex.federation+json"
DOC_TYPE = "brandex.federation/v1"
MAX_DOC_BYTES = 4 << 20
MAX_SIGNATURES = 512
#: Versions one update walks at most; a node further behind catches up over several.
MAX_WALK = 16
#: How long before expiry nodes start warning.
EXPIRY_WARNING = timedelta(days=30)

_BODY_KEYS = {
    "type",
    "federation",
    "version",
    "issued_at",
    "expires_at",
    "threshold",
    "anchors",
    "members",
    "departed",
    "revoked",
    "witness_policy",
}
_MEMBER_KEYS = {
    "name",
    "region",
    "addresses",
    "tls_certs",
    "operator_certs",
    "signing_keys",
    "governance_key",
}


def canonical(body: Mapping[str, Any]) -> bytes:
    """The RFC 8785 (JCS) bytes of ``body``."""
    try:
        return rfc8785.dumps(body)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise FormatError(f"federation document cannot be canonicalised: {exc}") from None


def cert_fingerprint(der: bytes) -> str:
    """How a document names a certificate: hex SHA-256 of its DER bytes."""
    return hashlib.sha256(der).hexdigest()


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: object, what: str) -> datetime:
    if not isinstance(value, str):
        raise FormatError(f"federation document {what} must be an RFC 3339 time")
    try:
        moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise FormatError(
            f"federation document {what} {value!r} is not YYYY-MM-DDTHH:MM:SSZ"
        ) from None
    return moment


@dataclass(frozen=True)
class Member:
    name: str
    region: str
    addresses: tuple[str, ...]
    tls_certs: frozenset[str]
    operator_certs: frozenset[str]
    signing_keys: frozenset[str]
    governance_key: bytes

    @property
    def governance_keyid(self) -> str:
        return keyid_of(self.governance_key)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "region": self.region,
            "addresses": list(self.addresses),
            "tls_certs": sorted(self.tls_certs),
            "operator_certs": sorted(self.operator_certs),
            "signing_keys": sorted(self.signing_keys),
            "governance_key": base64.b64encode(self.governance_key).decode("ascii"),
        }


@dataclass(frozen=True)
class Departure:
    name: str
    region: str
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "region": self.region, "at": format_time(self.at)}


@dataclass(frozen=True)
class RevokedKey:
    keyid: str
    region: str
    since: datetime

    def to_json(self) -> dict[str, Any]:
        return {"keyid": self.keyid, "region": self.region, "since": format_time(self.since)}


@dataclass(frozen=True)
class FederationDoc:
    """One parsed version; ``raw`` is the exact envelope, ``digest`` its payload's SHA-256."""

    federation: str
    version: int
    issued_at: datetime
    expires_at: datetime
    threshold: int
    anchors: tuple[str, ...]  # anchor certificate fingerprints
    members: tuple[Member, ...]
    departed: tuple[Departure, ...]
    revoked_certs: frozenset[str]  # serials, lower-case hex
    revoked_keys: tuple[RevokedKey, ...]
    policy: WitnessPolicy
    body: Mapping[str, Any] = field(repr=False)
    envelope: Envelope = field(repr=False)

    @property
    def raw(self) -> bytes:
        return self.envelope.raw

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.envelope.payload).hexdigest()

    def member(self, name: str) -> Member | None:
        return next((m for m in self.members if m.name == name), None)

    def member_of_region(self, region: str) -> Member | None:
        return next((m for m in self.members if m.region == region), None)

    def departure(self, region: str) -> Departure | None:
        """When ``region`` left (the latest departure, if it is not a member again)."""
        if self.member_of_region(region) is not None:
            return None
        gone = [d for d in self.departed if d.region == region]
        return max(gone, key=lambda d: d.at) if gone else None

    def revoked_since(self, keyid: str) -> datetime | None:
        return next((r.since for r in self.revoked_keys if r.keyid == keyid), None)

    def admits(self, region: str, fingerprint: str, role: str) -> str | None:
        """None when a ``role`` ('node', 'operator' or 'staff') certificate of ``region`` may
        connect, else why not. Staff certificates (read-only) are not listed in the
        document: the member's anchor vouches for them, and a member that left loses them."""
        m = self.member_of_region(region)
        if m is None:
            gone = self.departure(region)
            if gone is not None:
                return f"region {region} left the federation on {format_time(gone.at)}"
            return f"region {region} is not a member of federation {self.federation!r}"
        if role == "staff":
            return None
        allowed = m.tls_certs if role == "node" else m.operator_certs
        if allowed and fingerprint not in allowed:
            return (
                f"this {role} certificate of {m.name} ({region}) is not the one listed in "
                f"federation document version {self.version}"
            )
        return None

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def signers(self, among: Iterable[Member]) -> list[str]:
        """Names of members in ``among`` whose governance key validly signed this version."""
        message = pae(self.envelope.payload_type, self.envelope.payload)
        by_keyid = {m.governance_keyid: m for m in among}
        out: set[str] = set()
        for keyid, sig in self.envelope.signatures:
            m = by_keyid.get(keyid)
            if m is None:
                continue
            try:
                VerifyKey(m.governance_key).verify(message, sig)
            except (BadSignatureError, ValueError):
                continue
            out.add(m.name)
        return sorted(out)


# --- parsing -----------------------------------------------------------------------------


def _strings(value: object, what: str, *, hex_len: int | None = None) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FormatError(f"federation document {what} must be a list of strings")
    if len(set(value)) != len(value):
        raise FormatError(f"federation document {what} lists a value twice")
    if hex_len is not None:
        for v in value:
            if len(v) != hex_len or any(c not in "0123456789abcdef" for c in v):
                raise FormatError(
                    f"federation document {what}: {v!r} is not {hex_len} lower-case hex digits"
                )
    return value


def _address(text: str, who: str) -> str:
    if host_port(text) is None:
        raise FormatError(f"member {who}: address {text!r} is not host:port")
    return text


def _member(raw: object) -> Member:
    if not isinstance(raw, dict) or set(raw) != _MEMBER_KEYS:
        raise FormatError(f"each member must be an object with exactly {sorted(_MEMBER_KEYS)}")
    name = raw["name"]
    if not isinstance(name, str) or not name or not name.isascii() or " " in name:
        raise FormatError(f"member name {name!r} must be non-empty ASCII without spaces")
    region = raw["region"]
    if not regions.is_region(region):
        raise FormatError(f"member {name}: region {region!r} is not a GB/T 2260 code")
    try:
        gkey = base64.b64decode(raw["governance_key"], validate=True)
    except (TypeError, ValueError):
        raise FormatError(f"member {name}: governance_key is not base64") from None
    if len(gkey) != 32:
        raise FormatError(f"member {name}: governance_key is {len(gkey)} bytes, not 32")
    return Member(
        name=name,
        region=region,
        addresses=tuple(_address(a, name) for a in _strings(raw["addresses"], "addresses")),
        tls_certs=frozenset(_strings(raw["tls_certs"], "tls_certs", hex_len=64)),
        operator_certs=frozenset(_strings(raw["operator_certs"], "operator_certs", hex_len=64)),
        signing_keys=frozenset(_strings(raw["signing_keys"], "signing_keys", hex_len=64)),
        governance_key=gkey,
    )


def _body(payload: bytes) -> dict[str, Any]:
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FormatError(f"federation document payload is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise FormatError("federation document payload must be a JSON object")
    if canonical(body) != payload:
        raise FormatError(
            "federation document payload is not in RFC 8785 canonical form "
            "(sorted keys, no spaces, integers only)"
        )
    return body


def parse_document(raw: bytes) -> FederationDoc:
    """Parse one document strictly (signatures are counted later, against a chain).

    Raises:
        FormatError: not an envelope of this payload type, payload not canonical,
            a field missing, unknown or malformed.
    """
    env = parse_envelope(raw, max_bytes=MAX_DOC_BYTES, signatures=(0, MAX_SIGNATURES))
    if env.payload_type != PAYLOAD_TYPE:
        raise FormatError(f"payload type {env.payload_type!r} is not {PAYLOAD_TYPE!r}")
    body = _body(env.payload)
    if set(body) != _BODY_KEYS:
        missing, extra = _BODY_KEYS - set(body), set(body) - _BODY_KEYS
        raise FormatError(
            f"federation document fields: missing {sorted(missing)}, unknown {sorted(extra)}"
        )
    if body["type"] != DOC_TYPE:
        raise FormatError(f"federation document type {body['type']!r} is not {DOC_TYPE!r}")
    fed = body["federation"]
    if not isinstance(fed, str) or not fed or not fed.isascii() or "/" in fed or " " in fed:
        raise FormatError(f"federation name {fed!r} must be ASCII without '/' or spaces")
    version = body["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise FormatError(f"federation document version {version!r} must be an integer >= 1")
    issued = _parse_time(body["issued_at"], "issued_at")
    expires = _parse_time(body["expires_at"], "expires_at")
    if expires <= issued:
        raise FormatError("federation document expires_at must be after issued_at")
    if not isinstance(body["members"], list) or not body["members"]:
        raise FormatError("federation document must list at least one member")
    members = tuple(_member(m) for m in body["members"])
    for what, values in (
        ("name", [m.name for m in members]),
        ("region", [m.region for m in members]),
        ("governance key", [m.governance_keyid for m in members]),
    ):
        if len(set(values)) != len(values):
            raise FormatError(f"two members share a {what}")
    if [m.name for m in members] != sorted(m.name for m in members):
        raise FormatError("federation document members must be sorted by name")
    threshold = body["threshold"]
    if (
        not isinstance(threshold, int)
        or isinstance(threshold, bool)
        or not 1 <= threshold <= len(members)
    ):
        raise FormatError(f"threshold {threshold!r} must be 1..{len(members)} (the members)")
    departed = body["departed"]
    if not isinstance(departed, list):
        raise FormatError("departed must be a list")
    gone = []
    for d in departed:
        if not isinstance(d, dict) or set(d) != {"name", "region", "at"}:
            raise FormatError("each departure must be an object with name, region and at")
        if not regions.is_region(d["region"]) or not isinstance(d["name"], str):
            raise FormatError(f"departure {d!r}: bad name or region")
        gone.append(Departure(d["name"], d["region"], _parse_time(d["at"], "departure time")))
    revoked = body["revoked"]
    if not isinstance(revoked, dict) or set(revoked) != {"certificates", "signing_keys"}:
        raise FormatError("revoked must be an object with certificates and signing_keys")
    serials = _strings(revoked["certificates"], "revoked certificates")
    for s in serials:
        if not s or any(c not in "0123456789abcdef" for c in s):
            raise FormatError(f"revoked certificate serial {s!r} is not lower-case hex")
    rkeys = []
    for r in revoked["signing_keys"] if isinstance(revoked["signing_keys"], list) else [None]:
        if not isinstance(r, dict) or set(r) != {"keyid", "region", "since"}:
            raise FormatError("each revoked signing key must be an object: keyid, region, since")
        _strings([r["keyid"]], "revoked keyid", hex_len=64)
        if not regions.is_region(r["region"]):
            raise FormatError(f"revoked key {r['keyid'][:16]}…: bad region")
        rkeys.append(RevokedKey(r["keyid"], r["region"], _parse_time(r["since"], "since")))
    anchors = tuple(_strings(body["anchors"], "anchors", hex_len=64))
    policy = parse_policy(body["witness_policy"])
    return FederationDoc(
        federation=fed,
        version=version,
        issued_at=issued,
        expires_at=expires,
        threshold=threshold,
        anchors=anchors,
        members=members,
        departed=tuple(gone),
        revoked_certs=frozenset(serials),
        revoked_keys=tuple(rkeys),
        policy=policy,
        body=body,
        envelope=env,
    )


# --- making and signing ------------------------------------------------------------------


def _envelope_bytes(payload: bytes, signatures: Sequence[tuple[str, bytes]]) -> bytes:
    doc = {
        "payload": base64.b64encode(payload).decode("ascii"),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [
            {"keyid": k, "sig": base64.b64encode(s).decode("ascii")} for k, s in sorted(signatures)
        ],
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, indent=None).encode("ascii")


def unsigned_document(body: Mapping[str, Any]) -> bytes:
    """A proposal: the canonical body in an envelope with no signatures yet.

    The body is checked as :func:`parse_document` would, so a proposal that
    could never become valid is refused when it is made.
    """
    raw = _envelope_bytes(canonical(body), [])
    parse_document(raw)
    return raw


def sign_document(raw: bytes, key: SigningKey) -> bytes:
    """Add this governance key's signature to a document (replacing its own older one).

    The payload bytes are kept exactly; only the signature list changes.
    """
    doc = parse_document(raw)
    keyid = keyid_of(bytes(key.verify_key))
    sig = key.sign(pae(PAYLOAD_TYPE, doc.envelope.payload)).signature
    sigs = [(k, s) for k, s in doc.envelope.signatures if k != keyid]
    return _envelope_bytes(doc.envelope.payload, [*sigs, (keyid, sig)])


def genesis_body(
    federation: str,
    members: Sequence[Member],
    *,
    anchors: Sequence[str],
    threshold: int,
    witness_policy: str,
    issued_at: datetime,
    expires_at: datetime,
) -> dict[str, Any]:
    """The body of a federation's first version."""
    return {
        "type": DOC_TYPE,
        "federation": federation,
        "version": 1,
        "issued_at": format_time(issued_at),
        "expires_at": format_time(expires_at),
        "threshold": threshold,
        "anchors": sorted(anchors),
        "members": [m.to_json() for m in sorted(members, key=lambda m: m.name)],
        "departed": [],
        "revoked": {"certificates": [], "signing_keys": []},
        "witness_policy": witness_policy,
    }


def propose(
    prev: FederationDoc,
    now: datetime,
    *,
    add: Sequence[Member] = (),
    remove: Sequence[str] = (),
    revoke_keys: Sequence[tuple[str, str, datetime]] = (),
    revoke_certs: Sequence[str] = (),
    threshold: int | None = None,
    witness_policy: str | None = None,
    expires_at: datetime | None = None,
) -> dict[str, Any]:
    """The body of version ``prev.version + 1`` with the changes applied, issued ``now``.

    ``add`` replaces a member of the same name (a changed address, certificate or
    key); ``remove`` records a departure at ``now``; ``revoke_keys`` takes
    (keyid, region, since). The validity period is kept unless ``expires_at`` is
    given. The result is checked by :func:`unsigned_document` when it is wrapped.
    """
    members = {m.name: m for m in prev.members}
    departed = list(prev.departed)
    for name in remove:
        gone = members.pop(name, None)
        if gone is None:
            raise FormatError(f"cannot remove {name!r}: not a member of version {prev.version}")
        departed.append(Departure(gone.name, gone.region, now))
    for m in add:
        members[m.name] = m
    keys = list(prev.revoked_keys) + [RevokedKey(k, r, t) for k, r, t in revoke_keys]
    period = prev.expires_at - prev.issued_at
    body = dict(prev.body)
    body.update(
        {
            "version": prev.version + 1,
            "issued_at": format_time(now),
            "expires_at": format_time(expires_at or max(prev.expires_at, now + period)),
            "members": [members[n].to_json() for n in sorted(members)],
            "departed": [d.to_json() for d in departed],
            "revoked": {
                "certificates": sorted(prev.revoked_certs | set(revoke_certs)),
                "signing_keys": [r.to_json() for r in keys],
            },
        }
    )
    if threshold is not None:
        body["threshold"] = threshold
    if witness_policy is not None:
        body["witness_policy"] = witness_policy
    return body


# --- the chain rule ------------------------------------------------------------------------


def _check_signatures(doc: FederationDoc, prev: FederationDoc | None) -> None:
    """Every signature is by a member of ``prev`` or ``doc`` and verifies."""
    known = {m.governance_keyid: m for m in doc.members}
    if prev is not None:
        known.update({m.governance_keyid: m for m in prev.members})
    message = pae(doc.envelope.payload_type, doc.envelope.payload)
    seen: set[str] = set()
    for keyid, sig in doc.envelope.signatures:
        if keyid in seen:
            raise VerificationError(f"version {doc.version}: key {keyid[:16]}… signed twice")
        seen.add(keyid)
        m = known.get(keyid)
        if m is None:
            where = (
                f"versions {prev.version} or {doc.version}" if prev else f"version {doc.version}"
            )
            raise VerificationError(
                f"version {doc.version} is signed by key {keyid[:16]}…, which is no member's "
                f"governance key in {where}"
            )
        try:
            VerifyKey(m.governance_key).verify(message, sig)
        except (BadSignatureError, ValueError):
            raise VerificationError(
                f"version {doc.version}: the signature of {m.name} does not verify "
                "(the document was changed after signing)"
            ) from None


def _need(doc: FederationDoc, of: FederationDoc, label: str) -> None:
    have = doc.signers(of.members)
    if len(have) < of.threshold:
        raise VerificationError(
            f"version {doc.version} has {len(have)} valid signature(s) from {label} "
            f"({', '.join(have) or 'none'}); {of.threshold} needed, "
            f"{of.threshold - len(have)} missing"
        )


def verify_genesis(raw: bytes) -> FederationDoc:
    """The pinned version a node is installed with (or an auditor trusts): well formed and
    validly signed by its own threshold of its own members. Other signatures (by members
    of the version before, which a later version also carries) are not counted. It is
    trusted because the operator installed it, not because of a chain."""
    doc = parse_document(raw)
    _need(doc, doc, f"version {doc.version}'s members")
    return doc


def verify_successor(prev: FederationDoc, raw: bytes, now: datetime) -> FederationDoc:
    """Check ``raw`` as the version after ``prev`` (see the module docstring).

    Raises:
        FormatError: malformed.
        VerificationError: wrong federation or version, expired, a stranger's or a bad
            signature, or too few signatures from either version's members.
    """
    doc = parse_document(raw)
    if doc.federation != prev.federation:
        raise VerificationError(
            f"document is for federation {doc.federation!r}, not {prev.federation!r}"
        )
    if doc.version != prev.version + 1:
        raise VerificationError(
            f"version {doc.version} cannot follow version {prev.version}: "
            f"only version {prev.version + 1} can"
        )
    if doc.issued_at < prev.issued_at:
        raise VerificationError(
            f"version {doc.version} is issued at {format_time(doc.issued_at)}, before "
            f"version {prev.version} ({format_time(prev.issued_at)})"
        )
    if doc.expired(now):
        raise VerificationError(f"version {doc.version} expired on {format_time(doc.expires_at)}")
    _check_signatures(doc, prev)
    _need(doc, prev, f"version {prev.version}'s members")
    _need(doc, doc, f"version {doc.version}'s own members")
    return doc


class GovernanceFork(ConflictError):
    """Two different documents with one version: evidence of a fork of governance."""

    kind = "fork"


class GovernanceRollback(ConflictError):
    """A version below the newest accepted that the chain does not hold."""

    kind = "rollback"


@dataclass
class Chain:
    """Accepted versions, pinned first; :meth:`offer` extends it or says why not.

    Evidence of misbehaviour is raised as ConflictError (a fork: another document
    with a version already accepted; a rollback: a version below the newest
    accepted that this chain does not hold) so the caller can keep the bytes.
    """

    docs: list[FederationDoc]

    @classmethod
    def pinned(cls, raw: bytes) -> Chain:
        return cls([verify_genesis(raw)])

    @property
    def latest(self) -> FederationDoc:
        return self.docs[-1]

    def get(self, version: int) -> FederationDoc | None:
        first = self.docs[0].version
        if first <= version <= self.latest.version:
            return self.docs[version - first]
        return None

    def offer(self, raw: bytes, now: datetime) -> FederationDoc | None:
        """Take one document: the next version (returned), one already held (None).

        Raises:
            GovernanceFork: same version, different document.
            GovernanceRollback: an older version this chain does not hold.
            FormatError, VerificationError: as :func:`verify_successor`.
        """
        doc = parse_document(raw)
        if doc.version <= self.latest.version:
            held = self.get(doc.version)
            if held is not None and held.digest == doc.digest:
                return None
            if held is not None:
                raise GovernanceFork(
                    f"fork of governance: a different version {doc.version} "
                    f"(payload {doc.digest[:16]}…, held {held.digest[:16]}…)"
                )
            raise GovernanceRollback(
                f"rollback: version {doc.version} is below version {self.latest.version}, "
                "the newest accepted"
            )
        new = verify_successor(self.latest, raw, now)
        self.docs.append(new)
        return new


def expiry_warning(doc: FederationDoc, now: datetime) -> str | None:
    """What every answer says when the document expired or expires within 30 days."""
    when = doc.expires_at.strftime("%Y-%m-%d")
    if doc.expired(now):
        return (
            f"federation document {doc.federation} version {doc.version} expired on {when}; "
            "the members must publish a new version"
        )
    if doc.expires_at - now <= EXPIRY_WARNING:
        return f"federation document {doc.federation} version {doc.version} expires on {when}"
    return None
