"""Reports of a whole-log audit: terminal summary, self-contained HTML, JSON.

Everything that came from a node (origins, notes, messages, evidence) is
escaped with :func:`html.escape` before it goes into the HTML: a hostile node
must not be able to script the auditor's report.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape

from exchange.core.logcheck import ISSUE_KINDS, AuditResult
from exchange.core.records import BODIES

__all__ = ["to_html", "to_json", "to_text"]


def _kinds(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {counts[k]}" for k in BODIES if counts.get(k)) or "none"


def _witness_line(witnesses: dict[str, list[int]]) -> str:
    if not witnesses:
        return "no cosignatures"
    return "; ".join(
        f"{name} saw {', '.join(str(s) for s in sizes)}" for name, sizes in witnesses.items()
    )


def to_text(result: AuditResult) -> str:
    """The terminal summary: one block per origin, then every issue listed."""
    st = result.stats
    head = f"brandex audit log: {len(result.sources)} node(s), {len(result.origins)} origin(s)"
    if "entries_downloaded" in st:
        head += (
            f", {st['entries_downloaded']} entries downloaded, "
            f"{st.get('entries_verified', 0)} verified in {st.get('seconds', 0)} s"
        )
    lines = [head, ""]
    for origin, o in result.origins.items():
        sizes = ", ".join(f"{c['size']} ({', '.join(c['sources'])})" for c in o["checkpoints"])
        lines.append(
            f"{origin}: {o['entries']} entries ({_kinds(o['kinds'])}); "
            f"{len(o['histories'])} history(ies); issues: {o['issues']}"
        )
        lines.append(f"  checkpoints: {sizes or 'none'}")
        lines.append(f"  witnesses: {_witness_line(o['witnesses'])}")
    if result.issues:
        lines += ["", f"ISSUES ({result.total_issues}):"]
        for i in result.issues:
            where = f" entry {i.index}" if i.index is not None else ""
            src = f" [{i.source}]" if i.source else ""
            lines.append(f"  [{i.kind}] {i.origin}{where}{src}: {i.message}")
            for label, text in i.evidence:
                lines.append(f"      evidence: {label}:")
                lines += [f"        {line}" for line in text.rstrip("\n").split("\n")]
        for (origin, kind), n in sorted(result.unlisted.items()):
            lines.append(f"  ... and {n} more [{kind}] issues on {origin} (not listed)")
    if result.notes:
        lines += ["", "notes:"] + [f"  {n}" for n in result.notes]
    lines.append("")
    lines.append(
        "result: CLEAN, nothing found"
        if result.clean
        else f"result: {result.total_issues} issue(s) FOUND"
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


def to_html(result: AuditResult, *, title: str = "brandex whole-log audit") -> str:
    """A self-contained HTML page an auditor can hand on."""
    e = escape
    st = result.stats
    when = datetime.now(UTC).isoformat(timespec="seconds")
    verdict = (
        '<p class="clean">CLEAN: nothing found.</p>'
        if result.clean
        else f'<p class="found">{result.total_issues} issue(s) found.</p>'
    )
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        verdict,
        "<table>",
        f"<tr><th>made</th><td>{e(when)}</td></tr>",
        f"<tr><th>nodes</th><td>{'<br>'.join(e(s) for s in result.sources)}</td></tr>",
        f"<tr><th>origins</th><td>{'<br>'.join(e(o) for o in result.origins)}</td></tr>",
    ]
    for k in ("entries_downloaded", "entries_verified", "seconds", "entries_per_s"):
        if k in st:
            out.append(f"<tr><th>{e(k.replace('_', ' '))}</th><td>{e(str(st[k]))}</td></tr>")
    out.append("</table>")

    # Counts per origin and kind.
    out.append("<h2>Entries per origin and kind</h2><table><tr><th>origin</th>")
    out += [f"<th>{e(k)}</th>" for k in BODIES]
    out.append("<th>total</th><th>histories</th><th>issues</th></tr>")
    for origin, o in result.origins.items():
        out.append(f"<tr><td>{e(origin)}</td>")
        out += [f'<td class="n">{o["kinds"].get(k, 0)}</td>' for k in BODIES]
        out.append(
            f'<td class="n">{o["entries"]}</td><td class="n">{len(o["histories"])}</td>'
            f'<td class="n">{o["issues"]}</td></tr>'
        )
    out.append("</table>")

    # Checkpoints and witnesses.
    out.append(
        "<h2>Checkpoints and witnesses</h2><table><tr><th>origin</th><th>size</th>"
        "<th>root</th><th>served by</th><th>backed by downloaded entries</th>"
        "<th>cosigned by</th></tr>"
    )
    for origin, o in result.origins.items():
        for c in o["checkpoints"]:
            out.append(
                f'<tr><td>{e(origin)}</td><td class="n">{c["size"]}</td>'
                f"<td><code>{e(c['root'])}</code></td>"
                f"<td>{'<br>'.join(e(s) for s in c['sources'])}</td>"
                f"<td>{'yes' if c['backed'] else 'no'}</td>"
                f"<td>{'<br>'.join(e(w) for w in c['cosigners']) or 'none'}</td></tr>"
            )
    out.append("</table>")
    out.append("<table><tr><th>origin</th><th>witness</th><th>sizes cosigned</th></tr>")
    for origin, o in result.origins.items():
        for name, sizes in o["witnesses"].items():
            out.append(
                f"<tr><td>{e(origin)}</td><td>{e(name)}</td>"
                f"<td>{e(', '.join(str(s) for s in sizes))}</td></tr>"
            )
    out.append("</table>")

    # Copies per node.
    out.append(
        "<h2>Copies downloaded</h2><table><tr><th>origin</th><th>node</th>"
        "<th>entries served</th><th>history</th></tr>"
    )
    for origin, o in result.origins.items():
        for c in o["copies"]:
            hist = "" if c["history"] is None else str(c["history"] + 1)
            out.append(
                f"<tr><td>{e(origin)}</td><td>{e(c['node'])}</td>"
                f'<td class="n">{c["served"]}</td><td>{e(hist)}</td></tr>'
            )
    out.append("</table>")

    # Issues, with evidence.
    out.append(f"<h2>Issues found ({result.total_issues})</h2>")
    if not result.issues and not result.unlisted:
        out.append("<p>None.</p>")
    else:
        out.append(
            "<table><tr><th>#</th><th>kind</th><th>origin</th><th>entry</th><th>node</th>"
            "<th>what</th></tr>"
        )
        for n, i in enumerate(result.issues, start=1):
            idx = "" if i.index is None else str(i.index)
            out.append(
                f'<tr id="issue-{n}"><td class="n">{n}</td><td>{e(i.kind)}</td>'
                f'<td>{e(i.origin)}</td><td class="n">{e(idx)}</td><td>{e(i.source)}</td>'
                f"<td>{e(i.message)}</td></tr>"
            )
        for (origin, kind), count in sorted(result.unlisted.items()):
            out.append(
                f"<tr><td></td><td>{e(kind)}</td><td>{e(origin)}</td><td></td><td></td>"
                f"<td>... and {count} more, not listed</td></tr>"
            )
        out.append("</table>")
        with_evidence = [(n, i) for n, i in enumerate(result.issues, start=1) if i.evidence]
        if with_evidence:
            out.append("<h2>Evidence</h2>")
            for n, i in with_evidence:
                out.append(f"<h3>Issue {n}: {e(i.kind)} on {e(i.origin)}</h3>")
                for label, text in i.evidence:
                    out.append(f"<p>{e(label)}:</p><pre>{e(text)}</pre>")
    if result.notes:
        out.append("<h2>Notes</h2><ul>")
        out += [f"<li>{e(n)}</li>" for n in result.notes]
        out.append("</ul>")
    out.append("<h2>What each kind of issue means</h2><table>")
    out += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in ISSUE_KINDS.items()]
    out.append("</table></body></html>")
    return "\n".join(out) + "\n"
