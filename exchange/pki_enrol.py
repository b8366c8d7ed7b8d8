"""A member's enrolment in three steps, in memory: request, sign, install.

Each step returns ``{MemberPaths field: file contents}`` or the bytes that
travel between agency and anchor (the formats are in :mod:`exchange.pki_request`);
:mod:`exchange.pki` reads and writes the files around them, so a refusal at any
step leaves nothing behind. :func:`run_flow` chains the three for a whole demo
federation on one machine: there is one way a member certificate comes to be.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID

from exchange.core.errors import ConflictError, FormatError, ValidationError, VerificationError
from exchange.core.x509 import anchor_jurisdictions, cert_operator_region, cert_region, verify_chain
from exchange.pki_issue import (
    EKU,
    Issuer,
    anchor_label,
    cert_to_pem,
    check_within,
    issue_certificate,
    key_to_pem,
    public_key_pem,
)
from exchange.pki_request import (
    ROLES,
    CertRequest,
    build_request,
    build_response,
    expected_sans,
    expected_subject,
    parse_request,
    parse_response,
)

if TYPE_CHECKING:
    from exchange.pki import MemberPaths

# Which MemberPaths field holds each role's private key and certificate.
KEY_FIELD = {"node": "node_key", "operator": "operator_key", "signing": "signing_key"}
CERT_FIELD = {"node": "node_cert", "operator": "operator_cert", "signing": "signing_cert"}

# --- the three steps, in memory ----------------------------------------------------------------
# Each returns {MemberPaths field: file contents}; writing is the caller's last act, so a
# refusal at any step leaves nothing behind.


def new_request(name: str, region: str, hosts: Sequence[str]) -> dict[str, bytes]:
    """Step 1 (the member): fresh private keys and the request that proves possession of them."""
    keys: dict[str, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey] = {
        "node": ec.generate_private_key(ec.SECP256R1()),
        "operator": ec.generate_private_key(ec.SECP256R1()),
        "signing": ed25519.Ed25519PrivateKey.generate(),
    }
    governance = ed25519.Ed25519PrivateKey.generate()
    files = {KEY_FIELD[role]: key_to_pem(keys[role]) for role in ROLES}
    files["governance_key"] = key_to_pem(governance)
    files["governance_pub"] = public_key_pem(governance)
    files["request"] = build_request(keys, governance, name, region, hosts)
    return files


def tls_files(
    issuer: Issuer, name: str, region: str, hosts: Sequence[str], now: datetime
) -> dict[str, bytes]:
    """A member's node (server and client) and operator (client) keys and certificates."""
    node_key = ec.generate_private_key(ec.SECP256R1())
    node = issue_certificate(
        issuer,
        f"brandex node {region} {name}",
        node_key.public_key(),
        expected_sans("node", region, hosts),
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        now,
    )
    operator_key = ec.generate_private_key(ec.SECP256R1())
    operator = issue_certificate(
        issuer,
        f"brandex operator {region} {name}",
        operator_key.public_key(),
        expected_sans("operator", region, ()),
        [ExtendedKeyUsageOID.CLIENT_AUTH],
        now,
    )
    return {
        "node.pem": cert_to_pem(node),
        "node.key": key_to_pem(node_key),
        "operator.pem": cert_to_pem(operator),
        "operator.key": key_to_pem(operator_key),
    }


def check_new_member(
    doc: Mapping[str, Any], name: str, region: str, governance_hex: str | None = None
) -> None:
    """Refuse a name, region or governance key that already belongs to a member."""
    members: Mapping[str, Mapping[str, str]] = doc["members"]
    if name in members:
        raise ConflictError(f"member {name!r} already exists (region {members[name]['region']})")
    for other, entry in members.items():
        if entry["region"] == region:
            raise ConflictError(f"region {region} already belongs to member {other!r}")
        if governance_hex is not None and entry.get("governance_key") == governance_hex:
            raise ConflictError(f"the governance key is already member {other!r}'s")


def sign_member(
    issuer: Issuer, doc: Mapping[str, Any], request: bytes, now: datetime
) -> tuple[CertRequest, bytes, dict[str, str]]:
    """Step 2 (the anchor): check ``request`` against the anchor and ``doc``; issue.

    Returns the checked request, the response bytes and the member's entry for
    ``federation.json``; ``doc`` is not changed.
    """
    req = parse_request(request)
    check_within(req.region, anchor_jurisdictions(issuer.cert), anchor_label(issuer.cert))
    governance_hex = req.governance_raw.hex()
    check_new_member(doc, req.name, req.region, governance_hex)
    certs = {
        role: issue_certificate(
            issuer,
            expected_subject(role, req.name, req.region),
            req.csrs[role].public_key(),  # type: ignore[arg-type]  # types checked in parse
            expected_sans(role, req.region, req.hosts),
            EKU[role],
            now,
        )
        for role in ROLES
    }
    response = build_response(doc["federation"], req.name, req.region, issuer.cert, certs)
    return req, response, {"region": req.region, "governance_key": governance_hex}


def install_response(
    keys: Mapping[str, bytes],
    response: bytes,
    request: bytes | None,
    now: datetime,
    expect_anchor: x509.Certificate | None = None,
    where: str = "the member directory",
) -> dict[str, bytes]:
    """Step 3 (the member): check the response against its keys; return the certificate files.

    ``keys`` maps each role to its private key PEM. Every certificate must hold
    that key's public half and chain to the response's anchor (which must be
    ``expect_anchor`` when given) within its jurisdictions, for the region and
    name the member asked for (``request``, when it is at hand).
    """
    resp = parse_response(response)
    # The anchor is installed as the member's trust root: a changed byte in it
    # (its jurisdictions, say) must be caught even when no anchor is pinned.
    try:
        resp.anchor.verify_directly_issued_by(resp.anchor)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        raise VerificationError(
            f"the response's anchor {anchor_label(resp.anchor)!r} is not validly self-signed"
        ) from None
    if expect_anchor is not None and resp.anchor != expect_anchor:
        raise VerificationError(
            f"the response's anchor {anchor_label(resp.anchor)!r} is not the anchor you trust"
            f" ({anchor_label(expect_anchor)!r})"
        )
    if request is not None:
        asked = parse_request(request)
        if (asked.name, asked.region) != (resp.name, resp.region):
            raise ValidationError(
                "response",
                f"is for {resp.name!r} in {resp.region}, but {where} asked for"
                f" {asked.name!r} in {asked.region}",
            )
    for role in ROLES:
        cert = resp.certificates[role]
        try:
            key = serialization.load_pem_private_key(keys[role], password=None)
        except (ValueError, TypeError) as exc:
            raise FormatError(f"{where}: cannot read the {role} key: {exc}") from None
        try:
            matches = key.public_key() == cert.public_key()
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise FormatError(f"the {role} certificate's key cannot be read: {exc}") from None
        if not matches:
            raise VerificationError(
                f"the {role} certificate is not for the {role} key in {where}"
                " (a response for other keys, or keys made again since the request)"
            )
        try:
            verify_chain(cert, [], [resp.anchor], at=now)
        except VerificationError as exc:
            raise VerificationError(f"the {role} certificate: {exc}") from None
        named = cert_operator_region(cert) if role == "operator" else cert_region(cert)
        if named != resp.region:
            raise VerificationError(
                f"the {role} certificate names region {named}, not {resp.region}"
            )
    files = {CERT_FIELD[role]: cert_to_pem(resp.certificates[role]) for role in ROLES}
    files["installed_anchor"] = cert_to_pem(resp.anchor)
    return files


def run_flow(
    issuer: Issuer,
    doc: dict[str, Any],
    paths: MemberPaths,
    name: str,
    region: str,
    hosts: Sequence[str],
    now: datetime,
) -> dict[str, bytes]:
    """Request, sign and install one member in memory; records it in ``doc``.

    The same three steps the CLI runs across agencies, for the conveniences
    that make a whole demo federation on one machine.
    """
    files = new_request(name, region, hosts)
    _, response, entry = sign_member(issuer, doc, files["request"], now)
    keys = {role: files[KEY_FIELD[role]] for role in ROLES}
    files.update(
        install_response(
            keys, response, files["request"], now, issuer.cert, str(paths.request.parent)
        )
    )
    doc["members"][name] = entry
    return files
