"""C2SP transparency log checkpoints (https://c2sp.org/tlog-checkpoint, v1.0.0).

A checkpoint is the issuer's signed claim "log ``origin`` has ``size`` entries
with Merkle root ``root_hash``". Peers compare checkpoints to detect
equivocation, so the body must have exactly one spelling: the size is ASCII
decimal without sign, separators or leading zeros (Python's ``int()`` would
also accept ``"+5"``, ``" 7_0 "`` and full-width digits), and the root is the
canonical base64 of 32 bytes.

The body travels inside a signed note (``exchange.core.note``); a checkpoint is
only opened after the log's key, whose name must equal the origin, has been
verified. Pure: no files, sockets or clock reads.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import NamedTuple

from exchange.core.errors import FormatError, VerificationError
from exchange.core.note import (
    Note,
    Signer,
    Verifier,
    check_note_chars,
    parse_note,
    sign_note,
    strict_b64decode,
    verify_note,
)

__all__ = [
    "HASH_SIZE",
    "MAX_SIZE",
    "Checkpoint",
    "SignedCheckpoint",
    "open_checkpoint",
    "parse_checkpoint_body",
    "parse_decimal",
    "sign_checkpoint",
]

#: SHA-256 root hashes (RFC 6962).
HASH_SIZE = 32

#: Tree sizes are unsigned 64-bit integers in every C2SP implementation.
MAX_SIZE = 2**64 - 1

# [0-9] in a str pattern matches ASCII digits only (unlike \d).
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


def parse_decimal(s: str, what: str, maximum: int = MAX_SIZE) -> int:
    """Parse an ASCII decimal with no sign, spaces, underscores or leading zeros.

    ``int()`` accepts many spellings of one number; a signed value must have
    one, and the digit count is bounded before conversion so hostile input
    cannot make ``int()`` raise its own ``ValueError`` or burn CPU.

    Args:
        s: the candidate text.
        what: what the number is, for the error message.
        maximum: the largest accepted value.

    Returns:
        The value.

    Raises:
        FormatError: if ``s`` is not canonical decimal or exceeds ``maximum``.
    """
    if len(s) > len(str(maximum)) or not _DECIMAL.fullmatch(s):
        raise FormatError(
            f"{what} must be ASCII decimal without sign or leading zeros "
            f"(at most {maximum}), got {s!r}"
        )
    value = int(s)
    if value > maximum:
        raise FormatError(f"{what} {value} exceeds the maximum {maximum}")
    return value


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, tree size and RFC 6962 root hash.

    ``extensions`` holds any extension lines found when parsing; brandex never
    writes any and gives them no meaning, so they take no part in equality.
    """

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        """Refuse values that would not format as a valid checkpoint body."""
        if not isinstance(self.origin, str) or not self.origin:
            raise FormatError(f"checkpoint origin must be a non-empty string, got {self.origin!r}")
        if "\n" in self.origin:
            raise FormatError(f"checkpoint origin must be one line, got {self.origin!r}")
        check_note_chars(self.origin, "checkpoint origin")
        if (
            not isinstance(self.size, int)
            or isinstance(self.size, bool)
            or not 0 <= self.size <= MAX_SIZE
        ):
            raise FormatError(f"checkpoint size must be an integer in [0, 2^64), got {self.size!r}")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise FormatError(f"checkpoint root hash must be {HASH_SIZE} bytes")
        for ext in self.extensions:
            if not isinstance(ext, str) or not ext or "\n" in ext:
                raise FormatError(f"checkpoint extension lines must be non-empty lines: {ext!r}")
            check_note_chars(ext, "checkpoint extension line")

    def to_body(self) -> str:
        """Return the note text: origin, size, base64 root, each ending in newline.

        A checkpoint built by brandex has no extension lines, so this is
        exactly three lines; a parsed one gives back the body it came from.
        """
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode("ascii")]
        lines.extend(self.extensions)
        return "".join(line + "\n" for line in lines)


def parse_checkpoint_body(text: str) -> Checkpoint:
    """Parse a checkpoint note text strictly.

    Args:
        text: the note text (ending in newline), normally ``Note.text`` of a
            note whose log signature has been verified.

    Returns:
        The checkpoint, with any extension lines kept in ``extensions``.

    Raises:
        FormatError: naming the line that is malformed.
    """
    if not isinstance(text, str):
        raise FormatError(f"checkpoint body must be str, got {type(text).__name__}")
    check_note_chars(text, "checkpoint body")
    if not text.endswith("\n"):
        raise FormatError("checkpoint body must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise FormatError(f"checkpoint body needs at least 3 lines, got {len(lines)}")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise FormatError("checkpoint origin line is empty")
    size = parse_decimal(size_text, "checkpoint tree size")
    root = strict_b64decode(root_text, "checkpoint root hash")
    if len(root) != HASH_SIZE:
        raise FormatError(f"checkpoint root hash must be {HASH_SIZE} bytes, got {len(root)}")
    for n, ext in enumerate(extensions, start=4):
        if not ext:
            raise FormatError(f"checkpoint line {n} (an extension line) is empty")
    return Checkpoint(origin=origin, size=size, root_hash=root, extensions=tuple(extensions))


class SignedCheckpoint(NamedTuple):
    """A checkpoint together with the verified note that carried it.

    The note is kept so callers can go on to check witness cosignatures on the
    very bytes the log signed.
    """

    checkpoint: Checkpoint
    note: Note


def sign_checkpoint(cp: Checkpoint, signer: Signer) -> Note:
    """Sign a checkpoint as its log.

    Args:
        cp: the checkpoint.
        signer: the log's note signer; its key name must equal the origin,
            because verifiers look the log key up by origin.

    Returns:
        The signed note (format it with ``format_note``).

    Raises:
        FormatError: if the signer's name differs from the origin.
    """
    if signer.name != cp.origin:
        raise FormatError(
            f"log key name {signer.name!r} must equal the checkpoint origin {cp.origin!r}"
        )
    return sign_note(cp.to_body(), [signer])


def open_checkpoint(note_bytes: bytes | str, log_verifier: Verifier) -> SignedCheckpoint:
    """Parse a signed checkpoint and require the log's own signature.

    The note is verified before its text is interpreted, as the signed-note
    spec requires; other signatures (witnesses) are ignored here.

    Args:
        note_bytes: the signed note.
        log_verifier: the log's key; its name must equal the origin.

    Returns:
        ``(checkpoint, note)``.

    Raises:
        FormatError: if the note or the checkpoint body is malformed.
        VerificationError: if the log key did not sign, its signature is bad,
            or the origin is not the log key's name.
    """
    note = parse_note(note_bytes)
    verified = verify_note(note, [log_verifier])
    if log_verifier.name not in verified:
        raise VerificationError(f"checkpoint is not signed by log key {log_verifier.name!r}")
    cp = parse_checkpoint_body(note.text)
    if cp.origin != log_verifier.name:
        raise VerificationError(
            f"checkpoint origin {cp.origin!r} does not match log key name {log_verifier.name!r}"
        )
    return SignedCheckpoint(cp, note)
