"""The domain's vocabulary: the enums of every entry body and what each kind means.

Kinds, statuses, reasons and case types are numbered as in
``proto/brandex/v1/entries.proto`` (a test compares them both ways), so the
core reads and writes protobuf fields with them without importing protobuf.
The metadata here (which kinds expire, need Nice classes or name a product,
which level of government grants them and which issuer may log them) is the one
home of those facts; the validators in :mod:`exchange.core.records`, the
recognition rules and the search facets all read it.
"""

from __future__ import annotations

from datetime import date
from enum import IntEnum
from typing import Literal

__all__ = [
    "BODIES",
    "EXPIRES",
    "KIND_LABEL",
    "KIND_LEVEL",
    "NEEDS_NICE",
    "NICE_CLASSES",
    "PRODUCT_KINDS",
    "PROVINCIAL_FAMOUS_TRADEMARK_ABOLISHED",
    "PROVINCIAL_KINDS",
    "CaseActionType",
    "CaseType",
    "Kind",
    "KindLevel",
    "ReasonCode",
    "Sector",
    "Status",
    "issuer_may_issue",
    "kind_label",
    "reason_label",
]


# --------------------------------------------------------------------------- enums
# Names and numbers are identical to proto/brandex/v1/entries.proto (a test
# compares them both ways), so ``Kind(msg.kind)`` and ``msg.kind = Kind.X`` work.


class Kind(IntEnum):
    """``brandex.v1.RecognitionKind``."""

    RECOGNITION_KIND_UNSPECIFIED = 0
    WELL_KNOWN_TRADEMARK = 1
    PROVINCIAL_FAMOUS_BRAND_PRODUCT = 2
    PROVINCIAL_FAMOUS_TRADEMARK = 3
    CHINA_TIME_HONOURED_BRAND = 4
    PROVINCIAL_TIME_HONOURED_BRAND = 5
    GEOGRAPHICAL_INDICATION = 6
    PROVINCIAL_QUALITY_AWARD = 7
    CITY_QUALITY_AWARD = 8
    COUNTY_QUALITY_AWARD = 9
    CITY_FAMOUS_BRAND_PRODUCT = 10


class Sector(IntEnum):
    """``brandex.v1.Sector``."""

    SECTOR_UNSPECIFIED = 0
    INDUSTRIAL = 1
    AGRICULTURAL = 2
    SERVICE = 3
    TRADITIONAL_CULTURAL = 4


class Status(IntEnum):
    """``brandex.v1.Status``: the change a ``StatusChange`` makes."""

    STATUS_UNSPECIFIED = 0
    SUSPENDED = 1
    REINSTATED = 2
    REVOKED = 3
    RENEWED = 4
    CORRECTED = 5
    WITHDRAWN = 6


class ReasonCode(IntEnum):
    """``brandex.v1.ReasonCode``."""

    REASON_CODE_UNSPECIFIED = 0
    SPOT_CHECK_FAILURE = 1
    QUALITY_INCIDENT = 2
    COUNTERFEIT_INVOLVEMENT = 3
    FRAUD_IN_APPLICATION = 4
    DEREGISTRATION = 5
    RENEWAL = 6
    CONDITIONAL_REVIEW = 7
    OTHER = 8


class CaseType(IntEnum):
    """``brandex.v1.CaseType``."""

    CASE_TYPE_UNSPECIFIED = 0
    COUNTERFEIT = 1
    TRADEMARK_INFRINGEMENT = 2
    FALSE_FAMOUS_BRAND_CLAIM = 3
    WELL_KNOWN_ADVERTISING_MISUSE = 4


class CaseActionType(IntEnum):
    """``brandex.v1.CaseActionType``."""

    CASE_ACTION_TYPE_UNSPECIFIED = 0
    ACKNOWLEDGED = 1
    INSPECTION = 2
    SEIZURE = 3
    PENALTY = 4
    TRANSFERRED_TO_POLICE = 5
    CLOSED = 6
    DISMISSED = 7


# ------------------------------------------------------------------ kind metadata

KindLevel = Literal["national", "provincial", "city", "county"]

_K = Kind

#: Whether a kind carries a ``valid_until``. Well-known trademarks, time-honoured
#: brands and geographical indications are granted without a term.
EXPIRES: dict[Kind, bool] = {
    _K.WELL_KNOWN_TRADEMARK: False,
    _K.PROVINCIAL_FAMOUS_BRAND_PRODUCT: True,
    _K.PROVINCIAL_FAMOUS_TRADEMARK: True,
    _K.CHINA_TIME_HONOURED_BRAND: False,
    _K.PROVINCIAL_TIME_HONOURED_BRAND: False,
    _K.GEOGRAPHICAL_INDICATION: False,
    _K.PROVINCIAL_QUALITY_AWARD: True,
    _K.CITY_QUALITY_AWARD: True,
    _K.COUNTY_QUALITY_AWARD: True,
    _K.CITY_FAMOUS_BRAND_PRODUCT: True,
}

#: Trademark kinds protect a mark in given Nice classes, so the classes are required.
NEEDS_NICE: frozenset[Kind] = frozenset({_K.WELL_KNOWN_TRADEMARK, _K.PROVINCIAL_FAMOUS_TRADEMARK})

#: Kinds that recognise a product, so the product must be named.
PRODUCT_KINDS: frozenset[Kind] = frozenset(
    {_K.PROVINCIAL_FAMOUS_BRAND_PRODUCT, _K.CITY_FAMOUS_BRAND_PRODUCT, _K.GEOGRAPHICAL_INDICATION}
)

#: The level of government that grants a kind.
KIND_LEVEL: dict[Kind, KindLevel] = {
    _K.WELL_KNOWN_TRADEMARK: "national",
    _K.PROVINCIAL_FAMOUS_BRAND_PRODUCT: "provincial",
    _K.PROVINCIAL_FAMOUS_TRADEMARK: "provincial",
    _K.CHINA_TIME_HONOURED_BRAND: "national",
    _K.PROVINCIAL_TIME_HONOURED_BRAND: "provincial",
    _K.GEOGRAPHICAL_INDICATION: "national",
    _K.PROVINCIAL_QUALITY_AWARD: "provincial",
    _K.CITY_QUALITY_AWARD: "city",
    _K.COUNTY_QUALITY_AWARD: "county",
    _K.CITY_FAMOUS_BRAND_PRODUCT: "city",
}

#: Kinds granted by provincial-level governments.
PROVINCIAL_KINDS: frozenset[Kind] = frozenset(
    k for k, lv in KIND_LEVEL.items() if lv == "provincial"
)

#: Which issuer levels may log a kind. National decisions are logged by the
#: province of the enterprise concerned (they log national decisions about their
#: enterprises); every other kind only by its own level of government.
_ISSUER_LEVELS: dict[KindLevel, frozenset[str]] = {
    "national": frozenset({"province"}),
    "provincial": frozenset({"province"}),
    "city": frozenset({"city"}),
    "county": frozenset({"county"}),
}

#: Readable English names, used in explanations ("covers ... only").
KIND_LABEL: dict[Kind, str] = {
    _K.WELL_KNOWN_TRADEMARK: "well-known trademark",
    _K.PROVINCIAL_FAMOUS_BRAND_PRODUCT: "provincial famous-brand product",
    _K.PROVINCIAL_FAMOUS_TRADEMARK: "provincial famous trademark",
    _K.CHINA_TIME_HONOURED_BRAND: "China time-honoured brand",
    _K.PROVINCIAL_TIME_HONOURED_BRAND: "provincial time-honoured brand",
    _K.GEOGRAPHICAL_INDICATION: "geographical indication",
    _K.PROVINCIAL_QUALITY_AWARD: "provincial quality award",
    _K.CITY_QUALITY_AWARD: "city quality award",
    _K.COUNTY_QUALITY_AWARD: "county quality award",
    _K.CITY_FAMOUS_BRAND_PRODUCT: "city famous-brand product",
}

#: Provincial "famous trademark" titles were abolished from late 2017; records
#: recognised on or after this date cannot be genuine.
PROVINCIAL_FAMOUS_TRADEMARK_ABOLISHED = date(2018, 1, 1)

#: The Nice classification has 45 classes (34 goods, 11 services).
NICE_CLASSES = range(1, 46)


def kind_label(kind: int) -> str:
    """Return a readable English name of a kind, never failing on unknown numbers."""
    try:
        return KIND_LABEL[Kind(kind)]
    except (ValueError, KeyError):
        return f"kind {int(kind)}"


def reason_label(reason: int) -> str:
    """Return ``spot check failure`` for ``SPOT_CHECK_FAILURE`` and so on."""
    try:
        return ReasonCode(reason).name.lower().replace("_", " ")
    except ValueError:
        return f"reason {int(reason)}"


def issuer_may_issue(kind: Kind, issuer_level: str) -> bool:
    """Tell whether a region of ``issuer_level`` may log records of ``kind``."""
    return issuer_level in _ISSUER_LEVELS[KIND_LEVEL[kind]]


#: The ``Entry.body`` oneof fields, in proto order: also the ``type`` of a stored entry.
BODIES = (
    "recognition",
    "status_change",
    "infringement_case",
    "case_action",
    "accession",
    "withdrawal",
    "key_announcement",
    "key_revocation",
    "federation_update",
)
