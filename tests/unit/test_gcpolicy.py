"""exchange.gcpolicy: the start-up heap is frozen, and cycles made later are still collected.

Run in a fresh interpreter: the policy changes process-wide collector state,
which the test process must keep as pytest set it.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap

from exchange import gcpolicy
from exchange.workers import start_pool

_CHILD = textwrap.dedent(
    """
    import gc, weakref
    import exchange.node.server  # a node's imports, as before run_node settles
    from exchange import gcpolicy

    before = gc.get_freeze_count()
    gcpolicy.settle()
    frozen = gc.get_freeze_count()
    assert before == 0 and frozen > 50_000, (before, frozen)
    assert gc.get_threshold()[0] == gcpolicy.YOUNG != 700, gc.get_threshold()

    class Node:
        pass

    dead = []
    cycle = Node()
    cycle.me = cycle
    weakref.finalize(cycle, dead.append, "collected")
    del cycle
    # Allocations alone (no explicit gc.collect) must reach a young collection.
    keep = [[] for _ in range(gcpolicy.YOUNG * 2)]
    assert dead == ["collected"], "a cycle made after settle() was never collected"
    print("ok", frozen)
    """
)


def test_settle_freezes_the_start_up_heap_and_later_cycles_are_collected() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok ")


def test_verifying_workers_settle_when_they_start() -> None:
    pool = start_pool(1)
    assert pool is not None
    try:
        assert pool.submit(gc.get_freeze_count).result(timeout=120) > 1_000
        assert pool.submit(gc.get_threshold).result(timeout=120)[0] == gcpolicy.YOUNG
    finally:
        pool.shutdown()
