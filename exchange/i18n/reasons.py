"""Chinese for the reasons a node gives with a recognition answer (``brandex check``).

Nodes send each reason as a stable ``code`` plus English ``text`` built by
:mod:`exchange.core.recognition` from a fixed set of phrasings (records,
regions as ``浙江省 (330000)``, agreements, kinds, dates). The CLI and the
console translate at their edge: :func:`reason_text` recognises each phrasing,
takes out its fields, and says it in Chinese with the same fields (region
labels, ids and dates unchanged; kinds and reason codes in Chinese words).
A text no pattern matches (a newer node's phrasing) is shown in English as
sent, never dropped; ``tests/unit/test_i18n_reasons.py`` runs every kind of
decision through this so that a phrasing changed in core without a pattern
here fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from exchange.core.vocabulary import KIND_LABEL, ReasonCode, reason_label
from exchange.i18n.terms import KIND_ZH, REASON_ZH

__all__ = ["reason_text"]

_R = r"(?:[^\s();,]+ \([0-9A-Za-z]+\)|[^\s();,]+)"  # a region label: 浙江省 (330000), or a code
_D = r"\d{4}-\d{2}-\d{2}"
_KIND = "|".join(re.escape(k) for k in sorted(KIND_LABEL.values(), key=len, reverse=True))
_KIND_EN = {label: kind for kind, label in KIND_LABEL.items()}
_REASON_EN = {reason_label(r): r for r in ReasonCode if r}

_WHAT = rf"record (?P<rid>\S+) \((?P<brand>.*)\) of (?P<issuer>{_R})"


def _kind(label: str) -> str:
    kind = _KIND_EN.get(label)
    return KIND_ZH.get(kind, label) if kind is not None else label


def _kinds(text: str) -> str:
    """``provincial famous-brand products and city quality awards`` -> 省名牌产品、市质量奖."""
    if text == "no kinds":
        return "任何类型都不"
    parts = re.split(r", | and ", text)
    return "、".join(_kind(p[:-1] if p.endswith("s") else p) for p in parts)


def _why(text: str | None) -> str:
    if not text:
        return ""
    reason = _REASON_EN.get(text)
    return f"（{REASON_ZH.get(reason, text) if reason is not None else text}）"


def _what(m: re.Match) -> str:
    return f"{m['issuer']}的记录 {m['rid']}（{m['brand']}）"


def _side(text: str) -> str:
    """One party's standing: accedes only from / withdrew on / accession ended on."""
    for pattern, zh in (
        (rf"(?P<r>{_R}) accedes only from (?P<d>{_D})", "{r}自 {d} 起才加入"),
        (rf"(?P<r>{_R}) withdrew on (?P<d>{_D})", "{r}已于 {d} 退出"),
        (rf"the accession of (?P<r>{_R}) ended on (?P<d>{_D})", "{r}的加入已于 {d} 终止"),
    ):
        m = re.fullmatch(pattern, text)
        if m:
            return zh.format(**m.groupdict())
    return text


def _not_party(m: re.Match) -> str:
    text = f"{m['issuer']}不是协议 {m['a']} 的缔约方，{m['partner']}加入了该协议"
    if m["parties"]:
        parties = "、".join(re.findall(_R, m["parties"].replace(" and ", " ")))
        text += f"；{parties}的加入只涵盖其本地区的记录，不涵盖{m['issuer2']}的记录"
    return text


_PATTERNS: list[tuple[str, Callable[[re.Match], str]]] = [
    (
        rf"{_WHAT} is valid on (?P<on>{_D}) \(valid until (?P<until>{_D})\)",
        lambda m: f"{_what(m)}在 {m['on']} 有效（有效期至 {m['until']}）",
    ),
    (
        rf"{_WHAT} is valid on (?P<on>{_D}) \(no expiry\)",
        lambda m: f"{_what(m)}在 {m['on']} 有效（长期有效）",
    ),
    (
        rf"{_WHAT} expired: it was valid until (?P<d>{_D})",
        lambda m: f"{_what(m)}已过期：有效期至 {m['d']}",
    ),
    (
        rf"{_WHAT} is not valid before (?P<d>{_D})",
        lambda m: f"{_what(m)}在 {m['d']} 之前尚未生效",
    ),
    (
        rf"{_WHAT} is suspended since (?P<d>{_D})(?: \((?P<why>[^()]*)\))?",
        lambda m: f"{_what(m)}自 {m['d']} 起暂停{_why(m['why'])}",
    ),
    (
        rf"{_WHAT} is revoked since (?P<d>{_D})(?: \((?P<why>[^()]*)\))?",
        lambda m: f"{_what(m)}自 {m['d']} 起撤销{_why(m['why'])}",
    ),
    (
        rf"{_WHAT} was withdrawn by its issuer on (?P<d>{_D})(?: \((?P<why>[^()]*)\))?",
        lambda m: f"{_what(m)}已于 {m['d']} 由认定地区撤回{_why(m['why'])}",
    ),
    (rf"issued by (?P<r>{_R}) itself", lambda m: f"由{m['r']}本地区认定"),
    (
        rf"issued by (?P<r>{_R}), whose jurisdiction includes (?P<r2>{_R})",
        lambda m: f"由{m['r']}认定，其辖区包括{m['r2']}",
    ),
    (
        rf"agreement (?P<a>\S+) binds (?P<r1>{_R}) \(acceded (?P<d1>{_D})\) and "
        rf"(?P<r2>{_R}) \(acceded (?P<d2>{_D})\), both in force on (?P<on>{_D}), "
        rf"and covers (?P<kind>{_KIND})s"
        rf"(?:; the jurisdiction of (?P<r3>{_R}) includes (?P<r4>{_R}))?",
        lambda m: (
            f"协议 {m['a']} 约束{m['r1']}（{m['d1']} 加入）和{m['r2']}（{m['d2']} 加入），"
            f"二者在 {m['on']} 均有效，且涵盖{_kind(m['kind'])}"
            + (f"；{m['r3']}的辖区包括{m['r4']}" if m["r3"] else "")
        ),
    ),
    (
        rf"agreement (?P<a>\S+) is not in force on (?P<on>{_D}): (?P<why>.*)",
        lambda m: (
            f"协议 {m['a']} 在 {m['on']} 不生效："
            + "；".join(_side(s) for s in m["why"].split("; "))
        ),
    ),
    (
        rf"agreement (?P<a>\S+)(?: as acceded by (?P<who>{_R}))? covers (?P<kinds>.*) only; "
        rf"record (?P<rid>\S+) of (?P<issuer>{_R}) is an? (?P<kind>{_KIND})",
        lambda m: (
            f"协议 {m['a']} "
            + (f"（{m['who']}加入的范围）" if m["who"] else "")
            + f"只涵盖{_kinds(m['kinds'])}；{m['issuer']}的记录 {m['rid']} 属于{_kind(m['kind'])}"
        ),
    ),
    (
        rf"(?P<issuer>{_R}) is not a party to agreement (?P<a>\S+), to which "
        rf"(?P<partner>{_R}) acceded"
        rf"(?:; the accession of (?P<parties>.+) covers its own records only, "
        rf"not those of (?P<issuer2>{_R}))?",
        _not_party,
    ),
    (
        rf"no agreement binds (?P<r>{_R}) and (?P<others>.+)",
        lambda m: f"{m['r']}与{'或'.join(m['others'].split(' or '))}之间没有任何协议",
    ),
]
_COMPILED = [(re.compile(p), zh) for p, zh in _PATTERNS]


def reason_text(text: str, lang: str) -> str:
    """A node's English reason ``text`` in ``lang`` (as sent when no phrasing matches)."""
    if lang != "zh":
        return text
    for pattern, zh in _COMPILED:
        m = pattern.fullmatch(text)
        if m:
            return zh(m)
    return text
