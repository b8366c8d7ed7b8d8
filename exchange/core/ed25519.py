"""The one Ed25519 verification rule: exactly what libsodium accepts, checked faster.

Ed25519 verifiers disagree on edge cases (non-canonical encodings, small- and
mixed-order points, the cofactored or cofactorless equation). A hostile issuer
holds its own key, so it can craft a signature that one verifier accepts and
another rejects; if the node accepted anything an auditor's verifier (libsodium,
or the console's WebCrypto) rejects, the federation would hold entries nobody
else can verify. So the node accepts **exactly** what libsodium's
``crypto_sign_verify_detached`` accepts (releases 1.0.18 to 1.0.22, the ones
PyNaCl bundles; ``src/libsodium/crypto_sign/ed25519/ref10/open.c``):

1. S (the signature's second half) is canonical: S < L;
2. R (its first half) is not the encoding of a point of small order (a fixed
   list of byte strings, sign bit ignored);
3. the public key A is canonical (its y < p) and not of small order (the same
   list);
4. A decodes to a curve point;
5. with h = SHA-512(R || A || M) mod L, the encoding of [S]B - [h]A equals the
   32 bytes of R (cofactorless, a byte comparison: R must also be canonical).

:class:`VerifyKey` checks 1-3 here in Python (3 once per key) and hands 4-5 to
ed25519-dalek's ``verify_strict`` through ``solders`` (``Signature.verify``,
solana-signature 3.4: ``VerifyingKey::try_from(A)?.verify_strict(M, sig)``),
which is the same cofactorless equation over the same bytes (A as given,
hashed as given; R compared as bytes) plus checks 1 and 2 of its own; it
decodes non-canonical A, which check 3 has already refused. It costs about
two thirds of libsodium's time per signature on this machine.

The equality is tested, not assumed (``tests/unit/core/test_ed25519.py``): the
ed25519-speccheck edge cases, Wycheproof's Ed25519 vectors, and a property test
comparing accept/reject with PyNaCl on mutated signatures, keys and messages.
Solana plans to move ``Signature.verify`` to ZIP-215 (cofactored) rules, which
accept more; so the dependency is pinned, and at import this module checks the
fast path on two signatures that only a cofactored verifier accepts (speccheck
cases 4 and 5) and one valid signature: if the fast path disagrees with
libsodium on any of them, every verification goes to libsodium (PyNaCl).

Signing stays with PyNaCl (``nacl.signing.SigningKey``).
"""

from __future__ import annotations

import nacl.bindings
import nacl.exceptions

__all__ = ["FAST_PATH", "VerifyKey", "key_is_acceptable", "verify"]

#: The order of the prime-order subgroup (the base point's order).
L = 2**252 + 27742317777372353535851937790883648493
#: The field's prime.
P = 2**255 - 19

_SIZE = 32
_SIG_SIZE = 64

# libsodium's ge25519_has_small_order() list: every encoding of a point of order
# 1, 2, 4 or 8, canonical or not, compared with the sign bit (bit 255) cleared.
# Both sign-bit spellings are listed, so a set lookup does the comparison.
_SMALL_ORDER_Y = (
    bytes(32),  # 0 (order 4)
    (1).to_bytes(32, "little"),  # 1 (order 1)
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),  # order 8
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),  # order 8
    (P - 1).to_bytes(32, "little"),  # p-1 (order 2)
    P.to_bytes(32, "little"),  # p, a non-canonical 0 (order 4)
    (P + 1).to_bytes(32, "little"),  # p+1, a non-canonical 1 (order 1)
)
SMALL_ORDER_ENCODINGS = frozenset(
    y[:31] + bytes((y[31] | sign,)) for y in _SMALL_ORDER_Y for sign in (0x00, 0x80)
)


def _canonical_point(encoding: bytes) -> bool:
    """libsodium's ge25519_is_canonical: the y coordinate (sign bit cleared) is below p."""
    return int.from_bytes(encoding, "little") & ((1 << 255) - 1) < P


def key_is_acceptable(public_key: bytes) -> bool:
    """Checks 3 of the rule: 32 bytes, canonical and not of small order.

    A key that fails can verify nothing (libsodium refuses every signature under
    it); whether it lies on the curve (check 4) is left to the verification.
    """
    return (
        len(public_key) == _SIZE
        and _canonical_point(public_key)
        and public_key not in SMALL_ORDER_ENCODINGS
    )


def _libsodium(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """libsodium's own answer (through PyNaCl's binding)."""
    try:
        return nacl.bindings.crypto_sign_open(signature + message, public_key) is not None
    except nacl.exceptions.BadSignatureError:
        return False


try:  # the fast path's library; without it, libsodium does everything
    from solders.pubkey import Pubkey as _Pubkey
    from solders.signature import Signature as _Signature
except ImportError:  # pragma: no cover - solders is a declared dependency
    _Pubkey = _Signature = None  # type: ignore[assignment,misc]


# Signatures on which a cofactored (ZIP-215) verifier and libsodium disagree:
# ed25519-speccheck cases 4 and 5 (mixed-order A; R mixed-order and of order L),
# valid only under the cofactored equation; and one ordinary valid signature
# (RFC 8032 section 7.1, TEST 1). (public key, message, signature, libsodium).
_SELF_TEST = (
    (
        "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
        "160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed512"
        "5ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09",
        False,
    ),
    (
        "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
        "21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7"
        "e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405",
        False,
    ),
    (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        True,
    ),
)


def _fast_path_agrees() -> bool:
    """Whether the fast path answers as libsodium does on the self-test signatures."""
    if _Signature is None:
        return False
    try:
        for key, msg, sig, expected in _SELF_TEST:
            k, m, s = bytes.fromhex(key), bytes.fromhex(msg), bytes.fromhex(sig)
            if _libsodium(k, m, s) is not expected:
                return False
            if VerifyKey(k, fast=True).verify_bool(m, s) is not expected:
                return False
    except Exception:  # a changed binding: do not guess, use libsodium
        return False
    return True


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is a valid Ed25519 signature of ``message`` by ``public_key``.

    Exactly libsodium's accept set (see the module docstring); wrong lengths are
    simply invalid.
    """
    if len(public_key) != _SIZE or len(signature) != _SIG_SIZE:
        return False
    return VerifyKey(public_key).verify_bool(message, signature)


class VerifyKey:
    """An Ed25519 public key; a drop-in for ``nacl.signing.VerifyKey`` in verification.

    Same constructor, ``verify`` and exceptions (``nacl.exceptions.TypeError`` /
    ``ValueError`` for wrong types and lengths, ``BadSignatureError`` for a
    signature that does not verify), so callers keep their error handling. The
    key's own checks (canonical, not of small order) are done once, here; build
    one per key and reuse it.
    """

    __slots__ = ("_key", "_pubkey", "_usable")

    def __init__(self, key: bytes, *, fast: bool | None = None) -> None:
        """``fast``: whether to verify through ed25519-dalek (default :data:`FAST_PATH`;
        the import-time self-test asks for it explicitly)."""
        if not isinstance(key, bytes):
            raise nacl.exceptions.TypeError("VerifyKey must be created from 32 bytes")
        if len(key) != _SIZE:
            raise nacl.exceptions.ValueError(f"The key must be exactly {_SIZE} bytes long")
        self._key = key
        self._usable = key_is_acceptable(key)
        use_fast = FAST_PATH if fast is None else fast
        self._pubkey = _Pubkey(key) if (use_fast and self._usable) else None  # type: ignore[misc]

    def __bytes__(self) -> bytes:
        return self._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, VerifyKey):
            return self._key == other._key
        return NotImplemented

    def __repr__(self) -> str:
        return f"VerifyKey({self._key.hex()})"

    def verify_bool(self, message: bytes, signature: bytes) -> bool:
        """The rule itself: True when libsodium would accept the signature.

        With the fast path: checks 1 and 2 here (written out, not called: this runs
        once per log entry, and two function calls cost as much as the checks; S
        below 2**252, its top byte below 0x10, is below L without the integer
        conversion), then ed25519-dalek's verify_strict for checks 4 and 5 (it
        repeats 1, 2 and A's small order). The import-time self-test runs this
        same method, so what it vouches for is what verifies.
        """
        pubkey = self._pubkey
        if pubkey is None:
            if len(signature) != _SIG_SIZE or not self._usable:
                return False
            return _libsodium(self._key, message, signature)
        if len(signature) != _SIG_SIZE:
            return False
        if signature[63] >= 0x10 and int.from_bytes(signature[32:], "little") >= L:
            return False
        if signature[:32] in SMALL_ORDER_ENCODINGS:
            return False
        return bool(_Signature(signature).verify(pubkey, message))  # type: ignore[misc]

    def verify(self, smessage: bytes, signature: bytes | None = None) -> bytes:
        """Verify like ``nacl.signing.VerifyKey.verify``: return the message or raise.

        ``verify(message, signature)`` with a detached 64-byte signature, or
        ``verify(signed)`` with the signature in front of the message.

        Raises:
            nacl.exceptions.ValueError: the signature is not 64 bytes.
            nacl.exceptions.BadSignatureError: it does not verify.
        """
        if signature is None:
            smessage, signature = smessage[_SIG_SIZE:], smessage[:_SIG_SIZE]
        if not isinstance(smessage, bytes) or not isinstance(signature, bytes):
            raise nacl.exceptions.TypeError("Verification takes bytes")
        if len(signature) != _SIG_SIZE:
            raise nacl.exceptions.ValueError(
                f"The signature must be exactly {_SIG_SIZE} bytes long"
            )
        if not self.verify_bool(smessage, signature):
            raise nacl.exceptions.BadSignatureError("Signature was forged or corrupt")
        return smessage


#: True when verification goes through the fast path (ed25519-dalek), False
#: when through libsodium; the accept set is the same either way. Set once, last,
#: before any caller can build a key (``VerifyKey`` reads it at construction).
FAST_PATH = _fast_path_agrees()
