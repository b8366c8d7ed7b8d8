"""Trust rule 5 (DESIGN.md) as a table: each case checks the flag and the reason code."""

from dataclasses import replace
from datetime import date

import pytest

from exchange.core.recognition import (
    AccessionFacts,
    ChangeFacts,
    EntryRef,
    RecordFacts,
    WithdrawalFacts,
    decide,
    recognised_regions,
    status_on,
)
from exchange.core.vocabulary import Kind, ReasonCode, Status

D = date.fromisoformat
PFBP = Kind.PROVINCIAL_FAMOUS_BRAND_PRODUCT
YRD_KINDS = frozenset({PFBP})


def ref(region: str, index: int) -> EntryRef:
    return EntryRef(f"yrd/{region}", index)


def acc(agreement, region, start, until=None, kinds=YRD_KINDS, index=0):
    return AccessionFacts(
        agreement, region, kinds, D(start), D(until) if until else None, ref(region, index)
    )


# The real agreements: 2003 (three parties), 2006 (five parties).
YRD = [
    acc("yrd-2003", "310000", "2003-08-31"),
    acc("yrd-2003", "320000", "2003-08-31"),
    acc("yrd-2003", "330000", "2003-08-31"),
    acc("yrd-2006", "310000", "2006-08-29", index=1),
    acc("yrd-2006", "320000", "2006-08-29", index=1),
    acc("yrd-2006", "330000", "2006-08-29", index=1),
    acc("yrd-2006", "340000", "2006-08-29", index=1),
    acc("yrd-2006", "360000", "2006-08-29", index=1),
]
# Hypothetical, to exercise withdrawal: Jiangxi leaves yrd-2006 on 2020-01-01.
JX_LEAVES = WithdrawalFacts("yrd-2006", "360000", D("2020-01-01"), ref("360000", 5))

ZJ = RecordFacts(
    issuer="330000",
    record_id="zj-2023-0001",
    kind=PFBP,
    brand_name="正泰",
    recognised_on=D("2023-12-20"),
    valid_from=D("2024-01-01"),
    valid_until=D("2026-12-31"),
    ref=ref("330000", 10),
)
ZJ_2004 = replace(
    ZJ,
    record_id="zj-2004-0001",
    recognised_on=D("2003-12-20"),
    valid_from=D("2004-01-01"),
    valid_until=D("2006-12-31"),
)
ZJ_2018 = replace(
    ZJ,
    record_id="zj-2018-0001",
    recognised_on=D("2017-12-20"),
    valid_from=D("2018-01-01"),
    valid_until=D("2020-12-31"),
)
ZJ_AWARD = replace(ZJ, record_id="zj-qa-1", kind=Kind.PROVINCIAL_QUALITY_AWARD)
WZ = RecordFacts(
    issuer="330300",
    record_id="wz-2024-0001",
    kind=Kind.CITY_FAMOUS_BRAND_PRODUCT,
    brand_name="奥康",
    recognised_on=D("2024-01-10"),
    valid_from=D("2024-01-10"),
    valid_until=D("2027-01-09"),
    ref=ref("330300", 3),
)

SUSPENDED = [
    ChangeFacts(
        Status.SUSPENDED, D("2024-05-01"), None, ReasonCode.SPOT_CHECK_FAILURE, ref("330000", 11)
    ),
    ChangeFacts(Status.REINSTATED, D("2024-06-01"), None, ReasonCode.OTHER, ref("330000", 12)),
]
REVOKED = [
    ChangeFacts(
        Status.REVOKED, D("2024-05-01"), None, ReasonCode.QUALITY_INCIDENT, ref("330000", 11)
    ),
]
WITHDRAWN = [ChangeFacts(Status.WITHDRAWN, D("2024-05-01"), None, ReasonCode.OTHER, None)]
LATE_RENEWAL = [
    ChangeFacts(
        Status.RENEWED, D("2027-02-01"), D("2029-12-31"), ReasonCode.RENEWAL, ref("330000", 20)
    ),
]

# name: (record, changes, accessions, withdrawals, region, date, recognised, code)
CASES = {
    "same region": (ZJ, [], YRD, [], "330000", "2024-06-01", True, "jurisdiction"),
    "province record in one of its cities": (
        ZJ,
        [],
        [],
        [],
        "330300",
        "2024-06-01",
        True,
        "jurisdiction",
    ),
    "province record in one of its counties": (
        ZJ,
        [],
        [],
        [],
        "330381",
        "2024-06-01",
        True,
        "jurisdiction",
    ),
    "city record in its own county": (WZ, [], [], [], "330381", "2024-06-01", True, "jurisdiction"),
    "city record in its province (parties there)": (
        WZ,
        [],
        YRD,
        [],
        "330000",
        "2024-06-01",
        False,
        "issuer-not-party",
    ),
    "city record in its province (no agreements)": (
        WZ,
        [],
        [],
        [],
        "330000",
        "2024-06-01",
        False,
        "no-agreement",
    ),
    "city record in a sister city": (WZ, [], [], [], "330100", "2024-06-01", False, "no-agreement"),
    "agreement in force, partner province": (
        ZJ,
        [],
        YRD,
        [],
        "340000",
        "2024-06-01",
        True,
        "agreement",
    ),
    "agreement in force, city of the partner": (
        ZJ,
        [],
        YRD,
        [],
        "340100",
        "2024-06-01",
        True,
        "agreement",
    ),
    "agreement in force, county of the partner": (
        ZJ,
        [],
        YRD,
        [],
        "341321",
        "2024-06-01",
        True,
        "agreement",
    ),
    "agreement in force, Suzhou (Jiangsu)": (
        ZJ,
        [],
        YRD,
        [],
        "320500",
        "2024-06-01",
        True,
        "agreement",
    ),
    "2003 agreement: Jiangsu recognises in 2004": (
        ZJ_2004,
        [],
        YRD,
        [],
        "320000",
        "2004-06-01",
        True,
        "agreement",
    ),
    "agreement not yet in force for Anhui": (
        ZJ_2004,
        [],
        YRD,
        [],
        "340000",
        "2005-06-01",
        False,
        "agreement-not-in-force",
    ),
    "agreement not yet in force, Suzhou (Anhui)": (
        ZJ_2004,
        [],
        YRD,
        [],
        "341300",
        "2005-06-01",
        False,
        "agreement-not-in-force",
    ),
    "agreement in force from its first day": (
        ZJ_2004,
        [],
        YRD,
        [],
        "340000",
        "2006-08-29",
        True,
        "agreement",
    ),
    "partner withdraws: the day before": (
        ZJ_2018,
        [],
        YRD,
        [JX_LEAVES],
        "360000",
        "2019-12-31",
        True,
        "agreement",
    ),
    "partner withdraws: on the day": (
        ZJ_2018,
        [],
        YRD,
        [JX_LEAVES],
        "360000",
        "2020-01-01",
        False,
        "agreement-not-in-force",
    ),
    "partner withdraws: city of the partner after": (
        ZJ_2018,
        [],
        YRD,
        [JX_LEAVES],
        "360100",
        "2020-06-01",
        False,
        "agreement-not-in-force",
    ),
    "issuer withdraws": (
        ZJ_2018,
        [],
        YRD,
        [WithdrawalFacts("yrd-2006", "330000", D("2019-01-01"))],
        "340000",
        "2019-06-01",
        False,
        "agreement-not-in-force",
    ),
    "issuer withdraws but another agreement still binds": (
        ZJ_2018,
        [],
        YRD,
        [WithdrawalFacts("yrd-2006", "330000", D("2019-01-01"))],
        "320000",
        "2019-06-01",
        True,
        "agreement",
    ),
    "accession ended": (
        ZJ,
        [],
        [*YRD[:-1], acc("yrd-2006", "360000", "2006-08-29", "2023-12-31")],
        [],
        "360000",
        "2024-06-01",
        False,
        "agreement-not-in-force",
    ),
    "re-accession after withdrawal": (
        ZJ,
        [],
        [*YRD, acc("yrd-2006", "360000", "2022-01-01", index=9)],
        [JX_LEAVES],
        "360000",
        "2024-06-01",
        True,
        "agreement",
    ),
    "record expired (own region)": (ZJ, [], YRD, [], "330000", "2027-01-01", False, "expired"),
    "record expired (partner)": (ZJ, [], YRD, [], "340000", "2027-01-01", False, "expired"),
    "last valid day": (ZJ, [], YRD, [], "340000", "2026-12-31", True, "agreement"),
    "not yet valid": (ZJ, [], YRD, [], "330000", "2023-12-25", False, "not-yet-valid"),
    "renewed late: before the renewal": (
        ZJ,
        LATE_RENEWAL,
        YRD,
        [],
        "330000",
        "2027-01-15",
        False,
        "expired",
    ),
    "renewed late: after the renewal": (
        ZJ,
        LATE_RENEWAL,
        YRD,
        [],
        "340000",
        "2027-03-01",
        True,
        "agreement",
    ),
    "before the suspension": (ZJ, SUSPENDED, YRD, [], "340000", "2024-04-30", True, "agreement"),
    "during the suspension": (ZJ, SUSPENDED, YRD, [], "340000", "2024-05-15", False, "suspended"),
    "suspension in its own region too": (
        ZJ,
        SUSPENDED,
        YRD,
        [],
        "330000",
        "2024-05-01",
        False,
        "suspended",
    ),
    "after reinstatement": (ZJ, SUSPENDED, YRD, [], "340000", "2024-06-01", True, "agreement"),
    "before revocation": (ZJ, REVOKED, YRD, [], "340000", "2024-04-30", True, "agreement"),
    "revoked": (ZJ, REVOKED, YRD, [], "330000", "2024-05-01", False, "revoked"),
    "revoked, long after": (ZJ, REVOKED, YRD, [], "340000", "2026-01-01", False, "revoked"),
    "withdrawn record": (ZJ, WITHDRAWN, YRD, [], "330000", "2024-06-01", False, "withdrawn"),
    "kind not covered": (ZJ_AWARD, [], YRD, [], "320000", "2024-06-01", False, "kind-not-covered"),
    "kind covered by one side only": (
        ZJ_AWARD,
        [],
        [
            acc(
                "x-1",
                "330000",
                "2020-01-01",
                kinds=frozenset({PFBP, Kind.PROVINCIAL_QUALITY_AWARD}),
            ),
            acc("x-1", "340000", "2020-01-01"),
        ],
        [],
        "340000",
        "2024-06-01",
        False,
        "kind-not-covered",
    ),
    "issuer not party (city record in another province)": (
        WZ,
        [],
        YRD,
        [],
        "340100",
        "2024-06-01",
        False,
        "issuer-not-party",
    ),
    "no agreement (Henan)": (ZJ, [], YRD, [], "410000", "2024-06-01", False, "no-agreement"),
    "no agreement (Luyi county)": (ZJ, [], YRD, [], "411628", "2024-06-01", False, "no-agreement"),
    "city party to an agreement of its own": (
        WZ,
        [],
        [
            acc("wz-tz", "330300", "2023-01-01", kinds=frozenset({Kind.CITY_FAMOUS_BRAND_PRODUCT})),
            acc("wz-tz", "331000", "2023-01-01", kinds=frozenset({Kind.CITY_FAMOUS_BRAND_PRODUCT})),
        ],
        [],
        "331082",
        "2024-06-01",
        True,
        "agreement",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_rule_5(name):
    record, changes, accessions, withdrawals, region, on, recognised, code = CASES[name]
    decision = decide(record, changes, accessions, withdrawals, region, D(on))
    assert (decision.recognised, decision.code) == (recognised, code), decision.reasons
    assert decision.reasons[0].text
    assert all(isinstance(r, EntryRef) for reason in decision.reasons for r in reason.refs)


def test_jurisdiction_text():
    decision = decide(ZJ, [], [], [], "330300", D("2024-06-01"))
    assert (
        decision.reasons[0].text
        == "issued by 浙江省 (330000), whose jurisdiction includes 温州市 (330300)"
    )
    assert decision.reasons[0].refs == (ZJ.ref,)
    assert decision.reasons[1].code == "valid"


def test_agreement_reason_names_agreement_accessions_and_refs():
    decision = decide(ZJ, [], YRD, [], "340100", D("2024-06-01"))
    reason = decision.reasons[0]
    assert "yrd-2006" in reason.text
    assert "浙江省 (330000) (acceded 2006-08-29)" in reason.text
    assert "安徽省 (340000) (acceded 2006-08-29)" in reason.text
    assert "合肥市 (340100)" in reason.text
    assert reason.refs == (ZJ.ref, ref("330000", 1), ref("340000", 1))


def test_not_in_force_text_says_until_when():
    decision = decide(ZJ_2004, [], YRD, [], "340000", D("2005-06-01"))
    assert "agreement yrd-2006 is not in force" in decision.reasons[0].text
    assert "安徽省 (340000) accedes only from 2006-08-29" in decision.reasons[0].text


def test_withdrawal_text_and_refs():
    decision = decide(ZJ_2018, [], YRD, [JX_LEAVES], "360000", D("2020-01-01"))
    assert "江西省 (360000) withdrew on 2020-01-01" in decision.reasons[0].text
    assert JX_LEAVES.ref in decision.reasons[0].refs


def test_kind_not_covered_text_names_kinds_readably():
    decision = decide(ZJ_AWARD, [], YRD, [], "320000", D("2024-06-01"))
    assert decision.reasons[0].text == (
        "agreement yrd-2003 covers provincial famous-brand products only; "
        f"record {ZJ_AWARD.record_id} of 浙江省 (330000) is a provincial quality award"
    )


def test_city_record_in_its_province_explains_whose_accession_it_is():
    decision = decide(WZ, [], YRD, [], "330000", D("2024-06-01"))
    text = decision.reasons[0].text
    assert text.startswith("温州市 (330300) is not a party to agreement yrd-2003")
    assert (
        "the accession of 浙江省 (330000) covers its own records only, not those of 温州市 (330300)"
        in text
    )
    assert "'s" not in text  # no "浙江省's" in English either


def test_no_agreement_text():
    assert decide(ZJ, [], YRD, [], "410000", D("2024-06-01")).reasons[0].text == (
        "no agreement binds 浙江省 (330000) and 河南省 (410000)"
    )
    text = decide(ZJ, [], YRD, [], "411628", D("2024-06-01")).reasons[0].text
    assert text == (
        "no agreement binds 浙江省 (330000) and "
        "鹿邑县 (411628) or 周口市 (411600) or 河南省 (410000)"
    )


def test_status_reasons_carry_dates_and_causes():
    revoked = decide(ZJ, REVOKED, YRD, [], "330000", D("2024-06-01")).reasons[0]
    assert "revoked since 2024-05-01 (quality incident)" in revoked.text
    assert revoked.refs == (ZJ.ref, ref("330000", 11))
    expired = decide(ZJ, [], YRD, [], "330000", D("2027-01-01")).reasons[0]
    assert "valid until 2026-12-31" in expired.text


def test_status_on():
    assert status_on(ZJ, SUSPENDED, D("2024-05-01")).status == "suspended"
    st = status_on(ZJ, SUSPENDED, D("2024-07-01"))
    assert (st.status, st.since) == ("valid", D("2024-06-01"))
    assert st.refs == (ZJ.ref, ref("330000", 11), ref("330000", 12))
    st = status_on(ZJ, [], D("2027-01-01"))
    assert (st.status, st.since, st.valid_until) == ("expired", D("2027-01-01"), D("2026-12-31"))
    st = status_on(ZJ, LATE_RENEWAL, D("2027-03-01"))
    assert (st.status, st.valid_until) == ("valid", D("2029-12-31"))
    # changes are applied in effective order whatever order they are given in
    assert status_on(ZJ, list(reversed(SUSPENDED)), D("2024-07-01")).status == "valid"
    no_expiry = replace(ZJ, kind=Kind.WELL_KNOWN_TRADEMARK, valid_until=None)
    assert status_on(no_expiry, [], D("2099-01-01")).status == "valid"
    assert status_on(no_expiry, REVOKED, D("2099-01-01")).status == "revoked"


def test_recognised_regions():
    assert recognised_regions(ZJ, [], YRD, [], D("2024-06-01")) == [
        "310000",
        "320000",
        "340000",
        "360000",
    ]
    assert recognised_regions(ZJ_2004, [], YRD, [], D("2005-06-01")) == ["310000", "320000"]
    assert recognised_regions(ZJ_2018, [], YRD, [JX_LEAVES], D("2020-06-01")) == [
        "310000",
        "320000",
        "340000",
    ]
    assert recognised_regions(ZJ, [], YRD, [], D("2027-01-01")) == []
    assert recognised_regions(ZJ_AWARD, [], YRD, [], D("2024-06-01")) == []
    assert recognised_regions(WZ, [], YRD, [], D("2024-06-01")) == []


def test_recognised_regions_agree_with_decide():
    on = D("2024-06-01")
    partners = {a.region for a in YRD}
    for record in (ZJ, ZJ_AWARD, WZ):
        listed = set(recognised_regions(record, [], YRD, [], on))
        for region in partners:
            decision = decide(record, [], YRD, [], region, on)
            if decision.code == "agreement":
                assert region in listed
            else:
                assert region not in listed
