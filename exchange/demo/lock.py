"""One demo per state folder: a lock file holding the runner's and its nodes' PIDs.

``make demo`` deletes the databases in its state folder before it starts; with
``make up`` (or another demo) running on the same folder that would pull the
files from under live nodes. :class:`DemoLock` is taken before anything is
touched: an ``flock`` on ``<state>/demo.lock`` (released by the kernel when the
holder dies, so a crashed demo never blocks the next one), whose content names
the holder and the node processes it started. Nodes outlive a runner killed
with ``kill -9`` (they run in their own sessions), so their PIDs are checked
too, and :func:`database_in_use` asks SQLite's own lock whether any process
still has a database open.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Mapping
from pathlib import Path

from exchange.store.lock import database_in_use

__all__ = ["DemoLock", "database_in_use", "node_alive"]


def node_alive(pid: int) -> bool:
    """A live ``brandex node run`` process with this PID (a reused PID is not mistaken for one)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: trust the PID
    return b"node\x00run" in cmdline


class DemoLock:
    """``<state>/demo.lock``, held (flock) from before the first file is touched to the end."""

    def __init__(self, state: Path, command: str) -> None:
        self.path = state / "demo.lock"
        self.command = command
        self._fd: int | None = None

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}

    def _write(self, info: Mapping) -> None:
        assert self._fd is not None
        data = json.dumps(info).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def acquire(self) -> None:
        """Take the lock, or exit with a message naming the process in the way."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            info = self._read()
            pid = info.get("pid", "?")
            raise SystemExit(
                f"error: {self.path.parent} is in use by a running demo (PID {pid}:"
                f" {info.get('command', '?')}); nothing was changed. Stop it first"
                f" (Ctrl-C in its terminal, or kill {pid}), or give another --state"
            ) from None
        self._fd = fd
        earlier = self._read()
        alive = {n: p for n, p in earlier.get("nodes", {}).items() if node_alive(int(p))}
        if alive:
            self.release(forget=False)
            listed = ", ".join(f"{n} (PID {p})" for n, p in sorted(alive.items()))
            raise SystemExit(
                f"error: nodes started by an earlier demo (PID {earlier.get('pid', '?')}) on"
                f" {self.path.parent} are still running: {listed}; nothing was changed."
                f" Stop them first (kill {' '.join(str(p) for p in alive.values())})"
            )
        self._write({"pid": os.getpid(), "command": self.command, "nodes": {}})

    def record_nodes(self, pids: Mapping[str, int]) -> None:
        self._write({"pid": os.getpid(), "command": self.command, "nodes": dict(pids)})

    def release(self, *, forget: bool = True) -> None:
        """After the nodes stopped: forget them and unlock (the file stays)."""
        if self._fd is None:
            return
        if forget:
            self._write({})
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> DemoLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
