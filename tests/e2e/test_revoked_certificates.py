"""The anchor's revocation list: a revoked certificate is refused from its next call,
and a stream it holds open is closed (the list is read again when it changes)."""

from __future__ import annotations

import threading
from pathlib import Path

import grpc
from harness import brandex, wait_until

from exchange import pki
from exchange._proto.brandex.v1 import services_pb2

ZJ = "yrd/330000"


def _with_crl(config: Path, crl: Path) -> None:
    text = config.read_text()
    config.write_text(text.replace("[tls]\n", f'[tls]\ncrl = "{crl}"\n', 1))


def test_a_revoked_certificate_is_refused_and_its_stream_closed(
    federation_factory, tmp_path: Path
) -> None:
    certs = tmp_path / "own-certs"
    fed = federation_factory(
        {"zhejiang": "330000", "anhui": "340000", "shanghai": "310000"}, {}, certs=certs
    )
    # A list exists from the start (it revokes a certificate nobody uses).
    spare = pki.member_paths(certs, "shanghai").operator_cert
    crl, _ = pki.revoke_certificate(certs, spare.read_bytes())
    _with_crl(fed.configs["anhui"], crl)
    fed.start("anhui")
    zj = pki.member_paths(certs, "zhejiang")
    as_zj = fed.log_stub("anhui", cert=zj.node_cert, key=zj.node_key)
    assert as_zj.GetNodeStatus(services_pb2.NodeStatusRequest(), timeout=10).origin
    ended: list[grpc.StatusCode] = []
    stream = as_zj.WatchCheckpoints(services_pb2.WatchCheckpointsRequest())

    def watch() -> None:
        try:
            for _ in stream:
                pass
        except grpc.RpcError as exc:
            ended.append(exc.code())

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    wait_until(lambda: fed.status("anhui").origin, what="anhui answers")

    done = brandex("certs", "revoke", str(zj.node_cert), "--dir", str(certs), expect=0)
    assert "revoked: certificate" in done.stdout
    wait_until(lambda: ended, what="the revoked certificate's stream to be closed")
    assert ended == [grpc.StatusCode.UNAUTHENTICATED]
    try:
        as_zj.GetNodeStatus(services_pb2.NodeStatusRequest(), timeout=10)
        raise AssertionError("a revoked certificate was served")
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "revoked" in exc.details()
    # Others are served as before.
    assert fed.status("anhui").origin == "yrd/340000"
    stream.cancel()
