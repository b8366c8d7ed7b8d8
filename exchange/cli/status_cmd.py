"""``brandex status``: suspend, reinstate, revoke, renew, correct or withdraw one's own record."""

from __future__ import annotations

import dataclasses
from typing import Any

import click

from exchange.cli.common import (
    client_options,
    connect,
    emit_one,
    handle_errors,
    output_option,
)
from exchange.cli.lang import region_text, tr
from exchange.cli.options import DATE, enum_names, refusals, sent
from exchange.client import types as t
from exchange.core.vocabulary import ReasonCode
from exchange.import_plan import parse_kind, parse_sector

__all__ = ["status_group"]

_REASONS = enum_names(ReasonCode)
_COLUMNS = ["result", "issuer", "record_id", "effective_on", "origin", "index"]

# verb -> (Status name, past tense, example arguments)
_VERBS = {
    "suspend": (
        "SUSPENDED",
        "suspended",
        "zj-2025-0001 --reason SPOT_CHECK_FAILURE --effective 2026-03-01"
        " --announcement 浙市监质〔2026〕30号 --text '2026年第一季度抽检不合格'",
    ),
    "reinstate": (
        "REINSTATED",
        "reinstated",
        "zj-2025-0001 --reason CONDITIONAL_REVIEW --effective 2026-06-01"
        " --announcement 浙市监质〔2026〕61号",
    ),
    "revoke": (
        "REVOKED",
        "revoked",
        "zj-2025-0001 --reason FRAUD_IN_APPLICATION --effective 2026-07-01"
        " --announcement 浙市监质〔2026〕70号",
    ),
    "renew": (
        "RENEWED",
        "renewed",
        "zj-2025-0001 --valid-until 2031-01-13 --effective 2028-01-10"
        " --announcement 浙市监质〔2028〕5号",
    ),
    "correct": (
        "CORRECTED",
        "corrected",
        "zj-2025-0001 --set product=高档皮革服装 --effective 2026-02-01"
        " --announcement 浙市监质〔2026〕21号",
    ),
    "withdraw": (
        "WITHDRAWN",
        "withdrawn",
        "zj-2025-0001 --reason DEREGISTRATION --effective 2026-09-01"
        " --announcement 浙市监质〔2026〕90号",
    ),
}

#: Record fields set by options named otherwise (see options.check_locally).
_FLAGS = {
    "effective_on": "--effective",
    "announcement_no": "--announcement",
    "reason_text": "--text",
    "new_valid_until": "--valid-until",
    "corrected": "--set",
}

_SETTABLE = [
    f.name
    for f in dataclasses.fields(t.Recognition)
    if f.name not in ("record_id", "certificate_no")
]


@click.group("status")
def status_group() -> None:
    """Change the status of one of the node's own records (operator certificate).

    The node replays the record's history first and refuses a change the state
    machine forbids (revoking a revoked record, renewing a revoked one,
    reinstating a record that is not suspended ...): the refusal is shown and
    the command exits 1.

    Example: brandex status suspend zj-2025-0001 --config nodes/zhejiang.toml
    --reason SPOT_CHECK_FAILURE --effective 2026-03-01 --announcement 浙市监质〔2026〕30号
    """


def _apply_sets(rec: dict[str, Any], sets: tuple[str, ...]) -> None:
    """Apply ``--set FIELD=VALUE`` to a record given by field name (the wire's names)."""
    for item in sets:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in _SETTABLE:
            raise click.BadParameter(
                f"{item!r}: give FIELD=VALUE with FIELD one of {', '.join(_SETTABLE)}",
                param_hint="--set",
            )
        if name == "nice_classes":
            try:
                classes = [int(c) for c in value.replace(";", ",").split(",") if c.strip()]
            except ValueError:
                raise click.BadParameter(
                    f"{item!r}: Nice classes are numbers, e.g. 25,35", param_hint="--set"
                ) from None
            rec["nice_classes"] = classes
        elif name == "kind":
            kind = parse_kind(value)
            if kind is None:
                raise click.BadParameter(f"{item!r}: unknown kind", param_hint="--set")
            rec["kind"] = kind.name
        elif name == "sector":
            sector = parse_sector(value)
            if sector is None:
                raise click.BadParameter(f"{item!r}: unknown sector", param_hint="--set")
            rec["sector"] = sector.name
        else:
            rec[name] = value


def _make(verb: str) -> click.Command:
    status_name, past, example = _VERBS[verb]

    @client_options
    @output_option
    @handle_errors
    def command(
        record_id,
        reason,
        effective,
        announcement,
        text,
        fmt,
        config_path,
        node_addr,
        cert,
        key,
        valid_until=None,
        sets=(),
    ) -> None:
        client = connect(config_path, node_addr, cert, key)
        change: dict[str, Any] = {
            "record_id": record_id,
            "new_status": status_name,
            "reason_text": text,
            "effective_on": effective,
            "announcement_no": announcement,
            "new_valid_until": valid_until or "",
        }
        if reason:
            change["reason"] = reason.upper()
        if verb == "correct":
            if not sets:
                raise click.UsageError(tr("give at least one --set FIELD=VALUE"))
            with refusals():
                history = client.record(client.config.region, record_id)
            corrected = dict(history.view.wire["record"])  # as it stands, by field name
            _apply_sets(corrected, sets)
            change["corrected"] = corrected
        with sent(_FLAGS):
            resp = client.change_status(change)
        row = {
            "result": past,
            "issuer": client.config.region,
            "record_id": record_id,
            "effective_on": effective,
            "origin": resp.origin,
            "index": resp.index,
        }
        if fmt == "table":
            extra = tr(", valid until {date}", date=valid_until) if valid_until else ""
            click.echo(
                tr(
                    "{result}: {record} from {effective}{extra} (entry {origin} #{index})",
                    result=tr(past),
                    record=f"{region_text(client.config.region)}/{record_id}",
                    effective=effective,
                    extra=extra,
                    origin=resp.origin,
                    index=resp.index,
                )
            )
        else:
            emit_one(row, _COLUMNS, fmt)

    command.__doc__ = (
        f"Sign that record RECORD_ID is {past} from --effective on.\n\n"
        f"Example: brandex status {verb} {example} --config nodes/zhejiang.toml"
    )
    needs_reason = verb in ("suspend", "revoke")
    opts = [
        click.argument("record_id"),
        click.option(
            "--reason",
            type=click.Choice(_REASONS, case_sensitive=False),
            required=needs_reason,
            default="RENEWAL" if verb == "renew" else None,
            help="Reason code" + (" (required)." if needs_reason else "."),
        ),
        click.option("--effective", type=DATE, required=True, help="Effective date."),
        click.option("--announcement", required=True, help="Announcement number of the decision."),
        click.option("--text", default="", help="Reason in words (published with the change)."),
    ]
    if verb == "renew":
        opts.append(
            click.option("--valid-until", type=DATE, required=True, help="New end of validity.")
        )
    if verb == "correct":
        opts.append(
            click.option(
                "--set",
                "sets",
                multiple=True,
                metavar="FIELD=VALUE",
                help="A corrected field (repeat); the rest is kept as it stands.",
            )
        )
    for opt in reversed(opts):
        command = opt(command)
    return click.command(verb)(command)


for _verb in _VERBS:
    status_group.add_command(_make(_verb))
