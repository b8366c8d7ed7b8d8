"""The domain rules of a log (exchange.core.rules): each rule hit, and not hit."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from exchange._proto.brandex.v1 import entries_pb2 as pb
from exchange.core.rules import RULES, MemoryState, check_entry
from exchange.core.vocabulary import CaseActionType, ReasonCode, Status
from tests.builders import counterfeit_case, recognition

ZJ, AH = "330000", "340000"


def entry(region: str, **body: object) -> pb.Entry:
    return pb.Entry(federation="yrd", region=region, issued_at="2026-01-01T00:00:00Z", **body)


def rec(record_id: str = "zj-1", cert: str = "ZJMP-2024-0001") -> pb.Entry:
    return entry(ZJ, recognition=recognition(record_id, cert))


def change(record_id: str, status: Status, on: str = "2024-06-01") -> pb.Entry:
    reason = ReasonCode.SPOT_CHECK_FAILURE if status in (Status.SUSPENDED, Status.REVOKED) else 0
    return entry(
        ZJ,
        status_change=pb.StatusChange(
            record_id=record_id, new_status=status, reason=reason, effective_on=on
        ),
    )


def case(region: str = ZJ, case_id: str = "zj-c1", handling: str = ZJ, **kw) -> pb.Entry:
    c = counterfeit_case(case_id)
    c.reporting_region, c.handling_region = region, handling
    for k, v in kw.items():
        setattr(c, k, v)
    return entry(region, infringement_case=c)


def act(region: str, case_region: str = ZJ, case_id: str = "zj-c1", action=None) -> pb.Entry:
    return entry(
        region,
        case_action=pb.CaseAction(
            case_region=case_region,
            case_id=case_id,
            acting_region=region,
            action=action or CaseActionType.INSPECTION,
            date="2024-07-06",
        ),
    )


def accession(agreement: str = "yrd-2006") -> pb.Entry:
    return entry(
        ZJ,
        accession=pb.Accession(
            agreement_id=agreement, region=ZJ, covered_kinds=[2], effective_from="2006-01-01"
        ),
    )


def withdrawal(agreement: str = "yrd-2006") -> pb.Entry:
    return entry(
        ZJ,
        withdrawal=pb.Withdrawal(agreement_id=agreement, region=ZJ, effective_on="2025-01-01"),
    )


def rules_of(state: MemoryState, e: pb.Entry) -> list[str]:
    """Check ``e`` on ``state``, apply it if clean, and return the rule names broken."""
    return [v.rule for v in state.check_and_apply(e.region, 0, e)]


def replay(*entries: pb.Entry, state: MemoryState | None = None) -> list[list[str]]:
    state = state if state is not None else MemoryState()
    return [rules_of(state, e) for e in entries]


# ------------------------------------------------------------------ stateless


def test_an_entry_without_a_body_is_invalid() -> None:
    assert replay(entry(ZJ)) == [["invalid-entry"]]


def test_a_valid_recognition_breaks_nothing() -> None:
    assert replay(rec()) == [[]]


def test_a_recognition_outside_the_issuers_jurisdiction_is_invalid() -> None:
    """Anhui recognising a Hangzhou (330100) enterprise: what Anhui's node refuses."""
    r = recognition("ah-1", "AHMP-1")
    r.enterprise_region = "330106"
    violations = check_entry(MemoryState(), AH, 5, entry(AH, recognition=r))
    assert {v.rule for v in violations} == {"invalid-entry"}
    assert any("jurisdiction" in v.message for v in violations)
    assert all(v.error is not None for v in violations)


def test_stateless_false_leaves_the_validators_to_the_caller() -> None:
    bad = rec()
    bad.recognition.enterprise_uscc = "not a uscc"
    assert check_entry(MemoryState(), ZJ, 0, bad, stateless=False) == []


def test_key_announcements_and_accessions_have_no_stateful_rules() -> None:
    assert replay(entry(ZJ, key_announcement=pb.KeyAnnouncement()), accession()) == [[], []]


# ---------------------------------------------------------------- duplicates


def test_duplicate_record_id() -> None:
    assert replay(rec("zj-1", "C1"), rec("zj-1", "C2"), rec("zj-2", "C3")) == [
        [],
        ["duplicate-record"],
        [],
    ]


def test_duplicate_certificate_number() -> None:
    assert replay(rec("zj-1", "C1"), rec("zj-2", "C1"), rec("zj-3", "C3")) == [
        [],
        ["duplicate-certificate"],
        [],
    ]


def test_the_same_record_again_is_a_duplicate_record_only() -> None:
    assert replay(rec("zj-1", "C1"), rec("zj-1", "C1")) == [[], ["duplicate-record"]]


def test_duplicate_case_id() -> None:
    assert replay(rec(), case(case_id="c1"), case(case_id="c1"), case(case_id="c2")) == [
        [],
        [],
        ["duplicate-case"],
        [],
    ]


# ------------------------------------------------------------------- records


def test_a_case_protecting_an_unknown_record_of_its_own_region() -> None:
    assert replay(case(protected_issuer=ZJ, protected_record_id="zj-404")) == [
        ["case-unknown-record"]
    ]


def test_a_record_of_another_region_is_unknown_unless_the_reader_is_complete() -> None:
    foreign = case(protected_issuer="310000", protected_record_id="sh-1")
    assert replay(foreign) == [[]]
    assert replay(foreign, state=MemoryState(complete=frozenset({"310000"}))) == [
        ["case-unknown-record"]
    ]


def test_a_status_change_for_an_unknown_record() -> None:
    assert replay(change("zj-404", Status.REVOKED)) == [["status-unknown-record"]]


def test_status_transitions_follow_the_state_machine() -> None:
    assert replay(
        rec("zj-1"),
        change("zj-1", Status.SUSPENDED, "2024-06-01"),
        change("zj-1", Status.REINSTATED, "2024-07-01"),
        change("zj-1", Status.REVOKED, "2024-08-01"),
        change("zj-1", Status.REINSTATED, "2024-09-01"),
    ) == [[], [], [], [], ["status-transition"]]


def test_a_status_change_out_of_date_order_is_a_transition_violation() -> None:
    state = MemoryState()
    replay(rec("zj-1"), change("zj-1", Status.SUSPENDED, "2024-06-01"), state=state)
    [v] = check_entry(state, ZJ, 3, change("zj-1", Status.REINSTATED, "2024-05-01"))
    assert v.rule == "status-transition" and "out of order" in v.message


# --------------------------------------------------------------------- cases


def test_an_action_on_an_unknown_case_of_its_own_region() -> None:
    assert replay(act(ZJ, ZJ, "zj-404")) == [["case-unknown"]]


def test_an_action_on_a_case_of_a_log_not_held_is_unknown_not_a_violation() -> None:
    assert replay(act(ZJ, AH, "ah-1")) == [[]]
    assert replay(act(ZJ, AH, "ah-1"), state=MemoryState(complete=frozenset({AH}))) == [
        ["case-unknown"]
    ]


def test_only_the_reporting_or_handling_region_may_act() -> None:
    state = MemoryState()
    replay(rec(), case(handling=ZJ), state=state)
    [v] = check_entry(state, AH, 0, act(AH, action=CaseActionType.CLOSED))
    assert v.rule == "case-not-party" and "only the handling region 330000" in v.message
    handled_by_anhui = MemoryState()
    replay(rec(), case(handling=AH), state=handled_by_anhui)
    assert replay(act(AH), act(ZJ), state=handled_by_anhui) == [[], []]


def test_no_action_after_a_case_is_closed() -> None:
    assert replay(
        rec(),
        case(),
        act(ZJ, action=CaseActionType.INSPECTION),
        act(ZJ, action=CaseActionType.DISMISSED),
        act(ZJ, action=CaseActionType.INSPECTION),
    ) == [[], [], [], [], ["case-closed"]]


def test_a_refused_closing_action_leaves_the_case_open() -> None:
    state = MemoryState()
    replay(rec(), case(handling=ZJ), state=state)
    assert rules_of(state, act(AH, action=CaseActionType.CLOSED)) == ["case-not-party"]
    assert state.case(ZJ, "zj-c1").open


# ---------------------------------------------------------------- agreements


def test_a_withdrawal_needs_a_prior_accession() -> None:
    assert replay(withdrawal("yrd-2006"), accession("yrd-2006"), withdrawal("yrd-2006")) == [
        ["withdrawal-without-accession"],
        [],
        [],
    ]


# --------------------------------------------------------------- the table


def test_every_rule_is_documented_in_the_module_table() -> None:
    import exchange.core.rules as rules

    for name in RULES:
        assert f"``{name}``" in (rules.__doc__ or "")


@pytest.mark.parametrize("name", sorted(RULES))
def test_every_rule_is_hit_by_some_test_here(name: str) -> None:
    source = Path(__file__).read_text("utf-8")
    assert source.count(f'"{name}"') >= 1


def test_memory_state_reads_through_to_its_base() -> None:
    base = MemoryState()
    replay(rec("zj-1", "C1"), accession(), state=base)
    top = MemoryState(base)
    assert top.record(ZJ, "zj-1") is not None and top.certificate_holder(ZJ, "C1") == "zj-1"
    assert top.acceded(ZJ, "yrd-2006")
    assert replay(rec("zj-1", "C9"), state=top) == [["duplicate-record"]]


def test_plain_objects_work_as_entries() -> None:
    e = SimpleNamespace(region=ZJ, withdrawal=SimpleNamespace(agreement_id="x", region=ZJ))
    assert [v.rule for v in check_entry(MemoryState(), ZJ, 0, e, stateless=False)] == [
        "withdrawal-without-accession"
    ]
