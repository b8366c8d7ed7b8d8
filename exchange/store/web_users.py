"""The staff console's accounts: one small SQLite file of its own (``users.db``).

Kept apart from the node's database on purpose: the console is a separate
process with its own state directory, and a node never reads who its staff
are. Only password *hashes* are stored (argon2id, made by ``exchange.web``);
the lock-out counters live with the account so that they survive a restart.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from exchange.core.errors import ConflictError, NotFoundError

__all__ = ["WebUser", "WebUsers"]

_TABLE = "users"


@dataclass(frozen=True)
class WebUser:
    name: str
    role: str  # "staff" or "auditor"
    password_hash: str
    created_at: str
    failures: int  # consecutive failed logins since the last success
    locked_until: str  # ISO 8601 UTC, "" when not locked


class WebUsers:
    """Accounts of one console; safe to share between the server's threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # One connection shared by the server's threads, each use under the lock.
        conn = sqlite3.connect(str(self.path), check_same_thread=False)
        self._db = sqlite_utils.Database(conn)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            if _TABLE not in self._db.table_names():
                self._db[_TABLE].create(
                    {
                        "name": str,
                        "role": str,
                        "password_hash": str,
                        "created_at": str,
                        "failures": int,
                        "locked_until": str,
                    },
                    pk="name",
                )
        self.path.chmod(0o600)

    def close(self) -> None:
        self._db.close()

    def add(self, name: str, role: str, password_hash: str, created_at: str) -> WebUser:
        user = WebUser(name, role, password_hash, created_at, 0, "")
        with self._lock:
            if self._get(name) is not None:
                raise ConflictError(f"user {name!r} already exists")
            self._db[_TABLE].insert(user.__dict__)
        return user

    def set_password(self, name: str, password_hash: str) -> None:
        with self._lock:
            if self._get(name) is None:
                raise NotFoundError(f"no user {name!r}")
            self._db[_TABLE].update(
                name, {"password_hash": password_hash, "failures": 0, "locked_until": ""}
            )

    def remove(self, name: str) -> None:
        with self._lock:
            if self._get(name) is None:
                raise NotFoundError(f"no user {name!r}")
            self._db[_TABLE].delete(name)

    def get(self, name: str) -> WebUser | None:
        with self._lock:
            return self._get(name)

    def all(self) -> list[WebUser]:
        with self._lock:
            return [WebUser(**row) for row in self._db[_TABLE].rows_where(order_by="name")]

    def record_failure(self, name: str, failures: int, locked_until: str = "") -> None:
        """Store the count of failed logins in a row (and the lock, if one starts now)."""
        with self._lock:
            if self._get(name) is not None:
                self._db[_TABLE].update(name, {"failures": failures, "locked_until": locked_until})

    def record_success(self, name: str) -> None:
        with self._lock:
            if self._get(name) is not None:
                self._db[_TABLE].update(name, {"failures": 0, "locked_until": ""})

    def _get(self, name: str) -> WebUser | None:
        rows = list(self._db[_TABLE].rows_where("name = ?", [name], limit=1))
        return WebUser(**rows[0]) if rows else None
