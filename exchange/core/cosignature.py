"""C2SP Ed25519 witness cosignatures (https://c2sp.org/tlog-cosignature, ``cosignature/v1``).

A cosignature is a peer's statement "as of this time, this is the largest
checkpoint of that log I have seen, and it is consistent with every earlier
one". It is an ordinary signed-note signature line, but:

* the key id uses signature type byte **0x04**, not 0x01, so a witness key can
  never be mistaken for a log key (or the reverse) even with the same name and
  key material;
* the signature bytes are ``timestamp (u64 big-endian) || Ed25519 signature``;
* the signed message is ``"cosignature/v1\\ntime <timestamp>\\n"`` followed by
  the whole checkpoint body.

:class:`CosignatureVerifier` implements ``exchange.core.note.Verifier``, so it
plugs into ``verify_note`` next to log keys. Time is passed in, never read:
the module stays pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import nacl.exceptions
import nacl.signing

from exchange.core.checkpoint import parse_checkpoint_body
from exchange.core.ed25519 import VerifyKey
from exchange.core.errors import FormatError, VerificationError
from exchange.core.note import (
    ED25519_PUBLIC_KEY_SIZE,
    ED25519_SIGNATURE_SIZE,
    KeyIdentity,
    NoteSignature,
    compute_key_id,
    decode_vkey,
)
from exchange.core.origin import WITNESS_SUFFIX, Origin, witness_member, witness_name

__all__ = [
    "COSIGNATURE_HEADER",
    "COSIGNATURE_SIZE",
    "MAX_TIMESTAMP",
    "SIG_TYPE_COSIGNATURE",
    "WITNESS_SUFFIX",
    "CosignatureSigner",
    "CosignatureVerifier",
    "cosign",
    "cosignature_message",
    "cosigner_key",
    "parse_cosignature_vkey",
    "verify_cosignature",
    "witness_name",
]

#: Signature type byte of timestamped Ed25519 cosignatures.
SIG_TYPE_COSIGNATURE = 0x04

#: Domain-separation header line of the signed message.
COSIGNATURE_HEADER = "cosignature/v1"

#: The spec caps timestamps at 2^63 - 1 seconds.
MAX_TIMESTAMP = 2**63 - 1

#: Signature bytes after the key id: u64 timestamp + Ed25519 signature.
COSIGNATURE_SIZE = 8 + ED25519_SIGNATURE_SIZE


def _check_timestamp(timestamp: int) -> None:
    if (
        not isinstance(timestamp, int)
        or isinstance(timestamp, bool)
        or not 0 <= timestamp <= MAX_TIMESTAMP
    ):
        raise FormatError(
            f"cosignature timestamp must be an integer in [0, 2^63), got {timestamp!r}"
        )


def cosignature_message(body: str, timestamp: int) -> bytes:
    """Build the message an Ed25519 cosigner signs.

    Args:
        body: the whole checkpoint note text, final newline included.
        timestamp: POSIX seconds, written as decimal without leading zeros.

    Returns:
        ``b"cosignature/v1\\ntime <timestamp>\\n" + body`` in UTF-8.

    Raises:
        FormatError: if the timestamp is out of range.
    """
    _check_timestamp(timestamp)
    return f"{COSIGNATURE_HEADER}\ntime {timestamp}\n{body}".encode()


class CosignatureSigner(KeyIdentity):
    """A witness's Ed25519 cosigning key (signature type 0x04)."""

    SIG_TYPE = SIG_TYPE_COSIGNATURE

    def __init__(self, name: str, signing_key: nacl.signing.SigningKey) -> None:
        """Bind a cosigner name to an Ed25519 private key.

        The spec requires a distinct key per cosigner name, since the message
        does not commit to it.

        Raises:
            FormatError: if the name breaks the key name rules.
        """
        super().__init__(name, bytes(signing_key.verify_key))
        self._signing_key = signing_key

    def verifier(self) -> CosignatureVerifier:
        """Return the matching verifier."""
        return CosignatureVerifier(self._name, VerifyKey(bytes(self._signing_key.verify_key)))

    def sign_at(self, body: str, timestamp: int) -> bytes:
        """Sign a checkpoint body at ``timestamp`` (POSIX seconds, from the caller).

        Returns:
            ``timestamp (8 bytes, big-endian) || signature (64 bytes)``.
        """
        signature = self._signing_key.sign(cosignature_message(body, timestamp)).signature
        return timestamp.to_bytes(8, "big") + signature

    def __repr__(self) -> str:
        return f"CosignatureSigner(name={self._name!r}, key_id={self._key_id.hex()})"


class CosignatureVerifier(KeyIdentity):
    """Verifies a witness's Ed25519 cosignatures; a ``note.Verifier``."""

    SIG_TYPE = SIG_TYPE_COSIGNATURE

    def __init__(self, name: str, verify_key: VerifyKey) -> None:
        """Bind a cosigner name to an Ed25519 public key.

        Raises:
            FormatError: if the name breaks the key name rules.
        """
        super().__init__(name, bytes(verify_key))
        self._verify_key = verify_key

    def timestamp_of(self, text: str, sig: bytes) -> int | None:
        """Return the cosignature's timestamp if it verifies over ``text``, else None.

        Args:
            text: the checkpoint note text.
            sig: the bytes after the key id.
        """
        if len(sig) != COSIGNATURE_SIZE:
            return None
        timestamp = int.from_bytes(sig[:8], "big")
        if timestamp > MAX_TIMESTAMP:
            return None
        try:
            self._verify_key.verify(cosignature_message(text, timestamp), sig[8:])
        except (nacl.exceptions.CryptoError, UnicodeEncodeError):
            return None
        return timestamp

    def verify(self, text: str, sig: bytes) -> bool:
        """Check a cosignature over the note text (the ``note.Verifier`` protocol).

        Args:
            text: the checkpoint note text.
            sig: ``timestamp || signature``, the bytes after the key id.

        Returns:
            ``True`` iff the cosignature is valid.
        """
        return self.timestamp_of(text, sig) is not None

    def verify_cosignature(self, body: str, sig: NoteSignature) -> int:
        """Verify one cosignature line over a checkpoint body.

        Args:
            body: the checkpoint note text.
            sig: the signature line; its name and key id must be this key's.

        Returns:
            The cosignature's timestamp (POSIX seconds).

        Raises:
            VerificationError: if the line belongs to another key (for example
                a 0x01 note key id) or the signature does not verify.
        """
        if sig.name != self._name or sig.key_id != self._key_id:
            raise VerificationError(
                f"signature {sig.name}+{sig.key_id.hex()} is not from cosigner "
                f"{self._name}+{self._key_id.hex()}"
            )
        timestamp = self.timestamp_of(body, sig.sig)
        if timestamp is None:
            raise VerificationError(
                f"cosignature by {self._name} (key id {self._key_id.hex()}) does not verify"
            )
        return timestamp


def cosign(checkpoint_body: str, signer: CosignatureSigner, timestamp: int) -> NoteSignature:
    """Produce a witness cosignature line for a checkpoint body.

    The body must parse as a checkpoint: a witness vouches for tree heads,
    not for arbitrary text. (Checking consistency with the witness's previous
    checkpoint is the caller's job, before calling this.)

    Args:
        checkpoint_body: the checkpoint note text being cosigned.
        signer: the witness key.
        timestamp: POSIX seconds, supplied by the caller.

    Returns:
        The signature line, to add with ``note.add_signature``.

    Raises:
        FormatError: if the body is not a checkpoint or the timestamp is out
            of range.
    """
    parse_checkpoint_body(checkpoint_body)
    return NoteSignature(
        name=signer.name, key_id=signer.key_id, sig=signer.sign_at(checkpoint_body, timestamp)
    )


def verify_cosignature(body: str, sig: NoteSignature, verifier: CosignatureVerifier) -> int:
    """Verify a cosignature line with ``verifier``; see ``CosignatureVerifier.verify_cosignature``.

    Returns:
        The cosignature's timestamp.

    Raises:
        VerificationError: if the line is not this cosigner's or does not verify.
    """
    return verifier.verify_cosignature(body, sig)


def parse_cosignature_vkey(vkey: str) -> CosignatureVerifier:
    """Parse a cosigner vkey string (signature type 0x04).

    Args:
        vkey: ``<name>+<8 hex key id>+<base64(0x04 || 32-byte key)>``.

    Returns:
        The verifier.

    Raises:
        FormatError: if the string is malformed, has another type byte (e.g.
            a 0x01 note key) or its key id does not match.
    """
    name, public_key = decode_vkey(vkey, SIG_TYPE_COSIGNATURE, ED25519_PUBLIC_KEY_SIZE)
    return CosignatureVerifier(name, VerifyKey(public_key))


def cosigner_key(
    sig: NoteSignature, keys_of: Callable[[str], Iterable[bytes]]
) -> tuple[Origin, bytes] | None:
    """Which member's key made a witness cosignature line, matched by name and key id.

    Args:
        sig: one signature line of a checkpoint note.
        keys_of: member origin name -> the raw Ed25519 keys that count for it
            (each driver decides which: certified, not revoked ...).

    Returns:
        (the witness's origin, its key), or None when the line is no member
        witness's or no key given matches its key id. The signature itself is
        not checked here: verify it with :class:`CosignatureVerifier`.
    """
    member = witness_member(sig.name)
    if member is None:
        return None
    for pub in keys_of(member.name):
        if compute_key_id(sig.name, SIG_TYPE_COSIGNATURE, pub) == sig.key_id:
            return member, pub
    return None
