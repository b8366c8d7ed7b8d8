"""Search correctness: short Chinese queries, filters, and the index after corrections."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange._proto.brandex.v1 import entries_pb2
from exchange.store import Store, queries
from exchange.store.search import match_expression, spaced
from tests.builders import search_entry, search_query, uscc

NAMES = ["宋河粮液", "志元火腿肠", "李二小磨香油", "西湖龙井", "龙井茶叶", "杭瑞丝绸", "河南宋河"]


def _uscc(i: int) -> str:
    return uscc(f"91330106MA2B{i:05d}")


def _entry(i: int, brand: str, product: str = "产品", region: str = "330106") -> entries_pb2.Entry:
    return search_entry(i, brand, product=product, region=region)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "db.sqlite")
    with s.write() as tx:
        tx.ensure_origin("yrd/330000", "330000")
        entries = [_entry(i, n) for i, n in enumerate(NAMES)]
        tx.append("yrd/330000", 0, [b"e%d" % i for i in range(len(entries))], entries)
    return s


def brands(store: Store, **kw) -> set[str]:
    found, total, capped = queries.search_records(store.read, search_query(**kw))
    assert total == len(found) and not capped
    return {r["brand_name"] for r in found}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("宋河", {"宋河粮液", "河南宋河"}),
        ("河", {"宋河粮液", "河南宋河"}),
        ("龙井", {"西湖龙井", "龙井茶叶"}),
        ("井茶", {"龙井茶叶"}),
        ("李二小磨香油", {"李二小磨香油"}),
        ("小磨香", {"李二小磨香油"}),
        ("火腿肠有限", {"志元火腿肠"}),  # across brand and the enterprise name's start
        ("不存在", set()),
    ],
)
def test_substrings_of_any_length(store, text, expected) -> None:
    assert brands(store, text=text) == expected


def test_short_queries_agree_with_a_scan(store) -> None:
    all_text = {n: f"{n} 产品 {n}有限公司" for n in NAMES}
    chars = sorted({c for n in NAMES for c in n})
    for a in chars:
        for q in (a, *(a + b for b in chars)):
            want = {n for n, t in all_text.items() if q in t}
            assert brands(store, text=q) == want, q


def test_correction_reindexes(store) -> None:
    corrected = _entry(0, "宋河酒").recognition
    change = entries_pb2.StatusChange(
        record_id="r0", new_status=5, effective_on="2024-02-01", corrected=corrected
    )
    with store.write() as tx:
        tx.append(
            "yrd/330000",
            len(NAMES),
            [b"fix"],
            [
                entries_pb2.Entry(
                    federation="yrd", region="330000", issued_at="t", status_change=change
                )
            ],
        )
    assert brands(store, text="粮液") == set()
    assert brands(store, text="宋河酒") == {"宋河酒"}


def test_region_filter_uses_the_hierarchy(tmp_path) -> None:
    s = Store(tmp_path / "db.sqlite")
    with s.write() as tx:
        tx.ensure_origin("yrd/330000", "330000")
        entries = [
            _entry(0, "甲", region="330106"),
            _entry(1, "乙", region="330302"),
            _entry(2, "丙", region="330110"),
        ]
        tx.append("yrd/330000", 0, [b"a", b"b", b"c"], entries)
    assert brands(s, region="330000") == {"甲", "乙", "丙"}
    assert brands(s, region="330100") == {"甲", "丙"}
    assert brands(s, region="330110") == {"丙"}


def test_totals_are_capped(tmp_path, monkeypatch) -> None:
    import exchange.store.queries as q

    monkeypatch.setattr(q, "COUNT_CAP", 5)
    s = Store(tmp_path / "db.sqlite")
    with s.write() as tx:
        tx.ensure_origin("yrd/330000", "330000")
        entries = [_entry(i, f"品牌{i}") for i in range(12)]
        tx.append("yrd/330000", 0, [b"x%d" % i for i in range(12)], entries)
    found, total, capped = q.search_records(s.read, search_query(text="品牌", limit=3))
    assert len(found) == 3 and total == 5 and capped


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12))
def test_any_query_is_a_safe_fts_expression(text: str) -> None:
    import sqlite3

    from exchange.store.search import create_search_index

    conn = sqlite3.connect(":memory:")
    create_search_index(conn)
    expr = match_expression(text)
    if expr is not None:
        conn.execute("SELECT rowid FROM records_fts WHERE records_fts MATCH ?", (expr,)).fetchall()


def test_spaced_splits_cjk_only() -> None:
    assert spaced("宋河 Liquor 2号") == "宋 河 Liquor 2 号"


def test_status_filter_follows_status_changes(store) -> None:
    assert "宋河粮液" in brands(store, status="valid")
    change = entries_pb2.StatusChange(
        record_id="r0", new_status=1, reason=1, effective_on="2024-03-01"
    )
    with store.write() as tx:
        tx.append(
            "yrd/330000",
            len(NAMES),
            [b"suspend"],
            [
                entries_pb2.Entry(
                    federation="yrd", region="330000", issued_at="t", status_change=change
                )
            ],
        )
    assert brands(store, status="suspended") == {"宋河粮液"}
    assert "宋河粮液" not in brands(store, status="valid")
    assert brands(store, text="宋河", status="suspended", issuer="330000") == {"宋河粮液"}
    assert brands(store, text="宋河", issuer="320000") == set()


def test_kind_and_uscc_filters(store) -> None:
    assert len(brands(store, kind=2)) == len(NAMES)
    assert brands(store, kind=1) == set()
    assert brands(store, uscc=_uscc(3)) == {"西湖龙井"}
    assert brands(store, uscc=_uscc(3), text="龙井") == {"西湖龙井"}
    assert brands(store, uscc=_uscc(3), text="宋河") == set()


@pytest.mark.parametrize(
    "kw",
    [
        {"issuer": '"'},
        {"issuer": '999999" OR "i330000'},
        {"issuer": '330000" OR "i330000'},
        {"region": '"'},
        {"status": '"x" OR "svalid'},
        {"text": '" OR brand : "宋'},
        {"text": 'NEAR("a" "b")'},
        {"enterprise": '"*'},
    ],
)
def test_filter_values_cannot_inject_fts5_syntax(store: Store, kw) -> None:
    """Even with validation bypassed, a value is one quoted FTS5 string: never an operator."""
    if "region" in kw:
        with pytest.raises(Exception) as info:  # the store's own region check
            queries.search_records(store.read, search_query(**kw))
        assert "region" in str(info.value)
        return
    found, _, _ = queries.search_records(store.read, search_query(**kw))
    assert found == []


def test_phrase_doubles_quotes() -> None:
    from exchange.store.search import phrase

    assert phrase('a"b') == '"a""b"'
    assert phrase('"') == '""""'


def _change(record_id: str, status: int, on: str) -> entries_pb2.Entry:
    change = entries_pb2.StatusChange(
        record_id=record_id, new_status=status, effective_on=on, reason=1, announcement_no="x"
    )
    return entries_pb2.Entry(federation="yrd", region="330000", issued_at="t", status_change=change)


def test_the_changes_of_many_records_read_at_once_equal_one_by_one(store) -> None:
    """A search page reads its hits' status changes in one statement per issuer:
    the same changes, in the same order, as a statement per record."""
    changes = [
        _change("r1", entries_pb2.SUSPENDED, "2024-03-01"),
        _change("r3", entries_pb2.REVOKED, "2024-04-01"),
        _change("r1", entries_pb2.REINSTATED, "2024-05-01"),
    ]
    with store.write() as tx:
        tx.append("yrd/330000", len(NAMES), [b"c%d" % i for i in range(3)], changes)
    keys = [("330000", f"r{i}") for i in range(len(NAMES))] + [("330000", "nope"), ("1", "r1")]
    many = queries.change_facts_of(store.read, keys)
    assert list(many) == keys
    for k in keys:  # the rows a statement per record reads, in the same order
        assert [c.ref.index for c in many[k]] == [
            r["idx"] for r in queries.change_rows(store.read, *k)
        ]
    assert [c.status.name for c in many[("330000", "r1")]] == ["SUSPENDED", "REINSTATED"]
    assert len(many[("330000", "r3")]) == 1 and many[("1", "r1")] == []
