"""C2SP tlog-proof: exact layout, strict parsing, and inclusion under a signed checkpoint."""

from __future__ import annotations

import base64
import contextlib
import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from exchange.core.checkpoint import Checkpoint, sign_checkpoint
from exchange.core.cosignature import CosignatureSigner, cosign
from exchange.core.errors import FormatError, VerificationError
from exchange.core.note import (
    Ed25519NoteSigner,
    add_signature,
    format_note,
    parse_note,
    verify_note,
)
from exchange.core.tlogproof import (
    HEADER,
    MAX_PROOF_HASHES,
    TlogProof,
    format_tlog_proof,
    parse_tlog_proof,
    verify_tlog_proof,
)

# Signing inside examples is slow-ish; never fail on timing, only on behaviour.
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

ORIGIN = "yrd/330000"
LOG = Ed25519NoteSigner(ORIGIN, SigningKey(bytes(range(32))))
ROGUE = Ed25519NoteSigner(ORIGIN, SigningKey(bytes(range(1, 33))))
WITNESS = CosignatureSigner("witness.example/w1", SigningKey(bytes(range(2, 34))))


# An independent RFC 6962 reference (recursive MTH and PATH), so these tests do
# not share code with exchange.core.merkle.
def _leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def _mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return _node(_mth(leaves[:k]), _mth(leaves[k:]))


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) <= 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _tree(n: int) -> list[bytes]:
    return [_leaf(f"entry {i}".encode()) for i in range(n)]


def _note_for(leaves: list[bytes], signer: Ed25519NoteSigner = LOG, origin: str = ORIGIN) -> str:
    cp = Checkpoint(origin, len(leaves), _mth(leaves))
    note = sign_checkpoint(cp, signer)
    note = add_signature(note, cosign(note.text, WITNESS, 1_700_000_000))
    return format_note(note)


LEAVES = _tree(7)
NOTE = _note_for(LEAVES)


def _proof(index: int = 3, extra: bytes | None = None) -> TlogProof:
    return TlogProof(index, _path(index, LEAVES), NOTE, extra)


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


# ------------------------------------------------------------ layout


def test_exact_layout_with_extra():
    p = _proof(3, extra=b"age-v1.2.1-darwin-arm64.tar.gz")
    text = format_tlog_proof(p)
    head, note = text.split("\n\n", 1)
    lines = head.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1"
    assert lines[1] == "extra " + _b64(b"age-v1.2.1-darwin-arm64.tar.gz")
    assert lines[2] == "index 3"
    assert lines[3:] == [_b64(h) for h in p.proof]
    assert note == NOTE
    assert parse_tlog_proof(text) == p


def test_exact_layout_without_extra():
    p = _proof(0)
    text = format_tlog_proof(p)
    assert text.startswith(f"{HEADER}\nindex 0\n{_b64(p.proof[0])}\n")
    assert text.endswith("\n\n" + NOTE)
    assert parse_tlog_proof(text) == p
    assert parse_tlog_proof(text.encode()) == p


def test_empty_extra_and_empty_proof():
    leaves = _tree(1)
    p = TlogProof(0, [], _note_for(leaves), b"")
    text = format_tlog_proof(p)
    assert text.startswith(f"{HEADER}\nextra \nindex 0\n\n")
    assert parse_tlog_proof(text) == p
    assert verify_tlog_proof(p, leaves[0], LOG.verifier()).size == 1


def test_spec_example_head_parses():
    """The head of the example in c2sp.org/tlog-proof, with a real checkpoint note."""
    head = (
        "c2sp.org/tlog-proof@v1\n"
        "extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ\n"
        "index 73894\n"
        "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n"
        "B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=\n"
        "EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=\n"
        "RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=\n"
        "AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=\n"
    )
    log = Ed25519NoteSigner("example.com/fancylog", SigningKey(bytes(32)))
    root = base64.b64decode("sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=")
    note = format_note(sign_checkpoint(Checkpoint("example.com/fancylog", 109482, root), log))
    p = parse_tlog_proof(head + "\n" + note)
    assert p.index == 73894
    assert len(p.proof) == 5
    assert p.extra is not None and p.extra.startswith(b"age-v1.2.1-darwin-arm64.tar.gz")
    assert p.checkpoint_note == note
    assert format_tlog_proof(p) == head + "\n" + note


# ------------------------------------------------------------ verification


def test_every_index_of_small_trees_verifies():
    for n in range(1, 18):
        leaves = _tree(n)
        note = _note_for(leaves)
        for i in range(n):
            p = parse_tlog_proof(format_tlog_proof(TlogProof(i, _path(i, leaves), note)))
            cp = verify_tlog_proof(p, leaves[i], LOG.verifier())
            assert (cp.origin, cp.size, cp.root_hash) == (ORIGIN, n, _mth(leaves))


def test_witness_cosignatures_are_checkable_on_the_proof_note():
    p = _proof()
    note = parse_note(p.checkpoint_note)
    assert verify_note(note, [WITNESS.verifier()]) == [WITNESS.name]


def test_extra_data_is_not_authenticated():
    assert verify_tlog_proof(_proof(extra=b"anything"), LEAVES[3], LOG.verifier()).size == 7


def test_wrong_leaf_fails():
    with pytest.raises(VerificationError):
        verify_tlog_proof(_proof(3), LEAVES[4], LOG.verifier())


def test_proof_for_other_index_fails():
    p = TlogProof(4, _path(3, LEAVES), NOTE)
    with pytest.raises(VerificationError):
        verify_tlog_proof(p, LEAVES[3], LOG.verifier())


def test_tampered_proof_hash_fails():
    path = _path(3, LEAVES)
    path[1] = bytes(32)
    with pytest.raises(VerificationError):
        verify_tlog_proof(TlogProof(3, path, NOTE), LEAVES[3], LOG.verifier())


@pytest.mark.parametrize("change", ["drop_last", "add_extra"])
def test_wrong_proof_length_fails(change: str):
    path = _path(3, LEAVES)
    path = path[:-1] if change == "drop_last" else [*path, bytes(32)]
    with pytest.raises(VerificationError):
        verify_tlog_proof(TlogProof(3, path, NOTE), LEAVES[3], LOG.verifier())


def test_index_beyond_size_fails():
    p = TlogProof(7, _path(3, LEAVES), NOTE)
    with pytest.raises(VerificationError, match="not below"):
        verify_tlog_proof(p, LEAVES[3], LOG.verifier())


def test_checkpoint_by_other_key_fails():
    p = TlogProof(3, _path(3, LEAVES), _note_for(LEAVES, ROGUE))
    with pytest.raises(VerificationError, match="no signature from a known key"):
        verify_tlog_proof(p, LEAVES[3], LOG.verifier())


def test_checkpoint_of_other_tree_fails():
    other = _tree(8)
    p = TlogProof(3, _path(3, LEAVES), _note_for(other))
    with pytest.raises(VerificationError):
        verify_tlog_proof(p, LEAVES[3], LOG.verifier())


def test_bad_leaf_hash_length_fails():
    with pytest.raises(VerificationError, match="32 bytes"):
        verify_tlog_proof(_proof(), LEAVES[3][:31], LOG.verifier())


# ------------------------------------------------------------ parse traps

_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _noncanonical(b64: str) -> str:
    stripped = b64.rstrip("=")
    last = _B64_ALPHABET.index(stripped[-1])
    return stripped[:-1] + _B64_ALPHABET[last | 1] + b64[len(stripped) :]


def _traps() -> list[tuple[str, str | bytes]]:
    good = format_tlog_proof(_proof(3, extra=b"xy"))
    h0 = _b64(_path(3, LEAVES)[0])
    extra = _b64(b"xy")
    assert _noncanonical(h0) != h0 and _noncanonical(extra) != extra
    many = good.replace(f"{h0}\n", f"{h0}\n" * (MAX_PROOF_HASHES + 1), 1)
    return [
        ("crlf", good.replace("\n", "\r\n")),
        ("cr_in_header", good.replace("\n", "\r\n", 1)),
        ("wrong_version", good.replace("tlog-proof@v1", "tlog-proof@v2")),
        ("header_trailing_space", good.replace(HEADER, HEADER + " ")),
        ("header_uppercase", good.replace("c2sp.org", "C2SP.org")),
        ("bom_before_header", "\ufeff" + good),
        ("index_plus_sign", good.replace("index 3", "index +3")),
        ("index_leading_zero", good.replace("index 3", "index 03")),
        ("index_fullwidth", good.replace("index 3", "index \uff13")),
        ("index_two_spaces", good.replace("index 3", "index  3")),
        ("index_trailing_space", good.replace("index 3", "index 3 ")),
        ("index_tab", good.replace("index 3", "index\t3")),
        ("index_capitalised", good.replace("index 3", "Index 3")),
        ("index_negative", good.replace("index 3", "index -3")),
        ("index_too_large", good.replace("index 3", f"index {2**64}")),
        ("index_missing", good.replace("index 3\n", "")),
        ("extra_after_index", good.replace(f"extra {extra}\nindex 3", f"index 3\nextra {extra}")),
        ("extra_twice", good.replace(f"extra {extra}", f"extra {extra}\nextra {extra}")),
        ("extra_noncanonical", good.replace(f"extra {extra}", f"extra {_noncanonical(extra)}")),
        ("extra_no_padding", good.replace(f"extra {extra}", f"extra {extra.rstrip('=')}")),
        ("hash_noncanonical_padding_bits", good.replace(h0, _noncanonical(h0))),
        ("hash_missing_padding", good.replace(h0, h0.rstrip("="))),
        ("hash_31_bytes", good.replace(h0, _b64(bytes(31)))),
        ("hash_33_bytes", good.replace(h0, _b64(bytes(33)))),
        ("hash_hex", good.replace(h0, "00" * 32)),
        ("too_many_hashes", many),
        ("u2028_between_hashes", good.replace(f"{h0}\n", f"{h0}\u2028", 1)),
        ("no_blank_line", good.replace("\n\n", "\n", 1)),
        ("two_blank_lines", good.replace("\n\n", "\n\n\n", 1)),
        ("checkpoint_missing", good.split("\n\n", 1)[0] + "\n\n"),
        ("checkpoint_ascii_hyphen", good.replace("\u2014 ", "- ")),
        ("checkpoint_not_a_checkpoint", good.replace("\n7\n", "\n07\n", 1)),
        ("nul_byte", good.replace("index", "in\x00dex")),
        ("invalid_utf8", good.encode().replace(b"index", b"ind\xffx")),
        ("empty", ""),
        ("header_only", HEADER + "\n"),
    ]


@pytest.mark.parametrize(("case", "text"), _traps(), ids=[c for c, _ in _traps()])
def test_parse_tlog_proof_rejects_trap(case: str, text: str | bytes):
    with pytest.raises(FormatError):
        parse_tlog_proof(text)


def test_error_messages_say_what_was_wrong():
    good = format_tlog_proof(_proof(3))
    with pytest.raises(FormatError, match=r"index.*'\+3'"):
        parse_tlog_proof(good.replace("index 3", "index +3"))
    with pytest.raises(FormatError, match="first line"):
        parse_tlog_proof(good.replace("@v1", "@v2"))
    with pytest.raises(FormatError, match="tlog-proof checkpoint"):
        parse_tlog_proof(good.replace("\u2014 ", "- "))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"index": -1},
        {"index": 2**64},
        {"proof": [bytes(31)]},
        {"proof": [bytes(32)] * (MAX_PROOF_HASHES + 1)},
        {"checkpoint_note": "not a note\n"},
        {"extra": "text"},
    ],
)
def test_constructor_rejects_bad_values(kwargs: dict[str, object]):
    args: dict[str, object] = {"index": 0, "proof": [], "checkpoint_note": NOTE, **kwargs}
    with pytest.raises(FormatError):
        TlogProof(**args)  # type: ignore[arg-type]


# ------------------------------------------------------------ properties

hashes = st.binary(min_size=32, max_size=32)


@SETTINGS
@given(
    index=st.integers(0, 2**64 - 2),
    proof=st.lists(hashes, max_size=MAX_PROOF_HASHES),
    extra=st.none() | st.binary(max_size=80),
)
def test_format_parse_round_trip(index: int, proof: list[bytes], extra: bytes | None):
    p = TlogProof(index, proof, NOTE, extra)
    text = format_tlog_proof(p)
    assert parse_tlog_proof(text) == p
    assert format_tlog_proof(parse_tlog_proof(text)) == text


@SETTINGS
@given(data=st.data(), n=st.integers(1, 70))
def test_random_tree_and_index_verify(data: st.DataObject, n: int):
    leaves = _tree(n)
    index = data.draw(st.integers(0, n - 1))
    note = _note_for(leaves)
    p = parse_tlog_proof(format_tlog_proof(TlogProof(index, _path(index, leaves), note)))
    assert verify_tlog_proof(p, leaves[index], LOG.verifier()).size == n


@SETTINGS
@given(text=st.text(max_size=400))
def test_parse_random_text_only_raises_format_error(text: str):
    with contextlib.suppress(FormatError):
        parse_tlog_proof(text)


@SETTINGS
@given(tail=st.text(max_size=300))
def test_parse_random_text_after_header_only_raises_format_error(tail: str):
    try:
        p = parse_tlog_proof(f"{HEADER}\n{tail}")
    except FormatError:
        return
    with contextlib.suppress(FormatError, VerificationError):
        verify_tlog_proof(p, LEAVES[0], LOG.verifier())


@SETTINGS
@given(data=st.binary(max_size=400))
def test_parse_random_bytes_only_raises_format_error(data: bytes):
    with contextlib.suppress(FormatError):
        parse_tlog_proof(data)


@SETTINGS
@given(cut=st.integers(0, 2000), insert=st.text(max_size=20))
def test_mutated_proof_only_raises_library_errors(cut: int, insert: str):
    good = format_tlog_proof(_proof(3, extra=b"xy"))
    cut = min(cut, len(good))
    try:
        p = parse_tlog_proof(good[:cut] + insert + good[cut:])
        verify_tlog_proof(p, LEAVES[3], LOG.verifier())
    except (FormatError, VerificationError):
        pass
