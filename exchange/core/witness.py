"""What a witness accepts: the C2SP tlog-witness ``add-checkpoint`` rule, pure.

https://c2sp.org/tlog-witness: a log (here: an origin node) asks each of its
witnesses to cosign a new checkpoint, sending the size the witness last
cosigned (``old``), an RFC 9162 consistency proof from ``old`` to the new size
and the signed note. The witness keeps one (size, root) per origin and
cosigns only checkpoints that extend it, so it never cosigns two roots for
one size and never goes backwards. When ``old`` is not its own size it does
not guess: it answers a *conflict* carrying that size, and the log retries
with the right ``old`` and proof (the spec's 409 with ``text/x.tlog.size``).

This module decides, given what the witness stored; reading and persisting
that state, and signing, belong to the node (exchange.node.witnessing). The
checks run in the spec's order, so each refusal is the one it prescribes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from exchange.core import merkle
from exchange.core.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint_body
from exchange.core.errors import (
    BrandexError,
    EquivocationError,
    ValidationError,
    VerificationError,
    WitnessConflict,
)
from exchange.core.note import Verifier, parse_note

__all__ = [
    "MAX_PROOF_HASHES",
    "NotWitnessed",
    "WitnessConflict",
    "WitnessState",
    "accept_checkpoint",
    "claimed_origin",
]

#: A consistency proof has at most 2·log2(2^64) hashes; more is malformed input.
MAX_PROOF_HASHES = 128


class NotWitnessed(BrandexError):
    """This witness does not witness that origin (not in its witness set)."""


@dataclass(frozen=True)
class WitnessState:
    """The latest checkpoint a witness cosigned for one origin."""

    size: int
    root: bytes


def claimed_origin(note_text: str) -> str:
    """The origin a checkpoint note names (unverified: it picks the key to verify with).

    Raises:
        FormatError: if the note or its checkpoint body is malformed.
    """
    return parse_checkpoint_body(parse_note(note_text).text).origin


def accept_checkpoint(
    note_text: str,
    old_size: int,
    proof: Sequence[bytes],
    *,
    witnessed: bool,
    log_key: Verifier | None,
    stored: WitnessState | None,
) -> Checkpoint:
    """Decide whether a witness may cosign ``note_text``; return its checkpoint if so.

    Args:
        note_text: the signed checkpoint note, as the log sent it.
        old_size: the size the log believes this witness last cosigned (0: none).
        proof: RFC 9162 consistency proof from ``old_size`` to the new size.
        witnessed: whether the origin's witness set names this witness.
        log_key: the origin's certified log key for that size (None: unknown here).
        stored: this witness's latest cosigned state for the origin (None: none yet).

    Returns:
        The checkpoint to persist as the new state, then cosign.

    Raises:
        NotWitnessed: the origin is not one this witness witnesses.
        VerificationError: no known key, a bad signature, or a bad proof.
        ValidationError: ``old_size`` exceeds the checkpoint's size, or the proof
            is oversized.
        WitnessConflict: ``old_size`` is not the stored size; carries the stored size.
        EquivocationError: same size as stored, different root (fork evidence).
    """
    origin = claimed_origin(note_text)
    if not witnessed:
        raise NotWitnessed(f"this node does not witness {origin} (not in its witness set)")
    if log_key is None:
        raise VerificationError(f"no certified log key of {origin} is known to this witness")
    cp, _ = open_checkpoint(note_text, log_key)
    if len(proof) > MAX_PROOF_HASHES:
        raise ValidationError("consistency_proof", f"at most {MAX_PROOF_HASHES} hashes", len(proof))
    if old_size > cp.size:
        raise ValidationError(
            "old_size", f"must not exceed the checkpoint's size {cp.size}", old_size
        )
    have = stored.size if stored is not None else 0
    if old_size != have:
        raise WitnessConflict(
            have, f"{origin}: this witness's latest size is {have}, not {old_size}"
        )
    if stored is None or stored.size == 0:
        if proof:
            raise VerificationError("first contact (old size 0): the proof must be empty")
        return cp
    if cp.size == stored.size:
        if cp.root_hash != stored.root:
            raise EquivocationError(
                f"{origin}: a checkpoint of size {cp.size} with another root than the one "
                "this witness cosigned (fork evidence)"
            )
        if proof:
            raise VerificationError("same size as cosigned before: the proof must be empty")
        return cp
    try:
        merkle.verify_consistency(stored.size, cp.size, proof, stored.root, cp.root_hash)
    except VerificationError as exc:
        raise VerificationError(
            f"{origin}: consistency proof from {stored.size} to {cp.size} does not verify: {exc}"
        ) from None
    return cp
