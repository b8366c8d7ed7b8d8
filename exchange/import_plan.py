"""From a spreadsheet's rows to the Recognitions an import issues: the import plan.

:func:`plan_import` maps the header row onto :data:`exchange.spreadsheet.COLUMNS`,
reads each cell's value in the forms agencies write (dates as 2026/1/5 or
2026年1月5日, kinds and sectors by English or Chinese name, Nice classes as
第25类、第35类), derives what a row leaves out (a record id from the
certificate number, a region from the credit code) and validates every row
with :func:`exchange.core.records.recognition_errors`, the same rules the node
applies before signing. Each problem names its row and column; the invalid rows
can be written back (:func:`write_rejects`), corrected and imported again.

The value parsers are the importer's: every date option of the CLI and the
console takes the forms :func:`normalise_date` accepts.
"""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from exchange._proto.brandex.v1 import entries_pb2
from exchange.core import regions
from exchange.core.records import recognition_errors
from exchange.core.uscc import is_valid_uscc, uscc_region
from exchange.core.vocabulary import Kind, Sector
from exchange.i18n.terms import KIND_ZH, SECTOR_ZH
from exchange.spreadsheet import BY_FIELD, Column, RowError, Sheet, map_headers, neutralise

__all__ = [
    "Defaults",
    "ImportPlan",
    "ImportRow",
    "derive_record_id",
    "normalise_date",
    "parse_kind",
    "parse_sector",
    "plan_import",
    "write_rejects",
]

_SECTOR_EXTRA = {"服务": Sector.SERVICE, "文化": Sector.TRADITIONAL_CULTURAL}

#: Values of 有效期至 that mean "no expiry".
_NO_EXPIRY = frozenset({"长期", "永久", "长期有效", "无", "-", "—", "/"})

# ------------------------------------------------------------------------ values


def _code(text: str) -> str:
    """Code-like cells: full-width forms folded, inner spaces removed."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


_YMD = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?", re.ASCII)


def normalise_date(text: str) -> str:
    """Spell a Y-M-D date as ``YYYY-MM-DD`` (2026/1/5, 2026.01.05, 2026年1月5日, 20260105).

    Anything else is returned unchanged for the validator to reject.
    """
    t = unicodedata.normalize("NFKC", text).strip()
    t = re.sub(r"[ T]00:00(:00(\.0+)?)?$", "", t)
    m = _YMD.fullmatch(t)
    if m:
        y, mo, d = m.groups()
        return f"{y}-{int(mo):02d}-{int(d):02d}"
    if re.fullmatch(r"\d{8}", t, re.ASCII):
        return f"{t[:4]}-{t[4:6]}-{t[6:]}"
    return t


def _enum_key(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", unicodedata.normalize("NFKC", text).strip()).upper()


def parse_kind(text: str) -> Kind | None:
    """``PROVINCIAL_FAMOUS_BRAND_PRODUCT``, ``provincial-famous-brand-product`` or 省名牌产品."""
    key = _enum_key(text)
    if key in Kind.__members__ and key != "RECOGNITION_KIND_UNSPECIFIED":
        return Kind[key]
    for kind, zh in KIND_ZH.items():
        if text.strip() == zh:
            return kind
    return None


def parse_sector(text: str) -> Sector | None:
    """``INDUSTRIAL``, ``industrial``, 工业 or 工业类."""
    key = _enum_key(text)
    if key in Sector.__members__ and key != "SECTOR_UNSPECIFIED":
        return Sector[key]
    t = text.strip().removesuffix("类")
    for sector, zh in SECTOR_ZH.items():
        if t == zh:
            return sector
    return _SECTOR_EXTRA.get(t)


def _nice(text: str) -> list[int] | None:
    """``25``, ``25,35``, ``第25类、第35类``, ``25;35``; None if any part is not a number."""
    t = unicodedata.normalize("NFKC", text)
    parts = [p for p in re.split(r"[,;、\s/]+", t) if p]
    out = []
    for p in parts:
        m = re.fullmatch(r"第?(\d{1,6})类?", p, re.ASCII)
        if not m:
            return None
        out.append(int(m.group(1)))
    return out


_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)


def derive_record_id(certificate_no: str) -> str:
    """The record id of a row without 记录编号: the certificate number if it is a valid id.

    Otherwise its ASCII letters and digits joined by ``-``, plus the first 8 hex
    digits of SHA-256 of the certificate number, so the id is stable (a
    re-import finds the same record) and distinct certificates stay distinct:
    ``浙名牌〔2026〕001`` gives ``2026-001-<8 hex>``.
    """
    if _ID_RE.fullmatch(certificate_no):
        return certificate_no
    digest = hashlib.sha256(certificate_no.encode("utf-8")).hexdigest()[:8]
    slug = re.sub(r"[^A-Za-z0-9]+", "-", unicodedata.normalize("NFKC", certificate_no))
    slug = slug.strip("-")[:48].strip("-")
    return f"{slug}-{digest}" if slug else f"cert-{digest}"


# ------------------------------------------------------------------------ planning


@dataclass(frozen=True)
class Defaults:
    """Values for the whole file, from command-line options; a column, when present, wins."""

    kind: str = ""
    sector: str = ""
    announcement_no: str = ""
    recognised_on: str = ""


_OPTION = {
    "kind": "--kind",
    "sector": "--sector",
    "announcement_no": "--announcement",
    "recognised_on": "--recognised-on",
}


@dataclass
class ImportRow:
    """One data row: its cells, the record built from them, and what is wrong with it."""

    row: int
    cells: dict[str, str]  # header as in the file -> cell text
    record: entries_pb2.Recognition | None
    errors: list[RowError] = field(default_factory=list)


@dataclass
class ImportPlan:
    """The outcome of reading and validating a file, before anything is sent."""

    sheet: Sheet
    mapping: dict[int, Column]  # column position -> column
    ignored: list[str]  # headers not understood (skipped with a warning)
    file_errors: list[RowError]
    rows: list[ImportRow]

    @property
    def valid(self) -> list[ImportRow]:
        return [r for r in self.rows if not r.errors]

    @property
    def invalid(self) -> list[ImportRow]:
        return [r for r in self.rows if r.errors]

    @property
    def errors(self) -> list[RowError]:
        return [*self.file_errors, *(e for r in self.rows for e in r.errors)]


def plan_import(sheet: Sheet, *, issuer: str, defaults: Defaults = Defaults()) -> ImportPlan:
    """Map headers, build a Recognition per row and collect every problem.

    Args:
        sheet: the file as read by :func:`read_sheet`.
        issuer: the importing node's region (the records' issuer).
        defaults: values for columns the file does not have (or leaves empty).

    Returns:
        The plan. ``plan.errors`` is empty iff every row may be issued.
    """
    mapping, ignored, file_errors = map_headers(sheet.headers)
    plan = ImportPlan(sheet, mapping, ignored, file_errors, [])
    if file_errors:
        return plan
    header_of = {col.field: sheet.headers[i] for i, col in mapping.items()}
    first_cert: dict[str, int] = {}
    first_id: dict[str, int] = {}
    for n, cells in sheet.rows:
        by_header = {
            h: (cells[i] if i < len(cells) else "") for i, h in enumerate(sheet.headers) if h
        }
        values = {col.field: (cells[i] if i < len(cells) else "") for i, col in mapping.items()}
        row = _plan_row(n, values, by_header, header_of, issuer, defaults)
        if row.record is not None:
            cert, rid = row.record.certificate_no, row.record.record_id
            if cert and cert in first_cert:
                row.errors.append(
                    RowError(
                        n,
                        _column(header_of, "certificate_no"),
                        "certificate_no",
                        f"certificate number repeats row {first_cert[cert]}",
                        cert,
                    )
                )
            elif rid and rid in first_id:
                row.errors.append(
                    RowError(
                        n,
                        _column(header_of, "record_id"),
                        "record_id",
                        f"record id repeats row {first_id[rid]}",
                        rid,
                    )
                )
            first_cert.setdefault(cert, n)
            first_id.setdefault(rid, n)
        plan.rows.append(row)
    return plan


def _column(header_of: Mapping[str, str], fld: str, source: str = "") -> str:
    if source:
        return source
    if fld in header_of:
        return header_of[fld]
    col = BY_FIELD.get(fld)
    return f"{col.label} (not in file)" if col else fld


def _plan_row(
    n: int,
    values: dict[str, str],
    cells: dict[str, str],
    header_of: Mapping[str, str],
    issuer: str,
    defaults: Defaults,
) -> ImportRow:
    errors: list[RowError] = []
    source: dict[str, str] = {}  # field -> where its value came from, when not its column

    def take(fld: str) -> str:
        v = values.get(fld, "")
        if v == "" and getattr(defaults, fld, ""):
            source[fld] = _OPTION[fld]
            return getattr(defaults, fld)
        return v

    def bad(fld: str, rule: str, value: object) -> None:
        errors.append(RowError(n, _column(header_of, fld, source.get(fld, "")), fld, rule, value))

    fields: dict[str, object] = {}
    for fld in ("brand_name", "brand_name_latin", "product", "enterprise_name", "certificate_no"):
        fields[fld] = values.get(fld, "")
    fields["announcement_no"] = take("announcement_no")
    fields["industry_code"] = _code(values.get("industry_code", "")).upper()
    fields["enterprise_uscc"] = _code(values.get("enterprise_uscc", ""))

    kind_text = take("kind")
    kind = parse_kind(kind_text) if kind_text else None
    if kind_text and kind is None:
        bad(
            "kind",
            "unknown kind (give a name such as PROVINCIAL_FAMOUS_BRAND_PRODUCT or 省名牌产品)",
            kind_text,
        )
    elif not kind_text:
        source["kind"] = _OPTION["kind"]
        bad("kind", "is required: give --kind or a 认定类型/kind column", None)
    fields["kind"] = int(kind or 0)

    sector_text = take("sector")
    sector = parse_sector(sector_text) if sector_text else None
    if sector_text and sector is None:
        bad(
            "sector",
            "unknown sector (INDUSTRIAL/工业, AGRICULTURAL/农业, SERVICE/服务业, "
            "TRADITIONAL_CULTURAL/传统文化)",
            sector_text,
        )
    elif not sector_text:
        source["sector"] = _OPTION["sector"]
        bad("sector", "is required: give --sector or a 类别/sector column", None)
    fields["sector"] = int(sector or 0)

    nice_text = values.get("nice_classes", "")
    nice = _nice(nice_text) if nice_text else []
    if nice is None or any(c > 1000 for c in nice):
        bad("nice_classes", "Nice classes are whole numbers 1..45 (e.g. 25 or 25,35)", nice_text)
        nice = []
    fields["nice_classes"] = nice

    recognised_on = normalise_date(take("recognised_on"))
    valid_from = normalise_date(values.get("valid_from", ""))
    if not valid_from and recognised_on:
        valid_from, source["valid_from"] = recognised_on, _column(header_of, "recognised_on")
    if not recognised_on and valid_from:
        recognised_on, source["recognised_on"] = valid_from, _column(header_of, "valid_from")
    until = values.get("valid_until", "")
    fields["recognised_on"] = recognised_on
    fields["valid_from"] = valid_from
    fields["valid_until"] = "" if until.strip() in _NO_EXPIRY else normalise_date(until)

    region = _code(values.get("enterprise_region", ""))
    uscc = str(fields["enterprise_uscc"])
    if not region and is_valid_uscc(uscc) and regions.is_region(uscc_region(uscc)):
        region = uscc_region(uscc)
        source["enterprise_region"] = f"{_column(header_of, 'enterprise_uscc')} (region part)"
    fields["enterprise_region"] = region

    rid = _code(values.get("record_id", ""))
    if not rid and fields["certificate_no"]:
        rid = derive_record_id(str(fields["certificate_no"]))
        source["record_id"] = f"{_column(header_of, 'certificate_no')} (derived id)"
    fields["record_id"] = rid

    rec = entries_pb2.Recognition(**fields)  # type: ignore[arg-type]
    failed = {e.field for e in errors}
    if not region:
        if is_valid_uscc(uscc):
            bad(
                "enterprise_region",
                "is required: add a 企业所在地/enterprise_region column (the credit code's "
                f"region part {uscc_region(uscc)} is not a current GB/T 2260 code)",
                None,
            )
        failed.add("enterprise_region")  # else the credit code's own error explains it
    for e in recognition_errors(rec, issuer=issuer):
        if e.field in failed:
            continue
        col = "--config (node region)" if e.field == "issuer" else None
        errors.append(
            RowError(
                n,
                col or _column(header_of, e.field, source.get(e.field, "")),
                e.field,
                e.rule,
                e.value,
            )
        )
    return ImportRow(n, cells, rec, errors)


def write_rejects(path: Path, plan: ImportPlan) -> int:
    """Write the invalid rows, as they were, plus ``row`` and ``error`` columns (UTF-8 CSV).

    The file can be corrected and imported again: ``row`` and ``error`` are ignored.
    Returns the number of rows written.
    """
    names = ["row", *(h for h in plan.sheet.headers if h), "error"]
    rows = []
    for r in plan.invalid:
        rows.append({"row": str(r.row), **r.cells, "error": "; ".join(str(e) for e in r.errors)})
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.DictWriter(f, fieldnames=names, extrasaction="ignore")
        w.writerow({h: neutralise(h) for h in names})
        for r in rows:
            w.writerow({h: neutralise(r.get(h, "")) for h in names})
    return len(rows)
