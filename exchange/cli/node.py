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
from exchange.cli.lang import region_text, tr
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


def _origin_text(origin: str) -> str:
    """``yrd/330000 浙江省 (330000)``: an origin with its member's region named."""
    return f"{origin} {region_text(origin.rpartition('/')[2])}"


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
    expired = st.federation_expired
    if fmt == "json":
        emit_one(st.wire, [], "json")
        if expired:
            sys.exit(1)
        return
    click.echo(
        tr(
            "node {name} ({origin}, {region}) at {node}, up since {since}",
            name=st.name,
            origin=st.origin,
            region=region_text(st.origin.rpartition("/")[2]),
            node=client.address,
            since=st.started_at,
        )
    )
    if st.federation_version:
        click.echo(tr("federation document version {v}", v=st.federation_version))
    if st.federation_warning:
        click.echo(f"!!! {st.federation_warning}")
    for ev in st.governance_evidence:
        click.echo(
            tr(
                "!!! refused federation document version {v} from {source} ({kind}, {at}): "
                "{detail}",
                v=ev.version,
                source=ev.source,
                kind=ev.kind,
                at=ev.recorded_at,
                detail=ev.detail,
            )
        )
    human = fmt == "table"
    # A table speaks the run's language; CSV cells stay English whatever it is.
    say = tr if human else (lambda message, **fields: message.format(**fields))
    rows = [
        {
            "origin": f"{o.origin} {region_text(o.origin.rpartition('/')[2])}"
            if human
            else o.origin,
            "size": o.size,
            "cosigners": len(o.cosigners),
            "violations": o.violations,
            "state": (
                say("FROZEN: {why}", why=o.frozen_reason)
                if o.frozen
                else say("indexing: {n}/{size} searchable", n=o.indexed, size=o.size)
                if o.indexed < o.size
                else say("ok")
            ),
        }
        for o in st.origins
    ]
    emit(rows, ["origin", "size", "cosigners", "violations", "state"], fmt)
    if st.violations:
        click.echo("")
        click.echo(tr("latest rule violations (kept in the log, not applied to the registry):"))
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
                    "region": region_text(p.region) if human else p.region,
                    "reachable": (
                        say("backing off until {t} (served invalid data)", t=p.backoff_until)
                        if p.backoff_until
                        else say("yes")
                        if p.reachable
                        else say("no")
                    ),
                    "lag": lag,
                    "last_sync": p.last_sync,
                    "last_error": p.last_error[:60],
                }
            )
        emit(peers, ["peer", "region", "reachable", "lag", "last_sync", "last_error"], fmt)
    if st.evidence:
        click.echo("")
        click.echo(
            tr(
                "!!! EQUIVOCATION EVIDENCE: {n} conflicting checkpoint pair(s)",
                n=len(st.evidence),
            )
        )
        for ev in st.evidence:
            click.echo(f"!!! {ev.origin} (from {ev.source} at {ev.detected_at}): {ev.detail}")
        sys.exit(1)
    if expired:
        sys.exit(1)


def _config_option(fn):
    return click.option(
        "--config",
        "config",
        envvar="BRANDEX_CONFIG",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="The node's config (or $BRANDEX_CONFIG): names its database and anchors.",
    )(fn)


@node_group.command("backup")
@_config_option
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@output_option(help="Output format (json: the whole manifest).")
@handle_errors
def backup(config: Path, out: Path, fmt: str) -> None:
    """Copy the node's database into the new directory OUT while the node runs.

    OUT gets brandex.sqlite (SQLite's online backup: the database as of one
    commit) and manifest.json (each origin's size, root and signed checkpoint,
    the copy's SHA-256, the brandex version and the time). Run it on the node's
    machine; the node keeps serving and writing meanwhile.

    Example: brandex node backup --config nodes/zhejiang.toml /backups/zj-2026-11-30
    """
    from datetime import UTC, datetime

    from exchange.node.backup import take_backup

    cfg = load_config(config)
    manifest = take_backup(
        cfg.database, out, node=cfg.name, origin=cfg.origin, now=datetime.now(UTC)
    )
    if fmt == "json":
        emit_one(manifest, [], "json")
    else:
        emit(manifest["origins"], ["origin", "size", "root", "frozen"], fmt)
    click.echo(
        tr("backed up {n} origin(s) to {path}", n=len(manifest["origins"]), path=out), err=True
    )


@node_group.command("restore")
@_config_option
@click.argument("backup_dir", metavar="BACKUP", type=click.Path(file_okay=False, path_type=Path))
@output_option
@handle_errors
def restore(config: Path, backup_dir: Path, fmt: str) -> None:
    """Verify the backup BACKUP and write it over the node's (stopped) database.

    Every log in the backup is verified from its first entry against the
    federation's anchors and its signed checkpoint; one that does not verify
    refuses the whole restore (exit 1) and nothing is written. A database a
    running node holds is never overwritten (exit 1). Start the node
    afterwards: it fetches from its peers what the backup lacks.

    Example: brandex node restore --config nodes/zhejiang.toml /backups/zj-2026-11-30
    """
    from datetime import UTC, datetime

    from exchange.node.backup import restore_backup
    from exchange.node.identity import load_anchors

    cfg = load_config(config)
    _, anchors = load_anchors(cfg.anchors)
    checks = restore_backup(backup_dir, cfg.database, anchors, datetime.now(UTC))
    rows = [
        {"origin": c.origin, "size": c.size, "root": c.root.hex(), "keys": c.keys} for c in checks
    ]
    emit(rows, ["origin", "size", "root", "keys"], fmt)
    click.echo(
        f"restored {len(checks)} verified origin(s) into {cfg.database}; start the node"
        " to catch up from its peers",
        err=True,
    )


@node_group.command("evidence")
@client_options
@output_option(help="Output format (json: both signed notes of each pair, for the federation).")
@handle_errors
def evidence(config_path, node_addr, cert, key, fmt) -> None:
    """Equivocation evidence a node holds: both conflicting signed checkpoints of each pair.

    The notes are exactly as their issuer signed them, so anyone holding the
    federation's keys can check them; send the JSON to the other members.
    Exits 1 when there is evidence (as node status does).

    Example: brandex node evidence --config nodes/anhui.toml --format json > evidence.json
    """
    client = connect(config_path, node_addr, cert, key)
    st = client.node_status()
    cols = ["origin", "detected_at", "source", "detail", "note_a", "note_b"]
    rows = [{c: getattr(ev, c) for c in cols} for ev in st.evidence]
    emit(rows, cols if fmt != "table" else cols[:4], fmt)
    if rows:
        sys.exit(1)


@node_group.command("unfreeze")
@_config_option
@click.argument("origin")
@click.option(
    "--decision",
    required=True,
    help="What the federation decided (kept with the evidence), e.g. a resolution number.",
)
@click.option(
    "--refetch",
    is_flag=True,
    help="This node's copy is the wrong branch: drop it and fetch the log anew from peers.",
)
@output_option
@handle_errors
def unfreeze(config: Path, origin: str, decision: str, refetch: bool, fmt: str) -> None:
    """Let a frozen ORIGIN sync again once the federation has decided (node stopped).

    Without --refetch the copy this node holds is kept (it is the honest log);
    with it, the copy is dropped and fetched again when the node starts. The
    evidence stays in the database, marked resolved with the decision.

    Example: brandex node unfreeze --config nodes/anhui.toml yrd/330000 --decision "yrd 2026-17"
    """
    from exchange.node.maintenance import unfreeze_origin

    cfg = load_config(config)
    done = unfreeze_origin(cfg.database, origin, decision, refetch=refetch, own_origin=cfg.origin)
    emit_one(done, list(done), fmt)
