"""Numbers and addresses as text: ASCII digits only, bounded, a clear None otherwise."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.core.errors import FormatError, ValidationError
from exchange.core.parsing import ascii_int, host_port
from exchange.core.policy import parse_policy
from exchange.node.config import parse_address

KEY = "07" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", 0), ("42", 42), ("007", 7), ("", None), ("²", None), ("٣", None), ("-1", None),
     ("+1", None), (" 1", None), ("1_000", None), ("1" * 19, None), ("1" * 18, int("1" * 18))],
)  # fmt: skip
def test_ascii_int(text: str, expected: int | None) -> None:
    assert ascii_int(text) == expected


@given(st.text(max_size=30))
def test_ascii_int_never_raises_and_agrees_with_int_on_ascii_digits(text: str) -> None:
    n = ascii_int(text)
    if n is not None:
        assert text.isascii() and int(text) == n


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:7340", ("127.0.0.1", 7340)), ("[::1]:1", ("[::1]", 1)), ("h:65535", ("h", 65535)),
     ("h:0", None), ("h:65536", None), ("h:²", None), (":80", None), ("h", None), ("h:", None),
     ("h:" + "9" * 5000, None)],
)  # fmt: skip
def test_host_port(text: str, expected: tuple[str, int] | None) -> None:
    assert host_port(text) == expected


def test_a_policy_with_a_superscript_quorum_is_refused_not_crashed() -> None:
    with pytest.raises(FormatError, match=r"k must be any, all or 1\.\.2"):
        parse_policy(f"witness a {KEY}\nwitness b {KEY}\ngroup g ² a b\nquorum g\n")


def test_config_addresses_use_the_same_reading() -> None:
    assert parse_address("127.0.0.1:7340") == ("127.0.0.1", 7340)
    with pytest.raises(ValidationError):
        parse_address("127.0.0.1:７３４０")  # full-width digits
