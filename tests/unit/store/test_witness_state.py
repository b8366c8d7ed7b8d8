"""A witness's stored state per origin only moves forward (Tx.advance_witness)."""

from __future__ import annotations

import pytest

from exchange.core.errors import ConflictError
from exchange.store import Store

A, B = b"\x0a" * 32, b"\x0b" * 32


def test_witness_state_moves_forward_only(tmp_path) -> None:
    store = Store(tmp_path / "node.sqlite")
    assert store.witness_state("yrd/330000") is None
    with store.write() as tx:
        tx.advance_witness("yrd/330000", 5, A)
    with store.write() as tx:
        tx.advance_witness("yrd/330000", 5, A)  # the same again: a retry, allowed
        tx.advance_witness("yrd/330000", 9, B)
    assert store.witness_state("yrd/330000") == (9, B)
    with pytest.raises(ConflictError, match="go back or fork"), store.write() as tx:
        tx.advance_witness("yrd/330000", 7, A)  # backwards
    with pytest.raises(ConflictError, match="go back or fork"), store.write() as tx:
        tx.advance_witness("yrd/330000", 9, A)  # another root at the same size
    assert store.witness_state("yrd/330000") == (9, B)  # nothing moved
    store.close()
    assert Store(tmp_path / "node.sqlite").witness_state("yrd/330000") == (9, B)  # persisted
