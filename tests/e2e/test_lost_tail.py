"""A node that lost its last commits (a power cut) takes them back from a peer
instead of signing a different tree of the same size (a fork every peer would freeze)."""

from __future__ import annotations

import shutil
from pathlib import Path

from harness import wait_until

ZJ = "yrd/330000"


def _copy_db(db: Path, to: Path) -> None:
    to.mkdir(parents=True, exist_ok=True)
    for f in db.parent.glob(db.name + "*"):  # the database, its WAL and shared memory
        shutil.copy2(f, to / f.name)


def _restore_db(saved: Path, db: Path) -> None:
    for f in db.parent.glob(db.name + "*"):
        f.unlink()
    for f in saved.iterdir():
        shutil.copy2(f, db.parent / f.name)


def test_a_lost_tail_is_recovered_from_a_peer_not_forked(federation_factory, tmp_path) -> None:
    fed = federation_factory(
        {"zhejiang": "330000", "anhui": "340000"},
        {"zhejiang": ["anhui"], "anhui": ["zhejiang"]},
        sync_interval=2.0,
    )
    fed.start_all()
    fed.issue("zhejiang", 5)
    wait_until(lambda: fed.sizes("anhui").get(ZJ) == 6, what="anhui mirrors 6 entries")
    db = fed.database("zhejiang")
    fed.stop("zhejiang")
    _copy_db(db, tmp_path / "at-6")  # what the disk will hold after the power cut
    fed.start("zhejiang")
    fed.issue("zhejiang", 5)
    wait_until(lambda: fed.sizes("anhui").get(ZJ) == 11, what="anhui mirrors 11 entries")
    head_before = fed.heads("anhui")[ZJ]
    fed.kill("zhejiang")
    _restore_db(tmp_path / "at-6", db)  # entries 6..10 are gone from zhejiang's disk

    fed.start("zhejiang")  # takes its own log back from anhui before issuing anything
    assert fed.heads("zhejiang")[ZJ] == head_before
    fed.issue("zhejiang", 1)
    wait_until(lambda: fed.sizes("anhui").get(ZJ) == 12, what="anhui accepts entry 11")
    assert fed.heads("anhui")[ZJ] == fed.heads("zhejiang")[ZJ]
    assert not fed.status("anhui").evidence  # no fork, nothing frozen
    assert "own log from" in fed.log_text("zhejiang")
