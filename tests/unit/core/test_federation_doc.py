"""The federation document chain: thresholds, rollback, forks, expiry, strangers."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nacl.signing import SigningKey

from exchange.core import federation as fd
from exchange.core.dsse import keyid_of
from exchange.core.errors import ConflictError, FormatError, VerificationError
from exchange.core.policy import default_policy, parse_policy

T0 = datetime(2026, 11, 1, tzinfo=UTC)
REGIONS = {
    "anhui": "340000",
    "henan": "410000",
    "jiangsu": "320000",
    "jiangxi": "360000",
    "shanghai": "310000",
    "zhejiang": "330000",
}


def member(name: str, key: SigningKey) -> fd.Member:
    return fd.Member(
        name=name,
        region=REGIONS[name],
        addresses=(f"127.0.0.1:7{REGIONS[name][:3]}",),
        tls_certs=frozenset({"a" * 64}),
        operator_certs=frozenset({"b" * 64}),
        signing_keys=frozenset({"c" * 64}),
        governance_key=bytes(key.verify_key),
    )


@pytest.fixture
def keys() -> dict[str, SigningKey]:
    return {name: SigningKey.generate() for name in REGIONS}


def sign(raw: bytes, *keys: SigningKey) -> bytes:
    for k in keys:
        raw = fd.sign_document(raw, k)
    return raw


def genesis(keys: dict[str, SigningKey], names=("anhui", "jiangsu", "shanghai", "zhejiang")):
    body = fd.genesis_body(
        "yrd",
        [member(n, keys[n]) for n in names],
        anchors=["d" * 64],
        threshold=3,
        witness_policy=default_policy({f"yrd/{REGIONS[n]}/witness": b"\1" * 32 for n in names}, 2),
        issued_at=T0,
        expires_at=T0 + timedelta(days=365),
    )
    return sign(fd.unsigned_document(body), *(keys[n] for n in names[:3]))


def test_genesis_needs_its_own_threshold(keys):
    chain = fd.Chain.pinned(genesis(keys))
    assert chain.latest.version == 1
    assert len(chain.latest.members) == 4
    one_short = fd.unsigned_document(fd.parse_document(genesis(keys)).body)
    with pytest.raises(VerificationError, match="0 valid signature"):
        fd.verify_genesis(sign(one_short))
    with pytest.raises(VerificationError, match="1 missing"):
        fd.verify_genesis(sign(one_short, keys["anhui"], keys["jiangsu"]))


def test_successor_threshold_met_and_missed(keys):
    chain = fd.Chain.pinned(genesis(keys))
    now = T0 + timedelta(days=10)
    body = fd.propose(chain.latest, now, add=[member("jiangxi", keys["jiangxi"])])
    proposal = fd.unsigned_document(body)
    # three of v1's four members, but the new version has five members: 3 of 5 meets 3
    short = sign(proposal, keys["anhui"], keys["jiangsu"])
    with pytest.raises(VerificationError, match=r"2 valid signature.*3 needed, 1 missing"):
        chain.offer(short, now)
    ok = sign(short, keys["zhejiang"])
    new = chain.offer(ok, now)
    assert new is not None and new.version == 2
    assert new.member("jiangxi").region == "360000"
    assert chain.offer(ok, now) is None  # the same document again: nothing to do


def test_each_key_counts_once(keys):
    chain = fd.Chain.pinned(genesis(keys))
    proposal = fd.unsigned_document(fd.propose(chain.latest, T0 + timedelta(days=1)))
    signed = sign(proposal, keys["anhui"], keys["anhui"], keys["jiangsu"])
    env = json.loads(signed)
    assert len(env["signatures"]) == 2  # re-signing replaced the key's own signature
    with pytest.raises(VerificationError, match="1 missing"):
        chain.offer(signed, T0 + timedelta(days=1))
    # a hand-made duplicate line is refused outright
    env["signatures"].append(env["signatures"][0])
    with pytest.raises(VerificationError, match="signed twice"):
        chain.offer(json.dumps(env).encode(), T0 + timedelta(days=1))


def test_rollback_and_fork_are_refused(keys):
    chain = fd.Chain.pinned(genesis(keys))
    now = T0 + timedelta(days=2)
    v2 = sign(
        fd.unsigned_document(fd.propose(chain.latest, now, threshold=2)),
        keys["anhui"],
        keys["jiangsu"],
        keys["shanghai"],
    )
    chain.offer(v2, now)
    other = sign(
        fd.unsigned_document(fd.propose(chain.docs[0], now, threshold=4)),
        keys["anhui"],
        keys["jiangsu"],
        keys["shanghai"],
        keys["zhejiang"],
    )
    with pytest.raises(ConflictError, match="fork of governance"):
        chain.offer(other, now)
    # a chain pinned at v2 is offered v1: it cannot compare, so it is a rollback
    v3 = sign(
        fd.unsigned_document(fd.propose(chain.latest, now + timedelta(days=1))),
        keys["anhui"],
        keys["jiangsu"],
    )
    chain.offer(v3, now + timedelta(days=1))
    pinned_late = fd.Chain([chain.docs[2]])
    with pytest.raises(ConflictError, match="rollback: version 1 is below version 3"):
        pinned_late.offer(chain.docs[0].raw, now)


def test_version_must_be_exactly_next(keys):
    chain = fd.Chain.pinned(genesis(keys))
    body = fd.propose(chain.latest, T0 + timedelta(days=1))
    body["version"] = 3
    skipped = sign(fd.unsigned_document(body), keys["anhui"], keys["jiangsu"], keys["shanghai"])
    with pytest.raises(VerificationError, match="only version 2 can"):
        chain.offer(skipped, T0 + timedelta(days=1))


def test_expired_successor_refused_and_warning(keys):
    chain = fd.Chain.pinned(genesis(keys))
    body = fd.propose(chain.latest, T0 + timedelta(days=1), expires_at=T0 + timedelta(days=5))
    doc = sign(fd.unsigned_document(body), keys["anhui"], keys["jiangsu"], keys["shanghai"])
    with pytest.raises(VerificationError, match="expired on"):
        chain.offer(doc, T0 + timedelta(days=6))
    assert fd.expiry_warning(chain.latest, T0) is None
    assert "expires on 2027-11-01" in fd.expiry_warning(chain.latest, T0 + timedelta(days=340))
    assert "expired on 2027-11-01" in fd.expiry_warning(chain.latest, T0 + timedelta(days=400))


def test_stranger_signature_refused(keys):
    chain = fd.Chain.pinned(genesis(keys))
    proposal = fd.unsigned_document(fd.propose(chain.latest, T0 + timedelta(days=1)))
    signed = sign(proposal, keys["anhui"], keys["jiangsu"], keys["shanghai"], keys["henan"])
    with pytest.raises(VerificationError, match="no member's governance key"):
        chain.offer(signed, T0 + timedelta(days=1))


def test_tampered_payload_after_signing_refused(keys):
    chain = fd.Chain.pinned(genesis(keys))
    proposal = fd.unsigned_document(fd.propose(chain.latest, T0 + timedelta(days=1)))
    signed = json.loads(sign(proposal, keys["anhui"], keys["jiangsu"], keys["shanghai"]))
    body = fd.propose(chain.latest, T0 + timedelta(days=1), threshold=1)
    signed["payload"] = base64.b64encode(fd.canonical(body)).decode()
    with pytest.raises(VerificationError, match="does not verify"):
        chain.offer(json.dumps(signed).encode(), T0 + timedelta(days=1))


def test_removed_member_signs_only_for_the_old_version(keys):
    chain = fd.Chain.pinned(genesis(keys))
    now = T0 + timedelta(days=3)
    v2 = fd.unsigned_document(fd.propose(chain.latest, now, remove=["zhejiang"], threshold=2))
    # zhejiang's signature counts towards v1's threshold (it is a member there)
    v2 = sign(v2, keys["zhejiang"], keys["anhui"], keys["jiangsu"])
    doc = chain.offer(v2, now)
    assert doc.member("zhejiang") is None
    assert doc.departure("330000").at == now
    assert doc.admits("330000", "a" * 64, "node") == (
        "region 330000 left the federation on 2026-11-04T00:00:00Z"
    )
    # for v3, zhejiang belongs to neither version: its signature is a stranger's
    v3 = fd.unsigned_document(fd.propose(chain.latest, now + timedelta(days=1)))
    v3 = sign(v3, keys["anhui"], keys["jiangsu"], keys["zhejiang"])
    with pytest.raises(VerificationError, match="no member's governance key"):
        chain.offer(v3, now + timedelta(days=1))


def test_key_revoked_by_threshold(keys):
    chain = fd.Chain.pinned(genesis(keys))
    now = T0 + timedelta(days=4)
    lost = "e" * 64
    body = fd.propose(chain.latest, now, revoke_keys=[(lost, "330000", now - timedelta(days=1))])
    signed = sign(fd.unsigned_document(body), keys["anhui"], keys["jiangsu"], keys["shanghai"])
    doc = chain.offer(signed, now)
    assert doc.revoked_since(lost) == now - timedelta(days=1)
    assert doc.revoked_since("f" * 64) is None


def test_admits_checks_fingerprints(keys):
    doc = fd.Chain.pinned(genesis(keys)).latest
    assert doc.admits("340000", "a" * 64, "node") is None
    assert doc.admits("340000", "b" * 64, "operator") is None
    assert "not the one listed" in doc.admits("340000", "9" * 64, "node")
    assert "not a member" in doc.admits("410000", "a" * 64, "node")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b.pop("threshold"), "missing"),
        (lambda b: b.update(extra=1), "unknown"),
        (lambda b: b.update(threshold=9), "threshold"),
        (lambda b: b.update(version=0), "version"),
        (lambda b: b.update(expires_at="2020-01-01T00:00:00Z"), "after issued_at"),
        (lambda b: b["members"][0].update(region="999999"), "GB/T 2260"),
        (lambda b: b.update(members=list(reversed(b["members"]))), "sorted"),
        (lambda b: b.update(witness_policy="quorum nobody\n"), "undefined"),
        (lambda b: b["members"][0].update(addresses=["nowhere"]), "host:port"),
    ],
)
def test_malformed_bodies_refused(keys, mutate, message):
    body = json.loads(json.dumps(fd.parse_document(genesis(keys)).body))
    mutate(body)
    with pytest.raises(FormatError, match=message):
        fd.unsigned_document(body)


def test_non_canonical_payload_refused(keys):
    env = json.loads(genesis(keys))
    payload = json.loads(base64.b64decode(env["payload"]))
    env["payload"] = base64.b64encode(json.dumps(payload, indent=1).encode()).decode()
    with pytest.raises(FormatError, match="canonical"):
        fd.parse_document(json.dumps(env).encode())


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(_json)
def test_canonical_form_is_stable(value):
    once = fd.canonical({"v": value})
    assert fd.canonical(json.loads(once)) == once


@given(st.dictionaries(st.text(), st.integers(0, 10**6), max_size=8))
def test_canonical_form_ignores_key_order(d):
    assert fd.canonical(dict(reversed(list(d.items())))) == fd.canonical(d)


def test_governance_keyid_is_dsse_keyid(keys):
    m = member("anhui", keys["anhui"])
    assert m.governance_keyid == keyid_of(bytes(keys["anhui"].verify_key))


def test_policy_quorum():
    policy = parse_policy(default_policy({f"w{i}": bytes([i]) * 32 for i in range(5)}, 3))
    assert policy.required == 3
    assert not policy.holds(["w0", "w1"])
    assert policy.holds(["w0", "w1", "w4", "stranger"])
    assert policy.describe(["w0", "w1", "w2", "w3"]) == "confirmed by 4 witnesses, policy 3 of 5"
    assert policy.describe(["w0"]).startswith("not yet confirmed: 1 witness")
    nested = parse_policy(
        "witness a "
        + "11" * 32
        + "\nwitness b "
        + "22" * 32
        + "\nwitness c "
        + "33" * 32
        + "\ngroup ab any a b\ngroup all2 all ab c\nquorum all2\n"
    )
    assert nested.holds(["b", "c"]) and not nested.holds(["a", "b"])
    with pytest.raises(FormatError, match="line 1"):
        parse_policy("witness a zz\nquorum a\n")
