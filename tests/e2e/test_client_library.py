"""The typed client library (exchange.client) and staff search forms against real nodes.

Henan's and Luyi's nodes hold their demo records (宋河粮液 hn-2024-0001 and the
county's 宋河 ly-2022-0001); Henan syncs Luyi's log. Every answer comes back as
dataclasses with dates and numbers typed, and node errors as core errors.
"""

from __future__ import annotations

import functools
import json
from datetime import date

import harness
import pytest
from harness import wait_until

from exchange.client import NodeClient, RemoteInvalid, RemoteNotFound, Unreachable
from exchange.client import types as t
from exchange.core.errors import NotFoundError

pytestmark = pytest.mark.e2e

brandex = functools.partial(harness.brandex, expect=0)


@pytest.fixture
def fed(federation_factory):
    fed = federation_factory(
        {"henan": "410000", "luyi": "411628"}, {"henan": ["luyi"]}, sync_interval=1.0
    )
    fed.start_all()
    fed.issue("henan", 312)
    fed.issue("luyi", 20)
    luyi = fed.origin("luyi")
    wait_until(lambda: fed.sizes("henan").get(luyi, 0) >= 20, what="henan syncs luyi")
    with NodeClient.from_config(fed.configs["henan"]) as c:
        wait_until(
            lambda: (
                c.node_status().origins
                and all(o.indexed == o.size for o in c.node_status().origins)
            ),
            what="henan indexes both logs",
        )
    return fed


def ids(result: t.SearchResult) -> list[str]:
    return [f"{v.issuer}/{v.record.record_id}" for v in result.records]


def test_search_forms_ranking_and_facets(fed) -> None:
    with NodeClient.from_config(fed.configs["henan"]) as c:
        hanzi = c.search("宋河", facets=True)
        # The exact brand (the county's 宋河) first, then 宋河粮液.
        assert ids(hanzi)[:2] == ["411628/ly-2022-0001", "410000/hn-2024-0001"], ids(hanzi)
        for form in ("songhe", "song he", "songheliangye", "shly", "宋河糧液", "sognhe"):
            assert "410000/hn-2024-0001" in ids(c.search(form)), form
        assert c.search("sognhe").typo and not c.search("songhe").typo
        assert set(ids(c.search("songheliangye"))) == {"410000/hn-2024-0001"}
        issuers = dict(hanzi.facets["issuer"])
        assert issuers == {"410000": 1, "411628": 1}
        assert sum(n for _, n in hanzi.facets["status"]) == 2 and not hanzi.facets_partial
        v = hanzi.records[1]
        assert isinstance(v.record.recognised_on, date) and isinstance(v.provenance.index, int)
        assert v.record.kind == "PROVINCIAL_FAMOUS_BRAND_PRODUCT"
        assert v.wire["record"]["brand_name"] == "宋河粮液"


def test_record_check_cases_agreements_bundle_status(fed) -> None:
    with NodeClient.from_config(fed.configs["henan"]) as c:
        h = c.record("410000", "hn-2024-0001")
        assert h.view.record.brand_name == "宋河粮液" and h.view.issuer_name == "河南省"
        assert h.view.provenance.origin == fed.origin("henan")
        assert [x.view.issuer for x in c.issuers_holding("hn-2024-0001")] == ["410000"]
        answers = c.check("410000", "2026-06-01", record=("410000", "hn-2024-0001"))
        assert answers[0].recognised and answers[0].reasons[0].code
        assert isinstance(c.cases(brand="宋河"), t.CaseList)
        assert isinstance(c.agreements().agreements, list)
        bundle = json.loads(c.bundle("410000", "hn-2024-0001"))
        assert bundle  # exact JSON text from the node
        status = c.node_status()
        assert status.region == "410000" and {o.origin for o in status.origins} >= {
            fed.origin("henan"),
            fed.origin("luyi"),
        }
        assert any(o.size >= 312 for o in c.origins())
        assert c.checkpoint(fed.origin("henan")).checkpoint.startswith(fed.origin("henan"))
        p = c.inclusion_proof(fed.origin("henan"), h.view.provenance.index)
        assert p.index == h.view.provenance.index and isinstance(p.envelope, bytes)
        assert all(len(x) == 32 for x in p.proof) and p.tlog_proof
        size = c.checkpoint(fed.origin("henan")).size
        assert all(len(x) == 32 for x in c.consistency_proof(fed.origin("henan"), 1, size))
        entries = list(c.entries(fed.origin("henan"), 0, 3))
        assert [i for i, _ in entries] == [0, 1, 2]


def test_node_errors_arrive_as_core_errors(fed) -> None:
    with NodeClient.from_config(fed.configs["henan"]) as c:
        with pytest.raises(RemoteNotFound) as exc:
            c.record("410000", "no-such-record")
        assert isinstance(exc.value, NotFoundError) and exc.value.code == "NOT_FOUND"
        with pytest.raises(RemoteInvalid):
            c.search("x", region="999999")
    with (
        NodeClient.from_config(
            fed.configs["henan"], node=f"127.0.0.1:{harness.free_port()}"
        ) as down,
        pytest.raises(Unreachable),
    ):
        down.node_status()


def test_cli_search_takes_pinyin_names_and_shows_facets(fed) -> None:
    cfg = fed.configs["henan"]
    out = json.loads(brandex("search", "shly", "--format", "json", config=cfg).stdout)
    assert [r["record"]["record_id"] for r in out["records"]] == ["hn-2024-0001"]
    assert out["facets"]["issuer"] == [{"value": "410000", "count": 1}]
    table = brandex("search", "songhe", "--issuer", "河南省", config=cfg).stdout
    assert "宋河粮液" in table and "facets:" in table and "ly-2022-0001" not in table
    check = brandex(
        "check", "hn-2024-0001", "--in", "河南省", "--on", "2026年6月1日", config=cfg
    ).stdout
    assert check.startswith("recognised: 410000/hn-2024-0001")
    bad = harness.brandex("search", "宋河", "--region", "鼓楼区", config=cfg)
    assert bad.returncode == 2 and "410204" in bad.stderr  # 开封市鼓楼区 among the candidates
    ambiguous = harness.brandex("check", "hn-2024-0001", "--in", "鼓楼区", config=cfg)
    assert ambiguous.returncode == 2 and "320106" in ambiguous.stderr
