"""C2SP signed notes (https://c2sp.org/signed-note, v1.0.0) with Ed25519 keys.

A checkpoint is only trustworthy because a known key signed its exact text, so
this module is deliberately strict: a note that some other implementation would
read differently (a CR before a newline, an ASCII hyphen for the em dash,
base64 with non-zero padding bits, a line break that is not ``"\\n"``) is
rejected instead of being "repaired". Signatures are matched to keys by the
pair (key name, key id) and never by either half alone, so a key that merely
shares a name or a 4-byte id with a trusted key can at worst be ignored.

Verifiers plug in through the :class:`Verifier` protocol. Each verifier builds
the message it checks from the note text itself, which is how witness
cosignatures (``exchange.core.cosignature``), whose signed message differs from
the note text, are verified by the same :func:`verify_note`.

The module is pure: no files, sockets or clock reads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import nacl.exceptions
import nacl.signing

from exchange.core.ed25519 import VerifyKey
from exchange.core.errors import FormatError, VerificationError

__all__ = [
    "ED25519_PUBLIC_KEY_SIZE",
    "ED25519_SIGNATURE_SIZE",
    "KEY_ID_SIZE",
    "MAX_SIGNATURES",
    "SIG_PREFIX",
    "SIG_TYPE_ED25519",
    "Ed25519NoteSigner",
    "Ed25519NoteVerifier",
    "KeyIdentity",
    "Note",
    "NoteSignature",
    "Signer",
    "Verifier",
    "add_signature",
    "check_key_name",
    "check_note_chars",
    "compute_key_id",
    "decode_text",
    "decode_vkey",
    "encode_vkey",
    "format_note",
    "parse_note",
    "parse_vkey",
    "sign_note",
    "strict_b64decode",
    "verify_note",
]

#: Signature type byte of plain Ed25519 note signatures (signed-note §Signature types).
SIG_TYPE_ED25519 = 0x01

#: A key id is the first four bytes of a SHA-256 hash.
KEY_ID_SIZE = 4

#: RFC 8032 sizes.
ED25519_PUBLIC_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64

#: The spec requires accepting at least 16 signatures and asks for a cap;
#: 100 matches the Go reference implementation and bounds the work per note.
MAX_SIGNATURES = 100

#: Every signature line starts with an em dash (U+2014) and one space.
SIG_PREFIX = "\u2014 "

_HEX8 = re.compile(r"[0-9a-f]{8}")


def strict_b64decode(s: str, what: str) -> bytes:
    """Decode standard base64, accepting only the one canonical encoding.

    ``base64.b64decode(validate=True)`` still accepts non-zero padding bits
    (``"QR=="`` decodes like ``"QQ=="``). Two spellings of one value would let
    a relay alter signed bytes without breaking anything, so the decoded value
    must re-encode to exactly the input.

    Args:
        s: the base64 text (no whitespace, padding required).
        what: what the value is, for the error message.

    Returns:
        The decoded bytes.

    Raises:
        FormatError: if ``s`` is not canonical standard base64.
    """
    try:
        raw = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FormatError(f"{what}: invalid base64 {s!r}: {exc}") from None
    if base64.b64encode(raw).decode("ascii") != s:
        raise FormatError(f"{what}: non-canonical base64 {s!r} (padding bits must be zero)")
    return raw


#: What :func:`check_note_chars` refuses: a control character other than newline,
#: or a lone surrogate.
_NOTE_CHAR_FAULT = re.compile("[\x00-\x09\x0b-\x1f\ud800-\udfff]")
#: Key names :func:`check_key_name` accepts without looking at each character:
#: printable ASCII other than space and '+'.
_PLAIN_KEY_NAME = re.compile("[\x21-\x2a\x2c-\x7e]+")


def check_note_chars(s: str, what: str) -> None:
    """Reject ASCII control characters other than newline, and unencodable text.

    The spec forbids them in signed notes; a stray ``"\\r"`` in particular
    would make a CRLF note verify on one platform and not another.

    Args:
        s: the text to check.
        what: what the text is, for the error message.

    Raises:
        FormatError: naming the first offending character and its offset.
    """
    if _NOTE_CHAR_FAULT.search(s) is None:
        return  # the usual case, found in C; the loop below names the fault
    for i, ch in enumerate(s):
        if ch < " " and ch != "\n":
            raise FormatError(f"{what}: control character {ch!r} at offset {i} is not allowed")
        if "\ud800" <= ch <= "\udfff":
            raise FormatError(f"{what}: lone surrogate {ch!r} at offset {i} is not valid UTF-8")


def check_key_name(name: str, what: str = "key name") -> None:
    """Enforce the signed-note key name rules.

    Names must be non-empty and contain neither ``+`` (it separates the parts
    of a vkey) nor any Unicode space (a space ends the name in a signature
    line). Control characters and lone surrogates are refused too, since they
    cannot appear in a valid note.

    Args:
        name: the candidate key name.
        what: what the name belongs to, for the error message.

    Raises:
        FormatError: if the name breaks a rule.
    """
    if not isinstance(name, str) or not name:
        raise FormatError(f"{what}: must be a non-empty string, got {name!r}")
    if _PLAIN_KEY_NAME.fullmatch(name):
        return  # printable ASCII without space or '+': every rule below holds
    for i, ch in enumerate(name):
        if ch == "+":
            raise FormatError(f"{what}: '+' at offset {i} is not allowed in {name!r}")
        if ch.isspace() or unicodedata.category(ch).startswith("Z"):
            raise FormatError(f"{what}: space character {ch!r} at offset {i} in {name!r}")
        if ch < " " or "\ud800" <= ch <= "\udfff":
            raise FormatError(f"{what}: control or surrogate character {ch!r} in {name!r}")


def compute_key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """Compute a note key id: ``SHA-256(name || 0x0A || type || public key)[:4]``.

    The type byte separates signature schemes, so the same key and name used
    for an Ed25519 note signature (0x01) and a witness cosignature (0x04) get
    different ids and can never be confused.

    Args:
        name: the key name (validated).
        sig_type: the signature type byte (0-255).
        public_key: the encoded public key.

    Returns:
        The 4-byte key id.

    Raises:
        FormatError: if the name is invalid or the type is not a byte.
    """
    check_key_name(name)
    if not 0 <= sig_type <= 0xFF:
        raise FormatError(f"signature type must be a byte, got {sig_type!r}")
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key)
    return digest.digest()[:KEY_ID_SIZE]


def encode_vkey(name: str, sig_type: int, public_key: bytes) -> str:
    """Format a verifier key string ``<name>+<8 hex key id>+<base64(type || key)>``.

    Args:
        name: the key name.
        sig_type: the signature type byte.
        public_key: the encoded public key.

    Returns:
        The vkey string, in the form the Go ``note`` package prints.
    """
    key_id = compute_key_id(name, sig_type, public_key)
    material = base64.b64encode(bytes([sig_type]) + public_key).decode("ascii")
    return f"{name}+{key_id.hex()}+{material}"


def decode_vkey(vkey: str, sig_type: int, key_size: int) -> tuple[str, bytes]:
    """Parse a vkey string strictly and return its name and raw public key.

    The key id embedded in the string is recomputed and must match: a typo in
    a trust anchor must fail loudly, not silently ignore every signature.

    Args:
        vkey: the ``<name>+<hex id>+<base64(type || key)>`` string.
        sig_type: the only signature type byte accepted.
        key_size: the required public key length in bytes.

    Returns:
        ``(name, public_key)``.

    Raises:
        FormatError: if any part is malformed, the type byte differs or the
            key id does not match.
    """
    if not isinstance(vkey, str):
        raise FormatError(f"vkey must be a string, got {type(vkey).__name__}")
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise FormatError(f"vkey {vkey!r}: need <name>+<key id>+<key>")
    name, id_hex, material_b64 = parts
    check_key_name(name, "vkey name")
    if not _HEX8.fullmatch(id_hex):
        raise FormatError(f"vkey {vkey!r}: key id must be 8 lowercase hex digits, got {id_hex!r}")
    material = strict_b64decode(material_b64, "vkey key material")
    if len(material) != 1 + key_size:
        raise FormatError(
            f"vkey {vkey!r}: key material must be 1 type byte + {key_size} bytes, "
            f"got {len(material)} bytes"
        )
    if material[0] != sig_type:
        raise FormatError(
            f"vkey {vkey!r}: signature type byte is 0x{material[0]:02x}, expected 0x{sig_type:02x}"
        )
    public_key = material[1:]
    expected = compute_key_id(name, sig_type, public_key)
    if expected.hex() != id_hex:
        raise FormatError(
            f"vkey {vkey!r}: key id {id_hex} does not match the computed {expected.hex()}"
        )
    return name, public_key


@runtime_checkable
class Verifier(Protocol):
    """A key that can check one kind of note signature.

    ``verify`` receives the note text (including its final newline) and the
    signature bytes that follow the key id, and builds the signed message
    itself: plain Ed25519 signs the text, a cosignature signs a header plus the
    text. ``verify`` must return ``False`` rather than raise on a bad signature.
    """

    @property
    def name(self) -> str:
        """The key name, as it appears in signature lines."""
        ...

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id."""
        ...

    def verify(self, text: str, sig: bytes) -> bool:
        """Return whether ``sig`` is a valid signature over ``text``."""
        ...


@runtime_checkable
class Signer(Protocol):
    """A key that produces note signatures over the note text."""

    @property
    def name(self) -> str:
        """The key name, as it appears in signature lines."""
        ...

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id."""
        ...

    def sign(self, text: str) -> bytes:
        """Return the signature bytes (without key id) over ``text``."""
        ...


class KeyIdentity:
    """A key name bound to a raw Ed25519 public key, for one signature type.

    Note keys (type 0x01) and witness cosigning keys (type 0x04) differ only in
    the type byte that enters the key id and the vkey string; both verifiers and
    signers of both kinds share this part.
    """

    SIG_TYPE = SIG_TYPE_ED25519

    def __init__(self, name: str, public: bytes) -> None:
        check_key_name(name)
        self._name = name
        self._public = public
        self._key_id = compute_key_id(name, self.SIG_TYPE, public)

    @property
    def name(self) -> str:
        """The key name."""
        return self._name

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id (over name, type byte and key)."""
        return self._key_id

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return self._public

    def vkey_string(self) -> str:
        """Return the ``<name>+<hex id>+<base64(type || key)>`` vkey string."""
        return encode_vkey(self._name, self.SIG_TYPE, self._public)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.vkey_string()!r})"


class Ed25519NoteVerifier(KeyIdentity):
    """Verifies signed-note Ed25519 signatures (type 0x01) over the note text."""

    def __init__(self, name: str, verify_key: VerifyKey) -> None:
        """Bind a key name (by convention the log origin) to an Ed25519 public key.

        Raises:
            FormatError: if the name breaks the key name rules.
        """
        super().__init__(name, bytes(verify_key))
        self._verify_key = verify_key

    def verify(self, text: str, sig: bytes) -> bool:
        """Check an Ed25519 signature (the 64 bytes after the key id) over the note text."""
        if len(sig) != ED25519_SIGNATURE_SIZE:
            return False
        try:
            self._verify_key.verify(text.encode("utf-8"), sig)
        except (nacl.exceptions.CryptoError, UnicodeEncodeError):
            return False
        return True


class Ed25519NoteSigner(KeyIdentity):
    """Produces signed-note Ed25519 signatures (type 0x01) over the note text."""

    def __init__(self, name: str, signing_key: nacl.signing.SigningKey) -> None:
        """Bind a key name (by convention the log origin) to an Ed25519 private key.

        Raises:
            FormatError: if the name breaks the key name rules.
        """
        super().__init__(name, bytes(signing_key.verify_key))
        self._signing_key = signing_key

    def verifier(self) -> Ed25519NoteVerifier:
        """Return the matching verifier, so callers never re-derive the name pairing."""
        return Ed25519NoteVerifier(self._name, VerifyKey(bytes(self._signing_key.verify_key)))

    def sign(self, text: str) -> bytes:
        """Sign the UTF-8 note text; returns the 64-byte signature (without key id)."""
        return self._signing_key.sign(text.encode("utf-8")).signature

    def __repr__(self) -> str:
        return f"Ed25519NoteSigner(name={self._name!r}, key_id={self._key_id.hex()})"


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key id, and the bytes after the id."""

    name: str
    key_id: bytes
    sig: bytes

    def __post_init__(self) -> None:
        """Refuse values that could not be written as a valid signature line."""
        check_key_name(self.name, "signature key name")
        if not isinstance(self.key_id, bytes) or len(self.key_id) != KEY_ID_SIZE:
            raise FormatError(f"signature by {self.name!r}: key id must be {KEY_ID_SIZE} bytes")
        if not isinstance(self.sig, bytes):
            raise FormatError(f"signature by {self.name!r}: signature must be bytes")

    def to_line(self) -> str:
        """Return the signature line ``— <name> <base64(key id || sig)>\\n``."""
        return f"{SIG_PREFIX}{self.name} {base64.b64encode(self.key_id + self.sig).decode()}\n"


@dataclass(frozen=True)
class Note:
    """A signed note: the text (ending in newline) and its signature lines."""

    text: str
    signatures: list[NoteSignature] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Refuse a text the spec forbids, so every Note can be formatted."""
        _check_text(self.text)
        if len(self.signatures) > MAX_SIGNATURES:
            raise FormatError(
                f"note has {len(self.signatures)} signatures, more than {MAX_SIGNATURES}"
            )


def _check_text(text: str) -> None:
    if not isinstance(text, str):
        raise FormatError(f"note text must be str, got {type(text).__name__}")
    if not text.endswith("\n"):
        raise FormatError("note text must end with a newline")
    check_note_chars(text, "note text")


def decode_text(data: object, what: str) -> str:
    """Outside bytes or text as str; anything else is a FormatError naming ``what``."""
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            return bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(f"{what} is not valid UTF-8: {exc}") from None
    if isinstance(data, str):
        return data
    raise FormatError(f"{what} must be bytes or str, got {type(data).__name__}")


def parse_note(data: bytes | str) -> Note:
    """Parse a signed note strictly, without verifying it.

    The text is separated from the signatures at the *last* blank line, lines
    are split on ``"\\n"`` only (``str.splitlines`` would also split on U+2028
    and ``\\x1c``, changing what was signed), and every signature line must be
    exactly ``— <name> <canonical base64>``.

    Args:
        data: the note as UTF-8 bytes or text.

    Returns:
        The parsed note. Its text must still be verified before use.

    Raises:
        FormatError: naming what is malformed.
    """
    msg = decode_text(data, "note")
    check_note_chars(msg, "note")
    if not msg.endswith("\n"):
        raise FormatError("note must end with a newline")
    split = msg.rfind("\n\n")
    if split < 0:
        raise FormatError("note has no blank line separating text from signatures")
    text = msg[: split + 1]
    block = msg[split + 2 :]
    if not block:
        raise FormatError("note has no signature lines after the last blank line")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise FormatError(f"note has {len(lines)} signature lines, more than {MAX_SIGNATURES}")
    signatures = [_parse_sig_line(line, n) for n, line in enumerate(lines, start=1)]
    return Note(text=text, signatures=signatures)


def _parse_sig_line(line: str, n: int) -> NoteSignature:
    if not line.startswith(SIG_PREFIX):
        raise FormatError(
            f"signature line {n} must start with an em dash (U+2014) and a space: {line[:20]!r}"
        )
    rest = line[len(SIG_PREFIX) :]
    name, sep, b64 = rest.partition(" ")
    if not sep:
        raise FormatError(f"signature line {n} has no space between key name and signature")
    check_key_name(name, f"signature line {n} key name")
    raw = strict_b64decode(b64, f"signature line {n}")
    if len(raw) < KEY_ID_SIZE:
        raise FormatError(
            f"signature line {n} decodes to {len(raw)} bytes, "
            f"less than the {KEY_ID_SIZE}-byte key id"
        )
    return NoteSignature(name=name, key_id=raw[:KEY_ID_SIZE], sig=raw[KEY_ID_SIZE:])


def format_note(note: Note) -> str:
    """Serialise a note: text, blank line, one line per signature.

    Args:
        note: the note; it must carry at least one signature.

    Returns:
        The note as text; ``parse_note`` gives back an equal note.

    Raises:
        FormatError: if the note has no signatures (an unsigned note is not a
            signed note and would not parse back).
    """
    _check_text(note.text)
    if not note.signatures:
        raise FormatError("cannot format a note without signatures")
    return note.text + "\n" + "".join(sig.to_line() for sig in note.signatures)


def sign_note(text: str, signers: Sequence[Signer]) -> Note:
    """Sign ``text`` with each signer, in order.

    Args:
        text: the note text; must end with a newline and contain no control
            characters other than newline.
        signers: at least one signer.

    Returns:
        The signed note.

    Raises:
        FormatError: if the text is not a valid note text or no signer is given.
    """
    _check_text(text)
    if not signers:
        raise FormatError("sign_note needs at least one signer")
    sigs = [NoteSignature(s.name, s.key_id, s.sign(text)) for s in signers]
    return Note(text=text, signatures=sigs)


def add_signature(note: Note, sig: NoteSignature) -> Note:
    """Return a copy of ``note`` with ``sig`` appended (e.g. a witness cosignature).

    Args:
        note: the note to extend; it is not modified.
        sig: the signature line to add.

    Returns:
        A new note.

    Raises:
        FormatError: if that would exceed :data:`MAX_SIGNATURES`.
    """
    return Note(text=note.text, signatures=[*note.signatures, sig])


def verify_note(note: Note, verifiers: Iterable[Verifier]) -> list[str]:
    """Verify a note against a set of known keys.

    Signatures are matched to verifiers by (key name, key id) only; lines from
    unknown keys are ignored, even if they share a name or an id with a known
    key. Every signature from a known key is checked.

    Args:
        note: the parsed note.
        verifiers: the known keys (Ed25519 note keys, cosigners, ...).

    Returns:
        The names of the known keys whose signatures verified, each once, in
        the order of the signature lines.

    Raises:
        VerificationError: if a known key's signature does not verify, or if
            no known key signed the note.
    """
    known: dict[tuple[str, bytes], Verifier] = {}
    for v in verifiers:
        known[(v.name, bytes(v.key_id))] = v
    verified: list[str] = []
    for sig in note.signatures:
        v = known.get((sig.name, sig.key_id))
        if v is None:
            continue
        if not v.verify(note.text, sig.sig):
            raise VerificationError(
                f"signature by known key {sig.name} (key id {sig.key_id.hex()}) does not verify"
            )
        if sig.name not in verified:
            verified.append(sig.name)
    if not verified:
        seen = ", ".join(f"{s.name}+{s.key_id.hex()}" for s in note.signatures) or "none"
        wanted = ", ".join(f"{name}+{kid.hex()}" for name, kid in known) or "none"
        raise VerificationError(
            f"no signature from a known key: note signed by [{seen}], known keys [{wanted}]"
        )
    return verified


def parse_vkey(vkey: str) -> Ed25519NoteVerifier:
    """Parse an Ed25519 note verifier key string (signature type 0x01).

    Args:
        vkey: ``<name>+<8 hex key id>+<base64(0x01 || 32-byte key)>``.

    Returns:
        The verifier.

    Raises:
        FormatError: if the string is malformed, has another type byte
            (e.g. a 0x04 cosigner key) or its key id does not match.
    """
    name, public_key = decode_vkey(vkey, SIG_TYPE_ED25519, ED25519_PUBLIC_KEY_SIZE)
    return Ed25519NoteVerifier(name, VerifyKey(public_key))
