"""Which characters of a brand name a query matched, for highlighting.

The node finds records by characters, traditional characters, full pinyin and
pinyin initials (exchange.core.textforms); this marks the characters that the
query spelled, so ``shly`` highlights 宋河粮液 and ``songhe`` highlights 宋河.
Matching here only decides what is shown in bold; it never filters results.
"""

from __future__ import annotations

from functools import lru_cache

from exchange.core import textforms

__all__ = ["segments"]

#: Longer queries or names are not worth the search (nothing is highlighted).
_MAX = 64


@lru_cache(maxsize=4096)
def _readings(char: str) -> tuple[str, ...]:
    runs = textforms.pinyin_syllables(char)
    return tuple(run[0] for run in runs if run)


def _pinyin_span(name: str, query: str) -> tuple[int, int] | None:
    """The first run of characters whose pinyin (whole syllables or initials, mixed;
    the last one may be partial) spells ``query``."""
    chars = list(name)

    def walk(i: int, pos: int) -> int | None:
        if pos == len(query):
            return i
        if i >= len(chars):
            return None
        for reading in _readings(chars[i]):
            rest = query[pos:]
            if rest.startswith(reading):
                end = walk(i + 1, pos + len(reading))
                if end is not None:
                    return end
            if reading.startswith(rest):  # a partial last syllable: "songh"
                return i + 1
            if rest[0] == reading[0]:
                end = walk(i + 1, pos + 1)
                if end is not None:
                    return end
        return None

    for start in range(len(chars)):
        end = walk(start, 0)
        if end is not None and end > start:
            return start, end
    return None


def segments(name: str, query: str) -> list[tuple[str, bool]]:
    """``name`` cut into (text, matched) pieces for ``query``."""
    q = " ".join(str(query or "").split())
    if not q or not name or len(q) > _MAX or len(name) > _MAX:
        return [(name, False)]
    plain = textforms.simplified(name)
    wanted = textforms.simplified(q)
    at = plain.lower().find(wanted.lower())
    span: tuple[int, int] | None = (at, at + len(wanted)) if at >= 0 else None
    if span is None and textforms.is_pinyin_query(q):
        span = _pinyin_span(plain, q.lower().replace(" ", ""))
    if span is None:
        return [(name, False)]
    a, b = span
    return [(t, m) for t, m in ((name[:a], False), (name[a:b], True), (name[b:], False)) if t]
