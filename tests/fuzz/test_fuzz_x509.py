"""Fuzz certificate chains as peers and bundles hand them over (PEM, concatenated).

``load_pem_chain`` raises only ``FormatError``; on whatever it returns, the
functions that read names and SANs, and chain verification, raise only
``VerificationError``, never a ``ValueError`` from a lazily decoded field.
"""

from __future__ import annotations

import base64
import textwrap
from datetime import UTC, datetime

import pytest
from brandex_fuzz import count, fuzz, mutated_bytes, mutated_text, raw_bytes, world
from hypothesis import given
from hypothesis import strategies as st

from exchange.core import x509
from exchange.core.errors import FormatError, VerificationError

# Mutated DER makes cryptography warn about e.g. non-positive serial numbers.
pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")

W = world()
PEMS = [
    W.signing_pems["zhejiang"],
    W.signing_pems["anhui"],
    W.anchor_pem.decode(),
    (W.certs / "zhejiang" / "node.pem").read_text(),
]
DERS = [base64.b64decode("".join(p.strip().splitlines()[1:-1])) for p in PEMS]
AT = datetime.now(UTC)


def _pem(der: bytes) -> bytes:
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n".encode()


def _check(data: bytes) -> None:
    try:
        certs = x509.load_pem_chain(data)
    except FormatError:
        return
    for cert in certs:
        x509.describe(cert)
        try:
            x509.uri_sans(cert)
            x509.cert_region(cert)
            x509.cert_operator_region(cert)
            x509.anchor_jurisdictions(cert)
        except VerificationError:
            pass
    for region in ("330000", "340000"):
        try:
            key = x509.verify_signing_certificate(
                certs[0], certs[1:], W.anchors, at=AT, region=region
            )
        except VerificationError:
            continue
        assert key in {bytes(k.verify_key) for k in W.signing_keys.values()}


@fuzz(weight=0.5)
@given(st.lists(mutated_bytes(DERS, max_ops=3).map(_pem), min_size=1, max_size=3))
def test_load_pem_chain_mutated_der(blocks: list[bytes]) -> None:
    """DER-level mutations, so the ASN.1 and X.509 parsers see damaged structures."""
    count("x509.load_pem_chain(mutated DER)+verify")
    _check(b"".join(blocks))


@fuzz(weight=0.5)
@given(
    st.one_of(
        mutated_text(PEMS).map(lambda s: s.encode("utf-8")),
        mutated_bytes([p.encode() for p in PEMS]),
        st.lists(st.sampled_from(PEMS), min_size=1, max_size=4).map(
            lambda ps: "".join(ps).encode()
        ),
        raw_bytes(),
    )
)
def test_load_pem_chain_mutated_pem(data: bytes) -> None:
    count("x509.load_pem_chain(mutated PEM)+verify")
    _check(data)
