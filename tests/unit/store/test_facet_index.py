"""The facet values held in memory stay equal to the records table through every write."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date

import pytest

from exchange.core.vocabulary import Kind
from exchange.store import Store, facet_index, queries
from exchange.store.facet_index import FacetIndex, facet_status
from tests.builders import search_query
from tests.unit.store.test_search_forms import _entry, _revoke

ON = date(2025, 6, 1)


def _counts(index: FacetIndex, store: Store) -> dict:
    ids = [r[0] for r in store.read.execute("SELECT rowid FROM records")]
    return index.count(ids, ON)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "db.sqlite")
    with s.write() as tx:
        tx.ensure_origin("yrd/330000", "330000")
        tx.append("yrd/330000", 0, [b"a", b"b"], [_entry(0, "宋河"), _entry(1, "宋河粮液")])
    return s


def test_the_kept_index_follows_inserts_status_changes_and_forgetting(store) -> None:
    kept = store.facet_index()
    assert _counts(kept, store)["status"] == {"valid": 2}
    with store.write() as tx:
        tx.append(
            "yrd/330000",
            2,
            [b"c", b"d", b"e"],
            [
                _entry(2, "宋河老窖", region="330300", nice=(33, 32)),
                _revoke("r0"),
                _entry(3, "杏花村"),
            ],
        )
    after = _counts(kept, store)
    assert after == _counts(FacetIndex.load(store.read), store)
    assert after["status"] == {"valid": 3, "revoked": 1}
    assert after["region"] == {"330000": 4}
    assert after["kind"] == {"PROVINCIAL_FAMOUS_BRAND_PRODUCT": 3, "WELL_KNOWN_TRADEMARK": 1}
    assert after["nice_class"] == {"33": 1, "32": 1}
    with store.write() as tx:
        tx.forget_log("yrd/330000")
    assert _counts(kept, store) == _counts(FacetIndex.load(store.read), store)
    assert kept.count(range(100), ON)["issuer"] == {}  # every slot now empty


def test_a_rolled_back_write_leaves_the_index_as_it_was(store) -> None:
    kept = store.facet_index()
    before = kept.count(range(10), ON)
    with pytest.raises(RuntimeError), store.write() as tx:
        tx.append("yrd/330000", 2, [b"c"], [_revoke("r1")])
        raise RuntimeError("abandoned")
    assert kept.count(range(10), ON) == before
    assert before["status"] == {"valid": 2}


def test_facets_from_the_kept_index_equal_a_fresh_load(store) -> None:
    with store.write() as tx:
        tx.append("yrd/330000", 2, [b"c"], [_entry(2, "宋河", until="2025-01-01")])
    f = search_query(text="宋河")
    kept = queries.search(store.read, f, ON, with_facets=True, facet_index=store.facet_index())
    fresh = queries.search(store.read, f, ON, with_facets=True)
    assert kept.facets == fresh.facets
    assert kept.facets["status"] == {"valid": 2, "expired": 1}


@pytest.mark.parametrize(
    ("status", "start", "end", "shown"),
    [
        ("valid", "2024-01-01", "", "valid"),
        ("valid", "2024-01-01", "2025-05-31", "expired"),
        ("valid", "2024-01-01", "2025-06-01", "valid"),  # its last day
        ("valid", "2025-06-02", "", "not yet valid"),
        ("revoked", "2024-01-01", "2025-05-31", "revoked"),
    ],
)
def test_status_on_a_date(status, start, end, shown) -> None:
    def day(s: str) -> int:
        return date.fromisoformat(s).toordinal() if s else 0

    assert facet_status(status, day(start), day(end), ON.toordinal()) == shown


@pytest.fixture
def ranked(tmp_path):
    """Brands read ``songhe`` in several ranks: valid, expired on ON, revoked."""
    from tests.unit.store.test_search_forms import store as forms_store

    return forms_store.__wrapped__(tmp_path)


@pytest.mark.parametrize(
    ("text", "kw"),
    [
        ("songhe", {}),
        ("song he", {}),
        ("songh", {}),
        ("sh", {}),
        ("shly", {}),
        ("sognhe", {}),  # a typo: found one edit away
        ("songhe", {"limit": 2}),
        ("songhe", {"limit": 2, "offset": 1}),
        ("songhe", {"limit": 2, "offset": 3}),
        ("songhe", {"offset": 9}),
        ("songhe", {"region": "330300"}),  # a filter in the index
        ("songhe", {"status": "valid"}),  # checked on the row: the SQL ranks
        ("宋河", {}),  # the exact brands (r1, r4) first, then valid, then the rest
        ("宋河", {"limit": 1, "offset": 1}),
        ("宋河", {"limit": 2, "offset": 2}),
        ("宋河", {"limit": 3, "offset": 3}),
        ("宋河", {"region": "330300"}),  # a filter with an exact rank: the SQL ranks
        ("宋", {}),
        ("宋河糧液", {}),  # traditional: exact in simplified form
        ("河南", {"offset": 1}),
    ],
)
@pytest.mark.parametrize("cap", [100, 1])
def test_ranking_with_the_index_equals_ranking_in_sql(ranked, monkeypatch, text, kw, cap) -> None:
    """One FTS5 walk ranked with the validity held in memory gives the page, total,
    facets and typo flag the SQL tiers give, also when the walk is too short to
    decide the rank (``cap`` 1: it falls back to SQL)."""
    monkeypatch.setattr(queries, "COUNT_CAP", cap)
    monkeypatch.setattr(queries, "FACET_CAP", max(cap, 2))
    f = search_query(text=text, **kw)
    for facets in (False, True):
        sql = queries.search(ranked.read, f, ON, with_facets=facets)
        kept = queries.search(
            ranked.read, f, ON, with_facets=facets, facet_index=ranked.facet_index()
        )
        assert [r["record_id"] for r in kept.rows] == [r["record_id"] for r in sql.rows]
        assert kept.rows == sql.rows
        assert (kept.total, kept.capped, kept.typo) == (sql.total, sql.capped, sql.typo)
        assert (kept.facets, kept.facets_over, kept.facets_partial) == (
            sql.facets,
            sql.facets_over,
            sql.facets_partial,
        )
    if text == "songhe" and not kw:
        # valid first (r0, r4, r2 are valid on ON), then r1 (expired), r3 (revoked), r7
        assert [r["record_id"] for r in sql.rows][:3] == ["r0", "r2", "r4"]
    if text == "宋河" and not kw:
        assert [r["record_id"] for r in sql.rows] == ["r1", "r4", "r0", "r2", "r3"]


@pytest.mark.parametrize(("text", "n"), [("songhe", 6), ("宋河", 5)])
def test_a_text_query_is_ranked_without_the_sql_tiers(ranked, monkeypatch, text, n) -> None:
    """The walk decides a text query's page: the row-reading tiers are not asked."""

    def refuse(*a, **kw):
        raise AssertionError("the SQL tiers ran")

    expected = queries.search(ranked.read, search_query(text=text), ON).rows
    monkeypatch.setattr(queries, "_ranked_page", refuse)
    got = queries.search(ranked.read, search_query(text=text), ON, facet_index=ranked.facet_index())
    assert got.rows == expected and len(got.rows) == n


def test_the_status_count_follows_facet_status(tmp_path) -> None:
    """The status facet counted many at a time equals facet_status record by record."""
    cases = [
        ("valid", "2024-01-01", ""),
        ("valid", "2024-01-01", "2025-05-31"),
        ("valid", "2024-01-01", "2025-06-01"),
        ("valid", "2025-06-02", ""),
        ("valid", "2025-06-02", "2025-05-01"),  # both: expired wins, as in facet_status
        ("revoked", "2024-01-01", "2025-05-31"),
        ("suspended", "2024-01-01", ""),
    ]
    index = FacetIndex()
    for i, (status, start, end) in enumerate(cases, 1):
        index.apply([(i, {"status": status, "valid_from": start, "valid_until": end})])

    def day(s: str) -> int:
        return date.fromisoformat(s).toordinal() if s else 0

    expected = Counter(facet_status(s, day(a), day(b), ON.toordinal()) for s, a, b in cases)
    assert index.count(range(len(cases) + 3), ON)["status"] == expected


def test_a_write_committed_while_the_index_loads_is_not_lost(store, monkeypatch) -> None:
    """Writes do not wait for the load (seconds at a million records): what they
    commit meanwhile is applied to the loaded index after it."""
    real = FacetIndex.load

    def load_then_write(cls, conn):
        index = real(conn)  # the load's snapshot: before the revocation
        with store.write() as tx:
            tx.append("yrd/330000", 2, [b"c"], [_revoke("r1")])
        return index

    monkeypatch.setattr(FacetIndex, "load", classmethod(load_then_write))
    kept = store.facet_index()
    monkeypatch.setattr(FacetIndex, "load", real)
    assert _counts(kept, store)["status"] == {"valid": 1, "revoked": 1}
    assert _counts(kept, store) == _counts(FacetIndex.load(store.read), store)


def test_values_too_wide_to_pack_are_still_counted() -> None:
    """Codes past 16 bits (a kind no enum knows, 65,535 issuers) are kept aside."""
    index = FacetIndex()
    rec = {"issuer": "330000", "kind": 70000, "status": "revoked", "nice_classes": "[3]"}
    index.apply([(1, rec), (2, {**rec, "kind": 1}), (3, {**rec, "kind": -1})])
    f = index.count([1, 2, 3], ON)
    assert f["kind"] == {"70000": 1, "WELL_KNOWN_TRADEMARK": 1, "-1": 1}
    assert f["issuer"] == {"330000": 3} and f["nice_class"] == {"3": 3}
    index.apply([(1, {**rec, "kind": 2})])  # no longer wide
    assert index.count([1], ON)["kind"] == {"PROVINCIAL_FAMOUS_BRAND_PRODUCT": 1}


def _reference(recs: dict[int, dict], rowids: list[int], on: date) -> dict[str, list]:
    """Facet counts by a plain loop over the records, each facet's values in the
    order they first appear among ``rowids``."""
    out: dict[str, Counter] = {k: Counter() for k in ("issuer", "region", "kind", "status")}
    out["nice_class"] = Counter()
    day = on.toordinal()
    for r in rowids:
        rec = recs.get(r)
        if rec is None:
            continue
        out["issuer"][rec["issuer"]] += 1
        out["region"][rec["enterprise_region"][:2].ljust(6, "0")] += 1
        out["kind"][Kind(rec["kind"]).name] += 1
        for n in rec["nice_classes"]:
            out["nice_class"][str(n)] += 1
        lo = date.fromisoformat(rec["valid_from"]).toordinal()
        hi = date.fromisoformat(rec["valid_until"]).toordinal() if rec["valid_until"] else 2**31
        out["status"][facet_status(rec["status"], lo, hi, day)] += 1
    return {k: sorted(v.items()) for k, v in out.items()}


def test_counts_equal_a_plain_loop_and_keep_first_appearance_order() -> None:
    rng = random.Random(5)
    index, recs = FacetIndex(), {}
    for rowid in rng.sample(range(1, 5000), 1500):
        recs[rowid] = {
            "issuer": rng.choice(["330000", "340000", "320000"]),
            "enterprise_region": rng.choice(["330106", "340100", "110000"]),
            "kind": rng.choice([1, 2, 3]),
            "status": rng.choice(["valid", "valid", "revoked", "suspended"]),
            "valid_from": rng.choice(["2020-01-01", "2025-07-01"]),
            "valid_until": rng.choice(["", "2024-12-31", "2030-01-01"]),
            "nice_classes": rng.sample([3, 29, 30, 33], rng.randrange(3)),
        }
        index.apply([(rowid, recs[rowid])])
    rowids = rng.sample(range(0, 7000), 2000)  # unknown and empty slots among them
    got = index.count(rowids, ON)
    assert {k: sorted(v.items()) for k, v in got.items()} == _reference(recs, rowids, ON)
    first = [recs[r]["issuer"] for r in rowids if r in recs]
    assert list(got["issuer"]) == list(dict.fromkeys(first))  # ties keep log order
    held = [r for r in rowids if r in recs]
    assert index.valid_among(rowids, ON.toordinal()) == [
        r for r in held if _reference(recs, [r], ON)["status"] == [("valid", 1)]
    ]


def test_columns_grow_while_a_count_holds_views_of_them() -> None:
    """Growing replaces the columns (an array exporting its buffer to numpy cannot
    be resized in place), so a write committing during a count never fails."""
    index = FacetIndex()
    index.apply([(1, {"issuer": "330000", "status": "valid", "kind": 1, "valid_from": ""})])
    view = facet_index._view(index._status)  # what count() holds while it runs
    index.apply([(10**5, {"issuer": "340000", "status": "revoked", "kind": 1})])
    assert view[1] == index._status[1] and len(index._status) > 10**5
    assert index.count([1, 10**5], ON)["issuer"] == {"330000": 1, "340000": 1}
