"""SIGTERM while a node mirrors a large log: it stops cleanly and resumes.

A stop used to close the database while sync threads were still inside a sync:
their next write failed ("Cannot operate on a closed database", logged as a sync
failure), and the interpreter could exit under a running thread; in a 100-node
start-up 13 of the nodes stopped that way died of segfaults. Now the sync engine
cancels its calls and waits for its threads before the store closes.
"""

from __future__ import annotations

import signal
import sqlite3
import time

import pytest
from harness import DEADLINE, wait_until

pytestmark = pytest.mark.e2e

ZJ = "yrd/330000"


def _held_rows(path) -> int:
    """Rows of yrd/330000 in the receiver's file, staged or committed (0 before it exists)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
    except sqlite3.OperationalError:
        return 0
    try:
        return conn.execute("SELECT count(*) FROM entries WHERE origin = ?", (ZJ,)).fetchone()[0]
    except sqlite3.OperationalError:  # no schema yet
        return 0
    finally:
        conn.close()


def test_sigterm_during_a_large_sync_stops_cleanly_and_resumes(federation_factory) -> None:
    fed = federation_factory({"zhejiang": "330000", "anhui": "340000"}, {"anhui": ["zhejiang"]})
    fed.start("zhejiang")
    size = fed.issue("zhejiang", 12_000, chunk=4_000)
    proc = fed.start("anhui", wait=False)
    db = fed.database("anhui")
    # The first verified rows are in: the sync is under way (far from its ~12,000).
    end = time.monotonic() + DEADLINE
    while _held_rows(db) == 0:
        assert time.monotonic() < end, "the receiver never started syncing"
        assert proc.poll() is None, fed.log_text("anhui")[-2000:]
        time.sleep(0.005)  # the polling period of the condition
    mid = _held_rows(db)
    assert fed.stop("anhui", signal.SIGTERM) == 0, fed.log_text("anhui")[-3000:]
    log = fed.log_text("anhui")
    assert "node anhui stopped" in log
    assert "Traceback" not in log and '"level": "ERROR"' not in log, log[-3000:]
    assert mid < size, "caught after the sync: nothing was stopped mid-way"

    # Restarted: it picks up from what it kept and ends with the issuer's exact log.
    fed.start("anhui")
    wait_until(lambda: fed.heads("anhui").get(ZJ) == fed.heads("zhejiang")[ZJ], what="resync")
    assert fed.heads("anhui")[ZJ][0] == size
