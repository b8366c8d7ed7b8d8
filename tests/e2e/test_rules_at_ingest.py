"""Rules at ingest (trust rule 8): a mirror applies the issuer's domain rules.

Anhui's real, certified key signs two entries its own node would refuse: a
CaseAction closing a case that Zhejiang reported and handles, and a
recognition of a Hangzhou (330100) enterprise, outside Anhui's jurisdiction.
They reach Jiangsu's node through a hostile peer (a real mTLS server with a
genuine member certificate). Jiangsu keeps them in the log (they are signed
evidence), but they change nothing in its registry; it lists them as
violations in node status, and ``brandex audit log`` reports them too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import grpc
import pytest
from harness import brandex, wait_until
from hostile import (
    HostilePeer,
    ScriptedLog,
    forge_checkpoint,
    key_announcement,
    root_of,
    signed_entry,
    signing_key,
)

from exchange._proto.brandex.v1 import entries_pb2, services_pb2
from exchange.pki import member_paths
from tests.builders import recognition

pytestmark = pytest.mark.e2e

ZJ, AH = "yrd/330000", "yrd/340000"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def test_a_mirror_keeps_but_does_not_apply_entries_that_break_the_rules(
    federation_factory, shared_certs
) -> None:
    fed = federation_factory(
        {"zhejiang": "330000", "jiangsu": "320000"}, {"jiangsu": ["zhejiang"]}, sync_interval=30.0
    )
    with HostilePeer(shared_certs, "shanghai") as evil:
        fed.add_peer("jiangsu", evil.address, "310000")
        fed.start_all()

        # Zhejiang recognises a record and reports a case it handles itself.
        [protected] = fed.records("zhejiang", 1)
        fed.issue_records("zhejiang", [protected])
        fed.admin("zhejiang").ReportCase(
            entries_pb2.InfringementCase(
                case_id="zj-case-1",
                protected_issuer="330000",
                protected_record_id=protected.record_id,
                reporting_region="330000",
                handling_region="330000",
                infringer_name="假货作坊",
                case_type=entries_pb2.CaseType.Value("COUNTERFEIT"),
                opened_on="2026-01-05",
            ),
            timeout=30,
        )
        size = fed.sizes("zhejiang")[ZJ]
        wait_until(lambda: fed.sizes("jiangsu").get(ZJ) == size, what="jiangsu to mirror zj")

        # Anhui's own node refuses the out-of-jurisdiction recognition ...
        foreign = recognition("ah-forged-1", "AH-FORGED-1")
        foreign.brand_name = "越界品牌"
        assert foreign.enterprise_region.startswith("3301")  # Hangzhou
        # ... so it is signed with Anhui's certified key outside any node.
        ah_key = signing_key(shared_certs, "anhui")
        ah_cert = member_paths(shared_certs, "anhui").signing_cert.read_text()

        def entry(**body) -> entries_pb2.Entry:
            return entries_pb2.Entry(federation="yrd", region="340000", issued_at=_now(), **body)

        close = entries_pb2.CaseAction(
            case_region="330000",
            case_id="zj-case-1",
            acting_region="340000",
            action=entries_pb2.CaseActionType.Value("CLOSED"),
            date="2026-01-06",
        )
        envs = [
            signed_entry(key_announcement("yrd", "340000", ah_key, ah_cert, _now()), ah_key),
            signed_entry(entry(recognition=foreign), ah_key),
            signed_entry(entry(case_action=close), ah_key),
        ]
        evil.serve(AH, ScriptedLog(forge_checkpoint(AH, 3, root_of(envs), ah_key), envs))

        def anhui_indexed() -> bool:
            o = next((o for o in fed.status("jiangsu").origins if o.origin == AH), None)
            return o is not None and o.size == 3 and o.indexed == 3

        wait_until(anhui_indexed, what="jiangsu to store and index Anhui's log")

        # The log holds all three (signed evidence); the registry changed not at all.
        registry = fed.registry("jiangsu")
        [case] = registry.ListCases(services_pb2.ListCasesRequest(), timeout=10).cases
        assert case.case.case_id == "zj-case-1" and case.open
        with pytest.raises(grpc.RpcError) as err:
            registry.GetRecord(
                services_pb2.GetRecordRequest(issuer="340000", record_id="ah-forged-1"), timeout=10
            )
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        assert "broke rule invalid-entry" in err.value.details()  # `show` says why
        shown = brandex("show", "ah-forged-1", "--issuer", "340000", config=fed.configs["jiangsu"])
        assert shown.returncode != 0 and "broke rule invalid-entry" in shown.stderr, shown
        found = registry.Search(services_pb2.SearchRequest(text="越界品牌"), timeout=10)
        assert not found.records

        # Node status counts them per origin and lists them.
        st = fed.status("jiangsu")
        assert {o.origin: o.violations for o in st.origins}[AH] == 2
        assert {o.origin: o.violations for o in st.origins}[ZJ] == 0
        assert {(v.origin, v.index, v.rule) for v in st.violations} == {
            (AH, 1, "invalid-entry"),
            (AH, 2, "case-not-party"),
        }
        shown = brandex("node", "status", config=fed.configs["jiangsu"], expect=0)
        assert "case-not-party" in shown.stdout and "jurisdiction" in shown.stdout

        # The auditor, replaying Jiangsu's copies, reports both.
        done = brandex(
            "audit",
            "log",
            "--config",
            str(fed.configs["jiangsu"]),
            "--format",
            "json",
            "--workers",
            "0",
        )
        assert done.returncode == 1, done.stdout + done.stderr
        issues = {
            (i["origin"], i.get("index"), i["kind"]) for i in json.loads(done.stdout)["issues"]
        }
        assert (AH, 1, "invalid-entry") in issues
        assert (AH, 2, "case") in issues
