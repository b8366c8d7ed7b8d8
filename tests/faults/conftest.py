"""Fixtures for the fault suite: real node processes, one PKI, and the summary table.

Every case records a row (case, faults injected, entries lost) through the
``fault_report`` fixture; the rows are printed as one table at the end of the
session. ``docs/RELIABILITY.md`` quotes that table from a real run.

Random choices (kill points, growth) come from ``BRANDEX_FAULT_SEED`` (default
below), printed with the table, so a failing run can be replayed.
"""

from __future__ import annotations

import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "e2e"))  # harness.py, hostile.py
sys.path.insert(0, str(HERE))  # proxy.py, logcheck.py, nodeconfig.py
sys.path.insert(0, str(HERE.parents[1]))  # bench.common (synthetic records)

from harness import Federation  # noqa: E402

from exchange import pki  # noqa: E402

SEED = int(os.environ.get("BRANDEX_FAULT_SEED", "20240607"))


@dataclass
class FaultRow:
    case: str
    faults: int
    lost: int
    seconds: float | None  # the test's time so far; only on a test's first row
    note: str = ""


_ROWS = pytest.StashKey[list[FaultRow]]()


@pytest.fixture(scope="session")
def fault_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One PKI with every demo member (key generation is the slow part)."""
    certs = tmp_path_factory.mktemp("faults-pki") / "certs"
    pki.init_federation(certs, "yrd", pki.DEMO_MEMBERS)
    return certs


@pytest.fixture
def federation(tmp_path: Path, fault_certs: Path):
    """Make federations of real node processes; all are stopped after the test."""
    made: list[Federation] = []

    def make(regions, topology=None, **kw) -> Federation:
        fed = Federation.create(
            tmp_path / f"fed{len(made)}", regions, topology or {}, certs=fault_certs, **kw
        )
        made.append(fed)
        return fed

    yield make
    for fed in made:
        fed.stop_all()


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """This test's own reproducible random stream (from the session seed)."""
    return random.Random(f"{SEED}:{request.node.name}")


@pytest.fixture
def fault_report(request: pytest.FixtureRequest):
    """``record(case, faults, lost, note)``: one summary row; time counts from the fixture."""
    rows = request.config.stash.setdefault(_ROWS, [])
    t0 = time.monotonic()
    first = len(rows)

    def record(case: str, faults: int, lost: int, note: str = "") -> None:
        seconds = time.monotonic() - t0 if len(rows) == first else None
        rows.append(FaultRow(case, faults, lost, seconds, note))

    return record


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    rows = config.stash.get(_ROWS, [])
    if not rows:
        return
    tr = terminalreporter
    tr.section("fault suite summary")
    tr.write_line(f"seed {SEED} (BRANDEX_FAULT_SEED)")
    tr.write_line("")
    tr.write_line("| case | faults injected | entries lost | test time (s) | notes |")
    tr.write_line("|---|---:|---:|---:|---|")
    for r in rows:
        t = f"{r.seconds:.1f}" if r.seconds is not None else ""
        tr.write_line(f"| {r.case} | {r.faults} | {r.lost} | {t} | {r.note} |")
    total_faults = sum(r.faults for r in rows)
    total_lost = sum(r.lost for r in rows)
    tr.write_line(f"| **total ({len(rows)} cases)** | {total_faults} | {total_lost} | | |")
