"""A Latin word typed in part is written out as the index's terms it begins: the
same matches as FTS5's own prefix, with the term list kept current by writes."""

from __future__ import annotations

from datetime import date

import pytest

from exchange._proto.brandex.v1 import entries_pb2
from exchange.store import Store, queries
from exchange.store import latin_terms as lt
from exchange.store.facet_index import FacetIndex
from exchange.store.latin_terms import LatinTerms, words
from exchange.store.search import match_expression
from tests.builders import search_entry, search_query

ON = date(2025, 6, 1)
#: (brand, Latin name, product, enterprise)
RECORDS = [
    ("宋河粮液", "Songhe", "白酒", "河南宋河酒业有限公司"),
    ("千岛湖", "Qiandaohu", "饮用水 Water", "淳安千岛湖 Spring 公司"),
    ("千岛红", "Qiandao Hong", "茶叶", "千岛红茶业"),
    ("兰亭", "Lanting", "黄酒 Lan kang", "绍兴兰亭 Café"),
    ("咖啡", "Kafei", "Coffee_Beans", "Kafei 2024 有限公司"),
]


def _entry(i: int, brand: str, latin: str, product: str, enterprise: str) -> entries_pb2.Entry:
    return search_entry(i, brand, latin=latin, product=product, enterprise=enterprise)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "db.sqlite")
    with s.write() as tx:
        tx.ensure_origin("yrd/330000", "330000")
        entries = [_entry(i, *r) for i, r in enumerate(RECORDS)]
        tx.append("yrd/330000", 0, [b"e%d" % i for i in range(len(entries))], entries)
    return s


QUERIES = [
    "q", "qian", "qiandao", "qiandaoh", "qiandao h", "qiandao hong", "hong", "lan", "lan k",
    "lan kang", "Lan Ka", "caf", "cafe", "coffee", "beans", "be", "2024", "20", "kafei 2",
    "songhe", "song", "s", "spring", "water", "x", "zz", "千岛 h", "兰亭 caf",
]  # fmt: skip


def _found(store: Store, text: str, index: FacetIndex | None) -> list[str]:
    answer = queries.search(store.read, search_query(text=text), ON, facet_index=index)
    return [r["record_id"] for r in answer.rows]


SOME = {"qiandao": ["r1", "r2"], "caf": ["r3"], "beans": ["r4"], "lan k": ["r3"], "20": ["r4"]}


@pytest.mark.parametrize("text", QUERIES)
def test_written_out_terms_find_what_the_prefix_finds(store, text) -> None:
    kept = store.facet_index()
    found = _found(store, text, kept)
    assert found == _found(store, text, None)
    assert found == SOME.get(text, found)


def test_the_expression_names_the_terms_not_a_prefix(store) -> None:
    terms = store.facet_index().terms
    expr = match_expression("qiandao", terms=terms)
    assert '("qiandao" OR "qiandaohu")' in expr and '"qiandao"*' not in expr
    assert '"lan kang"' in match_expression("lan ka", terms=terms)
    # "qian" is no Latin term: the Latin reading of "qian dao" cannot match and is left out
    assert "latin" not in match_expression("qian dao", terms=terms)
    assert "latin" in match_expression("qian dao")  # without the terms: the prefix
    assert _found(store, "qian dao", store.facet_index()) == ["r1", "r2"]


def test_the_loaded_terms_are_the_index_terms_read_by_words(store) -> None:
    loaded = LatinTerms.load(store.read)
    read = set()
    for rec in RECORDS:
        for text in rec:
            read |= words(text)[0]
    assert set(loaded._terms) - {"0x"} == read  # "0x" separates bigram runs
    assert "cafe" in loaded and "coffee" in loaded and "beans" in loaded


def test_a_record_written_after_the_load_is_found_by_its_new_words(store) -> None:
    kept = store.facet_index()
    assert _found(store, "zhuy", kept) == []
    with store.write() as tx:
        tx.append("yrd/330000", 5, [b"f"], [_entry(5, "竹叶青", "Zhuyeqing", "酒", "汾酒")])
    assert "zhuyeqing" in kept.terms
    assert _found(store, "zhuy", kept) == _found(store, "zhuy", None) == ["r5"]


def test_a_word_read_unsure_falls_back_to_the_prefix(store) -> None:
    kept = store.facet_index()
    assert kept.terms.starting("lan") == ["lan", "lanting"]
    with store.write() as tx:
        tx.append("yrd/330000", 5, [b"f"], [_entry(5, "宋", "Søng", "酒", "公司")])
    assert kept.terms.starting("lan") is None  # ø: FTS5 folds it by its own table
    assert "latin" in match_expression("qian dao", terms=kept.terms)
    assert _found(store, "s", kept) == _found(store, "s", None)


def test_words_read_as_unicode61_does() -> None:
    assert words("Zhijiang'ancheng Coffee_Beans Café 2024") == (
        {"zhijiang", "ancheng", "coffee", "beans", "cafe", "2024"},
        True,
    )
    assert words("宋河abc酒") == ({"abc"}, True)
    assert words("Søng") == (set(), False)
    assert words("ＡＢＣ") == ({"abc"}, True)  # full width, as NFKC makes it


def test_a_prefix_of_too_many_terms_is_left_to_fts5(monkeypatch) -> None:
    terms = LatinTerms(["aa", "ab", "ac", "b"])
    assert terms.starting("a") == ["aa", "ab", "ac"]
    monkeypatch.setattr(lt, "MAX_EXPANSION", 2)
    assert terms.starting("a") is None
    assert terms.starting("b") == ["b"] and terms.starting("c") == []


def test_a_write_replaces_the_list_a_search_may_be_reading(store) -> None:
    """A search on another thread walks the list it took: a write never shifts it."""
    kept = store.facet_index()
    held = kept.terms._terms
    before = list(held)
    with store.write() as tx:
        tx.append("yrd/330000", 5, [b"f"], [_entry(5, "竹叶青", "Zhuyeqing Aaa", "酒", "汾酒")])
    assert held == before and kept.terms._terms is not held
    assert "zhuyeqing" in kept.terms and "aaa" in kept.terms
    assert kept.terms._terms == sorted(set(kept.terms._terms))
