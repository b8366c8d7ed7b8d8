"""The files that travel when an agency joins: its certificate request and the anchor's answer.

An agency makes its own private keys (:func:`exchange.pki.request_certificates`)
and sends only ``request.json``: three PKCS#10 CSRs (node TLS, operator TLS,
Ed25519 signing key), each signed by its own key, plus its governance public key
and a signature by that key over the request. The anchor's holder checks it here
(:func:`parse_request`) before issuing, and sends back ``response.json``
(:func:`build_response`), which the agency checks against its keys
(:func:`parse_response`) before installing.

Both formats are JSON objects with a ``format`` tag and PEM strings; the CSRs
and certificates inside are verified from their own DER bytes, never rebuilt.
Nothing here touches files or the clock: :mod:`exchange.pki` does that.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from exchange.core import ed25519 as ed25519_rule
from exchange.core.errors import FormatError, ValidationError, VerificationError
from exchange.core.regions import validate_region
from exchange.core.x509 import OPERATOR_URI_PREFIX, REGION_URI_PREFIX, load_pem_chain

__all__ = [
    "MAX_FILE_BYTES",
    "REQUEST_FORMAT",
    "RESPONSE_FORMAT",
    "ROLES",
    "CertRequest",
    "CertResponse",
    "build_request",
    "build_response",
    "check_hosts",
    "check_name",
    "expected_sans",
    "expected_subject",
    "host_sans",
    "parse_request",
    "parse_response",
]

REQUEST_FORMAT = "brandex-certificate-request/1"
RESPONSE_FORMAT = "brandex-certificate-response/1"
ROLES = ("node", "operator", "signing")
"""The three certificates a member holds, in the order they are requested and issued."""

MAX_FILE_BYTES = 64 * 1024
"""A request or response is a few kilobytes; anything far larger is refused unread."""

_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
# RFC 1123 host names: letter/digit/hyphen labels, no wildcard, at most 253 characters.
_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_PROOF_CONTEXT = b"brandex certificate request: governance key of member\n"
# What cryptography raises on a malformed CSR or key; only some are ValueErrors.
_PARSE_ERRORS = (
    ValueError,
    UnicodeEncodeError,
    UnsupportedAlgorithm,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


# --- names and hosts (also used by exchange.pki) --------------------------------------------


def check_name(kind: str, name: object) -> str:
    """Refuse a member or federation name that could not be a directory name.

    Member names become directory names: anything that could escape the
    federation directory is refused.
    """
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValidationError(
            kind,
            "must be lowercase ASCII letters, digits, '-' or '_', starting with a letter",
            name,
        )
    return name


def _is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return True
    name = host[:-1] if host.endswith(".") else host
    return 0 < len(name) <= 253 and all(_LABEL_RE.fullmatch(p) for p in name.split("."))


def check_hosts(hosts: Iterable[str] | str) -> list[str]:
    """Return the distinct host names / IP addresses, refusing anything else.

    A certificate's DNS SAN is trusted by every TLS client in the federation,
    so only plain RFC 1123 names and IP literals pass (no wildcards, no URLs).
    """
    if isinstance(hosts, str):  # one name, not a sequence of one-letter names
        hosts = [hosts]
    checked: list[str] = []
    for host in hosts:
        if not isinstance(host, str) or not _is_host(host):
            raise ValidationError(
                "host", "must be a DNS name (letters, digits, '-', dots) or an IP address", host
            )
        if host not in checked:
            checked.append(host)
    return checked


def host_sans(hosts: Sequence[str]) -> list[x509.GeneralName]:
    """The DNS and IP SANs of a node certificate: localhost, 127.0.0.1, then ``hosts``."""
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    ips: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    for host in hosts:
        try:
            ip = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            dns = x509.DNSName(host)
            if dns not in names:
                names.append(dns)
        else:
            if ip not in ips:
                ips.append(ip)
    return names + ips


def expected_subject(role: str, name: str, region: str) -> str:
    """The common name brandex gives each role's certificate (one profile, one place)."""
    return {
        "node": f"brandex node {region} {name}",
        "operator": f"brandex operator {region} {name}",
        "signing": f"brandex signing key {region}",
    }[role]


def expected_sans(role: str, region: str, hosts: Sequence[str]) -> list[x509.GeneralName]:
    """The subject alternative names each role's certificate carries, and no others."""
    if role == "node":
        return [x509.UniformResourceIdentifier(REGION_URI_PREFIX + region), *host_sans(hosts)]
    if role == "operator":
        return [x509.UniformResourceIdentifier(OPERATOR_URI_PREFIX + region)]
    return [x509.UniformResourceIdentifier(REGION_URI_PREFIX + region)]


def _cn(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _show(general_name: x509.GeneralName) -> str:
    kind = {
        x509.DNSName: "DNS",
        x509.IPAddress: "IP",
        x509.UniformResourceIdentifier: "URI",
    }.get(type(general_name), type(general_name).__name__)
    return f"{kind}:{general_name.value}"


# --- requests ---------------------------------------------------------------------------------


PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class CertRequest:
    """A request that passed every check in :func:`parse_request`."""

    name: str
    region: str
    hosts: tuple[str, ...]
    csrs: Mapping[str, x509.CertificateSigningRequest]
    governance_key: ed25519.Ed25519PublicKey

    @property
    def governance_raw(self) -> bytes:
        return self.governance_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )


def _proof_message(
    name: str, region: str, governance_raw: bytes, csr_ders: Sequence[bytes]
) -> bytes:
    # Binds the governance key to this member and these three CSRs: a copied key
    # cannot be claimed by another request without its private half.
    parts = [
        name.encode(),
        region.encode(),
        governance_raw,
        *(hashlib.sha256(d).digest() for d in csr_ders),
    ]
    return _PROOF_CONTEXT + b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def _csr(role: str, key: PrivateKey, name: str, region: str, hosts: Sequence[str]) -> bytes:
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_cn(expected_subject(role, name, region)))
        .add_extension(
            x509.SubjectAlternativeName(expected_sans(role, region, hosts)), critical=False
        )
    )
    # Ed25519 signs the message itself; ECDSA needs a hash named.
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM)


def build_request(
    keys: Mapping[str, PrivateKey],
    governance: ed25519.Ed25519PrivateKey,
    name: str,
    region: str,
    hosts: Sequence[str],
) -> bytes:
    """The bytes of ``request.json``: CSRs of ``keys`` (role -> key), the governance proof."""
    pems = {role: _csr(role, keys[role], name, region, hosts) for role in ROLES}
    ders = [x509.load_pem_x509_csr(pems[r]).public_bytes(serialization.Encoding.DER) for r in ROLES]
    raw = governance.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    proof = governance.sign(_proof_message(name, region, raw, ders))
    doc = {
        "format": REQUEST_FORMAT,
        "name": name,
        "region": region,
        "hosts": list(hosts),
        "csrs": {role: pems[role].decode("ascii") for role in ROLES},
        "governance_key": governance.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii"),
        "governance_proof": base64.b64encode(proof).decode("ascii"),
    }
    return (json.dumps(doc, indent=2) + "\n").encode("utf-8")


def _load_json(data: bytes, what: str, fmt: str) -> dict[str, Any]:
    if len(data) > MAX_FILE_BYTES:
        raise FormatError(f"{what}: {len(data)} bytes, more than the {MAX_FILE_BYTES} allowed")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{what}: not valid UTF-8 JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise FormatError(f"{what}: expected a JSON object")
    if doc.get("format") != fmt:
        raise FormatError(f"{what}: format is {doc.get('format')!r}, expected {fmt!r}")
    return doc


def _field(doc: Mapping[str, Any], key: str, kind: type, what: str) -> Any:
    value = doc.get(key)
    if not isinstance(value, kind):
        raise FormatError(f"{what}: field {key!r} missing or not a {kind.__name__}")
    return value


def _check_key_type(role: str, public: object) -> None:
    if role == "signing":
        if not isinstance(public, ed25519.Ed25519PublicKey):
            raise ValidationError(
                "signing CSR", "key must be Ed25519", type(public).__name__.lstrip("_")
            )
    elif not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
        got = public.curve.name if isinstance(public, ec.EllipticCurvePublicKey) else public
        raise ValidationError(
            f"{role} CSR", "key must be ECDSA P-256 (secp256r1)", getattr(got, "__name__", got)
        )


def _check_csr(
    role: str, pem: str, name: str, region: str, hosts: Sequence[str]
) -> x509.CertificateSigningRequest:
    what = f"{role} CSR"
    try:
        csr = x509.load_pem_x509_csr(pem.encode("ascii"))
        # cryptography decodes lazily: decode everything now, so a malformed
        # field is reported as such and not as a crash further on.
        public = csr.public_key()
        _ = (csr.subject, csr.extensions, csr.signature_hash_algorithm)
    except _PARSE_ERRORS as exc:
        raise FormatError(f"{what}: not a PEM PKCS#10 request: {exc}") from None
    _check_key_type(role, public)
    try:
        valid = csr.is_signature_valid
    except (*_PARSE_ERRORS, InvalidSignature):
        valid = False
    if not valid:
        raise VerificationError(f"{what}: its signature does not verify with its own key")
    subject = expected_subject(role, name, region)
    if csr.subject != _cn(subject):
        raise ValidationError(what, f"subject must be CN={subject}", csr.subject.rfc4514_string())
    allowed = expected_sans(role, region, hosts)
    asked: list[x509.GeneralName] = []
    for ext in csr.extensions:
        if not isinstance(ext.value, x509.SubjectAlternativeName):
            raise ValidationError(
                what, "may ask only for subject alternative names", ext.oid.dotted_string
            )
        asked = list(ext.value)
    extra = [_show(g) for g in asked if g not in allowed]
    if extra:
        raise ValidationError(
            what,
            "asks for names it may not have (allowed: "
            + ", ".join(_show(g) for g in allowed)
            + ")",
            ", ".join(extra),
        )
    missing = [_show(g) for g in allowed if g not in asked]
    if missing:
        raise ValidationError(what, "lacks names its certificate must carry", ", ".join(missing))
    return csr


def parse_request(data: bytes) -> CertRequest:
    """Check a request completely; return it only if the anchor may certify what it asks.

    Checked: the format and size, the name's syntax, that the region is a valid
    GB/T 2260 code, the hosts' syntax, each CSR's signature by its own key, key
    types (P-256 for node and operator, Ed25519 for signing), subjects, and that
    each CSR asks for exactly the SANs brandex puts in that role's certificate;
    the governance key is Ed25519 and signed the request. What only the anchor
    knows (jurisdictions, existing members) is checked by :mod:`exchange.pki`.

    Raises:
        FormatError: not a request, malformed fields or PEM.
        ValidationError: a rule refused a value (the message names which).
        VerificationError: a CSR or the governance proof does not verify.
    """
    what = "certificate request"
    doc = _load_json(data, what, REQUEST_FORMAT)
    name = check_name("member", _field(doc, "name", str, what))
    region = _field(doc, "region", str, what)
    validate_region(region, "region")
    hosts = tuple(check_hosts(_field(doc, "hosts", list, what)))
    pems = _field(doc, "csrs", dict, what)
    if set(pems) != set(ROLES) or not all(isinstance(v, str) for v in pems.values()):
        raise FormatError(f"{what}: 'csrs' must hold exactly {', '.join(ROLES)} as PEM strings")
    csrs = {role: _check_csr(role, pems[role], name, region, hosts) for role in ROLES}

    try:
        governance = serialization.load_pem_public_key(
            _field(doc, "governance_key", str, what).encode("ascii")
        )
    except _PARSE_ERRORS as exc:
        raise FormatError(f"{what}: governance_key is not a PEM public key: {exc}") from None
    if not isinstance(governance, ed25519.Ed25519PublicKey):
        raise ValidationError("governance key", "must be Ed25519", type(governance).__name__)
    try:
        proof = base64.b64decode(_field(doc, "governance_proof", str, what), validate=True)
    except ValueError:
        raise FormatError(f"{what}: governance_proof is not base64") from None
    raw = governance.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ders = [csrs[r].public_bytes(serialization.Encoding.DER) for r in ROLES]
    # The node's Ed25519 rule (libsodium's accept set), not OpenSSL's: one rule everywhere.
    if not ed25519_rule.verify(raw, _proof_message(name, region, raw, ders), proof):
        raise VerificationError(
            f"{what}: governance_proof is not a signature of this request by its governance key"
        )
    return CertRequest(name, region, hosts, csrs, governance)


# --- responses --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertResponse:
    """A parsed response; :func:`exchange.pki.install_certificates` checks it against the keys."""

    federation: str
    name: str
    region: str
    anchor: x509.Certificate
    certificates: Mapping[str, x509.Certificate]


def build_response(
    federation: str,
    name: str,
    region: str,
    anchor: x509.Certificate,
    certificates: Mapping[str, x509.Certificate],
) -> bytes:
    """The bytes of ``response.json``: the issued certificates and the anchor that signed them."""

    def pem(cert: x509.Certificate) -> str:
        return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")

    doc = {
        "format": RESPONSE_FORMAT,
        "federation": federation,
        "name": name,
        "region": region,
        "anchor": pem(anchor),
        "certificates": {role: pem(certificates[role]) for role in ROLES},
    }
    return (json.dumps(doc, indent=2) + "\n").encode("utf-8")


def _one_cert(pem: object, what: str) -> x509.Certificate:
    if not isinstance(pem, str) or not pem.isascii():
        raise FormatError(f"{what}: not a PEM string")
    try:
        certs = load_pem_chain(pem.encode("ascii"))
    except FormatError as exc:
        raise FormatError(f"{what}: {exc}") from None
    if len(certs) != 1:
        raise FormatError(f"{what}: expected one certificate, found {len(certs)}")
    return certs[0]


def parse_response(data: bytes) -> CertResponse:
    """Parse a response's shape; the chain and key checks need the member's keys and the clock.

    Raises:
        FormatError: not a response, or a field is malformed.
        ValidationError: a malformed name or region.
    """
    what = "certificate response"
    doc = _load_json(data, what, RESPONSE_FORMAT)
    federation = check_name("federation", _field(doc, "federation", str, what))
    name = check_name("member", _field(doc, "name", str, what))
    region = _field(doc, "region", str, what)
    validate_region(region, "region")
    anchor = _one_cert(doc.get("anchor"), f"{what}: anchor")
    pems = _field(doc, "certificates", dict, what)
    if set(pems) != set(ROLES):
        raise FormatError(f"{what}: 'certificates' must hold exactly {', '.join(ROLES)}")
    certs = {role: _one_cert(pems[role], f"{what}: {role} certificate") for role in ROLES}
    return CertResponse(federation, name, region, anchor, certs)
