"""RFC 9162 Merkle trees, computed from stored complete subtrees.

A log never holds its whole tree in memory. It stores the hash of every
*complete* subtree once, addressed by ``(level, index)``: level 0 holds the leaf
hashes and node ``(L, i)`` covers leaves ``[i * 2**L, (i + 1) * 2**L)``. Those
nodes never change once written, so they can be appended to a table and read
back by primary key. Every node of the RFC tree that is *not* complete lies on
the right edge, and its hash is folded on demand from the few complete subtrees
it decomposes into. A root or proof therefore needs O(log n) stored hashes, and
each function below works out the exact list of keys first and asks the
:class:`HashReader` for all of them in one call, so a SQLite store answers with
a single query however large the log grows.

Generation follows RFC 9162 §2.1.3.1 (``PATH``) and §2.1.4.1 (``PROOF``) and
returns exactly the proofs those recursions give. Verification follows
§2.1.3.2 and §2.1.4.2 step by step and raises
:class:`~exchange.core.errors.VerificationError` saying what was wrong: a
verifier that could return ``False`` is one forgotten ``if`` away from accepting
a forgery.

The module is pure (``hashlib`` only, no I/O) so auditors can run it offline.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol

from exchange.core.errors import (
    ConflictError,
    FormatError,
    NotFoundError,
    ValidationError,
    VerificationError,
)

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "LEAF_PREFIX",
    "NODE_PREFIX",
    "HashReader",
    "MemoryHashStore",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "leaf_hashes",
    "node_hash",
    "nodes_for_append",
    "root_from_inclusion_proof",
    "root_hash",
    "subtree_hash",
    "verify_consistency",
    "verify_inclusion",
]

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_SIZE = 32
# RFC 9162 §2.1.1: the empty tree hashes to SHA-256 of the empty string, which is
# not the leaf hash of an empty entry (that would be SHA-256(0x00)).
EMPTY_ROOT = hashlib.sha256(b"").digest()

# Tree sizes and leaf indices are uint64 in checkpoints, tiles and the Go
# reference implementation; anything larger cannot name a real leaf.
_MAX_U64 = (1 << 64) - 1

_Key = tuple[int, int]
_sha256 = hashlib.sha256


class HashReader(Protocol):
    """Read access to stored complete-subtree hashes.

    One batched method, not one call per node: proofs compute all their keys
    up front so a database-backed reader can answer with one query.
    """

    def get_many(self, keys: Sequence[tuple[int, int]]) -> list[bytes]:
        """Return the hashes of the ``(level, index)`` subtrees, in the order asked.

        Raises:
            NotFoundError: if any of the subtrees is not stored.
        """
        ...


def leaf_hash(data: bytes) -> bytes:
    """Hash a log entry as a leaf: ``SHA-256(0x00 || data)``.

    The prefix separates leaves from interior nodes, so no entry can pose as a
    subtree (the second-preimage attack RFC 9162 §2.1.1 guards against).
    """
    return _sha256(LEAF_PREFIX + data).digest()


def leaf_hashes(data: Iterable[bytes]) -> list[bytes]:
    """:func:`leaf_hash` of each entry, in order (one call for a batch being mirrored)."""
    sha, prefix = _sha256, LEAF_PREFIX
    return [sha(prefix + d).digest() for d in data]


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash two children into their parent: ``SHA-256(0x01 || left || right)``."""
    return _sha256(NODE_PREFIX + left + right).digest()


def subtree_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """Hash of a complete subtree from its leaf hashes (a power of two of them).

    For a store that keeps only the upper levels of the tree and hashes a small
    subtree from its leaves when asked: the answer is the stored node's.

    Raises:
        ValidationError: if the count is not a power of two.
        FormatError: if a leaf hash is not 32 bytes (a damaged store).
    """
    count = len(leaf_hashes)
    if count == 0 or count & (count - 1):
        raise ValidationError("leaf_hashes", "count must be a power of two", count)
    for i, value in enumerate(leaf_hashes):
        if len(value) != HASH_SIZE:
            raise FormatError(f"leaf hash {i} of a subtree is {len(value)} bytes, not {HASH_SIZE}")
    level = list(leaf_hashes)
    while len(level) > 1:
        level = [
            _sha256(NODE_PREFIX + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)
        ]
    return level[0]


# --------------------------------------------------------------------- helpers


def _split(width: int) -> int:
    """Largest power of two strictly less than ``width`` (> 1): the RFC's ``k``."""
    return 1 << ((width - 1).bit_length() - 1)


def _level(power_of_two: int) -> int:
    return power_of_two.bit_length() - 1


def _subtree_keys(start: int, end: int) -> list[_Key]:
    """The complete subtrees that the RFC tree node ``[start, end)`` consists of.

    Listed left to right, largest first. Valid for every node of the RFC tree:
    such a node's ``start`` is a multiple of the smallest power of two that is
    at least its width, so each piece is aligned and therefore stored.
    """
    keys: list[_Key] = []
    pos = start
    width = end - start
    for level in range(width.bit_length() - 1, -1, -1):
        if width >> level & 1:
            keys.append((level, pos >> level))
            pos += 1 << level
    return keys


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Hash of a right-edge node from its complete subtrees (largest first).

    Its split point is the largest of them, so the RFC recursion reduces to
    folding from the right.
    """
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = _sha256(NODE_PREFIX + left + acc).digest()
    return acc


def _fetch(reader: HashReader, keys: list[_Key]) -> list[bytes]:
    """One ``get_many`` for all ``keys`` (none if the list is empty), checked."""
    if not keys:
        return []
    hashes = list(reader.get_many(keys))
    if len(hashes) != len(keys):
        raise NotFoundError(f"hash reader returned {len(hashes)} hashes for {len(keys)} subtrees")
    for key, value in zip(keys, hashes, strict=True):
        if len(value) != HASH_SIZE:
            raise FormatError(
                f"stored hash of subtree (level, index) {key} is {len(value)} bytes, "
                f"not {HASH_SIZE}"
            )
    return hashes


def _resolve(reader: HashReader, groups: list[list[_Key]]) -> list[bytes]:
    """Fetch every key of every group in one call; fold each group into one hash."""
    hashes = _fetch(reader, [key for group in groups for key in group])
    out: list[bytes] = []
    pos = 0
    for group in groups:
        out.append(_fold(hashes[pos : pos + len(group)]))
        pos += len(group)
    return out


def _check_size(field: str, value: int) -> None:
    if not 0 <= value <= _MAX_U64:
        raise ValidationError(field, "must be between 0 and 2^64-1", value)


def _inclusion_plan(index: int, size: int) -> list[list[_Key]]:
    """Keys for RFC 9162 ``PATH(index, D[0:size])``, one group per proof hash.

    Walks the recursion top-down and records each sibling; the proof lists them
    bottom-up. Only the first sibling to the right can be an incomplete
    (right-edge) node; once the walk turns left it stays inside a complete
    subtree, so the plan has O(log n) keys in total.
    """
    groups: list[list[_Key]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            groups.append(_subtree_keys(lo + k, hi))
            hi = lo + k
        else:
            groups.append([(_level(k), lo >> _level(k))])
            lo += k
    groups.reverse()
    return groups


def _consistency_plan(size1: int, size2: int) -> list[list[_Key]]:
    """Keys for RFC 9162 ``SUBPROOF(size1, D[0:size2], true)``, one group per hash.

    ``m`` is the old size relative to ``lo``; ``whole`` is the RFC's flag ``b``
    that says the old tree's root is this very node (so the verifier already
    knows it and the proof omits it).
    """
    groups: list[list[_Key]] = []
    lo, hi, m, whole = 0, size2, size1, True
    while True:
        width = hi - lo
        if m == width:
            if not whole:
                groups.append(_subtree_keys(lo, hi))
            break
        k = _split(width)
        if m <= k:
            groups.append(_subtree_keys(lo + k, hi))
            hi = lo + k
        else:
            groups.append([(_level(k), lo >> _level(k))])
            lo += k
            m -= k
            whole = False
    groups.reverse()
    return groups


# ------------------------------------------------------------------ generation


def nodes_for_append(
    old_size: int, leaf_hashes: Sequence[bytes], reader: HashReader
) -> list[tuple[int, int, bytes]]:
    """Every complete subtree that appending ``leaf_hashes`` creates.

    Node ``(L, i)`` is new when it is complete in the new tree but was not in
    the old one. Only the first new node of a level can have an old left child,
    and that child is one of the old tree's peaks, so those few hashes are read
    in one call and the rest is hashed in memory, level by level. Calling this
    once per leaf or once per 100,000 leaves stores the same nodes.

    Args:
        old_size: Number of leaves already stored in ``reader``.
        leaf_hashes: Leaf hashes (not entries) to append, in log order.
        reader: The store holding the tree of ``old_size`` leaves.

    Returns:
        ``(level, index, hash)`` for each new node, level 0 (the leaves) first.

    Raises:
        ValidationError: if ``old_size`` is out of range or a leaf hash is not
            32 bytes.
        NotFoundError: if ``reader`` lacks a peak of the old tree.
    """
    _check_size("old_size", old_size)
    for i, value in enumerate(leaf_hashes):
        if len(value) != HASH_SIZE:
            raise ValidationError(f"leaf_hashes[{i}]", f"must be {HASH_SIZE} bytes", len(value))
    if not leaf_hashes:
        return []
    new_size = old_size + len(leaf_hashes)
    _check_size("new size", new_size)

    # Old peak (L-1, old >> (L-1) - 1) is a left child iff bit L-1 of old_size is
    # set and level L gains a node.
    needed = [
        (level, (old_size >> level) - 1)
        for level in range(old_size.bit_length())
        if old_size >> level & 1 and new_size >> (level + 1) > old_size >> (level + 1)
    ]
    peaks = dict(zip(needed, _fetch(reader, needed), strict=True))

    out: list[tuple[int, int, bytes]] = [
        (0, old_size + offset, value) for offset, value in enumerate(leaf_hashes)
    ]
    below: Sequence[bytes] = leaf_hashes  # new nodes of the level below ...
    below_start = old_size  # ... whose first index is this
    level = 0
    while True:
        level += 1
        start, end = old_size >> level, new_size >> level
        if start >= end:
            break
        current: list[bytes] = []
        for i in range(start, end):
            left_index = 2 * i - below_start
            left = below[left_index] if left_index >= 0 else peaks[(level - 1, 2 * i)]
            right = below[left_index + 1]
            current.append(_sha256(NODE_PREFIX + left + right).digest())
        out.extend((level, start + offset, value) for offset, value in enumerate(current))
        below, below_start = current, start
    return out


def root_hash(size: int, reader: HashReader) -> bytes:
    """Root of the tree made of the first ``size`` stored leaves.

    Any earlier size works too: complete subtrees never change, so the peaks of
    an old tree are still in the store.

    Raises:
        ValidationError: if ``size`` is out of range.
        NotFoundError: if ``reader`` holds fewer than ``size`` leaves.
    """
    _check_size("size", size)
    if size == 0:
        return EMPTY_ROOT
    return _fold(_fetch(reader, _subtree_keys(0, size)))


def inclusion_proof(index: int, size: int, reader: HashReader) -> list[bytes]:
    """RFC 9162 §2.1.3.1 audit path for leaf ``index`` in the tree of ``size`` leaves.

    Hashes are ordered from the leaf's sibling up to the root's child, as
    ``PATH`` returns them.

    Raises:
        ValidationError: if ``index >= size`` or either is out of range.
        NotFoundError: if ``reader`` holds fewer than ``size`` leaves.
    """
    _check_size("size", size)
    _check_size("index", index)
    if index >= size:
        raise ValidationError("index", f"must be less than the tree size {size}", index)
    return _resolve(reader, _inclusion_plan(index, size))


def consistency_proof(size1: int, size2: int, reader: HashReader) -> list[bytes]:
    """RFC 9162 §2.1.4.1 proof that the tree of ``size1`` leaves is a prefix of ``size2``.

    Empty when ``size1 == size2`` (nothing to prove) or ``size1 == 0`` (the RFC
    defines no proof from an empty tree, and verifiers reject one anyway).

    Raises:
        ValidationError: if ``size1 > size2`` or either is out of range.
        NotFoundError: if ``reader`` holds fewer than ``size2`` leaves.
    """
    _check_size("size2", size2)
    _check_size("size1", size1)
    if size1 > size2:
        raise ValidationError("size1", f"must not exceed size2 {size2}", size1)
    if size1 == 0 or size1 == size2:
        return []
    return _resolve(reader, _consistency_plan(size1, size2))


# ---------------------------------------------------------------- verification


def _require_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise VerificationError(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def _require_u64(what: str, value: int) -> None:
    if not 0 <= value <= _MAX_U64:
        raise VerificationError(f"{what} {value} is not between 0 and 2^64-1")


def _inclusion_proof_length(index: int, size: int) -> int:
    """Hashes in the audit path: levels below the point where the paths to
    ``index`` and ``size - 1`` diverge, plus the left siblings above it."""
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def _consistency_proof_length(size1: int, size2: int) -> int:
    """Hashes in a consistency proof (``0 < size1 < size2``)."""
    shift = (size1 & -size1).bit_length() - 1  # trailing zero bits of size1
    inner = ((size1 - 1) ^ (size2 - 1)).bit_length()
    border = ((size1 - 1) >> inner).bit_count()
    seed = 0 if size1 == 1 << shift else 1  # proof carries the seed subtree
    return seed + inner - shift + border


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """The root an inclusion proof leads to: RFC 9162 §2.1.3.2 up to, not including,
    the comparison with the expected root.

    Useful when the root is compared elsewhere, e.g. against a checkpoint's.

    Raises:
        VerificationError: if ``index >= size``, a hash is not 32 bytes, or the
            proof has more or fewer hashes than the path needs.
    """
    _require_u64("leaf index", index)
    _require_u64("tree size", size)
    if index >= size:
        raise VerificationError(f"leaf index {index} is not below tree size {size}")
    _require_hash("leaf hash", leaf_hash)
    path = list(proof)
    for i, value in enumerate(path):
        _require_hash(f"inclusion proof hash {i}", value)
    want = _inclusion_proof_length(index, size)
    if len(path) != want:
        raise VerificationError(
            f"inclusion proof for leaf {index} of tree size {size} has {len(path)} hashes, "
            f"expected {want}"
        )

    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:
            raise VerificationError("inclusion proof has more hashes than the path")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("inclusion proof has fewer hashes than the path")
    return r


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree with ``root`` and ``size``.

    RFC 9162 §2.1.3.2. Returns nothing: success is the absence of an exception.

    Raises:
        VerificationError: naming the failed check (index range, hash length,
            proof length, or root mismatch).
    """
    _require_hash("expected root", root)
    calculated = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if calculated != root:
        raise VerificationError(
            f"inclusion proof for leaf {index} of tree size {size} leads to root "
            f"{calculated.hex()}, not the expected {root.hex()}"
        )


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree (``size1``, ``root1``) is a prefix of (``size2``, ``root2``).

    Edge cases are decided before the RFC 9162 §2.1.4.2 algorithm, which assumes
    ``0 < size1 < size2``:

    * ``size1 > size2``: rejected, a log never shrinks.
    * ``size1 == size2``: valid iff ``size1 > 0``, the proof is empty and the
      roots are byte-for-byte equal. Nothing is hashed here, so (as in the
      transparency-dev/merkle vectors) the roots are compared, not length-checked.
    * ``size1 == 0 < size2``: rejected, as transparency-dev/merkle does: every
      tree extends the empty one, so such a "proof" shows nothing and accepting
      it would only hide a caller's bug.

    Raises:
        VerificationError: naming the failed check.
    """
    _require_u64("size1", size1)
    _require_u64("size2", size2)
    path = list(proof)
    if size1 > size2:
        raise VerificationError(f"size1 {size1} is greater than size2 {size2}: a log cannot shrink")
    if size1 == size2:
        if size1 == 0:
            raise VerificationError("consistency between two empty trees proves nothing")
        if path:
            raise VerificationError(
                f"sizes are equal ({size1}) so the proof must be empty, but it has "
                f"{len(path)} hashes"
            )
        if root1 != root2:
            raise VerificationError(
                f"sizes are equal ({size1}) but the roots differ: {root1.hex()} != {root2.hex()}"
            )
        return
    if size1 == 0:
        raise VerificationError("consistency proof from an empty tree (size1 = 0) is meaningless")
    _require_hash("root1", root1)
    _require_hash("root2", root2)
    for i, value in enumerate(path):
        _require_hash(f"consistency proof hash {i}", value)
    if not path:
        raise VerificationError(f"consistency proof from size {size1} to {size2} is empty")
    want = _consistency_proof_length(size1, size2)
    if len(path) != want:
        raise VerificationError(
            f"consistency proof from size {size1} to {size2} has {len(path)} hashes, "
            f"expected {want}"
        )

    # RFC 9162 §2.1.4.2, step by step.
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof has more hashes than needed")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("consistency proof has fewer hashes than needed")
    if fr != root1:
        raise VerificationError(
            f"consistency proof leads to old root {fr.hex()}, not root1 {root1.hex()} "
            f"(size {size1})"
        )
    if sr != root2:
        raise VerificationError(
            f"consistency proof leads to new root {sr.hex()}, not root2 {root2.hex()} "
            f"(size {size2})"
        )


# ---------------------------------------------------------------- memory store


class MemoryHashStore:
    """A dict-backed :class:`HashReader` for tests and small in-memory trees.

    It behaves like the SQLite store: nodes are write-once, so storing a
    different hash under an existing key is refused instead of silently
    rewriting history.
    """

    def __init__(self) -> None:
        self._nodes: dict[_Key, bytes] = {}
        self._size = 0

    @property
    def size(self) -> int:
        """Number of leaves: one past the highest level-0 index stored."""
        return self._size

    def get_many(self, keys: Sequence[tuple[int, int]]) -> list[bytes]:
        """Hashes of the given ``(level, index)`` subtrees, in order.

        Raises:
            NotFoundError: naming the first subtree that is not stored.
        """
        try:
            return [self._nodes[key] for key in keys]
        except KeyError as exc:
            raise NotFoundError(
                f"no stored hash for subtree (level, index) {exc.args[0]}"
            ) from None

    def add(self, nodes: Iterable[tuple[int, int, bytes]]) -> None:
        """Store ``(level, index, hash)`` nodes, e.g. from :func:`nodes_for_append`.

        Raises:
            ConflictError: if a key already holds a different hash.
        """
        for level, index, value in nodes:
            key = (level, index)
            existing = self._nodes.get(key)
            if existing is not None and existing != value:
                raise ConflictError(f"subtree (level, index) {key} already holds another hash")
            self._nodes[key] = value
            if level == 0 and index >= self._size:
                self._size = index + 1

    def append(self, leaf_hashes: Sequence[bytes]) -> list[tuple[int, int, bytes]]:
        """Append leaf hashes after the current size; return the nodes stored."""
        nodes = nodes_for_append(self._size, leaf_hashes, self)
        self.add(nodes)
        return nodes

    def snapshot(self) -> dict[tuple[int, int], bytes]:
        """A copy of every stored node, for comparisons in tests."""
        return dict(self._nodes)
