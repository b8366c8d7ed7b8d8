"""The lock a running node holds on its database file."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from exchange.core.errors import ConflictError

__all__ = ["DatabaseLock"]


class DatabaseLock:
    """An exclusive ``flock`` on ``<database>.lock``: held by a running node.

    The kernel drops it when the holder exits, even on ``kill -9``, so a lock
    left behind by a dead node never blocks a restore.
    """

    def __init__(self, database: str | Path) -> None:
        self.path = Path(str(database) + ".lock")
        self._fd: int | None = None

    def acquire(self) -> DatabaseLock:
        """Take the lock or raise ConflictError naming the file (no waiting)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConflictError(
                f"the database {str(self.path)[: -len('.lock')]} is in use "
                f"(a node holds {self.path}); stop the node first"
            ) from None
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> DatabaseLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
