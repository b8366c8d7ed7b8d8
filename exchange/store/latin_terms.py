"""The search index's Latin terms, held in memory, so a typed prefix becomes its terms.

A Latin query may be typed in part, so its last word is an FTS5 prefix
(``"qiandao"*``). FTS5 answers a prefix by merging the postings of every term
it begins, over the whole index, before the first row comes back: at a
million records ``qiandao*`` (19 terms, 18,000 postings) cost 1.6 ms for a
page and ``lan*`` 3.8 ms, whatever the LIMIT. The same terms written out
(``"qiandao" OR "qiandaohai" OR ...``) stream, and cost 0.2 ms for a page.
So the terms are kept here, sorted, and :meth:`LatinTerms.starting` lists
those a prefix begins; a query whose earlier words are no terms at all cannot
match and is left out (:func:`exchange.store.search.match_expression`).

Only terms that begin with an ASCII letter or digit are kept (the Latin words
of brand names, products and enterprises: a few hundred to a few thousand);
marked tokens (pinyin, filter tags) and CJK characters are not Latin terms.

The list is read from the index itself at load (``fts5vocab``, so it is exactly
FTS5's tokenizer's terms) and then kept current with the facet index, by the
same notes of every write (:func:`exchange.store.facet_index.note_change`):
the words of a new record's text are added as this module reads them. A term
that is gone from the index stays listed (its phrase then matches nothing),
so the list only ever holds more than the index, never less, as long as this
module reads words as FTS5 does; a word it cannot be sure of (Latin letters
outside ASCII, which FTS5 folds by its own tables) makes :meth:`starting`
answer None from then on, and the caller falls back to the FTS5 prefix.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from bisect import bisect_left
from collections.abc import Iterable
from heapq import merge

__all__ = ["MAX_EXPANSION", "LatinTerms", "words"]

#: A prefix that begins more terms than this is left to FTS5 (a long OR costs
#: as much to parse and walk as the merge it replaces).
MAX_EXPANSION = 64
_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
#: What unicode61 reads as one token: letters, digits and private-use
#: characters; everything else (spaces, punctuation, ``_``, symbols) separates.
_TOKEN = re.compile(r"(?:[^\W_]|[\ue000-\uf8ff])+")


def words(text: str) -> tuple[set[str], bool]:
    """The ASCII terms FTS5's ``unicode61 remove_diacritics 2`` makes of ``text``,
    and whether every word was read for sure (see the module docstring).

    CJK characters are tokens of their own in the index (``search.spaced``), so
    they separate words here too; accents are dropped as FTS5 drops them
    (``Café`` -> ``cafe``), and a word that stays non-ASCII but is not CJK (``ø``)
    is one this reading is unsure of.
    """
    decomposed = unicodedata.normalize("NFKD", _CJK.sub(" ", text or ""))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    out, sure = set(), True
    for word in _TOKEN.findall(plain):
        if word.isascii():
            out.add(word)
        else:
            sure = False
    return out, sure


class LatinTerms:
    """The sorted ASCII terms of a search index (see the module docstring)."""

    def __init__(self, terms: Iterable[str] = ()) -> None:
        self._terms = sorted(set(terms))
        self._sure = True

    @classmethod
    def load(cls, conn: sqlite3.Connection, table: str = "records_fts") -> LatinTerms:
        """Every term of ``table`` that begins with ASCII, read with FTS5's own
        vocabulary table (``fts5vocab`` walks each listed term's postings; only
        terms below U+0080 are asked for: 0.1 s at a million records).

        The vocabulary table is a TEMP table, which a query-only connection (the
        Store's reader) may not create: for a file, it is made on a read-only
        connection of its own, opened for this.
        """
        path = next((r[2] for r in conn.execute("PRAGMA database_list") if r[1] == "main"), "")
        own = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) if path else None
        vocab = own or conn
        try:
            vocab.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{table}_terms"
                f" USING fts5vocab(main, {table}, 'row')"
            )
            got = vocab.execute(
                f"SELECT term FROM temp.{table}_terms WHERE term < ?", ["\x80"]
            ).fetchall()
            vocab.execute(f"DROP TABLE temp.{table}_terms")
        finally:
            if own is not None:
                own.close()
        return cls(t for (t,) in got)

    def note(self, texts: Iterable[str]) -> None:
        """Add the words of text fields written after the load (one transaction's
        records at once).

        The list is replaced, never changed in place: a search on another thread
        reads the list it took (:meth:`starting`), whole, while a write adds.
        """
        new: set[str] = set()
        for text in texts:
            found, sure = words(text)
            self._sure = self._sure and sure
            new |= found
        terms = self._terms
        new = {t for t in new if t not in self}
        if new:
            self._terms = list(merge(terms, sorted(new)))

    def __contains__(self, term: str) -> bool:
        terms = self._terms
        i = bisect_left(terms, term)
        return i < len(terms) and terms[i] == term

    def starting(self, prefix: str) -> list[str] | None:
        """The terms ``prefix`` begins (itself included), or None: more than
        :data:`MAX_EXPANSION`, or a word was not read for sure."""
        if not self._sure or not prefix.isascii():
            return None
        terms, out = self._terms, []
        i = bisect_left(terms, prefix)
        while i < len(terms) and terms[i].startswith(prefix):
            if len(out) == MAX_EXPANSION:
                return None
            out.append(terms[i])
            i += 1
        return out

    def __len__(self) -> int:
        return len(self._terms)
