"""An agency joining: ``certs request`` / ``certs sign`` / ``certs install`` and their refusals.

Every refusal must name what is wrong and leave the anchor's federation.json,
the response file and the member's directory as they were.
"""

from __future__ import annotations

import base64
import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from exchange import pki, pki_request
from exchange.core.errors import (
    ConflictError,
    FormatError,
    NotFoundError,
    ValidationError,
    VerificationError,
)
from exchange.core.x509 import cert_operator_region, cert_region, load_pem_chain, verify_chain
from exchange.demo.federation import demo_members, ensure_pki, run_brandex

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEYS = ("node.key", "operator.key", "signing.key", "governance.key")


@pytest.fixture
def anchor(tmp_path: Path) -> Path:
    out = tmp_path / "yrd"
    pki.init_federation(out, "yrd", {}, jurisdictions=["330000", "360000"], now=NOW)
    return out


def _request(tmp_path: Path, name: str = "jiangxi", region: str = "360000", **kw) -> Path:
    member = tmp_path / name
    pki.request_certificates(member, name, region, **kw)
    return member


def _snapshot(*dirs: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for d in dirs for p in sorted(d.rglob("*")) if p.is_file()}


def _refused(anchor: Path, request: Path, exc: type[Exception], match: str) -> None:
    """Signing ``request`` is refused with ``match`` and changes nothing."""
    response = request.parent / "refused-response.json"
    before = _snapshot(anchor, request.parent)
    with pytest.raises(exc, match=match):
        pki.sign_request(anchor, request, response, now=NOW)
    assert _snapshot(anchor, request.parent) == before
    assert not response.exists()


def _edit(request: Path, **fields) -> None:
    doc = json.loads(request.read_text())
    doc.update(fields)
    request.write_text(json.dumps(doc))


def _csr_pem(key, subject: str, sans: list[x509.GeneralName], sign_with=None) -> str:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    signer = sign_with or key
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(signer, algorithm).public_bytes(serialization.Encoding.PEM).decode()


def _replace_csr(request: Path, role: str, pem: str) -> None:
    """Put ``pem`` in as ``role``'s CSR and re-sign the governance proof, so only the CSR is off."""
    doc = json.loads(request.read_text())
    doc["csrs"][role] = pem
    governance = serialization.load_pem_private_key(
        (request.parent / "governance.key").read_bytes(), None
    )
    assert isinstance(governance, ed25519.Ed25519PrivateKey)
    ders = [
        x509.load_pem_x509_csr(doc["csrs"][r].encode()).public_bytes(serialization.Encoding.DER)
        for r in pki_request.ROLES
    ]
    raw = governance.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    message = pki_request._proof_message(doc["name"], doc["region"], raw, ders)
    doc["governance_proof"] = base64.b64encode(governance.sign(message)).decode()
    request.write_text(json.dumps(doc))


# --- the flow -----------------------------------------------------------------------------------


def test_request_sign_install(tmp_path: Path, anchor: Path) -> None:
    member = _request(tmp_path, hosts=["jx.example.org", "10.0.0.36"])
    for name in KEYS:
        assert stat.S_IMODE((member / name).stat().st_mode) == 0o600, name
    assert not (member / "node.pem").exists()
    request = json.loads((member / "request.json").read_text())
    assert request["format"] == pki_request.REQUEST_FORMAT
    assert (request["name"], request["region"]) == ("jiangxi", "360000")
    assert request["hosts"] == ["jx.example.org", "10.0.0.36"]
    assert "PRIVATE" not in (member / "request.json").read_text()
    for role in pki_request.ROLES:
        csr = x509.load_pem_x509_csr(request["csrs"][role].encode())
        assert csr.is_signature_valid

    req = pki.sign_request(anchor, member / "request.json", member / "response.json", now=NOW)
    assert (req.name, req.region, req.hosts) == (
        "jiangxi",
        "360000",
        ("jx.example.org", "10.0.0.36"),
    )
    gov = pki.load_governance_key(member / "governance.key")
    public = serialization.load_pem_public_key((member / "governance.pub").read_bytes())
    assert isinstance(public, ed25519.Ed25519PublicKey)
    assert bytes(gov.verify_key) == public.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert pki.read_federation(anchor)["members"] == {
        "jiangxi": {"region": "360000", "governance_key": bytes(gov.verify_key).hex()}
    }

    paths = pki.install_certificates(member, member / "response.json", anchor=anchor / "anchor.pem")
    assert paths.node_cert == member / "node.pem"
    root = load_pem_chain((anchor / "anchor.pem").read_bytes())[0]
    assert (member / "anchor.pem").read_bytes() == (anchor / "anchor.pem").read_bytes()
    node, operator, signing = (
        load_pem_chain((member / f).read_bytes())[0]
        for f in ("node.pem", "operator.pem", "signing.pem")
    )
    for cert in (node, operator, signing):
        assert verify_chain(cert, [], [root], at=NOW) == root
    assert cert_region(node) == "360000" and cert_operator_region(operator) == "360000"
    assert node.subject.rfc4514_string() == "CN=brandex node 360000 jiangxi"
    dns = node.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert dns.get_values_for_type(x509.DNSName) == ["localhost", "jx.example.org"]
    assert isinstance(signing.public_key(), ed25519.Ed25519PublicKey)
    signing_key = pki.load_signing_key(member / "signing.key")
    assert bytes(signing_key.verify_key) == signing.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert not list(tmp_path.rglob("*.tmp"))


def test_request_refuses_to_replace_keys_without_force(tmp_path: Path) -> None:
    member = _request(tmp_path)
    before = (member / "signing.key").read_bytes()
    with pytest.raises(ConflictError, match="refusing to replace private keys"):
        pki.request_certificates(member, "jiangxi", "360000")
    assert (member / "signing.key").read_bytes() == before
    pki.request_certificates(member, "jiangxi", "360000", force=True)
    assert (member / "signing.key").read_bytes() != before
    assert stat.S_IMODE((member / "signing.key").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("name", "region", "hosts", "match"),
    [
        ("../evil", "360000", (), "member: must be lowercase"),
        ("jiangxi", "369999", (), "region"),
        ("jiangxi", "360000", ("*.example.org",), "host: must be a DNS name"),
        ("jiangxi", "360000", ("https://x.example",), "host: must be a DNS name"),
    ],
)
def test_request_refuses_bad_input(tmp_path: Path, name, region, hosts, match) -> None:
    with pytest.raises(ValidationError, match=match):
        pki.request_certificates(tmp_path / "m", name, region, hosts)
    assert not (tmp_path / "m").exists()


def test_load_governance_key_refuses_other_keys(tmp_path: Path) -> None:
    member = _request(tmp_path)
    with pytest.raises(FormatError, match="not an Ed25519 key"):
        pki.load_governance_key(member / "node.key")
    with pytest.raises(NotFoundError, match="no governance key"):
        pki.load_governance_key(tmp_path / "none.key")


# --- the anchor's checks ----------------------------------------------------------------------


def test_sign_refuses_a_broken_csr_signature(tmp_path: Path, anchor: Path) -> None:
    member = _request(tmp_path)
    doc = json.loads((member / "request.json").read_text())
    der = bytearray(
        x509.load_pem_x509_csr(doc["csrs"]["node"].encode()).public_bytes(
            serialization.Encoding.DER
        )
    )
    der[-3] ^= 0x01  # inside the signature value
    pem = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()
    doc["csrs"]["node"] = pem
    (member / "request.json").write_text(json.dumps(doc))
    _refused(anchor, member / "request.json", VerificationError, "node CSR: its signature")


def test_sign_refuses_a_csr_signed_by_another_key(tmp_path: Path, anchor: Path) -> None:
    member = _request(tmp_path)
    own = serialization.load_pem_private_key((member / "operator.key").read_bytes(), None)
    other = ec.generate_private_key(ec.SECP256R1())
    sans = pki_request.expected_sans("operator", "360000", ())
    subject = pki_request.expected_subject("operator", "jiangxi", "360000")
    # A CSR carrying the member's public key but signed by someone else proves nothing.
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
    )
    forged = builder.sign(other, hashes.SHA256())
    der = bytearray(forged.public_bytes(serialization.Encoding.DER))
    spki_other = other.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    spki_own = own.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    swapped = bytes(der).replace(spki_other, spki_own)
    pem = x509.load_der_x509_csr(swapped).public_bytes(serialization.Encoding.PEM).decode()
    _replace_csr(member / "request.json", "operator", pem)
    _refused(anchor, member / "request.json", VerificationError, "operator CSR: its signature")


def test_sign_refuses_a_region_outside_the_jurisdiction(tmp_path: Path, anchor: Path) -> None:
    member = _request(tmp_path, "henan", "410000")
    _refused(
        anchor,
        member / "request.json",
        ValidationError,
        r"region: not within anchor 'brandex yrd anchor' jurisdictions \[330000, 360000\]",
    )


@pytest.mark.parametrize(
    ("role", "key", "match"),
    [
        (
            "node",
            lambda: ec.generate_private_key(ec.SECP384R1()),
            "node CSR: key must be ECDSA P-256",
        ),
        ("operator", ed25519.Ed25519PrivateKey.generate, "operator CSR: key must be ECDSA P-256"),
        (
            "signing",
            lambda: ec.generate_private_key(ec.SECP256R1()),
            "signing CSR: key must be Ed25519",
        ),
    ],
)
def test_sign_refuses_a_wrong_key_type(tmp_path: Path, anchor: Path, role, key, match) -> None:
    member = _request(tmp_path)
    pem = _csr_pem(
        key(),
        pki_request.expected_subject(role, "jiangxi", "360000"),
        pki_request.expected_sans(role, "360000", ()),
    )
    _replace_csr(member / "request.json", role, pem)
    _refused(anchor, member / "request.json", ValidationError, match)


@pytest.mark.parametrize(
    ("role", "extra"),
    [
        ("node", x509.DNSName("zhejiang.example.org")),
        ("node", x509.UniformResourceIdentifier("urn:brandex:region:330000")),
        ("operator", x509.UniformResourceIdentifier("urn:brandex:region:360000")),
        ("signing", x509.DNSName("localhost")),
    ],
)
def test_sign_refuses_an_extra_san(tmp_path: Path, anchor: Path, role, extra) -> None:
    member = _request(tmp_path)
    key = serialization.load_pem_private_key((member / f"{role}.key").read_bytes(), None)
    sans = [*pki_request.expected_sans(role, "360000", ()), extra]
    pem = _csr_pem(key, pki_request.expected_subject(role, "jiangxi", "360000"), sans)
    _replace_csr(member / "request.json", role, pem)
    _refused(anchor, member / "request.json", ValidationError, f"{role} CSR: asks for names")


def test_sign_refuses_a_wrong_subject_and_other_extensions(tmp_path: Path, anchor: Path) -> None:
    member = _request(tmp_path)
    key = serialization.load_pem_private_key((member / "node.key").read_bytes(), None)
    sans = pki_request.expected_sans("node", "360000", ())
    _replace_csr(member / "request.json", "node", _csr_pem(key, "brandex anchor", sans))
    _refused(anchor, member / "request.json", ValidationError, "node CSR: subject must be")

    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(
                        NameOID.COMMON_NAME,
                        pki_request.expected_subject("node", "jiangxi", "360000"),
                    )
                ]
            )
        )
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    pem = builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()
    _replace_csr(member / "request.json", "node", pem)
    _refused(anchor, member / "request.json", ValidationError, "may ask only for subject alt")


def test_sign_refuses_a_governance_key_that_did_not_sign(tmp_path: Path, anchor: Path) -> None:
    member = _request(tmp_path)
    other = ed25519.Ed25519PrivateKey.generate().public_key()
    pem = other.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    _edit(member / "request.json", governance_key=pem)
    _refused(anchor, member / "request.json", VerificationError, "governance_proof")
    # A request re-labelled for another member fails the same way: the proof binds the name.
    member2 = _request(tmp_path, "jx2")
    _edit(member2 / "request.json", name="jiangxi")
    _refused(anchor, member2 / "request.json", ValidationError, "subject must be")


def test_sign_refuses_duplicates(tmp_path: Path, anchor: Path) -> None:
    first = _request(tmp_path)
    pki.sign_request(anchor, first / "request.json", first / "response.json", now=NOW)
    again = _request(tmp_path / "again")
    _refused(anchor, again / "request.json", ConflictError, "member 'jiangxi' already exists")
    same_region = _request(tmp_path, "ganzhou", "360000")
    _refused(anchor, same_region / "request.json", ConflictError, "region 360000 already belongs")
    # The same request sent twice is a duplicate too (name first).
    _refused(anchor, first / "request.json", ConflictError, "already exists")


@pytest.mark.parametrize(
    ("data", "exc", "match"),
    [
        (b"\xff\xfe", FormatError, "not valid UTF-8 JSON"),
        (b"[]", FormatError, "expected a JSON object"),
        (b'{"format": "x"}', FormatError, "format is 'x'"),
        (b" " * (pki_request.MAX_FILE_BYTES + 1), FormatError, "larger than"),
        (
            json.dumps(
                {
                    "format": pki_request.REQUEST_FORMAT,
                    "name": "a",
                    "region": "360000",
                    "hosts": [],
                    "csrs": {"node": "x"},
                }
            ).encode(),
            FormatError,
            "'csrs' must hold exactly",
        ),
    ],
)
def test_sign_refuses_malformed_requests(tmp_path: Path, anchor: Path, data, exc, match) -> None:
    request = tmp_path / "request.json"
    request.write_bytes(data)
    _refused(anchor, request, exc, match)


def test_sign_needs_the_anchor_key(tmp_path: Path, anchor: Path) -> None:
    member = _request(tmp_path)
    (anchor / "anchor.key").unlink()
    _refused(anchor, member / "request.json", NotFoundError, "missing anchor.key")


# --- install ----------------------------------------------------------------------------------


def _installed(member: Path) -> list[str]:
    return sorted(p.name for p in member.glob("*.pem"))


def test_install_refuses_a_response_for_other_keys(tmp_path: Path, anchor: Path) -> None:
    signed = _request(tmp_path / "a")
    pki.sign_request(anchor, signed / "request.json", signed / "response.json", now=NOW)
    # Same name and region, but keys made again after the request went out.
    other = _request(tmp_path / "b")
    before = _snapshot(other)
    with pytest.raises(VerificationError, match="node certificate is not for the node key"):
        pki.install_certificates(other, signed / "response.json", now=NOW)
    assert _snapshot(other) == before and _installed(other) == []


def test_install_refuses_a_response_for_another_member(tmp_path: Path, anchor: Path) -> None:
    jx = _request(tmp_path)
    pki.sign_request(anchor, jx / "request.json", jx / "response.json", now=NOW)
    zj = _request(tmp_path, "zhejiang", "330000")
    with pytest.raises(ValidationError, match="is for 'jiangxi' in 360000"):
        pki.install_certificates(zj, jx / "response.json", now=NOW)
    assert _installed(zj) == []


def test_install_refuses_a_tampered_response(tmp_path: Path, anchor: Path) -> None:
    member = _request(tmp_path)
    response = member / "response.json"
    pki.sign_request(anchor, member / "request.json", response, now=NOW)
    doc = json.loads(response.read_text())
    cert = x509.load_pem_x509_certificate(doc["certificates"]["signing"].encode())
    der = bytearray(cert.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the anchor's signature
    tampered = x509.load_der_x509_certificate(bytes(der))
    doc["certificates"]["signing"] = tampered.public_bytes(serialization.Encoding.PEM).decode()
    response.write_text(json.dumps(doc))
    with pytest.raises(VerificationError, match="the signing certificate"):
        pki.install_certificates(member, response, now=NOW)
    assert _installed(member) == []

    # The anchor travels in the response too: a changed byte in it is refused, pinned or not.
    doc = json.loads(response.read_text())
    doc["certificates"]["signing"] = cert.public_bytes(serialization.Encoding.PEM).decode()
    root = bytearray(
        x509.load_pem_x509_certificate(doc["anchor"].encode()).public_bytes(
            serialization.Encoding.DER
        )
    )
    root[-5] ^= 0x01
    doc["anchor"] = (
        x509.load_der_x509_certificate(bytes(root))
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )
    response.write_text(json.dumps(doc))
    with pytest.raises(VerificationError, match="is not validly self-signed"):
        pki.install_certificates(member, response, now=NOW)
    assert _installed(member) == []

    response.write_text(response.read_text()[:-40])
    with pytest.raises(FormatError, match="not valid UTF-8 JSON"):
        pki.install_certificates(member, response, now=NOW)
    assert _installed(member) == []


def test_install_refuses_a_response_from_another_anchor(tmp_path: Path, anchor: Path) -> None:
    rogue = tmp_path / "rogue"
    pki.init_federation(rogue, "yrd", {}, jurisdictions=["360000"], now=NOW)
    member = _request(tmp_path)
    pki.sign_request(rogue, member / "request.json", member / "response.json", now=NOW)
    with pytest.raises(VerificationError, match="is not the anchor you trust"):
        pki.install_certificates(
            member, member / "response.json", anchor=anchor / "anchor.pem", now=NOW
        )
    assert _installed(member) == []


def test_install_needs_the_keys(tmp_path: Path, anchor: Path) -> None:
    member = _request(tmp_path)
    pki.sign_request(anchor, member / "request.json", member / "response.json", now=NOW)
    (member / "operator.key").unlink()
    with pytest.raises(NotFoundError, match="no operator key"):
        pki.install_certificates(member, member / "response.json", now=NOW)
    assert _installed(member) == []


# --- the conveniences run the same steps ---------------------------------------------------------


def test_ensure_pki_enrols_each_member_through_its_own_request(tmp_path: Path) -> None:
    members = [m for m in demo_members() if m.name in ("zhejiang", "wenzhou", "henan")]
    certs = tmp_path / "certs" / "yrd"
    assert ensure_pki(certs, members) == [m.name for m in members]
    assert ensure_pki(certs, members) == []
    doc = pki.read_federation(certs)
    assert doc["jurisdictions"] == ["330000", "360000", "410000"]  # + Jiangxi, who joins later
    root = load_pem_chain((certs / "anchor.pem").read_bytes())[0]
    for m in members:
        paths = pki.member_paths(certs, m.name)
        assert json.loads(paths.request.read_text())["region"] == m.region
        assert json.loads(paths.response.read_text())["name"] == m.name
        for path in (paths.node_cert, paths.operator_cert, paths.signing_cert):
            cert = load_pem_chain(path.read_bytes())[0]
            assert verify_chain(cert, [], [root], at=datetime.now(UTC)) == root
        for key in (paths.node_key, paths.operator_key, paths.signing_key, paths.governance_key):
            assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert (
            doc["members"][m.name]["governance_key"]
            == bytes(pki.load_governance_key(paths.governance_key).verify_key).hex()
        )


def test_init_and_add_leave_the_files_the_flow_leaves(tmp_path: Path) -> None:
    out = tmp_path / "fed"
    pki.init_federation(out, "yrd", {"zhejiang": "330000"}, now=NOW)
    pki.add_member(out, "wenzhou", "330300", now=NOW)
    flow = tmp_path / "flow"
    ensure_pki(flow, [m for m in demo_members() if m.name == "zhejiang"])
    expected = sorted(p.name for p in (flow / "zhejiang").iterdir())
    assert "response.json" in expected
    expected.remove("response.json")  # the one file that travelled back
    for name in ("zhejiang", "wenzhou"):
        assert sorted(p.name for p in (out / name).iterdir()) == expected


# --- the commands, as processes -------------------------------------------------------------------


def test_cli_request_sign_install(tmp_path: Path) -> None:
    def run(*args: str):
        return run_brandex(tmp_path, "certs", *args)

    made = run("init", "--out", "fed", "--anchor-only", "--jurisdiction", "360000")
    assert made.returncode == 0, made.stderr
    assert pki.read_federation(tmp_path / "fed")["members"] == {}

    asked = run("request", "--region", "360000", "--name", "jiangxi", "--out", "jx")
    assert asked.returncode == 0, asked.stderr
    assert "jx/request.json" in asked.stdout
    for name in KEYS:
        assert stat.S_IMODE((tmp_path / "jx" / name).stat().st_mode) == 0o600
    again = run("request", "--region", "360000", "--name", "jiangxi", "--out", "jx")
    assert again.returncode == 1 and "refusing to replace private keys" in again.stderr

    outside = run("request", "--region", "330000", "--name", "zhejiang", "--out", "zj")
    assert outside.returncode == 0, outside.stderr
    refused = run("sign", "zj/request.json", "--anchor", "fed")
    assert refused.returncode == 1 and "not within anchor" in refused.stderr
    assert not (tmp_path / "zj" / "response.json").exists()

    signed = run("sign", "jx/request.json", "--anchor", "fed", "--out", "to-jiangxi.json")
    assert signed.returncode == 0, signed.stderr
    assert "certified 'jiangxi'" in signed.stdout
    wrong_dir = run("install", "to-jiangxi.json", "--dir", "zj")
    assert wrong_dir.returncode == 1 and "is for 'jiangxi'" in wrong_dir.stderr
    installed = run("install", "to-jiangxi.json", "--dir", "jx", "--anchor", "fed/anchor.pem")
    assert installed.returncode == 0, installed.stderr
    root = load_pem_chain((tmp_path / "fed" / "anchor.pem").read_bytes())[0]
    node = load_pem_chain((tmp_path / "jx" / "node.pem").read_bytes())[0]
    assert verify_chain(node, [], [root], at=datetime.now(UTC)) == root

    usage = run("sign", "jx/request.json")
    assert usage.returncode == 2 and "--anchor" in usage.stderr
    # A bad value typed on the command line is a refusal (1), as in a request file.
    typed = run("request", "--region", "999999", "--name", "nowhere", "--out", "bad")
    assert typed.returncode == 1 and "999999" in typed.stderr, typed.stderr
    assert not (tmp_path / "bad" / "request.json").exists()

    chinese = run_brandex(
        tmp_path,
        "--lang",
        "zh",
        "certs",
        "request",
        "--region",
        "360100",
        "--name",
        "nc",
        "--out",
        "nc",
    )
    assert chinese.returncode == 0, chinese.stderr
    assert "已在 nc 为 'nc'（南昌市 (360100)）生成密钥（权限 0600）" in chinese.stdout
