"""Agencies and staff against real nodes: import/export, status, cases, agreements, search/check.

Every command runs as ``python -m exchange.cli.main`` in a subprocess, as an
agency would run it; answers are parsed back from ``--format json`` / ``csv``.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from pathlib import Path

import harness
import openpyxl
import pytest
from harness import Federation, wait_until

from exchange._proto.brandex.v1 import services_pb2
from exchange.demo.dataset import demo_records
from exchange.spreadsheet import record_row, write_sheet

pytestmark = pytest.mark.e2e

ANNOUNCEMENT = "浙市监质〔2026〕12号"
KIND = "PROVINCIAL_FAMOUS_BRAND_PRODUCT"


# Every command here must succeed unless the test says otherwise.
brandex = functools.partial(harness.brandex, expect=0)


def as_json(*args: str, config: Path, expect: int | None = 0):
    return json.loads(brandex(*args, "--format", "json", config=config, expect=expect).stdout)


def as_csv(*args: str, config: Path) -> list[dict]:
    out = brandex(*args, "--format", "csv", config=config).stdout
    return list(csv.DictReader(io.StringIO(out)))


def size(fed: Federation, name: str, of: str | None = None) -> int:
    return fed.sizes(name).get(fed.origin(of or name), 0)


def zh_rows(records: list[dict]) -> list[dict]:
    """Rows as a Zhejiang agency keeps them: Chinese headers, dates with slashes."""
    return [
        {
            "序号": str(i),
            "品牌名称": r["brand_name"],
            "英文名称": r["brand_name_latin"],
            "企业名称": r["enterprise_name"],
            "统一社会信用代码": r["enterprise_uscc"],
            "产品": r["product"],
            "企业所在地": r["enterprise_region"],
            "尼斯分类": ",".join(str(c) for c in r["nice_classes"]),
            "行业代码": r["industry_code"],
            "类别": {"INDUSTRIAL": "工业", "AGRICULTURAL": "农业"}.get(r["sector"], r["sector"]),
            "认定日期": r["recognised_on"].replace("-", "/"),
            "有效期至": r["valid_until"],
            "证书编号": r["certificate_no"],
        }
        for i, r in enumerate(records, 1)
    ]


def write_csv(path: Path, rows: list[dict], encoding: str) -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def recognition(base: dict, **changes: str) -> dict:
    from exchange._proto.brandex.v1 import entries_pb2

    rec = {**base, **changes}
    return record_row(entries_pb2.Recognition(**rec), headers="en")


# ---------------------------------------------------------------- import / export


def test_import_validate_reimport_export(federation_factory, tmp_path) -> None:
    fed = federation_factory({"zhejiang": "330000"}, {})
    fed.start_all()
    cfg = fed.configs["zhejiang"]
    recs = demo_records()["zhejiang"]
    start = size(fed, "zhejiang")

    # A bad file (XLSX, several faults): every error located, nothing written, exit 1.
    bad = zh_rows(recs[:10])
    uscc = bad[2]["统一社会信用代码"]
    bad[2]["统一社会信用代码"] = uscc[:-1] + ("1" if uscc[-1] != "1" else "2")
    bad[5]["有效期至"] = "2001-01-01"
    bad[7]["企业所在地"] = "310101"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(list(bad[0]))
    for r in bad:
        ws.append(list(r.values()))
    wb.save(tmp_path / "bad.xlsx")
    proc = brandex(
        "import",
        str(tmp_path / "bad.xlsx"),
        "--kind",
        KIND,
        "--announcement",
        ANNOUNCEMENT,
        config=cfg,
        expect=1,
    )
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 3, proc.stderr
    assert errors[0].startswith("row 4, column 统一社会信用代码: USCC check character")
    assert errors[1].startswith("row 7, column 有效期至: must be after valid_from")
    assert errors[2] == (
        "row 9, column 企业所在地: outside the issuer's jurisdiction 浙江省 (330000) (got '310101')"
    )
    assert "nothing imported" in proc.stdout
    assert size(fed, "zhejiang") == start

    # The same file with --skip-invalid: 7 imported, 3 rejects written with their errors.
    rejects = tmp_path / "rejects.csv"
    summary = as_json(
        "import",
        str(tmp_path / "bad.xlsx"),
        "--kind",
        KIND,
        "--announcement",
        ANNOUNCEMENT,
        "--skip-invalid",
        "--rejects",
        str(rejects),
        config=cfg,
    )
    assert (summary["added"], summary["duplicates"], summary["rejected"]) == (7, 0, 3)
    assert len(summary["created"]) == 7 and all(c["index"] > 0 for c in summary["created"])
    assert [e["row"] for e in summary["errors"]] == [4, 7, 9]
    with open(rejects, encoding="utf-8-sig", newline="") as f:
        rej = list(csv.DictReader(f))
    assert [r["row"] for r in rej] == ["4", "7", "9"] and "企业所在地" in rej[2]["error"]
    assert size(fed, "zhejiang") == start + 7

    # A good GB18030 CSV of 40 rows (overlapping the 7): 33 added, 7 already present.
    good = write_csv(tmp_path / "2026名单.csv", zh_rows(recs[:40]), "gb18030")
    summary = as_json(
        "import", str(good), "--kind", KIND, "--announcement", ANNOUNCEMENT, config=cfg
    )
    assert summary["encoding"] == "gb18030"
    assert (summary["rows"], summary["added"], summary["duplicates"]) == (40, 33, 7)
    # The ids added are listed (a batch with duplicates too: the 7 are not among them).
    created = {c["record_id"] for c in summary["created"]}
    assert len(created) == 33 and created <= {r["certificate_no"] for r in recs[:40]}
    assert size(fed, "zhejiang") == start + 40

    # Re-importing adds nothing; the one-line summary says so.
    out = brandex(
        "import", str(good), "--kind", KIND, "--announcement", ANNOUNCEMENT, config=cfg
    ).stdout.strip()
    assert out == "2026名单.csv (csv, gb18030): 40 rows, 0 added, 40 already present, 0 rejected"
    assert size(fed, "zhejiang") == start + 40

    # UTF-8 with BOM and English headers (the kind as a column).
    en = [recognition(r) for r in recs[40:45]]
    path = tmp_path / "en.csv"
    write_sheet(path, en, encoding="utf-8-sig")
    summary = as_json("import", str(path), config=cfg)
    assert (summary["encoding"], summary["added"]) == ("utf-8-sig", 5)

    # Export (XLSX and CSV) and re-import: the same format, nothing new.
    for name in ("export.xlsx", "export.csv"):
        brandex("export", str(tmp_path / name), config=cfg)
        summary = as_json("import", str(tmp_path / name), config=cfg)
        assert (summary["rows"], summary["added"], summary["duplicates"]) == (45, 0, 45)
    assert size(fed, "zhejiang") == start + 45

    # Search finds them by one and two characters; JSON and CSV parse back.
    brand = recs[0]["brand_name"]
    found = as_json("search", brand[:2], "--limit", "100", config=cfg)
    assert found["total"] >= 1
    hit = next(r for r in found["records"] if r["record"]["brand_name"] == brand)
    assert hit["issuer"] == "330000" and hit["record"]["record_id"] == recs[0]["certificate_no"]
    one = as_json("search", brand[:1], "--limit", "1000", config=cfg)
    assert any(r["record"]["brand_name"] == brand for r in one["records"])
    rows = as_csv("search", "--uscc", recs[0]["enterprise_uscc"], config=cfg)
    assert rows and rows[0]["brand_name"] == brand and rows[0]["issuer"] == "330000"

    # A batch the node refuses mid-import (a certificate number it issued under
    # another record id): the rows around it that were sent are written, and the
    # message says which rows were not and what the others did.
    mixed = [recognition(r) for r in recs[45:50]]
    mixed[2] = recognition(recs[47], certificate_no=recs[0]["certificate_no"])
    path = tmp_path / "conflict.csv"
    write_sheet(path, mixed, encoding="utf-8")
    proc = brandex("import", str(path), "--chunk", "1", config=cfg, expect=None)
    assert proc.returncode != 0
    assert (
        "row 4 of conflict.csv not imported (the error below); the other batches sent:"
        " 3 added, 0 already present"
    ) in proc.stderr, proc.stderr
    assert recs[0]["certificate_no"] in proc.stderr
    assert size(fed, "zhejiang") == start + 48


# ---------------------------------------------------------------- state machine


def test_every_state_machine_refusal(federation_factory, tmp_path) -> None:
    fed = federation_factory({"zhejiang": "330000"}, {})
    fed.start_all()
    cfg = fed.configs["zhejiang"]
    recs = demo_records()["zhejiang"][:4]
    # recognised 2022-01-14, valid until 2025-01-13 (expired today)
    write_csv(tmp_path / "l.csv", zh_rows(recs), "utf-8")
    brandex("import", str(tmp_path / "l.csv"), "--kind", KIND, "--announcement", "A", config=cfg)
    wk = {
        **recs[3],
        "record_id": "zjwk-2010-0001",
        "kind": "WELL_KNOWN_TRADEMARK",
        "certificate_no": "ZJWK-2010-0001",
        "recognised_on": "2010-05-01",
        "valid_from": "2010-05-01",
        "valid_until": "",
    }
    write_sheet(tmp_path / "wk.csv", [recognition(wk)])
    brandex("import", str(tmp_path / "wk.csv"), config=cfg)
    a, b, c = (r["certificate_no"] for r in recs[:3])

    def ok(*args: str) -> dict:
        return as_json("status", *args, "--announcement", "浙市监〔2026〕1号", config=cfg)

    def refused(*args: str, why: str) -> None:
        before = size(fed, "zhejiang")
        proc = brandex("status", *args, "--announcement", "浙市监〔2026〕1号", config=cfg, expect=1)
        assert proc.stderr.startswith("refused: "), proc.stderr
        assert why in proc.stderr, proc.stderr
        assert size(fed, "zhejiang") == before

    res = ok("suspend", a, "--reason", "SPOT_CHECK_FAILURE", "--effective", "2023-03-01")
    assert res["result"] == "suspended" and res["record_id"] == a and res["origin"] == "yrd/330000"
    refused(
        "suspend",
        a,
        "--reason",
        "QUALITY_INCIDENT",
        "--effective",
        "2023-04-01",
        why="only a valid record can be suspended",
    )
    refused("reinstate", b, "--effective", "2023-04-01", why="only a suspended record")
    refused("reinstate", a, "--effective", "2023-02-01", why="changes must not take effect out")
    refused(
        "revoke",
        a,
        "--reason",
        "OTHER",
        "--effective",
        "2021-01-01",
        why="before the record was recognised",
    )
    ok("reinstate", a, "--effective", "2023-05-01")
    refused(
        "renew",
        b,
        "--valid-until",
        "2024-12-31",
        "--effective",
        "2023-06-01",
        why="does not extend",
    )
    refused(
        "renew",
        "zjwk-2010-0001",
        "--valid-until",
        "2030-01-01",
        "--effective",
        "2023-06-01",
        why="has no expiry; it cannot be renewed",
    )
    ok("revoke", b, "--reason", "FRAUD_IN_APPLICATION", "--effective", "2023-06-01")
    for verb, extra in [
        ("revoke", ["--reason", "OTHER"]),
        ("suspend", ["--reason", "OTHER"]),
        ("reinstate", []),
        ("renew", ["--valid-until", "2031-01-01"]),  # expired and revoked
        ("withdraw", []),
        ("correct", ["--set", "product=新产品"]),
    ]:
        refused(verb, b, *extra, "--effective", "2026-01-01", why="a revoked record cannot be")
    ok("withdraw", c, "--effective", "2023-07-01")
    refused("reinstate", c, "--effective", "2026-01-01", why="a withdrawn record cannot be")
    refused(
        "suspend",
        "no-such-record",
        "--reason",
        "OTHER",
        "--effective",
        "2026-01-01",
        why="not one of 330000's records",
    )

    # What the node did accept: renew an expired (not revoked) record, then correct it.
    ok("renew", a, "--valid-until", "2028-01-13", "--effective", "2025-01-10")
    ok("correct", a, "--set", "product=高档皮革服装", "--effective", "2025-02-01")
    shown = as_json("show", a, "--history", config=cfg)
    assert shown["view"]["record"]["product"] == "高档皮革服装"
    assert shown["view"]["valid_until"] == "2028-01-13"
    assert [e["change"]["new_status"] for e in shown["events"]] == [
        "SUSPENDED",
        "REINSTATED",
        "RENEWED",
        "CORRECTED",
    ]
    # A malformed change is stopped before it is sent (exit 2, the rule named).
    proc = brandex(
        "status",
        "suspend",
        a,
        "--reason",
        "OTHER",
        "--effective",
        "2026-13-01",
        "--announcement",
        "x",
        config=cfg,
        expect=2,
    )
    assert "calendar date" in proc.stderr


# ---------------------------------------------------------------- cases and --peer


REGIONS3 = {"shanghai": "310000", "zhejiang": "330000", "anhui": "340000"}
MESH3 = {n: [m for m in REGIONS3 if m != n] for n in REGIONS3}


def test_case_flows_across_three_nodes_and_peer_queries(federation_factory, tmp_path) -> None:
    fed = federation_factory(REGIONS3, MESH3, sync_interval=2.0)
    fed.start_all()
    cfg = fed.configs
    sh = [r for r in demo_records()["shanghai"] if r["kind"] == KIND][-3:]
    write_sheet(tmp_path / "sh.xlsx", [recognition(r) for r in sh])
    assert as_json("import", str(tmp_path / "sh.xlsx"), config=cfg["shanghai"])["added"] == 3
    target = sh[0]["record_id"]
    sh_size = size(fed, "shanghai")
    wait_until(lambda: size(fed, "zhejiang", "shanghai") == sh_size, what="zhejiang syncs shanghai")

    # Zhejiang reports counterfeits of a Shanghai brand found in Anhui.
    rep = as_json(
        "case",
        "report",
        "--case-id",
        "zj-case-2026-001",
        "--issuer",
        "310000",
        "--record",
        target,
        "--handling-region",
        "340000",
        "--infringer",
        "合肥某贸易有限公司",
        "--type",
        "COUNTERFEIT",
        "--value-yuan",
        "128000.50",
        "--opened-on",
        "2026-03-02",
        "--description",
        "在合肥市场发现假冒产品",
        config=cfg["zhejiang"],
    )
    assert rep["result"] == "reported" and rep["origin"] == "yrd/330000"
    # Reporting the same case id twice, or about an unknown record, is refused.
    again = brandex(
        "case",
        "report",
        "--case-id",
        "zj-case-2026-001",
        "--issuer",
        "310000",
        "--record",
        "nope",
        "--handling-region",
        "340000",
        "--infringer",
        "x",
        "--opened-on",
        "2026-03-02",
        config=cfg["zhejiang"],
        expect=1,
    )
    assert again.stderr.startswith("refused: ")

    zj_size = size(fed, "zhejiang")
    wait_until(lambda: size(fed, "anhui", "zhejiang") == zj_size, what="anhui syncs the case")
    for action, extra in [
        ("INSPECTION", ["--note", "现场检查"]),
        ("SEIZURE", ["--note", "查扣假冒产品1200件"]),
        ("PENALTY", ["--decision-no", "皖市监罚〔2026〕15号", "--fine-yuan", "50000"]),
    ]:
        brandex(
            "case",
            "act",
            "zj-case-2026-001",
            "--case-region",
            "330000",
            "--action",
            action,
            "--date",
            "2026-03-20",
            *extra,
            config=cfg["anhui"],
        )
    # Shanghai is neither handling nor reporting: refused.
    proc = brandex(
        "case",
        "act",
        "zj-case-2026-001",
        "--case-region",
        "330000",
        "--action",
        "INSPECTION",
        "--date",
        "2026-03-21",
        config=cfg["shanghai"],
        expect=1,
    )
    assert "only the handling region" in proc.stderr

    ah_size = size(fed, "anhui")
    for name in ("zhejiang", "shanghai"):
        wait_until(lambda n=name: size(fed, n, "anhui") == ah_size, what=f"{name} syncs anhui")
        cases = as_json("case", "list", "--brand", sh[0]["brand_name"], config=cfg[name])
        assert len(cases) == 1
        assert [a["action"] for a in cases[0]["actions"]] == ["INSPECTION", "SEIZURE", "PENALTY"]
        assert cases[0]["actions"][2]["fine_fen"] == 5000000
        assert cases[0]["case"]["goods_value_fen"] == 12800050
        rows = as_csv("case", "list", "--open", "--region", "340000", config=cfg[name])
        assert rows[0]["case"] == "330000/zj-case-2026-001" and "PENALTY" in rows[0]["actions"]
        assert rows[0]["brand"] == sh[0]["brand_name"]

    brandex(
        "case",
        "act",
        "zj-case-2026-001",
        "--case-region",
        "330000",
        "--action",
        "CLOSED",
        "--date",
        "2026-03-25",
        config=cfg["anhui"],
    )
    assert as_json("case", "list", "--open", config=cfg["anhui"]) == []

    # show: the record with its case and provenance, as Zhejiang holds it.
    shown = as_json("show", target, "--issuer", "310000", config=cfg["zhejiang"])
    assert shown["view"]["provenance"]["origin"] == "yrd/310000"
    assert shown["cases"][0]["case"]["case_id"] == "zj-case-2026-001"
    text = brandex("show", target, "--issuer", "310000", "--history", config=cfg["zhejiang"])
    assert "provenance     yrd/310000 #" in text.stdout and "zj-case-2026-001" in text.stdout

    # --peer: Zhejiang's staff ask Anhui's node directly, with the same certificate.
    peer = fed.address("anhui")
    local = as_json("search", sh[0]["brand_name"], config=cfg["zhejiang"])
    remote = as_json("search", sh[0]["brand_name"], "--peer", peer, config=cfg["zhejiang"])
    assert remote["node"] == peer and local["node"] == fed.address("zhejiang")

    def records(answer: dict) -> list:
        return [(r["issuer"], r["status_today"], r["record"]) for r in answer["records"]]

    assert records(remote) == records(local) and len(records(local)) == 1
    shown = as_json("show", target, "--issuer", "310000", "--peer", peer, config=cfg["zhejiang"])
    assert shown["view"]["record"]["record_id"] == target
    ans = as_json(
        "check",
        target,
        "--issuer",
        "310000",
        "--in",
        "310000",
        "--on",
        "2026-06-01",
        "--peer",
        peer,
        config=cfg["zhejiang"],
    )
    assert ans[0]["recognised"] is True and ans[0]["reason_code"] == "jurisdiction"
    # An unreachable peer is a transport error (exit 3), not an empty answer.
    fed.stop("anhui")
    proc = brandex("search", "x", "--peer", peer, config=cfg["zhejiang"], expect=3)
    assert "unreachable" in proc.stderr


# ---------------------------------------------------------------- recognition table

REGIONS4 = {"zhejiang": "330000", "anhui": "340000", "wenzhou": "330300"}
TOPO4 = {"zhejiang": ["anhui", "wenzhou"], "anhui": ["zhejiang"], "wenzhou": ["zhejiang"]}


def test_recognition_answer_table_through_a_real_node(federation_factory, tmp_path) -> None:
    fed = federation_factory(REGIONS4, TOPO4, sync_interval=2.0)
    fed.start_all()
    cfg = fed.configs
    zj = demo_records()["zhejiang"]
    span = {"recognised_on": "2024-01-10", "valid_from": "2024-01-10", "valid_until": "2030-12-31"}

    def rec(i: int, rid: str, **kw: str) -> dict:
        return {**zj[i], **span, "record_id": rid, "certificate_no": rid, **kw}

    records = [
        rec(0, "ZJ-A"),  # valid, covered kind
        rec(1, "ZJ-EXPIRED", valid_until="2025-01-09"),
        rec(2, "ZJ-SUSPENDED"),
        rec(3, "ZJ-REVOKED"),
        rec(4, "ZJ-QUALITY", kind="PROVINCIAL_QUALITY_AWARD"),  # kind not covered
    ]
    write_sheet(tmp_path / "zj.csv", [recognition(r) for r in records])
    brandex(
        "import", str(tmp_path / "zj.csv"), "--announcement", ANNOUNCEMENT, config=cfg["zhejiang"]
    )
    wz = {**demo_records()["wenzhou"][0], **span, "record_id": "WZ-C", "certificate_no": "WZ-C"}
    write_sheet(tmp_path / "wz.csv", [recognition(wz)])
    brandex("import", str(tmp_path / "wz.csv"), config=cfg["wenzhou"])

    status = ["--announcement", "浙市监〔2026〕2号"]
    brandex(
        "status",
        "suspend",
        "ZJ-SUSPENDED",
        "--reason",
        "SPOT_CHECK_FAILURE",
        "--effective",
        "2026-03-01",
        *status,
        config=cfg["zhejiang"],
    )
    brandex(
        "status",
        "reinstate",
        "ZJ-SUSPENDED",
        "--effective",
        "2026-06-01",
        *status,
        config=cfg["zhejiang"],
    )
    brandex(
        "status",
        "revoke",
        "ZJ-REVOKED",
        "--reason",
        "FRAUD_IN_APPLICATION",
        "--effective",
        "2026-05-01",
        *status,
        config=cfg["zhejiang"],
    )
    title = ["--title", "长三角地区名牌互认与联合保护协议", "--kinds", KIND]
    brandex(
        "agreement", "accede", "yrd-2006", *title, "--from", "2024-01-01", config=cfg["zhejiang"]
    )
    brandex("agreement", "accede", "yrd-2006", *title, "--from", "2025-01-01", config=cfg["anhui"])
    brandex(
        "agreement",
        "withdraw",
        "yrd-2006",
        "--effective",
        "2029-01-01",
        "--reason",
        "期满",
        config=cfg["anhui"],
    )

    # Anhui's node answers from its replicas of Zhejiang's and (relayed) Wenzhou's logs.
    want = {o: size(fed, n) for n, o in (("zhejiang", "330000"), ("wenzhou", "330300"))}
    wait_until(
        lambda: all(fed.sizes("anhui").get(f"yrd/{o}") == s for o, s in want.items()),
        what="anhui holds zhejiang's and wenzhou's logs",
    )
    agreements = as_json("agreement", "list", config=cfg["anhui"])
    assert {a["region"] for a in agreements[0]["accessions"]} == {"330000", "340000"}
    assert agreements[0]["withdrawals"][0]["effective_on"] == "2029-01-01"

    registry = fed.registry("anhui")

    def ask(issuer: str, rid: str, region: str, on: str) -> tuple[bool, str, str]:
        resp = registry.Check(
            services_pb2.CheckRequest(
                record=services_pb2.RecordRef(issuer=issuer, record_id=rid), region=region, on=on
            ),
            timeout=30,
        )
        (res,) = resp.results
        return res.recognised, res.reasons[0].code, res.reasons[0].text

    on = "2026-07-01"
    table = [
        # (issuer, record, asked in, on) -> (recognised, deciding reason, text fragment)
        (("330000", "ZJ-A", "330000", on), (True, "jurisdiction", "itself")),
        (("330000", "ZJ-A", "330300", on), (True, "jurisdiction", "温州市")),  # province in city
        (("330300", "WZ-C", "330000", on), (False, "issuer-not-party", "not a party")),
        (("330000", "ZJ-A", "340000", on), (True, "agreement", "yrd-2006")),
        (("330000", "ZJ-A", "340100", on), (True, "agreement", "合肥市")),  # partner's city
        (
            ("330000", "ZJ-A", "340000", "2024-06-01"),
            (False, "agreement-not-in-force", "accedes only from 2025-01-01"),
        ),
        (
            ("330000", "ZJ-A", "340000", "2029-06-01"),
            (False, "agreement-not-in-force", "withdrew on 2029-01-01"),
        ),
        (("330000", "ZJ-EXPIRED", "330000", on), (False, "expired", "2025-01-09")),
        (("330000", "ZJ-SUSPENDED", "340000", "2026-04-01"), (False, "suspended", "2026-03-01")),
        (("330000", "ZJ-SUSPENDED", "340000", on), (True, "agreement", "yrd-2006")),
        (("330000", "ZJ-REVOKED", "330000", on), (False, "revoked", "2026-05-01")),
        (("330000", "ZJ-QUALITY", "340000", on), (False, "kind-not-covered", "covers")),
        (("330000", "ZJ-QUALITY", "330000", on), (True, "jurisdiction", "itself")),
    ]
    for question, (yes, code, fragment) in table:
        got = ask(*question)
        assert got[:2] == (yes, code), (question, got)
        assert fragment in got[2], (question, got)

    # The same questions through `brandex check`: exit 0/1, JSON parsed back.
    a = cfg["anhui"]
    ans = as_json("check", "ZJ-A", "--issuer", "330000", "--in", "340100", "--on", on, config=a)
    assert ans[0]["answer"] == "recognised" and ans[0]["reason_code"] == "agreement"
    ans = as_json(
        "check",
        "ZJ-REVOKED",
        "--issuer",
        "330000",
        "--in",
        "340000",
        "--on",
        on,
        config=a,
        expect=1,
    )
    assert ans[0]["answer"] == "not recognised" and ans[0]["reason_code"] == "revoked"
    text = brandex(
        "check", "--uscc", zj[0]["enterprise_uscc"], "--in", "340000", "--on", on, config=a
    ).stdout
    assert text.startswith("recognised: 330000/ZJ-A") and "- agreement: " in text
    proc = brandex("check", "--brand", "不存在的品牌", "--in", "340000", config=a, expect=1)
    assert proc.stdout.startswith("not recognised: ")
    # Search shows, per hit, the status today and where it is recognised.
    hits = as_csv("search", zj[0]["brand_name"], "--issuer", "330000", "--on", on, config=a)
    hit = next(h for h in hits if h["record_id"] == "ZJ-A")
    assert hit["status_today"] == "valid" and hit["recognised_in"] == "330000 340000"
