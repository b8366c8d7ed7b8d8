"""``brandex web``: run the staff console of a node, make its staff certificate, manage users."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from exchange.cli.common import EXIT_USAGE, emit, handle_errors, output_option

__all__ = ["web_group"]


def _config_option(fn):
    return click.option(
        "--config",
        "config_path",
        envvar="BRANDEX_CONFIG",
        required=True,
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        help="The node's config (its [web] table; or $BRANDEX_CONFIG).",
    )(fn)


def _load(config_path: Path):
    from exchange.node.config import load_config

    return load_config(config_path)


@click.group("web", invoke_without_command=True)
@click.option(
    "--config",
    "config_path",
    envvar="BRANDEX_CONFIG",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The node's config (its [web] table; or $BRANDEX_CONFIG).",
)
@click.option(
    "--listen",
    metavar="HOST:PORT",
    default=None,
    help="Where to serve [default: [web] listen, else 127.0.0.1:8080].",
)
@click.pass_context
@handle_errors
def web_group(ctx: click.Context, config_path: Path | None, listen: str | None) -> None:
    """The staff console: search, records, "is it recognised here?", in a browser.

    Without a subcommand, serves the console of the node in --config (loopback
    by default; HTTPS when [web] tls_cert/tls_key are set) until Ctrl-C. It reads
    from its node with the staff certificate ('brandex web cert'); staff log in
    with accounts made by 'brandex web user add'. See docs/console.md.

    \b
    Example:
      brandex web --config nodes/anhui.toml --listen 127.0.0.1:8080
    """
    if ctx.invoked_subcommand is not None:
        return
    if config_path is None:
        raise click.UsageError("give --config nodes/<name>.toml (or set BRANDEX_CONFIG)")
    from exchange.web.server import serve

    with contextlib.suppress(KeyboardInterrupt):
        serve(_load(config_path), listen)


@web_group.command("cert")
@_config_option
@click.option(
    "--anchor-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory of the anchor key that certifies this member [default: the folder of the "
    "config's first anchor].",
)
@handle_errors
def cert_command(config_path: Path, anchor_dir: Path | None) -> None:
    """Issue the console's staff certificate (read-only role, urn:brandex:staff:REGION).

    Written as staff.pem and staff.key (0600) beside the operator certificate,
    where 'brandex web' looks for them ([web] staff_cert/staff_key elsewhere).

    \b
    Example:
      brandex web cert --config nodes/anhui.toml
    """
    from exchange import pki
    from exchange.web.server import web_files

    config = _load(config_path)
    files = web_files(config)
    anchors = anchor_dir or config.anchors[0].parent
    key, cert = pki.issue_staff_certificate(
        anchors, config.region, files.staff_cert.parent, config.name
    )
    if (key, cert) != (files.staff_key, files.staff_cert):
        key.replace(files.staff_key)
        cert.replace(files.staff_cert)
    click.echo(f"staff certificate for region {config.region}: {files.staff_cert}")


@web_group.group("user")
def user_group() -> None:
    """Console accounts (kept in the console's own users.db).

    \b
    Example:
      brandex web user list --config nodes/anhui.toml
    """


def _accounts(config_path: Path):
    from exchange.web.server import open_accounts

    return open_accounts(_load(config_path))


@user_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["staff", "auditor"]), default="staff", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@_config_option
@handle_errors
def user_add(name: str, role: str, password_stdin: bool, config_path: Path) -> None:
    """Add an account; the password is asked for (twice) unless --password-stdin.

    \b
    Example:
      brandex web user add wang --role staff --config nodes/anhui.toml
    """
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        click.echo("error: a password needs at least 8 characters", err=True)
        sys.exit(EXIT_USAGE)
    accounts = _accounts(config_path)
    try:
        accounts.add(name, role, password)
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    finally:
        accounts.users.close()
    click.echo(f"user {name} added ({role})")


@user_group.command("list")
@_config_option
@output_option
@handle_errors
def user_list(config_path: Path, fmt: str) -> None:
    """List the accounts: name, role, created, failed logins, locked until.

    \b
    Example:
      brandex web user list --config nodes/anhui.toml --format json
    """
    accounts = _accounts(config_path)
    try:
        rows = [
            {
                "name": u.name,
                "role": u.role,
                "created_at": u.created_at,
                "failures": u.failures,
                "locked_until": u.locked_until,
            }
            for u in accounts.users.all()
        ]
    finally:
        accounts.users.close()
    emit(rows, ["name", "role", "created_at", "failures", "locked_until"], fmt)


@user_group.command("remove")
@click.argument("name")
@_config_option
@handle_errors
def user_remove(name: str, config_path: Path) -> None:
    """Remove an account (its open sessions end at their next request).

    \b
    Example:
      brandex web user remove wang --config nodes/anhui.toml
    """
    accounts = _accounts(config_path)
    try:
        accounts.users.remove(name)
    finally:
        accounts.users.close()
    click.echo(f"user {name} removed")
