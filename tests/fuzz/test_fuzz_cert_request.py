"""Fuzz the files that travel when an agency joins: ``request.json`` and ``response.json``.

The anchor's holder runs ``parse_request`` on a file from outside, and the agency
runs ``install_certificates`` on the answer: both must raise only
:class:`~exchange.core.errors.BrandexError` on damaged input, and a damaged
response must never be installed (whatever is installed is byte for byte what
the anchor issued).
"""

from __future__ import annotations

import atexit
import base64
import json
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest
from brandex_fuzz import count, fuzz, mutated_bytes
from hypothesis import given
from hypothesis import strategies as st

from exchange import pki, pki_request
from exchange.core.errors import BrandexError

pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")

_ROOT = Path(tempfile.mkdtemp(prefix="brandex-fuzz-enrol-"))
atexit.register(shutil.rmtree, _ROOT, True)
pki.init_federation(_ROOT / "fed", "yrd", {}, jurisdictions=["360000"])
_MEMBER = pki.request_certificates(_ROOT / "jiangxi", "jiangxi", "360000", ["jx.example.org"])
pki.sign_request(_ROOT / "fed", _MEMBER.request, _MEMBER.response)
REQUEST = _MEMBER.request.read_bytes()
RESPONSE = _MEMBER.response.read_bytes()
_GENUINE = json.loads(RESPONSE)


def _der(pem: str) -> bytes:
    return base64.b64decode("".join(line for line in pem.splitlines() if "-----" not in line))


def _pem(der: bytes, kind: str) -> str:
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n"


@st.composite
def damaged_request(draw) -> bytes:
    """A request whose JSON bytes, or the DER of one CSR or the governance key, are damaged."""
    if draw(st.booleans()):
        return draw(mutated_bytes([REQUEST]))
    doc = json.loads(REQUEST)
    field = draw(st.sampled_from([*pki_request.ROLES, "governance_key"]))
    if field == "governance_key":
        der = draw(mutated_bytes([_der(doc[field])], max_ops=3))
        doc[field] = _pem(der, "PUBLIC KEY")
    else:
        der = draw(mutated_bytes([_der(doc["csrs"][field])], max_ops=3))
        doc["csrs"][field] = _pem(der, "CERTIFICATE REQUEST")
    return json.dumps(doc).encode()


@st.composite
def damaged_response(draw) -> bytes:
    if draw(st.booleans()):
        return draw(mutated_bytes([RESPONSE]))
    doc = json.loads(RESPONSE)
    field = draw(st.sampled_from([*pki_request.ROLES, "anchor"]))
    if field == "anchor":
        doc["anchor"] = _pem(draw(mutated_bytes([_der(doc["anchor"])], max_ops=3)), "CERTIFICATE")
    else:
        der = draw(mutated_bytes([_der(doc["certificates"][field])], max_ops=3))
        doc["certificates"][field] = _pem(der, "CERTIFICATE")
    return json.dumps(doc).encode()


@fuzz(weight=0.2)
@given(damaged_request())
def test_parse_request_refuses_cleanly(data: bytes) -> None:
    count("pki_request.parse_request(damaged)")
    try:
        req = pki_request.parse_request(data)
    except BrandexError:
        return
    # Accepted only if nothing that matters changed.
    assert (req.name, req.region, req.hosts) == ("jiangxi", "360000", ("jx.example.org",))


@fuzz(weight=0.2)
@given(damaged_response())
def test_install_never_installs_a_damaged_response(data: bytes) -> None:
    count("pki.install_certificates(damaged)")
    work = Path(tempfile.mkdtemp(dir=_ROOT))
    try:
        for name in ("node.key", "operator.key", "signing.key", "request.json"):
            shutil.copy(_MEMBER.node_key.parent / name, work / name)
        (work / "response.json").write_bytes(data)
        try:
            paths = pki.install_certificates(work, work / "response.json")
        except BrandexError:
            assert not list(work.glob("*.pem"))
            return
        for role in pki_request.ROLES:
            installed = getattr(paths, f"{role}_cert").read_text()
            assert _der(installed) == _der(_GENUINE["certificates"][role])
        assert _der(paths.installed_anchor.read_text()) == _der(_GENUINE["anchor"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
