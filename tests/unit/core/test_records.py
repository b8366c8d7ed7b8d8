"""Record validation: enums match the proto, every rule rejects with its field named,
and every problem of a message is collected."""

from types import SimpleNamespace

import pytest

from exchange._proto.brandex.v1 import entries_pb2 as pb
from exchange.core.errors import ValidationError
from exchange.core.records import (
    ValidationErrors,
    accession_errors,
    case_action_errors,
    case_errors,
    parse_date,
    parse_optional_date,
    recognition_errors,
    status_change_errors,
    validate_accession,
    validate_case,
    validate_case_action,
    validate_recognition,
    validate_status_change,
    validate_withdrawal,
    withdrawal_errors,
)
from exchange.core.uscc import check_char
from exchange.core.vocabulary import (
    EXPIRES,
    KIND_LABEL,
    KIND_LEVEL,
    NEEDS_NICE,
    PROVINCIAL_KINDS,
    CaseActionType,
    CaseType,
    Kind,
    ReasonCode,
    Sector,
    Status,
)


def uscc(body: str) -> str:
    return body + check_char(body)


ZJ_USCC = uscc("91330382MA2A00001")  # registered in 乐清市
ZK_USCC = uscc("91411628MA4B00002")  # registered in 鹿邑县

BASE = {
    "record_id": "zj-2023-0001",
    "kind": Kind.PROVINCIAL_FAMOUS_BRAND_PRODUCT,
    "sector": Sector.INDUSTRIAL,
    "brand_name": "正泰",
    "brand_name_latin": "CHINT",
    "product": "低压电器",
    "industry_code": "C38",
    "enterprise_name": "正泰电器股份有限公司",
    "enterprise_uscc": ZJ_USCC,
    "enterprise_region": "330382",
    "certificate_no": "ZJMP-2023-0001",
    "announcement_no": "浙质〔2023〕12号",
    "recognised_on": "2023-12-20",
    "valid_from": "2024-01-01",
    "valid_until": "2026-12-31",
}


def rec(**changes) -> pb.Recognition:
    return pb.Recognition(**{**BASE, **changes})


def fields_of(errors: list[ValidationError]) -> list[str]:
    return [e.field for e in errors]


# ----------------------------------------------------------------------- enums


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (Kind, pb.RecognitionKind),
        (Sector, pb.Sector),
        (Status, pb.Status),
        (ReasonCode, pb.ReasonCode),
        (CaseType, pb.CaseType),
        (CaseActionType, pb.CaseActionType),
    ],
)
def test_enums_equal_the_proto_both_ways(ours, theirs):
    proto = dict(theirs.items())
    mine = {m.name: m.value for m in ours}
    assert mine == proto
    for name, value in proto.items():
        assert ours[name] == value
        assert ours(value).name == name
        assert theirs.Name(ours[name]) == name


def test_kind_tables_cover_every_kind():
    real = set(Kind) - {Kind.RECOGNITION_KIND_UNSPECIFIED}
    assert set(EXPIRES) == set(KIND_LEVEL) == set(KIND_LABEL) == real
    no_expiry = {k for k, v in EXPIRES.items() if not v}
    assert no_expiry == {
        Kind.WELL_KNOWN_TRADEMARK,
        Kind.CHINA_TIME_HONOURED_BRAND,
        Kind.PROVINCIAL_TIME_HONOURED_BRAND,
        Kind.GEOGRAPHICAL_INDICATION,
    }
    assert {Kind.WELL_KNOWN_TRADEMARK, Kind.PROVINCIAL_FAMOUS_TRADEMARK} == NEEDS_NICE
    assert Kind.PROVINCIAL_FAMOUS_BRAND_PRODUCT in PROVINCIAL_KINDS
    assert Kind.CITY_FAMOUS_BRAND_PRODUCT not in PROVINCIAL_KINDS


# ------------------------------------------------------------------------ dates


@pytest.mark.parametrize("value", ["2024-01-05", "2000-02-29"])
def test_parse_date_accepts_iso_calendar_dates(value):
    assert parse_date(value, "d").isoformat() == value


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("", "required"),
        (None, "required"),
        ("20240105", "YYYY-MM-DD"),
        ("2024-1-5", "YYYY-MM-DD"),
        ("2024-01-05 ", "YYYY-MM-DD"),
        ("2024-01-05\n", "YYYY-MM-DD"),
        ("2024-01-05T00:00", "YYYY-MM-DD"),
        ("２０２４-01-05", "YYYY-MM-DD"),
        ("٢٠٢٤-01-05", "YYYY-MM-DD"),
        ("2023-02-29", "calendar"),
        ("2024-13-01", "calendar"),
    ],
)
def test_parse_date_is_strict(value, rule):
    with pytest.raises(ValidationError, match=f"^valid_from: .*{rule}"):
        parse_date(value, "valid_from")


def test_parse_optional_date():
    assert parse_optional_date("", "x") is None
    assert parse_optional_date("2024-01-05", "x").day == 5


# ------------------------------------------------------------------ recognition

ACCEPTED = {
    "provincial famous-brand product": ({}, "330000"),
    "plain object instead of protobuf": ("namespace", "330000"),
    "well-known trademark logged by the province": (
        {
            "kind": Kind.WELL_KNOWN_TRADEMARK,
            "nice_classes": [9, 35],
            "valid_until": "",
            "product": "",
        },
        "330000",
    ),
    "geographical indication": (
        {"kind": Kind.GEOGRAPHICAL_INDICATION, "product": "龙井茶", "valid_until": ""},
        "330000",
    ),
    "historical provincial famous trademark": (
        {
            "kind": Kind.PROVINCIAL_FAMOUS_TRADEMARK,
            "nice_classes": [9],
            "recognised_on": "2015-06-01",
            "valid_from": "2015-06-01",
            "valid_until": "2018-05-31",
        },
        "330000",
    ),
    "city famous-brand product by Wenzhou": (
        {"kind": Kind.CITY_FAMOUS_BRAND_PRODUCT, "industry_code": "C"},
        "330300",
    ),
    "county quality award by Luyi": (
        {
            "kind": Kind.COUNTY_QUALITY_AWARD,
            "enterprise_region": "411628",
            "enterprise_uscc": ZK_USCC,
            "industry_code": "",
            "product": "",
        },
        "411628",
    ),
    "USCC naming an abolished district (220101)": (
        {"enterprise_uscc": "912201011239989159"},
        "330000",
    ),
    "USCC with letters in the first two positions": (
        {"enterprise_uscc": uscc("N2330300MA2A0000X"[:17])},
        "330000",
    ),
    "valid_from before recognised_on": ({"valid_from": "2023-12-01"}, "330000"),
    "industry code with four digits": ({"industry_code": "C3823"}, "330000"),
}


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_valid_records_pass(name):
    changes, issuer = ACCEPTED[name]
    record = SimpleNamespace(**BASE) if changes == "namespace" else rec(**changes)
    assert recognition_errors(record, issuer=issuer) == []
    validate_recognition(record, issuer=issuer)


REJECTED = {
    "record_id empty": ({"record_id": ""}, "330000", "record_id", "required"),
    "record_id with slash": ({"record_id": "a/b"}, "330000", "record_id", "may contain only"),
    "record_id with CJK": ({"record_id": "浙-1"}, "330000", "record_id", "may contain only"),
    "record_id too long": ({"record_id": "x" * 65}, "330000", "record_id", "at most 64"),
    "kind unspecified": ({"kind": 0}, "330000", "kind", "must be specified"),
    "kind unknown": ({"kind": 99}, "330000", "kind", "unknown"),
    "sector unspecified": ({"sector": 0}, "330000", "sector", "must be specified"),
    "brand_name empty": ({"brand_name": ""}, "330000", "brand_name", "required"),
    "brand_name blank": ({"brand_name": "  "}, "330000", "brand_name", "required"),
    "brand_name too long": ({"brand_name": "牌" * 101}, "330000", "brand_name", "at most 100"),
    "brand_name control char": ({"brand_name": "正\x00泰"}, "330000", "brand_name", "control"),
    "brand_name padded": ({"brand_name": " 正泰"}, "330000", "brand_name", "whitespace"),
    "product missing": ({"product": ""}, "330000", "product", "required"),
    "nice missing for trademark": (
        {"kind": Kind.WELL_KNOWN_TRADEMARK, "valid_until": ""},
        "330000",
        "nice_classes",
        "required",
    ),
    "nice class 0": ({"nice_classes": [0]}, "330000", "nice_classes", "1..45"),
    "nice class 46": ({"nice_classes": [46]}, "330000", "nice_classes", "1..45"),
    "nice class repeated": ({"nice_classes": [9, 9]}, "330000", "nice_classes", "repeat"),
    "industry code short": ({"industry_code": "C3"}, "330000", "industry_code", "GB/T 4754"),
    "industry code letter": ({"industry_code": "Z12"}, "330000", "industry_code", "GB/T 4754"),
    "industry code lower": ({"industry_code": "c38"}, "330000", "industry_code", "GB/T 4754"),
    "enterprise_name empty": ({"enterprise_name": ""}, "330000", "enterprise_name", "required"),
    "uscc bad check": (
        {"enterprise_uscc": "91350203M0001QAY9B"},
        "330000",
        "enterprise_uscc",
        "check character",
    ),
    "uscc short": ({"enterprise_uscc": "9133"}, "330000", "enterprise_uscc", "18 characters"),
    "uscc region not real": (
        {"enterprise_uscc": uscc("91990000MA2A00001")},
        "330000",
        "enterprise_uscc",
        "positions 3-8",
    ),
    "enterprise_region statistical zone": (
        {"enterprise_region": "411671"},
        "330000",
        "enterprise_region",
        "not a GB/T 2260",
    ),
    "enterprise_region outside jurisdiction": (
        {"enterprise_region": "320500"},
        "330000",
        "enterprise_region",
        "outside the issuer's jurisdiction",
    ),
    "enterprise_region of another city": (
        {"enterprise_region": "330100", "kind": Kind.CITY_FAMOUS_BRAND_PRODUCT},
        "330300",
        "enterprise_region",
        "outside",
    ),
    "certificate_no empty": ({"certificate_no": ""}, "330000", "certificate_no", "required"),
    "announcement_no empty": ({"announcement_no": ""}, "330000", "announcement_no", "required"),
    "recognised_on slashes": (
        {"recognised_on": "2023/12/20"},
        "330000",
        "recognised_on",
        "YYYY-MM-DD",
    ),
    "recognised_on not a day": (
        {"recognised_on": "2023-02-30"},
        "330000",
        "recognised_on",
        "calendar",
    ),
    "valid_from missing": ({"valid_from": ""}, "330000", "valid_from", "required"),
    "valid_until missing": ({"valid_until": ""}, "330000", "valid_until", "required"),
    "valid_until bad": ({"valid_until": "2026-12-32"}, "330000", "valid_until", "calendar"),
    "valid_until on no-expiry kind": (
        {"kind": Kind.CHINA_TIME_HONOURED_BRAND},
        "330000",
        "valid_until",
        "must be empty",
    ),
    "valid_until before valid_from": (
        {"valid_until": "2023-12-31"},
        "330000",
        "valid_until",
        "after valid_from",
    ),
    "valid_until equal to valid_from": (
        {"valid_until": "2024-01-01"},
        "330000",
        "valid_until",
        "after valid_from",
    ),
    "famous trademark after abolition": (
        {
            "kind": Kind.PROVINCIAL_FAMOUS_TRADEMARK,
            "nice_classes": [9],
            "recognised_on": "2018-01-01",
        },
        "330000",
        "recognised_on",
        "abolished",
    ),
    "city issues a provincial kind": ({}, "330300", "kind", "cannot issue"),
    "county issues a provincial kind": (
        {"enterprise_region": "411628", "enterprise_uscc": ZK_USCC},
        "411628",
        "kind",
        "cannot issue",
    ),
    "province issues a county award": (
        {"kind": Kind.COUNTY_QUALITY_AWARD},
        "330000",
        "kind",
        "cannot issue",
    ),
    "province issues a city award": (
        {"kind": Kind.CITY_FAMOUS_BRAND_PRODUCT},
        "330000",
        "kind",
        "cannot issue",
    ),
    "city logs a national kind": (
        {"kind": Kind.GEOGRAPHICAL_INDICATION, "valid_until": ""},
        "330300",
        "kind",
        "cannot issue",
    ),
    "issuer unknown": ({}, "411671", "issuer", "not a GB/T 2260"),
}


@pytest.mark.parametrize("name", list(REJECTED))
def test_each_rule_rejects_naming_its_field(name):
    changes, issuer, field, rule = REJECTED[name]
    record = SimpleNamespace(**{**BASE, **changes}) if name == "kind unknown" else rec(**changes)
    errors = recognition_errors(record, issuer=issuer)
    assert fields_of(errors) == [field], [str(e) for e in errors]
    assert rule in errors[0].rule
    assert str(errors[0]).startswith(f"{field}: ")
    with pytest.raises(ValidationError, match=f"^{field}: "):
        validate_recognition(record, issuer=issuer)


def test_every_problem_is_collected():
    record = rec(
        record_id="",
        brand_name="",
        enterprise_uscc="91350203M0001QAY9B",
        enterprise_region="320500",
        valid_until="2020-01-01",
    )
    errors = recognition_errors(record, issuer="330000")
    assert fields_of(errors) == [
        "record_id",
        "brand_name",
        "enterprise_uscc",
        "enterprise_region",
        "valid_until",
    ]
    with pytest.raises(ValidationErrors) as info:
        validate_recognition(record, issuer="330000")
    assert len(info.value.errors) == 5
    assert str(info.value).startswith("5 problems: record_id: is required")
    assert isinstance(info.value, ValidationError)
    assert info.value.field == "record_id"


def test_an_empty_message_reports_every_required_field():
    errors = recognition_errors(pb.Recognition(), issuer="330000")
    assert set(fields_of(errors)) >= {
        "record_id",
        "kind",
        "sector",
        "brand_name",
        "enterprise_name",
        "enterprise_uscc",
        "enterprise_region",
        "certificate_no",
        "announcement_no",
        "recognised_on",
        "valid_from",
    }


# --------------------------------------------------------------- status change


def change(**kw) -> pb.StatusChange:
    base = {
        "record_id": "zj-2023-0001",
        "new_status": Status.SUSPENDED,
        "reason": ReasonCode.SPOT_CHECK_FAILURE,
        "effective_on": "2024-05-01",
    }
    return pb.StatusChange(**{**base, **kw})


def test_status_change_accepted():
    validate_status_change(change(), issuer="330000")
    validate_status_change(
        change(new_status=Status.RENEWED, reason=ReasonCode.RENEWAL, new_valid_until="2029-12-31"),
        issuer="330000",
    )
    validate_status_change(
        change(new_status=Status.CORRECTED, reason=0, corrected=rec()), issuer="330000"
    )


@pytest.mark.parametrize(
    ("kw", "field", "rule"),
    [
        ({"record_id": ""}, "record_id", "required"),
        ({"new_status": 0}, "new_status", "must be specified"),
        ({"reason": 0}, "reason", "required for SUSPENDED"),
        ({"new_status": Status.REVOKED, "reason": 0}, "reason", "required for REVOKED"),
        ({"effective_on": "2024-5-1"}, "effective_on", "YYYY-MM-DD"),
        ({"new_status": Status.RENEWED}, "new_valid_until", "required"),
        ({"new_status": Status.RENEWED, "new_valid_until": "x"}, "new_valid_until", "YYYY"),
        ({"new_valid_until": "2029-12-31"}, "new_valid_until", "RENEWED only"),
        ({"new_status": Status.CORRECTED}, "corrected", "required"),
        ({"corrected": pb.Recognition()}, "corrected", "CORRECTED only"),
    ],
)
def test_status_change_rules(kw, field, rule):
    errors = status_change_errors(change(**kw), issuer="330000")
    assert fields_of(errors) == [field]
    assert rule in errors[0].rule
    with pytest.raises(ValidationError, match=f"^{field}: "):
        validate_status_change(change(**kw), issuer="330000")


# ----------------------------------------------------------------------- cases


def case(**kw) -> pb.InfringementCase:
    base = {
        "case_id": "ah-2024-001",
        "protected_issuer": "330000",
        "protected_record_id": "zj-2023-0001",
        "reporting_region": "340000",
        "handling_region": "341300",
        "infringer_name": "宿州某电器商行",
        "case_type": CaseType.COUNTERFEIT,
        "goods_value_fen": 1_250_000,
        "opened_on": "2024-03-02",
    }
    return pb.InfringementCase(**{**base, **kw})


def test_case_accepted():
    validate_case(case(), issuer="340000")
    validate_case(case(infringer_uscc=uscc("92341302MA2A00003")), issuer="340000")


@pytest.mark.parametrize(
    ("kw", "field", "rule"),
    [
        ({"case_id": ""}, "case_id", "required"),
        ({"protected_issuer": "33"}, "protected_issuer", "six ASCII digits"),
        ({"protected_record_id": "a b"}, "protected_record_id", "may contain only"),
        ({"reporting_region": "330000"}, "reporting_region", "must equal the issuer"),
        ({"handling_region": "411671"}, "handling_region", "not a GB/T 2260"),
        ({"infringer_name": ""}, "infringer_name", "required"),
        ({"infringer_uscc": "91350203M0001QAY9B"}, "infringer_uscc", "check character"),
        ({"case_type": 0}, "case_type", "must be specified"),
        ({"goods_value_fen": -1}, "goods_value_fen", ">= 0"),
        ({"opened_on": ""}, "opened_on", "required"),
    ],
)
def test_case_rules(kw, field, rule):
    errors = case_errors(case(**kw), issuer="340000")
    assert fields_of(errors) == [field]
    assert rule in errors[0].rule
    with pytest.raises(ValidationError, match=f"^{field}: "):
        validate_case(case(**kw), issuer="340000")


def action(**kw) -> pb.CaseAction:
    base = {
        "case_region": "340000",
        "case_id": "ah-2024-001",
        "acting_region": "341300",
        "action": CaseActionType.PENALTY,
        "date": "2024-04-10",
        "decision_no": "宿市监罚〔2024〕7号",
        "fine_fen": 5_000_000,
    }
    return pb.CaseAction(**{**base, **kw})


def test_case_action_accepted():
    validate_case_action(action(), issuer="341300")
    validate_case_action(action(fine_fen=0), issuer="341300")
    validate_case_action(
        action(action=CaseActionType.SEIZURE, decision_no="", fine_fen=0), issuer="341300"
    )


@pytest.mark.parametrize(
    ("kw", "field", "rule"),
    [
        ({"case_region": "999999"}, "case_region", "not a GB/T 2260"),
        ({"case_id": ""}, "case_id", "required"),
        ({"acting_region": "340000"}, "acting_region", "must equal the issuer"),
        ({"action": 0}, "action", "must be specified"),
        ({"date": "2024-04-31"}, "date", "calendar"),
        ({"decision_no": ""}, "decision_no", "required"),
        ({"fine_fen": -100}, "fine_fen", ">= 0"),
        ({"action": CaseActionType.CLOSED, "fine_fen": 0}, "decision_no", "PENALTY only"),
        ({"action": CaseActionType.CLOSED, "decision_no": ""}, "fine_fen", "PENALTY only"),
    ],
)
def test_case_action_rules(kw, field, rule):
    errors = case_action_errors(action(**kw), issuer="341300")
    assert fields_of(errors) == [field]
    assert rule in errors[0].rule
    with pytest.raises(ValidationError, match=f"^{field}: "):
        validate_case_action(action(**kw), issuer="341300")


# ------------------------------------------------------------------ agreements


def accession(**kw) -> pb.Accession:
    base = {
        "agreement_id": "yrd-2006",
        "title": "长三角名牌互认",
        "covered_kinds": [Kind.PROVINCIAL_FAMOUS_BRAND_PRODUCT],
        "effective_from": "2006-08-29",
        "region": "340000",
    }
    return pb.Accession(**{**base, **kw})


def test_accession_accepted():
    validate_accession(accession(), issuer="340000")
    validate_accession(accession(effective_until="2006-08-29"), issuer="340000")


@pytest.mark.parametrize(
    ("kw", "field", "rule"),
    [
        ({"agreement_id": ""}, "agreement_id", "required"),
        ({"agreement_id": "yrd 2006"}, "agreement_id", "may contain only"),
        ({"covered_kinds": []}, "covered_kinds", "at least one"),
        ({"covered_kinds": [0]}, "covered_kinds", "must be specified"),
        ({"covered_kinds": [2, 2]}, "covered_kinds", "repeat"),
        ({"effective_from": ""}, "effective_from", "required"),
        ({"effective_until": "2006-08-28"}, "effective_until", "before effective_from"),
        ({"effective_until": "2006/08/28"}, "effective_until", "YYYY-MM-DD"),
        ({"region": "330000"}, "region", "must equal the issuer"),
    ],
)
def test_accession_rules(kw, field, rule):
    errors = accession_errors(accession(**kw), issuer="340000")
    assert fields_of(errors) == [field]
    assert rule in errors[0].rule
    with pytest.raises(ValidationError, match=f"^{field}: "):
        validate_accession(accession(**kw), issuer="340000")


def withdrawal(**kw) -> pb.Withdrawal:
    base = {"agreement_id": "yrd-2006", "region": "360000", "effective_on": "2020-01-01"}
    return pb.Withdrawal(**{**base, **kw})


def test_withdrawal_accepted():
    validate_withdrawal(withdrawal(), issuer="360000")


@pytest.mark.parametrize(
    ("kw", "issuer", "field", "rule"),
    [
        ({"agreement_id": ""}, "360000", "agreement_id", "required"),
        ({"region": "340000"}, "360000", "region", "must equal the issuer"),
        ({"region": "411671"}, "411671", "issuer", "not a GB/T 2260"),
        ({"effective_on": "2020-02-30"}, "360000", "effective_on", "calendar"),
    ],
)
def test_withdrawal_rules(kw, issuer, field, rule):
    errors = withdrawal_errors(withdrawal(**kw), issuer=issuer)
    assert fields_of(errors)[0] == field
    assert rule in errors[0].rule
    with pytest.raises(ValidationError, match=f"^(\\d+ problems: )?{field}: "):
        validate_withdrawal(withdrawal(**kw), issuer=issuer)
