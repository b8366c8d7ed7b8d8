"""core.ed25519 accepts exactly what libsodium (PyNaCl) accepts.

A hostile issuer holds its own key and can craft edge-case signatures; the node
must not accept one that libsodium (the auditors' verifier) rejects, nor reject
one it accepts. Checked on the ed25519-speccheck cases, Wycheproof's vectors,
and a property test that builds signatures with torsion in A and R,
non-canonical S, small-order and non-canonical encodings, then flips bits, and
compares every answer with PyNaCl's.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nacl.exceptions
import nacl.signing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.core import ed25519
from exchange.core.ed25519 import SMALL_ORDER_ENCODINGS, VerifyKey

VECTORS = Path(__file__).resolve().parent / "ed25519_vectors"


def libsodium(pk: bytes, msg: bytes, sig: bytes) -> bool:
    try:
        nacl.signing.VerifyKey(pk).verify(msg, sig)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError):
        return False
    return True


def ours(pk: bytes, msg: bytes, sig: bytes) -> bool:
    try:
        VerifyKey(pk).verify(msg, sig)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError):
        return False
    return True


def test_the_fast_path_is_in_use() -> None:
    # solders is a declared dependency and passed the import-time self-test:
    # the speed this module exists for is real (and the rule is the same).
    assert ed25519.FAST_PATH is True


class _Cofactored:
    """A stand-in for a binding that moved to ZIP-215 rules: it accepts everything,
    as a cofactored verifier accepts speccheck cases 4 and 5."""

    def __init__(self, signature: bytes) -> None:
        self.signature = signature

    def verify(self, pubkey: object, message: bytes) -> bool:
        return True


def test_a_binding_that_accepts_more_turns_the_fast_path_off(monkeypatch) -> None:
    # The self-test runs the same VerifyKey.verify_bool that verifies entries: a
    # fast path that answers otherwise than libsodium on its cases is not used.
    monkeypatch.setattr(ed25519, "_Signature", _Cofactored)
    assert ed25519._fast_path_agrees() is False
    monkeypatch.undo()
    assert ed25519._fast_path_agrees() is True


# -- ed25519-speccheck ("Taming the many EdDSAs") ----------------------------------

SPECCHECK = json.loads((VECTORS / "speccheck_cases.json").read_text("utf-8"))
# libsodium's row of the paper's table: only case 3 (mixed-order A and R, valid
# under both equations) passes. Zebra (ZIP-215) accepts 0-5, 9, 10, 11.
LIBSODIUM_ROW = "XXXVXXXXXXXX"


@pytest.mark.parametrize("i", range(len(SPECCHECK)))
def test_speccheck_case_matches_libsodium(i: int) -> None:
    case = SPECCHECK[i]
    pk, msg, sig = (bytes.fromhex(case[k]) for k in ("pub_key", "message", "signature"))
    expected = LIBSODIUM_ROW[i] == "V"
    assert libsodium(pk, msg, sig) is expected  # the installed libsodium's rule
    assert ours(pk, msg, sig) is expected
    assert ed25519.verify(pk, msg, sig) is expected


# -- Wycheproof ----------------------------------------------------------------------

WYCHEPROOF = json.loads((VECTORS / "wycheproof_ed25519.json").read_text("utf-8"))["tests"]


@pytest.mark.parametrize("row", WYCHEPROOF, ids=[f"tc{r[0]}" for r in WYCHEPROOF])
def test_wycheproof_vector(row: list) -> None:
    _, pk_hex, msg_hex, sig_hex, result, comment = row
    pk, msg, sig = bytes.fromhex(pk_hex), bytes.fromhex(msg_hex), bytes.fromhex(sig_hex)
    expected = result == "valid"
    assert libsodium(pk, msg, sig) is expected, comment
    assert ours(pk, msg, sig) is expected, comment


# -- the same interface and errors as nacl.signing.VerifyKey ---------------------------


def test_interface_matches_pynacl() -> None:
    sk = nacl.signing.SigningKey(b"\x07" * 32)
    pk = bytes(sk.verify_key)
    signed = sk.sign(b"entry")
    key = VerifyKey(pk)
    assert bytes(key) == pk and key == VerifyKey(pk) and hash(key) == hash(VerifyKey(pk))
    assert key.verify(b"entry", signed.signature) == b"entry"
    assert key.verify(bytes(signed)) == b"entry"  # signature in front, as PyNaCl allows
    with pytest.raises(nacl.exceptions.BadSignatureError):
        key.verify(b"entrY", signed.signature)
    with pytest.raises(nacl.exceptions.ValueError):
        key.verify(b"entry", signed.signature[:63])
    with pytest.raises(nacl.exceptions.ValueError):
        VerifyKey(pk[:31])
    with pytest.raises(nacl.exceptions.TypeError):
        VerifyKey(pk.hex())  # type: ignore[arg-type]
    assert ed25519.verify(pk[:31], b"entry", signed.signature) is False


def test_a_small_order_key_verifies_nothing() -> None:
    # Under a small-order key, S = 0 with R = A "verifies" every message for a
    # cofactored or unchecked verifier; libsodium refuses the key outright.
    for enc in SMALL_ORDER_ENCODINGS:
        sig = enc + bytes(32)
        assert libsodium(enc, b"any message", sig) is False
        assert ours(enc, b"any message", sig) is False


# -- property test: signatures built with the curve's edge cases -----------------------

Q = 2**255 - 19
L = ed25519.L
D = -121665 * pow(121666, Q - 2, Q) % Q
SQRT_M1 = pow(2, (Q - 1) // 4, Q)


def _recover_x(y: int, sign: int) -> int | None:
    xx = (y * y - 1) * pow(D * y * y + 1, Q - 2, Q) % Q
    x = pow(xx, (Q + 3) // 8, Q)
    if (x * x - xx) % Q:
        x = x * SQRT_M1 % Q
    if (x * x - xx) % Q:
        return None
    if x == 0 and sign:
        return None
    return Q - x if x & 1 != sign else x


def decode(enc: bytes) -> tuple[int, int, int, int] | None:
    y = int.from_bytes(enc, "little") & ((1 << 255) - 1)
    if y >= Q:
        return None
    x = _recover_x(y, enc[31] >> 7)
    return None if x is None else (x, y, 1, x * y % Q)


def add(p: tuple, q: tuple) -> tuple:
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % Q
    b = (y1 + x1) * (y2 + x2) % Q
    c = 2 * t1 * t2 * D % Q
    d = 2 * z1 * z2 % Q
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % Q, g * h % Q, f * g % Q, e * h % Q)


def mul(k: int, p: tuple) -> tuple:
    r = (0, 1, 1, 0)
    while k:
        if k & 1:
            r = add(r, p)
        p = add(p, p)
        k >>= 1
    return r


def encode(p: tuple) -> bytes:
    x, y, z, _ = p
    zi = pow(z, Q - 2, Q)
    x, y = x * zi % Q, y * zi % Q
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


BASE = decode((4 * pow(5, Q - 2, Q) % Q).to_bytes(32, "little"))
T8 = decode(bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"))
TORSION = [mul(i, T8) for i in range(8)]  # the 8 points of small order


def test_torsion_points_are_the_small_order_list() -> None:
    assert {encode(t) for t in TORSION} <= SMALL_ORDER_ENCODINGS
    assert encode(mul(8, T8)) == encode(TORSION[0])
    assert encode(mul(L, BASE)) == encode(TORSION[0])


def build(a: int, r: int, msg: bytes, a_torsion: int, r_torsion: int, s_over: bool):
    """A signature by scalar a (key aB + torsion), nonce rB + torsion, S maybe + L."""
    pk = encode(add(mul(a, BASE), TORSION[a_torsion]))
    R = encode(add(mul(r, BASE), TORSION[r_torsion]))
    h = int.from_bytes(hashlib.sha512(R + pk + msg).digest(), "little") % L
    s = (r + h * a) % L
    if s_over and s + L < 2**256:
        s += L
    return pk, R + s.to_bytes(32, "little")


def non_canonical(enc: bytes) -> bytes:
    """Another spelling of the same y when one exists (y < 19: y + p), else enc."""
    y = int.from_bytes(enc, "little") & ((1 << 255) - 1)
    if y + Q < 2**255:
        return ((y + Q) | (enc[31] >> 7 << 255)).to_bytes(32, "little")
    return enc


EDITS = st.sampled_from(
    ["none", "flip_sig", "flip_pk", "flip_msg", "small_R", "small_A", "noncanon_R", "noncanon_A"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    a=st.integers(1, L - 1),
    r=st.integers(1, L - 1),
    msg=st.binary(max_size=40),
    a_torsion=st.sampled_from([0, 0, 0, 1, 2, 4, 7]),
    r_torsion=st.sampled_from([0, 0, 0, 1, 2, 4, 7]),
    s_over=st.booleans(),
    edit=EDITS,
    bit=st.integers(0, 511),
    small=st.sampled_from(sorted(SMALL_ORDER_ENCODINGS)),
)
def test_accepts_exactly_what_libsodium_accepts(
    a, r, msg, a_torsion, r_torsion, s_over, edit, bit, small
) -> None:
    pk, sig = build(a, r, msg, a_torsion, r_torsion, s_over)
    if edit == "flip_sig":
        sig = bytearray(sig)
        sig[bit // 8] ^= 1 << (bit % 8)
        sig = bytes(sig)
    elif edit == "flip_pk":
        pk = bytearray(pk)
        pk[(bit // 8) % 32] ^= 1 << (bit % 8)
        pk = bytes(pk)
    elif edit == "flip_msg":
        msg = bytes([(msg[0] if msg else 0) ^ (1 << (bit % 8))]) + msg[1:]
    elif edit == "small_R":
        sig = small + sig[32:]
    elif edit == "small_A":
        pk = small
    elif edit == "noncanon_R":
        sig = non_canonical(small) + sig[32:]
    elif edit == "noncanon_A":
        pk = non_canonical(small)
    assert ours(pk, msg, sig) is libsodium(pk, msg, sig)


def test_mixed_order_keys_split_the_two_equations() -> None:
    """With torsion in A, cofactored and cofactorless verifiers disagree; we side with libsodium.

    A signature under A = aB + T (T of order 8) satisfies the cofactorless
    equation only when h·T = 0, i.e. h divisible by 8; a ZIP-215 verifier
    accepts it always. Both outcomes must occur here and match PyNaCl.
    """
    seen = set()
    for r in range(1, 60):
        pk, sig = build(12345, r, b"m", 1, 0, False)
        expected = libsodium(pk, b"m", sig)
        assert ours(pk, b"m", sig) is expected
        seen.add(expected)
    assert seen == {True, False}


def test_non_canonical_keys_are_refused_though_they_decode() -> None:
    # y + p for a y < 19 on the curve: ed25519-dalek would decode it (reduced
    # mod p); libsodium refuses the key, and so does the rule.
    found = 0
    for y in range(2, 19):
        if decode(y.to_bytes(32, "little")) is None:
            continue
        enc = (y + Q).to_bytes(32, "little")
        assert ed25519.key_is_acceptable(enc) is False
        sig = encode(mul(7, BASE)) + (5).to_bytes(32, "little")
        assert ours(enc, b"m", sig) is libsodium(enc, b"m", sig) is False
        found += 1
    assert found > 0


def test_every_verifier_in_exchange_uses_the_rule() -> None:
    """One home: no module builds PyNaCl's VerifyKey (libsodium) to verify.

    The accept set is the same, but a second verifier is a second place for the
    rule to drift (and the slow one). Signing keys stay with PyNaCl.
    """
    import ast

    root = Path(__file__).resolve().parents[3] / "exchange"
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "ed25519.py" and path.parent.name == "core":
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "nacl.signing":
                if any(a.name == "VerifyKey" for a in node.names):
                    offenders.append(f"{path.relative_to(root)}: imports nacl's VerifyKey")
            elif (
                isinstance(node, ast.Attribute)
                and node.attr == "VerifyKey"
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "signing"
            ):
                offenders.append(f"{path.relative_to(root)}:{node.lineno}: nacl.signing.VerifyKey")
    assert offenders == []
