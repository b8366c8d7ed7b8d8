"""GB/T 2260 region codes: names, hierarchy and jurisdiction.

A region code identifies an issuer, and trust rule 5 asks whether one region
lies within another's jurisdiction, so the hierarchy must come from the
standard, not from string prefixes: ``341300`` (宿州市, Anhui) shares nothing
with ``320500`` (苏州市, Jiangsu) even though both read "Suzhou".

The table is packaged data (``exchange/core/data/regions.json``, built by
``tools/make_regions.py``) read once through :mod:`importlib.resources`, so the
core stays free of file paths and works from a wheel or a zip.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Literal

from exchange.core.errors import ValidationError

__all__ = [
    "Level",
    "adjacent_provinces",
    "ancestors",
    "is_region",
    "level",
    "parent",
    "province_of",
    "region_label",
    "region_name",
    "resolve_region",
    "validate_region",
    "within",
]

Level = Literal["province", "city", "county"]


@cache
def _table() -> dict[str, tuple[str, str | None, Level]]:
    text = resources.files("exchange.core.data").joinpath("regions.json").read_text("utf-8")
    raw: dict[str, list] = json.loads(text)
    return {code: (name, par, lvl) for code, (name, par, lvl) in raw.items()}


def _entry(code: str) -> tuple[str, str | None, Level]:
    try:
        return _table()[code]
    except (KeyError, TypeError):
        raise ValidationError("region", "not a GB/T 2260 region code", code) from None


def is_region(code: object) -> bool:
    """Tell whether ``code`` is a six-digit code present in the packaged table."""
    return isinstance(code, str) and code in _table()


def validate_region(code: object, field: str = "region") -> None:
    """Reject a code that is not a real GB/T 2260 division.

    Args:
        code: the candidate code.
        field: the field name for the error message.

    Raises:
        ValidationError: if the code is malformed or unknown (statistical zones
            such as ``411671`` are deliberately unknown).
    """
    if not isinstance(code, str) or len(code) != 6 or not (code.isascii() and code.isdigit()):
        raise ValidationError(field, "region code must be six ASCII digits (GB/T 2260)", code)
    if code not in _table():
        raise ValidationError(field, "not a GB/T 2260 region code", code)


@cache
def _by_name() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for code, (name, _, _) in _table().items():
        out.setdefault(name, []).append(code)
    return out


def resolve_region(text: object, field: str = "region") -> str:
    """The code of a region given by code (``340000``) or exact Chinese name (``安徽省``).

    The one place a region typed by a person is read, so every option that takes
    a code takes a name too. A name several regions share (``鼓楼区`` is in six
    cities) is refused with each candidate's code and enclosing regions.

    Raises:
        ValidationError: unknown code or name, or an ambiguous name.
    """
    value = str(text or "").strip()
    if value.isascii() and value.isdigit():
        validate_region(value, field)
        return value
    codes = _by_name().get(value, [])
    if len(codes) == 1:
        return codes[0]
    if not codes:
        raise ValidationError(field, "not a GB/T 2260 region code or exact region name", value)
    shown = "; ".join(
        f"{c} ({''.join(region_name(a) for a in reversed(ancestors(c)))}{value})" for c in codes
    )
    raise ValidationError(field, f"names {len(codes)} regions, give the code: {shown}", value)


def region_name(code: str) -> str:
    """Return the Chinese name of a region (e.g. ``330300`` -> ``温州市``).

    Raises:
        ValidationError: if the code is unknown.
    """
    return _entry(code)[0]


def region_label(code: str) -> str:
    """Return ``name (code)`` for messages, or just the code if it is unknown.

    Explanations must never fail because a peer logged a code this build does
    not know, so unknown codes are shown rather than raised.
    """
    entry = _table().get(code) if isinstance(code, str) else None
    return f"{entry[0]} ({code})" if entry else str(code)


def parent(code: str) -> str | None:
    """Return the enclosing region's code, or ``None`` for a province.

    Raises:
        ValidationError: if the code is unknown.
    """
    return _entry(code)[1]


def ancestors(code: str) -> list[str]:
    """Return every enclosing region, nearest first (county -> city -> province).

    Raises:
        ValidationError: if the code is unknown.
    """
    out: list[str] = []
    current = parent(code)
    while current is not None:
        out.append(current)
        current = parent(current)
    return out


def province_of(code: str) -> str:
    """Return the province-level region containing ``code`` (itself for a province).

    Raises:
        ValidationError: if the code is unknown.
    """
    chain = ancestors(code)
    return chain[-1] if chain else code


def level(code: str) -> Level:
    """Return ``"province"``, ``"city"`` or ``"county"``.

    Raises:
        ValidationError: if the code is unknown.
    """
    return _entry(code)[2]


def within(region: str, jurisdiction: str) -> bool:
    """Tell whether ``region`` lies within ``jurisdiction`` (itself included).

    Unknown codes are within nothing but themselves: a decision about an
    unknown region must not be widened by guessing from its digits.
    """
    if region == jurisdiction:
        return True
    if not is_region(region):
        return False
    return jurisdiction in ancestors(region)


# Land borders between the 31 province-level divisions (first two digits of the
# code), plus Hainan-Guangdong across the Qiongzhou Strait so that no province is
# alone. Written once, one way; ``adjacent_provinces`` makes it symmetric.
_BORDERS: dict[str, tuple[str, ...]] = {
    "11": ("12", "13"),
    "12": ("13",),
    "13": ("14", "15", "21", "37", "41"),
    "14": ("15", "41", "61"),
    "15": ("21", "22", "23", "61", "62", "64"),
    "21": ("22",),
    "22": ("23",),
    "31": ("32", "33"),
    "32": ("33", "34", "37"),
    "33": ("34", "35", "36"),
    "34": ("36", "37", "41", "42"),
    "35": ("36", "44"),
    "36": ("42", "43", "44"),
    "37": ("41",),
    "41": ("42", "61"),
    "42": ("43", "50", "61"),
    "43": ("44", "45", "50", "52"),
    "44": ("45", "46"),
    "45": ("52", "53"),
    "50": ("51", "52", "61"),
    "51": ("52", "53", "54", "61", "62", "63"),
    "52": ("53",),
    "53": ("54",),
    "54": ("63", "65"),
    "61": ("62", "64"),
    "62": ("63", "64", "65"),
    "63": ("65",),
}


@cache
def _adjacency() -> dict[str, tuple[str, ...]]:
    pairs: dict[str, set[str]] = {}
    for a, bs in _BORDERS.items():
        for b in bs:
            pairs.setdefault(a + "0000", set()).add(b + "0000")
            pairs.setdefault(b + "0000", set()).add(a + "0000")
    return {k: tuple(sorted(v)) for k, v in pairs.items()}


def adjacent_provinces(code: str) -> tuple[str, ...]:
    """Return the province-level codes bordering the province that contains ``code``.

    The overlay's witness rule asks for "neighbouring provinces"; GB/T 2260 has no
    geography, so the borders are a small table here (land borders, and Hainan to
    Guangdong across the strait), sorted by code.

    Raises:
        ValidationError: if the code is unknown.
    """
    return _adjacency().get(province_of(code), ())
