"""The record state machine: allowed paths, and every refusal with its message."""

from datetime import date

import pytest

from exchange._proto.brandex.v1 import entries_pb2 as pb
from exchange.core.errors import ConflictError, ValidationError
from exchange.core.status import RecordState, apply_change, initial_state
from exchange.core.uscc import check_char
from exchange.core.vocabulary import Kind, ReasonCode, Status

_BODY = "91330382MA2A00001"
RECORD = {
    "record_id": "zj-2023-0001",
    "kind": Kind.PROVINCIAL_FAMOUS_BRAND_PRODUCT,
    "sector": 1,
    "brand_name": "正泰",
    "product": "低压电器",
    "enterprise_name": "正泰电器股份有限公司",
    "enterprise_uscc": _BODY + check_char(_BODY),
    "enterprise_region": "330382",
    "certificate_no": "ZJMP-2023-0001",
    "announcement_no": "浙质〔2023〕12号",
    "recognised_on": "2023-12-20",
    "valid_from": "2024-01-01",
    "valid_until": "2026-12-31",
}
WKT = {
    **RECORD,
    "kind": Kind.WELL_KNOWN_TRADEMARK,
    "nice_classes": [9],
    "valid_until": "",
    "product": "",
}
ISSUER = "330000"


def rec(**kw) -> pb.Recognition:
    return pb.Recognition(**{**RECORD, **kw})


def ch(status: Status, on: str, **kw) -> pb.StatusChange:
    reason = {
        Status.SUSPENDED: ReasonCode.SPOT_CHECK_FAILURE,
        Status.REVOKED: ReasonCode.SPOT_CHECK_FAILURE,
        Status.RENEWED: ReasonCode.RENEWAL,
    }.get(status, ReasonCode.REASON_CODE_UNSPECIFIED)
    fields = {"record_id": "zj-2023-0001", "new_status": status, "reason": reason}
    return pb.StatusChange(**{**fields, "effective_on": on, **kw})


def run(changes, base=RECORD) -> RecordState:
    state = initial_state(pb.Recognition(**base), issuer=ISSUER)
    for change in changes:
        state = apply_change(state, change)
    return state


SUSPEND = ch(Status.SUSPENDED, "2024-05-01")
REINSTATE = ch(Status.REINSTATED, "2024-06-01")
REVOKE = ch(Status.REVOKED, "2024-05-01")
WITHDRAW = ch(Status.WITHDRAWN, "2024-05-01")
RENEW = ch(Status.RENEWED, "2026-12-01", new_valid_until="2029-12-31")


def test_initial_state():
    state = run([])
    assert state.status == "valid"
    assert state.recognised_on == date(2023, 12, 20)
    assert state.valid_from == date(2024, 1, 1)
    assert state.valid_until == date(2026, 12, 31)
    assert state.last_effective == date(2023, 12, 20)
    assert state.kind == Kind.PROVINCIAL_FAMOUS_BRAND_PRODUCT
    assert run([], base=WKT).valid_until is None


def test_initial_state_validates_the_record():
    with pytest.raises(ValidationError, match=r"^brand_name: "):
        initial_state(rec(brand_name=""), issuer=ISSUER)


def test_suspend_reinstate_renew_correct_revoke():
    state = run([SUSPEND])
    assert (state.status, state.since, state.reason) == (
        "suspended",
        date(2024, 5, 1),
        ReasonCode.SPOT_CHECK_FAILURE,
    )
    state = apply_change(state, REINSTATE)
    assert (state.status, state.since) == ("valid", date(2024, 6, 1))
    state = apply_change(state, RENEW)
    assert state.valid_until == date(2029, 12, 31)
    state = apply_change(
        state,
        ch(
            Status.CORRECTED,
            "2027-01-05",
            corrected=rec(brand_name="正泰电器", valid_until="2029-12-30"),
        ),
    )
    assert state.valid_until == date(2029, 12, 30)
    assert state.status == "valid"
    state = apply_change(state, ch(Status.REVOKED, "2027-02-01"))
    assert (state.status, state.since, state.last_effective) == (
        "revoked",
        date(2027, 2, 1),
        date(2027, 2, 1),
    )


def test_same_day_changes_and_changes_on_recognition_day_are_allowed():
    state = run([ch(Status.SUSPENDED, "2023-12-20"), ch(Status.REINSTATED, "2023-12-20")])
    assert state.status == "valid"


def test_renewal_while_suspended_keeps_the_suspension():
    state = run([SUSPEND, ch(Status.RENEWED, "2024-07-01", new_valid_until="2027-12-31")])
    assert state.status == "suspended"
    assert state.valid_until == date(2027, 12, 31)


def test_withdrawal_from_suspension():
    assert run([SUSPEND, ch(Status.WITHDRAWN, "2024-07-01")]).status == "withdrawn"


def test_apply_change_does_not_modify_the_state():
    state = run([])
    apply_change(state, SUSPEND)
    assert state.status == "valid"


REFUSALS = {
    "renew after revocation": (
        [REVOKE],
        RENEW,
        ConflictError,
        "record is revoked since 2024-05-01 (spot check failure); "
        "a revoked record cannot be renewed",
    ),
    "suspend after revocation": (
        [REVOKE],
        ch(Status.SUSPENDED, "2024-06-01"),
        ConflictError,
        "a revoked record cannot be suspended",
    ),
    "reinstate after revocation": (
        [SUSPEND, ch(Status.REVOKED, "2024-05-02")],
        REINSTATE,
        ConflictError,
        "a revoked record cannot be reinstated",
    ),
    "revoke twice": (
        [REVOKE],
        ch(Status.REVOKED, "2024-06-01"),
        ConflictError,
        "a revoked record cannot be revoked",
    ),
    "correct after revocation": (
        [REVOKE],
        ch(Status.CORRECTED, "2024-06-01", corrected=rec()),
        ConflictError,
        "a revoked record cannot be corrected",
    ),
    "withdraw after revocation": (
        [REVOKE],
        ch(Status.WITHDRAWN, "2024-06-01"),
        ConflictError,
        "a revoked record cannot be withdrawn",
    ),
    "reinstate after withdrawal": (
        [WITHDRAW],
        REINSTATE,
        ConflictError,
        "record is withdrawn since 2024-05-01; a withdrawn record cannot be reinstated",
    ),
    "revoke after withdrawal": (
        [WITHDRAW],
        ch(Status.REVOKED, "2024-06-01"),
        ConflictError,
        "a withdrawn record cannot be revoked",
    ),
    "suspend twice": (
        [SUSPEND],
        ch(Status.SUSPENDED, "2024-05-02"),
        ConflictError,
        "record is suspended since 2024-05-01; only a valid record can be suspended",
    ),
    "reinstate a valid record": (
        [],
        REINSTATE,
        ConflictError,
        "only a suspended record can be reinstated",
    ),
    "renew without extending": (
        [],
        ch(Status.RENEWED, "2026-12-01", new_valid_until="2026-12-31"),
        ConflictError,
        "a renewal must extend validity",
    ),
    "renew to an earlier date": (
        [],
        ch(Status.RENEWED, "2026-12-01", new_valid_until="2025-12-31"),
        ConflictError,
        "does not extend the current valid_until 2026-12-31",
    ),
    "renew a kind without expiry": (
        ["wkt"],
        ch(Status.RENEWED, "2026-12-01", new_valid_until="2029-12-31"),
        ConflictError,
        "WELL_KNOWN_TRADEMARK record has no expiry; it cannot be renewed",
    ),
    "renew without a date": (
        [],
        ch(Status.RENEWED, "2026-12-01"),
        ValidationError,
        "new_valid_until: is required for RENEWED",
    ),
    "change before recognition": (
        [],
        ch(Status.SUSPENDED, "2023-12-19"),
        ConflictError,
        "nothing takes effect before recognition",
    ),
    "change before the previous change": (
        [SUSPEND],
        ch(Status.REINSTATED, "2024-04-30"),
        ConflictError,
        "is before the previous change, effective on 2024-05-01",
    ),
    "correction changing the record id": (
        [],
        ch(Status.CORRECTED, "2024-02-01", corrected=rec(record_id="zj-2023-0002")),
        ValidationError,
        "corrected.record_id: a correction may not change the record id",
    ),
    "correction changing the certificate": (
        [],
        ch(Status.CORRECTED, "2024-02-01", corrected=rec(certificate_no="ZJMP-2023-9999")),
        ValidationError,
        "corrected.certificate_no: a correction may not change the certificate number",
    ),
    "correction that is itself invalid": (
        [],
        ch(Status.CORRECTED, "2024-02-01", corrected=rec(brand_name="", valid_until="")),
        ValidationError,
        "2 problems: corrected.brand_name: is required; corrected.valid_until: is required",
    ),
    "correction moving the enterprise out of the jurisdiction": (
        [],
        ch(Status.CORRECTED, "2024-02-01", corrected=rec(enterprise_region="320500")),
        ValidationError,
        "corrected.enterprise_region: outside the issuer's jurisdiction",
    ),
    "correction without the record": (
        [],
        ch(Status.CORRECTED, "2024-02-01"),
        ValidationError,
        "corrected: the corrected record is required",
    ),
    "change for another record": (
        [],
        ch(Status.SUSPENDED, "2024-05-01", record_id="zj-2023-0002"),
        ValidationError,
        "record_id: change is for another record",
    ),
    "suspension without a reason": (
        [],
        ch(Status.SUSPENDED, "2024-05-01", reason=0),
        ValidationError,
        "reason: a reason is required for SUSPENDED",
    ),
    "unspecified status": (
        [],
        ch(Status.STATUS_UNSPECIFIED, "2024-05-01"),
        ValidationError,
        "new_status: must be specified",
    ),
    "malformed effective date": (
        [],
        ch(Status.SUSPENDED, "2024-5-1"),
        ValidationError,
        "effective_on: date must be YYYY-MM-DD",
    ),
}


@pytest.mark.parametrize("name", list(REFUSALS))
def test_refusals(name):
    history, change, error, message = REFUSALS[name]
    base = WKT if history == ["wkt"] else RECORD
    state = run([] if history == ["wkt"] else history, base=base)
    with pytest.raises(error) as info:
        apply_change(state, change)
    assert message in str(info.value)
