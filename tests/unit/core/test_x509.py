"""Tests for exchange.core.x509: region URIs, jurisdiction scoping and chain verification.

Certificates are built in memory here (no files), so each test states exactly
the property it breaks: an expired leaf, a foreign anchor with the same name, a
CA that may not issue, a region outside the anchor's jurisdictions.
"""

from __future__ import annotations

import base64
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from exchange.core.errors import FormatError, VerificationError
from exchange.core.x509 import (
    JURISDICTION_URI_PREFIX,
    OPERATOR_URI_PREFIX,
    REGION_URI_PREFIX,
    anchor_jurisdictions,
    cert_operator_region,
    cert_region,
    load_pem_chain,
    raw_ed25519_public,
    region_within,
    uri_sans,
    verify_chain,
    verify_signing_certificate,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
Key = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _usage(*, sign: bool = True, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def make_cert(
    cn: str,
    *,
    uris: Sequence[str] = (),
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    key: Key | None = None,
    ca: bool = False,
    path_length: int | None = None,
    usage: x509.KeyUsage | None = None,
    not_before: datetime = NOW - timedelta(days=1),
    not_after: datetime = NOW + timedelta(days=365),
) -> tuple[x509.Certificate, Key]:
    """Build one certificate; self-signed when ``issuer`` is None."""
    key = key if key is not None else ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer_name, signer = (name, key) if issuer is None else (issuer[0].subject, issuer[1])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(usage or _usage(sign=not ca, cert_sign=ca), critical=True)
    )
    if uris:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris]),
            critical=False,
        )
    return builder.sign(signer, hashes.SHA256()), key  # type: ignore[arg-type]


def make_anchor(
    federation: str, jurisdictions: list[str], **kw: object
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    kw.setdefault("path_length", 0)
    cert, key = make_cert(
        f"brandex {federation} anchor",
        uris=[JURISDICTION_URI_PREFIX + j for j in jurisdictions],
        ca=True,
        **kw,  # type: ignore[arg-type]
    )
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return cert, key


def make_node(
    anchor: tuple[x509.Certificate, ec.EllipticCurvePrivateKey], region: str, **kw: object
) -> x509.Certificate:
    cert, _ = make_cert(
        f"brandex node {region}",
        uris=[REGION_URI_PREFIX + region],
        issuer=anchor,
        **kw,  # type: ignore[arg-type]
    )
    return cert


@pytest.fixture(scope="module")
def yrd() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    return make_anchor("yrd", ["310000", "320000", "330000", "340000"])


@pytest.fixture(scope="module")
def henan() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    return make_anchor("henan", ["410000"])


# --- region_within -----------------------------------------------------------------------

WITHIN = [
    ("330000", "330000", True),
    ("330300", "330000", True),  # Wenzhou in Zhejiang
    ("330302", "330000", True),
    ("330302", "330300", True),  # a district of Wenzhou
    ("330300", "330300", True),
    ("411628", "410000", True),  # Luyi in Henan
    ("411628", "411600", True),  # Luyi in Zhoukou
    ("411628", "411628", True),
    ("330000", "330300", False),  # a city does not contain its province
    ("320500", "330000", False),
    ("341300", "320500", False),
    ("411627", "411628", False),  # a county contains only itself
    ("33030", "330000", False),  # malformed codes are within nothing
    ("３３０３００", "330000", False),
    ("330300", "33000x", False),
]


@pytest.mark.parametrize(("region", "jurisdiction", "expected"), WITHIN)
def test_region_within_table(region: str, jurisdiction: str, expected: bool) -> None:
    assert region_within(region, jurisdiction) is expected


codes = st.text(alphabet="0123456789", min_size=6, max_size=6)


@given(codes)
def test_region_within_itself_and_its_province(code: str) -> None:
    assert region_within(code, code)
    assert region_within(code, code[:2] + "0000")


@given(codes, codes)
def test_region_within_is_antisymmetric(a: str, b: str) -> None:
    if region_within(a, b) and region_within(b, a):
        assert a == b


# --- parsing ------------------------------------------------------------------------------


def test_load_pem_chain_reads_every_certificate(yrd, henan) -> None:
    data = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (yrd[0], henan[0]))
    assert load_pem_chain(data) == [yrd[0], henan[0]]


@pytest.mark.parametrize("data", [b"", b"not pem", b"-----BEGIN CERTIFICATE-----\nAAAA\n"])
def test_load_pem_chain_rejects_garbage(data: bytes) -> None:
    with pytest.raises(FormatError):
        load_pem_chain(data)


def test_load_pem_chain_refuses_a_negative_serial_number(yrd) -> None:
    """RFC 5280 wants a positive serial; cryptography only warns today (found by fuzzing)."""
    der = bytearray(yrd[0].public_bytes(serialization.Encoding.DER))
    at = der.index(b"\xa0\x03\x02\x01\x02\x02") + 6  # v3, then the serial INTEGER
    length = der[at]
    der[at + 1 : at + 1 + length] = b"\x80" + b"\x00" * (length - 1)  # the most negative
    b64 = base64.encodebytes(bytes(der)).decode()
    pem = f"-----BEGIN CERTIFICATE-----\n{b64}-----END CERTIFICATE-----\n".encode()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no warning escapes
        with pytest.raises(FormatError, match=r"serial number .* is not positive"):
            load_pem_chain(pem)


def test_uri_sans_and_regions(yrd) -> None:
    node = make_node(yrd, "330300")
    operator, _ = make_cert("op", uris=[OPERATOR_URI_PREFIX + "330000"], issuer=yrd)
    bare, _ = make_cert("bare", issuer=yrd)
    assert uri_sans(node) == ["urn:brandex:region:330300"]
    assert cert_region(node) == "330300"
    assert cert_operator_region(node) is None
    assert cert_operator_region(operator) == "330000"
    assert cert_region(operator) is None
    assert uri_sans(bare) == [] and cert_region(bare) is None
    assert anchor_jurisdictions(yrd[0]) == ["310000", "320000", "330000", "340000"]
    assert anchor_jurisdictions(node) == []


def test_cert_naming_two_regions_is_ambiguous(yrd) -> None:
    cert, _ = make_cert(
        "two", uris=[REGION_URI_PREFIX + "330000", REGION_URI_PREFIX + "320000"], issuer=yrd
    )
    with pytest.raises(VerificationError, match="several regions"):
        cert_region(cert)


def test_malformed_region_uri_is_refused(yrd) -> None:
    cert, _ = make_cert("bad", uris=[REGION_URI_PREFIX + "33"], issuer=yrd)
    with pytest.raises(VerificationError, match="malformed region URI"):
        cert_region(cert)


# --- verify_chain ------------------------------------------------------------------------


def test_chain_verifies_and_returns_the_anchor(yrd, henan) -> None:
    assert verify_chain(make_node(yrd, "330300"), [], [henan[0], yrd[0]], at=NOW) == yrd[0]
    assert verify_chain(make_node(henan, "411628"), [], [henan[0], yrd[0]], at=NOW) == henan[0]


def test_operator_cert_is_scoped_by_its_operator_region(yrd, henan) -> None:
    operator, _ = make_cert("op", uris=[OPERATOR_URI_PREFIX + "330000"], issuer=henan)
    with pytest.raises(VerificationError, match="region 330000 is not within"):
        verify_chain(operator, [], [henan[0]], at=NOW)


def test_anchor_cannot_certify_outside_its_jurisdictions(henan) -> None:
    rogue = make_node(henan, "330000")
    with pytest.raises(VerificationError) as info:
        verify_chain(rogue, [], [henan[0]], at=NOW)
    assert str(info.value) == (
        "certificate for region 330000 is not within anchor 'brandex henan anchor'"
        " jurisdictions [410000]"
    )


def test_city_anchor_cannot_certify_its_province(yrd) -> None:
    wenzhou_ca = make_anchor("wenzhou", ["330300"])
    assert verify_chain(make_node(wenzhou_ca, "330302"), [], [wenzhou_ca[0]], at=NOW)
    with pytest.raises(VerificationError, match="not within"):
        verify_chain(make_node(wenzhou_ca, "330000"), [], [wenzhou_ca[0]], at=NOW)


def test_expired_certificate_is_rejected(yrd) -> None:
    node = make_node(yrd, "330000")
    later = node.not_valid_after_utc + timedelta(seconds=1)
    with pytest.raises(VerificationError, match="expired on"):
        verify_chain(node, [], [yrd[0]], at=later)
    # Right at the boundary it still holds.
    assert verify_chain(node, [], [yrd[0]], at=node.not_valid_after_utc) == yrd[0]


def test_not_yet_valid_certificate_is_rejected(yrd) -> None:
    node = make_node(yrd, "330000", not_before=NOW + timedelta(days=1))
    with pytest.raises(VerificationError, match="not valid until"):
        verify_chain(node, [], [yrd[0]], at=NOW)


def test_expired_anchor_fails_the_chain() -> None:
    anchor = make_anchor("old", ["330000"], not_after=NOW - timedelta(days=1))
    node = make_node(anchor, "330000")
    with pytest.raises(VerificationError, match="'brandex old anchor' expired"):
        verify_chain(node, [], [anchor[0]], at=NOW)


def test_untrusted_anchor_with_the_same_name_is_rejected(yrd) -> None:
    impostor = make_anchor("yrd", ["330000"])  # same subject, different key
    node = make_node(impostor, "330000")
    with pytest.raises(VerificationError, match="not issued by any trusted anchor"):
        verify_chain(node, [], [yrd[0]], at=NOW)
    # Presenting the impostor as an intermediate does not help either.
    with pytest.raises(VerificationError, match="not issued by any trusted anchor"):
        verify_chain(node, [impostor[0]], [yrd[0]], at=NOW)


def test_self_signed_leaf_is_rejected(yrd) -> None:
    cert, _ = make_cert("me", uris=[REGION_URI_PREFIX + "330000"])
    with pytest.raises(VerificationError, match="not issued by any trusted anchor"):
        verify_chain(cert, [], [yrd[0]], at=NOW)


def test_intermediate_chain_respects_path_length() -> None:
    open_anchor = make_anchor("open", ["330000"], path_length=1)
    inter_cert, inter_key = make_cert("brandex zhejiang ca", issuer=open_anchor, ca=True)
    assert isinstance(inter_key, ec.EllipticCurvePrivateKey)
    node = make_node((inter_cert, inter_key), "330300")
    assert verify_chain(node, [inter_cert], [open_anchor[0]], at=NOW) == open_anchor[0]
    with pytest.raises(VerificationError, match="not issued by any trusted anchor"):
        verify_chain(node, [], [open_anchor[0]], at=NOW)

    strict_anchor = make_anchor("strict", ["330000"], path_length=0)
    inter2, key2 = make_cert("brandex zhejiang ca", issuer=strict_anchor, ca=True)
    assert isinstance(key2, ec.EllipticCurvePrivateKey)
    node2 = make_node((inter2, key2), "330300")
    with pytest.raises(VerificationError, match="allows 0 intermediate"):
        verify_chain(node2, [inter2], [strict_anchor[0]], at=NOW)


def test_leaf_cannot_act_as_issuer(yrd) -> None:
    leaf_cert, leaf_key = make_cert("leaf", uris=[REGION_URI_PREFIX + "330000"], issuer=yrd)
    assert isinstance(leaf_key, ec.EllipticCurvePrivateKey)
    child = make_node((leaf_cert, leaf_key), "330300")
    with pytest.raises(VerificationError, match="not a CA"):
        verify_chain(child, [leaf_cert], [yrd[0]], at=NOW)


def test_certificate_without_region_is_rejected(yrd) -> None:
    bare, _ = make_cert("bare", issuer=yrd)
    with pytest.raises(VerificationError, match="names no region"):
        verify_chain(bare, [], [yrd[0]], at=NOW)


def test_no_anchors_and_naive_time(yrd) -> None:
    node = make_node(yrd, "330000")
    with pytest.raises(VerificationError, match="no trusted anchors"):
        verify_chain(node, [], [], at=NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_chain(node, [], [yrd[0]], at=datetime(2026, 3, 1))


# --- signing certificates -------------------------------------------------------------------


def _signing(anchor, region: str, **kw: object) -> tuple[x509.Certificate, Key]:
    kw.setdefault("key", ed25519.Ed25519PrivateKey.generate())
    return make_cert(
        f"brandex signing key {region}",
        uris=[REGION_URI_PREFIX + region],
        issuer=anchor,
        **kw,  # type: ignore[arg-type]
    )


def test_signing_certificate_yields_the_raw_key(yrd) -> None:
    cert, key = _signing(yrd, "330300")
    raw = verify_signing_certificate(cert, [], [yrd[0]], at=NOW, region="330300")
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    assert raw == key.public_key().public_bytes_raw() == raw_ed25519_public(cert)
    assert len(raw) == 32


def test_signing_certificate_must_name_exactly_the_origin_region(yrd) -> None:
    cert, _ = _signing(yrd, "330300")
    # A city's key does not sign for its province, nor the province's key for the city.
    with pytest.raises(VerificationError, match="is for region 330300, not 330000"):
        verify_signing_certificate(cert, [], [yrd[0]], at=NOW, region="330000")


def test_signing_certificate_must_be_ed25519(yrd) -> None:
    node = make_node(yrd, "330000")
    with pytest.raises(VerificationError, match="not an Ed25519 key"):
        verify_signing_certificate(node, [], [yrd[0]], at=NOW, region="330000")
    with pytest.raises(VerificationError, match="not an Ed25519 key"):
        raw_ed25519_public(node)


def test_signing_certificate_needs_digital_signature(yrd) -> None:
    cert, _ = _signing(yrd, "330000", usage=_usage(sign=False))
    with pytest.raises(VerificationError, match="lacks digitalSignature"):
        verify_signing_certificate(cert, [], [yrd[0]], at=NOW, region="330000")


def test_signing_certificate_chain_and_jurisdiction_still_apply(yrd, henan) -> None:
    cert, _ = _signing(henan, "330000")
    with pytest.raises(VerificationError, match="not within anchor 'brandex henan anchor'"):
        verify_signing_certificate(cert, [], [henan[0], yrd[0]], at=NOW, region="330000")
    good, _ = _signing(yrd, "330000")
    with pytest.raises(VerificationError, match="expired"):
        verify_signing_certificate(
            good, [], [yrd[0]], at=NOW + timedelta(days=400), region="330000"
        )
