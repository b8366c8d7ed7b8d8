"""Errors name the flag the user typed, and are caught before anything is sent (exit 2)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from exchange._proto.brandex.v1 import services_pb2
from exchange.cli import cases, issue
from exchange.cli.main import cli
from exchange.client import NodeClient


class _Client(NodeClient):
    """The real client (its local checks included) over a stand-in admin stub that
    records what would be sent."""

    def __init__(self) -> None:
        super().__init__("127.0.0.1:1", None, SimpleNamespace(region="330000"))  # type: ignore[arg-type]
        self.sent: list = []

    @property
    def _admin(self):
        return self.stub(None)

    def stub(self, cls):
        client = self

        class _Stub:
            def __getattr__(self, name):
                def call(msg, timeout=None):
                    client.sent.append(msg)
                    return services_pb2.IssueResponse(origin="yrd/330000", index=1)

                return call

        return _Stub()


@pytest.fixture
def client(monkeypatch):
    c = _Client()
    monkeypatch.setattr(cases, "connect", lambda *a, **k: c)
    monkeypatch.setattr(issue, "connect", lambda *a, **k: c)
    return c


ISSUE = [
    "issue",
    "--record-id",
    "zj-2026-0001",
    "--kind",
    "PROVINCIAL_FAMOUS_BRAND_PRODUCT",
    "--sector",
    "INDUSTRIAL",
    "--brand",
    "西湖",
    "--product",
    "龙井茶",
    "--enterprise",
    "杭州西湖茶业有限公司",
    "--uscc",
    "91330106MA2B00001X",
    "--enterprise-region",
    "330106",
    "--certificate",
    "ZJMP-2026-0001",
    "--announcement",
    "浙质发〔2026〕1号",
    "--valid-from",
    "2026-01-15",
    "--valid-until",
    "2028-12-31",
]


def test_a_missing_field_names_the_flag(client) -> None:
    r = CliRunner().invoke(
        cli, ["case", "act", "c1", "--action", "PENALTY", "--date", "2026-03-20"]
    )
    assert r.exit_code == 2 and not client.sent
    assert "error: --decision-no is required" in r.output
    assert "decision_no" not in r.output


def test_a_bad_record_names_the_flag_before_sending(client) -> None:
    r = CliRunner().invoke(cli, [*ISSUE, "--recognised-on", "2026-01-15"])
    assert r.exit_code == 2 and not client.sent
    assert "error: --uscc: " in r.output and "enterprise_uscc" not in r.output


def test_issue_dates_take_the_importers_forms(client) -> None:
    from exchange.core.uscc import check_char

    args = list(ISSUE)
    args[args.index("--uscc") + 1] = "91330106MA2B00001" + check_char("91330106MA2B00001")
    r = CliRunner().invoke(cli, [*args, "--recognised-on", "2026年1月15日", "--format", "json"])
    assert r.exit_code == 0, r.output
    assert client.sent[0].recognised_on == "2026-01-15"
    assert json.loads(r.output) == {"result": "issued", "origin": "yrd/330000", "index": 1}


@pytest.mark.parametrize("day", ["2026年2月30日", "15.1.2026", "tomorrow"])
def test_a_bad_date_is_a_usage_error_before_sending(client, day) -> None:
    r = CliRunner().invoke(cli, [*ISSUE, "--recognised-on", day])
    assert r.exit_code == 2 and not client.sent
    assert "--recognised-on" in r.output and "2026年1月15日" in r.output


@pytest.mark.parametrize(
    "args",
    [
        ["log", "checkpoint", "330000"],
        ["log", "proof", "330000", "1"],
        ["audit", "log", "--origin", "330000"],
    ],
)
def test_an_origin_that_is_not_one_is_a_usage_error(args) -> None:
    r = CliRunner().invoke(cli, [*args, "--config", "none.toml"])
    assert r.exit_code == 2 and "e.g. yrd/330000" in r.output
