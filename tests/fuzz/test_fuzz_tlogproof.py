"""Fuzz C2SP tlog-proofs and the RFC 9162 proof verifiers with hostile proofs.

``parse_tlog_proof`` raises only ``FormatError`` and a parsed proof formats back
to its exact input; ``verify_tlog_proof`` and the Merkle verifiers raise only
``FormatError``/``VerificationError``, and never accept a proof for a leaf,
index or root other than the ones the tree holds.
"""

from __future__ import annotations

import hashlib

from brandex_fuzz import count, fuzz, mutated_bytes, mutated_text, raw_bytes, raw_text
from hypothesis import given
from hypothesis import strategies as st
from nacl.signing import SigningKey

from exchange.core import merkle
from exchange.core.checkpoint import Checkpoint, sign_checkpoint
from exchange.core.cosignature import CosignatureSigner, cosign
from exchange.core.errors import FormatError, VerificationError
from exchange.core.note import Ed25519NoteSigner, add_signature, format_note
from exchange.core.tlogproof import (
    TlogProof,
    format_tlog_proof,
    parse_tlog_proof,
    verify_tlog_proof,
)

ORIGIN = "yrd/330000"
LOG = Ed25519NoteSigner(ORIGIN, SigningKey(hashlib.sha256(b"fuzz log").digest()))
WITNESS = CosignatureSigner(
    "yrd/340000/witness", SigningKey(hashlib.sha256(b"fuzz witness").digest())
)
SIZE = 13
LEAVES = [merkle.leaf_hash(f"entry {i}".encode()) for i in range(SIZE)]
STORE = merkle.MemoryHashStore()
STORE.append(LEAVES)
ROOT = merkle.root_hash(SIZE, STORE)
ROOTS = {n: merkle.root_hash(n, STORE) for n in range(1, SIZE + 1)}
NOTE = sign_checkpoint(Checkpoint(ORIGIN, SIZE, ROOT), LOG)
NOTE_TEXT = format_note(add_signature(NOTE, cosign(NOTE.text, WITNESS, 1_700_000_000)))
PROOFS = [
    format_tlog_proof(TlogProof(i, merkle.inclusion_proof(i, SIZE, STORE), NOTE_TEXT))
    for i in (0, 5, 12)
] + [
    format_tlog_proof(
        TlogProof(7, merkle.inclusion_proof(7, SIZE, STORE), NOTE_TEXT, extra=b"\x00opaque")
    )
]

hashes = st.one_of(
    st.sampled_from(LEAVES),
    st.binary(min_size=32, max_size=32),
    st.binary(max_size=40),
)


def _check(data: str | bytes) -> None:
    try:
        p = parse_tlog_proof(data)
    except FormatError:
        return
    text = data if isinstance(data, str) else data.decode("utf-8")
    assert format_tlog_proof(p) == text, "a parsed tlog-proof must re-serialise to its input"
    for leaf in (LEAVES[p.index % SIZE], LEAVES[0], b"\x00" * 31):
        try:
            cp = verify_tlog_proof(p, leaf, LOG.verifier())
        except (FormatError, VerificationError):
            continue
        assert (cp.size, cp.root_hash) == (SIZE, ROOT) and leaf == LEAVES[p.index]


@fuzz(weight=1.0)
@given(st.one_of(mutated_text(PROOFS), mutated_text(PROOFS, surrogates=True), raw_text()))
def test_parse_tlog_proof_text(data: str) -> None:
    count("tlogproof.parse_tlog_proof(str)+verify")
    _check(data)


@fuzz(weight=1.0)
@given(st.one_of(mutated_bytes([p.encode() for p in PROOFS]), raw_bytes()))
def test_parse_tlog_proof_bytes(data: bytes) -> None:
    count("tlogproof.parse_tlog_proof(bytes)+verify")
    _check(data)


@st.composite
def inclusion_cases(draw):
    """A real proof, then maybe a changed index, size, leaf, root or path."""
    index = draw(st.integers(0, SIZE - 1))
    size = draw(st.integers(index + 1, SIZE))
    proof = merkle.inclusion_proof(index, size, STORE)
    leaf, root = LEAVES[index], ROOTS[size]
    for _ in range(draw(st.integers(0, 3))):
        what = draw(
            st.sampled_from(["index", "size", "leaf", "root", "drop", "add", "swap", "set"])
        )
        if what == "index":
            index = draw(st.one_of(st.integers(-3, SIZE + 3), st.sampled_from([2**64, 2**64 - 1])))
        elif what == "size":
            size = draw(st.one_of(st.integers(-3, SIZE + 3), st.sampled_from([2**64, 2**63])))
        elif what == "leaf":
            leaf = draw(hashes)
        elif what == "root":
            root = draw(hashes)
        elif what == "drop" and proof:
            del proof[draw(st.integers(0, len(proof) - 1))]
        elif what == "add":
            proof.insert(draw(st.integers(0, len(proof))), draw(hashes))
        elif what == "swap" and len(proof) > 1:
            i, j = draw(st.integers(0, len(proof) - 1)), draw(st.integers(0, len(proof) - 1))
            proof[i], proof[j] = proof[j], proof[i]
        elif what == "set" and proof:
            proof[draw(st.integers(0, len(proof) - 1))] = draw(hashes)
    return leaf, index, size, proof, root


@fuzz(weight=1.0)
@given(
    st.one_of(
        inclusion_cases(),
        st.tuples(hashes, st.integers(), st.integers(), st.lists(hashes, max_size=70), hashes),
    )
)
def test_verify_inclusion(case) -> None:
    count("merkle.verify_inclusion")
    leaf, index, size, proof, root = case
    try:
        merkle.verify_inclusion(leaf, index, size, proof, root)
    except VerificationError:
        return
    # RFC 9162 verification binds the leaf and path to the root, not the size (the
    # signed checkpoint does that), so an accepted case only has to be a real one.
    assert 0 <= index < size
    if (index, size, proof) == (0, 1, []):  # a one-leaf tree: its root is the leaf hash
        assert leaf == root
    else:
        assert leaf in LEAVES and root in ROOTS.values()


@st.composite
def consistency_cases(draw):
    size2 = draw(st.integers(1, SIZE))
    size1 = draw(st.integers(1, size2))
    proof = merkle.consistency_proof(size1, size2, STORE)
    root1, root2 = ROOTS[size1], ROOTS[size2]
    for _ in range(draw(st.integers(0, 3))):
        what = draw(st.sampled_from(["s1", "s2", "r1", "r2", "drop", "add", "set", "swap"]))
        if what == "s1":
            size1 = draw(st.one_of(st.integers(-2, SIZE + 2), st.just(2**64)))
        elif what == "s2":
            size2 = draw(st.one_of(st.integers(-2, SIZE + 2), st.just(2**64)))
        elif what == "r1":
            root1 = draw(hashes)
        elif what == "r2":
            root2 = draw(hashes)
        elif what == "drop" and proof:
            del proof[draw(st.integers(0, len(proof) - 1))]
        elif what == "add":
            proof.insert(draw(st.integers(0, len(proof))), draw(hashes))
        elif what == "set" and proof:
            proof[draw(st.integers(0, len(proof) - 1))] = draw(hashes)
        elif what == "swap" and len(proof) > 1:
            proof.reverse()
    return size1, size2, proof, root1, root2


@fuzz(weight=1.0)
@given(
    st.one_of(
        consistency_cases(),
        st.tuples(st.integers(), st.integers(), st.lists(hashes, max_size=70), hashes, hashes),
    )
)
def test_verify_consistency(case) -> None:
    count("merkle.verify_consistency")
    size1, size2, proof, root1, root2 = case
    try:
        merkle.verify_consistency(size1, size2, proof, root1, root2)
    except VerificationError:
        return
    assert 0 < size1 <= size2
    if size1 == size2:  # nothing is hashed: equal sizes and equal roots is consistent
        assert root1 == root2 and not proof
    else:
        # As for inclusion, the roots (not the sizes) are what the proof binds.
        assert root1 in ROOTS.values() and root2 in ROOTS.values()
