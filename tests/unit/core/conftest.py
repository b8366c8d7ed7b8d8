"""Fixtures shared by the core unit tests."""

from pathlib import Path

import pytest

# Read-only reference data lives beside the project: /work/main -> /work/shared/data.
SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared reference-data directory; skips the test when it is not there."""
    if not SHARED.is_dir():
        pytest.skip(f"shared reference data not found at {SHARED}")
    return SHARED
