"""C2SP Ed25519 cosignatures: type byte 0x04, timestamped message, verify_note plug-in."""

from __future__ import annotations

import base64
import contextlib
import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from exchange.core.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from exchange.core.cosignature import (
    MAX_TIMESTAMP,
    CosignatureSigner,
    CosignatureVerifier,
    cosign,
    cosignature_message,
    parse_cosignature_vkey,
    verify_cosignature,
)
from exchange.core.errors import FormatError, VerificationError
from exchange.core.note import (
    Ed25519NoteSigner,
    Note,
    NoteSignature,
    Verifier,
    add_signature,
    format_note,
    parse_note,
    parse_vkey,
    verify_note,
)

# Signing inside examples is slow-ish; never fail on timing, only on behaviour.
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

ORIGIN = "example.com/behind-the-sofa"
BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
TS = 1679315147
LOG = Ed25519NoteSigner(ORIGIN, SigningKey(bytes(range(32))))
W_KEY = SigningKey(bytes(range(5, 37)))
W1 = CosignatureSigner("witness.example.com/w1", W_KEY)
W2 = CosignatureSigner("witness.example.com/w2", SigningKey(bytes(range(9, 41))))


def test_key_id_uses_type_byte_0x04():
    pub = bytes(W_KEY.verify_key)
    want = hashlib.sha256(b"witness.example.com/w1\n\x04" + pub).digest()[:4]
    assert W1.key_id == W1.verifier().key_id == want
    note_id = Ed25519NoteSigner(W1.name, W_KEY).key_id
    assert note_id == hashlib.sha256(b"witness.example.com/w1\n\x01" + pub).digest()[:4]
    assert note_id != want


def test_vkey_string_and_parse():
    vkey = W1.vkey_string()
    name, kid, material = vkey.split("+", 2)
    assert name == W1.name
    assert kid == W1.key_id.hex()
    assert base64.b64decode(material) == b"\x04" + bytes(W_KEY.verify_key)
    parsed = parse_cosignature_vkey(vkey)
    assert parsed.key_id == W1.key_id
    assert parsed.vkey_string() == vkey
    assert W1.verifier().vkey_string() == vkey


def test_signed_message_layout():
    assert cosignature_message(BODY, TS) == (
        b"cosignature/v1\ntime 1679315147\n"
        b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )
    assert cosignature_message(BODY, 0).startswith(b"cosignature/v1\ntime 0\n")


def test_signature_bytes_are_timestamp_then_ed25519():
    sig = cosign(BODY, W1, TS)
    assert sig.name == W1.name
    assert sig.key_id == W1.key_id
    assert len(sig.sig) == 72
    assert sig.sig[:8] == TS.to_bytes(8, "big")
    W_KEY.verify_key.verify(cosignature_message(BODY, TS), sig.sig[8:])
    line = sig.to_line()
    raw = base64.b64decode(line.split(" ")[2])
    assert raw == W1.key_id + TS.to_bytes(8, "big") + sig.sig[8:]


def test_verify_cosignature_returns_timestamp():
    sig = cosign(BODY, W1, TS)
    assert W1.verifier().verify_cosignature(BODY, sig) == TS
    assert verify_cosignature(BODY, sig, W1.verifier()) == TS


def test_tampered_timestamp_or_body_fails():
    sig = cosign(BODY, W1, TS)
    later = NoteSignature(sig.name, sig.key_id, (TS + 1).to_bytes(8, "big") + sig.sig[8:])
    with pytest.raises(VerificationError, match="does not verify"):
        verify_cosignature(BODY, later, W1.verifier())
    with pytest.raises(VerificationError, match="does not verify"):
        verify_cosignature(BODY.replace("20852163", "20852164"), sig, W1.verifier())


def test_timestamp_above_2_63_is_rejected():
    with pytest.raises(FormatError):
        cosign(BODY, W1, MAX_TIMESTAMP + 1)
    with pytest.raises(FormatError):
        cosign(BODY, W1, -1)
    assert verify_cosignature(BODY, cosign(BODY, W1, MAX_TIMESTAMP), W1.verifier()) == MAX_TIMESTAMP
    huge = (2**64 - 1).to_bytes(8, "big")
    assert not W1.verifier().verify(BODY, huge + bytes(64))


def test_cosign_requires_a_checkpoint_body():
    with pytest.raises(FormatError):
        cosign("hello\n", W1, TS)
    with pytest.raises(FormatError):
        cosign(BODY.replace("\n", "\r\n"), W1, TS)


def test_verifier_satisfies_note_protocol():
    assert isinstance(W1.verifier(), Verifier)


def test_cosignatures_plug_into_verify_note():
    note = sign_checkpoint(Checkpoint(ORIGIN, 20852163, base64.b64decode(BODY.split("\n")[2])), LOG)
    assert note.text == BODY
    note = add_signature(note, cosign(note.text, W1, TS))
    note = add_signature(note, cosign(note.text, W2, TS + 10))
    parsed = parse_note(format_note(note))
    verifiers = [LOG.verifier(), W1.verifier(), W2.verifier()]
    assert verify_note(parsed, verifiers) == [LOG.name, W1.name, W2.name]
    assert verify_note(parsed, [W2.verifier()]) == [W2.name]
    cp, opened = open_checkpoint(format_note(note), LOG.verifier())
    assert cp.size == 20852163
    assert [W1.verifier().verify_cosignature(opened.text, s) for s in opened.signatures[1:2]] == [
        TS
    ]


def test_bad_cosignature_from_known_witness_fails_note():
    good = cosign(BODY, W1, TS)
    forged = NoteSignature(good.name, good.key_id, good.sig[:8] + bytes(64))
    note = Note(BODY, [NoteSignature(LOG.name, LOG.key_id, LOG.sign(BODY)), forged])
    with pytest.raises(VerificationError, match="does not verify"):
        verify_note(note, [LOG.verifier(), W1.verifier()])


# ------------------------------------------------------------ key-id type byte traps


def test_note_signature_0x01_offered_where_cosignature_0x04_expected():
    """The witness key signs as a plain note key: its 0x01 id is not the cosigner's."""
    plain = Ed25519NoteSigner(W1.name, W_KEY)
    sig = NoteSignature(plain.name, plain.key_id, plain.sign(BODY))
    note = Note(BODY, [sig])
    assert verify_note(note, [plain.verifier()]) == [W1.name]
    with pytest.raises(VerificationError, match="no signature from a known key"):
        verify_note(note, [W1.verifier()])
    with pytest.raises(VerificationError, match="not from cosigner"):
        verify_cosignature(BODY, sig, W1.verifier())


def test_cosignature_0x04_offered_where_note_key_0x01_expected():
    plain = Ed25519NoteSigner(W1.name, W_KEY)
    note = Note(BODY, [cosign(BODY, W1, TS)])
    with pytest.raises(VerificationError, match="no signature from a known key"):
        verify_note(note, [plain.verifier()])


def test_cosignature_relabelled_with_0x01_id_does_not_verify():
    plain = Ed25519NoteSigner(W1.name, W_KEY)
    cos = cosign(BODY, W1, TS)
    relabelled = NoteSignature(cos.name, plain.key_id, cos.sig)
    with pytest.raises(VerificationError, match="does not verify"):
        verify_note(Note(BODY, [relabelled]), [plain.verifier()])
    relabelled = NoteSignature(cos.name, plain.key_id, cos.sig[8:])
    with pytest.raises(VerificationError, match="does not verify"):
        verify_note(Note(BODY, [relabelled]), [plain.verifier()])


def test_cosignature_matched_by_key_id_alone_does_not_verify():
    cos = cosign(BODY, W1, TS)
    impostor = NoteSignature("witness.example.com/other", cos.key_id, cos.sig)
    with pytest.raises(VerificationError, match="no signature from a known key"):
        verify_note(Note(BODY, [impostor]), [W1.verifier()])
    with pytest.raises(VerificationError, match="not from cosigner"):
        verify_cosignature(BODY, impostor, W1.verifier())


def test_vkey_type_bytes_are_not_interchangeable():
    plain = Ed25519NoteSigner(W1.name, W_KEY)
    with pytest.raises(FormatError, match="type byte is 0x01, expected 0x04"):
        parse_cosignature_vkey(plain.vkey_string())
    with pytest.raises(FormatError, match="type byte is 0x04, expected 0x01"):
        parse_vkey(W1.vkey_string())
    # A 0x04 key material carrying the 0x01 key id (or vice versa) is refused too.
    name, _, material = W1.vkey_string().split("+", 2)
    with pytest.raises(FormatError, match="does not match"):
        parse_cosignature_vkey(f"{name}+{plain.key_id.hex()}+{material}")


@pytest.mark.parametrize("name", ["", "a+b", "a b", "w\u2009x"])
def test_cosigner_name_rules(name: str):
    with pytest.raises(FormatError):
        CosignatureSigner(name, W_KEY)
    with pytest.raises(FormatError):
        CosignatureVerifier(name, W_KEY.verify_key)


# ------------------------------------------------------------ properties

key_names = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="+"),
    min_size=1,
    max_size=30,
).filter(lambda s: not any(c.isspace() for c in s))
origins = st.text(
    st.characters(blacklist_categories=("Cs",)).filter(lambda c: c >= " "), min_size=1, max_size=40
)


@SETTINGS
@given(
    origin=origins,
    size=st.integers(0, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    name=key_names,
    seed=st.binary(min_size=32, max_size=32),
    timestamp=st.integers(0, MAX_TIMESTAMP),
)
def test_cosignature_round_trip(
    origin: str, size: int, root: bytes, name: str, seed: bytes, timestamp: int
):
    body = Checkpoint(origin, size, root).to_body()
    signer = CosignatureSigner(name, SigningKey(seed))
    sig = cosign(body, signer, timestamp)
    raw = format_note(Note(body, [sig]))
    note = parse_note(raw)
    assert note.signatures == [sig]
    verifier = parse_cosignature_vkey(signer.vkey_string())
    assert verify_note(note, [verifier]) == [name]
    assert verifier.verify_cosignature(note.text, note.signatures[0]) == timestamp


@SETTINGS
@given(data=st.text(max_size=120))
def test_parse_cosignature_vkey_random_text_only_raises_format_error(data: str):
    with contextlib.suppress(FormatError):
        parse_cosignature_vkey(data)


@SETTINGS
@given(
    sig=st.one_of(st.binary(max_size=100), st.binary(min_size=72, max_size=72)),
    body=st.text(max_size=100),
)
def test_verify_random_signature_bytes_never_raises_other_errors(sig: bytes, body: str):
    verifier = W1.verifier()
    assert verifier.verify(body, sig) is False
    with pytest.raises(VerificationError):
        verifier.verify_cosignature(body, NoteSignature(W1.name, W1.key_id, sig))
