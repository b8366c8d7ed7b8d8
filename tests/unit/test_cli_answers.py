"""Answers that do not mislead: show/check find the issuer holding an id."""

from __future__ import annotations

import json
from types import SimpleNamespace

import grpc
import pytest
from click.testing import CliRunner

from exchange._proto.brandex.v1 import entries_pb2, services_pb2
from exchange.cli import registry
from exchange.cli.main import cli
from exchange.client import NodeClient


class _NotFound(grpc.RpcError):
    def code(self):
        return grpc.StatusCode.NOT_FOUND

    def details(self):
        return "no such record"


class _Client(NodeClient):
    """The real client over stand-in stubs (three origins; ``holders`` hold the id)."""

    def __init__(self, holders: set[str]) -> None:
        super().__init__("127.0.0.1:1", None, SimpleNamespace(region="330000"))  # type: ignore[arg-type]
        self.holders = holders

    @property
    def _registry(self):
        return self.stub(None)

    _log = _registry

    def stub(self, cls):
        holders = self.holders

        class _Stub:
            def ListOrigins(self, req, timeout=None):
                return services_pb2.ListOriginsResponse(
                    origins=[
                        services_pb2.OriginState(origin=f"yrd/{r}", size=3)
                        for r in ("330000", "340000", "310000")
                    ]
                )

            def GetRecord(self, req, timeout=None):
                if req.issuer not in holders:
                    raise _NotFound()
                rec = entries_pb2.Recognition(record_id=req.record_id, brand_name="宋河")
                return services_pb2.RecordHistory(
                    view=services_pb2.RecordView(issuer=req.issuer, record=rec)
                )

        return _Stub()


def _show(monkeypatch, holders: set[str], *args: str):
    monkeypatch.setattr(registry, "connect", lambda *a, **k: _Client(holders))
    return CliRunner().invoke(cli, ["show", "r-1", *args])


def test_show_finds_the_one_issuer_holding_the_id(monkeypatch) -> None:
    r = _show(monkeypatch, {"340000"}, "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["view"]["issuer"] == "340000"


def test_show_names_every_issuer_holding_the_id(monkeypatch) -> None:
    r = _show(monkeypatch, {"340000", "310000"})
    assert r.exit_code == 1
    assert "held by 2 issuers" in r.output and "310000" in r.output and "340000" in r.output


@pytest.mark.parametrize("args", [(), ("--issuer", "330000")])
def test_show_not_found(monkeypatch, args) -> None:
    r = _show(monkeypatch, set(), *args)
    assert r.exit_code == 1 and "not found" in r.output
