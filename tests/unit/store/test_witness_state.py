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


def test_a_cosignature_by_a_rotated_key_is_replaced_not_doubled(tmp_path) -> None:
    """The origin asks a witness again after the witness's key rotated: the new line
    replaces the old one (one line per witness and size); without ``replace`` the first
    line stays, and the same line again is no change."""
    store = Store(tmp_path / "node.sqlite")
    w = "yrd/320000/witness"
    with store.write() as tx:
        assert tx.add_cosignature("yrd/330000", 4, w, 100, "— old line")
        assert not tx.add_cosignature("yrd/330000", 4, w, 101, "— other line")  # kept first
        assert not tx.add_cosignature("yrd/330000", 4, w, 100, "— old line", replace=True)
        assert tx.add_cosignature("yrd/330000", 4, w, 200, "— new key line", replace=True)
    assert store.cosignatures("yrd/330000", 4) == [(w, 200, "— new key line")]
