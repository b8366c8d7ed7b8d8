"""A node stops cleanly on SIGTERM whichever of its threads the kernel hands it to."""

from __future__ import annotations

import ctypes
import os
import signal
from pathlib import Path

import pytest
from harness import DEADLINE

_SYS_TGKILL = {"x86_64": 234, "aarch64": 131}


def _tgkill(pid: int, tid: int, sig: int) -> None:
    """Send ``sig`` to one thread of process ``pid`` (Linux tgkill)."""
    number = _SYS_TGKILL.get(os.uname().machine)
    if number is None:
        pytest.skip(f"tgkill's syscall number is not known here ({os.uname().machine})")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(number, pid, tid, sig) != 0:
        raise OSError(ctypes.get_errno(), f"tgkill({pid}, {tid}, {sig})")


def test_sigterm_to_a_worker_thread_stops_the_node(federation_factory) -> None:
    """A process-directed signal may land on any thread. CPython runs its handler in
    the main thread only when that thread runs bytecode, so a main thread asleep in
    a plain wait() never saw it: `kill PID` left the node running (seen in CI: a
    node killed after 60 s). Here SIGTERM goes to a thread that is not the main one."""
    fed = federation_factory({"zhejiang": "330000", "anhui": "340000"}, {"zhejiang": ["anhui"]})
    fed.start_all()
    proc = fed.procs["zhejiang"]
    tids = sorted(int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid)
    assert tids, "the node runs threads besides its main one"
    _tgkill(proc.pid, tids[-1], signal.SIGTERM)
    assert proc.wait(timeout=DEADLINE) == 0
    log = Path(fed.root / "zhejiang.log").read_text(errors="replace")
    assert "signal 15: stopping" in log and "node zhejiang stopped" in log
