"""``brandex node``: run a node, and ask one how it is doing."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from exchange.cli.common import (
    client_options,
    connect,
    emit,
    emit_one,
    handle_errors,
    output_option,
)
from exchange.core.errors import BrandexError
from exchange.node.config import NODE_FILES, load_config

__all__ = ["node_group"]


@click.group("node")
def node_group() -> None:
    """Run a node and inspect running nodes.

    Example: brandex node run --config nodes/zhejiang.toml
    """


@node_group.command("run")
@click.argument(
    "legacy_config",
    metavar="[CONFIG]",
    required=False,
    type=click.Path(dir_okay=False, path_type=Path),
)
@click.option(
    "--config",
    "config",
    envvar="BRANDEX_CONFIG",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The node's config (or $BRANDEX_CONFIG); a positional CONFIG still works, deprecated.",
)
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
)
@click.option(
    "--log-format",
    default="json",
    show_default=True,
    type=click.Choice(["json", "text"]),
    help="json: one JSON object per line (for log collectors); text: for people.",
)
def run(legacy_config: Path | None, config: Path | None, log_level: str, log_format: str) -> None:
    """Run the node described by --config until SIGTERM or Ctrl-C.

    Logs go to stderr, one line per event: each RPC with its method, caller
    certificate, peer address, duration and status code.

    Example: brandex node run --config nodes/zhejiang.toml --log-format text
    """
    from exchange.node.observe import configure_logging
    from exchange.node.server import run_node

    if legacy_config is not None:
        if config is not None and config != legacy_config:
            raise click.UsageError("give the config once: --config FILE")
        click.echo(
            f"note: 'brandex node run {legacy_config}' is deprecated;"
            f" use 'brandex node run --config {legacy_config}'",
            err=True,
        )
        config = legacy_config
    if config is None:
        raise click.UsageError("give --config nodes/<name>.toml (or set BRANDEX_CONFIG)")

    configure_logging(log_level, log_format)
    try:
        node_config = load_config(config)
        node_config.require_files(*NODE_FILES)
        run_node(node_config)
    except BrandexError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:  # unreadable key files and the like: one line, no traceback
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@node_group.command("status")
@client_options
@output_option
@handle_errors
def status(config_path, node_addr, cert, key, fmt) -> None:
    """Origins and sizes, cosigners, rule violations, peers and their lag, equivocation evidence.

    Example: brandex node status --config nodes/anhui.toml --node 127.0.0.1:7340
    """
    client = connect(config_path, node_addr, cert, key)
    st = client.node_status()
    if fmt == "json":
        emit_one(st.wire, [], "json")
        return
    click.echo(f"node {st.name} ({st.origin}) at {client.address}, up since {st.started_at}")
    rows = [
        {
            "origin": o.origin,
            "size": o.size,
            "cosigners": len(o.cosigners),
            "violations": o.violations,
            "state": (
                "FROZEN: " + o.frozen_reason
                if o.frozen
                else f"indexing: {o.indexed}/{o.size} searchable"
                if o.indexed < o.size
                else "ok"
            ),
        }
        for o in st.origins
    ]
    emit(rows, ["origin", "size", "cosigners", "violations", "state"], fmt)
    if st.violations:
        click.echo("")
        click.echo("latest rule violations (kept in the log, not applied to the registry):")
        for v in st.violations:
            click.echo(f"  {v.origin} #{v.index} {v.rule}: {v.message}")
    sizes = {o.origin: o.size for o in st.origins}
    if st.peers:
        click.echo("")
        peers = []
        for p in st.peers:
            lag = sum(max(0, n - sizes.get(o, 0)) for o, n in p.sizes.items())
            peers.append(
                {
                    "peer": p.address,
                    "region": p.region,
                    "reachable": (
                        f"backing off until {p.backoff_until} (served invalid data)"
                        if p.backoff_until
                        else "yes"
                        if p.reachable
                        else "no"
                    ),
                    "lag": lag,
                    "last_sync": p.last_sync,
                    "last_error": p.last_error[:60],
                }
            )
        emit(peers, ["peer", "region", "reachable", "lag", "last_sync", "last_error"], fmt)
    if st.evidence:
        click.echo("")
        click.echo(f"!!! EQUIVOCATION EVIDENCE: {len(st.evidence)} conflicting checkpoint pair(s)")
        for ev in st.evidence:
            click.echo(f"!!! {ev.origin} (from {ev.source} at {ev.detected_at}): {ev.detail}")
        sys.exit(1)
