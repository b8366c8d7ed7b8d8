"""Worker processes for signature checking, shared by the node and the auditor's CLI.

"spawn" rather than fork: a forked child of a process running gRPC threads is
unsafe, and spawned workers share nothing but the bytes they are sent. Start
the pool before any gRPC channel or server exists.

A process killed with SIGKILL cannot shut its pool down, and its workers would
wait forever on a queue whose other end they hold themselves (each keeping the
resource tracker alive too); so every worker watches its parent and leaves
when the parent is gone.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor

from exchange import gcpolicy

__all__ = ["start_pool"]

_WATCH_SECONDS = 0.5


def _start_worker(parent: int) -> None:
    """Pool initializer: settle the collector, and end this worker once ``parent``
    is no longer its parent.

    Spawn has already imported the parent's main module again (the CLI and what
    it imports), so :func:`exchange.gcpolicy.settle` freezes that heap.
    """
    gcpolicy.settle()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_WATCH_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _warm_up() -> bool:
    return True


def start_pool(workers: int) -> ProcessPoolExecutor | None:
    """``workers`` started and warmed up (None for 0: work in-process)."""
    if workers <= 0:
        return None
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=mp.get_context("spawn"),
        initializer=_start_worker,
        initargs=(os.getpid(),),
    )
    # Each worker pays for its imports now, not the first sync or audit.
    for f in [pool.submit(_warm_up) for _ in range(workers)]:
        f.result()
    return pool
