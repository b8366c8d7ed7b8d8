"""Chinese substring search that stays fast for queries of any length.

SQLite's FTS5 trigram tokenizer finds nothing for queries shorter than three
characters, and a scan of a million names costs ~180 ms. So every text field is
indexed twice in one contentless FTS5 table:

* spaced out, one token per CJK character ("宋 河 粮 液"): a one-character
  query is a single token, and Latin words stay words (prefix-matched);
* as overlapping bigrams ("宋河 河粮 粮液"): a query of two or more CJK
  characters becomes a *phrase* of its bigrams, which matches exactly the
  substrings and reads short posting lists (common single characters such as
  有 or 公 would make a phrase of characters slow on a million records).

Brand names are also indexed in the forms staff type (computed here, once per
record, by :mod:`exchange.core.textforms`): pinyin syllables one per token
(``song he liang ye``, for a one-syllable query), pinyin syllable bigrams
(``songhe heliang liangye``: ``songhe``, ``song he`` and ``songheliangye`` are
phrases of these, as Chinese queries are phrases of character bigrams) and
bigrams of the initials (``sh hl ly`` for ``shly``), each of these tokens
marked with a private-use character (one per column) so that Latin queries
never walk them. All text is indexed and
queried in simplified characters, so ``宋河糧液`` finds 宋河粮液. A pinyin query
that reads as no syllables is retried with its one-edit neighbours that do
(:func:`typo_expression`), only when the query itself finds nothing.

Rows are removed with the FTS5 'delete' command, which needs the old text, so
callers pass the old record.
"""

from __future__ import annotations

import json
import operator
import re
import sqlite3
import unicodedata
from collections.abc import Iterable
from itertools import pairwise
from typing import Any

from exchange.core import textforms
from exchange.store.facet_index import note_change
from exchange.store.latin_terms import LatinTerms

__all__ = [
    "COUNT_CAP",
    "INDEXED_COLUMNS",
    "create_search_index",
    "exact_brands",
    "filter_tags",
    "filters_match",
    "index_record",
    "index_values",
    "match_expression",
    "merge_index",
    "phrase",
    "spaced",
    "typo_expression",
    "unindex_record",
]

COUNT_CAP = 100  # totals above this are reported as "100+": counting is not free

_FIELDS = ("brand_name", "product", "enterprise_name")
_COLUMNS = (
    "brand",
    "product",
    "enterprise",
    "latin",
    "brand2",
    "product2",
    "enterprise2",
    "filters",
    "syllables",
    "syllable_pairs",
    "initial_pairs",
)
#: The record columns the index is built from (text, plus the filter tags).
INDEXED_COLUMNS = (
    "brand_name",
    "product",
    "enterprise_name",
    "brand_name_latin",
    "issuer",
    "enterprise_region",
    "kind",
    "status",
    "nice_classes",
    "valid_from",  # not indexed: the facets' status on a date (facet_index) needs them
    "valid_until",
)
_CJK_CLASS = r"\u2e80-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_CJK = re.compile(f"([{_CJK_CLASS}])")
_CJK_ONLY = re.compile(f"[{_CJK_CLASS}]+")
_CJK_RUNS = re.compile(f"([{_CJK_CLASS}]+)")
_PLAIN = re.compile("[a-z0-9]+")
_BREAK = "0x"  # separates bigram runs so a phrase cannot bridge a gap
#: Start the tokens of the three pinyin columns (private-use characters, which
#: the unicode61 tokenizer keeps inside tokens), one mark per column. FTS5 keeps
#: one term list for all columns, so unmarked syllables would make every Latin
#: query ("yi li", "li*") walk the syllable postings of a million brands before
#: its column filter drops them. One mark per column for the same reason: with
#: one shared mark the syllable-pair token of qi+an was the term of the
#: syllable ``qian``, and the phrase ``"qian anxing"`` (the reading qi-an-xing
#: of ``qianxing``) read the postings of every brand with the syllable qian
#: (0.6 ms at a million records, for no match).
_SYLLABLE = "\ue000"
_PAIR = "\ue002"
_INITIALS = "\ue003"
_MARKS = re.compile("[\ue000-\ue003]")
#: Starts every filter tag (issuer, region, kind, status, Nice class) in the
#: ``filters`` column, for the same reason: unmarked, the tag ``svalid`` (one
#: posting per valid record) was a term every Latin prefix query ``s*`` or
#: ``sv*`` walked, 60-90 ms at a million records for the first letter typed.
_TAG = "\ue001"


def _create(conn: sqlite3.Connection, table: str) -> None:
    conn.execute(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING fts5({', '.join(_COLUMNS)},"
        " content='', tokenize='unicode61 remove_diacritics 2')"
    )


def create_search_index(conn: sqlite3.Connection, batch: int = 5000) -> None:
    """Create the index; a file with other columns is re-indexed (:func:`_rebuild`).

    The pinyin columns are renamed whenever their token format changes (they
    were ``py1 py2 ini`` before the tokens were marked, ``pinyin1 pinyin2
    initials2`` while the three columns shared one mark), so that check is what
    brings an older file's index up to date.
    """
    cols = [r[1] for r in conn.execute("PRAGMA table_info(records_fts)")]
    if cols and cols != list(_COLUMNS):
        _rebuild(conn, batch)
    _create(conn, "records_fts")


def _rebuild(conn: sqlite3.Connection, batch: int) -> None:
    """Index every record into ``records_fts_next``, one transaction per batch, then
    swap it in with one more.

    FTS5 writes a segment per transaction: one row per transaction would write a
    million segments and merge them over and over (gigabytes of WAL for a
    million records). Until the swap the old index stays whole, so an
    interrupted rebuild costs only its time: the next open starts it again.
    Inside a caller's transaction everything happens in that transaction.
    """
    own = not conn.in_transaction
    names = ", ".join(INDEXED_COLUMNS)
    conn.execute("DROP TABLE IF EXISTS records_fts_next")
    _create(conn, "records_fts_next")
    last = 0
    while True:
        got = conn.execute(
            f"SELECT rowid, {names} FROM records WHERE rowid > ? ORDER BY rowid LIMIT ?",
            [last, batch],
        ).fetchall()
        if not got:
            break
        if own:
            conn.execute("BEGIN")
        index_many(
            conn,
            [(r[0], dict(zip(INDEXED_COLUMNS, r[1:], strict=True))) for r in got],
            table="records_fts_next",
        )
        if own:
            conn.execute("COMMIT")
        last = got[-1][0]
    if own:
        conn.execute("BEGIN")
    merge_index(conn, "records_fts_next")
    conn.execute("DROP TABLE records_fts")
    conn.execute("ALTER TABLE records_fts_next RENAME TO records_fts")
    if own:
        conn.execute("COMMIT")


def merge_index(conn: sqlite3.Connection, table: str = "records_fts") -> None:
    """Merge the index's segments into one (FTS5 'optimize'), after a bulk load.

    Every FTS5 query looks each of its terms up in every segment: a pinyin query
    spelled out as a few dozen phrases over the 12 segments a million-record
    load leaves did hundreds of lookups, and one segment cut the p99 of those
    forms by half (measured in docs/PERFORMANCE.md). It rewrites the whole
    index (minutes at a million records, its size again in WAL), so it runs
    after a rebuild or a bulk load only; a live node's writes add small segments
    that FTS5's automerge keeps few.
    """
    conn.execute(f"INSERT INTO {table} ({table}) VALUES ('optimize')")


def phrase(value: str) -> str:
    """``value`` as one FTS5 string (a phrase): quoted, inner quotes doubled.

    Every user value reaches a MATCH expression only through here, so no value
    can close the string and add operators (``OR``, ``NOT``, column filters).
    """
    return '"' + str(value).replace('"', '""') + '"'


def _norm(text: str) -> str:
    """NFKC, then traditional characters as simplified (index and query alike)."""
    text = textforms.simplified(unicodedata.normalize("NFKC", text or ""))
    return _MARKS.sub("", text)


def spaced(text: str) -> str:
    """Put spaces around every CJK character so each becomes a token."""
    # split() with a capturing group keeps the CJK characters as their own pieces.
    return " ".join(" ".join(_CJK.split(_norm(text))).split())


def bigrams(text: str) -> str:
    """Overlapping CJK bigrams, one run after another with a break between runs."""
    runs = [
        " ".join(map(operator.add, run, run[1:]))
        for run in _CJK_RUNS.findall(_norm(text))
        if len(run) > 1
    ]
    return f" {_BREAK} ".join(runs)


def _region_tags(region: str) -> list[str]:
    return [f"r{region[:2]}", f"r{region[:4]}", f"r{region}"]


def filters_match(tags: list[str]) -> str:
    """The FTS5 sub-expression requiring every tag of :func:`filter_tags`."""
    return "filters : (" + " AND ".join(phrase(_TAG + t) for t in tags) + ")"


def filter_tags(
    *, issuer: str = "", region: str = "", kind: int = 0, status: str = "", nice: int = 0
) -> list[str]:
    """Tokens for the filters that live in the index, so FTS5 intersects them with
    the text in C instead of SQLite checking every text match row by row."""
    tags = []
    if issuer:
        tags.append(f"i{issuer}")
    if region:
        digits = len(region.rstrip("0")) if region.endswith("00") else 6
        tags.append(f"r{region[: 2 if digits <= 2 else 4 if digits <= 4 else 6]}")
    if kind:
        tags.append(f"k{int(kind)}")
    if status:
        tags.append("s" + re.sub(r"\W", "", status))
    if nice:
        tags.append(f"n{int(nice)}")
    return tags


def _marked(mark: str, tokens: Iterable[str]) -> str:
    return " ".join(mark + t for t in tokens)


def _pinyin_columns(brand: str) -> list[str]:
    """The syllables, syllable_pairs and initial_pairs columns of a brand name (see
    the module docstring), each column's tokens marked with its own mark."""
    runs = textforms.pinyin_syllables(brand)
    py1 = _marked(_SYLLABLE, (s for run in runs for s in run))
    py2 = f" {_BREAK} ".join(
        _marked(_PAIR, map(operator.add, run, run[1:])) for run in runs if len(run) > 1
    )
    ini = f" {_BREAK} ".join(
        _marked(_INITIALS, (a[0] + b[0] for a, b in pairwise(run))) for run in runs if len(run) > 1
    )
    return [py1, py2, ini]


def index_values(rec: Any) -> list[str]:
    """The indexed columns of a record row (dict), in column order."""
    texts = [rec.get(f) or "" for f in _FIELDS]
    nice = rec.get("nice_classes") or "[]"
    tags = [
        f"i{rec.get('issuer', '')}",
        *_region_tags(rec.get("enterprise_region") or "000000"),
        f"k{int(rec.get('kind') or 0)}",
        "s" + re.sub(r"\W", "", rec.get("status") or ""),
    ]
    tags += [f"n{int(n)}" for n in (json.loads(nice) if isinstance(nice, str) else nice)]
    return [
        *map(spaced, texts),
        spaced(rec.get("brand_name_latin") or ""),
        *map(bigrams, texts),
        " ".join(_TAG + t for t in tags),
        *_pinyin_columns(rec.get("brand_name") or ""),
    ]


_INSERT = (
    "INSERT INTO {table} (rowid, " + ", ".join(_COLUMNS) + ")"
    f" VALUES (?, {', '.join('?' * len(_COLUMNS))})"
)
_DELETE = (
    f"INSERT INTO records_fts (records_fts, rowid, {', '.join(_COLUMNS)})"
    f" VALUES ('delete', ?, {', '.join('?' * len(_COLUMNS))})"
)


def index_record(conn: sqlite3.Connection, rowid: int, rec: Any) -> None:
    conn.execute(_INSERT.format(table="records_fts"), [rowid, *index_values(rec)])
    note_change(conn, rowid, rec)


def index_many(
    conn: sqlite3.Connection, rows: list[tuple[int, Any]], table: str = "records_fts"
) -> None:
    conn.executemany(
        _INSERT.format(table=table), [[rowid, *index_values(rec)] for rowid, rec in rows]
    )
    for rowid, rec in rows:
        note_change(conn, rowid, rec)


def unindex_record(conn: sqlite3.Connection, rowid: int, old: Any) -> None:
    conn.execute(_DELETE, [rowid, *index_values(old)])
    note_change(conn, rowid, None)


def _syllables_phrase(pieces: list[str]) -> str:
    """One syllable as a syllables token, more as a phrase of syllable pairs."""
    if len(pieces) == 1:
        return f"syllables : {phrase(_SYLLABLE + pieces[0])}"
    pairs = _marked(_PAIR, map(operator.add, pieces, pieces[1:]))
    return f"syllable_pairs : {phrase(pairs)}"


def _pinyin_alternatives(text: str) -> list[str]:
    """FTS5 sub-expressions for a Latin query read as pinyin and as initials."""
    alts = []
    readings = textforms.pinyin_segmentations(text)
    # The last syllable may be typed in part (li... for liang): always read as
    # each whole syllable it begins, not as an FTS5 prefix (see
    # textforms.completions: `"xinji jia"*` cost 15 ms at 1M records, the same
    # phrases spelled out 0.2 ms). The phrase's positions make both mean the
    # same records: the last bigram's first syllable is fixed by the one before.
    for pieces, _ in readings:
        alts += [_syllables_phrase([*pieces[:-1], c]) for c in textforms.completions(pieces[-1])]
    # Initials: brand names are short, and a query that reads as whole syllables
    # (songhe) is pinyin, not six initials; each extra letter bigram is one more
    # posting list to read.
    letters = "".join(text.split()).lower()
    whole = any(not partial for _, partial in readings)
    if " " not in text and 2 <= len(letters) <= 8 and (len(letters) <= 3 or not whole):
        pairs = _marked(_INITIALS, map(operator.add, letters, letters[1:]))
        alts.append(f"initial_pairs : {phrase(pairs)}")
    return list(dict.fromkeys(alts))


def match_expression(
    query: str, fields: tuple[str, ...] = _FIELDS, terms: LatinTerms | None = None
) -> str | None:
    """The FTS5 query for a user's substring query (None when nothing is searchable).

    ``fields`` narrows it to some of brand_name, product and enterprise_name.
    A query of Latin letters over every field is also read as brand pinyin
    (whole, spaced or run together) and as brand initials, any of which may match.
    With the index's Latin ``terms``, a last Latin word typed in part is written
    out as the terms it begins instead of an FTS5 prefix (:func:`_spelled_out`).
    """
    cols = {"brand_name": "brand", "product": "product", "enterprise_name": "enterprise"}
    names = [cols[f] for f in fields]
    text = " ".join(_norm(query).split())
    compact = text.replace(" ", "")
    if _CJK_ONLY.fullmatch(compact) and len(compact) >= 2:
        grams = " ".join(compact[i : i + 2] for i in range(len(compact) - 1))
        return f"{{{' '.join(n + '2' for n in names)}}} : {phrase(grams)}"
    tokens = re.findall(r"\w+", spaced(text))
    if not tokens:
        return None
    quoted = phrase(" ".join(tokens))
    spelled = None
    if not _CJK.fullmatch(tokens[-1]):
        quoted += "*"  # a Latin word may be typed in part
        if fields == _FIELDS:
            names.append("latin")
        spelled = _spelled_out(tokens, terms) if terms is not None else None
    if spelled:
        quoted = "(" + " OR ".join(spelled) + ")"
    base = f"{{{' '.join(names)}}} : {quoted}"
    if fields != _FIELDS or not textforms.is_pinyin_query(text):
        return base
    alternatives = _pinyin_alternatives(text)
    if spelled == [] and alternatives:  # the Latin reading cannot match: leave it out
        return " OR ".join(f"({e})" for e in alternatives)
    return " OR ".join(f"({e})" for e in [base, *alternatives])


def _spelled_out(tokens: list[str], terms: LatinTerms) -> list[str] | None:
    """The phrases the prefix phrase ``"tokens"*`` stands for, one per index term
    its last word begins ([]: none can match, as no term begins it or an earlier
    Latin word is no term); None when ``terms`` cannot tell (see
    :mod:`exchange.store.latin_terms`), or a word is not plain ASCII letters and
    digits, which FTS5 would fold or split in its own way."""
    words = [t if _CJK.fullmatch(t) else t.lower() for t in tokens]
    if not all(_CJK.fullmatch(w) or _PLAIN.fullmatch(w) for w in words):
        return None
    ends = terms.starting(words[-1])
    if ends is None:
        return None
    if any(not _CJK.fullmatch(w) and w not in terms for w in words[:-1]):
        return []
    return [phrase(" ".join([*words[:-1], end])) for end in ends]


def typo_expression(query: str) -> str | None:
    """The FTS5 query for pinyin one edit away from ``query`` (None: no such reading).

    Only for a query that does not read as whole syllables itself (``sognhe`` ->
    ``songhe``); the caller tries it only when the query as typed found nothing.
    """
    text = " ".join(_norm(query).split())
    if not textforms.is_pinyin_query(text):
        return None
    alts = []
    for variant in textforms.typo_variants(text):
        for pieces, _ in textforms.pinyin_segmentations(variant, partial_last=False):
            alts.append(_syllables_phrase(pieces))
    alts = list(dict.fromkeys(alts))[: textforms.MAX_TYPO_VARIANTS]
    return " OR ".join(f"({e})" for e in alts) or None


def exact_brands(query: str) -> list[str]:
    """Brand names that equal the query as typed or in simplified characters."""
    text = unicodedata.normalize("NFKC", query or "").strip()
    if not text or not _CJK.search(text):
        return []
    return list(dict.fromkeys([text, textforms.simplified(text)]))
