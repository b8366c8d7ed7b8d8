"""Runbook "the disk died": back a node up under load, lose its disk, restore, catch up.

Real node processes: the backup is taken with ``brandex node backup`` while
entries are issued and mirrored, the node is killed with SIGKILL, its database
destroyed, ``brandex node restore`` verifies and writes the copy back, and the
restarted node fetches from its peers what the copy lacks, until every log is
identical (size and root) on every node. A tampered backup is refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import threading
from pathlib import Path

from harness import brandex, wait_until

ZJ, AH, JS = "yrd/330000", "yrd/340000", "yrd/320000"
MESH = {"zhejiang": ["anhui", "jiangsu"], "anhui": ["zhejiang", "jiangsu"], "jiangsu": ["anhui"]}


def _destroy(db: Path) -> None:
    for f in db.parent.glob(db.name + "*"):  # the file, its WAL, shared memory, lock
        f.unlink()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _all_equal(fed, names: list[str]) -> bool:
    heads = [fed.heads(n) for n in names]
    return all(h == heads[0] for h in heads) and len(heads[0]) == len(names)


def test_backup_under_load_kill_restore_catch_up(federation_factory, tmp_path) -> None:
    fed = federation_factory(
        {"zhejiang": "330000", "anhui": "340000", "jiangsu": "320000"}, MESH, sync_interval=1.0
    )
    fed.start_all()
    fed.issue("zhejiang", 10)
    fed.issue("anhui", 10)
    wait_until(lambda: fed.sizes("zhejiang").get(AH) == 11, what="zhejiang mirrors anhui")

    stop = threading.Event()
    rounds = {"n": 0}
    errors: list[BaseException] = []

    def load() -> None:  # entries issued on two nodes and mirrored while the backup runs
        try:
            while not stop.is_set():
                fed.issue("zhejiang", 3)
                fed.issue("anhui", 3)
                rounds["n"] += 1
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    wait_until(lambda: rounds["n"] >= 2, what="load running")
    out = tmp_path / "zj-backup"
    cfg = fed.configs["zhejiang"]
    done = brandex("node", "backup", "--config", str(cfg), str(out), "--format", "json", expect=0)
    after = rounds["n"]
    wait_until(lambda: rounds["n"] >= after + 2, what="more entries after the backup")
    stop.set()
    loader.join(timeout=120)
    assert not errors, errors
    manifest = json.loads((out / "manifest.json").read_text())
    sizes = {o["origin"]: o["size"] for o in manifest["origins"]}
    assert sizes[ZJ] >= 11 and sizes[AH] >= 11, manifest
    assert json.loads(done.stdout) == manifest
    assert manifest["sha256"] == _sha(out / "brandex.sqlite")
    assert manifest["brandex_version"] and manifest["created_at"]

    # A running node's database is never overwritten.
    db = fed.database("zhejiang")
    busy = brandex("node", "restore", "--config", str(cfg), str(out), expect=1)
    assert "in use" in busy.stderr
    assert fed.sizes("zhejiang")[ZJ] > sizes[ZJ]  # still serving its newer log

    fed.issue("jiangsu", 5)  # the backup lacks these entirely
    wait_until(
        lambda: (
            fed.sizes("zhejiang").get(JS) == 6
            and fed.sizes("anhui").get(ZJ) == fed.sizes("zhejiang")[ZJ]
        ),
        what="zhejiang mirrors jiangsu and anhui holds all of zhejiang's log",
    )
    fed.kill("zhejiang")
    _destroy(db)
    assert not db.exists()

    restored = brandex(
        "node", "restore", "--config", str(cfg), str(out), "--format", "json", expect=0
    )
    verified = {o["origin"]: (o["size"], o["root"]) for o in json.loads(restored.stdout)}
    assert verified == {o["origin"]: (o["size"], o["root"]) for o in manifest["origins"]}
    fed.start("zhejiang")
    wait_until(
        lambda: _all_equal(fed, ["zhejiang", "anhui", "jiangsu"]),
        what="every log identical on every node after the restore",
    )
    assert fed.sizes("zhejiang")[ZJ] > sizes[ZJ]  # its own tail came back from a peer
    assert "own log from" in fed.log_text("zhejiang")

    fed.issue("zhejiang", 1)  # issuing goes on from the recovered head: no fork
    wait_until(
        lambda: _all_equal(fed, ["zhejiang", "anhui", "jiangsu"]), what="the new entry mirrored"
    )
    for n in ("zhejiang", "anhui", "jiangsu"):
        assert not fed.status(n).evidence


def _tamper_entry(copy: Path, origin: str, idx: int) -> None:
    """Change one signed byte of an entry (and its leaf hash, as a careful forger would)."""
    conn = sqlite3.connect(copy)
    (env,) = conn.execute(
        "SELECT envelope FROM entries WHERE origin = ? AND idx = ?", (origin, idx)
    ).fetchone()
    doc = json.loads(env)
    payload = base64.b64decode(doc["payload"])
    assert b"330000" in payload  # the region, inside the signed payload
    doc["payload"] = base64.b64encode(payload.replace(b"330000", b"330001", 1)).decode()
    forged = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    leaf = hashlib.sha256(b"\x00" + forged).digest()
    conn.execute(
        "UPDATE entries SET envelope = ?, leaf_hash = ? WHERE origin = ? AND idx = ?",
        (forged, leaf, origin, idx),
    )
    conn.commit()
    conn.close()


def _reseal(backup: Path) -> None:
    """Make the manifest's SHA-256 match an altered copy (whoever altered it could)."""
    m = json.loads((backup / "manifest.json").read_text())
    m["sha256"] = _sha(backup / "brandex.sqlite")
    (backup / "manifest.json").write_text(json.dumps(m))


def test_a_tampered_backup_is_refused_and_nothing_is_written(federation_factory, tmp_path) -> None:
    fed = federation_factory({"zhejiang": "330000"}, {}, sync_interval=1.0)
    fed.start_all()
    fed.issue("zhejiang", 16)  # 17 entries: the tree has one stored level-4 node
    cfg = fed.configs["zhejiang"]
    good = tmp_path / "good"
    brandex("node", "backup", "--config", str(cfg), str(good), expect=0)
    again = brandex("node", "backup", "--config", str(cfg), str(good), expect=1)
    assert "exists" in again.stderr  # a backup never overwrites one
    fed.stop("zhejiang")
    db = fed.database("zhejiang")
    before = _sha(db)

    def tampered(name: str) -> Path:
        p = tmp_path / name
        p.mkdir()
        for f in good.iterdir():
            (p / f.name).write_bytes(f.read_bytes())
        return p

    entry = tampered("entry")
    _tamper_entry(entry / "brandex.sqlite", ZJ, 3)
    _reseal(entry)
    r = brandex("node", "restore", "--config", str(cfg), str(entry), expect=1)
    assert f"{ZJ} entry 3" in r.stderr, r.stderr

    unsealed = tampered("unsealed")
    _tamper_entry(unsealed / "brandex.sqlite", ZJ, 2)
    r = brandex("node", "restore", "--config", str(cfg), str(unsealed), expect=1)
    assert "altered" in r.stderr, r.stderr

    head = tampered("head")  # a forged head: a root the signed checkpoint does not state
    conn = sqlite3.connect(head / "brandex.sqlite")
    conn.execute("UPDATE origins SET root = ? WHERE origin = ?", (b"\x01" * 32, ZJ))
    conn.commit()
    conn.close()
    m = json.loads((head / "manifest.json").read_text())
    for o in m["origins"]:
        if o["origin"] == ZJ:
            o["root"] = (b"\x01" * 32).hex()
    (head / "manifest.json").write_text(json.dumps(m))
    _reseal(head)
    r = brandex("node", "restore", "--config", str(cfg), str(head), expect=1)
    assert "root" in r.stderr, r.stderr

    for name, sql, says in (
        ("tree", "UPDATE nodes SET hash = zeroblob(32) WHERE level = 4 AND idx = 0", "subtree"),
        ("keys", "UPDATE keys SET revoked_at = 1", "keys differ"),
    ):
        bad = tampered(name)
        conn = sqlite3.connect(bad / "brandex.sqlite")
        conn.execute(sql)
        conn.commit()
        conn.close()
        _reseal(bad)
        r = brandex("node", "restore", "--config", str(cfg), str(bad), expect=1)
        assert says in r.stderr, r.stderr

    notjson = tampered("notjson")
    (notjson / "manifest.json").write_text("{")
    r = brandex("node", "restore", "--config", str(cfg), str(notjson), expect=1)
    assert "not valid JSON" in r.stderr, r.stderr

    assert _sha(db) == before  # every refusal left the database as it was
    brandex("node", "restore", "--config", str(cfg), str(good), expect=0)
    fed.start("zhejiang")
    assert fed.sizes("zhejiang")[ZJ] == 17
