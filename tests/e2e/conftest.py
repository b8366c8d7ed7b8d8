"""Fixtures for end-to-end tests: federations of real node processes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import Federation

from exchange import pki


@pytest.fixture(scope="session")
def shared_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One PKI for the session (key generation is the slow part of a federation).

    Made up front with every demo member, so the anchor's jurisdictions cover all
    of them whichever test runs first (``add_member`` refuses regions outside).
    """
    certs = tmp_path_factory.mktemp("pki") / "certs"
    pki.init_federation(certs, "yrd", pki.DEMO_MEMBERS)
    return certs


@pytest.fixture
def federation_factory(tmp_path: Path, shared_certs: Path):
    made: list[Federation] = []

    def make(regions, topology, **kw) -> Federation:
        fed = Federation.create(
            tmp_path / f"fed{len(made)}",
            regions,
            topology,
            certs=kw.pop("certs", shared_certs),
            **kw,
        )
        made.append(fed)
        return fed

    yield make
    for fed in made:
        fed.stop_all()
