"""Big imports sign and validate in worker processes: same log, same errors, same order."""

from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from test_ledger import LedgerPeer, certs, make_ledger  # noqa: F401

from exchange._proto.brandex.v1 import entries_pb2
from exchange.core.errors import ValidationError
from exchange.demo.dataset import demo_records
from exchange.node.services import AdminService, NodeContext

ZJ = "yrd/330000"


@pytest.fixture(scope="module")
def pool():
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as p:
        yield p


def _records(n: int) -> list[entries_pb2.Recognition]:
    base = demo_records()["zhejiang"]
    out = []
    for i in range(n):
        r = dict(base[i % len(base)], record_id=f"p{i:05d}", certificate_no=f"P-{i:05d}")
        out.append(entries_pb2.Recognition(**r))
    return out


def test_pooled_signing_makes_a_log_peers_accept(certs, tmp_path, pool) -> None:  # noqa: F811
    issuer = make_ledger(certs, tmp_path / "zj.db", "zhejiang", pool=pool)
    records = _records(1500)
    start, envelopes = issuer.issue([("recognition", r) for r in records])
    assert start == 1 and len(envelopes) == 1500
    # Order is kept: entry k of the log is record k.
    stored = issuer.store.read.execute("SELECT record_id FROM records ORDER BY idx").fetchall()
    assert [r[0] for r in stored] == [r.record_id for r in records]
    # An independent node verifies every signature and the checkpoint.
    victim = make_ledger(certs, tmp_path / "ah.db", "anhui")
    outcome = {o.origin: o for o in victim.sync_from(LedgerPeer(issuer))}[ZJ]
    assert outcome.action == "appended" and outcome.added == 1501


def test_pooled_validation_reports_every_error_with_its_index(certs, tmp_path, pool) -> None:  # noqa: F811
    ledger = make_ledger(certs, tmp_path / "zj.db", "zhejiang", pool=pool)
    admin = AdminService(NodeContext(ledger=ledger, callers=None, today=None))  # type: ignore[arg-type]
    records = _records(1200)
    records[7].enterprise_uscc = "91330106MA2B000010"
    records[1100].brand_name = ""
    errors = admin._batch_errors(records)
    assert [(e.field, e.rule) for e in errors] == [
        ("records[7].enterprise_uscc", errors[0].rule),
        ("records[1100].brand_name", "is required"),
    ]
    assert all(isinstance(e, ValidationError) for e in errors)
    serial = AdminService(
        NodeContext(
            ledger=SimpleNamespace(pool=None, region="330000"),  # type: ignore[arg-type]
            callers=None,
            today=None,
        )
    )
    assert [str(e) for e in serial._batch_errors(records)] == [str(e) for e in errors]
