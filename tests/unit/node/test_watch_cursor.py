"""Watch cursors: what a client sends back is parsed strictly, and filters match records."""

from __future__ import annotations

import base64
import json

import pytest

from exchange.core.errors import ValidationError
from exchange.node.watch import MAX_CURSOR, Cursor, WatchFilter


def _raw(doc: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


def test_a_cursor_round_trips() -> None:
    c = Cursor({"yrd/330000": 12, "yrd/340000": 0}, violation=3, evidence=1)
    assert Cursor.decode(c.encode()) == c


@pytest.mark.parametrize(
    "text",
    [
        "not-a-cursor!",
        _raw([1, 2]),
        _raw({"o": {"yrd/330000": -1}, "v": 0, "e": 0}),
        _raw({"o": {"yrd/330000": True}, "v": 0, "e": 0}),
        _raw({"o": {}, "v": "0", "e": 0}),
        _raw({"o": {}, "v": 0}),
        "A" * (MAX_CURSOR + 1),
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="cursor"):
        Cursor.decode(text)


def test_filters_match_by_brand_uscc_record_or_region() -> None:
    rec = {
        "record_id": "r1",
        "brand_name": "宋河粮液",
        "brand_name_latin": "Songhe",
        "enterprise_uscc": "U1",
    }
    assert WatchFilter(brand="宋河").record("410000", rec)
    assert WatchFilter(brand="songhe").record("410000", rec)
    assert not WatchFilter(brand="西湖").record("410000", rec)
    assert WatchFilter(uscc="U1").record("410000", rec)
    assert WatchFilter(issuer="410000", record_id="r1").record("410000", rec)
    assert not WatchFilter(issuer="330000", record_id="r1").record("410000", rec)
    assert WatchFilter(region="410000").record("410000", rec)
    assert not WatchFilter(region="330000").record("410000", rec)
    assert WatchFilter().record("330000", {})
