"""C2SP offline inclusion proofs (https://c2sp.org/tlog-proof, ``c2sp.org/tlog-proof@v1``).

A tlog-proof is what an auditor is handed to check, offline, that one entry is
in an issuer's log: the entry's index, its RFC 6962 inclusion proof and the
signed checkpoint (with any witness cosignatures) the proof leads to. Layout,
one item per line, lines separated by ``"\\n"``::

    c2sp.org/tlog-proof@v1
    extra <base64 opaque data>        (optional; only as the second line)
    index <decimal, no leading zeros>
    <base64 SHA-256 hash>             (zero or more, leaf's sibling first)
                                      (empty line)
    <checkpoint signed note, verbatim>

The extra data is not authenticated and brandex gives it no meaning. Parsing
is as strict as for notes (no ``"\\r"``, no other control characters,
canonical base64, canonical decimal), so a proof has one spelling. Pure: no
files, sockets or clock reads.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from exchange.core.checkpoint import (
    HASH_SIZE,
    Checkpoint,
    open_checkpoint,
    parse_checkpoint_body,
    parse_decimal,
)
from exchange.core.errors import FormatError, VerificationError
from exchange.core.merkle import verify_inclusion
from exchange.core.note import (
    Verifier,
    check_note_chars,
    decode_text,
    parse_note,
    strict_b64decode,
)

__all__ = [
    "HEADER",
    "MAX_INDEX",
    "MAX_PROOF_HASHES",
    "TlogProof",
    "format_tlog_proof",
    "parse_tlog_proof",
    "verify_tlog_proof",
]

#: First line of every proof.
HEADER = "c2sp.org/tlog-proof@v1"

#: Indexes are below the largest tree size (u64).
MAX_INDEX = 2**64 - 2

#: An inclusion proof in a tree of fewer than 2^64 leaves has at most 64 hashes.
MAX_PROOF_HASHES = 64

_EXTRA = "extra "
_INDEX = "index "


@dataclass(frozen=True)
class TlogProof:
    """An offline inclusion proof: index, RFC 6962 path, signed checkpoint, extra data.

    ``checkpoint_note`` is the signed note exactly as the log (and witnesses)
    produced it, so it is carried as text and never re-serialised.
    """

    index: int
    proof: list[bytes]
    checkpoint_note: str
    extra: bytes | None = None

    def __post_init__(self) -> None:
        """Refuse values that would not format as a proof that parses back.

        The checkpoint note is checked for form only (note syntax and
        checkpoint body); its signatures are checked by ``verify_tlog_proof``.
        """
        if (
            not isinstance(self.index, int)
            or isinstance(self.index, bool)
            or not 0 <= self.index <= MAX_INDEX
        ):
            raise FormatError(
                f"tlog-proof index must be an integer in [0, 2^64-1), got {self.index!r}"
            )
        if len(self.proof) > MAX_PROOF_HASHES:
            raise FormatError(
                f"tlog-proof has {len(self.proof)} hashes, more than {MAX_PROOF_HASHES}"
            )
        for n, h in enumerate(self.proof):
            if not isinstance(h, bytes) or len(h) != HASH_SIZE:
                raise FormatError(f"tlog-proof hash {n} must be {HASH_SIZE} bytes")
        if self.extra is not None and not isinstance(self.extra, bytes):
            raise FormatError("tlog-proof extra data must be bytes or None")
        if not isinstance(self.checkpoint_note, str):
            raise FormatError("tlog-proof checkpoint note must be str")
        try:
            parse_checkpoint_body(parse_note(self.checkpoint_note).text)
        except FormatError as exc:
            raise FormatError(f"tlog-proof checkpoint: {exc}") from None


def format_tlog_proof(p: TlogProof) -> str:
    """Serialise a proof in the ``c2sp.org/tlog-proof@v1`` text format.

    Args:
        p: the proof.

    Returns:
        The proof text; ``parse_tlog_proof`` gives back an equal proof.
    """
    lines = [HEADER]
    if p.extra is not None:
        lines.append(_EXTRA + base64.b64encode(p.extra).decode("ascii"))
    lines.append(f"{_INDEX}{p.index}")
    lines.extend(base64.b64encode(h).decode("ascii") for h in p.proof)
    return "\n".join(lines) + "\n\n" + p.checkpoint_note


def parse_tlog_proof(text: str | bytes) -> TlogProof:
    """Parse a proof strictly, without verifying it.

    The proof lines end at the first empty line (proof lines are never empty);
    everything after it is the checkpoint note, which must itself parse as a
    strict signed note whose text is a well-formed checkpoint body (it is not
    verified here).

    Args:
        text: the proof as text or UTF-8 bytes.

    Returns:
        The parsed proof.

    Raises:
        FormatError: naming what is malformed.
    """
    msg = decode_text(text, "tlog-proof")
    check_note_chars(msg, "tlog-proof")
    sep = msg.find("\n\n")
    if sep < 0:
        raise FormatError("tlog-proof has no empty line before the checkpoint")
    lines = msg[:sep].split("\n")
    note = msg[sep + 2 :]
    if not note:
        raise FormatError("tlog-proof has no checkpoint after the empty line")
    if lines[0] != HEADER:
        raise FormatError(f"tlog-proof first line must be {HEADER!r}, got {lines[0][:40]!r}")
    pos = 1
    extra: bytes | None = None
    if pos < len(lines) and lines[pos].startswith(_EXTRA):
        extra = strict_b64decode(lines[pos][len(_EXTRA) :], "tlog-proof extra data")
        pos += 1
    if pos >= len(lines) or not lines[pos].startswith(_INDEX):
        got = lines[pos][:40] if pos < len(lines) else "end of proof lines"
        raise FormatError(f"tlog-proof line {pos + 1} must be 'index <n>', got {got!r}")
    index = parse_decimal(lines[pos][len(_INDEX) :], "tlog-proof index", MAX_INDEX)
    hash_lines = lines[pos + 1 :]
    if len(hash_lines) > MAX_PROOF_HASHES:
        raise FormatError(
            f"tlog-proof has {len(hash_lines)} proof lines, more than {MAX_PROOF_HASHES}"
        )
    proof: list[bytes] = []
    for n, line in enumerate(hash_lines, start=pos + 2):
        h = strict_b64decode(line, f"tlog-proof line {n} (proof hash)")
        if len(h) != HASH_SIZE:
            raise FormatError(f"tlog-proof line {n}: hash must be {HASH_SIZE} bytes, got {len(h)}")
        proof.append(h)
    return TlogProof(index=index, proof=proof, checkpoint_note=note, extra=extra)


def verify_tlog_proof(p: TlogProof, leaf_hash: bytes, log_verifier: Verifier) -> Checkpoint:
    """Check that ``leaf_hash`` is at ``p.index`` in the log's signed checkpoint.

    The checkpoint must be signed by the log key, whose name must equal the
    origin; witness cosignatures are left to the caller (``verify_note`` on
    ``parse_note(p.checkpoint_note)`` with the cosigner verifiers).

    Args:
        p: the parsed proof.
        leaf_hash: the RFC 6962 leaf hash ``SHA-256(0x00 || entry)``.
        log_verifier: the log's note key.

    Returns:
        The verified checkpoint the entry is included in.

    Raises:
        FormatError: if the checkpoint is malformed.
        VerificationError: if the checkpoint signature or the inclusion proof
            does not verify.
    """
    if not isinstance(leaf_hash, bytes) or len(leaf_hash) != HASH_SIZE:
        raise VerificationError(f"leaf hash must be {HASH_SIZE} bytes")
    cp, _ = open_checkpoint(p.checkpoint_note, log_verifier)
    if p.index >= cp.size:
        raise VerificationError(f"index {p.index} is not below the checkpoint tree size {cp.size}")
    verify_inclusion(leaf_hash, p.index, cp.size, p.proof, cp.root_hash)
    return cp
