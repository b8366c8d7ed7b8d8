"""Tests for exchange.pki and ``brandex certs``: files, modes, chains, and real mTLS.

The mTLS tests start a real gRPC server (health service) on 127.0.0.1 port 0
with the generated node certificate, because the point of the PKI is that
gRPC's TLS stack accepts it: a certificate that only our own verifier likes
would be useless to the nodes.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from concurrent import futures
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from exchange import pki, pki_issue
from exchange.cli.certs import certs_group
from exchange.core.errors import (
    ConflictError,
    FormatError,
    NotFoundError,
    ValidationError,
    VerificationError,
)
from exchange.core.x509 import (
    cert_operator_region,
    cert_region,
    load_pem_chain,
    raw_ed25519_public,
    uri_sans,
    verify_chain,
    verify_signing_certificate,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MEMBERS = {"zhejiang": "330000", "wenzhou": "330300", "henan": "410000"}
KEY_FILES = ("node.key", "operator.key", "signing.key")
CERT_FILES = ("node.pem", "operator.pem", "signing.pem")


def _governance_hex(member_dir: Path) -> str:
    public = serialization.load_pem_public_key((member_dir / "governance.pub").read_bytes())
    assert isinstance(public, ed25519.Ed25519PublicKey)
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def _regions(out: Path) -> dict[str, str]:
    return {n: m["region"] for n, m in pki.read_federation(out)["members"].items()}


def _cert(path: Path) -> x509.Certificate:
    [cert] = load_pem_chain(path.read_bytes())
    return cert


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fed") / "yrd"
    pki.init_federation(out, "yrd", MEMBERS, hosts=["node.example.org", "10.0.0.7"], now=NOW)
    return out


@pytest.fixture(scope="module")
def other_fed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Same federation name and regions, different anchor key: must not be trusted.
    out = tmp_path_factory.mktemp("other") / "yrd"
    pki.init_federation(out, "yrd", {"zhejiang": "330000"}, now=NOW)
    return out


# --- layout and modes ----------------------------------------------------------------------


def test_layout_and_federation_json(fed: Path) -> None:
    assert (fed / "anchor.pem").is_file() and (fed / "anchor.key").is_file()
    doc = json.loads((fed / "federation.json").read_text("utf-8"))
    assert doc == {
        "federation": "yrd",
        "jurisdictions": ["330000", "410000"],
        "members": {
            name: {"region": region, "governance_key": _governance_hex(fed / name)}
            for name, region in MEMBERS.items()
        },
    }
    for name in MEMBERS:
        for filename in (*KEY_FILES, *CERT_FILES, "governance.key", "governance.pub"):
            assert (fed / name / filename).is_file()


def test_private_keys_are_0600(fed: Path) -> None:
    keys = [fed / "anchor.key"] + [
        fed / n / f for n in MEMBERS for f in (*KEY_FILES, "governance.key")
    ]
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    # Nothing else (temporary files) is left behind.
    assert not list(fed.rglob("*.tmp"))


def test_member_paths(fed: Path) -> None:
    paths = pki.member_paths(fed, "wenzhou")
    assert paths.node_cert == fed / "wenzhou" / "node.pem"
    assert paths.signing_key == fed / "wenzhou" / "signing.key"
    assert paths.anchor == fed / "anchor.pem"


def test_anchor_is_a_scoped_ca(fed: Path) -> None:
    anchor = _cert(fed / "anchor.pem")
    assert anchor.subject == anchor.issuer
    assert anchor.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert anchor.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert isinstance(anchor.public_key(), ec.EllipticCurvePublicKey)
    assert uri_sans(anchor) == [
        "urn:brandex:jurisdiction:330000",
        "urn:brandex:jurisdiction:410000",
    ]
    assert anchor.not_valid_before_utc == NOW - timedelta(hours=1)
    assert anchor.not_valid_after_utc == NOW.replace(year=2036)


# --- certificates ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "region"), sorted(MEMBERS.items()))
def test_member_certificates_chain_and_name_their_region(fed: Path, name: str, region: str) -> None:
    anchor = _cert(fed / "anchor.pem")
    paths = pki.member_paths(fed, name)
    node, operator, signing = (
        _cert(p) for p in (paths.node_cert, paths.operator_cert, paths.signing_cert)
    )
    for cert in (node, operator, signing):
        assert verify_chain(cert, [], [anchor], at=NOW) == anchor
        assert cert.not_valid_after_utc == NOW.replace(year=2028)
    assert cert_region(node) == region and cert_operator_region(node) is None
    assert cert_operator_region(operator) == region and cert_region(operator) is None
    assert uri_sans(operator) == [f"urn:brandex:operator:{region}"]
    assert cert_region(signing) == region

    eku = node.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    op_eku = operator.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(op_eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]

    san = node.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "node.example.org"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == [
        "127.0.0.1",
        "10.0.0.7",
    ]


def test_certify_origins_in_memory(fed: Path) -> None:
    """Harness keys for many origins: each certified for its region, nothing written."""
    before = sorted(p.name for p in fed.iterdir())
    got = pki_issue.certify_origins(fed, {"cixi": "330282", "longwan": "330303"}, now=NOW)
    assert sorted(p.name for p in fed.iterdir()) == before
    anchor = _cert(pki.member_paths(fed, "wenzhou").anchor)
    for name, region in (("cixi", "330282"), ("longwan", "330303")):
        key, pem = got[name]
        [cert] = load_pem_chain(pem.encode())
        raw = verify_signing_certificate(cert, [], [anchor], at=NOW, region=region)
        assert raw == bytes(key.verify_key)
    with pytest.raises(ValidationError):  # outside the anchor's jurisdictions
        pki_issue.certify_origins(fed, {"beijing": "110000"}, now=NOW)


def test_signing_certificate_matches_signing_key(fed: Path) -> None:
    paths = pki.member_paths(fed, "wenzhou")
    cert = _cert(paths.signing_cert)
    anchor = _cert(paths.anchor)
    assert isinstance(cert.public_key(), ed25519.Ed25519PublicKey)
    assert cert.subject.rfc4514_string() == "CN=brandex signing key 330300"
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)

    raw = verify_signing_certificate(cert, [], [anchor], at=NOW, region="330300")
    signing_key = pki.load_signing_key(paths.signing_key)
    assert bytes(signing_key.verify_key) == raw == raw_ed25519_public(cert)
    signed = signing_key.sign(b"hello")
    signing_key.verify_key.verify(signed)


def test_load_signing_key_refuses_a_tls_key(fed: Path) -> None:
    with pytest.raises(FormatError, match="not an Ed25519 key"):
        pki.load_signing_key(pki.member_paths(fed, "wenzhou").node_key)
    with pytest.raises(NotFoundError):
        pki.load_signing_key(fed / "nobody" / "signing.key")


def test_expired_member_cert_is_rejected(fed: Path) -> None:
    node = _cert(pki.member_paths(fed, "zhejiang").node_cert)
    anchor = _cert(fed / "anchor.pem")
    with pytest.raises(VerificationError, match="expired on 2028-03-01"):
        verify_chain(node, [], [anchor], at=NOW + timedelta(days=3 * 365))


def test_cert_from_another_anchor_is_rejected(fed: Path, other_fed: Path) -> None:
    foreign = _cert(pki.member_paths(other_fed, "zhejiang").node_cert)
    with pytest.raises(VerificationError, match="not issued by any trusted anchor"):
        verify_chain(foreign, [], [_cert(fed / "anchor.pem")], at=NOW)


def test_second_anchor_cannot_certify_outside_its_jurisdiction(tmp_path: Path, fed: Path) -> None:
    pki.init_federation(
        tmp_path / "henan", "henan", {"luyi": "411628"}, jurisdictions=["410000"], now=NOW
    )
    henan_anchor = _cert(tmp_path / "henan" / "anchor.pem")
    yrd_anchor = _cert(fed / "anchor.pem")
    # The henan anchor's key is used to mint a Zhejiang certificate by hand: TLS
    # would accept it (the chain is fine), the jurisdiction check must not.
    with pytest.raises(ValidationError, match="not within"):
        pki.add_member(tmp_path / "henan", "zhejiang", "330000", now=NOW)
    rogue = _mint_rogue(tmp_path / "henan", "330000")
    with pytest.raises(VerificationError) as info:
        verify_chain(rogue, [], [yrd_anchor, henan_anchor], at=NOW)
    assert str(info.value) == (
        "certificate for region 330000 is not within anchor 'brandex henan anchor'"
        " jurisdictions [410000]"
    )
    luyi = _cert(pki.member_paths(tmp_path / "henan", "luyi").node_cert)
    assert verify_chain(luyi, [], [yrd_anchor, henan_anchor], at=NOW) == henan_anchor


def _mint_rogue(out: Path, region: str) -> x509.Certificate:
    """Issue a node cert for ``region`` with ``out``'s anchor key, bypassing pki's checks."""
    anchor = _cert(out / "anchor.pem")
    key = serialization.load_pem_private_key((out / "anchor.key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name.from_rfc4514_string(f"CN=rogue {region}"))
        .issuer_name(anchor.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(hours=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(f"urn:brandex:region:{region}")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )


# --- init / add refusals ------------------------------------------------------------------


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "f"
    pki.init_federation(out, "yrd", {"zhejiang": "330000"}, now=NOW)
    first = (out / "anchor.pem").read_bytes()
    with pytest.raises(ConflictError, match="without force"):
        pki.init_federation(out, "yrd", {"zhejiang": "330000"}, now=NOW)
    assert (out / "anchor.pem").read_bytes() == first
    pki.init_federation(out, "yrd", {"zhejiang": "330000"}, force=True, now=NOW)
    assert (out / "anchor.pem").read_bytes() != first
    assert stat.S_IMODE((out / "anchor.key").stat().st_mode) == 0o600
    node = _cert(pki.member_paths(out, "zhejiang").node_cert)
    assert verify_chain(node, [], [_cert(out / "anchor.pem")], at=NOW)


@pytest.mark.parametrize(
    ("members", "jurisdictions", "error", "match"),
    [
        ({"zhejiang": "330000", "zj": "330000"}, None, ConflictError, "both claim region"),
        ({"zhejiang": "330000"}, ["410000"], ValidationError, "not within"),
        ({"zhejiang": "339999"}, None, ValidationError, "not a GB/T 2260"),
        ({"../evil": "330000"}, None, ValidationError, "member"),
        ({}, None, ValidationError, "at least one member"),
    ],
)
def test_init_validates_before_writing(
    tmp_path: Path, members: dict[str, str], jurisdictions, error, match: str
) -> None:
    out = tmp_path / "f"
    with pytest.raises(error, match=match):
        pki.init_federation(out, "yrd", members, jurisdictions=jurisdictions, now=NOW)
    assert not out.exists()


def test_add_member(tmp_path: Path) -> None:
    out = tmp_path / "f"
    pki.init_federation(out, "yrd", {"zhejiang": "330000", "henan": "410000"}, now=NOW)
    pki.add_member(out, "wenzhou", "330300", hosts=["wz.example"], now=NOW)
    pki.add_member(out, "luyi", "411628", now=NOW)

    assert _regions(out)["wenzhou"] == "330300" and _regions(out)["luyi"] == "411628"
    anchor = _cert(out / "anchor.pem")
    paths = pki.member_paths(out, "wenzhou")
    node = _cert(paths.node_cert)
    assert verify_chain(node, [], [anchor], at=NOW) == anchor
    assert cert_region(node) == "330300"
    assert "wz.example" in node.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.get_values_for_type(x509.DNSName)
    for filename in KEY_FILES:
        assert stat.S_IMODE((out / "wenzhou" / filename).stat().st_mode) == 0o600

    with pytest.raises(ValidationError, match=r"not within anchor 'brandex yrd anchor'"):
        pki.add_member(out, "shanghai", "310000", now=NOW)
    with pytest.raises(ConflictError, match="member 'wenzhou' already exists"):
        pki.add_member(out, "wenzhou", "330100", now=NOW)
    with pytest.raises(ConflictError, match="region 330300 already belongs to member 'wenzhou'"):
        pki.add_member(out, "wz", "330300", now=NOW)
    assert not (out / "shanghai").exists() and not (out / "wz").exists()
    with pytest.raises(NotFoundError):
        pki.add_member(tmp_path / "none", "wenzhou", "330300", now=NOW)


def test_member_cert_never_outlives_the_anchor(tmp_path: Path) -> None:
    out = tmp_path / "f"
    pki.init_federation(out, "yrd", {"zhejiang": "330000"}, now=NOW)
    late = NOW.replace(year=2035)
    pki.add_member(out, "wenzhou", "330300", now=late)
    anchor = _cert(out / "anchor.pem")
    node = _cert(pki.member_paths(out, "wenzhou").node_cert)
    assert node.not_valid_after_utc == anchor.not_valid_after_utc


# --- real mTLS ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def health_server(fed: Path) -> Iterator[int]:
    paths = pki.member_paths(fed, "zhejiang")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    credentials = grpc.ssl_server_credentials(
        [(paths.node_key.read_bytes(), paths.node_cert.read_bytes())],
        root_certificates=paths.anchor.read_bytes(),
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    try:
        yield port
    finally:
        server.stop(grace=None)


def _check(
    port: int, anchor: Path, key: Path | None = None, cert: Path | None = None
) -> health_pb2.HealthCheckResponse:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=anchor.read_bytes(),
        private_key=key.read_bytes() if key else None,
        certificate_chain=cert.read_bytes() if cert else None,
    )
    with grpc.secure_channel(
        f"127.0.0.1:{port}",
        credentials,
        options=[("grpc.ssl_target_name_override", "localhost")],
    ) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(), timeout=10)


def test_mtls_accepts_operator_and_peer_node(fed: Path, health_server: int) -> None:
    operator = pki.member_paths(fed, "zhejiang")
    reply = _check(health_server, fed / "anchor.pem", operator.operator_key, operator.operator_cert)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    peer = pki.member_paths(fed, "henan")
    reply = _check(health_server, fed / "anchor.pem", peer.node_key, peer.node_cert)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_mtls_refuses_a_client_without_certificate(fed: Path, health_server: int) -> None:
    with pytest.raises(grpc.RpcError) as info:
        _check(health_server, fed / "anchor.pem")
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_mtls_refuses_a_certificate_from_another_anchor(
    fed: Path, other_fed: Path, health_server: int
) -> None:
    foreign = pki.member_paths(other_fed, "zhejiang")
    with pytest.raises(grpc.RpcError) as info:
        _check(health_server, fed / "anchor.pem", foreign.operator_key, foreign.operator_cert)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_mtls_client_refuses_a_server_from_another_anchor(
    other_fed: Path, health_server: int
) -> None:
    # The client trusts only the other federation's anchor: the server's cert fails.
    foreign = pki.member_paths(other_fed, "zhejiang")
    with pytest.raises(grpc.RpcError) as info:
        _check(health_server, foreign.anchor, foreign.operator_key, foreign.operator_cert)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_auth_context_exposes_the_peer_certificate(fed: Path) -> None:
    """Pin down what a servicer sees, for the node's authorisation interceptor.

    gRPC Python puts the peer's leaf certificate (PEM) under ``x509_pem_cert``
    and each URI SAN under ``peer_uri``; values are lists of bytes.
    """
    seen: dict[str, object] = {}

    def whoami(request: bytes, context: grpc.ServicerContext) -> bytes:
        seen["auth"] = context.auth_context()
        seen["identities"] = context.peer_identities()
        seen["identity_key"] = context.peer_identity_key()
        return b"ok"

    paths = pki.member_paths(fed, "zhejiang")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    handler = grpc.unary_unary_rpc_method_handler(whoami)
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("test.Who", {"Am": handler})]
    )
    port = server.add_secure_port(
        "127.0.0.1:0",
        grpc.ssl_server_credentials(
            [(paths.node_key.read_bytes(), paths.node_cert.read_bytes())],
            root_certificates=paths.anchor.read_bytes(),
            require_client_auth=True,
        ),
    )
    server.start()
    try:
        peer = pki.member_paths(fed, "wenzhou")
        credentials = grpc.ssl_channel_credentials(
            paths.anchor.read_bytes(),
            peer.operator_key.read_bytes(),
            peer.operator_cert.read_bytes(),
        )
        with grpc.secure_channel(
            f"127.0.0.1:{port}",
            credentials,
            options=[("grpc.ssl_target_name_override", "localhost")],
        ) as channel:
            assert channel.unary_unary("/test.Who/Am")(b"", timeout=10) == b"ok"
    finally:
        server.stop(grace=None)

    auth = seen["auth"]
    assert isinstance(auth, dict)
    assert auth["transport_security_type"] == [b"ssl"]
    assert auth["peer_uri"] == [b"urn:brandex:operator:330300"]
    [pem] = auth["x509_pem_cert"]
    [cert] = load_pem_chain(pem)
    assert cert == _cert(peer.operator_cert)
    assert cert_operator_region(cert) == "330300"
    assert seen["identity_key"] == "x509_subject_alternative_name"
    assert seen["identities"] == [b"urn:brandex:operator:330300"]


# --- CLI --------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["init", "add", "show"])
def test_cli_help_has_an_example(command: str) -> None:
    result = CliRunner().invoke(certs_group, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output
    assert "brandex certs " + command in result.output


def test_cli_init_add_show(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "yrd"
    result = runner.invoke(certs_group, ["init", "--federation", "yrd", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert set(pki.read_federation(out)["members"]) == set(pki.DEMO_MEMBERS)
    assert pki.read_federation(out)["jurisdictions"] == [
        "310000",
        "320000",
        "330000",
        "340000",
        "410000",
    ]

    again = runner.invoke(certs_group, ["init", "--out", str(out)])
    assert again.exit_code == 1
    assert "refusing to overwrite" in again.output

    added = runner.invoke(
        certs_group, ["add", "--region", "330302", "--name", "lucheng", "--out", str(out)]
    )
    assert added.exit_code == 0, added.output
    assert _regions(out)["lucheng"] == "330302"

    refused = runner.invoke(
        certs_group, ["add", "--region", "440300", "--name", "shenzhen", "--out", str(out)]
    )
    assert refused.exit_code == 1
    assert "not within anchor 'brandex yrd anchor'" in refused.output
    duplicate = runner.invoke(
        certs_group, ["add", "--region", "330300", "--name", "wz", "--out", str(out)]
    )
    assert duplicate.exit_code == 1 and "already belongs to member 'wenzhou'" in duplicate.output

    shown = runner.invoke(certs_group, ["show", "--out", str(out)])
    assert shown.exit_code == 0, shown.output
    assert "lucheng" in shown.output and "330302" in shown.output
    assert shown.output.count(" ok") == len(pki.DEMO_MEMBERS) + 1


def test_cli_init_with_members_and_jurisdictions(tmp_path: Path) -> None:
    out = tmp_path / "zj"
    result = CliRunner().invoke(
        certs_group,
        [
            "init",
            "--federation",
            "zj",
            "--out",
            str(out),
            "--member",
            "zhejiang=330000",
            "--member",
            "wenzhou=330300",
            "--jurisdiction",
            "330000",
            "--host",
            "zj.example",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = pki.read_federation(out)
    assert doc["jurisdictions"] == ["330000"]
    assert _regions(out) == {"zhejiang": "330000", "wenzhou": "330300"}

    bad = CliRunner().invoke(certs_group, ["init", "--out", str(tmp_path / "x"), "--member", "x"])
    assert bad.exit_code == 2 and "NAME=REGION" in bad.output
