"""``brandex case``: joint protection: report a counterfeit case, log actions on it, list cases."""

from __future__ import annotations

import click

from exchange.cli.common import (
    client_options,
    connect,
    emit,
    emit_one,
    handle_errors,
    output_option,
)
from exchange.cli.lang import lang, tr
from exchange.cli.options import (
    DATE,
    REGION,
    enum_names,
    fen,
    region_text,
    sent,
    yuan,
)
from exchange.client import types as t
from exchange.core.vocabulary import CaseActionType, CaseType
from exchange.i18n.terms import CASE_ACTION_ZH, CASE_TYPE_ZH

__all__ = ["case_group"]

_TYPES = enum_names(CaseType)
_ACTIONS = enum_names(CaseActionType)
_LIST_COLUMNS = [
    "case",
    "brand",
    "record",
    "reported_by",
    "handling",
    "type",
    "infringer",
    "value_yuan",
    "opened_on",
    "open",
    "actions",
]


@click.group("case")
def case_group() -> None:
    """Joint protection: counterfeit and infringement cases between members.

    Any member reports a case about any member's brand; the handling region
    (and the reporter) log what they did; everyone sees it after sync.

    Example: brandex case list --config nodes/shanghai.toml --open
    """


def _done(client, resp, what: str, fmt: str, extra: dict) -> None:
    row = {"result": what, **extra, "origin": resp.origin, "index": resp.index}
    if fmt == "table":
        click.echo(
            tr(
                "{result}: {case} (entry {origin} #{index})",
                result=tr(what),
                case=extra.get("case", ""),
                origin=resp.origin,
                index=resp.index,
            )
        )
    else:
        emit_one(row, list(row), fmt)


@case_group.command("report")
@click.option("--case-id", required=True, help="Case id, unique within the reporting region.")
@click.option("--issuer", type=REGION, required=True, help="Issuer of the protected record.")
@click.option("--record", "record_id", required=True, help="Protected record id.")
@click.option(
    "--handling-region", type=REGION, required=True, help="Region where the goods were found."
)
@click.option("--infringer", required=True, help="Name of the infringing party.")
@click.option("--infringer-uscc", default="", help="Its credit code, if known.")
@click.option(
    "--type",
    "case_type",
    type=click.Choice(_TYPES, case_sensitive=False),
    default="COUNTERFEIT",
    show_default=True,
)
@click.option("--value-yuan", default="0", help="Value of the goods in yuan, e.g. 128000.50.")
@click.option("--opened-on", type=DATE, required=True)
@click.option("--description", default="", help="What was found, where.")
@client_options
@output_option
@handle_errors
def report(
    case_id,
    issuer,
    record_id,
    handling_region,
    infringer,
    infringer_uscc,
    case_type,
    value_yuan,
    opened_on,
    description,
    config_path,
    node_addr,
    cert,
    key,
    fmt,
) -> None:
    """Report a case about any member's recognised brand (operator certificate).

    The protected record must be known to this node (synced from its issuer).

    Example: brandex case report --config nodes/zhejiang.toml --case-id zj-case-2026-001
    --issuer 310000 --record sh-2024-0001 --handling-region 340000
    --infringer 合肥某贸易有限公司 --type COUNTERFEIT --value-yuan 128000
    --opened-on 2026-03-02 --description '在合肥市场发现假冒产品'
    """
    client = connect(config_path, node_addr, cert, key)
    case = {
        "case_id": case_id,
        "protected_issuer": issuer,
        "protected_record_id": record_id,
        "handling_region": handling_region,
        "infringer_name": infringer,
        "infringer_uscc": infringer_uscc,
        "case_type": case_type.upper(),
        "goods_value_fen": fen(value_yuan, "--value-yuan"),
        "opened_on": opened_on,
        "description": description,
    }
    flags = {
        "protected_issuer": "--issuer",
        "protected_record_id": "--record",
        "infringer_name": "--infringer",
        "goods_value_fen": "--value-yuan",
    }
    with sent(flags):
        resp = client.report_case(case)
    _done(client, resp, "reported", fmt, {"case": f"{client.config.region}/{case_id}"})


@case_group.command("act")
@click.argument("case_id")
@click.option(
    "--case-region",
    type=REGION,
    default=None,
    help="Region that reported the case [default: this node's region].",
)
@click.option("--action", type=click.Choice(_ACTIONS, case_sensitive=False), required=True)
@click.option("--date", "on", type=DATE, required=True)
@click.option("--decision-no", default="", help="Penalty decision number (PENALTY only).")
@click.option("--fine-yuan", default="", help="Fine in yuan (PENALTY only).")
@click.option("--note", default="", help="What was done.")
@client_options
@output_option
@handle_errors
def act(
    case_id,
    case_region,
    action,
    on,
    decision_no,
    fine_yuan,
    note,
    config_path,
    node_addr,
    cert,
    key,
    fmt,
) -> None:
    """Log an action on a case: inspection, seizure, penalty, closure ... (operator certificate).

    Only the handling region and the reporting region may act on a case.

    Example: brandex case act zj-case-2026-001 --config nodes/anhui.toml --case-region 330000
    --action PENALTY --date 2026-03-20 --decision-no 皖市监罚〔2026〕15号 --fine-yuan 50000
    --note '没收假冒产品并处罚款'
    """
    client = connect(config_path, node_addr, cert, key)
    case_region = case_region or client.config.region
    msg = {
        "case_region": case_region,
        "case_id": case_id,
        "action": action.upper(),
        "date": on,
        "note": note,
        "decision_no": decision_no,
        "fine_fen": fen(fine_yuan, "--fine-yuan"),
    }
    with sent({"date": "--date", "fine_fen": "--fine-yuan"}):
        resp = client.act_on_case(msg)
    _done(client, resp, action.lower(), fmt, {"case": f"{case_region}/{case_id}"})


def _action_text(a: t.CaseAction, human: bool) -> str:
    if human:
        action = _word(CASE_ACTION_ZH, CaseActionType, a.action)
        text = tr("{date} {action} by {region}", date=a.date, action=action,
                  region=region_text(a.acting_region))  # fmt: skip
    else:
        text = f"{a.date} {a.action} by {a.acting_region}"
    if a.decision_no:
        text += f" {a.decision_no}"
    if a.fine_fen:
        text += tr(" fine {yuan}", yuan=yuan(a.fine_fen)) if human else f" fine {yuan(a.fine_fen)}"
    return text


def _word(table: dict, enum: type, name: str) -> str:
    """An enum name (``SEIZURE``) in Chinese for a --lang zh table, else as sent."""
    if lang() != "zh":
        return name
    try:
        return table[enum[name]]
    except KeyError:
        return name


def case_rows(cases, human: bool = False) -> list[dict]:
    """Cases (exchange.client CaseView) as flat rows (the ``actions`` column joins the actions).

    ``human`` rows are for a table in the run's language; CSV rows keep the
    enum names whatever the language.
    """
    out = []
    for v in cases:
        c = v.case
        state = "open" if v.open else "closed"
        out.append(
            {
                "case": f"{v.case_region}/{c.case_id}",
                "brand": v.brand_name,
                "record": f"{c.protected_issuer}/{c.protected_record_id}",
                "reported_by": region_text(c.reporting_region),
                "handling": region_text(c.handling_region),
                "type": _word(CASE_TYPE_ZH, CaseType, c.case_type) if human else c.case_type,
                "infringer": c.infringer_name,
                "value_yuan": yuan(c.goods_value_fen),
                "opened_on": str(c.opened_on or ""),
                "open": tr(state) if human else state,
                "actions": "; ".join(_action_text(a, human) for a in v.actions),
            }
        )
    return out


@case_group.command("list")
@click.option("--brand", default="", help="Brand name contains this text.")
@click.option("--region", type=REGION, default=None, help="Reported or handled by this region.")
@click.option("--open", "open_only", is_flag=True, help="Open cases only.")
@click.option("--record", default=None, metavar="ISSUER/RECORD_ID", help="Cases of one record.")
@client_options
@output_option
@handle_errors
def list_cases(brand, region, open_only, record, config_path, node_addr, cert, key, fmt) -> None:
    """Cases this node knows, from every member, with the actions taken on each.

    Example: brandex case list --config nodes/shanghai.toml --brand 老凤 --region 340000 --open
    """
    client = connect(config_path, node_addr, cert, key)
    ref = None
    if record:
        issuer, sep, rid = record.partition("/")
        if not sep:
            raise click.BadParameter("give ISSUER/RECORD_ID, e.g. 310000/sh-2024-0001")
        ref = (issuer, rid)
    resp = client.cases(brand=brand, region=region, open_only=open_only, record=ref)
    if fmt == "json":
        emit(resp.wire["cases"], [], "json")
        return
    if fmt == "table" and not resp.cases:
        click.echo(tr("no cases match"))
        return
    emit(case_rows(resp.cases, human=fmt == "table"), _LIST_COLUMNS, fmt)
