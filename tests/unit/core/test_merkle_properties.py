"""Merkle store, proofs and verifiers against a naive RFC 9162 reference.

The reference below is the RFC's recursive definitions transcribed literally
(``MTH``, ``PATH``, ``SUBPROOF``) over a list of leaf hashes. The module under
test must agree with it for trees built from arbitrary batch splits, must read
its store once per proof with O(log n) keys, and must reject every tampering.
"""

import itertools
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.core.errors import ConflictError, NotFoundError, ValidationError, VerificationError
from exchange.core.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MemoryHashStore,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    nodes_for_append,
    root_from_inclusion_proof,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MAX_LEAVES = 3000
# Sizes around powers of two, where right edges appear and vanish.
EDGE_SIZES = [255, 256, 257, 1023, 1024, 1025, 2047, 2048, 2049, MAX_LEAVES]


# ------------------------------------------------------------------ reference


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class Reference:
    """RFC 9162 §2.1 as written: recursive, whole tree in memory.

    Proof elements carry a tag saying where the hash sits relative to the path
    ('L' left sibling, 'R' right sibling, 'T' SUBPROOF's terminal MTH). The tag
    sequence is the proof's *shape*: the verifier's computation depends on the
    sizes only through it.
    """

    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = leaves
        self._memo: dict[tuple[int, int], bytes] = {}

    def mth(self, lo: int, hi: int) -> bytes:
        if hi == lo:
            return EMPTY_ROOT
        if hi - lo == 1:
            return self.leaves[lo]
        if (lo, hi) not in self._memo:
            k = _split(hi - lo)
            self._memo[(lo, hi)] = node_hash(self.mth(lo, lo + k), self.mth(lo + k, hi))
        return self._memo[(lo, hi)]

    def path(self, m: int, lo: int, hi: int) -> list[tuple[bytes, str]]:
        n = hi - lo
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*self.path(m, lo, lo + k), (self.mth(lo + k, hi), "R")]
        return [*self.path(m - k, lo + k, hi), (self.mth(lo, lo + k), "L")]

    def subproof(self, m: int, lo: int, hi: int, whole: bool) -> list[tuple[bytes, str]]:
        n = hi - lo
        if m == n:
            return [] if whole else [(self.mth(lo, hi), "T")]
        k = _split(n)
        if m <= k:
            return [*self.subproof(m, lo, lo + k, whole), (self.mth(lo + k, hi), "R")]
        return [*self.subproof(m - k, lo + k, hi, False), (self.mth(lo, lo + k), "L")]

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return [h for h, _ in self.path(index, 0, size)]

    def consistency(self, size1: int, size2: int) -> list[bytes]:
        return [h for h, _ in self.subproof(size1, 0, size2, True)]


def inclusion_shape(index: int, size: int) -> list[str]:
    return [tag for _, tag in Reference([b""] * size).path(index, 0, size)]


def consistency_shape(size1: int, size2: int) -> list[str]:
    return [tag for _, tag in Reference([b""] * size2).subproof(size1, 0, size2, True)]


# ------------------------------------------------------------------ helpers


def make_leaves(n: int, seed: bytes = b"") -> list[bytes]:
    return [leaf_hash(seed + i.to_bytes(4, "big")) for i in range(n)]


def build(leaves: list[bytes], cuts: list[int]) -> MemoryHashStore:
    store = MemoryHashStore()
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(leaves)), len(leaves)]
    for lo, hi in itertools.pairwise(bounds):
        store.append(leaves[lo:hi])
    return store


class CountingReader:
    """Wraps a reader and records every get_many call."""

    def __init__(self, inner: MemoryHashStore) -> None:
        self.inner = inner
        self.calls: list[list[tuple[int, int]]] = []

    def get_many(self, keys):
        self.calls.append(list(keys))
        return self.inner.get_many(keys)


def flip(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[bit // 8 % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


def log_bound(size: int) -> int:
    return 2 * max(size, 1).bit_length()


@st.composite
def trees(draw, min_leaves: int = 0):
    n = draw(
        st.one_of(
            st.integers(min_leaves, 70),
            st.integers(max(min_leaves, 71), MAX_LEAVES),
            st.sampled_from(EDGE_SIZES),
        )
    )
    seed = draw(st.binary(max_size=4))
    cuts = draw(st.lists(st.integers(0, n), max_size=10))
    leaves = make_leaves(n, seed)
    return leaves, build(leaves, cuts)


# ------------------------------------------------------------------ storage


@SETTINGS
@given(tree=trees(), data=st.data())
def test_store_holds_exactly_the_complete_subtrees(tree, data) -> None:
    leaves, store = tree
    n = len(leaves)
    ref = Reference(leaves)
    assert store.size == n
    nodes = store.snapshot()
    expected = {(level, i) for level in range(n.bit_length()) for i in range(n >> level)}
    assert set(nodes) == expected
    for (level, i), value in nodes.items():
        assert value == ref.mth(i << level, (i + 1) << level)
    # However the appends were batched, the same nodes are stored.
    assert build(leaves, []).snapshot() == nodes
    for size in {0, n, *data.draw(st.lists(st.integers(0, n), max_size=8))}:
        reader = CountingReader(store)
        assert root_hash(size, reader) == ref.mth(0, size)
        assert len(reader.calls) == (1 if size else 0)
        assert all(len(keys) <= size.bit_length() for keys in reader.calls)


def test_single_leaf_appends_equal_one_batch() -> None:
    leaves = make_leaves(600)
    one_by_one = MemoryHashStore()
    for i, leaf in enumerate(leaves):
        reader = CountingReader(one_by_one)
        nodes = nodes_for_append(i, [leaf], reader)
        assert len(reader.calls) <= 1
        assert all(len(keys) <= i.bit_length() for keys in reader.calls)
        one_by_one.add(nodes)
        assert root_hash(i + 1, one_by_one) == Reference(leaves).mth(0, i + 1)
    assert one_by_one.snapshot() == build(leaves, []).snapshot()


def test_large_batch_reads_old_peaks_once() -> None:
    leaves = make_leaves(5000)
    store = build(leaves, [1234])
    reader = CountingReader(build(leaves[:1234], []))
    nodes = nodes_for_append(1234, leaves[1234:], reader)
    assert len(reader.calls) == 1
    assert len(reader.calls[0]) <= (1234).bit_length()
    assert {(lv, i): h for lv, i, h in nodes}.items() <= store.snapshot().items()
    assert len(nodes) == len(store.snapshot()) - len(build(leaves[:1234], []).snapshot())


def test_append_rejects_bad_input_and_missing_history() -> None:
    store = build(make_leaves(5), [])
    with pytest.raises(ValidationError, match="32 bytes"):
        store.append([b"short"])
    with pytest.raises(NotFoundError):
        nodes_for_append(7, make_leaves(1), store)  # the store only has 5 leaves
    with pytest.raises(ConflictError):
        store.add([(0, 0, b"\x00" * HASH_SIZE)])
    assert store.append([]) == []
    assert store.size == 5


def test_generation_rejects_impossible_requests() -> None:
    store = build(make_leaves(10), [])
    with pytest.raises(ValidationError):
        inclusion_proof(10, 10, store)
    with pytest.raises(ValidationError):
        inclusion_proof(-1, 10, store)
    with pytest.raises(ValidationError):
        consistency_proof(5, 4, store)
    with pytest.raises(ValidationError):
        root_hash(1 << 64, store)
    with pytest.raises(NotFoundError):
        root_hash(11, store)
    with pytest.raises(NotFoundError):
        inclusion_proof(3, 12, store)
    assert consistency_proof(0, 10, store) == []
    assert consistency_proof(7, 7, store) == []
    assert root_hash(0, store) == EMPTY_ROOT


def test_constants() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"") != EMPTY_ROOT
    assert leaf_hash(b"x") != node_hash(b"", b"x")


# ------------------------------------------------------------------ small trees, exhaustively


def test_every_proof_of_every_small_tree() -> None:
    leaves = make_leaves(70)
    ref = Reference(leaves)
    store = build(leaves, [3, 17])
    for size in range(1, len(leaves) + 1):
        root = ref.mth(0, size)
        for index in range(size):
            proof = inclusion_proof(index, size, store)
            assert proof == ref.inclusion(index, size)
            verify_inclusion(leaves[index], index, size, proof, root)
        for size1 in range(1, size):
            proof = consistency_proof(size1, size, store)
            assert proof == ref.consistency(size1, size)
            verify_consistency(size1, size, proof, ref.mth(0, size1), root)


# ------------------------------------------------------------------ inclusion


def _rejects_inclusion(leaf, index, size, proof, root) -> bool:
    try:
        verify_inclusion(leaf, index, size, proof, root)
    except VerificationError:
        return True
    return False


@SETTINGS
@given(tree=trees(min_leaves=1), data=st.data())
def test_inclusion_proofs_match_reference_and_resist_tampering(tree, data) -> None:
    leaves, store = tree
    n = len(leaves)
    ref = Reference(leaves)
    for _ in range(10):
        size = data.draw(st.integers(1, n), label="size")
        index = data.draw(st.integers(0, size - 1), label="index")
        root, leaf = ref.mth(0, size), leaves[index]

        reader = CountingReader(store)
        proof = inclusion_proof(index, size, reader)
        assert proof == ref.inclusion(index, size)
        assert len(reader.calls) == (1 if size > 1 else 0)
        assert sum(map(len, reader.calls)) <= log_bound(size)
        verify_inclusion(leaf, index, size, proof, root)
        assert root_from_inclusion_proof(leaf, index, size, proof) == root

        # Any flipped bit in any proof hash, the leaf or the root.
        for i in range(len(proof)):
            bad = [*proof[:i], flip(proof[i], data.draw(st.integers(0, 255))), *proof[i + 1 :]]
            assert _rejects_inclusion(leaf, index, size, bad, root)
        assert _rejects_inclusion(flip(leaf, 3), index, size, proof, root)
        assert _rejects_inclusion(leaf, index, size, proof, flip(root, 200))
        if size > 1:
            assert _rejects_inclusion(leaf, index, size, proof, ref.mth(0, size - 1))
        # Missing, extra or malformed hashes.
        assert _rejects_inclusion(leaf, index, size, [*proof, proof[-1] if proof else leaf], root)
        assert _rejects_inclusion(leaf, index, size, [leaf, *proof], root)
        if proof:
            assert _rejects_inclusion(leaf, index, size, proof[:-1], root)
            assert _rejects_inclusion(leaf, index, size, proof[1:], root)
            assert _rejects_inclusion(leaf, index, size, [proof[0] + b"\x00", *proof[1:]], root)
            assert _rejects_inclusion(leaf, index, size, [proof[0][:-1], *proof[1:]], root)
        assert _rejects_inclusion(leaf[:-1], index, size, proof, root)
        assert _rejects_inclusion(leaf, index, size, proof, root + b"\x00")

        # A wrong index never verifies: the path's left/right turns pin the leaf.
        for other in {index - 1, index + 1, index ^ 1, data.draw(st.integers(0, size))}:
            if other != index:
                assert _rejects_inclusion(leaf, other, size, proof, root)
        for other in (size, 2**64 - 1, 2**64, -1):
            assert _rejects_inclusion(leaf, other, size, proof, root)
        # A wrong size is rejected exactly when it changes the proof's shape. The
        # size is bound to the root by the signed checkpoint, not by the proof:
        # e.g. leaf 0 of size 3 and of size 4 have the same shape (R, R).
        for other in {size - 1, size + 1, size * 2, data.draw(st.integers(1, 2 * n))}:
            if other != size and other > index:
                same_shape = inclusion_shape(index, other) == inclusion_shape(index, size)
                assert _rejects_inclusion(leaf, index, other, proof, root) != same_shape
        assert _rejects_inclusion(leaf, index, 0, proof, root)


# ------------------------------------------------------------------ consistency


def _rejects_consistency(size1, size2, proof, root1, root2) -> bool:
    try:
        verify_consistency(size1, size2, proof, root1, root2)
    except VerificationError:
        return True
    return False


@SETTINGS
@given(tree=trees(min_leaves=2), data=st.data())
def test_consistency_proofs_match_reference_and_resist_tampering(tree, data) -> None:
    leaves, store = tree
    n = len(leaves)
    ref = Reference(leaves)
    for _ in range(10):
        size2 = data.draw(st.integers(2, n), label="size2")
        size1 = data.draw(st.integers(1, size2 - 1), label="size1")
        root1, root2 = ref.mth(0, size1), ref.mth(0, size2)

        reader = CountingReader(store)
        proof = consistency_proof(size1, size2, reader)
        assert proof == ref.consistency(size1, size2)
        assert len(reader.calls) == 1
        assert len(reader.calls[0]) <= log_bound(size2)
        verify_consistency(size1, size2, proof, root1, root2)

        for i in range(len(proof)):
            bad = [*proof[:i], flip(proof[i], data.draw(st.integers(0, 255))), *proof[i + 1 :]]
            assert _rejects_consistency(size1, size2, bad, root1, root2)
        assert _rejects_consistency(size1, size2, proof, flip(root1, 9), root2)
        assert _rejects_consistency(size1, size2, proof, root1, flip(root2, 9))
        assert _rejects_consistency(size1, size2, proof, root2, root1)
        assert _rejects_consistency(size1, size2, proof, root1, root2[:-1])
        assert _rejects_consistency(size1, size2, [*proof, proof[0]], root1, root2)
        assert _rejects_consistency(size1, size2, [root1, *proof], root1, root2)
        assert _rejects_consistency(size1, size2, proof[:-1], root1, root2)
        assert _rejects_consistency(size1, size2, proof[1:], root1, root2)
        assert _rejects_consistency(size1, size2, [], root1, root2)
        assert _rejects_consistency(size1, size2, [proof[0][:31], *proof[1:]], root1, root2)
        assert _rejects_consistency(size2, size1, proof, root2, root1)
        assert _rejects_consistency(0, size2, proof, EMPTY_ROOT, root2)
        assert _rejects_consistency(0, size2, [], EMPTY_ROOT, root2)

        # Wrong sizes: rejected exactly when the proof's shape changes (see the
        # inclusion test; sizes are bound by the signed checkpoints).
        for s1, s2 in {
            (size1 - 1, size2),
            (size1 + 1, size2),
            (size1, size2 - 1),
            (size1, size2 + 1),
            (size1 * 2, size2 * 2),
            (data.draw(st.integers(1, n)), data.draw(st.integers(1, 2 * n))),
        }:
            if (s1, s2) == (size1, size2) or not 0 < s1 < s2:
                continue
            same_shape = consistency_shape(s1, s2) == consistency_shape(size1, size2)
            assert _rejects_consistency(s1, s2, proof, root1, root2) != same_shape


def test_consistency_edge_cases() -> None:
    leaves = make_leaves(9)
    ref = Reference(leaves)
    root = ref.mth(0, 9)
    verify_consistency(9, 9, [], root, root)
    with pytest.raises(VerificationError, match="must be empty"):
        verify_consistency(9, 9, [root], root, root)
    with pytest.raises(VerificationError, match="roots differ"):
        verify_consistency(9, 9, [], root, ref.mth(0, 8))
    with pytest.raises(VerificationError, match="empty trees"):
        verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    with pytest.raises(VerificationError, match="empty tree"):
        verify_consistency(0, 9, [], EMPTY_ROOT, root)
    with pytest.raises(VerificationError, match="shrink"):
        verify_consistency(9, 8, [], root, ref.mth(0, 8))
    with pytest.raises(VerificationError, match="2\\^64"):
        verify_consistency(1, 2**64, [], root, root)
    with pytest.raises(VerificationError, match="2\\^64"):
        verify_consistency(-1, 3, [], root, root)


def test_inclusion_edge_cases() -> None:
    leaf = leaf_hash(b"only")
    verify_inclusion(leaf, 0, 1, [], leaf)
    with pytest.raises(VerificationError, match="not below tree size"):
        verify_inclusion(leaf, 2**64 - 1, 2**64 - 1, [], leaf)
    with pytest.raises(VerificationError, match="expected 64"):
        verify_inclusion(leaf, 0, 2**64 - 1, [], leaf)
    with pytest.raises(VerificationError, match="2\\^64"):
        verify_inclusion(leaf, 2**64, 2**65, [], leaf)
    with pytest.raises(VerificationError, match="leaf hash is 0 bytes"):
        verify_inclusion(b"", 0, 1, [], leaf)
    with pytest.raises(VerificationError, match="expected root is 0 bytes"):
        verify_inclusion(leaf, 0, 1, [], b"")
    with pytest.raises(VerificationError, match="not the expected"):
        verify_inclusion(leaf, 0, 1, [], leaf_hash(b"other"))
    # A proof for the deepest leaf of a 2^64-1 tree verifies without trouble.
    size, index = 2**64 - 1, 2**64 - 2
    proof = [leaf_hash(bytes([i])) for i in range(63)]
    computed = root_from_inclusion_proof(leaf, index, size, proof)
    verify_inclusion(leaf, index, size, proof, computed)


# ------------------------------------------------------------------ huge trees, O(log n)

# A tree whose leaves are all equal needs no storage: subtree (L, i) hashes to
# LEVEL[L] whatever i is, so a reader can serve 10^7 or 2^62 leaves.
LEVEL = [leaf_hash(b"same")]
for _ in range(64):
    LEVEL.append(node_hash(LEVEL[-1], LEVEL[-1]))


class UniformReader:
    def __init__(self, size: int) -> None:
        self.size = size
        self.calls: list[list[tuple[int, int]]] = []

    def get_many(self, keys):
        self.calls.append(list(keys))
        for level, index in keys:
            if level < 0 or index < 0 or (index + 1) << level > self.size:
                raise NotFoundError(f"({level}, {index}) is not complete in size {self.size}")
        return [LEVEL[level] for level, _ in keys]


@pytest.mark.parametrize("size", [10**7, 10**7 + 1, 2**40 - 1, 2**62 + 12345])
def test_huge_tree_proofs_touch_log_n_keys(size: int) -> None:
    rng = random.Random(size)
    reader = UniformReader(size)
    root = root_hash(size, reader)
    assert len(reader.calls) == 1
    for index in [0, 1, size // 2, size - 2, size - 1, *rng.sample(range(size), 5)]:
        reader.calls.clear()
        proof = inclusion_proof(index, size, reader)
        assert len(reader.calls) == 1
        assert len(reader.calls[0]) <= log_bound(size)
        verify_inclusion(LEVEL[0], index, size, proof, root)
    for size1 in [1, 2, 3, size // 3, size - 1, *rng.sample(range(1, size), 5)]:
        reader.calls.clear()
        proof = consistency_proof(size1, size, reader)
        assert len(reader.calls) == 1
        assert len(reader.calls[0]) <= log_bound(size)
        verify_consistency(size1, size, proof, root_hash(size1, reader), root)


def test_append_to_huge_tree_reads_only_peaks() -> None:
    old = 10**7
    reader = UniformReader(old)
    nodes = nodes_for_append(old, [LEVEL[0]] * 5000, reader)
    assert len(reader.calls) == 1
    assert len(reader.calls[0]) <= old.bit_length()
    assert all(value == LEVEL[level] for level, _, value in nodes)
    new = old + 5000
    expected = {(lv, i) for lv in range(new.bit_length()) for i in range(old >> lv, new >> lv)}
    assert {(lv, i) for lv, i, _ in nodes} == expected
