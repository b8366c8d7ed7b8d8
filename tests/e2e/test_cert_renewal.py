"""Runbook "a certificate expires next month": renew it, restart, and peers carry on.

``brandex certs renew`` issues new node and operator certificates for a member
(keeping the old files as *.old); after a restart the node serves the new
certificate and syncs both ways with its peer over mTLS.
"""

from __future__ import annotations

import shutil
import socket
import ssl

from cryptography import x509
from harness import brandex, wait_until

from exchange.pki import member_paths

AH = "yrd/340000"


def _serial(pem_path) -> int:
    return x509.load_pem_x509_certificate(pem_path.read_bytes()).serial_number


def _served_serial(port: int, paths) -> int:
    """The serial of the certificate the node presents (we present our operator's)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(paths.anchor)
    ctx.load_cert_chain(paths.operator_cert, paths.operator_key)
    ctx.set_alpn_protocols(["h2"])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).serial_number


def test_renewed_certificates_are_served_after_a_restart(
    federation_factory, shared_certs, tmp_path
) -> None:
    certs = tmp_path / "certs"
    shutil.copytree(shared_certs, certs)  # renewing rewrites files: not the shared PKI
    fed = federation_factory(
        {"zhejiang": "330000", "anhui": "340000"},
        {"zhejiang": ["anhui"], "anhui": ["zhejiang"]},
        sync_interval=1.0,
        certs=certs,
    )
    fed.start_all()
    fed.issue("anhui", 2)
    wait_until(lambda: fed.sizes("zhejiang").get(AH) == 3, what="zhejiang mirrors anhui")
    paths = member_paths(certs, "anhui")
    old = _serial(paths.node_cert)
    assert _served_serial(fed.members["anhui"].port, paths) == old

    done = brandex("certs", "renew", "--name", "anhui", "--dir", str(certs), expect=0)
    new = _serial(paths.node_cert)
    assert new != old and f"{new:x}" in done.stdout
    assert _serial(paths.node_cert.with_name("node.pem.old")) == old

    fed.stop("anhui")
    fed.start("anhui")
    assert _served_serial(fed.members["anhui"].port, paths) == new
    fed.issue("anhui", 3)  # anhui's new certificate works as server and as client
    wait_until(lambda: fed.sizes("zhejiang").get(AH) == 6, what="zhejiang mirrors anhui again")
    fed.issue("zhejiang", 2)
    wait_until(lambda: fed.sizes("anhui").get("yrd/330000") == 3, what="anhui mirrors zhejiang")
