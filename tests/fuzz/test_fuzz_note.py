"""Fuzz signed notes, vkeys, checkpoints and cosignatures (C2SP).

Each parser must either succeed or raise its documented error: ``FormatError``
for malformed text, ``VerificationError`` for signatures. A parse that succeeds
must give back exactly the input when re-serialised (one spelling per value),
and a note that still verifies after mutation must carry the original text.
"""

from __future__ import annotations

import contextlib
import hashlib

from brandex_fuzz import count, fuzz, mutated_bytes, mutated_text, raw_bytes, raw_text
from hypothesis import given
from hypothesis import strategies as st
from nacl.signing import SigningKey

from exchange.core.checkpoint import (
    Checkpoint,
    open_checkpoint,
    parse_checkpoint_body,
    sign_checkpoint,
)
from exchange.core.cosignature import (
    CosignatureSigner,
    cosign,
    parse_cosignature_vkey,
    verify_cosignature,
)
from exchange.core.errors import FormatError, VerificationError
from exchange.core.note import (
    Ed25519NoteSigner,
    NoteSignature,
    add_signature,
    format_note,
    parse_note,
    parse_vkey,
    verify_note,
)

ORIGIN = "yrd/330000"
LOG = Ed25519NoteSigner(ORIGIN, SigningKey(hashlib.sha256(b"fuzz log").digest()))
OTHER = Ed25519NoteSigner("yrd/340000", SigningKey(hashlib.sha256(b"fuzz other").digest()))
WITNESS = CosignatureSigner(
    "yrd/340000/witness", SigningKey(hashlib.sha256(b"fuzz witness").digest())
)
TIMESTAMP = 1_717_171_717


def _signed(cp: Checkpoint, *, cosigned: bool = True) -> str:
    note = sign_checkpoint(cp, LOG)
    if cosigned:
        note = add_signature(note, cosign(note.text, WITNESS, TIMESTAMP))
    return format_note(note)


CHECKPOINTS = [
    Checkpoint(ORIGIN, 12345, hashlib.sha256(b"root").digest()),
    Checkpoint(ORIGIN, 0, hashlib.sha256(b"").digest()),
    Checkpoint(ORIGIN, 2**64 - 1, bytes(32), extensions=("ext line one", "— ext two")),
]
NOTES = [_signed(cp) for cp in CHECKPOINTS] + [_signed(CHECKPOINTS[0], cosigned=False)]
BODIES = [cp.to_body() for cp in CHECKPOINTS]
VKEYS = [LOG.vkey_string(), OTHER.vkey_string()]
COSIGNER_VKEYS = [WITNESS.vkey_string()]
VERIFIERS = [LOG.verifier(), OTHER.verifier(), WITNESS.verifier()]

any_note_text = st.one_of(
    mutated_text(NOTES), mutated_text(NOTES, surrogates=True), raw_text(), st.just(NOTES[0])
)
any_note_bytes = st.one_of(mutated_bytes([n.encode() for n in NOTES]), raw_bytes())


def _check_note(data: str | bytes) -> None:
    try:
        note = parse_note(data)
    except FormatError:
        return
    text = data if isinstance(data, str) else data.decode("utf-8")
    assert format_note(note) == text, "a parsed note must re-serialise to its exact input"
    try:
        names = verify_note(note, VERIFIERS)
    except VerificationError:
        return
    assert note.text in BODIES, "a note that verifies must carry a text that was signed"
    assert names


@fuzz(weight=1.0)
@given(any_note_text)
def test_parse_note_text(data: str) -> None:
    count("note.parse_note(str)+verify_note")
    _check_note(data)


@fuzz(weight=1.0)
@given(any_note_bytes)
def test_parse_note_bytes(data: bytes) -> None:
    count("note.parse_note(bytes)+verify_note")
    _check_note(data)


@fuzz(weight=1.0)
@given(st.one_of(mutated_text(VKEYS + COSIGNER_VKEYS, surrogates=True), raw_text(120)))
def test_parse_vkey(data: str) -> None:
    count("note.parse_vkey+cosignature.parse_cosignature_vkey")
    try:
        v = parse_vkey(data)
    except FormatError:
        pass
    else:
        assert v.vkey_string() == data
    try:
        c = parse_cosignature_vkey(data)
    except FormatError:
        pass
    else:
        assert c.vkey_string() == data


@fuzz(weight=1.0)
@given(st.one_of(mutated_text(BODIES, surrogates=True), raw_text()))
def test_parse_checkpoint_body(data: str) -> None:
    count("checkpoint.parse_checkpoint_body")
    try:
        cp = parse_checkpoint_body(data)
    except FormatError:
        return
    assert cp.to_body() == data, "a parsed checkpoint must re-serialise to its exact input"


@fuzz(weight=1.0)
@given(st.one_of(any_note_text, any_note_bytes))
def test_open_checkpoint(data: str | bytes) -> None:
    count("checkpoint.open_checkpoint")
    try:
        cp, _ = open_checkpoint(data, LOG.verifier())
    except (FormatError, VerificationError):
        return
    assert cp in CHECKPOINTS, "only a checkpoint the log signed may open"


@fuzz(weight=1.0)
@given(
    st.one_of(mutated_text(NOTES), mutated_bytes([n.encode() for n in NOTES])),
    st.one_of(st.sampled_from(BODIES), mutated_text(BODIES, surrogates=True)),
)
def test_verify_cosignature(data: str | bytes, body: str) -> None:
    """Cosignature lines from mutated notes, checked over original and mutated bodies."""
    count("cosignature.verify_cosignature")
    try:
        note = parse_note(data)
    except FormatError:
        note = None
    sigs = note.signatures if note is not None else []
    # A valid line too, so the mutated body is checked against a good signature.
    sigs = [*sigs, cosign(BODIES[0], WITNESS, TIMESTAMP)]
    for sig in sigs:
        for text in (body, note.text if note is not None else body):
            try:
                ts = verify_cosignature(text, sig, WITNESS.verifier())
            except VerificationError:
                continue
            assert text in BODIES and ts == TIMESTAMP


@fuzz(weight=0.5)
@given(
    st.text(max_size=30),
    st.binary(max_size=8),
    st.binary(max_size=90),
    st.sampled_from(BODIES),
)
def test_verify_cosignature_arbitrary_lines(name: str, key_id: bytes, sig: bytes, body) -> None:
    count("cosignature.verify_cosignature(random line)")
    try:
        line = NoteSignature(name=name, key_id=key_id, sig=sig)
    except FormatError:
        return  # not a line parse_note could produce
    with contextlib.suppress(VerificationError):
        verify_cosignature(body, line, WITNESS.verifier())
