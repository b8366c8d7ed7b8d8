"""Reading and writing the spreadsheets agencies keep: CSV and XLSX, Chinese or English headers.

An agency's yearly list of recognitions is a spreadsheet: a header row, then one
row per recognition. This module reads such a file as text cells within limits
(:func:`read_sheet`: encodings, formula-injection quotes, sizes), knows the
columns (:data:`COLUMNS`, documented in ``docs/agencies.md``) and writes
records back in the same shape (:func:`record_row`, :func:`write_sheet`). What
the rows mean, and every problem with them, is :mod:`exchange.import_plan`'s.
It does no network I/O; the CLI (``brandex import`` / ``brandex export``) drives it.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from exchange._proto.brandex.v1 import entries_pb2
from exchange.core.errors import FormatError
from exchange.core.vocabulary import Kind, Sector
from exchange.i18n.terms import KIND_ZH, SECTOR_ZH

__all__ = [
    "COLUMNS",
    "IGNORED_HEADERS",
    "KIND_ZH",
    "SECTOR_ZH",
    "Column",
    "RowError",
    "Sheet",
    "map_headers",
    "read_sheet",
    "record_row",
    "write_sheet",
]


# ----------------------------------------------------------------------- columns


@dataclass(frozen=True)
class Column:
    """One known column: the Recognition field it fills and the headers that name it.

    ``name`` is the English header (also what ``--headers en`` writes); ``zh``
    the Chinese header written by ``--headers zh``; ``aliases`` other spellings
    accepted on import.
    """

    name: str
    zh: str
    field: str
    aliases: tuple[str, ...] = ()
    required: bool = False

    @property
    def label(self) -> str:
        return f"{self.zh}/{self.name}"


#: Every column the importer understands, in the order the exporter writes them.
COLUMNS: tuple[Column, ...] = (
    Column("record_id", "记录编号", "record_id", ("记录号", "record")),
    Column("kind", "认定类型", "kind", ("类型", "认定类别", "称号", "荣誉类型")),
    Column("sector", "类别", "sector", ("行业类别", "产业类别", "所属类别")),
    Column(
        "brand_name",
        "品牌名称",
        "brand_name",
        ("品牌", "商标", "商标名称", "品牌（商标）", "品牌(商标)", "brand"),
        required=True,
    ),
    Column("brand_name_latin", "英文名称", "brand_name_latin", ("拼音", "英文品牌", "latin")),
    Column("product", "产品", "product", ("产品名称", "名牌产品")),
    Column(
        "nice_classes", "尼斯分类", "nice_classes", ("商标类别", "核定类别", "nice", "nice_class")
    ),
    Column("industry_code", "行业代码", "industry_code", ("国民经济行业代码", "industry")),
    Column(
        "enterprise_name",
        "企业名称",
        "enterprise_name",
        ("企业", "申报企业", "单位名称", "企业（单位）名称", "enterprise"),
        required=True,
    ),
    Column(
        "uscc",
        "统一社会信用代码",
        "enterprise_uscc",
        ("社会信用代码", "信用代码", "enterprise_uscc"),
        required=True,
    ),
    Column(
        "enterprise_region",
        "企业所在地",
        "enterprise_region",
        ("所在地区代码", "行政区划代码", "地区代码", "region"),
    ),
    Column(
        "certificate_no",
        "证书编号",
        "certificate_no",
        ("证书号", "证书号码", "certificate"),
        required=True,
    ),
    Column("announcement_no", "公告文号", "announcement_no", ("公告编号", "文号", "announcement")),
    Column(
        "recognised_on",
        "认定日期",
        "recognised_on",
        ("认定时间", "recognized_on", "recognition_date"),
    ),
    Column("valid_from", "有效期起", "valid_from", ("有效期自", "有效期开始", "起始日期")),
    Column(
        "valid_until",
        "有效期至",
        "valid_until",
        ("有效期止", "有效期截止", "截止日期", "到期日", "valid_to", "expires"),
    ),
)

BY_FIELD: dict[str, Column] = {c.field: c for c in COLUMNS}

#: Columns that carry no field and are skipped without a warning: row numbers,
#: remarks, and what ``export`` and the rejects file add.
IGNORED_HEADERS: frozenset[str] = frozenset(
    {
        "序号",
        "no",
        "no.",
        "#",
        "备注",
        "note",
        "notes",
        "remarks",
        "状态",
        "status",
        "issuer",
        "认定机关",
        "发证机关",
        "行号",
        "row",
        "错误",
        "error",
    }
)


def _norm_header(h: str) -> str:
    h = unicodedata.normalize("NFKC", h).strip().lower().lstrip("*").rstrip("*").strip()
    return re.sub(r"[\s\-]+", "_", h)


_HEADER_INDEX: dict[str, Column] = {}
for _c in COLUMNS:
    for _h in (_c.name, _c.zh, _c.field, *_c.aliases):
        _HEADER_INDEX[_norm_header(_h)] = _c
_IGNORED = frozenset(_norm_header(h) for h in IGNORED_HEADERS)


# ------------------------------------------------------------------------ errors


@dataclass(frozen=True)
class RowError:
    """One problem at row ``row`` (as the spreadsheet numbers it; 0: the file) and ``column``."""

    row: int
    column: str
    field: str
    rule: str
    value: object = None

    def __str__(self) -> str:
        got = "" if self.value in (None, "") else f" (got {self.value!r})"
        where = f"row {self.row}, column {self.column}" if self.row else f"column {self.column}"
        return f"{where}: {self.rule}{got}"

    def as_dict(self) -> dict:
        value = self.value if isinstance(self.value, str | int | type(None)) else str(self.value)
        return {
            "row": self.row,
            "column": self.column,
            "field": self.field,
            "rule": self.rule,
            "value": value,
        }


# ------------------------------------------------------------------------ reading


@dataclass
class Sheet:
    """A spreadsheet's header row and data rows, every cell as text."""

    path: Path
    format: str  # "csv" or "xlsx"
    encoding: str  # the CSV encoding used ("" for XLSX)
    headers: list[str]
    header_row: int
    rows: list[tuple[int, list[str]]]  # (row number as the spreadsheet shows it, cells)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _decode(data: bytes, encoding: str | None) -> tuple[str, str]:
    if encoding:
        try:
            return data.decode(encoding), encoding
        except LookupError:
            raise FormatError(f"unknown encoding {encoding!r}") from None
        except UnicodeDecodeError as exc:
            raise FormatError(
                f"the file is not valid {encoding} (byte {exc.start}): {exc.reason}"
            ) from None
        except UnicodeError as exc:  # codecs such as punycode raise the base class
            raise FormatError(f"the file is not valid {encoding}: {exc}") from None
    try:
        text = data.decode("utf-8-sig")
        return text, "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise FormatError(
            f"the file is neither UTF-8 nor GB18030 (byte {exc.start}); give --encoding"
        ) from None


# ------------------------------------------------------------------------ formula injection

# A cell starting with one of these is a formula to Excel, LibreOffice and Google
# Sheets when a CSV file is opened (OWASP "CSV injection"): =HYPERLINK(...) in a
# brand name would become a live link or worse on an agency's desktop.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_QUOTED = re.compile(r"'*[=+\-@\t\r]")


def neutralise(text: str) -> str:
    """A CSV cell that no spreadsheet program evaluates: a quote before a formula trigger.

    The quote is added to every cell that starts with any run of quotes and then
    a trigger (= + - @, tab, CR), so :func:`unneutralise` can take exactly that one quote away
    again and every value round-trips, including ones that start with a quote.
    """
    return "'" + text if _QUOTED.match(text) else text


def unneutralise(text: str) -> str:
    """Inverse of :func:`neutralise`: drop the one quote it added (``'=x`` -> ``=x``)."""
    return text[1:] if text.startswith("'") and _QUOTED.match(text, 1) else text


def _blank(cells: Sequence[str]) -> bool:
    return all(c == "" for c in cells)


# ------------------------------------------------------------------------ limits

_MB = 1024 * 1024
#: Columns read from an XLSX row; cells further right are not read (the known
#: columns are fewer than 30, and a sheet claiming 16,384 columns must not make
#: every row 16,384 cells wide).
MAX_COLUMNS = 256


@dataclass(frozen=True)
class Limits:
    """What :func:`read_sheet` accepts; each error names the ``brandex import`` flag raising it.

    A yearly list is a few thousand rows; the defaults leave a wide margin and
    keep a hostile file (a zip bomb, a 600 MB worksheet) from costing minutes
    of CPU and gigabytes of memory.
    """

    max_file_mb: float = 20  # the file on disk
    max_uncompressed_mb: float = 200  # XLSX: all members of the zip, as its directory declares
    max_rows: int = 100_000  # rows after the header row, blank ones included
    max_cell_chars: int = 2_000  # characters in one cell

    def check_file(self, path: Path) -> None:
        size = path.stat().st_size
        if size > self.max_file_mb * _MB:
            raise FormatError(
                f"{path.name} is {size / _MB:.1f} MB; the limit is {self.max_file_mb:g} MB"
                " (raise it with --max-file-mb)"
            )

    def check_zip(self, path: Path) -> None:
        """Refuse an XLSX whose zip directory declares too much data, before parsing any of it.

        The directory is what :mod:`zipfile` trusts: it never inflates a member
        beyond the size the directory declares (the CRC check then fails), so a
        member whose local header or deflate stream lies cannot exceed this total.
        """
        import zipfile

        try:
            with zipfile.ZipFile(path) as zf:
                infos = zf.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise FormatError(f"{path.name}: not a readable XLSX file: {exc}") from None
        total = sum(i.file_size for i in infos)
        if total > self.max_uncompressed_mb * _MB:
            raise FormatError(
                f"{path.name} unpacks to {total / _MB:.0f} MB; the limit is"
                f" {self.max_uncompressed_mb:g} MB (raise it with --max-uncompressed-mb)"
            )

    def rows(self, path: Path, numbered: Iterable[tuple[int, list]]) -> Iterator[tuple[int, list]]:
        """Pass rows through, stopping at the row limit and at the first oversized cell."""
        header_row = 0
        for n, cells in numbered:
            if header_row and n - header_row > self.max_rows:
                raise FormatError(
                    f"{path.name} has more than {self.max_rows} rows after the header (blank"
                    " rows count); raise the limit with --max-rows"
                )
            if not header_row:
                if n > self.max_rows:
                    raise FormatError(
                        f"{path.name} has no header row in its first {self.max_rows} rows"
                        " (raise the limit with --max-rows)"
                    )
                if not _blank(cells):
                    header_row = n
            for i, c in enumerate(cells):
                if len(c) > self.max_cell_chars:
                    raise FormatError(
                        f"{path.name}: row {n}, column {i + 1}: a cell of {len(c)} characters;"
                        f" the limit is {self.max_cell_chars} (raise it with --max-cell-chars)"
                    )
            yield n, cells


def _split_rows(numbered: Iterable[tuple[int, list[str]]], path: Path, fmt: str, enc: str) -> Sheet:
    headers: list[str] | None = None
    header_row = 0
    rows: list[tuple[int, list[str]]] = []
    for n, cells in numbered:
        if _blank(cells):
            continue
        if headers is None:
            headers, header_row = cells, n
            continue
        rows.append((n, cells))
    if headers is None:
        raise FormatError(f"{path.name} has no header row")
    # Trailing empty header cells (a common XLSX artefact) are dropped.
    while headers and headers[-1] == "":
        headers.pop()
    return Sheet(path, fmt, enc, headers, header_row, rows)


def read_sheet(
    path: Path,
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    limits: Limits = Limits(),
) -> Sheet:
    """Read a ``.csv`` or ``.xlsx`` file into a :class:`Sheet`.

    CSV is decoded with ``encoding`` if given, else as UTF-8 (with or without a
    byte-order mark), else as GB18030. Empty rows are skipped; row numbers stay
    those the spreadsheet shows (the header is usually row 1). CSV cells that
    :func:`write_sheet` quoted against formula injection are unquoted.

    ``limits`` bounds the file size, an XLSX file's unpacked size (checked in the
    zip directory before anything is parsed), the rows and the cell length.

    Raises:
        FormatError: unknown extension, undecodable or unreadable file, a limit exceeded.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in (".csv", ".xlsx", ".xlsm"):
        raise FormatError(f"{path.name}: give a .csv or .xlsx file (not {ext or 'no extension'})")
    limits.check_file(path)
    if ext == ".csv":
        text, used = _decode(path.read_bytes(), encoding)
        first = text.split("\n", 1)[0]
        delimiter = "\t" if "\t" in first and "," not in first else ","
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        try:
            numbered = [
                (n, [unicodedata.normalize("NFC", unneutralise(c)).strip() for c in cells])
                for n, cells in limits.rows(path, enumerate(reader, start=1))
            ]
        except csv.Error as exc:
            raise FormatError(f"{path.name}: not a readable CSV file: {exc}") from None
        return _split_rows(numbered, path, "csv", used)
    import openpyxl

    limits.check_zip(path)
    # A damaged file makes openpyxl (and zipfile, zlib, ElementTree under it)
    # raise almost anything: BadZipFile, zlib.error, EOFError, ParseError,
    # NotImplementedError, TypeError, ValueError... Only the library's reading
    # is guarded this broadly; the cells are converted outside the guard.
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise FormatError(f"{path.name}: not a readable XLSX file: {exc}") from None
    try:
        if sheet is not None:
            if sheet not in wb.sheetnames:
                raise FormatError(
                    f"{path.name} has no sheet {sheet!r} (sheets: {', '.join(wb.sheetnames)})"
                )
            ws = wb[sheet]
        elif not wb.worksheets:
            raise FormatError(f"{path.name} has no worksheet")
        else:
            ws = wb.worksheets[0]
        numbered: list[tuple[int, list[str]]] = []
        try:
            # At most MAX_COLUMNS per row, also for a sheet without a <dimension>
            # (openpyxl pads each row to that width; _xlsx_rows trims the padding).
            width = min(ws.max_column or MAX_COLUMNS, MAX_COLUMNS)
            values = ws.iter_rows(values_only=True, max_col=width)
            for n, cells in limits.rows(path, _xlsx_rows(values)):
                numbered.append((n, cells))
        except FormatError:
            raise
        except Exception as exc:
            raise FormatError(f"{path.name}: not a readable XLSX file: {exc}") from None
    finally:
        wb.close()
    return _split_rows(numbered, path, "xlsx", "")


def _xlsx_rows(values: Iterable[tuple]) -> Iterator[tuple[int, list[str]]]:
    for n, row in enumerate(values, start=1):
        end = len(row)
        while end and row[end - 1] is None:  # trailing empty cells: nothing to convert
            end -= 1
        yield n, [_cell(v) for v in row[:end]]


def map_headers(headers: Sequence[str]) -> tuple[dict[int, Column], list[str], list[RowError]]:
    mapping: dict[int, Column] = {}
    ignored: list[str] = []
    errors: list[RowError] = []
    seen: dict[str, str] = {}
    for i, h in enumerate(headers):
        key = _norm_header(h)
        col = _HEADER_INDEX.get(key)
        if col is None:
            if key and key not in _IGNORED:
                ignored.append(h)
            continue
        if col.field in seen:
            errors.append(
                RowError(0, h, col.field, f"names the same field as column {seen[col.field]}", None)
            )
            continue
        seen[col.field] = h
        mapping[i] = col
    for col in COLUMNS:
        if col.required and col.field not in seen:
            errors.append(RowError(0, col.label, col.field, "is missing from the header row"))
    return mapping, ignored, errors


# ------------------------------------------------------------------------ writing


def record_row(
    rec: entries_pb2.Recognition | Mapping[str, Any], *, headers: str = "zh", status: str = ""
) -> dict:
    """A record as a spreadsheet row (header -> text), in :data:`COLUMNS` order.

    ``rec`` is a message or its JSON mapping by field name (enumerations by name),
    as the client library hands records over.
    """
    zh = headers == "zh"
    out: dict[str, str] = {}
    for col in COLUMNS:
        value = rec[col.field] if isinstance(rec, Mapping) else getattr(rec, col.field)
        if col.field == "kind":
            k = Kind[value] if isinstance(value, str) else Kind(value)
            text = KIND_ZH.get(k, k.name) if zh else k.name
        elif col.field == "sector":
            s = Sector[value] if isinstance(value, str) else Sector(value)
            text = SECTOR_ZH.get(s, s.name) if zh else s.name
        elif col.field == "nice_classes":
            text = ",".join(str(c) for c in value)
        else:
            text = str(value)
        out[col.zh if zh else col.name] = text
    if status:
        out["状态" if zh else "status"] = status
    return out


def write_sheet(
    path: Path,
    rows: Sequence[Mapping[str, str]],
    *,
    encoding: str = "utf-8-sig",
    headers: Sequence[str] | None = None,
) -> None:
    """Write rows (header -> text) as CSV or XLSX, by ``path``'s extension.

    XLSX cells are written as text, so codes keep their leading zeros and an
    18-digit credit code is never turned into a number, and a value starting
    with ``=`` is a text cell, never a formula (shown with Excel's quote prefix).
    CSV cells that a spreadsheet program would read as a formula get a leading
    quote (:func:`neutralise`), which :func:`read_sheet` removes again.
    """
    path = Path(path)
    names = list(headers) if headers is not None else (list(rows[0]) if rows else [])
    ext = path.suffix.lower()
    if ext == ".csv":
        with open(path, "w", encoding=encoding, newline="") as f:
            w = csv.DictWriter(f, fieldnames=names, extrasaction="ignore")
            w.writerow({h: neutralise(h) for h in names})
            for r in rows:
                w.writerow({h: neutralise(str(r.get(h, ""))) for h in names})
    elif ext == ".xlsx":
        import openpyxl

        wb = openpyxl.Workbook(write_only=True)
        ws = wb.create_sheet("records")
        ws.append([_text_cell(ws, h) for h in names])
        for r in rows:
            ws.append([_text_cell(ws, str(r.get(h, ""))) for h in names])
        wb.save(path)
    else:
        raise FormatError(f"{path.name}: give a .csv or .xlsx file name (not {ext or 'none'})")


def _text_cell(ws, text: str):
    """An XLSX cell holding ``text`` as a string, even when it starts with ``=``."""
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(ws, value=text)
    # openpyxl makes any string starting with "=" a formula; force a string cell.
    cell.data_type = "s"
    if _QUOTED.match(text):
        cell.quotePrefix = True  # Excel keeps it text when someone edits the cell
    return cell
