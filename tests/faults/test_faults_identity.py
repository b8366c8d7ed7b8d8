"""Identity: every caller without the right certificate is refused, with the right status.

One real node (Zhejiang). Callers present: no certificate, one from an untrusted
CA, an expired and a not-yet-valid one from the real anchor, one naming no
region, a member node's certificate calling write RPCs, and another region's
operator calling them. The node also dials out: a "peer" whose server
certificate comes from an untrusted CA gets no request at all.

TLS-level refusals surface as UNAVAILABLE (gRPC reports a failed handshake that
way; the server sends no status). Refusals after the handshake carry the node's
own status: UNAUTHENTICATED for a certificate it does not accept, and
PERMISSION_DENIED for an accepted identity that may not do this.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from harness import wait_until
from hostile import HostilePeer, ScriptedLog

from exchange import pki, pki_issue
from exchange._proto.brandex.v1 import entries_pb2, services_pb2, services_pb2_grpc
from exchange.core.x509 import OPERATOR_URI_PREFIX, REGION_URI_PREFIX
from exchange.node.identity import open_channel

pytestmark = pytest.mark.e2e

ADMIN_RPCS = {
    "Issue": entries_pb2.Recognition(),
    "IssueBatch": services_pb2.IssueBatchRequest(),
    "ChangeStatus": entries_pb2.StatusChange(),
    "ReportCase": entries_pb2.InfringementCase(),
    "ActOnCase": entries_pb2.CaseAction(),
    "Accede": entries_pb2.Accession(),
    "Withdraw": entries_pb2.Withdrawal(),
}


def _cert(certs: Path, out: Path, name: str, uris: list[str], now: datetime) -> tuple[Path, Path]:
    """A client certificate from the federation's real anchor, issued as of ``now``."""
    issuer = pki_issue.load_issuer(certs)
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.UniformResourceIdentifier(u) for u in uris] or [x509.DNSName("client.test")]
    cert = pki_issue.issue_certificate(
        issuer, f"test {name}", key.public_key(), sans, [ExtendedKeyUsageOID.CLIENT_AUTH], now
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.pem").write_bytes(pki_issue.cert_to_pem(cert))
    (out / f"{name}.key").write_bytes(pki_issue.key_to_pem(key))
    return out / f"{name}.pem", out / f"{name}.key"


def _channel(address: str, anchor: Path, cert: Path | None, key: Path | None) -> grpc.Channel:
    creds = grpc.ssl_channel_credentials(
        root_certificates=anchor.read_bytes(),
        private_key=key.read_bytes() if key else None,
        certificate_chain=cert.read_bytes() if cert else None,
    )
    return open_channel(address, creds)


def _refusal(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details() or ""


def _read(ch: grpc.Channel):
    return services_pb2_grpc.LogServiceStub(ch).ListOrigins(
        services_pb2.ListOriginsRequest(), timeout=10
    )


def _admin_refusals(ch: grpc.Channel) -> list[tuple[grpc.StatusCode, str]]:
    """Call every write RPC (with an empty request: authorisation comes first)."""
    stub = services_pb2_grpc.AdminServiceStub(ch)
    return [
        _refusal(lambda r=rpc, q=request: getattr(stub, r)(q, timeout=10))
        for rpc, request in ADMIN_RPCS.items()
    ]


def test_callers_without_the_right_certificate_are_refused(
    federation, fault_certs, fault_report, tmp_path
):
    other = tmp_path / "other"  # same federation name and members, another anchor key
    pki.init_federation(other, "yrd", {"zhejiang": "330000", "anhui": "340000"})
    rogue = HostilePeer(other, "anhui", anchors_pem=(fault_certs / "anchor.pem").read_bytes())
    rogue.start()
    fed = federation({"zhejiang": "330000"})
    fed.add_peer("zhejiang", rogue.address, "340000")
    anchor = fault_certs / "anchor.pem"
    now = datetime.now(UTC)
    zj_op = f"{OPERATOR_URI_PREFIX}330000"
    zj_node = f"{REGION_URI_PREFIX}330000"
    rows: list[tuple[str, int, str]] = []
    try:
        fed.start("zhejiang")
        addr = fed.address("zhejiang")
        size = fed.sizes("zhejiang")[fed.origin("zhejiang")]
        rogue.serve("yrd/340000", ScriptedLog("yrd/340000\n1\nAAAA\n"))

        def check(label: str, ch: grpc.Channel, expect: grpc.StatusCode, *, write=True) -> None:
            calls = _admin_refusals(ch) if write else [_refusal(lambda: _read(ch))]
            assert {c for c, _ in calls} == {expect}, (label, calls)
            details = calls[0][1]
            if expect == grpc.StatusCode.UNAVAILABLE:
                # The node closed the connection during the handshake (it is up: see below).
                assert all("Socket closed" in d or "handshake" in d for _, d in calls), calls
                note = f"{expect.name} at the TLS handshake ({details.rsplit(': ', 1)[-1]})"
            else:
                note = f"{expect.name}: {details}"
            rows.append((label, len(calls), note))

        # TLS refuses these before any RPC runs.
        check(
            "no client certificate",
            _channel(addr, anchor, None, None),
            grpc.StatusCode.UNAVAILABLE,
            write=False,
        )
        paths = pki.member_paths(other, "zhejiang")
        check(
            "certificate from an untrusted CA (same names)",
            _channel(addr, anchor, paths.operator_cert, paths.operator_key),
            grpc.StatusCode.UNAVAILABLE,
        )
        expired = _cert(fault_certs, tmp_path, "expired", [zj_op], now - timedelta(days=3 * 365))
        check(
            "expired certificate (own operator's)",
            _channel(addr, anchor, *expired),
            grpc.StatusCode.UNAVAILABLE,
        )
        future = _cert(fault_certs, tmp_path, "future", [zj_node], now + timedelta(days=30))
        check(
            "not-yet-valid certificate",
            _channel(addr, anchor, *future),
            grpc.StatusCode.UNAVAILABLE,
            write=False,
        )
        # Past TLS: the node's own checks.
        nameless = _cert(fault_certs, tmp_path, "nameless", [], now)
        check(
            "trusted certificate naming no region",
            _channel(addr, anchor, *nameless),
            grpc.StatusCode.UNAUTHENTICATED,
        )
        for member in ("anhui", "zhejiang"):
            p = pki.member_paths(fault_certs, member)
            ch = _channel(addr, anchor, p.node_cert, p.node_key)
            assert _read(ch).origins  # members may read ...
            check(
                f"member node certificate ({member}) calling admin RPCs",
                ch,
                grpc.StatusCode.PERMISSION_DENIED,
            )
        p = pki.member_paths(fault_certs, "anhui")
        ch = _channel(addr, anchor, p.operator_cert, p.operator_key)
        assert _read(ch).origins
        check("operator of 340000 issuing on 330000's node", ch, grpc.StatusCode.PERMISSION_DENIED)
        # ... and the rightful operator can (so the refusals above were not an outage).
        assert fed.issue("zhejiang", 1) == size + 1

        # Dialling out: a peer whose server certificate is from an untrusted CA.
        wait_until(
            lambda: next(
                x.last_error for x in fed.status("zhejiang").peers if x.address == rogue.address
            ).startswith("UNAVAILABLE"),
            what="zhejiang to refuse the untrusted peer",
        )
        assert rogue.count("ListOrigins") == 0 and rogue.count("WatchCheckpoints") == 0
        assert set(fed.sizes("zhejiang")) == {fed.origin("zhejiang")}
        rows.append(
            ("peer presenting an untrusted server certificate", 1, "UNAVAILABLE; never called")
        )
        assert fed.sizes("zhejiang")[fed.origin("zhejiang")] == size + 1  # nothing else written
    finally:
        rogue.stop()
    for label, faults, note in rows:
        fault_report(f"identity: {label}", faults, 0, note[:100])
