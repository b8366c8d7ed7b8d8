"""The registry indexer: folds entries a big sync stored into the registry tables.

A cold sync of a whole member's log commits the verified log in one short
transaction and leaves the search index behind (``origins.indexed < size``);
this thread catches it up in small transactions, so issuing and other syncs
get the write lock in between. Each chunk and the cursor move together, so a
crash loses nothing: the next start picks up where the cursor stands.
"""

from __future__ import annotations

import logging
import threading

from exchange.node.ledger import Ledger

__all__ = ["Indexer"]

log = logging.getLogger("brandex.indexer")


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
        done = 0
        while not self.ledger.closing.is_set():
            n = self.ledger.store.index_backlog(self.chunk)
            if n == 0:
                break
            done += n
        return done

    def _run(self) -> None:
        version = -1
        while not self.ledger.closing.is_set():
            try:
                n = self.catch_up()
                if n:
                    log.info("indexed %d entries for the registry", n)
            except Exception:  # keep the thread; the next change retries
                log.exception("indexing failed; retrying on the next change")
            version = self.ledger.wait_for_change(version, timeout=5.0)
