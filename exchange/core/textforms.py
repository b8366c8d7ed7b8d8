"""The forms a Chinese name is searched by: simplified characters, pinyin, initials.

Staff type what they hear or what their keyboard gives them: ``宋河``, ``songhe``,
``song he``, ``shly`` or the traditional ``宋河糧液``. The index stores each brand
name in every one of those forms (computed once, when the record is indexed) and
a query is turned into the same forms here, so both sides share one definition.

* Traditional to simplified uses ``zhconv`` (MediaWiki's zh-hans tables, longest
  match first, so phrases convert as phrases). ``opencc-python-reimplemented``
  gives the same answers for names but measured ten times slower here (38 µs
  against 4 µs for a 15-character enterprise name), and every indexed name is
  converted: at a million records that is a minute of indexing against seconds.
* Pinyin uses ``pypinyin`` (phrase-aware readings of polyphonic characters,
  toneless, ``ü`` written ``v`` as on a keyboard).

Pure functions: no I/O beyond the libraries' packaged dictionaries.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import cache
from itertools import islice

__all__ = [
    "completions",
    "initials",
    "is_pinyin_query",
    "pinyin_segmentations",
    "pinyin_syllables",
    "simplified",
    "syllables",
    "typo_variants",
    "warm_up",
]

_CJK_CLASS = r"\u2e80-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_CJK_RUNS = re.compile(f"[{_CJK_CLASS}]+")
_LETTERS = re.compile(r"[a-z]+(?: [a-z]+)*")
#: Segmentations tried per query: ambiguous strings (xian = xian | xi an) have a few.
MAX_SEGMENTATIONS = 8
#: Typo variants tried per query (each becomes one more phrase in the FTS5 query).
MAX_TYPO_VARIANTS = 12
#: Shortest query (letters) that typo variants are tried for: shorter ones have
#: too many neighbours to mean anything.
TYPO_MIN_LENGTH = 4
#: Longest query typo variants are tried for (a brand's pinyin is rarely longer;
#: the work grows with the length).
TYPO_MAX_LENGTH = 24


def simplified(text: str) -> str:
    """``text`` with traditional characters written in simplified form (NFKC first)."""
    text = unicodedata.normalize("NFKC", text or "")
    if not _CJK_RUNS.search(text):
        return text
    import zhconv

    return zhconv.convert(text, "zh-hans")


@cache
def syllables() -> frozenset[str]:
    """Every toneless pinyin syllable pypinyin can produce (``ü`` as ``v``), vowels only.

    Interjections without a vowel (``m``, ``n``, ``ng``, ``hm``) are left out: as
    segmentation pieces they would split almost any typed string.
    """
    from pypinyin.pinyin_dict import pinyin_dict

    out = set()
    for readings in set(pinyin_dict.values()):
        for reading in readings.split(","):
            s = _toneless(reading)
            if s.isascii() and s.isalpha() and re.search("[aeiouv]", s):
                out.add(s)
    return frozenset(out)


def _toneless(reading: str) -> str:
    """``lǜ`` -> ``lv``: tone marks dropped, ``ü`` typed as ``v`` (pypinyin's own
    ``to_normal`` does the same but is a hundred times slower over its whole table)."""
    decomposed = unicodedata.normalize("NFD", reading).replace("u\u0308", "v")
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@cache
def _prefixes() -> frozenset[str]:
    return frozenset(s[:i] for s in syllables() for i in range(1, len(s) + 1))


@cache
def completions(start: str) -> tuple[str, ...]:
    """The syllables that begin with ``start`` (``jia`` -> ``jia jian jiang jiao``).

    A query's last syllable may be typed in part; searching for these few whole
    syllables instead of an FTS5 prefix (``jia*``) lets the index stream their
    postings: a prefix query merges the postings of every term it matches, over
    the whole index, before the first row comes back.
    """
    return tuple(sorted(s for s in syllables() if s.startswith(start)))


def pinyin_syllables(text: str) -> list[list[str]]:
    """The toneless pinyin of each run of Chinese characters in ``text`` (simplified first).

    ``宋河粮液`` -> ``[["song", "he", "liang", "ye"]]``; Latin and digits are not
    converted (they are indexed as they are).
    """
    from pypinyin import lazy_pinyin

    return [lazy_pinyin(run) for run in _CJK_RUNS.findall(simplified(text))]


def warm_up() -> None:
    """Load pypinyin's tables and the syllable list now (they load on first use)."""
    syllables()
    _prefixes()
    _around()
    pinyin_syllables("宋河")
    simplified("糧")


def initials(text: str) -> list[str]:
    """The first letter of each character's pinyin, one string per run: ``["shly"]``."""
    return ["".join(s[0] for s in run if s) for run in pinyin_syllables(text)]


def is_pinyin_query(text: str) -> bool:
    """Whether ``text`` is only Latin letters and spaces (a pinyin or initials query)."""
    return bool(_LETTERS.fullmatch(" ".join(text.lower().split())))


def _segment(word: str, partial_last: bool) -> Iterator[list[str]]:
    """Every split of ``word`` into syllables; the last piece may be a syllable's start.

    Only splits whose rest can still be read are followed (``ok`` below, computed
    from the end), so each path yields and taking the first few costs little
    even for a long run of letters such as ``aaaaaaaaaaaa``.
    """
    table, starts, n = syllables(), _prefixes(), len(word)
    ok = [False] * n + [True]
    for i in range(n - 1, -1, -1):
        ok[i] = any(
            (word[i:j] in table and ok[j]) or (partial_last and j == n and word[i:j] in starts)
            for j in range(i + 1, min(i + 6, n) + 1)
        )

    def walk(i: int) -> Iterator[list[str]]:
        if i == n:
            yield []
            return
        for j in range(min(i + 6, n), i, -1):
            head = word[i:j]
            if head in table and ok[j]:
                for rest in walk(j):
                    yield [head, *rest]
            elif partial_last and j == n and head in starts:
                yield [head]

    if ok[0]:
        yield from walk(0)


def pinyin_segmentations(query: str, partial_last: bool = True) -> list[tuple[list[str], bool]]:
    """The ways ``query`` reads as pinyin syllables: ``(pieces, last_is_partial)`` each.

    Spaces are boundaries the user chose (``song he``); without them every split
    is tried (``xian`` -> ``xian`` or ``xi an``). Longest syllables first, at
    most :data:`MAX_SEGMENTATIONS`. Empty when the letters are not pinyin.
    """
    words = query.lower().split()
    if not words or not all(w.isascii() and w.isalpha() for w in words):
        return []
    results: list[list[str]] = [[]]
    for n, word in enumerate(words):
        last = n == len(words) - 1
        pieces = list(islice(_segment(word, partial_last and last), MAX_SEGMENTATIONS))
        results = [r + p for r in results for p in pieces][:MAX_SEGMENTATIONS]
        if not results:
            return []
    return [(r, r[-1] not in syllables()) for r in results]


def _reach(word: str) -> list[bool]:
    """``reach[i]``: whether ``word[:i]`` splits into whole syllables."""
    table = syllables()
    reach = [True] + [False] * len(word)
    for i in range(len(word)):
        if reach[i]:
            for j in range(i + 1, min(i + 6, len(word)) + 1):
                if word[i:j] in table:
                    reach[j] = True
    return reach


def _back(word: str) -> list[bool]:
    """``back[i]``: whether ``word[i:]`` splits into whole syllables."""
    table, n = syllables(), len(word)
    back = [False] * n + [True]
    for i in range(n - 1, -1, -1):
        back[i] = any(back[j] and word[i:j] in table for j in range(i + 1, min(i + 6, n) + 1))
    return back


def _reads(c: str, start: int, end: int, shift: int, reach: list[bool], back: list[bool]) -> bool:
    """Whether ``c``, one edit away from a word, splits into whole syllables.

    ``c`` equals the word before ``start`` and after the edit (``c[q] ==
    word[q - shift]`` for ``q >= end``), so the word's ``reach`` holds up to
    ``start`` and its ``back`` from ``end`` on: a reading of ``c`` has a
    syllable that covers ``start`` and begins at a reachable position at most
    five before it, and only the syllables across the edit are looked up (two
    or three, where reading the whole candidate again cost 6 µs each, 200
    candidates for a typical typo).
    """
    table, n = syllables(), len(c)
    frontier = [p for p in range(start - 5 if start > 5 else 0, start + 1) if reach[p]]
    seen = set(frontier)
    while frontier:
        x = frontier.pop()
        for y in range(x + 1, (x + 6 if x + 6 < n else n) + 1):
            if c[x:y] in table:
                if y >= end:
                    if back[y - shift]:
                        return True
                elif y not in seen:
                    seen.add(y)
                    frontier.append(y)
    return False


def typo_variants(query: str) -> list[str]:
    """Strings one edit away from ``query`` (letters only) that read as whole pinyin.

    Deletions, adjacent transpositions, substitutions and insertions, in that
    order (the usual slips first), for queries of at least
    :data:`TYPO_MIN_LENGTH` letters; at most :data:`MAX_TYPO_VARIANTS`. Edits
    are tried only near where the reading as syllables breaks off (a slip
    earlier would have broken it earlier), which keeps this under a millisecond.
    """
    word = "".join(query.lower().split())
    if not TYPO_MIN_LENGTH <= len(word) <= TYPO_MAX_LENGTH:
        return []
    if not (word.isascii() and word.isalpha()):
        return []
    reach = _reach(word)
    if reach[len(word)]:
        return []
    back = _back(word)
    out: list[str] = []
    seen = {word}
    for c, start, end, shift in _typo_candidates(word, reach, back):
        if c not in seen:
            seen.add(c)
            if end == start + 1 or _reads(c, start, end, shift, reach, back):
                out.append(c)
                if len(out) == MAX_TYPO_VARIANTS:
                    break
    return out


@cache
def _around() -> dict[tuple[str, str], str]:
    """For each way to cut one letter out of a syllable, (before, after) -> the
    letters that fill the gap (``("j", "ang")`` -> ``"i"``)."""
    out: dict[tuple[str, str], set[str]] = {}
    for s in syllables():
        for k in range(len(s)):
            out.setdefault((s[:k], s[k + 1 :]), set()).add(s[k])
    return {k: "".join(sorted(v)) for k, v in out.items()}


def _typo_candidates(
    word: str, reach: list[bool], back: list[bool]
) -> list[tuple[str, int, int, int]]:
    """The edits :func:`typo_variants` tries, in its order, each as (candidate,
    start, end, shift): the candidate equals ``word`` before ``start`` and
    ``word[q - shift]`` at every ``q >= end`` (what :func:`_reads` needs).

    A letter put at ``i`` (substituted or inserted) lies in a syllable that
    starts at a reachable position at most five before ``i`` and is followed
    by a rest of ``word`` that reads (``back``): the letters that fill such a
    syllable's gap are looked up (:func:`_around`), so the substitutions and
    insertions listed (the only edits with ``end == start + 1``) all read
    already, and the 26 letters per position are never tried one by one.
    """
    n = len(word)
    broke = max(i for i, ok in enumerate(reach) if ok)
    window = range(max(0, broke - 5), min(n, broke + 3))
    candidates = [(word[:i] + word[i + 1 :], i, i, -1) for i in window]
    candidates += [
        (word[:i] + word[i + 1] + word[i] + word[i + 2 :], i, i + 2, 0) for i in window if i < n - 1
    ]
    around = _around()

    def fill(i: int, after: int, longest: int) -> str:
        """Letters that complete a syllable word[x:i] + letter + word[i + after : ...]."""
        found: set[str] = set()
        for x in range(max(0, i - 5), i + 1):
            if reach[x]:
                for y in range(i + 1, min(x + 6, longest) + 1):  # the syllable is c[x:y]
                    rest = y - 1 + after  # where word goes on after it
                    if back[rest]:
                        found.update(around.get((word[x:i], word[i + after : rest]), ""))
        return "".join(sorted(found))

    candidates += [
        (word[:i] + c + word[i + 1 :], i, i + 1, 0) for i in window for c in fill(i, 1, n)
    ]
    candidates += [
        (word[:i] + c + word[i:], i, i + 1, 1) for i in [*window, n] for c in fill(i, 0, n + 1)
    ]
    return candidates
