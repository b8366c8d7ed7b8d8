"""Who looked up what: the console's access log, one JSON object per line.

Government bodies must be able to say who asked about which brand, when and
from where; so every login attempt (user, result, client address) and every
query (user, route, the query's parameters) is appended here, in the console's
state directory (``access.jsonl``), before the answer is sent. Lines are
written whole under a lock and flushed, so a crash loses at most the line
being written and ``tail -f`` shows each as it happens.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

__all__ = ["AccessLog"]

#: A parameter value longer than this is cut (a query is never that long).
_MAX_VALUE = 500


class AccessLog:
    def __init__(self, path: Path, clock: Callable[[], datetime]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self._lock = threading.Lock()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._file = os.fdopen(fd, "a", encoding="utf-8")

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def write(self, event: str, **fields: object) -> None:
        line = {"time": self.clock().isoformat(timespec="milliseconds"), "event": event}
        line.update(fields)
        text = json.dumps(line, ensure_ascii=False, sort_keys=False)
        with self._lock:
            self._file.write(text + "\n")
            self._file.flush()

    def login(self, user: str, result: str, ip: str) -> None:
        self.write("login", user=user, result=result, ip=ip)

    def query(self, user: str, route: str, params: Mapping[str, str], ip: str) -> None:
        clean = {str(k)[:64]: str(v)[:_MAX_VALUE] for k, v in params.items()}
        self.write("query", user=user, route=route, params=clean, ip=ip)

    def read(self) -> list[dict]:
        """Every line so far (tests and `brandex web log`-style tools)."""
        with self._lock:
            self._file.flush()
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines()]
