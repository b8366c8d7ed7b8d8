"""``brandex agreement``: accede to or withdraw from mutual-recognition agreements; list them."""

from __future__ import annotations

from datetime import date

import click

from exchange.cli.common import (
    client_options,
    connect,
    emit,
    emit_one,
    handle_errors,
    output_option,
)
from exchange.cli.lang import tr
from exchange.cli.options import DATE, enum_names, region_text, sent
from exchange.client import types as t
from exchange.core.vocabulary import Kind

__all__ = ["agreement_group"]

_KINDS = enum_names(Kind)
_LIST_COLUMNS = [
    "agreement",
    "title",
    "region",
    "kinds",
    "from",
    "until",
    "withdrawn_on",
    "in_force_today",
]


@click.group("agreement")
def agreement_group() -> None:
    """Mutual-recognition agreements: who acceded, for which kinds, from when.

    Whether a recognition holds in another region is decided by these entries
    (see `brandex check`).

    Example: brandex agreement list --config nodes/anhui.toml
    """


def _kinds(value: str) -> list[str]:
    out = []
    for part in value.replace(";", ",").split(","):
        name = part.strip().upper()
        if not name:
            continue
        if name not in _KINDS:
            raise click.BadParameter(
                f"unknown kind {part.strip()!r}; kinds are {', '.join(_KINDS)}",
                param_hint="--kinds",
            )
        out.append(Kind[name].name)
    return out


@agreement_group.command("accede")
@click.argument("agreement_id")
@click.option("--title", default="", help="The agreement's title.")
@click.option(
    "--kinds",
    required=True,
    metavar="KIND,KIND...",
    help="Kinds of recognition covered, comma-separated.",
)
@click.option("--from", "effective_from", type=DATE, required=True, help="In force from.")
@click.option("--until", "effective_until", type=DATE, default=None, help="In force until.")
@client_options
@output_option
@handle_errors
def accede(
    agreement_id,
    title,
    kinds,
    effective_from,
    effective_until,
    config_path,
    node_addr,
    cert,
    key,
    fmt,
) -> None:
    """Sign this region's accession to AGREEMENT_ID (operator certificate).

    Example: brandex agreement accede yrd-2006 --config nodes/anhui.toml
    --title 长三角名牌互认与联合保护协议
    --kinds PROVINCIAL_FAMOUS_BRAND_PRODUCT,WELL_KNOWN_TRADEMARK --from 2006-06-01
    """
    client = connect(config_path, node_addr, cert, key)
    acc = {
        "agreement_id": agreement_id,
        "title": title,
        "covered_kinds": _kinds(kinds),
        "effective_from": effective_from,
        "effective_until": effective_until or "",
    }
    with sent({"covered_kinds": "--kinds"}):
        resp = client.accede(acc)
    row = {
        "result": "acceded",
        "agreement": agreement_id,
        "region": client.config.region,
        "from": effective_from,
        "origin": resp.origin,
        "index": resp.index,
    }
    if fmt == "table":
        click.echo(
            tr(
                "acceded: {region} to {agreement} from {date} (entry {origin} #{index})",
                region=region_text(client.config.region),
                agreement=agreement_id,
                date=effective_from,
                origin=resp.origin,
                index=resp.index,
            )
        )
    else:
        emit_one(row, list(row), fmt)


@agreement_group.command("withdraw")
@click.argument("agreement_id")
@click.option("--effective", type=DATE, required=True, help="Leaves the agreement on this date.")
@click.option("--reason", default="", help="Why, in words.")
@client_options
@output_option
@handle_errors
def withdraw(agreement_id, effective, reason, config_path, node_addr, cert, key, fmt) -> None:
    """Sign this region's withdrawal from AGREEMENT_ID (operator certificate).

    Example: brandex agreement withdraw yrd-2006 --config nodes/anhui.toml
    --effective 2027-01-01 --reason 协议期满不再续签
    """
    client = connect(config_path, node_addr, cert, key)
    w = {"agreement_id": agreement_id, "effective_on": effective, "reason_text": reason}
    with sent({"effective_on": "--effective"}):
        resp = client.withdraw(w)
    row = {
        "result": "withdrawn",
        "agreement": agreement_id,
        "region": client.config.region,
        "effective_on": effective,
        "origin": resp.origin,
        "index": resp.index,
    }
    if fmt == "table":
        click.echo(
            tr(
                "withdrawn: {region} leaves {agreement} on {date} (entry {origin} #{index})",
                region=region_text(client.config.region),
                agreement=agreement_id,
                date=effective,
                origin=resp.origin,
                index=resp.index,
            )
        )
    else:
        emit_one(row, list(row), fmt)


def _in_force(acc: t.Accession, withdrawn: list[date], today: date) -> bool:
    """Mirrors exchange.core.recognition: a withdrawal ends accessions begun by then."""
    start = acc.effective_from or date.min
    if start > today:
        return False
    if acc.effective_until and today > acc.effective_until:
        return False
    return not any(start <= w <= today for w in withdrawn)


def yes_no(flag: bool, fmt: str) -> str:
    """``yes``/``no`` (CSV keeps these whatever the language; a table says 是/否 in Chinese)."""
    word = "yes" if flag else "no"
    return tr(word) if fmt == "table" else word


def _iso(d: date | None) -> str:
    return d.isoformat() if d else ""


@agreement_group.command("list")
@click.option("--on", "today", type=DATE, default=None, help="Date for IN_FORCE [default: today].")
@client_options
@output_option
@handle_errors
def list_agreements(today, config_path, node_addr, cert, key, fmt) -> None:
    """Every agreement this node knows: each accession, its kinds, dates and withdrawals.

    Example: brandex agreement list --config nodes/zhejiang.toml --format json
    """
    client = connect(config_path, node_addr, cert, key)
    resp = client.agreements()
    if fmt == "json":
        emit(resp.wire["agreements"], [], "json")
        return
    on = date.fromisoformat(today) if today else date.today()
    rows = []
    for a in resp.agreements:
        for acc in a.accessions:
            withdrawn = sorted(
                w.effective_on
                for w in a.withdrawals
                if w.region == acc.region
                and w.effective_on
                and w.effective_on >= (acc.effective_from or date.min)
            )
            rows.append(
                {
                    "agreement": a.agreement_id,
                    "title": acc.title or a.title,
                    "region": region_text(acc.region),
                    "kinds": ",".join(acc.covered_kinds),
                    "from": _iso(acc.effective_from),
                    "until": _iso(acc.effective_until),
                    "withdrawn_on": ",".join(w.isoformat() for w in withdrawn),
                    "in_force_today": yes_no(_in_force(acc, withdrawn, on), fmt),
                }
            )
    if fmt == "table" and not rows:
        click.echo(tr("no agreements known to this node"))
        return
    emit(rows, _LIST_COLUMNS, fmt)
