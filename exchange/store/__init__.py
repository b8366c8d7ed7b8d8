"""SQLite storage: logs, subtree hashes, checkpoints, evidence and projections.

Owns the database file and nothing else: it knows ``exchange.core`` but never
the network. Every write happens in one transaction that covers the log and
its projections, so a crash leaves either all of an append or none of it.
"""

from exchange.store.database import Store
from exchange.store.tx import Tx

__all__ = ["Store", "Tx"]
