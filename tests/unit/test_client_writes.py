"""The client's write side checks a request against the node's rules before sending it."""

from __future__ import annotations

from types import SimpleNamespace

import grpc
import pytest

from exchange._proto.brandex.v1 import services_pb2
from exchange.client import InvalidRequest, NodeClient, RemoteConflict


class _Refused(grpc.RpcError):
    def code(self):
        return grpc.StatusCode.FAILED_PRECONDITION

    def details(self):
        return "record zj-1 is revoked"


class _Client(NodeClient):
    def __init__(self, refuse: bool = False) -> None:
        super().__init__("127.0.0.1:1", None, SimpleNamespace(region="330000"))  # type: ignore[arg-type]
        self.sent: list = []
        self.refuse = refuse

    @property
    def _admin(self):
        client = self

        class _Stub:
            def __getattr__(self, name):
                def call(msg, timeout=None):
                    if client.refuse:
                        raise _Refused()
                    client.sent.append((name, msg))
                    return services_pb2.IssueResponse(origin="yrd/330000", index=7)

                return call

        return _Stub()


CHANGE = {
    "record_id": "zj-1",
    "new_status": "SUSPENDED",
    "reason": "SPOT_CHECK_FAILURE",
    "effective_on": "2026-03-01",
    "announcement_no": "浙市监〔2026〕2号",
}


def test_a_valid_change_is_sent_as_the_message_the_node_takes() -> None:
    c = _Client()
    logged = c.change_status(CHANGE)
    assert (logged.origin, logged.index, logged.duplicate) == ("yrd/330000", 7, False)
    ((rpc, msg),) = c.sent
    assert rpc == "ChangeStatus" and msg.record_id == "zj-1" and msg.reason == 1


@pytest.mark.parametrize(
    "change",
    [
        {**CHANGE, "effective_on": "2026-02-30"},  # breaks a core rule
        {**CHANGE, "new_status": "FORGOTTEN"},  # no such status
        {**CHANGE, "effective_on": 20260301},  # not text
    ],
)
def test_a_bad_request_is_refused_before_sending(change) -> None:
    c = _Client()
    with pytest.raises(InvalidRequest) as caught:
        c.change_status(change)
    assert caught.value.problems and not c.sent


def test_a_case_is_reported_by_this_region_and_checked() -> None:
    c = _Client()
    with pytest.raises(InvalidRequest) as caught:
        c.act_on_case({"case_id": "c1", "action": "PENALTY", "date": "2026-03-20"})
    assert any(p.field == "decision_no" for p in caught.value.problems) and not c.sent
    c.accede(
        {
            "agreement_id": "yrd-2006",
            "title": "长三角名牌互认与联合保护协议",
            "covered_kinds": ["PROVINCIAL_FAMOUS_BRAND_PRODUCT"],
            "effective_from": "2026-01-01",
        }
    )
    assert c.sent[0][1].region == "330000"


def test_a_refusal_by_the_node_is_a_core_error() -> None:
    with pytest.raises(RemoteConflict, match="revoked"):
        _Client(refuse=True).change_status(CHANGE)


def test_writing_needs_a_config() -> None:
    c = _Client()
    c.config = None
    with pytest.raises(Exception, match="needs the node's config"):
        c.change_status(CHANGE)
