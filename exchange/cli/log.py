"""``brandex log``: checkpoints, proofs and verifier keys, in the standard formats."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

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
from exchange.cli.options import ORIGIN
from exchange.core import merkle
from exchange.core.cosignature import CosignatureVerifier, witness_name
from exchange.core.errors import ValidationError, VerificationError
from exchange.core.note import Ed25519NoteVerifier
from exchange.node.identity import load_anchors
from exchange.node.verify import verify_log

__all__ = ["log_group"]


@click.group("log")
def log_group() -> None:
    """Read a node's logs: signed checkpoints, inclusion proofs, verifier keys.

    Example: brandex log checkpoint yrd/330000 --config nodes/anhui.toml
    """


@log_group.command("checkpoint")
@click.argument("origin", type=ORIGIN)
@client_options
@output_option(help="Output format (table: the signed note as it stands).")
@handle_errors
def checkpoint(origin, config_path, node_addr, cert, key, fmt) -> None:
    """Print ORIGIN's latest signed checkpoint note, cosignatures included.

    Example: brandex log checkpoint yrd/330000 --config nodes/anhui.toml
    """
    client = connect(config_path, node_addr, cert, key)
    st = client.checkpoint(origin)
    if fmt == "table":
        click.echo(st.checkpoint, nl=False)
        return
    row = {"origin": st.origin, "size": st.size, "checkpoint": st.checkpoint}
    emit_one(row, list(row), fmt)


@log_group.command("proof")
@click.argument("origin", type=ORIGIN)
@click.argument("index", type=int)
@client_options
@output_option(help="Output format (table: the tlog-proof as it stands).")
@handle_errors
def proof(origin, index, config_path, node_addr, cert, key, fmt) -> None:
    """Print a C2SP tlog-proof that entry INDEX is in ORIGIN's log.

    Example: brandex log proof yrd/330000 5 --config nodes/anhui.toml
    """
    client = connect(config_path, node_addr, cert, key)
    resp = client.inclusion_proof(origin, index)
    if fmt == "table":
        click.echo(resp.tlog_proof, nl=False)
        return
    row = {"origin": origin, "index": resp.index, "tlog_proof": resp.tlog_proof}
    emit_one(row, list(row), fmt)


def _root(value: str | None, flag: str) -> bytes | None:
    if value is None:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(flag, "must be base64", value) from None
    if len(raw) != 32:
        raise ValidationError(flag, f"must be a 32-byte SHA-256 root, not {len(raw)} bytes")
    return raw


@log_group.command("consistency")
@click.option("--origin", type=ORIGIN, required=True, help="The log, e.g. yrd/330000.")
@click.option("--old", "old", type=click.IntRange(min=1), required=True, help="Older tree size.")
@click.option("--new", "new", type=click.IntRange(min=1), required=True, help="Newer tree size.")
@click.option("--old-root", help="Base64 root hash at the old size (with --new-root: verify).")
@click.option("--new-root", help="Base64 root hash at the new size (with --old-root: verify).")
@client_options
@output_option
@handle_errors
def consistency(
    origin, old, new, old_root, new_root, config_path, node_addr, cert, key, fmt
) -> None:
    """Print the RFC 9162 consistency proof between two sizes of a log, one base64 hash a line.

    Given both roots (base64, e.g. from two checkpoints), the proof is also
    verified: exit 0 when the old tree is a prefix of the new one, 1 when not.

    Example: brandex log consistency --origin yrd/330000 --old 5 --new 9 --config nodes/anhui.toml
    """
    root1, root2 = _root(old_root, "--old-root"), _root(new_root, "--new-root")
    if (root1 is None) != (root2 is None):
        raise ValidationError("--old-root/--new-root", "give both roots to verify, or neither")
    client = connect(config_path, node_addr, cert, key)
    hashes = client.consistency_proof(origin, old, new)
    proof = [base64.b64encode(h).decode() for h in hashes]
    verified = None
    if root1 is not None and root2 is not None:
        merkle.verify_consistency(old, new, hashes, root1, root2)
        verified = True
    if fmt == "table":
        for line in proof:
            click.echo(line)
        if verified:
            click.echo(
                tr(
                    "verified: {origin} at {old} is a prefix of {origin} at {new}",
                    origin=origin,
                    old=old,
                    new=new,
                ),
                err=True,
            )
    elif fmt == "json":
        row = {"origin": origin, "old": old, "new": new, "proof": proof, "verified": verified}
        emit_one(row, list(row), fmt)
    else:
        emit([{"hash": h} for h in proof], ["hash"], fmt)


def federation_keys(client) -> list[tuple[str, bytes]]:
    """(origin, raw key) of every origin's current key, by its verified key history.

    Each log is read whole and run through the same key and time rules a node
    applies (``verify_log``); the key that signs the log's latest checkpoint is
    the one listed.
    """
    _, anchors = load_anchors(client.config.anchors)
    out = []
    for o in client.origins():
        envelopes = [raw for _, raw in client.entries(o.origin, 0, o.size)]
        history = verify_log(o.origin, envelopes, anchors, datetime.now(UTC))
        life = history.checkpoint_signer(len(envelopes))
        if life is None:
            raise VerificationError(f"{o.origin}: no key signs its log")
        out.append((o.origin, life.public_key))
    return out


@log_group.command("vkeys")
@client_options
@output_option(help="Output format (table: one verifier key a line, log key then witness key).")
@handle_errors
def vkeys(config_path, node_addr, cert, key, fmt) -> None:
    """Print the federation's C2SP verifier keys: each log key, then each witness key.

    Each log is read and verified whole (key announcements against the trust
    anchors, rotations and revocations, every signature); the key printed is
    the one that signs the log now.

    Example: brandex log vkeys --config nodes/zhejiang.toml > vkeys.txt
    """
    from exchange.core.ed25519 import VerifyKey

    client = connect(config_path, node_addr, cert, key)
    rows = [
        {
            "origin": origin,
            "log_vkey": Ed25519NoteVerifier(origin, VerifyKey(public)).vkey_string(),
            "witness_vkey": CosignatureVerifier(
                witness_name(origin), VerifyKey(public)
            ).vkey_string(),
        }
        for origin, public in federation_keys(client)
    ]
    if fmt != "table":
        emit(rows, ["origin", "log_vkey", "witness_vkey"], fmt)
        return
    for row in rows:
        click.echo(row["log_vkey"])
        click.echo(row["witness_vkey"])
