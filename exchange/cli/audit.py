"""``brandex audit``: export and verify offline bundles; audit whole logs over the network."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import click

from exchange.cli.common import (
    EXIT_NEGATIVE,
    client_options,
    connect,
    handle_errors,
    output_option,
    text_width,
)
from exchange.cli.lang import lang, tr
from exchange.cli.options import ORIGIN
from exchange.core.errors import BrandexError
from exchange.core.federation import verify_genesis
from exchange.i18n.terms import state_name

__all__ = ["audit_group"]


@click.group("audit")
def audit_group() -> None:
    """Audit records offline (bundles) and whole logs (every entry, checkpoint, cosignature).

    Example: brandex audit verify bundle.json --anchors certs/yrd/anchor.pem
    """


@audit_group.command("bundle")
@click.argument("record_id")
@click.option("--issuer", required=True, help="GB/T 2260 code of the issuing region, e.g. 330000.")
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Where to write the bundle (JSON); '-' for standard output.",
)
@client_options
@handle_errors
def bundle(record_id, issuer, output, config_path, node_addr, cert, key) -> None:
    """Export RECORD_ID's bundle: envelope, certificate chain, tlog-proofs, related entries.

    Any member's node can serve it (nothing in a bundle is trusted because of
    who served it). The format is documented in docs/audit.md.

    Example: brandex audit bundle zj-2026-0001 --issuer 330000 --config nodes/anhui.toml
    -o zj-2026-0001.bundle.json
    """
    client = connect(config_path, node_addr, cert, key)
    bundle_json = client.bundle(issuer, record_id)
    if str(output) == "-":
        click.echo(bundle_json, nl=False)
        return
    output.write_text(bundle_json, encoding="utf-8")
    size = len(bundle_json.encode())
    click.echo(tr("wrote {path} ({n} bytes)", path=output, n=size), err=True)


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    from exchange.cli.options import DATE

    return None if value is None else date.fromisoformat(DATE.convert(value, param, ctx))


def _region(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from exchange.core.regions import validate_region

    try:
        validate_region(value, "--in")
    except BrandexError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _load_anchors(paths: tuple[Path, ...]) -> list:
    from exchange.core.x509 import load_pem_chain

    anchors = []
    for p in paths:
        try:
            anchors += load_pem_chain(p.read_bytes())
        except (BrandexError, OSError) as exc:
            raise click.BadParameter(f"{p}: {exc}", param_hint="--anchors") from None
    return anchors


@audit_group.command("verify")
@click.argument(
    "bundle_file",
    metavar="FILE.json",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path),
)
@click.option(
    "--anchors",
    "anchor_paths",
    multiple=True,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Trust anchor certificate(s), PEM (repeat for several anchors).",
)
@click.option(
    "--min-cosignatures",
    type=click.IntRange(min=0),
    default=None,
    help="Valid cosignatures from other members each checkpoint needs "
    "[default: the --federation document's witness policy, else 1].",
)
@click.option(
    "--federation",
    "federation_doc",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A federation document you trust (its members' signatures are checked): its "
    "witness policy sets the default --min-cosignatures.",
)
@click.option(
    "--on",
    "on_date",
    callback=_date,
    help="Date to compute status (and recognition) for, YYYY-MM-DD [default: today, UTC].",
)
@click.option(
    "--in",
    "in_region",
    callback=_region,
    help="Also decide whether the record is recognised in this region (GB/T 2260 code).",
)
@output_option(choices=("table", "json"), help="Report format.")
@click.option("-q", "--quiet", is_flag=True, help="Print the verdict line only (VALID/INVALID).")
def verify(
    bundle_file, anchor_paths, min_cosignatures, federation_doc, on_date, in_region, fmt, quiet
) -> None:
    """Verify a bundle offline (no network): exit 0 if valid, 1 if not, 2 on usage errors.

    Checks the signer's certificate chain to an anchor and its region, the
    DSSE signature, the payload's region, the checkpoint signature, the
    cosignatures of other members, the inclusion proofs, and recomputes the
    record's status (with --in, its recognition there: a "no" is a failure)
    from the entries the bundle carries. A bundle proves that what it carries
    is in the log, not that nothing was left out (see docs/audit.md).

    The verdict (VALID: ... or INVALID: why) is the first line; --quiet prints
    only it.

    Example: brandex audit verify zj-2026-0001.bundle.json --anchors certs/yrd/anchor.pem
    --min-cosignatures 2 --on 2026-06-01 --in 340100
    """
    from exchange.core.bundle import Check, Report, verify_bundle
    from exchange.node.bundles import decode_entry, parse_entry

    anchors = _load_anchors(anchor_paths)
    if min_cosignatures is None:
        min_cosignatures = 1
        if federation_doc is not None:
            try:
                policy = verify_genesis(federation_doc.read_bytes()).policy
            except BrandexError as exc:
                raise click.BadParameter(str(exc), param_hint="--federation") from None
            min_cosignatures = policy.required
    now = datetime.now(UTC)
    on = on_date or now.date()
    try:
        raw = sys.stdin.buffer.read() if str(bundle_file) == "-" else bundle_file.read_bytes()
        doc = json.loads(raw)
    except OSError as exc:
        raise click.BadParameter(str(exc), param_hint="FILE.json") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # "[[[[..." too deep
        report = Report(on=on, region=in_region)
        report.checks.append(Check("format", "bundle", False, f"not a JSON document: {exc}"))
    else:
        report = verify_bundle(
            doc,
            anchors,
            min_cosignatures=min_cosignatures,
            on=on,
            region=in_region,
            now=now,
            decode_entry=decode_entry,
            parse_entry=parse_entry,
        )
    verdict, details = report_lines(report)
    if fmt == "json":
        doc = report.to_dict()
        if quiet:  # the verdict in English: JSON does not change with the language
            doc = {"valid": report.valid, "verdict": report.to_text().splitlines()[-1]}
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        click.echo(verdict)
        if not quiet:
            click.echo("\n".join(details))
    sys.exit(0 if report.valid else EXIT_NEGATIVE)


def report_lines(report) -> tuple[str, list[str]]:
    """The verdict line and one line per check, in the run's language.

    The verdict says both whether the bundle is authentic and, when the checks
    reached it, the record's status on the date asked ("VALID ...; the record
    is revoked"), so an authentic bundle of a revoked record does not read as
    a good record. Check details come from core in English.
    """
    lines = [tr("bundle for record {rid} of {origin}", rid=report.record_id or "?",
                origin=report.origin or "?")]  # fmt: skip
    for c in report.checks:
        mark = tr("ok  ") if c.ok else tr("FAIL")
        name = tr(c.name)
        name += " " * max(0, 20 - text_width(name))
        lines.append(f"  {mark} {name} {c.subject}: {c.detail}")
    f = report.failure
    if f is None and report.checks:
        verdict = tr("VALID: {n} checks passed", n=len(report.checks))
        st = report.status
        if st is not None and st.status != "valid":
            verdict += tr(
                "; the record is {state} on {on}",
                state=state_name(st.status, lang()),
                on=report.on,
            )
    else:
        why = f"{tr(f.name)} ({f.subject}): {f.detail}" if f else tr("no checks ran")
        verdict = tr("INVALID: {why}", why=why)
    return verdict, lines


@audit_group.command("log")
@click.option(
    "--config",
    "config_path",
    envvar="BRANDEX_CONFIG",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Node config whose anchors and operator certificate to use (or $BRANDEX_CONFIG).",
)
@click.option(
    "--node",
    "nodes",
    multiple=True,
    help="Node to audit, host:port; repeat for several [default: the config's address].",
)
@click.option(
    "--origin",
    "origins",
    multiple=True,
    type=ORIGIN,
    help="Origin to audit, e.g. yrd/330000; repeat for several [default: all the nodes serve].",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write an HTML report an auditor can hand on.",
)
@output_option(choices=("table", "json"), help="Summary format on standard output.")
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help="Signature-checking processes (0: in this process) [default: CPU count].",
)
@click.option("--cert", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Client certificate [default: the config's operator certificate].")  # fmt: skip
@click.option("--key", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Client key [default: the config's operator key].")  # fmt: skip
def log_audit(config_path, nodes, origins, report_path, fmt, workers, cert, key) -> None:
    """Audit whole logs: download every entry from every --node and check it all.

    Independently of the nodes' databases, with only the trust anchors: every
    envelope, signer and region; every entry's domain validity (record rules,
    status lifecycle, references to records and cases that exist, no duplicate
    record ids or certificate numbers); every tree recomputed and every
    checkpoint of every node checked against it and against each other (two
    conflicting, validly signed checkpoints are reported as a FORK with both
    notes as evidence); and which witnesses cosigned which sizes.

    Exit 0 when nothing is found, 1 when anything is, 2 on usage errors, 3 when
    a node is unreachable. See docs/audit.md, "Auditing whole logs".

    Example: brandex audit log --config nodes/anhui.toml --node 127.0.0.1:7330
    --node 127.0.0.1:7340 --origin yrd/330000 --report audit.html
    """
    import os

    from exchange.audit.report import to_html, to_json, to_text
    from exchange.audit.runner import LogAuditRun, NodeUnreachable
    from exchange.cli.common import EXIT_REMOTE, EXIT_USAGE
    from exchange.core.errors import NotFoundError
    from exchange.node.config import load_config
    from exchange.node.identity import channel_credentials, load_anchors
    from exchange.workers import start_pool

    if config_path is None:
        raise click.UsageError("give --config nodes/<name>.toml (or set BRANDEX_CONFIG)")
    try:
        config = load_config(config_path)
        anchors_pem, _ = load_anchors(config.anchors)
        creds = channel_credentials(
            cert or config.operator_cert, key or config.operator_key, anchors_pem
        )
    except (BrandexError, OSError) as exc:
        raise click.UsageError(f"{config_path}: {exc}") from None
    addresses = list(nodes) or [config.listen]
    # Workers first: no gRPC channel may exist yet when they are started.
    pool = start_pool((os.cpu_count() or 1) if workers is None else workers)
    run = LogAuditRun(anchors_pem, creds, addresses, origins=origins, pool=pool)
    made_at = datetime.now(UTC)
    try:
        total = run.connect()
        if sys.stderr.isatty():
            with click.progressbar(
                length=total, label="downloading and checking", file=sys.stderr
            ) as bar:

                def grow(n: int) -> None:
                    bar.length = (bar.length or 0) + n

                run.download(progress=bar.update, grow=grow)
        else:
            run.download()
        result = run.finish()
    except NodeUnreachable as exc:
        click.echo(tr("error: {problem}", problem=exc), err=True)
        sys.exit(EXIT_REMOTE)
    except NotFoundError as exc:
        raise click.UsageError(str(exc)) from None
    finally:
        run.close()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if report_path is not None:
        context = _report_context(
            run, anchors_pem, Path(cert) if cert else config.operator_cert, made_at
        )
        try:
            with report_path.open("w", encoding="utf-8", newline="\n") as f:
                f.write(to_html(result, context))
        except OSError as exc:
            click.echo(
                tr("error: cannot write {path}: {problem}", path=report_path, problem=exc), err=True
            )
            sys.exit(EXIT_USAGE)
        click.echo(tr("wrote {path}", path=report_path), err=True)
    click.echo(to_json(result) if fmt == "json" else to_text(result, lang()))
    sys.exit(0 if result.clean else EXIT_NEGATIVE)


def _report_context(run, anchors_pem: bytes, cert_path: Path | None, made_at: datetime):
    """What the HTML report states besides the findings: who ran it, with what, against what."""
    import getpass
    import socket
    from importlib.metadata import PackageNotFoundError, version

    from exchange.audit.report import Member, ReportContext, anchor_facts
    from exchange.core.x509 import load_pem_chain

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = "?"
    operator = ""
    if cert_path is not None:
        try:
            operator = load_pem_chain(cert_path.read_bytes())[0].subject.rfc4514_string()
        except (BrandexError, OSError):
            operator = str(cert_path)
    try:
        brandex_version = version("brandex")
    except PackageNotFoundError:
        brandex_version = "unknown"
    return ReportContext(
        lang=lang(),
        made_at=made_at,
        members={a: Member(name, region) for a, (name, region, _) in run.members.items()},
        federation_versions={a: v for a, (_, _, v) in run.members.items()},
        anchors=anchor_facts(load_pem_chain(anchors_pem)),
        brandex_version=brandex_version,
        run_by=f"{user}@{socket.gethostname()}",
        operator=operator,
    )


@audit_group.command("digest")
@click.argument(
    "report_file",
    metavar="REPORT.html",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@output_option(choices=("table", "json"), help="Answer format.")
def digest(report_file, fmt) -> None:
    """Check an HTML audit report against the SHA-256 digest on its last line.

    The digest covers every byte of the file before its last line, and the last
    line must be the digest line itself, so the same check is
    ``head -n -1 REPORT.html | sha256sum`` compared with the value shown at the
    foot of the report. Exit 0 if they match, 1 if not.

    Example: brandex audit digest audit.html
    """
    from exchange.audit.report import check_digest

    found = check_digest(report_file.read_bytes())
    if fmt == "json":
        doc = {"file": str(report_file), "ok": found.ok, "stated": found.stated,
               "computed": found.computed, "problem": found.problem}  # fmt: skip
        click.echo(json.dumps(doc, indent=2))
    elif found.ok:
        click.echo(tr("{file}: digest matches: {hex}", file=report_file, hex=found.computed))
    else:
        click.echo(
            tr(
                "{file}: {problem} (stated {stated}, computed {computed})",
                file=report_file,
                problem=tr(found.problem),
                stated=found.stated or "-",
                computed=found.computed,
            )
        )
    sys.exit(0 if found.ok else EXIT_NEGATIVE)
