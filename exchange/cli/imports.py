"""``brandex import`` / ``brandex export``: the yearly list as a spreadsheet, in and out."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from exchange.cli.common import EXIT_NEGATIVE, client_options, connect, emit_one, handle_errors
from exchange.cli.lang import region_text, tr
from exchange.cli.options import DATE, REGION, enum_names
from exchange.client import RemoteError
from exchange.client.admin import PendingBatch
from exchange.core.vocabulary import Kind, Sector
from exchange.import_plan import Defaults, ImportPlan, plan_import, write_rejects
from exchange.spreadsheet import COLUMNS, Limits, read_sheet, record_row, write_sheet

__all__ = ["export_cmd", "import_cmd"]

_KINDS = enum_names(Kind)
_SECTORS = enum_names(Sector)
_SUMMARY = ["file", "format", "encoding", "rows", "added", "duplicates", "rejected", "rejects"]


def _summary_line(s: dict) -> str:
    enc = f", {s['encoding']}" if s["encoding"] else ""
    text = tr(
        "{file} ({format}{enc}): {rows} rows, {added} added, "
        "{duplicates} already present, {rejected} rejected",
        **{**s, "enc": enc},
    )
    if s["rejects"]:
        text += tr(" (written to {path})", path=s["rejects"])
    return text


def _report_errors(plan: ImportPlan) -> None:
    for e in plan.errors:
        click.echo(e, err=True)


def _created(client, part: list, resp) -> list[dict]:
    """The records of one batch the node added now: ``{"record_id", "index"}`` each.

    The node answers with the index of the first entry it appended and how many;
    with no duplicates in the batch those are the batch's records in order.
    Otherwise each record's issuing entry is looked up: it was added now if its
    index lies in the range the batch appended.
    """
    first, n = resp.first_index, resp.added
    if n == 0:
        return []
    if resp.duplicates == 0 and n == len(part):
        return [{"record_id": r.record.record_id, "index": first + i} for i, r in enumerate(part)]
    out = []
    for r in part:
        try:
            h = client.record(client.config.region, r.record.record_id)
        except RemoteError:
            continue
        if first <= h.view.provenance.index < first + n:
            out.append({"record_id": r.record.record_id, "index": h.view.provenance.index})
    return out


def _send(client, plan: ImportPlan, chunk: int, show_progress: bool) -> tuple[int, int, list[dict]]:
    """IssueBatch in chunks; returns (added, already present, the records added)."""
    rows = plan.valid
    added = dups = 0
    created: list[dict] = []
    bar = (
        click.progressbar(length=len(rows), label="importing", file=sys.stderr)
        if show_progress
        else None
    )
    try:
        if bar is not None:
            bar.__enter__()
        # Two calls in flight: the node validates and signs one batch while it
        # stores the one before (each batch is still one transaction).
        pending: list[tuple[list, PendingBatch]] = []
        starts = list(range(0, len(rows), chunk))
        while starts or pending:
            while starts and len(pending) < 2:
                part = rows[starts[0] : starts.pop(0) + chunk]
                pending.append((part, client.issue_batch_async([r.record for r in part])))
            part, future = pending.pop(0)
            try:
                resp = future.result()
            except RemoteError:
                # The batch sent after this one may be committed already: wait for
                # its answer instead of guessing, so the counts say what was written.
                for _, other in pending:
                    try:
                        later = other.result()
                    except RemoteError:
                        continue
                    added += later.added
                    dups += later.duplicates
                first, last = part[0].row, part[-1].row
                where = (
                    tr("row {n}", n=first)
                    if first == last
                    else tr("rows {first}-{last}", first=first, last=last)
                )
                click.echo(
                    tr(
                        "{where} of {file} not imported (the error below);"
                        " the other batches sent: {added} added, {dups} already present",
                        where=where,
                        file=plan.sheet.path.name,
                        added=added,
                        dups=dups,
                    ),
                    err=True,
                )
                raise
            added += resp.added
            dups += resp.duplicates
            created += _created(client, part, resp)
            if bar is not None:
                bar.update(len(part))
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    return added, dups, created


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--kind",
    type=click.Choice(_KINDS, case_sensitive=False),
    default=None,
    help="Recognition kind of every row (a 认定类型/kind column overrides it).",
)
@click.option(
    "--announcement",
    "announcement_no",
    default="",
    help="Announcement number of the list, e.g. 浙市监质〔2026〕12号 (a 公告文号 column wins).",
)
@click.option(
    "--sector",
    type=click.Choice(_SECTORS, case_sensitive=False),
    default=None,
    help="Sector of every row (a 类别/sector column overrides it).",
)
@click.option(
    "--recognised-on",
    type=DATE,
    default=None,
    help="Date of the decision for rows without 认定日期 (valid_from defaults to it).",
)
@click.option(
    "--encoding",
    default=None,
    help="CSV encoding [default: detect UTF-8 (with or without BOM), else GB18030].",
)
@click.option("--sheet", default=None, help="XLSX worksheet [default: the first].")
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Import the valid rows and write the invalid ones to --rejects.",
)
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where --skip-invalid writes rejected rows [default: FILE.rejects.csv].",
)
@click.option(
    "--max-file-mb",
    type=click.FloatRange(min=0, min_open=True),
    default=Limits.max_file_mb,
    show_default=True,
    help="Refuse a larger file.",
)
@click.option(
    "--max-uncompressed-mb",
    type=click.FloatRange(min=0, min_open=True),
    default=Limits.max_uncompressed_mb,
    show_default=True,
    help="Refuse an XLSX file that unpacks to more (checked before parsing).",
)
@click.option(
    "--max-rows",
    type=click.IntRange(min=1),
    default=Limits.max_rows,
    show_default=True,
    help="Refuse a sheet with more rows after the header (blank rows count).",
)
@click.option(
    "--max-cell-chars",
    type=click.IntRange(min=1),
    default=Limits.max_cell_chars,
    show_default=True,
    help="Refuse a cell with more characters.",
)
@click.option(
    "--chunk", type=click.IntRange(1, 10000), default=1000, show_default=True, hidden=True
)
@client_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="Summary format (errors always go to stderr, one per line).",
)
@handle_errors
def import_cmd(
    file,
    kind,
    announcement_no,
    sector,
    recognised_on,
    encoding,
    sheet,
    skip_invalid,
    rejects,
    max_file_mb,
    max_uncompressed_mb,
    max_rows,
    max_cell_chars,
    chunk,
    config_path,
    node_addr,
    cert,
    key,
    fmt,
) -> None:
    """Validate every row of FILE (.csv or .xlsx), then issue them all (operator certificate).

    Headers may be Chinese or English (see docs/agencies.md). Every problem is
    reported as "row N, column C: rule (got 'value')" and nothing is written
    unless every row is valid, or --skip-invalid is given. Rows already issued
    (same certificate number) are counted as already present, so importing the
    same file twice adds nothing.

    Example: brandex import --config nodes/zhejiang.toml 2026名牌产品.xlsx
    --kind PROVINCIAL_FAMOUS_BRAND_PRODUCT --announcement 浙市监质〔2026〕12号
    """
    limits = Limits(
        max_file_mb=max_file_mb,
        max_uncompressed_mb=max_uncompressed_mb,
        max_rows=max_rows,
        max_cell_chars=max_cell_chars,
    )
    # The file is read (and a hostile one refused) before the node is contacted.
    sheet_read = read_sheet(file, encoding=encoding, sheet=sheet, limits=limits)
    client = connect(config_path, node_addr, cert, key)
    defaults = Defaults(
        kind=(kind or "").upper(),
        sector=(sector or "").upper(),
        announcement_no=announcement_no,
        recognised_on=recognised_on or "",
    )
    plan = plan_import(
        sheet_read,
        issuer=client.config.region,
        defaults=defaults,
    )
    if plan.ignored:
        click.echo(tr("note: ignoring column(s) {names}", names=", ".join(plan.ignored)), err=True)
    summary = {
        "file": file.name,
        "format": plan.sheet.format,
        "encoding": plan.sheet.encoding,
        "rows": len(plan.rows),
        "added": 0,
        "duplicates": 0,
        "rejected": len(plan.invalid),
        "rejects": "",
    }
    errors = [e.as_dict() for e in plan.errors]
    if plan.file_errors or (plan.invalid and not skip_invalid):
        _report_errors(plan)
        summary["rejected"] = len(plan.sheet.rows) if plan.file_errors else len(plan.invalid)
        summary["rows"] = len(plan.sheet.rows)
        if fmt == "table" and plan.file_errors:
            click.echo(tr("{file}: the header row needs fixing; nothing imported", file=file.name))
        elif fmt == "table":
            click.echo(
                tr(
                    "{file}: {problems} problem(s) in {invalid} of {rows} row(s); nothing"
                    " imported (fix them, or give --skip-invalid)",
                    file=file.name,
                    problems=len(plan.errors),
                    invalid=len(plan.invalid),
                    rows=len(plan.rows),
                )
            )
        else:
            emit_one({**summary, "created": [], "errors": errors}, _SUMMARY, fmt)
        sys.exit(EXIT_NEGATIVE)
    if plan.invalid:
        _report_errors(plan)
        target = rejects or file.with_name(file.name + ".rejects.csv")
        write_rejects(target, plan)
        summary["rejects"] = str(target)
    added, dups, created = _send(client, plan, chunk, sys.stdout.isatty() and fmt == "table")
    summary.update(added=added, duplicates=dups)
    if fmt == "table":
        click.echo(_summary_line(summary))
        if created:
            ids = [c["record_id"] for c in created]
            more = (
                tr(" and {n} more (--format json lists all)", n=len(ids) - 10)
                if len(ids) > 10
                else ""
            )
            click.echo(tr("added: {ids}", ids=", ".join(ids[:10])) + more)
    else:
        emit_one({**summary, "created": created, "errors": errors}, _SUMMARY, fmt)


@click.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--issuer",
    type=REGION,
    default=None,
    help="Whose records [default: the node config's region].",
)
@click.option(
    "--headers",
    type=click.Choice(["zh", "en"]),
    default="zh",
    show_default=True,
    help="Header language (both import).",
)
@click.option(
    "--encoding",
    default="utf-8-sig",
    show_default=True,
    help="CSV encoding (utf-8-sig opens in Excel; gb18030 for older tools).",
)
@client_options
@handle_errors
def export_cmd(file, issuer, headers, encoding, config_path, node_addr, cert, key) -> None:
    """Write an issuer's records to FILE (.csv or .xlsx) in the format import reads.

    Records are written as they stand (corrections applied), with a 状态/status
    column for information, which import ignores.

    Example: brandex export --config nodes/zhejiang.toml zhejiang-2026.xlsx --issuer 330000
    """
    if file.suffix.lower() not in (".csv", ".xlsx"):
        raise click.UsageError("FILE must end in .csv or .xlsx")
    client = connect(config_path, node_addr, cert, key)
    issuer = issuer or client.config.region
    rows: list[dict] = []
    page = 1000
    while True:
        resp = client.search(issuer=issuer, limit=page, offset=len(rows))
        for v in resp.records:
            rows.append(record_row(v.wire["record"], headers=headers, status=v.status_today))
        if len(resp.records) < page:
            break
    names = list(rows[0]) if rows else [c.zh if headers == "zh" else c.name for c in COLUMNS]
    write_sheet(file, rows, encoding=encoding, headers=names)
    click.echo(
        tr(
            "exported {n} record(s) of {issuer} to {file}",
            n=len(rows),
            issuer=region_text(issuer),
            file=file,
        )
    )
