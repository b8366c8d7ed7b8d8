"""DSSE: PAE byte lengths, canonical bytes, and every tampering rejected."""

import base64
import json

import pytest
from nacl.signing import SigningKey

from exchange.core.dsse import keyid_of, pae, parse_envelope, sign_envelope, verify_envelope
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
