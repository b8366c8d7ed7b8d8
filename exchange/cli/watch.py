"""``brandex watch``: follow a brand, an enterprise, a record or a region as it changes.

The node streams events (``WatchService.Watch``); this command prints each one,
optionally runs a hook per event, and keeps the last cursor: when the stream
breaks (the node restarts, the network drops) it reconnects with that cursor,
so nothing is printed twice and nothing is missed.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import click

from exchange.cli.common import client_options, connect, handle_errors, output_option
from exchange.cli.lang import tr
from exchange.client import RemoteError
from exchange.client.types import WatchEvent

__all__ = ["watch"]

#: Failures after which the watch reconnects (the node went away or is busy);
#: any other status (a refused certificate, a bad filter) ends the command.
_RETRY = {
    "UNAVAILABLE",
    "CANCELLED",
    "DEADLINE_EXCEEDED",
    "RESOURCE_EXHAUSTED",
    "UNKNOWN",
    "INTERNAL",
}
_MAX_BACKOFF = 10.0


def event_dict(ev: WatchEvent) -> dict[str, Any]:
    """Every field of an event, defaults included (a stable shape for scripts)."""
    return dataclasses.asdict(ev)


def event_line(ev: WatchEvent) -> str:
    where = f"{ev.origin}#{ev.index}" if ev.origin else "-"
    what = f"{ev.issuer}/{ev.record_id}" if ev.record_id else (ev.case_id or "-")
    return "  ".join(
        x for x in (ev.issued_at, ev.kind, where, what, ev.brand_name, ev.status, ev.summary) if x
    )


def run_hook(cmd: str, ev: WatchEvent) -> None:
    """Run ``cmd`` (a shell command line) with the event as JSON on stdin and in the
    environment: BRANDEX_EVENT (the JSON) and BRANDEX_EVENT_<FIELD> per field."""
    doc = event_dict(ev)
    text = json.dumps(doc, ensure_ascii=False)
    env = dict(os.environ, BRANDEX_EVENT=text)
    env.update({f"BRANDEX_EVENT_{k.upper()}": str(v) for k, v in doc.items()})
    done = subprocess.run(cmd, shell=True, input=text, text=True, env=env, check=False)
    if done.returncode != 0:
        click.echo(
            f"watch: hook exited {done.returncode} for {ev.kind} {ev.origin}#{ev.index}", err=True
        )


@click.command("watch")
@client_options
@click.option("--brand", default="", help="Brand name, or part of it (Chinese or Latin).")
@click.option("--uscc", default="", help="The enterprise's unified social credit code.")
@click.option("--record", "record", default="", metavar="ISSUER/ID", help="One record.")
@click.option("--region", default="", help="Everything issued by this region (and its alerts).")
@output_option(help="table: one line per event; json: one JSON object per line; csv: one row.")
@click.option(
    "--exec",
    "hook",
    default=None,
    metavar="CMD",
    help="Run CMD (via the shell) per event: the event JSON on stdin and in $BRANDEX_EVENT, "
    "each field in $BRANDEX_EVENT_<FIELD> (e.g. $BRANDEX_EVENT_KIND).",
)
@click.option("--cursor", default="", help="Resume after this cursor (from a JSON event).")
@click.option(
    "--cursor-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Resume from the cursor kept in this file, and keep the latest one there.",
)
@click.option("--limit", default=0, type=click.IntRange(min=0), help="Stop after N events.")
@handle_errors
def watch(
    config_path,
    node_addr,
    cert,
    key,
    brand: str,
    uscc: str,
    record: str,
    region: str,
    fmt: str,
    hook: str | None,
    cursor: str,
    cursor_file: Path | None,
    limit: int,
) -> None:
    """Stream changes as the node mirrors them: new recognitions, status changes,
    cases, rule violations and equivocation alerts (every watch gets those).

    Reconnects by itself, resuming where it stopped; Ctrl-C ends it.

    Example: brandex watch --config nodes/anhui.toml --brand 宋河 --exec ./notify.sh
    """
    if sum(bool(x) for x in (brand, uscc, record, region)) > 1:
        raise click.UsageError("give one of --brand, --uscc, --record, --region")
    ref = None
    if record:
        issuer, sep, record_id = record.partition("/")
        if not sep or not issuer or not record_id:
            raise click.UsageError("--record takes ISSUER/ID, e.g. 330000/ZJ-2024-001")
        ref = (issuer, record_id)
    if cursor_file is not None and not cursor and cursor_file.exists():
        cursor = cursor_file.read_text(encoding="utf-8").strip()
    client = connect(config_path, node_addr, cert, key)
    seen, delay = 0, 0.5
    try:
        while True:
            events = client.watch(brand=brand, uscc=uscc, record=ref, region=region, cursor=cursor)
            try:
                for ev in events:
                    delay = 0.5
                    if ev.kind != "cursor":
                        _print(ev, fmt, header=seen == 0)
                        if hook:
                            run_hook(hook, ev)
                        seen += 1
                    cursor = ev.cursor  # only once the event is handled
                    if cursor_file is not None:
                        _keep(cursor_file, cursor)
                    if limit and seen >= limit:
                        return
                why = "the node ended the stream"
            except RemoteError as exc:
                if exc.code not in _RETRY:
                    raise
                why = f"{exc.code}: {exc.details}"
            click.echo(
                tr("watch: {why}; reconnecting in {delay:g}s", why=why, delay=delay), err=True
            )
            time.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF)
    except KeyboardInterrupt:
        return
    finally:
        client.channel.close()


def _print(ev: WatchEvent, fmt: str, *, header: bool) -> None:
    if fmt == "json":
        click.echo(json.dumps(event_dict(ev), ensure_ascii=False))
    elif fmt == "csv":
        doc = event_dict(ev)
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(doc))
        if header:
            w.writeheader()
        w.writerow(doc)
        click.echo(buf.getvalue(), nl=False)
    else:
        click.echo(event_line(ev))


def _keep(path: Path, cursor: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(cursor + "\n", encoding="utf-8")
    tmp.replace(path)
