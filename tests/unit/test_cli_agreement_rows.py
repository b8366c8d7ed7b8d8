"""`agreement list` decides IN_FORCE from typed dates (exchange.client answers)."""

from __future__ import annotations

from datetime import date

from exchange.cli.agreements import _in_force
from exchange.client import types as t


def _acc(start: str, until: str = "") -> t.Accession:
    return t.Accession(
        agreement_id="yrd-2003",
        title="",
        covered_kinds=["PROVINCIAL_FAMOUS_BRAND_PRODUCT"],
        effective_from=date.fromisoformat(start),
        effective_until=date.fromisoformat(until) if until else None,
        region="340000",
    )


def test_in_force_between_start_and_end_unless_withdrawn() -> None:
    d = date.fromisoformat
    assert _in_force(_acc("2024-01-01"), [], d("2026-06-01"))
    assert not _in_force(_acc("2027-01-01"), [], d("2026-06-01"))
    assert not _in_force(_acc("2024-01-01", "2025-12-31"), [], d("2026-06-01"))
    assert not _in_force(_acc("2024-01-01"), [d("2026-01-01")], d("2026-06-01"))
    assert _in_force(_acc("2024-01-01"), [d("2029-01-01")], d("2026-06-01"))
