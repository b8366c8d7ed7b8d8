"""The staff role (``urn:brandex:staff:R``): reads everything staff need, writes nothing.

A staff certificate is what the staff console presents to its node. It is
issued by the member's anchor like the operator's, and the node maps it to a
read-only caller: every read RPC answers, every write RPC is PERMISSION_DENIED
and nothing is added to the log.
"""

from __future__ import annotations

import grpc
import pytest
from harness import wait_until

from exchange import pki
from exchange._proto.brandex.v1 import entries_pb2, services_pb2, services_pb2_grpc
from exchange.client import Denied, NodeClient
from exchange.core.x509 import cert_staff_region, load_pem_chain
from exchange.node.config import load_config

pytestmark = pytest.mark.e2e


@pytest.fixture
def fed(federation_factory):
    fed = federation_factory({"anhui": "340000"}, {}, sync_interval=1.0)
    fed.start_all()
    fed.issue("anhui", 3)
    return fed


def test_staff_reads_but_never_writes(fed, tmp_path) -> None:
    cfg = load_config(fed.configs["anhui"])
    key, cert = pki.issue_staff_certificate(fed.certs, "340000", tmp_path / "staff", "console")
    assert cert_staff_region(load_pem_chain(cert.read_bytes())[0]) == "340000"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    origin = fed.origin("anhui")
    with NodeClient.from_config(cfg, cert=cert, key=key) as staff:
        wait_until(
            lambda: all(o.indexed == o.size for o in staff.node_status().origins), what="indexed"
        )
        found = staff.search("", facets=True)
        assert found.total == 3 and found.facets
        rid = found.records[0].record.record_id
        assert staff.record("340000", rid).view.record.record_id == rid
        assert staff.check("340000", record=("340000", rid))[0].recognised
        assert staff.cases().cases == [] and staff.agreements().agreements == []
        assert '"brandex.bundle/v1"' in staff.bundle("340000", rid)
        before = staff.checkpoint(origin).size
        assert before >= 3
        assert staff.inclusion_proof(origin, 0).index == 0
        assert len(list(staff.entries(origin, 0, before))) == before

        admin = services_pb2_grpc.AdminServiceStub(staff.channel)
        record = fed.records("anhui", 1)[0]
        writes = [
            (admin.Issue, record),
            (admin.IssueBatch, services_pb2.IssueBatchRequest(records=[record])),
            (
                admin.Accede,
                entries_pb2.Accession(
                    agreement_id="x-1", title="x", covered_kinds=[1], effective_from="2026-01-01"
                ),
            ),
            (admin.PublishFederation, services_pb2.PublishFederationRequest(document=b"{}")),
        ]
        for call, request in writes:
            with pytest.raises(grpc.RpcError) as err:
                call(request, timeout=30)
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, call
            assert "staff of 340000" in err.value.details()
        with pytest.raises(Denied):
            staff.publish_federation(b"{}")
        assert staff.checkpoint(origin).size == before
