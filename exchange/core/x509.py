"""X.509 identity for brandex: who a certificate speaks for, and whether to believe it.

A federation trusts one or more *anchors* (self-signed root CAs). Each anchor
lists the regions it may certify as ``urn:brandex:jurisdiction:<code>`` URI
SANs, because in the real world every province runs its own CA and must not be
able to mint a certificate for another province. A member certificate names its
region as ``urn:brandex:region:<code>`` (nodes and Ed25519 signing keys) or
``urn:brandex:operator:<code>`` (an agency's operator client) or
``urn:brandex:staff:<code>`` (a read-only client of that region's staff, e.g.
its staff console); it is believed
only if it chains to an anchor whose jurisdictions contain that region.

TLS libraries check the chain but know nothing of jurisdictions, so with
several anchors loaded, a TLS handshake alone would let the Henan CA vouch for
Zhejiang. :func:`verify_chain` is the check that closes that gap; callers run it
on every peer certificate and every signing certificate.

Pure like the rest of :mod:`exchange.core`: no files, no sockets, no clock. The
moment of verification is the caller's ``at`` (an aware :class:`datetime`), so
an auditor can re-check an old entry against the time it was signed.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID

from exchange.core.errors import FormatError, VerificationError

__all__ = [
    "JURISDICTION_URI_PREFIX",
    "OPERATOR_URI_PREFIX",
    "REGION_URI_PREFIX",
    "STAFF_URI_PREFIX",
    "anchor_jurisdictions",
    "cert_operator_region",
    "cert_region",
    "cert_staff_region",
    "describe",
    "load_crl",
    "load_pem_chain",
    "raw_ed25519_public",
    "region_within",
    "uri_sans",
    "verify_chain",
    "verify_signing_certificate",
]

REGION_URI_PREFIX = "urn:brandex:region:"
"""URI SAN prefix naming the region a node or signing key speaks for."""

OPERATOR_URI_PREFIX = "urn:brandex:operator:"
"""URI SAN prefix naming the region whose operator (agency staff client) holds the cert."""

STAFF_URI_PREFIX = "urn:brandex:staff:"
"""URI SAN prefix naming the region whose staff hold a read-only client certificate
(the staff console): it may call the read RPCs and nothing that writes."""

JURISDICTION_URI_PREFIX = "urn:brandex:jurisdiction:"
"""URI SAN prefix, on anchors only, naming a region the anchor may certify."""

# A chain longer than this is a loop or an attack, not a federation's PKI.
_MAX_DEPTH = 8

# What cryptography raises on malformed certificates; only some are ValueErrors.
_PARSE_ERRORS = (
    ValueError,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


def load_pem_chain(data: bytes) -> list[x509.Certificate]:
    """Parse every certificate in a PEM bundle, leaf first as written.

    Peers and bundles hand over chains as concatenated PEM; parsing them in one
    place gives one error type for every malformed input.

    Args:
        data: one or more ``-----BEGIN CERTIFICATE-----`` blocks.

    Returns:
        The certificates in file order.

    Raises:
        FormatError: if the bytes hold no certificate or a block does not parse.
    """
    try:
        with warnings.catch_warnings():  # see the serial number check below
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            certs = x509.load_pem_x509_certificates(data)
    except _PARSE_ERRORS as exc:
        raise FormatError(f"not a PEM certificate chain: {exc}") from None
    if not certs:  # pragma: no cover - cryptography raises instead
        raise FormatError("not a PEM certificate chain: no certificate found")
    for n, cert in enumerate(certs, start=1):
        # cryptography decodes names, extensions and validity on first use, so a
        # malformed one would surface later as a ValueError from describe() or
        # verify_chain(); decode them now and report it as what it is. It only
        # warns about a zero or negative serial number (later releases refuse
        # it); RFC 5280 forbids it, and so do we.
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                serial = cert.serial_number
                _ = (cert.subject, cert.issuer, cert.extensions)
                _ = (cert.not_valid_before_utc, cert.not_valid_after_utc)
        except _PARSE_ERRORS as exc:
            raise FormatError(f"not a PEM certificate chain: certificate {n}: {exc}") from None
        if serial <= 0:
            raise FormatError(
                f"not a PEM certificate chain: certificate {n}: serial number"
                f" {serial} is not positive (RFC 5280, 4.1.2.2)"
            )
    return certs


def describe(cert: x509.Certificate) -> str:
    """Return the certificate's common name (or full subject) for messages.

    Error messages must tell an operator *which* certificate failed; the CN is
    what they chose when they made it.
    """
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if names:
        value = names[0].value
        return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return cert.subject.rfc4514_string() or "<empty subject>"


def uri_sans(cert: x509.Certificate) -> list[str]:
    """Return every URI in the certificate's subjectAltName, in order.

    Identity lives in URI SANs (not the CN) because SANs are typed and cannot
    be confused with a display name.
    """
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(ext.value.get_values_for_type(x509.UniformResourceIdentifier))


def _is_code(value: str) -> bool:
    return len(value) == 6 and value.isascii() and value.isdigit()


def _codes_with_prefix(cert: x509.Certificate, prefix: str) -> list[str]:
    codes: list[str] = []
    for uri in uri_sans(cert):
        if not uri.startswith(prefix):
            continue
        code = uri[len(prefix) :]
        if not _is_code(code):
            raise VerificationError(
                f"certificate {describe(cert)!r} has a malformed region URI {uri!r}"
                " (expected six digits, GB/T 2260)"
            )
        if code not in codes:
            codes.append(code)
    return codes


def _single_code(cert: x509.Certificate, prefix: str) -> str | None:
    codes = _codes_with_prefix(cert, prefix)
    if len(codes) > 1:
        raise VerificationError(
            f"certificate {describe(cert)!r} names several regions {codes};"
            " a certificate speaks for exactly one"
        )
    return codes[0] if codes else None


def cert_region(cert: x509.Certificate) -> str | None:
    """Return the region a node or signing certificate speaks for.

    Returns:
        The code from the ``urn:brandex:region:`` URI SAN, or ``None`` if the
        certificate has none (an operator certificate, a foreign certificate).

    Raises:
        VerificationError: if the URI is malformed or several regions are
            named: one certificate must mean one issuer, never a choice.
    """
    return _single_code(cert, REGION_URI_PREFIX)


def cert_operator_region(cert: x509.Certificate) -> str | None:
    """Return the region whose operator holds this client certificate.

    Write RPCs are for a node's own operator only (trust rule 4); this is the
    value an authorisation check compares with the node's region.

    Raises:
        VerificationError: if the URI is malformed or several regions are named.
    """
    return _single_code(cert, OPERATOR_URI_PREFIX)


def cert_staff_region(cert: x509.Certificate) -> str | None:
    """Return the region whose staff (read-only role) hold this client certificate.

    Raises:
        VerificationError: if the URI is malformed or several regions are named.
    """
    return _single_code(cert, STAFF_URI_PREFIX)


def anchor_jurisdictions(anchor: x509.Certificate) -> list[str]:
    """Return the regions an anchor may certify, in certificate order.

    An anchor without jurisdiction URIs certifies nothing: authority is never
    assumed from absence.

    Raises:
        VerificationError: if a jurisdiction URI is malformed.
    """
    return _codes_with_prefix(anchor, JURISDICTION_URI_PREFIX)


def region_within(region: str, jurisdiction: str) -> bool:
    """Tell whether ``region`` lies within ``jurisdiction`` by the code's digits.

    This is the certificate-scoping rule, deliberately simpler than the
    GB/T 2260 table in :mod:`exchange.core.regions` so that it can be checked by
    anyone with the certificate alone: a province ``XX0000`` contains every code
    starting ``XX``; a city ``XXYY00`` contains every code starting ``XXYY``; a
    county contains only itself. Malformed codes are within nothing, so a
    garbled SAN can never widen authority.
    """
    if not (_is_code(region) and _is_code(jurisdiction)):
        return False
    if region == jurisdiction:
        return True
    if jurisdiction.endswith("0000"):
        return region.startswith(jurisdiction[:2])
    if jurisdiction.endswith("00"):
        return region.startswith(jurisdiction[:4])
    return False


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be a timezone-aware datetime (certificates use UTC)")


def _check_validity(cert: x509.Certificate, at: datetime) -> None:
    not_before = cert.not_valid_before_utc
    not_after = cert.not_valid_after_utc
    if at < not_before:
        raise VerificationError(
            f"certificate {describe(cert)!r} is not valid until {not_before.isoformat()}"
            f" (checked at {at.isoformat()})"
        )
    if at > not_after:
        raise VerificationError(
            f"certificate {describe(cert)!r} expired on {not_after.isoformat()}"
            f" (checked at {at.isoformat()})"
        )


def _check_issuer(ca: x509.Certificate, cas_below: int) -> None:
    """Refuse an issuer that is not allowed to issue at this depth.

    Args:
        ca: the issuing certificate (an intermediate or an anchor).
        cas_below: how many CA certificates lie between ``ca`` and the leaf.
    """
    try:
        constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise VerificationError(
            f"issuer {describe(ca)!r} is not a CA (basicConstraints cA is not set)"
        )
    if constraints.path_length is not None and cas_below > constraints.path_length:
        raise VerificationError(
            f"issuer {describe(ca)!r} allows {constraints.path_length} intermediate"
            f" CA(s) below it, chain has {cas_below}"
        )
    try:
        usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.key_cert_sign:
        raise VerificationError(f"issuer {describe(ca)!r} keyUsage lacks keyCertSign")


def _find_issuer(
    cert: x509.Certificate, candidates: Iterable[x509.Certificate]
) -> x509.Certificate | None:
    for candidate in candidates:
        if candidate.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(candidate)
        except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
            # Same name, different key (e.g. two federations both called "yrd"), or a
            # key type we cannot use: keep looking; only a verifying signature counts.
            continue
        return candidate
    return None


def _build_path(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
) -> tuple[list[x509.Certificate], x509.Certificate]:
    """Return (intermediates leaf-side first, anchor), checking every signature."""
    path: list[x509.Certificate] = []
    remaining = list(intermediates)
    current = leaf
    for _ in range(_MAX_DEPTH):
        anchor = _find_issuer(current, anchors)
        if anchor is not None:
            return path, anchor
        issuer = _find_issuer(current, remaining)
        if issuer is None:
            break
        remaining.remove(issuer)
        path.append(issuer)
        current = issuer
    raise VerificationError(
        f"certificate {describe(leaf)!r} is not issued by any trusted anchor"
        f" (issuer {current.issuer.rfc4514_string()!r})"
    )


def verify_chain(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    *,
    at: datetime,
) -> x509.Certificate:
    """Verify a member certificate against the trusted anchors and their jurisdictions.

    Checks, in order: every link's signature (``verify_directly_issued_by``),
    that every issuer is a CA allowed to issue at its depth, every validity
    window (leaf, intermediates, anchor) against ``at``, and that each region the
    leaf names (its ``urn:brandex:region:``, ``operator:`` or ``staff:`` URI SAN) lies
    within a jurisdiction of the anchor it chains to. It does not check
    extended key usage: TLS already did that for peers, and signing
    certificates have their own check in :func:`verify_signing_certificate`.

    Args:
        leaf: the certificate to believe or not.
        intermediates: extra CA certificates the presenter sent (may be empty;
            order does not matter; anchors among them are ignored).
        anchors: the trusted roots, each scoped by its jurisdiction URIs.
        at: the moment of verification; must be timezone-aware.

    Returns:
        The anchor the leaf chains to, so a caller can say who vouched.

    Raises:
        VerificationError: with a message naming the cause (untrusted issuer,
            expiry, not-a-CA issuer, region outside the anchor's jurisdictions,
            no region named).
        ValueError: if ``at`` is naive.
    """
    _require_aware(at)
    if not anchors:
        raise VerificationError("no trusted anchors configured")
    path, anchor = _build_path(leaf, intermediates, anchors)
    for depth, ca in enumerate([*path, anchor]):
        _check_issuer(ca, depth)
    for cert in [leaf, *path, anchor]:
        _check_validity(cert, at)

    named = (cert_region(leaf), cert_operator_region(leaf), cert_staff_region(leaf))
    regions = [r for r in named if r is not None]
    if not regions:
        raise VerificationError(
            f"certificate {describe(leaf)!r} names no region"
            f" (no {REGION_URI_PREFIX}, {OPERATOR_URI_PREFIX} or {STAFF_URI_PREFIX} URI SAN)"
        )
    jurisdictions = anchor_jurisdictions(anchor)
    for region in regions:
        if not any(region_within(region, j) for j in jurisdictions):
            raise VerificationError(
                f"certificate for region {region} is not within anchor"
                f" {describe(anchor)!r} jurisdictions [{', '.join(jurisdictions)}]"
            )
    return anchor


def raw_ed25519_public(cert: x509.Certificate) -> bytes:
    """Return the certificate's 32-byte Ed25519 public key.

    DSSE key ids and C2SP note keys are computed over the raw key, so this is
    the bridge from the X.509 world to the signature world.

    Raises:
        VerificationError: if the key is not Ed25519.
    """
    key = cert.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise VerificationError(
            f"certificate {describe(cert)!r} holds a {type(key).__name__}, not an Ed25519 key"
        )
    return key.public_bytes_raw()


def verify_signing_certificate(
    cert: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    *,
    at: datetime,
    region: str,
) -> bytes:
    """Verify that ``cert`` certifies an entry-signing key for ``region``.

    Trust rule 1 (only region R's certified key writes origin ``.../R``) rests
    on this: the chain and jurisdiction must verify, the key must be Ed25519 (the
    DSSE and note algorithm), keyUsage must allow digitalSignature and must not
    allow certificate signing, and the region SAN must be exactly ``region``.
    A province's key does not sign for its cities: containment is for anchors.

    Args:
        cert: the signing certificate.
        intermediates: extra CA certificates (may be empty).
        anchors: the trusted roots.
        at: the moment the signature is judged at; timezone-aware.
        region: the origin's region code the key must belong to.

    Returns:
        The raw 32-byte Ed25519 public key, ready for ``exchange.core.ed25519.VerifyKey``.

    Raises:
        VerificationError: naming the first check that failed.
    """
    verify_chain(cert, intermediates, anchors, at=at)
    raw = raw_ed25519_public(cert)
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise VerificationError(
            f"signing certificate {describe(cert)!r} has no keyUsage extension"
        ) from None
    if not usage.digital_signature:
        raise VerificationError(
            f"signing certificate {describe(cert)!r} keyUsage lacks digitalSignature"
        )
    if usage.key_cert_sign:
        raise VerificationError(
            f"signing certificate {describe(cert)!r} may sign certificates; refused"
        )
    named = cert_region(cert)
    if named != region:
        raise VerificationError(
            f"signing certificate {describe(cert)!r} is for region {named}, not {region}"
        )
    return raw


def load_crl(data: bytes, anchors: Sequence[x509.Certificate], at: datetime) -> frozenset[int]:
    """The serial numbers a certificate revocation list (PEM) revokes.

    The list must be signed by one of ``anchors`` (the issuer named in it) and
    not be past its next update at ``at``: a list nobody trusted signed, or a
    stale one, is refused rather than read.

    Raises:
        FormatError: not a PEM CRL.
        VerificationError: not signed by an anchor, or out of date.
    """
    _require_aware(at)
    try:
        crl = x509.load_pem_x509_crl(data)
    except ValueError as exc:
        raise FormatError(f"not a PEM certificate revocation list: {exc}") from None
    issuers = [a for a in anchors if a.subject == crl.issuer]
    if not any(crl.is_signature_valid(a.public_key()) for a in issuers):
        raise VerificationError(
            f"revocation list issued by {crl.issuer.rfc4514_string()!r} is not signed by a "
            "trusted anchor"
        )
    nxt = crl.next_update_utc
    if nxt is not None and at > nxt:
        raise VerificationError(f"revocation list expired on {nxt.isoformat()}")
    return frozenset(r.serial_number for r in crl)
