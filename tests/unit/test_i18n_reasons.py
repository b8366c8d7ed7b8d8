"""Every phrasing of a recognition reason has Chinese (exchange.i18n.reasons).

The decisions below reach every reason code core can give; each reason's text
must come out in Chinese with no English words left (ids and dates aside), so a
phrasing changed in core without its pattern fails here.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

import pytest

from exchange.core.recognition import (
    AccessionFacts,
    ChangeFacts,
    RecordFacts,
    WithdrawalFacts,
    decide,
)
from exchange.core.vocabulary import Kind, ReasonCode, Status
from exchange.i18n.reasons import reason_text

D = date.fromisoformat
PFBP = Kind.PROVINCIAL_FAMOUS_BRAND_PRODUCT


def _acc(agreement, region, start, until=None, kinds=frozenset({PFBP})):
    return AccessionFacts(agreement, region, kinds, D(start), D(until) if until else None)


YRD = [_acc("yrd-2006", r, "2006-08-29") for r in ("310000", "330000", "340000")]
ZJ = RecordFacts("330000", "zj-1", PFBP, "正泰", D("2023-12-20"), D("2024-01-01"), D("2026-12-31"))
WZ = replace(ZJ, issuer="330300", record_id="wz-1", kind=Kind.CITY_FAMOUS_BRAND_PRODUCT)
AWARD = replace(ZJ, record_id="zj-qa", kind=Kind.PROVINCIAL_QUALITY_AWARD)
NO_END = replace(ZJ, valid_until=None)


def _change(status, on="2024-05-01", reason=ReasonCode.SPOT_CHECK_FAILURE):
    return ChangeFacts(status, D(on), None, reason)


# (record, changes, accessions, withdrawals, region, on, code)
DECISIONS = [
    (ZJ, [], YRD, [], "330000", "2024-06-01", "jurisdiction"),
    (ZJ, [], YRD, [], "330300", "2024-06-01", "jurisdiction"),
    (ZJ, [], YRD, [], "340000", "2024-06-01", "agreement"),
    (ZJ, [], YRD, [], "340100", "2024-06-01", "agreement"),
    (NO_END, [], YRD, [], "340000", "2024-06-01", "agreement"),
    (ZJ, [], YRD, [], "340000", "2027-06-01", "expired"),
    (ZJ, [], YRD, [], "340000", "2023-12-25", "not-yet-valid"),
    (ZJ, [_change(Status.SUSPENDED)], YRD, [], "340000", "2024-06-01", "suspended"),
    (ZJ, [_change(Status.REVOKED)], YRD, [], "340000", "2024-06-01", "revoked"),
    (ZJ, [_change(Status.WITHDRAWN)], YRD, [], "340000", "2024-06-01", "withdrawn"),
    (
        ZJ,
        [],
        [*YRD[:2], _acc("yrd-2006", "340000", "2025-01-01")],
        [],
        "340000",
        "2024-06-01",
        "agreement-not-in-force",
    ),
    (
        ZJ,
        [],
        YRD,
        [WithdrawalFacts("yrd-2006", "340000", D("2024-03-01"))],
        "340000",
        "2024-06-01",
        "agreement-not-in-force",
    ),
    (
        ZJ,
        [],
        [*YRD[:2], _acc("yrd-2006", "340000", "2006-08-29", "2020-01-01")],
        [],
        "340000",
        "2024-06-01",
        "agreement-not-in-force",
    ),
    (AWARD, [], YRD, [], "340000", "2024-06-01", "kind-not-covered"),
    (
        AWARD,
        [],
        [*YRD[:2], _acc("yrd-2006", "340000", "2006-08-29", kinds=frozenset(Kind) - {PFBP})],
        [],
        "340000",
        "2024-06-01",
        "kind-not-covered",
    ),
    (WZ, [], YRD, [], "340000", "2024-06-01", "issuer-not-party"),
    (WZ, [], YRD, [], "330000", "2024-06-01", "issuer-not-party"),
    (ZJ, [], YRD, [], "410000", "2024-06-01", "no-agreement"),
]


def _english_left(zh: str) -> list[str]:
    """English words left in a translation, ids (zj-1, yrd-2006) aside."""
    return re.findall(r"(?<![\w-])[A-Za-z]{3,}(?![\w-])", zh)


@pytest.mark.parametrize("case", DECISIONS, ids=[f"{c[-1]}-{i}" for i, c in enumerate(DECISIONS)])
def test_every_reason_has_chinese(case) -> None:
    record, changes, accs, wds, region, on, code = case
    decision = decide(record, changes, accs, wds, region, D(on))
    assert decision.code == code, decision
    for reason in decision.reasons:
        zh = reason_text(reason.text, "zh")
        assert zh != reason.text, reason.text
        assert not _english_left(zh), (reason.text, zh)
        assert "'s" not in reason.text  # English says "record X of 浙江省 (330000)"
        for label in re.findall(r"\S+ \(\d{6}\)", reason.text):
            assert label in zh, (label, zh)  # regions keep name and code
        assert reason_text(reason.text, "en") == reason.text


def test_suspension_reason_and_kinds_are_chinese() -> None:
    d = decide(ZJ, [_change(Status.SUSPENDED)], YRD, [], "340000", D("2024-06-01"))
    assert reason_text(d.reasons[0].text, "zh") == (
        "浙江省 (330000)的记录 zj-1（正泰）自 2024-05-01 起暂停（抽检不合格）"
    )
    d = decide(AWARD, [], YRD, [], "340000", D("2024-06-01"))
    assert "省名牌产品" in reason_text(d.reasons[0].text, "zh")
    assert "省质量奖" in reason_text(d.reasons[0].text, "zh")


def test_an_unknown_phrasing_is_shown_as_sent() -> None:
    assert reason_text("a newer node's reason", "zh") == "a newer node's reason"
