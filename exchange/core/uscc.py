"""Unified social credit codes (GB 32100-2015).

A USCC identifies the enterprise behind a recognition. Its 18th character is a
mod-31 check character, so most typing errors in an imported spreadsheet are
caught here, before the issuer signs anything it cannot take back.

The first two positions (registration authority and entity type) may be
letters: authorities such as ``A``, ``N`` and ``Y`` exist, so a digits-only rule
would reject real codes.
"""

from __future__ import annotations

from exchange.core.errors import ValidationError

__all__ = [
    "ALPHABET",
    "LENGTH",
    "WEIGHTS",
    "check_char",
    "is_valid_uscc",
    "uscc_region",
    "validate_uscc",
]

#: The 31 characters a USCC may contain; a character's value is its index.
#: I, O, S, V and Z are left out because they read like digits.
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"

#: Weights of positions 1-17: ``3 ** (i - 1) mod 31``.
WEIGHTS: tuple[int, ...] = tuple(pow(3, i, 31) for i in range(17))

#: Total length of a USCC, check character included.
LENGTH = 18

_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}


def check_char(first17: str) -> str:
    """Compute the check character for the first 17 characters of a USCC.

    Args:
        first17: the 17 characters before the check character.

    Returns:
        The character that makes the weighted sum divisible by 31.

    Raises:
        ValidationError: if ``first17`` is not 17 characters of the alphabet,
            because a check character of garbage would look authoritative.
    """
    if len(first17) != LENGTH - 1:
        raise ValidationError("uscc", f"need {LENGTH - 1} characters to compute a check", first17)
    total = 0
    for ch, weight in zip(first17, WEIGHTS, strict=True):
        value = _VALUE.get(ch)
        if value is None:
            raise ValidationError("uscc", f"character {ch!r} is not in the USCC alphabet", first17)
        total += value * weight
    return ALPHABET[(31 - total % 31) % 31]


def validate_uscc(code: str, field: str = "enterprise_uscc") -> None:
    """Reject anything that is not a well-formed USCC with a correct check character.

    Lower-case letters are rejected rather than folded: the issuer signs the
    exact string, and two spellings of one enterprise would split its history.

    Args:
        code: the candidate code.
        field: the field name to put in the error message.

    Raises:
        ValidationError: naming the first rule the code breaks (length,
            alphabet, check character).
    """
    if not isinstance(code, str) or len(code) != LENGTH:
        shown = len(code) if isinstance(code, str) else type(code).__name__
        raise ValidationError(field, f"USCC must be {LENGTH} characters, not {shown}", code)
    for pos, ch in enumerate(code, start=1):
        if ch not in _VALUE:
            raise ValidationError(
                field,
                f"USCC character {pos} ({ch!r}) is not in the alphabet {ALPHABET} "
                "(no I, O, S, V, Z; upper case only)",
                code,
            )
    expected = check_char(code[:17])
    if code[17] != expected:
        raise ValidationError(
            field, f"USCC check character is {code[17]!r}, expected {expected!r}", code
        )


def is_valid_uscc(code: object) -> bool:
    """Tell whether ``code`` is a valid USCC, for filters that must not raise."""
    if not isinstance(code, str):
        return False
    try:
        validate_uscc(code)
    except ValidationError:
        return False
    return True


def uscc_region(code: str) -> str:
    """Return positions 3-8: the GB/T 2260 code of the registering authority.

    This names where the enterprise registered, which is often a district or
    county, not necessarily the region recorded on a recognition.

    Raises:
        ValidationError: if the code is too short to hold a region part.
    """
    if len(code) < 8:
        raise ValidationError("uscc", "too short to contain a region code", code)
    return code[2:8]
