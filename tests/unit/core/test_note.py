"""C2SP signed notes: the spec's example, every FORMATS.md trap, round trips, fuzzing."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from exchange.core.errors import FormatError, VerificationError
from exchange.core.note import (
    MAX_SIGNATURES,
    Ed25519NoteSigner,
    Ed25519NoteVerifier,
    Note,
    NoteSignature,
    Verifier,
    add_signature,
    check_key_name,
    check_note_chars,
    compute_key_id,
    format_note,
    parse_note,
    parse_vkey,
    sign_note,
    strict_b64decode,
    verify_note,
)

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
C2SP = DATA / "c2sp"

KEY = SigningKey(bytes(range(32)))
OTHER_KEY = SigningKey(bytes(range(1, 33)))
SIGNER = Ed25519NoteSigner("yrd/330000", KEY)
VERIFIER = SIGNER.verifier()
TEXT = "yrd/330000\n42\nhello\n"

# Signing inside examples is slow-ish; never fail on timing, only on behaviour.
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _example() -> tuple[bytes, str]:
    if not (C2SP / "example.note").is_file() or not (C2SP / "example.vkey").is_file():
        pytest.skip(f"shared C2SP example data not found under {C2SP}")
    return (C2SP / "example.note").read_bytes(), (C2SP / "example.vkey").read_text().strip()


def _signed(text: str = TEXT) -> str:
    return format_note(sign_note(text, [SIGNER]))


def _noncanonical(b64: str) -> str:
    """Same bytes under b64decode, but with non-zero padding bits."""
    stripped = b64.rstrip("=")
    pad = b64[len(stripped) :]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(stripped[-1])
    assert pad, "needs a padded encoding"
    return stripped[:-1] + alphabet[last | 1] + pad


# ------------------------------------------------------------ the C2SP example


def test_c2sp_example_verifies_and_round_trips():
    raw, vkey = _example()
    verifier = parse_vkey(vkey)
    assert verifier.name == "example.com/foo"
    assert verifier.key_id.hex() == "530d903a"
    assert verifier.vkey_string() == vkey
    note = parse_note(raw)
    assert note.text == "This is an example message.\n"
    assert verify_note(note, [verifier]) == ["example.com/foo"]
    assert format_note(note).encode() == raw


def test_c2sp_example_every_flipped_byte_fails():
    raw, vkey = _example()
    verifier = parse_vkey(vkey)
    for pos in range(len(raw)):
        for mask in (0x01, 0x20):
            bad = bytearray(raw)
            bad[pos] ^= mask
            with pytest.raises((FormatError, VerificationError)):
                verify_note(parse_note(bytes(bad)), [verifier])


def test_c2sp_example_every_flipped_text_byte_fails_verification():
    raw, vkey = _example()
    verifier = parse_vkey(vkey)
    text_len = len(parse_note(raw).text.encode())
    for pos in range(text_len):
        bad = bytearray(raw)
        bad[pos] ^= 0x01
        try:
            note = parse_note(bytes(bad))
        except FormatError:
            continue  # e.g. the final newline became a control character
        with pytest.raises(VerificationError):
            verify_note(note, [verifier])


def test_key_id_is_sha256_of_name_newline_type_and_key():
    pub = bytes(KEY.verify_key)
    want = hashlib.sha256(b"yrd/330000\n\x01" + pub).digest()[:4]
    assert SIGNER.key_id == VERIFIER.key_id == compute_key_id("yrd/330000", 1, pub) == want
    vkey = VERIFIER.vkey_string()
    material = base64.b64encode(b"\x01" + pub).decode()
    assert vkey == f"yrd/330000+{want.hex()}+{material}"
    assert parse_vkey(vkey).key_id == want


def test_verifiers_satisfy_protocol():
    assert isinstance(VERIFIER, Verifier)


# ------------------------------------------------------------ parse traps


def _sig_line_b64() -> str:
    return _signed().rsplit(" ", 1)[1].rstrip("\n")


def _trap_notes() -> list[tuple[str, bytes | str]]:
    good = _signed()
    b64 = _sig_line_b64()
    line = good.split("\n\n", 1)[1]
    many = TEXT + "\n" + line * (MAX_SIGNATURES + 1)
    return [
        ("crlf", good.replace("\n", "\r\n")),
        ("cr_only_in_text", good.replace("42\n", "42\r", 1)),
        ("cr_before_final_newline", good[:-1] + "\r\n"),
        ("ascii_hyphen_instead_of_em_dash", good.replace("\u2014", "-")),
        ("double_ascii_hyphen", good.replace("\u2014", "--")),
        ("en_dash", good.replace("\u2014", "\u2013")),
        ("em_dash_without_space", good.replace("\u2014 ", "\u2014")),
        ("two_spaces_after_em_dash", good.replace("\u2014 ", "\u2014  ")),
        ("two_spaces_before_signature", good.replace(f" {b64}", f"  {b64}")),
        ("tab_before_signature", good.replace(f" {b64}", f"\t{b64}")),
        ("noncanonical_base64_padding_bits", good.replace(b64, _noncanonical(b64))),
        ("base64_missing_padding", good.replace(b64, b64.rstrip("="))),
        ("base64_urlsafe_alphabet", good.replace(b64, b64.replace("+", "-").replace("/", "_"))),
        ("base64_trailing_garbage", good.replace(b64, b64 + "AAAA")),
        ("signature_shorter_than_key_id", good.replace(b64, base64.b64encode(b"abc").decode())),
        ("empty_signature", good.replace(f" {b64}", " ")),
        ("no_final_newline", good[:-1]),
        ("no_blank_line", good.replace("\n\n", "\n")),
        ("empty_signature_block", TEXT + "\n"),
        ("blank_line_after_signatures", good + "\n"),
        ("too_many_signature_lines", many),
        ("nul_in_text", good.replace("hello", "hel\x00lo")),
        ("file_separator_in_text", good.replace("hello", "hel\x1clo")),
        ("vertical_tab_in_text", good.replace("hello", "hel\x0blo")),
        ("u2028_as_signature_line_break", TEXT + "\n" + line[:-1] + "\u2028" + line),
        ("invalid_utf8", good.encode().replace(b"hello", b"hel\xfflo")),
        ("overlong_utf8", good.encode().replace(b"hello", b"hel\xc0\xafo")),
        ("name_with_plus", good.replace("yrd/330000 ", "yrd+330000 ")),
        ("empty_name", good.replace("\u2014 yrd/330000 ", "\u2014  ")),
        ("name_with_nbsp", good.replace("\u2014 yrd/330000", "\u2014 yrd/\u00a0330000")),
        ("name_with_ideographic_space", good.replace("\u2014 yrd/330000", "\u2014 yrd\u3000x")),
        ("empty_input", ""),
        ("only_newlines", "\n\n"),
    ]


@pytest.mark.parametrize(("case", "data"), _trap_notes(), ids=[c for c, _ in _trap_notes()])
def test_parse_note_rejects_trap(case: str, data: bytes | str):
    with pytest.raises(FormatError):
        parse_note(data)


def test_noncanonical_base64_helper_really_decodes_to_same_bytes():
    b64 = _sig_line_b64()
    bad = _noncanonical(b64)
    assert bad != b64
    assert base64.b64decode(bad, validate=True) == base64.b64decode(b64)
    with pytest.raises(FormatError, match="non-canonical"):
        strict_b64decode(bad, "x")


def test_error_messages_say_what_was_wrong():
    good = _signed()
    with pytest.raises(FormatError, match="em dash"):
        parse_note(good.replace("\u2014", "-"))
    with pytest.raises(FormatError, match="control character"):
        parse_note(good.replace("\n", "\r\n"))
    with pytest.raises(FormatError, match="more than 100"):
        parse_note(TEXT + "\n" + good.split("\n\n", 1)[1] * 101)


def test_signature_count_limits():
    line = _signed().split("\n\n", 1)[1]
    for count in (1, 16, MAX_SIGNATURES):
        note = parse_note(TEXT + "\n" + line * count)
        assert len(note.signatures) == count
        assert verify_note(note, [VERIFIER]) == [SIGNER.name]
    note = sign_note(TEXT, [SIGNER] * MAX_SIGNATURES)
    with pytest.raises(FormatError):
        add_signature(note, note.signatures[0])


def test_u2028_in_text_is_not_a_line_break():
    text = "yrd/330000\nline\u2028\u2028with separators\u2029\x85\n\u2028\n"
    raw = format_note(sign_note(text, [SIGNER]))
    note = parse_note(raw)
    assert note.text == text
    assert verify_note(note, [VERIFIER]) == [SIGNER.name]
    assert len(note.signatures) == 1


def test_text_may_contain_blank_lines_split_at_last():
    text = "a\n\nb\n\n\n"
    raw = format_note(sign_note(text, [SIGNER]))
    assert parse_note(raw).text == text
    assert verify_note(parse_note(raw), [VERIFIER]) == [SIGNER.name]


def test_minimal_text_is_one_newline():
    raw = format_note(sign_note("\n", [SIGNER]))
    assert raw.startswith("\n\n\u2014 ")
    assert parse_note(raw).text == "\n"


@pytest.mark.parametrize("text", ["", "no newline", "a\r\n", "a\x00\n", "\ud800\n"])
def test_sign_note_rejects_bad_text(text: str):
    with pytest.raises(FormatError):
        sign_note(text, [SIGNER])


def test_sign_note_needs_a_signer_and_format_needs_a_signature():
    with pytest.raises(FormatError):
        sign_note(TEXT, [])
    with pytest.raises(FormatError):
        format_note(Note(TEXT, []))


# ------------------------------------------------------------ verification


def test_multiple_signers_and_unknown_keys():
    other = Ed25519NoteSigner("witness.example/a", OTHER_KEY)
    note = sign_note(TEXT, [SIGNER, other])
    assert verify_note(note, [VERIFIER]) == [SIGNER.name]
    assert verify_note(note, [other.verifier()]) == [other.name]
    assert verify_note(note, [other.verifier(), VERIFIER]) == [SIGNER.name, other.name]


def test_unknown_signature_with_garbage_is_ignored():
    junk = NoteSignature("someone.else", b"\x00\x01\x02\x03", b"garbage")
    note = add_signature(sign_note(TEXT, [SIGNER]), junk)
    assert verify_note(parse_note(format_note(note)), [VERIFIER]) == [SIGNER.name]


def test_no_known_key_fails():
    note = sign_note(TEXT, [Ed25519NoteSigner("yrd/330000", OTHER_KEY)])
    with pytest.raises(VerificationError, match="no signature from a known key"):
        verify_note(note, [VERIFIER])
    with pytest.raises(VerificationError):
        verify_note(note, [])


def test_signature_matched_by_key_id_alone_does_not_verify():
    """Same key id, other name: must be ignored, so nothing known verified."""
    real = sign_note(TEXT, [SIGNER]).signatures[0]
    impostor = NoteSignature("yrd/999999", real.key_id, real.sig)
    with pytest.raises(VerificationError, match="no signature from a known key"):
        verify_note(Note(TEXT, [impostor]), [VERIFIER])


def test_signature_matched_by_name_alone_does_not_verify():
    """Same name, other key id (another key): ignored, not tried against our key."""
    rogue = Ed25519NoteSigner("yrd/330000", OTHER_KEY)
    note = sign_note(TEXT, [rogue])
    assert note.signatures[0].name == VERIFIER.name
    assert note.signatures[0].key_id != VERIFIER.key_id
    with pytest.raises(VerificationError, match="no signature from a known key"):
        verify_note(note, [VERIFIER])


def test_bad_signature_from_known_key_fails_whole_note():
    other = Ed25519NoteSigner("witness.example/a", OTHER_KEY)
    good = sign_note(TEXT, [other, SIGNER])
    forged = NoteSignature(SIGNER.name, SIGNER.key_id, bytes(64))
    note = Note(TEXT, [good.signatures[0], forged])
    with pytest.raises(VerificationError, match="does not verify"):
        verify_note(note, [other.verifier(), VERIFIER])


def test_signature_over_other_text_fails():
    sig = sign_note("other\n", [SIGNER]).signatures[0]
    with pytest.raises(VerificationError, match="does not verify"):
        verify_note(Note(TEXT, [sig]), [VERIFIER])


# ------------------------------------------------------------ vkeys


def _vkey_traps() -> list[tuple[str, str]]:
    good = VERIFIER.vkey_string()
    name, kid, mat = good.split("+", 2)
    pub = bytes(KEY.verify_key)
    raw = base64.b64decode(mat)

    def with_name(n: str) -> str:
        k = hashlib.sha256(n.encode() + b"\n\x01" + pub).digest()[:4].hex()
        return f"{n}+{k}+{mat}"

    assert kid.upper() != kid, "test key id needs a hex letter for the uppercase case"
    type4 = base64.b64encode(b"\x04" + pub).decode()
    kid4 = hashlib.sha256(name.encode() + b"\n\x04" + pub).digest()[:4].hex()
    return [
        ("cosigner_type_0x04", f"{name}+{kid4}+{type4}"),
        ("type_0x04_with_0x01_id", f"{name}+{kid}+{type4}"),
        ("wrong_key_id", f"{name}+{'0' * 8}+{mat}"),
        ("uppercase_hex_id", f"{name}+{kid.upper()}+{mat}"),
        ("short_key_id", f"{name}+{kid[:7]}+{mat}"),
        ("key_id_with_0x", f"{name}+0x{kid[:6]}+{mat}"),
        ("key_base64_extra_padding", f"{name}+{kid}+{mat}===="),
        ("key_base64_with_line_break", f"{name}+{kid}+{mat[:10]}\n{mat[10:]}"),
        ("short_key", f"{name}+{kid}+{base64.b64encode(raw[:-1]).decode()}"),
        ("long_key", f"{name}+{kid}+{base64.b64encode(raw + b'x').decode()}"),
        ("missing_parts", f"{name}+{kid}"),
        ("empty_name", with_name("x")[1:]),
        ("name_with_space", with_name("x").replace("x", "a b", 1)),
        ("name_with_unicode_space", f"a\u2003b+{kid}+{mat}"),
        ("trailing_newline", good + "\n"),
        ("leading_space", " " + good),
    ]


@pytest.mark.parametrize(("case", "vkey"), _vkey_traps(), ids=[c for c, _ in _vkey_traps()])
def test_parse_vkey_rejects_trap(case: str, vkey: str):
    with pytest.raises(FormatError):
        parse_vkey(vkey)


@pytest.mark.parametrize("name", ["", "a+b", "a b", "a\tb", "a\u00a0b", "a\u2028b", "a\nb"])
def test_key_name_rules(name: str):
    with pytest.raises(FormatError):
        Ed25519NoteSigner(name, KEY)
    with pytest.raises(FormatError):
        Ed25519NoteVerifier(name, KEY.verify_key)


# ------------------------------------------------------------ properties

_NAME_CHARS = st.characters(
    blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="+"
)
names = st.text(_NAME_CHARS, min_size=1, max_size=20).filter(
    lambda s: not any(c.isspace() for c in s)
)
_TEXT_CHARS = st.characters(blacklist_categories=("Cs",)).filter(lambda c: c >= " " or c == "\n")
texts = st.text(_TEXT_CHARS, max_size=200).map(lambda s: s + "\n")
signatures = st.builds(
    NoteSignature, name=names, key_id=st.binary(min_size=4, max_size=4), sig=st.binary(max_size=96)
)


@SETTINGS
@given(text=texts, name=names, seed=st.binary(min_size=32, max_size=32))
def test_sign_format_parse_verify_round_trip(text: str, name: str, seed: bytes):
    signer = Ed25519NoteSigner(name, SigningKey(seed))
    raw = format_note(sign_note(text, [signer]))
    note = parse_note(raw)
    assert note.text == text
    assert format_note(note) == raw
    assert parse_note(raw.encode()) == note
    assert verify_note(note, [signer.verifier()]) == [name]
    assert parse_vkey(signer.vkey_string()).key_id == signer.key_id


@SETTINGS
@given(text=texts, sigs=st.lists(signatures, min_size=1, max_size=20))
def test_arbitrary_signature_lines_round_trip(text: str, sigs: list[NoteSignature]):
    note = Note(text, sigs)
    assert parse_note(format_note(note)) == note


@SETTINGS
@given(data=st.binary(max_size=400))
def test_parse_note_random_bytes_only_raises_format_error(data: bytes):
    try:
        note = parse_note(data)
    except FormatError:
        return
    assert format_note(note).encode() == data
    with pytest.raises(VerificationError):
        verify_note(note, [VERIFIER])


@SETTINGS
@given(data=st.text(max_size=400))
def test_parse_note_random_text_only_raises_format_error(data: str):
    with contextlib.suppress(FormatError):
        parse_note(data)


@SETTINGS
@given(prefix=st.text(max_size=40), suffix=st.text(max_size=40), cut=st.integers(0, 200))
def test_mutated_note_only_raises_library_errors(prefix: str, suffix: str, cut: int):
    good = _signed()
    cut = min(cut, len(good))
    mutated = good[:cut] + prefix + good[cut:] + suffix
    with contextlib.suppress(FormatError, VerificationError):
        verify_note(parse_note(mutated), [VERIFIER])


@SETTINGS
@given(data=st.text(max_size=120))
def test_parse_vkey_random_text_only_raises_format_error(data: str):
    with contextlib.suppress(FormatError):
        parse_vkey(data)


def _key_name_fault(name: str) -> bool:
    """The key name rules, one character at a time (the reference for the fast path)."""
    return any(
        ch == "+"
        or ch.isspace()
        or unicodedata.category(ch).startswith("Z")
        or ch < " "
        or "\ud800" <= ch <= "\udfff"
        for ch in name
    )


def _note_char_fault(text: str) -> bool:
    return any((ch < " " and ch != "\n") or "\ud800" <= ch <= "\udfff" for ch in text)


_EDGE = st.sampled_from(["+", " ", "\n", "\t", "\x1c", "\x1f", "\x7f", "\xa0", "\u2028", "\u3000",
                         "\ud800", "\udfff", "\x00", "\x0b", "~", "!", "a", "中"])  # fmt: skip


@given(st.lists(st.one_of(st.characters(), _EDGE), min_size=1, max_size=12).map("".join))
def test_key_name_check_matches_the_rule_character_by_character(name: str):
    """The regex that passes plain ASCII names agrees with the rule on any name."""
    refused = False
    try:
        check_key_name(name)
    except FormatError:
        refused = True
    assert refused == _key_name_fault(name)


@given(st.lists(st.one_of(st.characters(), _EDGE), max_size=40).map("".join))
def test_note_chars_check_matches_the_rule_character_by_character(text: str):
    refused = False
    try:
        check_note_chars(text, "text")
    except FormatError:
        refused = True
    assert refused == _note_char_fault(text)
