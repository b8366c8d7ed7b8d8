"""DSSE: PAE byte lengths, canonical bytes, and every tampering rejected."""

import base64
import dataclasses
import json
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from exchange.core.dsse import (
    _CANONICAL,
    _parse_canonical,
    _parse_json,
    keyid_of,
    pae,
    parse_envelope,
    sign_envelope,
    verify_envelope,
)
from exchange.core.ed25519 import VerifyKey as ProjectKey
from exchange.core.errors import FormatError, VerificationError

KEY = SigningKey(bytes(range(32)))
OTHER = SigningKey(bytes(range(1, 33)))
KEYS = {keyid_of(bytes(KEY.verify_key)): KEY.verify_key}


def test_pae_uses_byte_lengths_not_characters():
    assert pae("t", "浙".encode()) == b"DSSEv1 1 t 3 " + "浙".encode()
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_round_trip_and_exact_bytes():
    raw = sign_envelope(b"\x00payload\xff", KEY)
    env = parse_envelope(raw)
    assert env.raw == raw
    assert env.payload == b"\x00payload\xff"
    assert verify_envelope(env, KEYS) == keyid_of(bytes(KEY.verify_key))


def test_flipped_payload_byte_is_rejected():
    raw = sign_envelope(b"payload", KEY)
    doc = json.loads(raw)
    doc["payload"] = base64.b64encode(b"paylaod").decode()
    env = parse_envelope(json.dumps(doc).encode())
    with pytest.raises(VerificationError, match="does not verify"):
        verify_envelope(env, KEYS)


def test_wrong_signer_is_rejected():
    env = parse_envelope(sign_envelope(b"payload", OTHER))
    with pytest.raises(VerificationError, match="no signature"):
        verify_envelope(env, KEYS)


def test_signature_swapped_under_known_keyid_is_rejected():
    good = json.loads(sign_envelope(b"payload", KEY))
    bad = json.loads(sign_envelope(b"payload", OTHER))
    good["signatures"][0]["sig"] = bad["signatures"][0]["sig"]
    with pytest.raises(VerificationError):
        verify_envelope(parse_envelope(json.dumps(good).encode()), KEYS)


def test_wrong_payload_type_is_rejected():
    env = parse_envelope(sign_envelope(b"p", KEY, payload_type="text/plain"))
    with pytest.raises(VerificationError, match="payload type"):
        verify_envelope(env, KEYS)


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"payload":"","payloadType":"x"}',
        b'{"payload":"AA=","payloadType":"x","signatures":[{"keyid":"k","sig":"AA=="}]}',
        b'{"payload":"AB==","payloadType":"x","signatures":[{"keyid":"k","sig":"AA=="}]}',
        b'{"payload":"AA==","payloadType":"x","signatures":[]}',
        b'{"payload":"AA==","payloadType":"\xe6\xb5\x99","signatures":[{"keyid":"k","sig":"AA=="}]}',
        b"{" + b" " * (300 * 1024) + b"}",
    ],
    ids=[
        "garbage",
        "array",
        "no-signatures",
        "bad-padding",
        "noncanonical-b64",
        "empty-sigs",
        "non-ascii-type",
        "oversized",
    ],
)
def test_malformed_envelopes_are_format_errors(raw):
    with pytest.raises(FormatError):
        parse_envelope(raw)


def _general(raw: bytes):
    """What the general (json.loads) path makes of ``raw``: the envelope or the error."""
    try:
        return _parse_json(raw, (1, 8))
    except FormatError as exc:
        return str(exc)


def _fast(raw: bytes):
    try:
        return parse_envelope(raw)
    except FormatError as exc:
        return str(exc)


def test_canonical_envelopes_take_the_fast_path_with_the_same_result():
    raw = sign_envelope(b"\x00payload\xff", KEY)
    env = _parse_canonical(raw)
    assert env is not None and env == _parse_json(raw, (1, 8)) == parse_envelope(raw)
    assert env.payload == b"\x00payload\xff" and env.raw is raw


_ASCII = st.text(st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=12)


@given(
    payload=st.one_of(st.binary(max_size=40), _ASCII.map(str.encode)),
    ptype=st.one_of(_ASCII, st.text(max_size=4)),
    keyid=_ASCII,
    sig=st.one_of(st.binary(max_size=8).map(lambda b: base64.b64encode(b).decode()), _ASCII),
    spelling=st.sampled_from(["canonical", "spaced", "escaped", "duplicate", "two-sigs"]),
)
@settings(max_examples=300, deadline=None)
def test_fast_path_accepts_and_rejects_exactly_what_json_does(payload, ptype, keyid, sig, spelling):
    """Whatever the spelling, parse_envelope gives what the json.loads path gives."""
    b64 = base64.b64encode(payload).decode() if spelling != "escaped" else "AA\\u003d\\u003d"
    doc = {"payload": b64, "payloadType": ptype, "signatures": [{"keyid": keyid, "sig": sig}]}
    if spelling == "two-sigs":
        doc["signatures"].append({"keyid": keyid, "sig": sig})
    text = json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=spelling != "spaced")
    if spelling == "spaced":
        text = text.replace(",", ", ")
    if spelling == "escaped":
        text = text.replace("\\\\u003d", "\\u003d")
    if spelling == "duplicate":
        text = '{"payload":"AA==",' + text[1:]
    raw = text.encode("utf-8")
    assert _fast(raw) == _general(raw)


@pytest.mark.parametrize(
    ("payload", "sig"),
    [
        ("AB==", "AA=="),  # payload's padding bits set: not canonical
        ("AA==", "AB=="),
        ("AB==", "AB=="),  # both: the signature is named first, as json's path does
        ("AA=", "AA=="),  # bad padding
        ("AAAA", "A"),
    ],
)
def test_a_canonical_spelling_with_non_canonical_base64_gets_the_general_verdict(payload, sig):
    doc = {"payload": payload, "payloadType": "t", "signatures": [{"keyid": "k", "sig": sig}]}
    raw = json.dumps(doc, separators=(",", ":")).encode()
    assert _CANONICAL.fullmatch(raw) is not None
    verdict = _fast(raw)
    assert isinstance(verdict, str) and verdict == _general(raw)


def test_a_parsed_envelope_is_immutable_and_compares_by_value():
    raw = sign_envelope(b"entry", KEY)
    env = parse_envelope(raw)
    with pytest.raises(dataclasses.FrozenInstanceError):
        env.payload = b"other"  # type: ignore[misc]
    assert env == parse_envelope(bytes(raw)) and env != parse_envelope(sign_envelope(b"x", KEY))
    assert pickle.loads(pickle.dumps(env)) == env
    assert "payload_type='application/vnd.brandex.entry+protobuf'" in repr(env)


@pytest.mark.parametrize(
    "raw",
    [
        rb'{"payload":"AA\u003d\u003d","payloadType":"t","signatures":[{"keyid":"k","sig":"AA=="}]}',
        rb'{"payload":"AA==\",\"x\":\"","payloadType":"t","signatures":[{"keyid":"k","sig":"AA=="}]}',
        b'{"payload":"AA\xff=","payloadType":"t","signatures":[{"keyid":"k","sig":"AA=="}]}',
        b'{"payload":"AA==","payloadType":"t","signatures":[{"keyid":"k","sig":"AA\\/A"}]}',
        b'{"payload":"","payloadType":"t","signatures":[{"keyid":"k","sig":""}]}',
    ],
)
def test_base64_values_with_escapes_or_other_bytes_get_what_json_gives(raw):
    """The base64 values are matched loosely; only canonical base64 stays on the fast path."""
    assert _fast(raw) == _general(raw)


@pytest.mark.parametrize("tamper", ["none", "payload", "signature"])
def test_the_projects_verify_key_and_pynacls_give_one_verdict(tamper):
    """verify_envelope checks the project's VerifyKey through verify_bool and any
    other key object through verify(): both paths must agree."""
    doc = json.loads(sign_envelope(b"payload", KEY))
    if tamper == "payload":
        doc["payload"] = base64.b64encode(b"paylaod").decode()
    elif tamper == "signature":
        doc["signatures"][0]["sig"] = json.loads(sign_envelope(b"payload", OTHER))["signatures"][0][
            "sig"
        ]
    env = parse_envelope(json.dumps(doc).encode())
    kid = keyid_of(bytes(KEY.verify_key))
    verdicts = []
    for key in (KEY.verify_key, ProjectKey(bytes(KEY.verify_key))):
        try:
            verdicts.append(verify_envelope(env, {kid: key}))
        except VerificationError as exc:
            verdicts.append(str(exc))
    assert verdicts[0] == verdicts[1], verdicts
    assert (verdicts[0] == kid) is (tamper == "none")
