"""``brandex keys``: rotate the node's signing key; revoke a compromised one."""

from __future__ import annotations

from pathlib import Path

import click

from exchange.cli.common import (
    client_options,
    connect,
    emit_one,
    handle_errors,
    output_option,
)
from exchange.cli.lang import tr
from exchange.cli.options import refusals
from exchange.core.keys import parse_time
from exchange.pki import certify_signing_key

__all__ = ["keys_group"]


@click.group("keys")
def keys_group() -> None:
    """The region's entry-signing keys: rotation and revocation (operator certificate).

    A rotation is announced in the log, signed by the old key; from the next
    entry on only the new key signs. A revocation, signed by the new key,
    declares an old key compromised since a time: entries it signed from then
    on are flagged as suspect on every node and not applied to the registry.

    Example: brandex keys rotate --config nodes/zhejiang.toml --anchor-dir certs/yrd
    """


@keys_group.command("rotate")
@click.option(
    "--anchor-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Federation directory holding the anchor key: certify a new key here (the demo's "
    "way; in production the anchor's holder runs this part).",
)
@click.option(
    "--new-key",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A new Ed25519 key (PKCS#8 PEM) already certified by the anchor.",
)
@click.option(
    "--new-cert",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The certificate of --new-key.",
)
@click.option("--member", default=None, help="Member name in --anchor-dir (default: the node's).")
@client_options
@output_option
@handle_errors
def rotate(anchor_dir, new_key, new_cert, member, config_path, node_addr, cert, key, fmt) -> None:
    """Announce a new signing key in the log and switch the node to it.

    The node reads the new key from its own disk (the private key never crosses
    the wire), writes the announcement signed by the current key, signs the
    checkpoint with the new key and moves the files: the configured key path
    then holds the new key, the old one stays beside it as ``*.retired-<id>``.

    Example: brandex keys rotate --config nodes/zhejiang.toml --anchor-dir certs/yrd
    """
    client = connect(config_path, node_addr, cert, key)
    if anchor_dir is not None:
        if new_key or new_cert:
            raise click.UsageError("give either --anchor-dir or --new-key/--new-cert, not both")
        new_key, new_cert = certify_signing_key(
            anchor_dir, member or client.config.name, client.config.signing_key.parent
        )
    elif not (new_key and new_cert):
        raise click.UsageError("give --anchor-dir, or both --new-key and --new-cert")
    with refusals():
        resp = client.rotate_key(str(Path(new_key).resolve()), str(Path(new_cert).resolve()))
    row = {"result": "rotated", "origin": resp.origin, "index": resp.index}
    if fmt == "table":
        click.echo(
            tr(
                "rotated: {origin} entry #{i} announces the new key, signed by the old one;"
                " everything after is signed by the new key",
                origin=resp.origin,
                i=resp.index,
            )
        )
    else:
        emit_one(row, list(row), fmt)


@keys_group.command("revoke")
@click.argument("keyid")
@click.option(
    "--compromised-since",
    required=True,
    metavar="TIME",
    help="RFC 3339 time from which the key's signatures are not trusted.",
)
@click.option("--reason", default="", help="Why, in words.")
@client_options
@output_option
@handle_errors
def revoke(keyid, compromised_since, reason, config_path, node_addr, cert, key, fmt) -> None:
    """Revoke an earlier signing key of this region (KEYID: 8+ hex digits of its id).

    The current key signs the revocation, so rotate away from a compromised key
    first. Entries the revoked key signed with an issued_at at or after the time
    given become suspect on every node: kept in the log, flagged in `show`,
    `check`, `audit log` and bundles, never applied to the registry.

    Example: brandex keys revoke 3f2a9c81 --config nodes/wenzhou.toml
    --compromised-since 2026-11-29T10:00:00Z --reason 私钥泄露
    """
    try:
        since = parse_time(compromised_since, "--compromised-since")
    except Exception as exc:
        raise click.BadParameter(str(exc), param_hint="--compromised-since") from None
    client = connect(config_path, node_addr, cert, key)
    with refusals():
        resp = client.revoke_key(keyid, since.isoformat(), reason)
    row = {"result": "revoked", "keyid": keyid, "origin": resp.origin, "index": resp.index}
    if fmt == "table":
        click.echo(
            tr(
                "revoked: key {keyid} of {origin}, compromised since {since} (entry #{i})",
                keyid=keyid,
                origin=resp.origin,
                since=since.isoformat(),
                i=resp.index,
            )
        )
    else:
        emit_one(row, list(row), fmt)
