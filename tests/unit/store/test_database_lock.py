"""The lock a node holds on its database: a second owner, or a restore, is refused."""

from __future__ import annotations

import pytest

from exchange.core.errors import ConflictError, FormatError
from exchange.store import Store
from exchange.store.backup import Snapshot, copy_online
from exchange.store.lock import DatabaseLock


def test_an_owned_database_refuses_a_second_owner_until_closed(tmp_path) -> None:
    db = tmp_path / "node.sqlite"
    store = Store(db, exclusive=True)
    with pytest.raises(ConflictError, match="in use"):
        DatabaseLock(db).acquire()
    with pytest.raises(ConflictError, match="in use"):
        Store(db, exclusive=True)
    reader = Store(db)  # readers (and the CLI's own connections) are not owners
    reader.close()
    store.close()
    with DatabaseLock(db):  # free once the owner closed
        pass


def test_an_online_copy_never_overwrites_and_reads_back(tmp_path) -> None:
    db = tmp_path / "node.sqlite"
    store = Store(db, exclusive=True)
    copy = tmp_path / "copy.sqlite"
    copy_online(db, copy)
    with pytest.raises(ConflictError, match="exists"):
        copy_online(db, copy)
    store.close()
    with Snapshot(copy) as snap:
        assert snap.origins() == []
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(FormatError, match="not a brandex database"):
        Snapshot(tmp_path / "junk.sqlite")
