"""Fuzz the spreadsheets agencies import (``brandex import``): CSV, XLSX and their rows.

``read_sheet`` raises only ``FormatError`` (damaged bytes, zip or XML, unknown
encodings); ``plan_import`` never raises: every problem with a row is a
``RowError`` in the plan, and every row it calls valid passes the node's own
``recognition_errors``.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime

import openpyxl
import pytest
from brandex_fuzz import TOKENS, count, fuzz, mutated_bytes, mutated_text, raw_bytes, world
from hypothesis import given
from hypothesis import strategies as st

from exchange.core.errors import FormatError
from exchange.core.records import recognition_errors
from exchange.import_plan import (
    Defaults,
    derive_record_id,
    normalise_date,
    parse_kind,
    parse_sector,
    plan_import,
)
from exchange.spreadsheet import COLUMNS, RowError, Sheet, read_sheet, record_row

# --encoding unicode_escape warns about the escapes it finds in a mutated file, and
# openpyxl about damaged relationship parts.
pytestmark = [
    pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning:openpyxl"),
]

W = world()
ISSUER = "330000"
DIR = W.root / "sheet-fuzz"
DIR.mkdir(exist_ok=True)

REC = W.recognition()
ZH_ROW = record_row(REC, headers="zh")
EN_ROW = record_row(REC, headers="en")
# The spellings agencies really use, which the importer normalises.
LOOSE_ROW = dict(
    ZH_ROW,
    **{
        "认定日期": "2024年1月15日",
        "有效期起": "2024/1/15",
        "有效期至": "20261231",
        "尼斯分类": "第25类、第35类",
        "认定类型": "省名牌产品",
        "类别": "农业类",
    },
)
NO_EXPIRY_ROW = dict(
    EN_ROW, kind="CHINA_TIME_HONOURED_BRAND", valid_until="长期", record_id="", product=""
)


def _csv(rows: list[dict], *, delimiter: str = ",") -> str:
    out = io.StringIO()
    names = list(rows[0])
    w = csv.DictWriter(out, fieldnames=names, delimiter=delimiter, lineterminator="\r\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return out.getvalue()


CSV_TEXTS = [
    _csv([ZH_ROW, LOOSE_ROW]),
    _csv([EN_ROW, NO_EXPIRY_ROW]),
    _csv([{"序号": "1", **ZH_ROW}], delimiter="\t"),
]
CSV_BYTES = [t.encode("utf-8-sig") for t in CSV_TEXTS] + [CSV_TEXTS[0].encode("gb18030")]


def _xlsx(rows: list[list[object]]) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


XLSX_BYTES = [
    _xlsx([list(ZH_ROW), list(ZH_ROW.values())]),
    _xlsx(
        [
            list(EN_ROW),
            [
                *list(EN_ROW.values())[:13],
                datetime(2024, 1, 15),
                date(2024, 1, 15),
                45000.0,
            ],
        ]
    ),
]


def _plan(sheet: Sheet) -> None:
    loose = Defaults(kind="省名牌产品", sector="工业", recognised_on="2024-1-5")
    for defaults in (Defaults(), loose):
        plan = plan_import(sheet, issuer=ISSUER, defaults=defaults)
        assert all(isinstance(e, RowError) for e in plan.errors)
        for e in plan.errors:
            str(e)
            e.as_dict()
        for row in plan.valid:
            assert row.record is not None
            assert recognition_errors(row.record, issuer=ISSUER) == []


def _read(data: bytes, suffix: str, **kw) -> None:
    path = DIR / f"sheet{suffix}"
    path.write_bytes(data)
    try:
        sheet = read_sheet(path, **kw)
    except FormatError:
        return
    _plan(sheet)


@fuzz(weight=1.0)
@given(
    st.one_of(mutated_bytes(CSV_BYTES), mutated_text(CSV_TEXTS).map(str.encode), raw_bytes()),
    st.sampled_from(
        [
            *(None, None, "utf-8", "gb18030", "latin-1", "utf-16", "utf-7", "punycode", "idna"),
            *("unicode_escape", "undefined", "rot13", "hex", "no-such-codec"),
        ]
    ),
)
def test_read_csv(data: bytes, encoding: str | None) -> None:
    count("spreadsheet.read_sheet(csv)+plan_import")
    _read(data, ".csv", encoding=encoding)


@fuzz(weight=0.1)
@given(st.one_of(mutated_bytes(XLSX_BYTES, max_ops=2), raw_bytes()))
def test_read_xlsx_damaged(data: bytes) -> None:
    count("spreadsheet.read_sheet(xlsx, damaged zip)")
    _read(data, ".xlsx")


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in members.items():
            z.writestr(name, body)
    return out.getvalue()


XLSX_PARTS = [_members(x) for x in XLSX_BYTES]
_PART_NAMES = sorted(XLSX_PARTS[0])


@st.composite
def damaged_parts(draw) -> bytes:
    """A well-formed zip whose XML parts are damaged: the XML and cell parsers see it."""
    members = dict(draw(st.sampled_from(XLSX_PARTS)))
    for _ in range(draw(st.integers(1, 2))):
        name = draw(st.sampled_from(_PART_NAMES))
        text = members[name].decode("utf-8")
        members[name] = draw(mutated_text([text], max_ops=3)).encode("utf-8")
    if draw(st.integers(0, 9)) == 0:
        members.pop(draw(st.sampled_from(_PART_NAMES)))
    return _zip(members)


@fuzz(weight=0.1)
@given(damaged_parts())
def test_read_xlsx_damaged_xml(data: bytes) -> None:
    count("spreadsheet.read_sheet(xlsx, damaged XML)+plan_import")
    _read(data, ".xlsx")


_cell_values = st.one_of(
    st.none(),
    st.text(max_size=20),
    st.sampled_from(TOKENS),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9999, 1, 1)),
    st.dates(min_value=date(1900, 1, 1)),
    st.times(),
    st.sampled_from(list(ZH_ROW.values()) + list(LOOSE_ROW.values())),
)


def _xml_safe(value: object) -> bool:
    # openpyxl refuses to *write* control characters; a file cannot hold them.
    return not (isinstance(value, str) and any(ord(c) < 32 and c not in "\t\n\r" for c in value))


@fuzz(weight=0.05)
@given(
    st.lists(
        st.lists(_cell_values.filter(_xml_safe), max_size=len(COLUMNS) + 2), min_size=1, max_size=4
    ),
    st.sampled_from([list(ZH_ROW), list(EN_ROW), list(LOOSE_ROW)]),
)
def test_read_xlsx_typed_cells(rows: list[list[object]], headers: list[str]) -> None:
    """Real XLSX files whose cells hold numbers, dates, times, booleans and text."""
    count("spreadsheet.read_sheet(xlsx, typed cells)+plan_import")
    try:
        data = _xlsx([headers, *rows])
    except (ValueError, TypeError):
        return  # openpyxl cannot write it (e.g. a number Excel has no type for)
    _read(data, ".xlsx")


# -------------------------------------------------------------- rows, directly

_HEADERS = [h for c in COLUMNS for h in (c.name, c.zh, c.field, *c.aliases)]
_header = st.one_of(
    st.sampled_from(_HEADERS),
    mutated_text(_HEADERS, max_ops=2),
    st.sampled_from(["", "序号", "备注", "status", "*品牌名称*", " 品牌 名称 "]),
)
_cell = st.one_of(
    st.sampled_from(list(ZH_ROW.values()) + list(LOOSE_ROW.values())),
    mutated_text(list(ZH_ROW.values()) + list(LOOSE_ROW.values()), max_ops=3),
    st.text(max_size=30),
    st.sampled_from(TOKENS),
)


@st.composite
def sheets(draw) -> Sheet:
    if draw(st.booleans()):
        headers = list(draw(st.sampled_from([list(ZH_ROW), list(EN_ROW), list(LOOSE_ROW)])))
        for _ in range(draw(st.integers(0, 2))):
            headers[draw(st.integers(0, len(headers) - 1))] = draw(_header)
    else:
        headers = draw(st.lists(_header, max_size=len(COLUMNS) + 2))
    base = list(draw(st.sampled_from([ZH_ROW, LOOSE_ROW])).values())
    rows = []
    for n in range(draw(st.integers(0, 4))):
        cells = list(base)
        for _ in range(draw(st.integers(0, 4))):
            if cells:
                cells[draw(st.integers(0, len(cells) - 1))] = draw(_cell)
        cells = cells[: draw(st.integers(0, len(cells) + 2))]
        rows.append((n + 2, cells))
    return Sheet(DIR / "x.csv", "csv", "utf-8", headers, 1, rows)


@fuzz(weight=1.0)
@given(sheets())
def test_plan_import_rows(sheet: Sheet) -> None:
    count("spreadsheet.plan_import(rows)")
    _plan(sheet)


@fuzz(weight=1.0)
@given(st.one_of(_cell, st.text(alphabet="0123456789-/.年月日 ：:T０１２３²", max_size=24)))
def test_cell_parsers(text: str) -> None:
    count("spreadsheet cell parsers")
    d = normalise_date(text)
    assert isinstance(d, str)
    assert parse_kind(text) is None or parse_kind(text) > 0
    assert parse_sector(text) is None or parse_sector(text) > 0
    rid = derive_record_id(text)
    assert rid and rid.isascii()
