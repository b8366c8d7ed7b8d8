"""``make demo`` never touches a state folder a live process is using.

Each case puts something live in the way (a demo holding the lock, nodes left by
a killed demo, a process with a database open), runs ``python -m exchange.demo
run`` on the same folder and checks that it refuses, naming the process, and
that every file in the folder is byte for byte what it was. No node is started:
the refusal has to come before the demo would start any.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from exchange.demo.federation import demo_members, render_config
from exchange.demo.lock import DemoLock, database_in_use

ROOT = Path(__file__).resolve().parents[2]


def _snapshot(state: Path) -> dict[str, bytes]:
    return {str(p.relative_to(state)): p.read_bytes() for p in state.rglob("*") if p.is_file()}


def _state(tmp_path: Path) -> Path:
    state = tmp_path / "demo"
    (state / "logs").mkdir(parents=True)
    (state / "logs" / "zhejiang.log").write_text("earlier run\n")
    for name in ("zhejiang", "anhui"):
        (state / f"{name}.db").write_bytes(b"SQLite format 3\x00" + name.encode() * 100)
        (state / f"{name}.db-wal").write_bytes(b"wal of " + name.encode())
    return state


def _live(code: str, *args: str) -> subprocess.Popen:
    """A helper process that runs ``code``, prints "ready" and waits until its stdin closes."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code + "\nprint('ready', flush=True)\nsys.stdin.read()", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _end(proc: subprocess.Popen) -> None:
    proc.stdin.close()
    proc.wait(timeout=30)


def _demo_run(state: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "exchange.demo", "run", "--state", str(state)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def _refused(state: Path, before: dict[str, bytes], *expect: str) -> str:
    done = _demo_run(state)
    assert done.returncode != 0, done.stdout + done.stderr
    assert "nothing was changed" in done.stderr, done.stderr
    for text in expect:
        assert text in done.stderr
    after = _snapshot(state)
    after.pop("demo.lock", None)
    assert after == before
    assert not (state / "nodes").exists()
    return done.stderr


def test_a_second_demo_refuses_while_one_holds_the_lock(tmp_path: Path) -> None:
    state = _state(tmp_path)
    before = _snapshot(state)
    holder = _live(
        "import sys; from pathlib import Path; from exchange.demo.lock import DemoLock\n"
        f"DemoLock(Path({str(state)!r}), 'make up (test)').acquire()"
    )
    try:
        _refused(state, before, f"running demo (PID {holder.pid}: make up (test))")
    finally:
        _end(holder)
    # The lock dies with its holder (flock): the next demo may take it.
    with DemoLock(state, "next"):
        assert json.loads((state / "demo.lock").read_text())["command"] == "next"


def test_nodes_left_by_a_killed_demo_are_found_by_pid(tmp_path: Path) -> None:
    state = _state(tmp_path)
    before = _snapshot(state)
    node = _live("import sys", "node", "run")  # looks like `brandex node run` in /proc
    (state / "demo.lock").write_text(json.dumps({"pid": 1, "nodes": {"zhejiang": node.pid}}))
    try:
        _refused(state, before, f"zhejiang (PID {node.pid})", f"kill {node.pid}")
    finally:
        _end(node)
    with DemoLock(state, "next"):  # the node is gone: no longer in the way
        pass


def test_a_database_open_in_another_process_is_never_deleted(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    state.mkdir()
    db = state / "zhejiang.db"
    holder = _live(
        "import sqlite3, sys\n"
        f"c = sqlite3.connect({str(db)!r}); c.execute('pragma journal_mode=wal')\n"
        "c.execute('create table t (x)'); c.execute('insert into t values (1)'); c.commit()"
    )
    try:
        assert database_in_use(db)
        before = _snapshot(state)
        _refused(state, before, "open in another process: zhejiang.db")
    finally:
        _end(holder)
    assert not database_in_use(db)


@pytest.mark.parametrize("member", demo_members(), ids=lambda m: m.name)
def test_committed_example_configs_match_the_demo(member) -> None:
    """nodes/*.toml are examples (docs, make up); `python -m exchange.demo configs` writes them."""
    text = render_config(
        member,
        {m.name: m for m in demo_members()},
        config_dir=ROOT / "nodes",
        certs_dir=ROOT / "certs" / "yrd",
        db_dir=ROOT / "var" / "demo",
    )
    assert (ROOT / "nodes" / f"{member.name}.toml").read_text(encoding="utf-8") == text
