"""Fuzz the federation document parser, the policy parser and the chain rule.

A mutated document must either parse or raise FormatError; one that parses
must be canonical (its payload re-canonicalises to itself); offered to a chain
it must be taken only if every signature still verifies and the thresholds hold,
so a mutation never yields an accepted document with a different payload.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta

from brandex_fuzz import count, fuzz, mutated_bytes, mutated_text, raw_bytes, raw_text
from hypothesis import example, given
from hypothesis import strategies as st
from nacl.signing import SigningKey

from exchange.core import federation as fd
from exchange.core.errors import ConflictError, FormatError, VerificationError
from exchange.core.policy import default_policy, parse_policy

T0 = datetime(2026, 11, 1, tzinfo=UTC)
KEYS = [SigningKey(hashlib.sha256(b"fuzz governance %d" % i).digest()) for i in range(3)]
MEMBERS = [
    fd.Member(
        name=f"m{i}",
        region=region,
        addresses=(f"127.0.0.1:{7000 + i}",),
        tls_certs=frozenset({"a" * 64}),
        operator_certs=frozenset(),
        signing_keys=frozenset({"c" * 64}),
        governance_key=bytes(k.verify_key),
    )
    for i, (k, region) in enumerate(zip(KEYS, ["310000", "320000", "330000"], strict=True))
]
POLICY = default_policy({f"yrd/{m.region}/witness": b"\7" * 32 for m in MEMBERS}, 2)


def _signed(raw: bytes) -> bytes:
    for k in KEYS:
        raw = fd.sign_document(raw, k)
    return raw


GENESIS = _signed(
    fd.unsigned_document(
        fd.genesis_body(
            "yrd",
            MEMBERS,
            anchors=["d" * 64],
            threshold=2,
            witness_policy=POLICY,
            issued_at=T0,
            expires_at=T0 + timedelta(days=365),
        )
    )
)
V2 = _signed(fd.unsigned_document(fd.propose(fd.parse_document(GENESIS), T0 + timedelta(days=1))))
SEEDS = [GENESIS, V2]
PAYLOADS = [base64.b64decode(json.loads(s)["payload"]) for s in SEEDS]


@fuzz(weight=0.5)
@given(st.one_of(mutated_bytes(SEEDS), raw_bytes()))
def test_parse_and_offer_document(data: bytes) -> None:
    count("federation.parse_document+Chain.offer")
    try:
        doc = fd.parse_document(data)
    except FormatError:
        return
    assert fd.canonical(json.loads(doc.envelope.payload)) == doc.envelope.payload
    chain = fd.Chain.pinned(GENESIS)
    try:
        taken = chain.offer(data, T0 + timedelta(days=2))
    except (FormatError, VerificationError, ConflictError):
        return
    if taken is not None:
        assert taken.envelope.payload in PAYLOADS, "only signed payloads are ever accepted"


@fuzz(weight=0.5)
@given(st.one_of(mutated_bytes(PAYLOADS), raw_bytes()))
def test_payload_mutations(payload: bytes) -> None:
    count("federation payload mutations")
    env = json.loads(GENESIS)
    env["payload"] = base64.b64encode(payload).decode()
    raw = json.dumps(env).encode()
    try:
        fd.verify_genesis(raw)
    except (FormatError, VerificationError):
        return
    assert payload == PAYLOADS[0]


_KEY = "07" * 32


@fuzz(weight=1.0)
@given(st.one_of(mutated_text([POLICY]), raw_text()))
# Found by this test in CI: a superscript digit passed str.isdigit() and int() raised.
@example(f"witness a {_KEY}\nwitness b {_KEY}\ngroup g ² a b\nquorum g\n")
@example(f"witness a {_KEY}\ngroup g ٣ a\nquorum g\n")
def test_parse_policy(text: str) -> None:
    count("policy.parse_policy")
    try:
        policy = parse_policy(text)
    except FormatError:
        return
    assert policy.text == text
    policy.holds(list(policy.witnesses))
