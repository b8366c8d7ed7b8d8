"""Regions typed by name or code: one resolver (exchange.core.regions.resolve_region)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.core import regions
from exchange.core.errors import ValidationError


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("340000", "340000"),
        ("安徽省", "340000"),
        ("合肥市", "340100"),
        ("杭州市", "330100"),
        (" 河南省 ", "410000"),
        ("鹿邑县", "411628"),
    ],
)
def test_codes_and_unique_names(typed, code) -> None:
    assert regions.resolve_region(typed) == code


def test_a_shared_name_lists_every_candidate() -> None:
    with pytest.raises(ValidationError) as exc:
        regions.resolve_region("鼓楼区", "handling_region")
    text = str(exc.value)
    assert exc.value.field == "handling_region"
    for code in ("320106", "320302", "350102", "410204"):
        assert code in text
    assert "江苏省南京市鼓楼区" in text


@pytest.mark.parametrize("typed", ["", "不存在市", "123", "999999", "安徽"])
def test_unknown_is_refused(typed) -> None:
    with pytest.raises(ValidationError):
        regions.resolve_region(typed)


_CODES = sorted(regions._table())


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_CODES))
def test_every_region_resolves_by_code_and_by_name_unless_shared(code) -> None:
    assert regions.resolve_region(code) == code
    name = regions.region_name(code)
    shared = [c for c in _CODES if regions.region_name(c) == name]
    if len(shared) == 1:
        assert regions.resolve_region(name) == code
    else:
        with pytest.raises(ValidationError, match=code):
            regions.resolve_region(name)
