"""The tlog-witness add-checkpoint rule (core/witness.py): what a witness accepts."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from exchange.core import merkle
from exchange.core.checkpoint import Checkpoint, sign_checkpoint
from exchange.core.errors import (
    EquivocationError,
    FormatError,
    ValidationError,
    VerificationError,
    WitnessConflict,
)
from exchange.core.note import Ed25519NoteSigner, format_note
from exchange.core.witness import NotWitnessed, WitnessState, accept_checkpoint, claimed_origin

ORIGIN = "yrd/330000"
KEY = SigningKey(b"\x01" * 32)
SIGNER = Ed25519NoteSigner(ORIGIN, KEY)
LOG_KEY = SIGNER.verifier()


def tree(n: int, tag: bytes = b"") -> merkle.MemoryHashStore:
    t = merkle.MemoryHashStore()
    t.append([merkle.leaf_hash(tag + i.to_bytes(4, "big")) for i in range(n)])
    return t


def note_of(t: merkle.MemoryHashStore, size: int, signer=SIGNER) -> str:
    cp = Checkpoint(ORIGIN, size, merkle.root_hash(size, t))
    return format_note(sign_checkpoint(cp, signer))


def state(t: merkle.MemoryHashStore, size: int) -> WitnessState:
    return WitnessState(size, merkle.root_hash(size, t))


def accept(note: str, old: int, proof, stored, witnessed=True, log_key=LOG_KEY):
    return accept_checkpoint(note, old, proof, witnessed=witnessed, log_key=log_key, stored=stored)


T = tree(20)


def test_first_contact_old_zero():
    cp = accept(note_of(T, 5), 0, [], None)
    assert (cp.size, cp.root_hash) == (5, merkle.root_hash(5, T))


def test_first_contact_with_a_proof_is_refused():
    with pytest.raises(VerificationError, match="proof must be empty"):
        accept(note_of(T, 5), 0, [b"\x00" * 32], None)


def test_matching_old_with_valid_proof():
    proof = merkle.consistency_proof(5, 12, T)
    cp = accept(note_of(T, 12), 5, proof, state(T, 5))
    assert cp.size == 12


def test_stale_old_is_a_conflict_carrying_the_stored_size():
    proof = merkle.consistency_proof(3, 12, T)
    with pytest.raises(WitnessConflict) as err:
        accept(note_of(T, 12), 3, proof, state(T, 7))
    assert err.value.size == 7
    with pytest.raises(WitnessConflict) as err:
        accept(note_of(T, 12), 4, [], None)  # the witness has nothing: its size is 0
    assert err.value.size == 0


def test_old_greater_than_new_is_refused():
    with pytest.raises(ValidationError, match="old_size"):
        accept(note_of(T, 5), 9, [], state(T, 9))


def test_a_stored_size_beyond_the_new_one_never_goes_back():
    # The log sends an older checkpoint with the right old: old > new, refused.
    with pytest.raises(ValidationError):
        accept(note_of(T, 5), 12, [], state(T, 12))
    # ... and with a smaller old: a conflict naming the larger stored size.
    with pytest.raises(WitnessConflict) as err:
        accept(note_of(T, 5), 4, merkle.consistency_proof(4, 5, T), state(T, 12))
    assert err.value.size == 12


def test_bad_proof_is_refused():
    proof = merkle.consistency_proof(5, 12, T)
    forged = [bytes(32), *proof[1:]]
    with pytest.raises(VerificationError, match="consistency proof from 5 to 12"):
        accept(note_of(T, 12), 5, forged, state(T, 5))


def test_a_fork_extending_another_root_is_refused():
    other = tree(20, b"fork")
    proof = merkle.consistency_proof(5, 12, other)
    with pytest.raises(VerificationError):
        accept(note_of(other, 12), 5, proof, state(T, 5))


def test_bad_signature_is_refused():
    wrong = Ed25519NoteSigner(ORIGIN, SigningKey(b"\x02" * 32))
    with pytest.raises(VerificationError):
        accept(note_of(T, 5, wrong), 0, [], None)


def test_unknown_log_key_is_refused():
    with pytest.raises(VerificationError, match="no certified log key"):
        accept(note_of(T, 5), 0, [], None, log_key=None)


def test_origin_not_witnessed_by_me():
    with pytest.raises(NotWitnessed, match="does not witness yrd/330000"):
        accept(note_of(T, 5), 0, [], None, witnessed=False)


def test_same_size_different_root_is_fork_evidence():
    other = tree(20, b"fork")
    with pytest.raises(EquivocationError, match="fork evidence"):
        accept(note_of(other, 7), 7, [], state(T, 7))


def test_same_size_same_root_is_cosigned_again():
    """A retry after a crash between persisting and answering gets its cosignature."""
    assert accept(note_of(T, 7), 7, [], state(T, 7)).size == 7
    with pytest.raises(VerificationError, match="must be empty"):
        accept(note_of(T, 7), 7, [bytes(32)], state(T, 7))


def test_oversized_proof_is_refused():
    with pytest.raises(ValidationError, match="at most"):
        accept(note_of(T, 12), 5, [bytes(32)] * 1000, state(T, 5))


def test_malformed_note_is_a_format_error():
    with pytest.raises(FormatError):
        claimed_origin("not a note")
    with pytest.raises(FormatError):
        accept("garbage\n", 0, [], None)


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(min_value=1, max_value=300),
    data=st.data(),
)
def test_random_sizes(n, data):
    """Any extension is accepted with the right old and proof; any other old conflicts
    with the stored size; any tampered proof hash is refused."""
    t = tree(n)
    old = data.draw(st.integers(min_value=0, max_value=n), label="old")
    stored = state(t, old) if old else None
    proof = merkle.consistency_proof(old, n, t) if 0 < old < n else []
    assert accept(note_of(t, n), old, proof, stored).size == n
    other = data.draw(st.integers(min_value=0, max_value=n).filter(lambda x: x != old))
    with pytest.raises(WitnessConflict) as err:
        accept(note_of(t, n), other, [], stored)
    assert err.value.size == old
    if proof:
        i = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="i")
        bad = list(proof)
        bad[i] = bytes(b ^ 0xFF for b in bad[i])
        with pytest.raises(VerificationError):
            accept(note_of(t, n), old, bad, stored)
