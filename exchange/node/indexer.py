"""The registry indexer: folds entries a big sync stored into the registry tables.

A cold sync of a whole member's log commits the verified log in one short
transaction and leaves the search index behind (``origins.indexed < size``);
this thread catches it up in small transactions, so issuing and other syncs
get the write lock in between. Each chunk and the cursor move together, so a
crash loses nothing: the next start picks up where the cursor stands.

Every entry passes the domain rules (:mod:`exchange.core.rules`) as it is
indexed. With worker processes, their stateless part (the body validators,
most of the cost) runs there, for the next chunk while this one is applied.

While a sync round that defers its fold runs (a node joining: ``Ledger.bulk_syncing``)
the indexer holds back, between chunks: on a machine of a few cores it would take
CPU and the verifying workers from the round, which is what decides when the node
holds every log verified; the fold waits for the round's end.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future

from exchange._proto.brandex.v1 import entries_pb2
from exchange.core import textforms
from exchange.core.dsse import parse_envelope
from exchange.core.origin import parse_origin
from exchange.core.rules import Violation, stateless_violations
from exchange.node.ledger import Ledger

__all__ = ["Indexer"]

log = logging.getLogger("brandex.indexer")

_STEP = 500  # entries per worker task

_Job = tuple[str, int, list[bytes], list[Future]]


def stateless_in_worker(region: str, start: int, payloads: list[bytes]) -> list[list[tuple]]:
    """:func:`exchange.core.rules.stateless_violations` of entry payloads, in a worker:
    (rule, message) pairs per entry."""
    out = []
    for i, payload in enumerate(payloads):
        entry = entries_pb2.Entry.FromString(payload)
        out.append([(v.rule, v.message) for v in stateless_violations(region, start + i, entry)])
    return out


class Indexer:
    """A background thread that keeps the registry tables up with the log."""

    def __init__(self, ledger: Ledger, chunk: int = 2000) -> None:
        self.ledger = ledger
        self.chunk = chunk
        self._thread = threading.Thread(target=self._run, name="indexer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Wait for the chunk in hand (the ledger's ``close()`` ends the loop)."""
        self._thread.join(timeout)

    def catch_up(self) -> int:
        """Index every waiting entry now; returns how many."""
        if self.ledger.pool is not None:
            return self._catch_up_ahead()
        done = 0
        while not self._held():
            n = self.ledger.store.index_backlog(self.chunk)
            if n == 0:
                break
            done += n
        return done

    def _held(self) -> bool:
        """Stop between chunks: the node is closing, or a bulk sync round runs."""
        return self.ledger.closing.is_set() or self.ledger.bulk_syncing

    def _ahead(self, chunk: tuple[str, int, list[bytes]] | None) -> _Job | None:
        """Start the stateless rules of a chunk in the worker processes."""
        if chunk is None:
            return None
        origin, start, envs = chunk
        region = parse_origin(origin).region
        pool = self.ledger.pool
        assert pool is not None
        payloads = [parse_envelope(raw).payload for raw in envs]
        futures = [
            pool.submit(stateless_in_worker, region, start + i, payloads[i : i + _STEP])
            for i in range(0, len(payloads), _STEP)
        ]
        return origin, start, payloads, futures

    def _catch_up_ahead(self) -> int:
        store, done = self.ledger.store, 0
        job = self._ahead(store.backlog(self.chunk))
        while job is not None and not self._held():
            origin, start, payloads, futures = job
            if not payloads:
                break
            after = self._ahead(store.backlog(self.chunk, origin, start + len(payloads)))
            entries = [entries_pb2.Entry.FromString(p) for p in payloads]
            stateless = [
                [Violation(rule, message) for rule, message in found]
                for fut in futures
                for found in fut.result()
            ]
            n = store.index_checked(origin, start, entries, stateless)
            if n == 0:  # the cursor moved meanwhile (an append indexed inline): read again
                after = self._ahead(store.backlog(self.chunk))
            done += n
            job = after or self._ahead(store.backlog(self.chunk))
        return done

    def _run(self) -> None:
        # Load the pinyin tables and the facet index here, in the background, rather
        # than in the first search or the first indexed entry (a few seconds on a
        # busy machine; the facet index reads every records row once).
        textforms.warm_up()
        self.ledger.store.facet_index()
        version = -1
        while not self.ledger.closing.is_set():
            if self.ledger.bulk_syncing:  # its end is a change: we wake then
                version = self.ledger.wait_for_change(version, timeout=5.0)
                continue
            try:
                n = self.catch_up()
                if n:
                    log.info("indexed %d entries for the registry", n)
            except Exception:  # keep the thread; the next change retries
                log.exception("indexing failed; retrying on the next change")
            version = self.ledger.wait_for_change(version, timeout=5.0)
