"""Fuzz suite fixtures, and the end-of-session count of examples run."""

from __future__ import annotations

import time

import pytest
from brandex_fuzz import COUNTS, EXAMPLES

_STARTED = time.monotonic()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how many fuzz cases ran, per test label and in total."""
    if not COUNTS:
        return
    tr = terminalreporter
    tr.section("fuzz cases")
    width = max(len(label) for label in COUNTS)
    for label, n in sorted(COUNTS.items()):
        tr.write_line(f"{label:<{width}}  {n:>8}")
    total = sum(COUNTS.values())
    elapsed = time.monotonic() - _STARTED
    tr.write_line(
        f"fuzz: {total} cases in {len(COUNTS)} targets "
        f"(BRANDEX_FUZZ_EXAMPLES={EXAMPLES}, {elapsed:.1f} s)"
    )
