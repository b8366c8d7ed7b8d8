"""C2SP checkpoints: one spelling per tree head, opened only under the log's key."""

from __future__ import annotations

import base64
import contextlib
import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from exchange.core.checkpoint import (
    MAX_SIZE,
    Checkpoint,
    open_checkpoint,
    parse_checkpoint_body,
    parse_decimal,
    sign_checkpoint,
)
from exchange.core.cosignature import CosignatureSigner, cosign
from exchange.core.errors import FormatError, VerificationError
from exchange.core.note import (
    Ed25519NoteSigner,
    Note,
    add_signature,
    format_note,
    parse_note,
    sign_note,
    verify_note,
)

# Signing inside examples is slow-ish; never fail on timing, only on behaviour.
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

ORIGIN = "yrd/330000"
ROOT = hashlib.sha256(b"root").digest()
ROOT_B64 = base64.b64encode(ROOT).decode()
LOG = Ed25519NoteSigner(ORIGIN, SigningKey(bytes(range(32))))
ROGUE = Ed25519NoteSigner(ORIGIN, SigningKey(bytes(range(1, 33))))
WITNESS = CosignatureSigner("witness.example/w1", SigningKey(bytes(range(2, 34))))
CP = Checkpoint(ORIGIN, 20852163, ROOT)


def test_body_is_exactly_three_lines():
    body = CP.to_body()
    assert body == f"{ORIGIN}\n20852163\n{ROOT_B64}\n"
    assert body.count("\n") == 3
    assert parse_checkpoint_body(body) == CP


def test_c2sp_spec_example_body_parses():
    body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    cp = parse_checkpoint_body(body)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert len(cp.root_hash) == 32
    assert cp.to_body() == body


def test_empty_tree_size_zero():
    empty = Checkpoint(ORIGIN, 0, hashlib.sha256(b"").digest())
    assert parse_checkpoint_body(empty.to_body()) == empty


def test_extension_lines_kept_but_ignored():
    body = CP.to_body() + "ext one\n— looks like a signature\n"
    cp = parse_checkpoint_body(body)
    assert cp.extensions == ("ext one", "— looks like a signature")
    assert cp == CP  # extensions take no part in equality
    assert cp.to_body() == body


def _body(size: str = "7", root: str = ROOT_B64, origin: str = ORIGIN, tail: str = "") -> str:
    return f"{origin}\n{size}\n{root}\n{tail}"


_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _noncanonical(b64: str) -> str:
    """Same bytes under lenient decoding, but with non-zero padding bits."""
    stripped = b64.rstrip("=")
    last = _B64_ALPHABET.index(stripped[-1])
    return stripped[:-1] + _B64_ALPHABET[last | 1] + b64[len(stripped) :]


_NONCANONICAL_ROOT = _noncanonical(ROOT_B64)

BODY_TRAPS = [
    ("size_plus_sign", _body("+5")),
    ("size_minus", _body("-1")),
    ("size_leading_space", _body(" 7")),
    ("size_trailing_space", _body("7 ")),
    ("size_underscore", _body("7_0")),
    ("size_fullwidth_digits", _body("\uff17\uff10")),
    ("size_arabic_indic_digit", _body("\u0667")),
    ("size_leading_zero", _body("07")),
    ("size_double_zero", _body("00")),
    ("size_empty", _body("")),
    ("size_hex", _body("0x10")),
    ("size_exponent", _body("1e3")),
    ("size_2_pow_64", _body(str(2**64))),
    ("size_huge_digit_string", _body("9" * 5000)),
    ("root_noncanonical_padding_bits", _body(root=_NONCANONICAL_ROOT)),
    ("root_missing_padding", _body(root=ROOT_B64.rstrip("="))),
    ("root_31_bytes", _body(root=base64.b64encode(ROOT[:31]).decode())),
    ("root_33_bytes", _body(root=base64.b64encode(ROOT + b"x").decode())),
    ("root_hex", _body(root=ROOT.hex())),
    ("root_urlsafe", _body(root=base64.urlsafe_b64encode(b"\xff" * 32).decode())),
    ("origin_empty", _body(origin="")),
    ("crlf", _body().replace("\n", "\r\n")),
    ("no_final_newline", _body()[:-1]),
    ("two_lines", f"{ORIGIN}\n7\n"),
    ("empty_extension_line", _body(tail="ext\n\n")),
    ("control_char_in_origin", _body(origin="yrd/\x00330000")),
    ("u2028_instead_of_newline", f"{ORIGIN}\u20287\u2028{ROOT_B64}\n"),
]


@pytest.mark.parametrize(("case", "body"), BODY_TRAPS, ids=[c for c, _ in BODY_TRAPS])
def test_parse_checkpoint_body_rejects_trap(case: str, body: str):
    with pytest.raises(FormatError):
        parse_checkpoint_body(body)


def test_noncanonical_root_decodes_to_same_bytes_leniently():
    assert _NONCANONICAL_ROOT != ROOT_B64
    assert base64.b64decode(_NONCANONICAL_ROOT, validate=True) == ROOT


@pytest.mark.parametrize("text", ["0", "1", "10", "18446744073709551615"])
def test_parse_decimal_accepts_canonical(text: str):
    assert parse_decimal(text, "n") == int(text)


def test_error_message_names_the_field():
    with pytest.raises(FormatError, match=r"tree size.*'\+5'"):
        parse_checkpoint_body(_body("+5"))
    with pytest.raises(FormatError, match=r"root hash.*non-canonical"):
        parse_checkpoint_body(_body(root=_NONCANONICAL_ROOT))


@pytest.mark.parametrize(
    ("origin", "size", "root"),
    [
        ("", 1, ROOT),
        ("a\nb", 1, ROOT),
        (ORIGIN, -1, ROOT),
        (ORIGIN, 2**64, ROOT),
        (ORIGIN, True, ROOT),
        (ORIGIN, 1, ROOT[:31]),
    ],
)
def test_checkpoint_constructor_rejects_bad_values(origin: str, size: int, root: bytes):
    with pytest.raises(FormatError):
        Checkpoint(origin, size, root)


# ------------------------------------------------------------ signed checkpoints


def test_sign_and_open():
    raw = format_note(sign_checkpoint(CP, LOG))
    cp, note = open_checkpoint(raw.encode(), LOG.verifier())
    assert cp == CP
    assert note.text == CP.to_body()
    assert open_checkpoint(raw, LOG.verifier()).checkpoint == CP


def test_open_ignores_witness_cosignatures():
    note = sign_checkpoint(CP, LOG)
    note = add_signature(note, cosign(note.text, WITNESS, 1_700_000_000))
    cp, opened = open_checkpoint(format_note(note), LOG.verifier())
    assert cp == CP
    assert verify_note(opened, [WITNESS.verifier()]) == [WITNESS.name]


def test_open_requires_the_log_key():
    raw = format_note(sign_checkpoint(CP, ROGUE))
    with pytest.raises(VerificationError, match="no signature from a known key"):
        open_checkpoint(raw, LOG.verifier())


def test_open_rejects_witness_only_checkpoint():
    body = CP.to_body()
    note = Note(body, [cosign(body, WITNESS, 5)])
    with pytest.raises(VerificationError):
        open_checkpoint(format_note(note), LOG.verifier())


def test_open_rejects_tampered_size():
    raw = format_note(sign_checkpoint(CP, LOG))
    with pytest.raises(VerificationError, match="does not verify"):
        open_checkpoint(raw.replace("20852163", "20852164"), LOG.verifier())


def test_open_requires_origin_equal_to_log_key_name():
    other = Checkpoint("yrd/320000", 3, ROOT)
    raw = format_note(sign_note(other.to_body(), [LOG]))
    with pytest.raises(VerificationError, match="origin"):
        open_checkpoint(raw, LOG.verifier())


def test_open_verifies_before_parsing_body():
    raw = format_note(sign_note("not a checkpoint\n", [ROGUE]))
    with pytest.raises(VerificationError):
        open_checkpoint(raw, LOG.verifier())
    raw = format_note(sign_note("not a checkpoint\n", [LOG]))
    with pytest.raises(FormatError):
        open_checkpoint(raw, LOG.verifier())


def test_sign_checkpoint_refuses_mismatched_key_name():
    with pytest.raises(FormatError, match="origin"):
        sign_checkpoint(CP, Ed25519NoteSigner("yrd/320000", SigningKey(bytes(32))))


# ------------------------------------------------------------ properties

origins = st.text(
    st.characters(blacklist_categories=("Cs",)).filter(lambda c: c >= " "),
    min_size=1,
    max_size=40,
)
key_names = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="+"),
    min_size=1,
    max_size=30,
).filter(lambda s: not any(c.isspace() for c in s))
sizes = st.integers(0, MAX_SIZE)
roots = st.binary(min_size=32, max_size=32)


@SETTINGS
@given(origin=origins, size=sizes, root=roots)
def test_body_round_trip(origin: str, size: int, root: bytes):
    cp = Checkpoint(origin, size, root)
    body = cp.to_body()
    assert parse_checkpoint_body(body) == cp
    assert parse_checkpoint_body(body).to_body() == body


@SETTINGS
@given(origin=key_names, size=sizes, root=roots, seed=st.binary(min_size=32, max_size=32))
def test_signed_round_trip(origin: str, size: int, root: bytes, seed: bytes):
    cp = Checkpoint(origin, size, root)
    signer = Ed25519NoteSigner(origin, SigningKey(seed))
    raw = format_note(sign_checkpoint(cp, signer))
    assert parse_note(raw) == sign_checkpoint(cp, signer)
    assert open_checkpoint(raw.encode(), signer.verifier()).checkpoint == cp


@SETTINGS
@given(text=st.text(max_size=300))
def test_parse_body_random_text_only_raises_format_error(text: str):
    try:
        cp = parse_checkpoint_body(text)
    except FormatError:
        return
    assert cp.to_body() == text


@SETTINGS
@given(size_text=st.text(max_size=25))
def test_size_parser_agrees_with_canonical_form(size_text: str):
    try:
        value = parse_decimal(size_text, "size")
    except FormatError:
        return
    assert str(value) == size_text


@SETTINGS
@given(data=st.binary(max_size=300))
def test_open_random_bytes_only_raises_library_errors(data: bytes):
    with contextlib.suppress(FormatError, VerificationError):
        open_checkpoint(data, LOG.verifier())
