"""Fuzz DSSE envelopes and the Entry payloads they carry, up to ``verify_batch``.

* ``parse_envelope`` raises only ``FormatError``; ``verify_envelope`` only
  ``VerificationError``, and accepts only payloads the issuer signed.
* ``Entry.FromString`` raises only protobuf's ``DecodeError`` (the layer the
  product translates); on whatever parses, the ``records`` validators collect
  problems and never raise.
* ``verify_batch`` (what sync runs on a peer's bytes) raises only
  ``VerificationError``, including for payloads that are validly signed but
  hostile (the signer's key is known, the bytes are garbage) and for key
  announcements carrying mutated certificates.
* ``decode_entry`` (the bundle verifier's decoder) raises only ``FormatError``.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from brandex_fuzz import (
    count,
    fuzz,
    mutated_bytes,
    mutated_text,
    raw_bytes,
    raw_text,
    world,
)
from google.protobuf.message import DecodeError
from hypothesis import given
from hypothesis import strategies as st

from exchange._proto.brandex.v1 import entries_pb2 as pb
from exchange.core.dsse import keyid_of, parse_envelope, sign_envelope, verify_envelope
from exchange.core.errors import FormatError, ValidationError, VerificationError
from exchange.core.keys import KeyHistory
from exchange.core.origin import parse_origin
from exchange.core.records import ERRORS_BY_BODY
from exchange.node.bundles import decode_entry
from exchange.node.verify import verify_batch

# Mutated certificates make cryptography warn about e.g. non-positive serial numbers.
pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")

W = world()
ZJ_ENVELOPES = W.envelopes("zhejiang")
AH_ENVELOPES = W.envelopes("anhui")
ENVELOPES = ZJ_ENVELOPES + AH_ENVELOPES
PAYLOADS = [parse_envelope(e).payload for e in ENVELOPES]
ZJ_KEY = W.signing_keys["zhejiang"]
ZJ_PUBLIC = bytes(ZJ_KEY.verify_key)
ORIGIN = "yrd/330000"
NOW = datetime.now(UTC)
EMPTY = KeyHistory(parse_origin(ORIGIN))
ZJ_HISTORY = verify_batch(ORIGIN, 0, ZJ_ENVELOPES[:1], EMPTY, W.anchors, NOW).history


def _history_at(start: int) -> KeyHistory:
    """Zhejiang's key history, positioned at ``start`` (0: nothing known yet)."""
    if start == 0:
        return EMPTY
    h = ZJ_HISTORY.copy()
    h.size = start
    return h


REGIONS = ["330000", "340000", "320000", "330106", "999999", "", "33000０"]


@fuzz(weight=1.0)
@given(st.one_of(mutated_bytes(ENVELOPES), raw_bytes()))
def test_parse_and_verify_envelope(raw: bytes) -> None:
    count("dsse.parse_envelope+verify_envelope")
    try:
        env = parse_envelope(raw)
    except FormatError:
        return
    keys = {keyid_of(bytes(k.verify_key)): k.verify_key for k in W.signing_keys.values()}
    try:
        verify_envelope(env, keys)
    except VerificationError:
        return
    assert env.payload in PAYLOADS, "only a payload an issuer signed may verify"


def _validate(entry: pb.Entry) -> None:
    body = entry.WhichOneof("body")
    check = ERRORS_BY_BODY.get(body or "")
    if check is None:
        return
    for issuer in {entry.region, "330000", "340000", "330106", ""}:
        errors = check(getattr(entry, body), issuer=issuer)
        assert isinstance(errors, list)
        assert all(isinstance(e, ValidationError) for e in errors)


@fuzz(weight=1.0)
@given(st.one_of(mutated_bytes(PAYLOADS, max_ops=6), raw_bytes()))
def test_entry_payload_and_validators(payload: bytes) -> None:
    count("Entry.FromString+records.*_errors+decode_entry")
    try:
        entry = pb.Entry.FromString(payload)
    except DecodeError:
        return
    _validate(entry)
    with contextlib.suppress(FormatError):
        decode_entry(payload)


# Every field of every body, given hostile values: the validators must collect, not crash.
_text = st.one_of(
    raw_text(60),
    mutated_text(["2024-01-15", "330000", "zj-1", "91330106MA2B000014", "C13", "西湖"]),
    st.sampled_from(["", " ", "0000-00-00", "2024-02-30", "9999-99-99", "2024-1-5", "x" * 5000]),
)
_ints = st.one_of(
    st.integers(-(2**31), 2**31 - 1), st.sampled_from([0, -1, 1, 45, 46, 99, 2**31 - 1])
)
_int64 = st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([0, -1, 2**63 - 1]))


@st.composite
def hostile_bodies(draw) -> tuple[str, object]:
    body = draw(st.sampled_from(sorted(ERRORS_BY_BODY)))
    cls = {
        "recognition": pb.Recognition,
        "status_change": pb.StatusChange,
        "infringement_case": pb.InfringementCase,
        "case_action": pb.CaseAction,
        "accession": pb.Accession,
        "withdrawal": pb.Withdrawal,
    }[body]
    msg = cls()
    for f in cls.DESCRIPTOR.fields:
        if not draw(st.booleans()):
            continue
        if f.type == f.TYPE_MESSAGE:
            msg.corrected.CopyFrom(W.recognition())
            continue
        if f.is_repeated:
            getattr(msg, f.name).extend(draw(st.lists(_ints, max_size=6)))
        elif f.type == f.TYPE_STRING:
            setattr(msg, f.name, draw(_text))
        elif f.type == f.TYPE_INT64:
            setattr(msg, f.name, draw(_int64))
        else:  # enums and int32
            setattr(msg, f.name, draw(_ints))
    return body, msg


@fuzz(weight=1.0)
@given(hostile_bodies(), st.sampled_from(REGIONS))
def test_validators_on_hostile_fields(case, issuer: str) -> None:
    count("records.*_errors(hostile fields)")
    body, msg = case
    errors = ERRORS_BY_BODY[body](msg, issuer=issuer)
    assert all(isinstance(e, ValidationError) for e in errors)


@fuzz(weight=1.0)
@given(
    st.lists(st.one_of(st.sampled_from(ZJ_ENVELOPES[1:]), mutated_bytes(ZJ_ENVELOPES)), max_size=4)
)
def test_verify_batch_mutated_envelopes(envelopes: list[bytes]) -> None:
    """Bytes as a hostile peer would send them: the signature must stop every change."""
    count("verify_batch(mutated envelopes)")
    try:
        out = verify_batch(ORIGIN, 1, envelopes, _history_at(1), W.anchors, NOW)
    except VerificationError:
        return
    # The envelope JSON around the payload is not signed (a duplicated "sig" key or
    # extra whitespace still verifies; the leaf hash and the signed checkpoint catch
    # that), but the payload must be one the issuer signed.
    assert all(parse_envelope(e).payload in PAYLOADS for e in envelopes)
    assert len(out.leaf_hashes) == len(out.types) == len(envelopes)


@fuzz(weight=1.0)
@given(st.one_of(mutated_bytes(PAYLOADS, max_ops=6), raw_bytes()), st.integers(0, 3))
def test_verify_batch_signed_hostile_payload(payload: bytes, start: int) -> None:
    """A payload the issuer's key did sign, but that is garbage or lies about itself."""
    count("verify_batch(signed hostile payload)")
    env = sign_envelope(payload, ZJ_KEY)
    try:
        out = verify_batch(ORIGIN, start, [env], _history_at(start), W.anchors, NOW)
    except VerificationError:
        return
    entry = pb.Entry.FromString(payload)  # what was accepted, read back on its own
    assert (entry.federation, entry.region) == ("yrd", "330000")
    assert out.types == [entry.WhichOneof("body")] and out.types[0] is not None


def _key_announcement(chain: list[str], public: bytes = ZJ_PUBLIC) -> bytes:
    entry = pb.Entry(federation="yrd", region="330000", issued_at=NOW.isoformat())
    entry.key_announcement.public_key = public
    entry.key_announcement.certificate_chain_pem.extend(chain)
    entry.key_announcement.effective_from = "2026-01-01"
    return entry.SerializeToString()


PEMS = [W.signing_pems["zhejiang"], W.anchor_pem.decode()]


@fuzz(weight=0.5)
@given(
    st.lists(st.one_of(st.sampled_from(PEMS), mutated_text(PEMS, surrogates=False)), max_size=3),
    st.sampled_from([ZJ_PUBLIC, bytes(32), b"", b"\x01" * 33]),
    st.booleans(),
)
def test_verify_batch_key_announcement(chain: list[str], public: bytes, first: bool) -> None:
    """The first entry of a log is read before any key is known: hostile certificates."""
    count("verify_batch(key announcement, mutated PEM)")
    env = sign_envelope(_key_announcement(chain, public), ZJ_KEY)
    try:
        out = verify_batch(ORIGIN, 0 if first else 1, [env], _history_at(0 if first else 1),
                           W.anchors, NOW)  # fmt: skip
    except VerificationError:
        return
    # Only a first announcement verifies: a later one must name the key it replaces.
    assert first and out.history is not None
    assert [k.public_key for k in out.history.keys.values()] == [ZJ_PUBLIC]


@fuzz(weight=0.5)
@given(st.one_of(mutated_text(["yrd/330000", "a/b/340000"], surrogates=True), raw_text(40)))
def test_parse_origin(origin: str) -> None:
    """Origins come from a peer's ListOrigins answer."""
    count("origin.parse_origin")
    try:
        federation, region = (o := parse_origin(origin)).federation, o.region
    except FormatError:
        return
    assert str(o) == origin
    assert federation and len(region) == 6 and region.isascii() and region.isdigit()
