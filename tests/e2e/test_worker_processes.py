"""A node's verification workers end with it, however it ends.

A node killed with SIGKILL cannot shut its process pool down; before the
workers watched their parent, every such kill left three processes behind
(two workers and the resource tracker they kept alive) for good.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from harness import wait_until

pytestmark = pytest.mark.e2e


def _children(pid: int) -> set[int]:
    out = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.add(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_no_worker_outlives_its_node(federation_factory, how: str) -> None:
    fed = federation_factory({"zhejiang": "330000"}, {})
    node = fed.start("zhejiang")
    # verify_workers = 2 in these configs, plus multiprocessing's resource tracker.
    kids = wait_until(lambda: len(_children(node.pid)) >= 3 and _children(node.pid))
    getattr(fed, how)("zhejiang")  # SIGKILL, or SIGTERM and a clean stop
    wait_until(lambda: not any(map(_alive, kids)), timeout=30, what="the workers to end")
