"""Chinese substring search that stays fast for one- and two-character queries.

SQLite's FTS5 trigram tokenizer finds nothing for queries shorter than three
characters, and a scan of a million names costs ~180 ms. Instead every CJK
character is indexed as a token of its own (the text is stored spaced out,
"宋 河 粮 液"), so a query becomes an FTS5 *phrase* of single characters:
a phrase of adjacent tokens is exactly a substring, whatever its length. Latin
words stay words (the last one matches as a prefix).

The index is contentless (it stores postings only); rows are removed with the
'delete' command, which needs the old text, so callers pass the old record.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from typing import Any

__all__ = [
    "COUNT_CAP",
    "create_search_index",
    "index_record",
    "index_values",
    "match_expression",
    "spaced",
    "unindex_record",
]

COUNT_CAP = 10_000  # totals above this are reported as "10000+": counting is not free

_FIELDS = ("brand_name", "product", "enterprise_name", "brand_name_latin")
_CJK = re.compile(r"([\u2e80-\u9fff\uf900-\ufaff\U00020000-\U0003134f])")


def create_search_index(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS records_fts USING fts5("
        "brand, product, enterprise, latin, content='', tokenize='unicode61 remove_diacritics 2')"
    )


def spaced(text: str) -> str:
    """Put spaces around every CJK character so each becomes a token."""
    text = unicodedata.normalize("NFKC", text or "")
    # split() with a capturing group keeps the CJK characters as their own pieces.
    return " ".join(" ".join(_CJK.split(text)).split())


def index_values(rec: Any) -> list[str]:
    """The indexed columns of a record (dict or message), spaced for the tokenizer."""
    return _values(rec)


def _values(rec: Any) -> list[str]:
    get = rec.get if isinstance(rec, dict) else lambda k: getattr(rec, k)
    return [spaced(get(f) or "") for f in _FIELDS]


def index_record(conn: sqlite3.Connection, rowid: int, rec: Any) -> None:
    conn.execute(
        "INSERT INTO records_fts (rowid, brand, product, enterprise, latin) VALUES (?, ?, ?, ?, ?)",
        [rowid, *_values(rec)],
    )


def unindex_record(conn: sqlite3.Connection, rowid: int, old: Any) -> None:
    conn.execute(
        "INSERT INTO records_fts (records_fts, rowid, brand, product, enterprise, latin)"
        " VALUES ('delete', ?, ?, ?, ?, ?)",
        [rowid, *_values(old)],
    )


def match_expression(query: str) -> str | None:
    """The FTS5 phrase for a user's substring query (None when nothing is searchable)."""
    tokens = re.findall(r"\w+", spaced(query))
    if not tokens:
        return None
    phrase = '"' + " ".join(tokens) + '"'
    if not _CJK.fullmatch(tokens[-1]):
        phrase += "*"  # a Latin word may be typed in part
    return phrase
