"""``brandex federation``: the signed membership document, proposed, signed and published.

Every change follows the same path: one member proposes the next version
(``propose``: an unsigned file), each member signs the file it received with
its own governance key (``sign``), and any member publishes it to its node
(``publish``), which checks it against the chain before accepting and logs it.
Nodes fetch accepted versions from each other. ``verify`` checks a chain
offline from the bootstrap version, for auditors.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization

from exchange.cli.common import (
    client_options,
    connect,
    emit,
    emit_one,
    handle_errors,
    output_option,
)
from exchange.cli.lang import tr
from exchange.cli.options import refusals
from exchange.core import federation as fd
from exchange.core import x509
from exchange.core.errors import BrandexError
from exchange.core.keys import parse_time
from exchange.federation_files import (
    member_from_dir,
    policy_for,
    read_document,
    write_document,
)
from exchange.pki import load_governance_key

__all__ = ["federation_group"]

_file = click.Path(dir_okay=False, exists=True, path_type=Path)


def _named_addresses(values: tuple[str, ...], flag: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in values:
        name, sep, address = v.partition("=")
        if not sep or not name or not address:
            raise click.BadParameter(f"{v!r} is not NAME=HOST:PORT", param_hint=flag)
        out.setdefault(name, []).append(address)
    return out


@click.group("federation")
def federation_group() -> None:
    """The federation document: members, keys, witness policy, signed by the members.

    Version N+1 needs signatures by the threshold of version N's members and of
    its own. Nodes take it only through that chain, one version at a time.

    Example: brandex federation show --config nodes/zhejiang.toml
    """


@federation_group.command("init")
@click.option("--name", "federation", required=True, help="Federation name (e.g. yrd).")
@click.option(
    "--dir",
    "certs_dir",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Directory holding each founding member's installed files, one folder per member.",
)
@click.option(
    "--member",
    "members",
    multiple=True,
    required=True,
    metavar="NAME=HOST:PORT",
    help="A founding member (its folder in --dir) and its node address; repeat.",
)
@click.option("--anchor", "anchors", multiple=True, type=_file, required=True)
@click.option("--threshold", type=int, required=True, help="Signatures the next version needs.")
@click.option("--quorum", type=int, default=2, show_default=True, help="Witness quorum.")
@click.option("--days", type=int, default=365, show_default=True, help="Validity in days.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@handle_errors
def init(federation, certs_dir, members, anchors, threshold, quorum, days, out) -> None:
    """Make version 1 (unsigned): each founding member then signs it with `sign`.

    Example: brandex federation init --name yrd --dir certs/yrd --member
    zhejiang=127.0.0.1:7330 --member anhui=127.0.0.1:7340 --anchor certs/yrd/anchor.pem
    --threshold 2 --out certs/yrd/federation-1.json
    """
    addresses = _named_addresses(members, "--member")
    dirs = {n: certs_dir / n for n in addresses}
    listed = [member_from_dir(dirs[n], addresses[n], n) for n in sorted(addresses)]
    fps = [
        fd.cert_fingerprint(
            x509.load_pem_chain(a.read_bytes())[0].public_bytes(serialization.Encoding.DER)
        )
        for a in anchors
    ]
    now = datetime.now(UTC)
    body = fd.genesis_body(
        federation,
        listed,
        anchors=fps,
        threshold=threshold,
        witness_policy=policy_for(federation, dirs, quorum),
        issued_at=now,
        expires_at=now + timedelta(days=days),
    )
    write_document(out, fd.unsigned_document(body))
    click.echo(
        tr(
            "wrote {out}: {f} version 1, {n} members, threshold {t}; "
            "now each member signs it (brandex federation sign)",
            out=out,
            f=federation,
            n=len(listed),
            t=threshold,
        )
    )


@federation_group.command("propose")
@click.argument("current", type=_file)
@click.option(
    "--add",
    "add_dirs",
    multiple=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Folder of a joining (or changed) member's installed files (node.pem, operator.pem, "
    "signing.pem, governance.pub); its folder name is its member name.",
)
@click.option("--address", "addresses", multiple=True, metavar="NAME=HOST:PORT")
@click.option("--remove", "remove", multiple=True, metavar="NAME", help="A member that leaves.")
@click.option(
    "--revoke-key",
    "revoke_keys",
    multiple=True,
    metavar="KEYID@REGION@TIME",
    help="Revoke a member's signing key from TIME on (for a member that lost it).",
)
@click.option("--revoke-cert", "revoke_certs", multiple=True, metavar="SERIAL")
@click.option("--threshold", type=int, default=None)
@click.option("--quorum", type=int, default=None, help="Rewrite the witness policy: k of members.")
@click.option("--certs-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--expires", default=None, metavar="TIME", help="New expiry (RFC 3339).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@handle_errors
def propose(
    current,
    add_dirs,
    addresses,
    remove,
    revoke_keys,
    revoke_certs,
    threshold,
    quorum,
    certs_dir,
    expires,
    out,
) -> None:
    """Write the next version of CURRENT with the changes given (unsigned).

    Example: brandex federation propose certs/yrd/federation-1.json --add
    jiangxi-request/ --address jiangxi=127.0.0.1:7360 --out federation-2.json
    """
    prev = fd.parse_document(read_document(current))
    where = _named_addresses(addresses, "--address")
    added = [member_from_dir(d, where.get(d.name, []), d.name) for d in add_dirs]
    for i, m in enumerate(added):
        if not m.addresses:
            old = prev.member(m.name)
            if old is None:
                raise click.BadParameter(f"give --address {m.name}=HOST:PORT", param_hint="--add")
            added[i] = dataclasses.replace(m, addresses=old.addresses)
    revoked = []
    for text in revoke_keys:
        keyid, _, rest = text.partition("@")
        region, _, when = rest.partition("@")
        if not keyid or not region or not when:
            raise click.BadParameter(
                f"{text!r} is not KEYID@REGION@TIME", param_hint="--revoke-key"
            )
        revoked.append((keyid.lower(), region, parse_time(when, "--revoke-key time")))
    policy = None
    if quorum is not None:
        if certs_dir is None:
            raise click.UsageError("--quorum rewrites the policy from --certs-dir; give it")
        names = [m.name for m in prev.members if m.name not in remove] + [m.name for m in added]
        policy = policy_for(prev.federation, {n: certs_dir / n for n in set(names)}, quorum)
    body = fd.propose(
        prev,
        datetime.now(UTC),
        add=added,
        remove=remove,
        revoke_keys=revoked,
        revoke_certs=[s.lower() for s in revoke_certs],
        threshold=threshold,
        witness_policy=policy,
        expires_at=parse_time(expires, "--expires") if expires else None,
    )
    write_document(out, fd.unsigned_document(body))
    click.echo(
        tr(
            "wrote {out}: version {v} proposed; it needs {old_t} signatures of version "
            "{old}'s members and {t} of its own",
            out=out,
            v=prev.version + 1,
            old_t=prev.threshold,
            old=prev.version,
            t=body["threshold"],
        )
    )


@federation_group.command("sign")
@click.argument("proposal", type=_file)
@click.option("--key", "key_path", type=_file, required=True, help="Your governance key.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@handle_errors
def sign(proposal, key_path, out) -> None:
    """Add your governance signature to PROPOSAL (in place unless --out).

    Read `brandex federation show PROPOSAL` first: you sign exactly what it shows.

    Example: brandex federation sign federation-2.json --key certs/yrd/anhui/governance.key
    """
    raw = fd.sign_document(read_document(proposal), load_governance_key(key_path))
    write_document(out or proposal, raw)
    doc = fd.parse_document(raw)
    click.echo(
        tr(
            "signed version {v}: {n} signature(s) now",
            v=doc.version,
            n=len(doc.envelope.signatures),
        )
    )


@federation_group.command("publish")
@click.argument("document", type=_file)
@client_options
@output_option
@handle_errors
def publish(document, config_path, node_addr, cert, key, fmt) -> None:
    """Hand the next version to your node, which checks the chain, accepts it, logs it
    in its own log and passes it to its peers (operator certificate).

    Example: brandex federation publish federation-2.json --config nodes/zhejiang.toml
    """
    client = connect(config_path, node_addr, cert, key)
    with refusals():
        resp = client.publish_federation(read_document(document))
    row = {"result": "published", "version": resp.version, "index": resp.index}
    if fmt == "table":
        click.echo(
            tr(
                "published: version {v} accepted by {node} and logged as entry #{i} of {origin}",
                v=resp.version,
                node=client.address,
                i=resp.index,
                origin=client.config.origin,
            )
        )
    else:
        emit_one(row, list(row), fmt)


def _summary(doc: fd.FederationDoc) -> list[dict]:
    signed = set(doc.signers(doc.members))
    return [
        {
            "name": m.name,
            "region": m.region,
            "addresses": ",".join(m.addresses),
            "signing_keys": ",".join(k[:16] for k in sorted(m.signing_keys)),
            "signed": m.name in signed,
        }
        for m in doc.members
    ]


@federation_group.command("show")
@click.argument("document", type=_file, required=False)
@click.option("--save", type=click.Path(dir_okay=False, path_type=Path), default=None)
@client_options
@output_option
@handle_errors
def show(document, save, config_path, node_addr, cert, key, fmt) -> None:
    """Show a document file, or the newest version a node holds (--config).

    Example: brandex federation show --config nodes/anhui.toml
    """
    if document is not None:
        raw = read_document(document)
    else:
        client = connect(config_path, node_addr, cert, key)
        documents = client.federation_documents()
        if not documents:
            raise BrandexError(f"{client.address} holds no federation document")
        raw = documents[-1]
    doc = fd.parse_document(raw)
    if save is not None:
        write_document(save, raw)
    rows = _summary(doc)
    warning = fd.expiry_warning(doc, datetime.now(UTC))
    if fmt == "table":
        click.echo(
            tr(
                "federation {f} version {v}: issued {issued}, expires {expires}; threshold {t};"
                " {n} signature(s); witness {policy}; payload sha256 {digest}…",
                f=doc.federation,
                v=doc.version,
                issued=fd.format_time(doc.issued_at),
                expires=fd.format_time(doc.expires_at),
                t=doc.threshold,
                n=len(doc.envelope.signatures),
                policy=doc.policy.describe(),
                digest=doc.digest[:16],
            )
        )
        if doc.departed:
            gone = ", ".join(f"{d.name} ({d.at:%Y-%m-%d})" for d in doc.departed)
            click.echo(tr("departed: {members}", members=gone))
        if doc.revoked_keys:
            click.echo(
                tr("revoked keys: {keys}", keys=", ".join(r.keyid[:16] for r in doc.revoked_keys))
            )
        if warning:
            click.echo(tr("warning: {warning}", warning=warning))
    emit(rows, ["name", "region", "addresses", "signing_keys", "signed"], fmt)


@federation_group.command("verify")
@click.argument("documents", type=_file, nargs=-1, required=True)
@click.option("--bootstrap", type=_file, required=True, help="The pinned version to start from.")
@output_option
@handle_errors
def verify(documents, bootstrap, fmt) -> None:
    """Check a chain of documents offline, from the bootstrap version (for auditors).

    Exit 0 when every document is a valid next version; 1 with the first refusal.

    Example: brandex federation verify --bootstrap federation-1.json federation-2.json
    """
    chain = fd.Chain.pinned(read_document(bootstrap))
    rows = [{"version": chain.latest.version, "result": "pinned", "detail": chain.latest.digest}]
    failed = None
    raws = sorted((read_document(p) for p in documents), key=lambda r: fd.parse_document(r).version)
    for raw in raws:
        doc = fd.parse_document(raw)
        prev = chain.latest
        try:
            taken = chain.offer(raw, doc.issued_at)
        except BrandexError as exc:
            rows.append({"version": doc.version, "result": "refused", "detail": str(exc)})
            failed = exc
            break
        if taken is None:
            rows.append(
                {"version": doc.version, "result": "held", "detail": "already in the chain"}
            )
            continue
        signers = taken.signers(prev.members)
        rows.append(
            {
                "version": doc.version,
                "result": "valid",
                "detail": f"signed by {len(signers)} of version {prev.version} "
                f"(threshold {prev.threshold}): {', '.join(signers)}",
            }
        )
    emit(rows, ["version", "result", "detail"], fmt)
    if failed is not None:
        raise failed
