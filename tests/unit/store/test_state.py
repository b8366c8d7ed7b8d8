"""The SQLite reader of the rules' state agrees with the in-memory one.

One sequence of entries (two logs, good and rule-breaking entries) is folded
into a store (projections, with rules at ingest) and into a MemoryState; both
must then answer every question the rules ask the same way, and the store's
violations table must list exactly what the memory replay refused.
"""

from __future__ import annotations

import pytest

from exchange._proto.brandex.v1 import entries_pb2 as pb
from exchange.core.rules import MemoryState
from exchange.core.vocabulary import CaseActionType, ReasonCode, Status
from exchange.store import Store
from exchange.store.state import SqliteState
from tests.builders import counterfeit_case, recognition

ZJ, AH = "330000", "340000"


def _entry(region: str, **body: object) -> pb.Entry:
    return pb.Entry(federation="yrd", region=region, issued_at="2026-01-01T00:00:00Z", **body)


def _change(record_id: str, status: Status, on: str, **kw) -> pb.Entry:
    reason = ReasonCode.QUALITY_INCIDENT if status in (Status.SUSPENDED, Status.REVOKED) else 0
    return _entry(
        ZJ,
        status_change=pb.StatusChange(
            record_id=record_id, new_status=status, reason=reason, effective_on=on, **kw
        ),
    )


def _act(region: str, case_region: str, case_id: str, action: CaseActionType) -> pb.Entry:
    return _entry(
        region,
        case_action=pb.CaseAction(
            case_region=case_region,
            case_id=case_id,
            acting_region=region,
            action=action,
            date="2024-08-01",
        ),
    )


def _logs() -> dict[str, list[pb.Entry]]:
    zj: list[pb.Entry] = [_entry(ZJ, recognition=recognition(f"zj-{i}", f"C{i}")) for i in range(6)]
    corrected = recognition("zj-4", "C4")
    corrected.brand_name = "西湖春"
    zj += [
        _entry(ZJ, recognition=recognition("zj-1", "C99")),  # duplicate record id
        _entry(ZJ, recognition=recognition("zj-9", "C2")),  # duplicate certificate
        _change("zj-1", Status.SUSPENDED, "2024-03-01"),
        _change("zj-1", Status.REINSTATED, "2024-04-01"),
        _change("zj-2", Status.REVOKED, "2024-05-01"),
        _change("zj-2", Status.REINSTATED, "2024-06-01"),  # a revoked record stays revoked
        _change("zj-3", Status.RENEWED, "2024-05-01", new_valid_until="2029-12-31"),
        _change("zj-4", Status.CORRECTED, "2024-05-02", corrected=corrected),
        _change("zj-404", Status.REVOKED, "2024-05-01"),  # no such record
    ]
    case = counterfeit_case("zj-c1", "zj-0")
    case.reporting_region = case.handling_region = ZJ
    zj.append(_entry(ZJ, infringement_case=case))
    zj.append(_entry(ZJ, infringement_case=case))  # duplicate case
    zj.append(
        _entry(
            ZJ,
            accession=pb.Accession(
                agreement_id="yrd-2006", region=ZJ, covered_kinds=[2], effective_from="2006-01-01"
            ),
        )
    )
    zj.append(
        _entry(
            ZJ, withdrawal=pb.Withdrawal(agreement_id="x-1", region=ZJ, effective_on="2025-01-01")
        )
    )
    bad = recognition("ah-1", "AH-1")  # Anhui recognising a Hangzhou enterprise
    ah = [
        _entry(AH, recognition=bad),
        _act(AH, ZJ, "zj-c1", CaseActionType.CLOSED),  # not a party
    ]
    zj.append(_act(ZJ, ZJ, "zj-c1", CaseActionType.DISMISSED))
    zj.append(_act(ZJ, ZJ, "zj-c1", CaseActionType.INSPECTION))  # after it was dismissed
    return {f"yrd/{ZJ}": zj, f"yrd/{AH}": ah}


@pytest.mark.parametrize("batch", [1, 4, 100])
def test_sqlite_state_answers_as_the_memory_state_does(tmp_path, batch: int) -> None:
    logs = _logs()
    store = Store(tmp_path / "db.sqlite")
    memory = MemoryState()
    expected: set[tuple[str, int, str]] = set()
    for origin, entries in logs.items():
        region = origin.rpartition("/")[2]
        with store.write() as tx:
            tx.ensure_origin(origin, region)
        for s in range(0, len(entries), batch):
            chunk = entries[s : s + batch]
            with store.write() as tx:
                tx.append(origin, s, [b"e%d" % (s + i) for i in range(len(chunk))], chunk)
        for i, e in enumerate(entries):
            expected |= {(origin, i, v.rule) for v in memory.check_and_apply(region, i, e)}

    got = set(store.read.execute("SELECT origin, idx, rule FROM violations").fetchall())
    assert got == expected
    assert {r for _, _, r in got} == {
        "duplicate-record",
        "duplicate-certificate",
        "status-transition",
        "status-unknown-record",
        "duplicate-case",
        "withdrawal-without-accession",
        "invalid-entry",
        "case-not-party",
        "case-closed",
    }

    sql = SqliteState(store.read)
    for n in [*range(6), 9, 404]:
        assert sql.record(ZJ, f"zj-{n}") == memory.record(ZJ, f"zj-{n}"), n
    assert sql.record(AH, "ah-1") is memory.record(AH, "ah-1") is None
    for cert in ["C0", "C2", "C4", "C99", "AH-1"]:
        assert sql.certificate_holder(ZJ, cert) == memory.certificate_holder(ZJ, cert)
    assert sql.case(ZJ, "zj-c1") == memory.case(ZJ, "zj-c1")
    assert not sql.case(ZJ, "zj-c1").open
    for region, agreement in [(ZJ, "yrd-2006"), (ZJ, "x-1"), (AH, "yrd-2006")]:
        assert sql.acceded(region, agreement) == memory.acceded(region, agreement)


def test_prefetch_answers_free_ids_without_changing_answers(tmp_path) -> None:
    store = Store(tmp_path / "db.sqlite")
    with store.write() as tx:
        tx.ensure_origin(f"yrd/{ZJ}", ZJ)
        tx.append(f"yrd/{ZJ}", 0, [b"a"], [_entry(ZJ, recognition=recognition("zj-1", "C1"))])
    sql = SqliteState(store.read)
    sql.prefetch(ZJ, ["zj-1", "zj-2"], ["C1", "C2"])
    assert sql.record(ZJ, "zj-1") is not None and sql.record(ZJ, "zj-2") is None
    assert sql.certificate_holder(ZJ, "C1") == "zj-1" and sql.certificate_holder(ZJ, "C2") is None
