"""The facet values held in memory stay equal to the records table through every write."""

from __future__ import annotations

from datetime import date

import pytest

from exchange.store import Store, queries
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
