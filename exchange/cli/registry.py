"""``brandex search`` / ``show`` / ``check``: what staff ask of the registry (member certificate).

Each works against the local node (``--config``/``--node``) or, with
``--peer ADDR`` (another name of ``--node``), directly against another member's
node, so a peer's registry can be compared with the local replica.
"""

from __future__ import annotations

import json
import sys
from datetime import date

import click

from exchange.cli.cases import case_rows
from exchange.cli.common import (
    EXIT_NEGATIVE,
    client_options,
    connect,
    emit,
    emit_one,
    handle_errors,
    output_option,
    table,
    text_width,
)
from exchange.cli.lang import lang, tr
from exchange.cli.options import DATE, REGION, region_text
from exchange.client import NodeClient, RemoteNotFound, kind_names
from exchange.client import types as t
from exchange.core.vocabulary import Kind, ReasonCode, Sector, Status
from exchange.i18n.reasons import reason_text
from exchange.i18n.terms import KIND_ZH, REASON_ZH, SECTOR_ZH, STATUS_ZH, state_name

__all__ = ["check", "search", "show"]

_KINDS = kind_names()
_STATUSES = ["valid", "suspended", "revoked", "withdrawn"]
_SEARCH_COLUMNS = [
    "issuer",
    "record_id",
    "brand",
    "product",
    "enterprise",
    "kind",
    "status",
    "valid_until",
    "recognised_in",
]
_SEARCH_CSV = [
    "issuer",
    "record_id",
    "brand_name",
    "product",
    "enterprise_name",
    "enterprise_uscc",
    "kind",
    "status_today",
    "valid_until",
    "recognised_in",
]


def recognised_text(view: t.RecordView) -> str:
    """Where a record holds today: its issuer's jurisdiction, then agreement partners,
    each as ``浙江省 (330000)``."""
    if view.status_today != "valid":
        return "-"
    text = region_text(view.issuer)
    if view.recognised_in:
        text += " + " + ", ".join(region_text(r) for r in view.recognised_in)
    return text


def _state(state: str) -> str:
    return state_name(state, lang())


def _kind_short(kind: str) -> str:
    try:
        return KIND_ZH[Kind[kind]]
    except KeyError:
        return str(kind)


def _d(value: object) -> str:
    """A date as ISO text, '' for none (as the node sends it)."""
    return "" if value is None else str(value)


# ------------------------------------------------------------------------ search


@click.command("search")
@click.argument("text", required=False, default="")
@click.option("--region", type=REGION, default=None, help="Enterprise within this region.")
@click.option("--issuer", type=REGION, default=None, help="Issued by this region.")
@click.option("--kind", type=click.Choice(_KINDS, case_sensitive=False), default=None)
@click.option("--class", "nice_class", type=click.IntRange(1, 45), default=None, help="Nice class.")
@click.option(
    "--status",
    type=click.Choice(_STATUSES),
    default=None,
    help="Lifecycle state (use --valid-on for expiry).",
)
@click.option("--valid-on", type=DATE, default=None, help="Within its validity on this date.")
@click.option("--uscc", default=None, help="Enterprise credit code (exact).")
@click.option("--enterprise", default=None, help="Enterprise name contains this text.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True)
@click.option("--on", "today", type=DATE, default=None, help="Status as of [default: today].")
@client_options
@output_option
@handle_errors
def search(
    text,
    region,
    issuer,
    kind,
    nice_class,
    status,
    valid_on,
    uscc,
    enterprise,
    limit,
    offset,
    today,
    config_path,
    node_addr,
    cert,
    key,
    fmt,
) -> None:
    """Search brand, product and enterprise names across every member's records.

    TEXT may be Chinese (any substring, traditional characters too: 宋河糧液),
    brand pinyin (songhe, "song he", songheliangye) or initials (shly); pinyin
    one letter off is tried when nothing matches as typed. The exact brand
    comes first, then records valid today, then the rest. Each hit shows its
    issuer, its status today and where it is recognised today (the issuer's
    jurisdiction plus agreement partners); counts by issuer, region, kind,
    status and Nice class follow the table. Regions may be given by name
    (--region 杭州市).

    Example: brandex search 宋河 --config nodes/anhui.toml --status valid --limit 10
    """
    client = connect(config_path, node_addr, cert, key)
    resp = client.search(
        text,
        region=region,
        issuer=issuer,
        kind=kind,
        nice_class=nice_class,
        status=status,
        valid_on=valid_on,
        uscc=uscc,
        enterprise=enterprise,
        limit=limit,
        offset=offset,
        today=today,
        facets=fmt != "csv",
    )
    if fmt == "json":
        out = {
            "total": resp.total,
            "total_is_lower_bound": resp.total_is_lower_bound,
            "offset": offset,
            "node": client.address,
            "records": [v.wire for v in resp.records],
            "facets": {k: [{"value": v, "count": n} for v, n in c] for k, c in resp.facets.items()},
            "facets_over": resp.facets_over,
            "facets_partial": resp.facets_partial,
            "typo": resp.typo,
        }
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    if fmt == "csv":
        rows = []
        for v in resp.records:
            r = v.record
            rows.append(
                {
                    "issuer": v.issuer,
                    "record_id": r.record_id,
                    "brand_name": r.brand_name,
                    "product": r.product,
                    "enterprise_name": r.enterprise_name,
                    "enterprise_uscc": r.enterprise_uscc,
                    "kind": r.kind,
                    "status_today": v.status_today,
                    "valid_until": _d(v.valid_until),
                    "recognised_in": " ".join(
                        [v.issuer, *v.recognised_in] if v.status_today == "valid" else []
                    ),
                }
            )
        emit(rows, _SEARCH_CSV, "csv")
        return
    rows = [
        {
            "issuer": region_text(v.issuer),
            "record_id": v.record.record_id,
            "brand": v.record.brand_name,
            "product": v.record.product,
            "enterprise": v.record.enterprise_name,
            "kind": _kind_short(v.record.kind),
            "status": _state(v.status_today),
            "valid_until": _d(v.valid_until) or tr("no expiry"),
            "recognised_in": recognised_text(v),
        }
        for v in resp.records
    ]
    # Counting stops at a cap (it is not free on a million records): "100+".
    total = f"{resp.total}+" if resp.total_is_lower_bound else str(resp.total)
    if resp.typo and rows:
        click.echo(tr("nothing matched {text!r} as typed; these match one letter away:", text=text))
    if rows:
        click.echo(table(rows, _SEARCH_COLUMNS))
    if not rows:
        if resp.total:
            msg = tr(
                "no records at offset {offset} (of {total}) at {node}",
                offset=offset,
                total=total,
                node=client.address,
            )
        else:
            msg = tr("no records match at {node}", node=client.address)
        click.echo(msg)
        return
    has_more = resp.total_is_lower_bound or offset + len(rows) < resp.total
    more = tr("; --offset {next} for more", next=offset + len(rows)) if has_more else ""
    click.echo(
        tr(
            "{first}-{last} of {total} record(s) at {node}",
            first=offset + 1,
            last=offset + len(rows),
            total=total,
            node=client.address,
        )
        + more
    )
    facet_lines(resp)


def _facet_value(field: str, value: str) -> str:
    if field in ("issuer", "region"):
        return region_text(value)
    if field == "kind":
        return _kind_short(value)
    if field == "status":
        return _state(value)
    return value


def facet_lines(resp: t.SearchResult) -> None:
    """One line per facet: ``status: valid 12, expired 3``, after the table."""
    if not resp.facets:
        return
    over = tr(" (first {n} matches)", n=resp.facets_over) if resp.facets_partial else ""
    click.echo(tr("facets{over}:", over=over))
    for field, counts in resp.facets.items():
        if counts:
            shown = ", ".join(f"{_facet_value(field, v)} {n}" for v, n in counts[:8])
            more = tr(", +{n} more", n=len(counts) - 8) if len(counts) > 8 else ""
            click.echo(f"  {tr(field)}: {shown}{more}")


# -------------------------------------------------------------------------- show


def issuers_holding(client: NodeClient, record_id: str, today: str = "") -> list:
    """Every issuer holding RECORD_ID (record ids are issuer-scoped): [(region, history)],
    the caller's own region first."""
    return [(h.view.issuer, h) for h in client.issuers_holding(record_id, today or None)]


def _one_issuer(client, record_id: str, today: str = "") -> tuple[str, object]:
    """The one issuer holding RECORD_ID, or exit 1 saying none or which ones do."""
    hits = issuers_holding(client, record_id, today)
    if len(hits) == 1:
        return hits[0]
    if not hits:
        click.echo(
            tr(
                "not found: no issuer holds record {record_id} at {node}",
                record_id=record_id,
                node=client.address,
            ),
            err=True,
        )
    else:
        names = ", ".join(region_text(r) for r, _ in hits)
        click.echo(
            tr(
                "ambiguous: record id {record_id} is held by {n} issuers ({names});"
                " give --issuer, e.g. --issuer {example}",
                record_id=record_id,
                n=len(hits),
                names=names,
                example=hits[0][0],
            ),
            err=True,
        )
    sys.exit(EXIT_NEGATIVE)


def _provenance_text(p: t.Provenance) -> str:
    if p.cosigners:
        cos = tr(", cosigned by {names}", names=", ".join(p.cosigners))
    else:
        cos = tr(", no cosignatures yet")
    when = ""
    if p.issued_at:
        when = tr("; issued {at} by key {key}…", at=p.issued_at, key=p.signing_key[:16])
    if p.witnessed_at:
        n = p.witnesses
        one = "; logged no later than {at} by {n} witness"
        when += tr(one if n == 1 else one + "es", at=p.witnessed_at, n=n)
    policy = f"; {p.confirmation}" if p.confirmation else ""
    size = tr("checkpoint size {size}", size=p.checkpoint_size)
    return f"{p.origin} #{p.index} ({size}{cos}{policy}{when})"


def _change_text(c: t.StatusChange) -> str:
    zh = lang() == "zh"
    text = _enum_word(STATUS_ZH, Status, c.new_status) if zh else c.new_status
    if c.reason and c.reason != "REASON_CODE_UNSPECIFIED":
        text += f" ({_enum_word(REASON_ZH, ReasonCode, c.reason) if zh else c.reason})"
    if c.new_valid_until:
        text += tr(" until {date}", date=c.new_valid_until)
    return text


def _enum_word(table: dict, enum: type, name: str) -> str:
    """A proto enum name (``SPOT_CHECK_FAILURE``) in Chinese, or as sent if unknown."""
    try:
        return table[enum[name]]
    except KeyError:
        return name


@click.command("show")
@click.argument("record_id")
@click.option(
    "--issuer",
    type=REGION,
    default=None,
    help="Issuer [default: whichever issuer holds RECORD_ID; if several do, they are listed].",
)
@click.option("--history", is_flag=True, help="Each change's and case's provenance and actions.")
@click.option("--on", "today", type=DATE, default=None, help="Date for status [default: today].")
@client_options
@output_option
@handle_errors
def show(record_id, issuer, history, today, config_path, node_addr, cert, key, fmt) -> None:
    """One record: its fields, every status change and case, and its provenance.

    Provenance is the log entry the record was read from (origin and index),
    the size of the checkpoint that covers it and the witnesses that cosigned it.

    Example: brandex show hn-2024-0001 --issuer 410000 --config nodes/luyi.toml --history
    """
    client = connect(config_path, node_addr, cert, key)
    if issuer is None:
        issuer, h = _one_issuer(client, record_id, today or "")
    else:
        h = _get_record(client, issuer, record_id, today or "")
    _show(h, history, fmt)


def _get_record(client: NodeClient, issuer: str, record_id: str, today: str) -> t.RecordHistory:
    try:
        return client.record(issuer, record_id, today or None)
    except RemoteNotFound as exc:
        click.echo(tr("not found: {details}", details=exc.details), err=True)
        sys.exit(EXIT_NEGATIVE)


def _show(h: t.RecordHistory, history: bool, fmt: str) -> None:
    v, r = h.view, h.view.record
    if fmt == "json":
        emit_one(h.wire, [], "json")
        return
    if fmt == "csv":
        row = {
            "issuer": v.issuer,
            **{k: v2 for k, v2 in v.wire["record"].items() if not isinstance(v2, list)},
            "nice_classes": ",".join(str(c) for c in r.nice_classes),
            "status_today": v.status_today,
            "valid_until": _d(v.valid_until),
            "recognised_in": " ".join(v.recognised_in),
            "origin": v.provenance.origin,
            "index": v.provenance.index,
            "checkpoint_size": v.provenance.checkpoint_size,
            "cosigners": " ".join(v.provenance.cosigners),
            "status_changes": len(h.events),
            "cases": len(h.cases),
        }
        emit([row], list(row), "csv")
        return
    zh = lang() == "zh"
    kind = (
        f"{_kind_short(r.kind)}，{_enum_word(SECTOR_ZH, Sector, r.sector)}"
        if zh
        else (f"{r.kind} {_kind_short(r.kind)}, {r.sector}")
    )
    valid_until = _d(v.valid_until) or tr("no expiry")
    lines = [
        ("record", f"{v.issuer}/{r.record_id} ({v.issuer_name})"),
        ("brand", r.brand_name + (f" ({r.brand_name_latin})" if r.brand_name_latin else "")),
        ("product", r.product),
        ("kind", kind),
        ("nice classes", ",".join(str(c) for c in r.nice_classes)),
        ("industry", r.industry_code),
        (
            "enterprise",
            f"{r.enterprise_name} ({r.enterprise_uscc}), {region_text(r.enterprise_region)}",
        ),
        (
            "certificate",
            tr("{cert}, announcement {ann}", cert=r.certificate_no, ann=r.announcement_no),
        ),
        ("recognised on", _d(r.recognised_on)),
        ("valid", tr("{start} to {end}", start=_d(r.valid_from), end=valid_until)),
        ("status today", _state(v.status_today)),
        ("recognised in", recognised_text(v)),
        ("provenance", _provenance_text(v.provenance)),
    ]
    labels = [(tr(k), val) for k, val in lines]
    width = max(text_width(k) for k, _ in labels)
    for k, val in labels:
        if val:
            click.echo(f"{k}{' ' * (width - text_width(k))}  {val}")
    click.echo("")
    if h.events:
        rows = []
        for e in h.events:
            c = e.change
            row = {
                "effective_on": _d(c.effective_on),
                "change": _change_text(c),
                "announcement": c.announcement_no,
                "text": c.reason_text,
            }
            if history:
                row["issued_at"] = e.issued_at
                row["entry"] = _provenance_text(e.provenance)
            rows.append(row)
        click.echo(tr("status changes ({n})", n=len(rows)))
        click.echo(table(rows, list(rows[0])))
    else:
        click.echo(tr("status changes: none"))
    click.echo("")
    if h.cases:
        click.echo(tr("cases ({n})", n=len(h.cases)))
        cols = ["case", "reported_by", "handling", "type", "opened_on", "open", "actions"]
        click.echo(table(case_rows(h.cases, human=True), cols))
        if history:
            for c in h.cases:
                click.echo(f"  {c.case_region}/{c.case.case_id}: {_provenance_text(c.provenance)}")
    else:
        click.echo(tr("cases: none"))


# ------------------------------------------------------------------------- check


@click.command("check")
@click.argument("record_id", required=False, default=None)
@click.option(
    "--issuer",
    type=REGION,
    default=None,
    help="Issuer of RECORD_ID [default: whichever issuer holds it].",
)
@click.option("--uscc", default=None, help="Ask about every record of this enterprise.")
@click.option("--brand", default=None, help="Ask about every record of this exact brand name.")
@click.option("--in", "region", type=REGION, required=True, help="The region asked about.")
@click.option("--on", type=DATE, default=None, help="The date asked about [default: today].")
@client_options
@output_option
@handle_errors
def check(
    record_id, issuer, uscc, brand, region, on, config_path, node_addr, cert, key, fmt
) -> None:
    """Is a recognition recognised in region --in on date --on, and why?

    Exit 0 and "recognised" with the reasons (issuer, agreement and accessions,
    validity), or exit 1 and "not recognised" with the reason (expired,
    revoked on ..., no agreement between ..., not in force until ..., kind not
    covered). With --uscc or --brand every matching record is answered; the
    exit code is 0 if any of them is recognised.

    Example: brandex check --brand 宋河粮液 --in 340000 --on 2026-06-01 --config nodes/anhui.toml
    """
    given = [x for x in (record_id, uscc, brand) if x]
    if len(given) != 1:
        raise click.UsageError("give exactly one of RECORD_ID, --uscc or --brand")
    client = connect(config_path, node_addr, cert, key)
    on = on or date.today().isoformat()
    ref = None
    if record_id:
        if issuer is None:
            issuer, _ = _one_issuer(client, record_id)
        ref = (issuer, record_id)
    try:
        answers = client.check(region, on, record=ref, brand=brand, uscc=uscc)
    except RemoteNotFound as exc:
        click.echo(tr("not recognised: {details}", details=exc.details))
        sys.exit(EXIT_NEGATIVE)
    results = []
    for res in answers:
        results.append(
            {
                "issuer": res.record.issuer,
                "record_id": res.record.record_id,
                "brand_name": res.brand_name,
                "region": region,
                "on": on,
                "recognised": res.recognised,
                "answer": "recognised" if res.recognised else "not recognised",
                "reason_code": res.reasons[0].code if res.reasons else "",
                "reason": res.reasons[0].text if res.reasons else "",
                "reasons": res.wire["reasons"],
            }
        )
    if fmt == "json":
        emit(results, [], "json")
    elif fmt == "csv":
        cols = ["issuer", "record_id", "brand_name", "region", "on", "answer", "reason_code"]
        emit(results, [*cols, "reason"], "csv")
    else:
        for res, row in zip(answers, results, strict=True):
            answer = (
                "recognised: {record} ({brand}) in {region} on {on}"
                if res.recognised
                else "not recognised: {record} ({brand}) in {region} on {on}"
            )
            record = f"{row['issuer']}/{row['record_id']}"
            click.echo(
                tr(
                    answer,
                    record=record,
                    brand=row["brand_name"],
                    region=region_text(region),
                    on=on,
                )
            )
            for reason in res.reasons:
                # Nodes explain in English; said again in the run's language at this edge.
                click.echo(f"  - {reason.code}: {reason_text(reason.text, lang())}")
                if reason.entries:
                    refs = ", ".join(f"{p.origin}#{p.index}" for p in reason.entries)
                    click.echo(tr("      entries: {refs}", refs=refs))
    if not any(r["recognised"] for r in results):
        sys.exit(EXIT_NEGATIVE)
