"""Search as staff type it: pinyin, initials, traditional characters, typos; ranking; facets."""

from __future__ import annotations

import sqlite3

import pytest

from exchange._proto.brandex.v1 import entries_pb2
from exchange.store import Store, queries
from exchange.store.search import create_search_index, index_values, match_expression
from tests.builders import search_entry, search_query

ON = "2025-06-01"


def _entry(i: int, brand: str, *, region: str = "330106", until: str = "2026-12-31", nice=()):
    return search_entry(
        i,
        brand,
        product="白酒",
        enterprise=f"某某{i}有限公司",
        region=region,
        until=until,
        nice=tuple(nice),
        uscc17="91330106MA2C",
    )


def _revoke(record_id: str) -> entries_pb2.Entry:
    change = entries_pb2.StatusChange(
        record_id=record_id,
        new_status=entries_pb2.REVOKED,
        effective_on="2024-06-01",
        reason=1,
        announcement_no="x",
    )
    return entries_pb2.Entry(federation="yrd", region="330000", issued_at="t", status_change=change)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "db.sqlite")
    entries = [
        _entry(0, "河南宋河", region="330300"),  # a substring match, valid
        _entry(1, "宋河", until="2025-01-01"),  # exact, but expired on ON
        _entry(2, "宋河粮液", region="330302", nice=(33,)),
        _entry(3, "宋河老窖"),  # revoked below
        _entry(4, "宋河", region="330200"),  # exact and valid
        _entry(5, "西安古城"),
        _entry(6, "先锋"),
        _entry(7, "送合"),  # the same pinyin as 宋河, other characters
    ]
    with s.write() as tx:
        tx.ensure_origin("yrd/330000", "330000")
        tx.append("yrd/330000", 0, [b"e%d" % i for i in range(len(entries))], entries)
        tx.append("yrd/330000", len(entries), [b"rev"], [_revoke("r3")])
    return s


def find(store: Store, text: str, **kw) -> list[str]:
    answer = queries.search(store.read, search_query(text=text, **kw), _date(ON))
    return [r["record_id"] for r in answer.rows]


def _date(s: str):
    from datetime import date

    return date.fromisoformat(s)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("songhe", {"r0", "r1", "r2", "r3", "r4", "r7"}),
        ("song he", {"r0", "r1", "r2", "r3", "r4", "r7"}),
        ("songheliangye", {"r2"}),
        ("song he liang ye", {"r2"}),
        ("songheli", {"r2"}),  # the last syllable typed in part
        ("song hel", {"r2", "r3"}),  # one letter of the last: liang, lao
        ("son", {"r0", "r1", "r2", "r3", "r4", "r7"}),  # one syllable in part
        ("shly", {"r2"}),
        ("hn", {"r0"}),  # initials inside a name: 河南宋河 -> hnsh
        ("xian", {"r5", "r6"}),  # xi an (西安) and xian (先)
        ("宋河糧液", {"r2"}),
        ("糧", {"r2"}),
    ],
)
def test_query_forms(store, text, expected) -> None:
    assert set(find(store, text)) == expected


def test_typo_in_pinyin_is_forgiven_only_when_nothing_matches(store) -> None:
    answer = queries.search(store.read, search_query(text="songheliangey"), _date(ON))
    assert [r["record_id"] for r in answer.rows] == ["r2"] and answer.typo
    exact = queries.search(store.read, search_query(text="songhe"), _date(ON))
    assert not exact.typo
    assert find(store, "qqqqqq") == []


def test_exact_brand_first_then_valid_then_the_rest(store) -> None:
    got = find(store, "宋河")
    # exact brand (valid r4 and expired r1, in log order), then valid, then revoked
    assert got[:2] == ["r1", "r4"]
    assert got[2:4] == ["r0", "r2"]
    assert got[4:] == ["r3"]
    # traditional input ranks the same brand first
    assert find(store, "宋河")[:2] == find(store, "宋河")[:2]


def test_valid_before_expired_or_revoked_for_pinyin(store) -> None:
    got = find(store, "songhe")
    assert got.index("r3") > max(got.index(x) for x in ("r0", "r2", "r4", "r7"))
    assert got.index("r1") > max(got.index(x) for x in ("r0", "r2", "r4", "r7"))


def test_pages_follow_the_ranking(store) -> None:
    whole = find(store, "宋河", limit=100)
    paged = [x for off in range(0, 5) for x in find(store, "宋河", limit=1, offset=off)]
    assert paged == whole


def test_facets_count_every_match(store) -> None:
    answer = queries.search(store.read, search_query(text="宋河"), _date(ON), with_facets=True)
    f = answer.facets
    assert answer.facets_over == 5 and not answer.facets_partial
    assert f["issuer"] == {"330000": 5}
    assert f["region"] == {"330000": 5}
    assert f["status"] == {"valid": 3, "expired": 1, "revoked": 1}
    assert f["kind"]["WELL_KNOWN_TRADEMARK"] == 1
    assert f["nice_class"] == {"33": 1}
    # filters narrow the facets too
    narrowed = queries.search(
        store.read, search_query(text="宋河", status="revoked"), _date(ON), with_facets=True
    )
    assert narrowed.facets["status"] == {"revoked": 1}


@pytest.mark.parametrize(
    "columns",
    [
        "brand",  # before the pinyin columns
        # before the pinyin tokens were marked (unmarked tokens would find nothing now)
        "brand, product, enterprise, latin, brand2, product2, enterprise2, tags, py1, py2, ini",
        # before the filter tags were marked (a filtered search would find nothing now)
        "brand, product, enterprise, latin, brand2, product2, enterprise2, tags, pinyin1,"
        " pinyin2, initials2",
        # before each pinyin column had its own mark
        "brand, product, enterprise, latin, brand2, product2, enterprise2, filters, pinyin1,"
        " pinyin2, initials2",
    ],
)
def test_an_older_index_is_rebuilt(tmp_path, columns) -> None:
    """A file whose FTS5 table has other columns is re-indexed when opened."""
    s = Store(tmp_path / "db.sqlite")
    with s.write() as tx:
        tx.ensure_origin("yrd/330000", "330000")
        tx.append("yrd/330000", 0, [b"a"], [_entry(0, "宋河粮液")])
    s.close()
    conn = sqlite3.connect(tmp_path / "db.sqlite")
    conn.execute("DROP TABLE records_fts")
    conn.execute(f"CREATE VIRTUAL TABLE records_fts USING fts5({columns}, content='')")
    conn.commit()
    conn.close()
    s = Store(tmp_path / "db.sqlite")
    assert find(s, "shly") == ["r0"] and find(s, "宋河") == ["r0"]


def test_a_rebuild_in_batches_survives_an_interruption(tmp_path) -> None:
    """Rebuilt a batch per transaction into a side table: a leftover side table from an
    interrupted rebuild is discarded and the rebuild runs again, finding every record."""
    path = tmp_path / "db.sqlite"
    s = Store(path)
    with s.write() as tx:
        tx.ensure_origin("yrd/330000", "330000")
        brands = ["宋河粮液", "宋河酒", "河南宋河", "粮液春", "宋城"]
        tx.append("yrd/330000", 0, [b"a"] * 5, [_entry(i, b) for i, b in enumerate(brands)])
    s.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE records_fts")
    conn.execute("CREATE VIRTUAL TABLE records_fts USING fts5(brand, content='')")
    # What an interrupted rebuild leaves behind: a partial side table.
    conn.execute("CREATE VIRTUAL TABLE records_fts_next USING fts5(junk, content='')")
    create_search_index(conn, batch=2)
    segments = conn.execute("SELECT count(DISTINCT segid) FROM records_fts_idx").fetchone()[0]
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert "records_fts_next" not in names
    assert segments == 1  # a segment per batch, merged into one at the end
    s = Store(path)
    assert sorted(find(s, "宋河")) == ["r0", "r1", "r2"]
    assert sorted(find(s, "songhe")) == ["r0", "r1", "r2"]
    assert find(s, "宋城") == ["r4"]


def test_a_partial_last_syllable_is_spelled_out_not_a_prefix() -> None:
    """An FTS5 prefix on a pinyin token merges every matching term's postings before
    the first row: the pinyin columns get whole syllables only (Latin words keep theirs)."""
    expr = match_expression("xinjia")
    pinyin = expr.split(" OR ")[1:]
    assert pinyin and not any(p.endswith("*)") for p in pinyin)
    assert '"\ue002xinjiang"' in expr and '"\ue002xinji \ue002jiao"' in expr
    assert expr.startswith('({brand product enterprise latin} : "xinjia"*)')


def test_merging_the_index_keeps_every_answer(tmp_path) -> None:
    s = Store(tmp_path / "db.sqlite")
    brands = ["宋河粮液", "宋河酒", "河南宋河", "粮液春", "宋城"]
    with s.write() as tx:
        tx.ensure_origin("yrd/330000", "330000")
    for i, b in enumerate(brands):  # a segment per transaction
        with s.write() as tx:
            tx.append("yrd/330000", i, [b"a"], [_entry(i, b)])
    segments = "SELECT count(DISTINCT segid) FROM records_fts_idx"
    before = {q: sorted(find(s, q)) for q in ("宋河", "songhe", "shly", "song", "宋")}
    assert s.read.execute(segments).fetchone()[0] > 1
    s.merge_search_index()
    assert s.read.execute(segments).fetchone()[0] == 1
    assert {q: sorted(find(s, q)) for q in before} == before
    assert before["宋河"] == ["r0", "r1", "r2"]


def test_index_values_hold_the_pinyin_forms() -> None:
    values = index_values({"brand_name": "宋河糧液", "kind": 2})
    # Pinyin tokens are marked, so a Latin query's terms never include them, and
    # each column has its own mark, so a syllable pair spelled like a syllable
    # (qi+an, qian) is not the syllable's term.
    assert "\ue000song \ue000he \ue000liang \ue000ye" in values
    assert "\ue002songhe \ue002heliang \ue002liangye" in values
    assert "\ue003sh \ue003hl \ue003ly" in values
    assert "song he liang ye" not in values
    syllables, pairs, _ = (set(v.split()) for v in index_values({"brand_name": "千奇安"})[-3:])
    assert {t[1:] for t in syllables} & {t[1:] for t in pairs} == {"qian"}  # qian, qi+an
    assert not syllables & pairs
    terms = [set(v.split()) for v in values[-3:]]
    assert not (terms[0] & terms[1] or terms[0] & terms[2] or terms[1] & terms[2])
    conn = sqlite3.connect(":memory:")
    create_search_index(conn)  # the columns the values are written to exist
    assert len(values) == len(list(conn.execute("PRAGMA table_info(records_fts)")))


def test_facets_stop_at_the_cap_and_say_so(store, monkeypatch) -> None:
    monkeypatch.setattr(queries, "FACET_CAP", 2)
    answer = queries.search(store.read, search_query(text="宋河"), _date(ON), with_facets=True)
    assert answer.facets_over == 2 and answer.facets_partial
    assert sum(answer.facets["issuer"].values()) == 2
    few = queries.search(store.read, search_query(text="粮液"), _date(ON), with_facets=True)
    assert few.facets_over == 1 and not few.facets_partial


def test_a_latin_prefix_never_reads_the_filter_tags(tmp_path) -> None:
    """The tags are marked, so the first letter typed (``s*``) is not a prefix of the
    status tag every valid record carries: the index holds no Latin term starting
    with ``s`` at all for these records, and filters still narrow."""
    s = Store(tmp_path / "db.sqlite")
    with s.write() as tx:
        tx.ensure_origin("yrd/330000", "330000")
        tx.append("yrd/330000", 0, [b"a"] * 2, [_entry(0, "宋河粮液"), _entry(1, "杏花村")])
    conn = sqlite3.connect(tmp_path / "db.sqlite")
    conn.execute("CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, records_fts, 'row')")
    terms = {r[0] for r in conn.execute("SELECT term FROM temp.v")}
    conn.close()
    assert not {t for t in terms if t[:1] in "sirkn"}, terms
    assert find(s, "s") == ["r0"]  # songheliangye, read as a syllable
    assert queries.search(s.read, search_query(text="宋河", status="valid"), _date(ON)).rows
