"""Whether a database file is in use: the lock a running node holds, SQLite's own lock."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from exchange.core.errors import ConflictError

__all__ = ["DatabaseLock", "database_in_use"]

# SQLite (WAL mode) keeps a shared POSIX lock on this byte of "<db>-shm" for as
# long as a connection is open (the "DMS" lock, WALINDEX_LOCK_OFFSET + 8).
_SHM_DMS_BYTE = 128


def database_in_use(db: Path) -> bool:
    """Whether another process has the SQLite database ``db`` open (WAL mode, as nodes use)."""
    shm = Path(f"{db}-shm")
    if not shm.exists():
        return False
    try:
        fd = os.open(shm, os.O_RDWR)
    except OSError:
        return True  # cannot tell: be careful
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _SHM_DMS_BYTE)
    except OSError:
        return True
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, _SHM_DMS_BYTE)
        return False
    finally:
        os.close(fd)


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
