"""Reports of a whole-log audit: terminal summary, self-contained HTML, JSON.

Everything that came from a node (origins, notes, messages, evidence) is
escaped with :func:`html.escape` before it goes into the HTML: a hostile node
must not be able to script the auditor's report.

The HTML report is in English or Chinese (:class:`ReportContext` ``lang``),
names members and regions (``anhui, 安徽省 (340000)``) rather than addresses,
states the trust anchors (subject and SHA-256 fingerprint), the federation
document version the nodes hold, the brandex version, who ran it and when,
and ends with a SHA-256 digest of its own content: the digest covers every
byte of the file before its last line, and the last line is exactly the
digest line (:func:`check_digest`; ``brandex audit digest FILE``; or
``head -n -1 FILE | sha256sum``).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

from exchange.core import regions
from exchange.core.log_issues import ISSUE_KINDS
from exchange.core.logcheck import AuditResult
from exchange.core.vocabulary import BODIES
from exchange.i18n import translator

__all__ = [
    "DigestCheck",
    "Member",
    "ReportContext",
    "anchor_facts",
    "check_digest",
    "to_html",
    "to_json",
    "to_text",
]


def _kinds(counts: dict[str, int], tr) -> str:
    return ", ".join(f"{k} {counts[k]}" for k in BODIES if counts.get(k)) or tr("none")


def _witness_line(witnesses: dict[str, list[int]], tr) -> str:
    if not witnesses:
        return tr("no cosignatures")
    return "; ".join(
        tr("{name} saw {sizes}", name=name, sizes=", ".join(str(s) for s in sizes))
        for name, sizes in witnesses.items()
    )


def to_text(result: AuditResult, lang: str = "en") -> str:
    """The terminal summary: one block per origin, then every issue listed, in ``lang``
    (issue messages and evidence stay as the checks word them)."""
    tr = translator(lang)
    st = result.stats
    head = tr(
        "brandex audit log: {nodes} node(s), {origins} origin(s)",
        nodes=len(result.sources),
        origins=len(result.origins),
    )
    if "entries_downloaded" in st:
        head += tr(
            ", {down} entries downloaded, {ok} verified in {s} s",
            down=st["entries_downloaded"],
            ok=st.get("entries_verified", 0),
            s=st.get("seconds", 0),
        )
    lines = [head, ""]
    for origin, o in result.origins.items():
        sizes = ", ".join(f"{c['size']} ({', '.join(c['sources'])})" for c in o["checkpoints"])
        lines.append(
            tr(
                "{origin}: {n} entries ({kinds}); {h} history(ies); issues: {issues}",
                origin=origin,
                n=o["entries"],
                kinds=_kinds(o["kinds"], tr),
                h=len(o["histories"]),
                issues=o["issues"],
            )
        )
        lines.append(tr("  checkpoints: {sizes}", sizes=sizes or tr("none")))
        lines.append(tr("  witnesses: {line}", line=_witness_line(o["witnesses"], tr)))
    if result.issues:
        lines += ["", tr("ISSUES ({n}):", n=result.total_issues)]
        for i in result.issues:
            where = tr(" entry {i}", i=i.index) if i.index is not None else ""
            src = f" [{i.source}]" if i.source else ""
            lines.append(f"  [{i.kind}] {i.origin}{where}{src}: {i.message}")
            for label, text in i.evidence:
                lines.append(tr("      evidence: {label}:", label=label))
                lines += [f"        {line}" for line in text.rstrip("\n").split("\n")]
        for (origin, kind), n in sorted(result.unlisted.items()):
            lines.append(
                tr(
                    "  ... and {n} more [{kind}] issues on {origin} (not listed)",
                    n=n,
                    kind=kind,
                    origin=origin,
                )
            )
    if result.notes:
        lines += ["", tr("notes:")] + [f"  {n}" for n in result.notes]
    lines.append("")
    lines.append(
        tr("result: CLEAN, nothing found")
        if result.clean
        else tr("result: {n} issue(s) FOUND", n=result.total_issues)
    )
    return "\n".join(lines)


def to_json(result: AuditResult) -> str:
    return json.dumps(result.to_dict(), ensure_ascii=False, indent=2)


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:80em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right}
.clean{color:#075;font-weight:bold}.found{color:#b00;font-weight:bold}
pre{background:#f7f7f7;border:1px solid #ddd;padding:.5em;overflow-x:auto;white-space:pre-wrap}
code{font-size:.95em}
"""


@dataclass(frozen=True)
class Member:
    """A node as it named itself over mTLS: member name and region code."""

    name: str
    region: str

    def label(self) -> str:
        """``anhui, 安徽省 (340000)``."""
        return f"{self.name}, {regions.region_label(self.region)}"


@dataclass(frozen=True)
class ReportContext:
    """Who made the report, with what, when and against which anchors.

    Attributes:
        lang: ``en`` or ``zh``.
        made_at: when the audit ran (the caller's clock).
        members: node address -> the member it says it is.
        federation_versions: node address -> newest federation document it holds (0: none).
        anchors: (subject, SHA-256 fingerprint in hex) of each trust anchor.
        brandex_version: the auditing program's version.
        run_by: ``user@host`` of whoever ran it.
        operator: subject of the client certificate presented, if any.
    """

    lang: str = "en"
    made_at: datetime | None = None
    members: dict[str, Member] = field(default_factory=dict)
    federation_versions: dict[str, int] = field(default_factory=dict)
    anchors: list[tuple[str, str]] = field(default_factory=list)
    brandex_version: str = ""
    run_by: str = ""
    operator: str = ""


def anchor_facts(certificates: list) -> list[tuple[str, str]]:
    """(subject, SHA-256 fingerprint of the DER certificate) for each anchor."""
    from cryptography.hazmat.primitives import hashes

    return [
        (c.subject.rfc4514_string(), c.fingerprint(hashes.SHA256()).hex()) for c in certificates
    ]


# The last line of every HTML report: the digest of every byte before it.
_DIGEST_LABEL = {
    "en": "SHA-256 of this report (every byte before this line)",
    "zh": "本报告的 SHA-256 摘要（本行之前的全部字节）",
}
_DIGEST_LINE = re.compile(
    r'<footer><p class="digest">(?P<label>[^<]*): <code>(?P<hex>[0-9a-f]{64})</code></p>'
    r"</footer></body></html>\n?"
)


def _digest_line(body: bytes, lang: str) -> str:
    label = _DIGEST_LABEL.get(lang, _DIGEST_LABEL["en"])
    hexdigest = hashlib.sha256(body).hexdigest()
    return (
        f'<footer><p class="digest">{label}: <code>{hexdigest}</code></p></footer></body></html>\n'
    )


@dataclass(frozen=True)
class DigestCheck:
    """What :func:`check_digest` found: the digest stated, the one computed, and whether
    the report matches it."""

    ok: bool
    stated: str
    computed: str
    problem: str = ""


def check_digest(data: bytes) -> DigestCheck:
    """Recompute a report's digest: SHA-256 of every byte before its last line, which must
    be the digest line exactly (so no text can hide after the digest)."""
    cut = data.rstrip(b"\n").rfind(b"\n") + 1
    body, last = data[:cut], data[cut:]
    computed = hashlib.sha256(body).hexdigest()
    try:
        m = _DIGEST_LINE.fullmatch(last.decode("utf-8"))
    except UnicodeDecodeError:
        m = None
    if m is None or m["label"] not in _DIGEST_LABEL.values():
        return DigestCheck(False, "", computed, "the last line is not a brandex digest line")
    if m["hex"] != computed:
        return DigestCheck(False, m["hex"], computed, "the content does not match its digest")
    return DigestCheck(True, m["hex"], computed)


def to_html(
    result: AuditResult, context: ReportContext | None = None, *, title: str | None = None
) -> str:
    """A self-contained HTML page an auditor can hand on, ending with its digest line."""
    ctx = context or ReportContext(made_at=datetime.now(UTC))
    tr = translator(ctx.lang)
    e = escape
    title = title or tr("brandex whole-log audit")
    st = result.stats
    when = (ctx.made_at or datetime.now(UTC)).isoformat(timespec="seconds")

    def node(source: str) -> str:
        """A source named by its member (``anhui, 安徽省 (340000)``), not its address."""
        for address, member in ctx.members.items():
            if source == address or source.startswith(address + " "):
                return member.label() + source[len(address) :]
        return source

    def origin_label(origin: str) -> str:
        region = origin.rpartition("/")[2]
        return f"{origin} {regions.region_label(region)}" if regions.is_region(region) else origin

    def row(label: str, value_html: str) -> str:
        return f"<tr><th>{e(label)}</th><td>{value_html}</td></tr>"

    verdict = (
        f'<p class="clean">{e(tr("CLEAN: nothing found."))}</p>'
        if result.clean
        else f'<p class="found">{e(tr("{n} issue(s) found.", n=result.total_issues))}</p>'
    )
    out = [
        "<!DOCTYPE html>",
        f'<html lang="{e(ctx.lang)}"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        verdict,
        "<table>",
        row(tr("made"), e(when)),
    ]
    if ctx.run_by:
        out.append(row(tr("run by"), e(ctx.run_by)))
    if ctx.operator:
        out.append(row(tr("certificate presented"), e(ctx.operator)))
    if ctx.brandex_version:
        out.append(row(tr("brandex version"), e(ctx.brandex_version)))
    versions = sorted({v for v in ctx.federation_versions.values() if v})
    if versions:
        out.append(
            row(
                tr("federation document version"),
                e(", ".join(str(v) for v in versions))
                + (e(tr(" (the nodes differ)")) if len(versions) > 1 else ""),
            )
        )
    out.append(row(tr("nodes"), "<br>".join(e(node(s)) for s in result.sources)))
    out.append(row(tr("origins"), "<br>".join(e(origin_label(o)) for o in result.origins)))
    for k in ("entries_downloaded", "entries_verified", "seconds", "entries_per_s"):
        if k in st:
            out.append(row(tr(k.replace("_", " ")), e(str(st[k]))))
    out.append("</table>")

    # Whom the audit trusted, and which nodes it asked.
    if ctx.anchors:
        out.append(f"<h2>{e(tr('Trust anchors'))}</h2><table>")
        out.append(f"<tr><th>{e(tr('subject'))}</th><th>{e(tr('SHA-256 fingerprint'))}</th></tr>")
        out += [f"<tr><td>{e(s)}</td><td><code>{e(fp)}</code></td></tr>" for s, fp in ctx.anchors]
        out.append("</table>")
    if ctx.members:
        out.append(f"<h2>{e(tr('Nodes asked'))}</h2><table>")
        out.append(
            f"<tr><th>{e(tr('member'))}</th><th>{e(tr('member region'))}</th>"
            f"<th>{e(tr('address'))}</th><th>{e(tr('federation document version'))}</th></tr>"
        )
        for address, m in ctx.members.items():
            version = ctx.federation_versions.get(address) or ""
            out.append(
                f"<tr><td>{e(m.name)}</td><td>{e(regions.region_label(m.region))}</td>"
                f"<td>{e(address)}</td><td>{e(str(version))}</td></tr>"
            )
        out.append("</table>")

    # Counts per origin and kind.
    out.append(f"<h2>{e(tr('Entries per origin and kind'))}</h2><table><tr>")
    out.append(f"<th>{e(tr('origin'))}</th>")
    out += [f"<th>{e(tr(k.replace('_', ' ') + ' entries'))}</th>" for k in BODIES]
    out.append(
        f"<th>{e(tr('total'))}</th><th>{e(tr('histories'))}</th><th>{e(tr('issues'))}</th></tr>"
    )
    for origin, o in result.origins.items():
        out.append(f"<tr><td>{e(origin_label(origin))}</td>")
        out += [f'<td class="n">{o["kinds"].get(k, 0)}</td>' for k in BODIES]
        out.append(
            f'<td class="n">{o["entries"]}</td><td class="n">{len(o["histories"])}</td>'
            f'<td class="n">{o["issues"]}</td></tr>'
        )
    out.append("</table>")

    # Checkpoints and witnesses.
    heads = ("origin", "size", "root", "served by", "backed by downloaded entries", "cosigned by")
    out.append(f"<h2>{e(tr('Checkpoints and witnesses'))}</h2><table><tr>")
    out += [f"<th>{e(tr(h))}</th>" for h in heads]
    out.append("</tr>")
    for origin, o in result.origins.items():
        for c in o["checkpoints"]:
            out.append(
                f'<tr><td>{e(origin_label(origin))}</td><td class="n">{c["size"]}</td>'
                f"<td><code>{e(c['root'])}</code></td>"
                f"<td>{'<br>'.join(e(node(s)) for s in c['sources'])}</td>"
                f"<td>{e(tr('yes') if c['backed'] else tr('no'))}</td>"
                f"<td>{'<br>'.join(e(w) for w in c['cosigners']) or e(tr('none'))}</td></tr>"
            )
    out.append("</table>")
    out.append(
        f"<table><tr><th>{e(tr('origin'))}</th><th>{e(tr('witness'))}</th>"
        f"<th>{e(tr('sizes cosigned'))}</th></tr>"
    )
    for origin, o in result.origins.items():
        for name, sizes in o["witnesses"].items():
            out.append(
                f"<tr><td>{e(origin_label(origin))}</td><td>{e(name)}</td>"
                f"<td>{e(', '.join(str(s) for s in sizes))}</td></tr>"
            )
    out.append("</table>")

    # Copies per node.
    out.append(
        f"<h2>{e(tr('Copies downloaded'))}</h2><table><tr><th>{e(tr('origin'))}</th>"
        f"<th>{e(tr('node'))}</th><th>{e(tr('entries served'))}</th>"
        f"<th>{e(tr('history'))}</th></tr>"
    )
    for origin, o in result.origins.items():
        for c in o["copies"]:
            hist = "" if c["history"] is None else str(c["history"] + 1)
            out.append(
                f"<tr><td>{e(origin_label(origin))}</td><td>{e(node(c['node']))}</td>"
                f'<td class="n">{c["served"]}</td><td>{e(hist)}</td></tr>'
            )
    out.append("</table>")

    # Issues, with evidence (their messages come from core, in English).
    out.append(f"<h2>{e(tr('Issues found ({n})', n=result.total_issues))}</h2>")
    if not result.issues and not result.unlisted:
        out.append(f"<p>{e(tr('None.'))}</p>")
    else:
        heads = ("#", "issue kind", "origin", "entry", "node", "what")
        out.append("<table><tr>" + "".join(f"<th>{e(tr(h))}</th>" for h in heads) + "</tr>")
        for n, i in enumerate(result.issues, start=1):
            idx = "" if i.index is None else str(i.index)
            out.append(
                f'<tr id="issue-{n}"><td class="n">{n}</td><td>{e(i.kind)}</td>'
                f'<td>{e(i.origin)}</td><td class="n">{e(idx)}</td><td>{e(node(i.source))}</td>'
                f"<td>{e(i.message)}</td></tr>"
            )
        for (origin, kind), count in sorted(result.unlisted.items()):
            more = tr("... and {n} more, not listed", n=count)
            out.append(
                f"<tr><td></td><td>{e(kind)}</td><td>{e(origin)}</td><td></td><td></td>"
                f"<td>{e(more)}</td></tr>"
            )
        out.append("</table>")
        with_evidence = [(n, i) for n, i in enumerate(result.issues, start=1) if i.evidence]
        if with_evidence:
            out.append(f"<h2>{e(tr('Evidence'))}</h2>")
            for n, i in with_evidence:
                out.append(f"<h3>{e(tr('Issue {n}', n=n))}: {e(i.kind)} {e(i.origin)}</h3>")
                for label, text in i.evidence:
                    out.append(f"<p>{e(node(label))}:</p><pre>{e(text)}</pre>")
    if result.notes:
        out.append(f"<h2>{e(tr('Notes'))}</h2><ul>")
        out += [f"<li>{e(n)}</li>" for n in result.notes]
        out.append("</ul>")
    out.append(f"<h2>{e(tr('What each kind of issue means'))}</h2><table>")
    out += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in ISSUE_KINDS.items()]
    out.append("</table>")
    body = "\n".join(out) + "\n"
    return body + _digest_line(body.encode("utf-8"), ctx.lang)
