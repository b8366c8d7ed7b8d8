"""Building X.509 certificates for a federation: its anchor, and what the anchor issues.

One place makes every certificate brandex writes: the self-signed anchor
(:func:`make_anchor`), member, staff and signing certificates
(:func:`issue_certificate`, with the extended key usages of :data:`EKU`), and
signing keys for harnesses (:func:`certify_origins`). The enrolment steps
(:mod:`exchange.pki_enrol`) and the file-level API (:mod:`exchange.pki`) call
it; tests that need a certificate the CLI would refuse (a rogue one, one from
another time) call it directly. The verification side is :mod:`exchange.core.x509`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nacl.signing
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from exchange.core.errors import FormatError, NotFoundError, ValidationError
from exchange.core.regions import validate_region
from exchange.core.x509 import JURISDICTION_URI_PREFIX, anchor_jurisdictions, region_within
from exchange.pki_request import check_name, expected_sans

ANCHOR_VALIDITY_YEARS = 10
MEMBER_VALIDITY_YEARS = 2

# Clock skew between machines should not make a fresh certificate "not yet valid".
BACKDATE = timedelta(hours=1)
ANCHOR_CERT = "anchor.pem"
ANCHOR_KEY = "anchor.key"


def check_within(region: str, jurisdictions: Sequence[str], anchor_name: str) -> None:
    if not any(region_within(region, j) for j in jurisdictions):
        raise ValidationError(
            "region",
            f"not within anchor {anchor_name!r} jurisdictions [{', '.join(jurisdictions)}]",
            region,
        )


def utc_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now.astimezone(UTC)


def add_years(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February in a non-leap target year
        return moment.replace(year=moment.year + years, day=28)


def common_name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def anchor_name(federation: str) -> str:
    return f"brandex {federation} anchor"


@dataclass(frozen=True)
class Issuer:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def make_anchor(federation: str, jurisdictions: Sequence[str], now: datetime) -> Issuer:
    key = ec.generate_private_key(ec.SECP256R1())
    name = common_name(anchor_name(federation))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(add_years(now, ANCHOR_VALIDITY_YEARS))
        # pathLen 0: this tooling issues members directly; no intermediate may appear.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(JURISDICTION_URI_PREFIX + j) for j in jurisdictions]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issuer(cert, key)


def digital_signature_only() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def issue_certificate(
    issuer: Issuer,
    subject: str,
    public_key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey,
    sans: list[x509.GeneralName],
    eku: list[x509.ObjectIdentifier] | None,
    now: datetime,
) -> x509.Certificate:
    # A member certificate must not outlive the anchor that vouches for it.
    not_after = min(add_years(now, MEMBER_VALIDITY_YEARS), issuer.cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(common_name(subject))
        .issuer_name(issuer.cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(digital_signature_only(), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return builder.sign(issuer.key, hashes.SHA256())


def key_to_pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),  # demo federation: see the module docstring
    )


def cert_to_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


EKU: dict[str, list[x509.ObjectIdentifier] | None] = {
    "node": [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
    "operator": [ExtendedKeyUsageOID.CLIENT_AUTH],
    "staff": [ExtendedKeyUsageOID.CLIENT_AUTH],
    "signing": None,
}


def public_key_pem(key: ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def anchor_label(anchor: x509.Certificate) -> str:
    cn = anchor.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cn[0].value) if cn else anchor.subject.rfc4514_string()


def load_issuer(out: Path) -> Issuer:
    cert_path, key_path = out / ANCHOR_CERT, out / ANCHOR_KEY
    try:
        cert_pem, key_pem = cert_path.read_bytes(), key_path.read_bytes()
    except FileNotFoundError as exc:
        raise NotFoundError(f"no anchor in {out} (missing {Path(exc.filename).name})") from None
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise FormatError(f"{out}: cannot read the anchor: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise FormatError(f"{key_path} is not the private key of {cert_path}")
    return Issuer(cert, key)


def certify_origins(
    out: Path, regions: Mapping[str, str], now: datetime | None = None
) -> dict[str, tuple[nacl.signing.SigningKey, str]]:
    """Signing keys and certificates for many origins at once, in memory only.

    For harnesses that build a large federation's logs offline (thousands of
    origins): a real key and a certificate from the anchor in ``out`` for each
    region, exactly as a member's, without the TLS and operator credentials or
    any file (a member's full set costs tens of milliseconds, mostly fsync).

    Returns:
        name -> (signing key, certificate PEM).

    Raises:
        NotFoundError: no federation or anchor in ``out``.
        ValidationError: a region that is unknown or outside the anchor's jurisdictions.
    """
    out = Path(out)
    moment = utc_now(now)
    issuer = load_issuer(out)
    anchor_cn = issuer.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    label = str(anchor_cn[0].value) if anchor_cn else issuer.cert.subject.rfc4514_string()
    jurisdictions = anchor_jurisdictions(issuer.cert)
    result = {}
    for name, region in regions.items():
        check_name("member", name)
        validate_region(region, "region")
        check_within(region, jurisdictions, label)
        key = ed25519.Ed25519PrivateKey.generate()
        cert = issue_certificate(
            issuer,
            f"brandex signing key {region}",
            key.public_key(),
            expected_sans("signing", region, ()),
            None,
            moment,
        )
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        result[name] = (nacl.signing.SigningKey(raw), cert_to_pem(cert).decode())
    return result
