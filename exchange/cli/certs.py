"""``brandex certs``: make and inspect a federation's demo PKI.

A thin layer over :mod:`exchange.pki`: parse options, call the library, turn
:class:`~exchange.core.errors.BrandexError` into a one-line
:class:`click.ClickException` so an operator sees the reason, not a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import click
from cryptography import x509

from exchange import pki
from exchange.cli.common import emit, emit_one, output_option, table
from exchange.cli.lang import tr
from exchange.core.errors import BrandexError
from exchange.core.regions import region_label
from exchange.core.x509 import anchor_jurisdictions, describe, verify_chain

__all__ = ["certs_group"]

_DEFAULT_OUT = Path("certs/yrd")
#: The federation directory made by 'certs init' (anchor key, members): one option for
#: every command that works in it, as --dir (--out, its first name, still works).
federation_dir_option = click.option(
    "--dir",
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=_DEFAULT_OUT,
    show_default=True,
    help="Federation directory made by 'certs init' (--out is the old name).",
)


def _parse_members(values: Sequence[str]) -> dict[str, str]:
    members: dict[str, str] = {}
    for value in values:
        name, sep, region = value.partition("=")
        name, region = name.strip(), region.strip()
        if not sep or not name or not region:
            raise click.BadParameter(f"expected NAME=REGION, got {value!r}", param_hint="--member")
        if name in members:
            raise click.BadParameter(f"member {name!r} given twice", param_hint="--member")
        members[name] = region
    return members


@click.group("certs")
def certs_group() -> None:
    """Make and inspect a federation's trust anchor and member certificates.

    Private keys are written unencrypted with mode 0600 (demo federation);
    never commit them.

    Example: brandex certs init --federation yrd --out certs/yrd
    """


@certs_group.command("init")
@click.option("--federation", default="yrd", show_default=True, help="Federation short name.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output directory  [default: certs/<federation>]",
)
@click.option(
    "--member",
    "members",
    multiple=True,
    metavar="NAME=REGION",
    help="A member and its GB/T 2260 region code (repeatable; default: the demo members).",
)
@click.option(
    "--jurisdiction",
    "jurisdictions",
    multiple=True,
    metavar="REGION",
    help="A region the anchor may certify (repeatable; default: the members' provinces).",
)
@click.option(
    "--host",
    "hosts",
    multiple=True,
    help="Extra DNS name or IP for every node certificate (repeatable).",
)
@click.option(
    "--anchor-only",
    is_flag=True,
    help="Make only the anchor; members join with 'certs request/sign/install'.",
)
@click.option("--force", is_flag=True, help="Replace an existing anchor and the listed members.")
def init_command(
    federation: str,
    out: Path | None,
    members: tuple[str, ...],
    jurisdictions: tuple[str, ...],
    hosts: tuple[str, ...],
    anchor_only: bool,
    force: bool,
) -> None:
    """Create a trust anchor and, on this machine, keys and certs for every member.

    Members listed here go through the same request, sign and install steps as
    agencies that join with 'certs request', all in this directory (a demo
    convenience). With --anchor-only, only the anchor is made: its
    jurisdictions are the --jurisdiction codes, or the demo members' provinces.

    \b
    Example:
      brandex certs init --federation yrd --out certs/yrd
      brandex certs init --out /tmp/fed --member zhejiang=330000 --member wenzhou=330300
      brandex certs init --out certs/yrd --anchor-only --jurisdiction 330000
    """
    target = out if out is not None else Path("certs") / federation
    if anchor_only and members:
        raise click.UsageError("--anchor-only makes no members; drop --member")
    chosen = _parse_members(members) if members else dict(pki.DEMO_MEMBERS)
    if anchor_only:
        if not jurisdictions:
            jurisdictions = tuple(sorted({r[:2] + "0000" for r in chosen.values()}))
        chosen = {}
    try:
        pki.init_federation(
            target,
            federation,
            chosen,
            jurisdictions=list(jurisdictions) or None,
            hosts=list(hosts),
            force=force,
        )
    except BrandexError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        tr(
            "federation {f!r}: anchor and {n} member(s) in {target}",
            f=federation,
            n=len(chosen),
            target=target,
        )
    )
    if anchor_only:
        click.echo(tr("members join with: brandex certs request, certs sign, certs install"))


@certs_group.command("add")
@click.option("--region", required=True, metavar="REGION", help="The member's region code.")
@click.option("--name", required=True, help="Member name (its directory under --out).")
@federation_dir_option
@click.option(
    "--host",
    "hosts",
    multiple=True,
    help="Extra DNS name or IP for the node certificate (repeatable).",
)
def add_command(region: str, name: str, out: Path, hosts: tuple[str, ...]) -> None:
    """Make a new member's keys and certificates here, with the anchor key (a demo convenience).

    Runs the same request, sign and install steps as an agency joining with
    'certs request', in --out/NAME. The region must lie within the anchor's
    jurisdictions; names and regions must be new.

    \b
    Example:
      brandex certs add --region 330300 --name wenzhou --dir certs/yrd
    """
    try:
        pki.add_member(out, name, region, hosts=list(hosts))
    except BrandexError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        tr(
            "member {name!r} ({region}) added to {out}",
            name=name,
            region=region_label(region),
            out=out,
        )
    )


@certs_group.command("request")
@click.option("--region", required=True, metavar="REGION", help="Your GB/T 2260 region code.")
@click.option("--name", required=True, help="Your member name (lowercase letters, digits, -, _).")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Your own directory for the keys and request.json (created if missing).",
)
@click.option(
    "--host",
    "hosts",
    multiple=True,
    help="Extra DNS name or IP your node is reached at (repeatable).",
)
@click.option("--force", is_flag=True, help="Replace keys already in --out.")
def request_command(region: str, name: str, out: Path, hosts: tuple[str, ...], force: bool) -> None:
    """Make your agency's private keys and a certificate request for the anchor.

    Run by the joining agency. Writes node.key, operator.key, signing.key and
    governance.key (mode 0600; they never leave DIR), governance.pub, and
    request.json: send only request.json to the anchor's holder.

    \b
    Example:
      brandex certs request --region 360000 --name jiangxi --out certs/jiangxi
    """
    try:
        paths = pki.request_certificates(out, name, region, hosts=list(hosts), force=force)
    except BrandexError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        tr(
            "keys for {name!r} ({region}) made in {out} (mode 0600)",
            name=name,
            region=region_label(region),
            out=out,
        )
    )
    click.echo(
        tr("send {path} to the anchor's holder; keep everything else here", path=paths.request)
    )


@certs_group.command("sign")
@click.argument("request", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--anchor",
    "anchor_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Federation directory holding anchor.key and federation.json.",
)
@click.option(
    "--out",
    "response",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Response file  [default: response.json beside REQUEST]",
)
def sign_command(request: Path, anchor_dir: Path, response: Path | None) -> None:
    """Check an agency's certificate request and issue its certificates.

    Run by the anchor's holder. Refuses, naming the reason, a CSR whose
    signature does not verify, a wrong key type, a region outside the anchor's
    jurisdictions, a malformed name or host, SANs brandex would not put, or a
    name, region or governance key that is already a member's. Records the
    member in federation.json; send the response file back to the agency.

    \b
    Example:
      brandex certs sign certs/jiangxi/request.json --anchor certs/yrd
    """
    target = response if response is not None else request.with_name("response.json")
    try:
        req = pki.sign_request(anchor_dir, request, target)
    except BrandexError as exc:
        raise click.ClickException(str(exc)) from exc
    hosts = ", ".join(req.hosts) or "-"
    click.echo(
        tr(
            "certified {name!r} ({region}), extra hosts: {hosts}, governance key {key}",
            name=req.name,
            region=region_label(req.region),
            hosts=hosts,
            key=req.governance_raw.hex()[:16],
        )
    )
    click.echo(
        tr("response written to {target}; send it back to {name}", target=target, name=req.name)
    )


@certs_group.command("install")
@click.argument("response", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--dir",
    "member_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Your directory holding the keys made by 'certs request'.",
)
@click.option(
    "--anchor",
    "anchor",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The anchor certificate you obtained out of band; the response must carry it.",
)
def install_command(response: Path, member_dir: Path, anchor: Path | None) -> None:
    """Check the anchor's response against your keys and install the certificates.

    Each certificate must be for the key of its role in DIR and chain to the
    response's anchor; then node.pem, operator.pem, signing.pem and anchor.pem
    are written beside the keys. A refused response writes nothing.

    \b
    Example:
      brandex certs install certs/jiangxi/response.json --dir certs/jiangxi
    """
    try:
        paths = pki.install_certificates(member_dir, response, anchor=anchor)
    except BrandexError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        tr("installed node, operator and signing certificates in {dir}", dir=paths.node_cert.parent)
    )


@certs_group.command("revoke")
@click.argument("certificate", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@federation_dir_option
def revoke_command(certificate: Path, out: Path) -> None:
    """Revoke a member's TLS or operator certificate: add it to the anchor's list.

    Writes DIR/revoked.crl, signed by the anchor. Nodes that name it in
    ``[tls] crl`` read it again when it changes and refuse that certificate
    from their next call on; its open streams are closed.

    \b
    Example:
      brandex certs revoke certs/yrd/anhui/node.pem --dir certs/yrd
    """
    try:
        path, serial = pki.revoke_certificate(out, certificate.read_bytes())
    except BrandexError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        tr(
            "revoked: certificate {serial} ({cert}); list written to {path}",
            serial=f"{serial:x}",
            cert=certificate,
            path=path,
        )
    )


@certs_group.command("renew")
@click.option("--name", required=True, help="The member whose TLS certificates to renew.")
@federation_dir_option
@click.option(
    "--host",
    "hosts",
    multiple=True,
    help="Extra DNS name or IP for the node certificate (repeatable; current ones are kept).",
)
def renew_command(name: str, out: Path, hosts: tuple[str, ...]) -> None:
    """New node and operator certificates (and keys) for a member, before they expire.

    The replaced files stay beside the new ones as <file>.old (revoke the old
    certificates with 'brandex certs revoke' once the node runs with the new
    ones). Restart the node to serve the new certificate. The signing key's
    certificate is renewed by rotating the key: 'brandex keys rotate'.

    \b
    Example:
      brandex certs renew --name anhui --dir certs/yrd
    """
    try:
        written = pki.renew_member_tls(out, name, hosts=list(hosts))
    except BrandexError as exc:
        raise click.ClickException(str(exc)) from exc
    for path in written:
        if path.suffix == ".pem":
            cert = x509.load_pem_x509_certificate(path.read_bytes())
            click.echo(
                tr(
                    "renewed: {path} (serial {serial}, until {until})",
                    path=path,
                    serial=f"{cert.serial_number:x}",
                    until=_expiry(cert),
                )
            )
    click.echo(
        tr("restart node {name!r} to serve the new certificate; old files kept as *.old", name=name)
    )


def _expiry(cert: x509.Certificate) -> str:
    return cert.not_valid_after_utc.strftime("%Y-%m-%d")


@certs_group.command("show")
@federation_dir_option
@output_option
def show_command(out: Path, fmt: str) -> None:
    """List the anchor and each member's region, cert expiries and chain status.

    The status column runs the same verification a node does, so a member
    whose certificates no longer chain to the anchor shows up here first.

    \b
    Example:
      brandex certs show --dir certs/yrd --format json
    """
    now = datetime.now(UTC)
    try:
        doc = pki.read_federation(out)
        anchor_path = out / "anchor.pem"
        try:
            anchor = x509.load_pem_x509_certificate(anchor_path.read_bytes())
        except FileNotFoundError:
            raise click.ClickException(f"no anchor in {out} (missing anchor.pem)") from None
        except ValueError as exc:
            raise click.ClickException(f"{anchor_path}: not a PEM certificate: {exc}") from None
        jurisdictions = anchor_jurisdictions(anchor)
    except BrandexError as exc:
        raise click.ClickException(str(exc)) from exc

    if fmt == "table":
        click.echo(
            tr(
                "federation {f}: anchor {anchor!r}, expires {until}, jurisdictions [{j}]",
                f=doc["federation"],
                anchor=describe(anchor),
                until=_expiry(anchor),
                j=", ".join(jurisdictions),
            )
        )
    header = ("member", "region", "node", "operator", "signing", "status")
    rows: list[tuple[str, ...]] = [header]
    for name, entry in doc["members"].items():
        paths = pki.member_paths(out, name)
        expiries: list[str] = []
        status = "ok"
        for path in (paths.node_cert, paths.operator_cert, paths.signing_cert):
            try:
                cert = x509.load_pem_x509_certificate(path.read_bytes())
            except (OSError, ValueError):
                expiries.append("-")
                status = f"cannot read {path.name}"
                continue
            expiries.append(_expiry(cert))
            if status == "ok":
                try:
                    verify_chain(cert, [], [anchor], at=now)
                except BrandexError as exc:
                    status = f"{path.name}: {exc}"
        rows.append((name, region_label(entry["region"]), *expiries, status))
    if fmt != "table":
        members = [
            {**dict(zip(header, row, strict=True)), "region": doc["members"][row[0]]["region"]}
            for row in rows[1:]
        ]
        if fmt == "csv":
            emit(members, header, "csv")
            return
        anchor_info = {
            "subject": describe(anchor),
            "expires": _expiry(anchor),
            "jurisdictions": list(jurisdictions),
        }
        out_doc = {"federation": doc["federation"], "anchor": anchor_info, "members": members}
        emit_one(out_doc, [], "json")
        return
    click.echo(table([dict(zip(header, row, strict=True)) for row in rows[1:]], header))
