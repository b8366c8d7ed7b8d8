"""How a long-running brandex process uses Python's cyclic garbage collector.

A node's heap after start-up holds some 260,000 objects (gRPC, protobuf,
cryptography, the console's modules, caches) that live as long as the process.
With CPython's defaults every full collection walks all of them again: in a
join of the nation (docs/SCALE.md, sixth pass) the joiner's main process spent
2.0 s of CPU in the collector (21 full collections among 3,727), and each
server 0.35 s. Almost nothing a node allocates afterwards is cyclic garbage
(entries, rows and protobuf messages are freed by reference counting), so:

* :func:`settle` moves everything built so far to the permanent generation
  (``gc.freeze``), which collections no longer walk; and
* collects the young generation every ``YOUNG`` allocations instead of 700,
  so short-lived containers die by reference count before a collection has
  to look at them.

Cycles are still collected, only less often; memory held by an uncollected
cycle is bounded by what ``YOUNG`` allocations can create.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG", "settle"]

#: Allocations (less deallocations) of container objects between two young
#: collections; CPython's default is 700.
YOUNG = 20_000


def settle() -> None:
    """Freeze the start-up heap and collect less often; call once start-up is done."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG, middle, old)
