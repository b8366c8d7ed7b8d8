"""``brandex log``: checkpoints, proofs and verifier keys, in the standard formats."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from exchange._proto.brandex.v1 import entries_pb2, services_pb2, services_pb2_grpc
from exchange.cli.common import client_options, connect, handle_errors
from exchange.core import x509
from exchange.core.cosignature import CosignatureVerifier, witness_name
from exchange.core.dsse import parse_envelope
from exchange.core.errors import VerificationError
from exchange.core.note import Ed25519NoteVerifier
from exchange.node.identity import load_anchors

__all__ = ["log_group"]


@click.group("log")
def log_group() -> None:
    """Read a node's logs: signed checkpoints, inclusion proofs, verifier keys.

    Example: brandex log checkpoint yrd/330000 --config nodes/anhui.toml
    """


@log_group.command("checkpoint")
@click.argument("origin")
@client_options
@handle_errors
def checkpoint(origin, config_path, node_addr, cert, key) -> None:
    """Print ORIGIN's latest signed checkpoint note, cosignatures included.

    Example: brandex log checkpoint yrd/330000 --config nodes/anhui.toml
    """
    client = connect(config_path, node_addr, cert, key)
    st = client.stub(services_pb2_grpc.LogServiceStub).GetCheckpoint(
        services_pb2.GetCheckpointRequest(origin=origin), timeout=30
    )
    click.echo(st.checkpoint, nl=False)


@log_group.command("proof")
@click.argument("origin")
@click.argument("index", type=int)
@client_options
@handle_errors
def proof(origin, index, config_path, node_addr, cert, key) -> None:
    """Print a C2SP tlog-proof that entry INDEX is in ORIGIN's log.

    Example: brandex log proof yrd/330000 5 --config nodes/anhui.toml
    """
    client = connect(config_path, node_addr, cert, key)
    resp = client.stub(services_pb2_grpc.AuditServiceStub).GetInclusionProof(
        services_pb2.InclusionRequest(origin=origin, index=index), timeout=30
    )
    click.echo(resp.tlog_proof, nl=False)


def federation_keys(client) -> list[tuple[str, bytes]]:
    """(origin, raw key) for every origin, from each log's verified key announcements."""
    _, anchors = load_anchors(client.config.anchors)
    stub = client.stub(services_pb2_grpc.LogServiceStub)
    out = []
    for o in stub.ListOrigins(services_pb2.ListOriginsRequest(), timeout=30).origins:
        region = o.origin.rpartition("/")[2]
        batches = stub.GetEntries(
            services_pb2.GetEntriesRequest(origin=o.origin, start=0, end=1), timeout=30
        )
        for batch in batches:
            for raw in batch.envelopes:
                entry = entries_pb2.Entry.FromString(parse_envelope(raw).payload)
                if entry.WhichOneof("body") != "key_announcement":
                    raise VerificationError(f"{o.origin} does not start with a key announcement")
                ka = entry.key_announcement
                chain = x509.load_pem_chain("".join(ka.certificate_chain_pem).encode())
                public = x509.verify_signing_certificate(
                    chain[0], chain[1:], anchors, at=datetime.now(UTC), region=region
                )
                out.append((o.origin, public))
    return out


@log_group.command("vkeys")
@client_options
@handle_errors
def vkeys(config_path, node_addr, cert, key) -> None:
    """Print the federation's C2SP verifier keys: each log key, then each witness key.

    Keys are taken from each log's key announcement and checked against the
    trust anchors before they are printed.

    Example: brandex log vkeys --config nodes/zhejiang.toml > vkeys.txt
    """
    from nacl.signing import VerifyKey

    client = connect(config_path, node_addr, cert, key)
    for origin, public in federation_keys(client):
        click.echo(Ed25519NoteVerifier(origin, VerifyKey(public)).vkey_string())
        click.echo(CosignatureVerifier(witness_name(origin), VerifyKey(public)).vkey_string())
