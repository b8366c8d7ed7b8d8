"""USCC (GB 32100-2015): the FORMATS.md examples, generated codes and the traps."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.core.errors import ValidationError
from exchange.core.uscc import (
    ALPHABET,
    WEIGHTS,
    check_char,
    is_valid_uscc,
    uscc_region,
    validate_uscc,
)

VALID = ["91350100M000100Y43", "91110000600037341L", "912201011239989159", "91440101MA5CJQ4N59"]

first17 = st.text(alphabet=ALPHABET, min_size=17, max_size=17)


def test_alphabet_and_weights_follow_the_standard():
    assert len(ALPHABET) == 31
    assert not set("IOSVZ") & set(ALPHABET)
    assert list(WEIGHTS) == [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


@pytest.mark.parametrize("code", VALID)
def test_real_codes_validate(code):
    validate_uscc(code)
    assert is_valid_uscc(code)
    assert check_char(code[:17]) == code[17]


def test_region_part_is_positions_3_to_8():
    assert uscc_region("91350100M000100Y43") == "350100"
    assert uscc_region("91110000600037341L") == "110000"


@pytest.mark.parametrize(
    ("code", "rule"),
    [
        ("91350203M0001QAY9B", "check character"),
        ("91350100M000100Y4", "18 characters"),
        ("91350100M000100Y433", "18 characters"),
        ("", "18 characters"),
        ("91350100M000I00Y43", "not in the alphabet"),
        ("91350100m000100Y43", "not in the alphabet"),
        ("9135010０M000100Y43", "not in the alphabet"),  # full-width zero
    ],
)
def test_bad_codes_are_rejected_naming_the_rule(code, rule):
    with pytest.raises(ValidationError, match=rule) as info:
        validate_uscc(code)
    assert str(info.value).startswith("enterprise_uscc: ")
    assert not is_valid_uscc(code)


def test_field_name_is_configurable_and_non_strings_are_invalid():
    with pytest.raises(ValidationError, match=r"^infringer_uscc: "):
        validate_uscc("X", field="infringer_uscc")
    assert not is_valid_uscc(None)
    assert not is_valid_uscc(91350100)


@pytest.mark.parametrize("prefix", ["A1", "N2", "Y1", "NA", "Y3"])
def test_letters_in_the_first_two_positions_are_accepted(prefix):
    body = prefix + "330100MA2XXXXX0"
    assert len(body) == 17
    assert is_valid_uscc(body + check_char(body))


def test_check_char_rejects_bad_input():
    with pytest.raises(ValidationError):
        check_char("123")
    with pytest.raises(ValidationError):
        check_char("9135010OM000100Y4")


@given(first17)
def test_generated_codes_validate(body):
    assert is_valid_uscc(body + check_char(body))


@given(first17, st.integers(0, 17), st.sampled_from(ALPHABET))
def test_any_single_character_change_is_caught(body, pos, ch):
    code = body + check_char(body)
    if code[pos] == ch:
        return
    changed = code[:pos] + ch + code[pos + 1 :]
    assert not is_valid_uscc(changed)
