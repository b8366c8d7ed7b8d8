"""mTLS and certificate-based authorisation of a real node.

One node (Zhejiang) trusts two anchors: the federation's ``yrd`` anchor and a
second one, ``hn``, whose jurisdiction is Henan only. Callers present various
certificates; each refusal must come with the right gRPC status code.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from harness import Federation

from exchange import pki, pki_issue, pki_request
from exchange._proto.brandex.v1 import services_pb2, services_pb2_grpc
from exchange.node.identity import open_channel

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, shared_certs: Path):
    """Zhejiang and Anhui nodes; Zhejiang also trusts the ``hn`` anchor."""
    root = tmp_path_factory.mktemp("mtls")
    fed = Federation.create(
        root / "fed",
        {"zhejiang": "330000", "anhui": "340000"},
        {},
        certs=shared_certs,
        sync_interval=30.0,
    )
    # A second trusted anchor for Henan's regions, with one member inside its jurisdiction
    # (Kaifeng) and one certificate it should never have issued (for Zhejiang's region).
    hn = root / "hn"
    pki.init_federation(hn, "hn", {"kaifeng": "410200"}, jurisdictions=["410000"])
    issuer = pki_issue.load_issuer(hn)
    # `certs sign` refuses such a request, so the rogue certificates are minted directly.
    (hn / "rogue").mkdir()
    for role in ("node", "operator"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = pki_issue.issue_certificate(
            issuer,
            pki_request.expected_subject(role, "rogue", "330000"),
            key.public_key(),
            pki_request.expected_sans(role, "330000", ()),
            pki_issue.EKU[role],
            datetime.now(UTC),
        )
        (hn / "rogue" / f"{role}.pem").write_bytes(pki_issue.cert_to_pem(cert))
        (hn / "rogue" / f"{role}.key").write_bytes(pki_issue.key_to_pem(key))
    config = fed.configs["zhejiang"]
    text = config.read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("anchors = "))
    two = line[:-1] + f', "{(hn / "anchor.pem").resolve()}"]'
    config.write_text(text.replace(line, two))
    fed.start_all()
    yield fed, hn
    fed.stop_all()


def _channel(fed: Federation, cert: Path | None, key: Path | None, roots: bytes | None = None):
    roots = roots or pki.member_paths(fed.certs, "zhejiang").anchor.read_bytes()
    creds = grpc.ssl_channel_credentials(
        root_certificates=roots,
        private_key=key.read_bytes() if key else None,
        certificate_chain=cert.read_bytes() if cert else None,
    )
    return open_channel(fed.address("zhejiang"), creds)


def _list(channel) -> services_pb2.ListOriginsResponse:
    return services_pb2_grpc.LogServiceStub(channel).ListOrigins(
        services_pb2.ListOriginsRequest(), timeout=10
    )


def _issue(channel, records=()) -> services_pb2.IssueBatchResponse:
    return services_pb2_grpc.AdminServiceStub(channel).IssueBatch(
        services_pb2.IssueBatchRequest(records=list(records)), timeout=10
    )


def _code(fn, *args) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        fn(*args)
    return info.value.code(), info.value.details()


def test_own_operator_may_read_and_write(node) -> None:
    fed, _ = node
    assert "yrd/330000" in {o.origin for o in _list(fed.channel("zhejiang")).origins}
    assert fed.issue("zhejiang", 2) == 3


def test_no_client_certificate_is_refused_at_the_handshake(node) -> None:
    fed, _ = node
    code, _ = _code(_list, _channel(fed, None, None))
    assert code == grpc.StatusCode.UNAVAILABLE


def test_certificate_from_an_untrusted_ca_is_refused(node, tmp_path: Path) -> None:
    fed, _ = node
    # Same federation name, same member names: only the anchor key differs.
    other = tmp_path / "other"
    pki.init_federation(other, "yrd", {"zhejiang": "330000"})
    paths = pki.member_paths(other, "zhejiang")
    for cert, key in [(paths.operator_cert, paths.operator_key), (paths.node_cert, paths.node_key)]:
        code, _ = _code(_list, _channel(fed, cert, key))
        assert code == grpc.StatusCode.UNAVAILABLE


def test_member_node_certificate_may_read_but_not_write(node) -> None:
    fed, _ = node
    for name in ("zhejiang", "anhui"):  # even the node's own TLS certificate
        paths = pki.member_paths(fed.certs, name)
        ch = _channel(fed, paths.node_cert, paths.node_key)
        assert _list(ch).origins
        code, details = _code(_issue, ch)
        assert code == grpc.StatusCode.PERMISSION_DENIED, details
        assert "operator of 330000" in details


def test_another_regions_operator_may_not_write(node) -> None:
    fed, _ = node
    paths = pki.member_paths(fed.certs, "anhui")
    ch = _channel(fed, paths.operator_cert, paths.operator_key)
    assert _list(ch).origins  # reading is fine
    before = fed.sizes("zhejiang")["yrd/330000"]
    code, details = _code(_issue, ch, fed.records("zhejiang", 3))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "operator of 340000" in details
    assert fed.sizes("zhejiang")["yrd/330000"] == before  # nothing was written


def test_second_anchor_within_and_outside_its_jurisdiction(node) -> None:
    fed, hn = node
    kaifeng = pki.member_paths(hn, "kaifeng")
    ok = _channel(fed, kaifeng.node_cert, kaifeng.node_key)
    assert _list(ok).origins  # a Henan member certified by the Henan anchor reads
    rogue = hn / "rogue"
    for cert in ("node", "operator"):
        ch = _channel(fed, rogue / f"{cert}.pem", rogue / f"{cert}.key")
        code, details = _code(_list, ch)
        assert code == grpc.StatusCode.UNAUTHENTICATED, details
        assert "330000" in details and "jurisdiction" in details
        code, details = _code(_issue, ch)  # and certainly no writing as Zhejiang's operator
        assert code == grpc.StatusCode.UNAUTHENTICATED, details
