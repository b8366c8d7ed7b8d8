"""KeyHistory's cached signer (a run of indices with one answer) and its one-pass time
check, each compared with the uncached answer: the first key whose turn holds the
index, and trust rule 6 read rule by rule.

Histories are built through real key entries (certified keys, rotations,
revocations, a federation's revocation, the stored rows read back) and, for the
cache's arithmetic, from arbitrary key turns; every index is asked in an order
that moves the cached run back and forth."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from exchange import pki
from exchange._proto.brandex.v1 import entries_pb2 as pb
from exchange.core import x509
from exchange.core.dsse import keyid_of
from exchange.core.errors import VerificationError
from exchange.core.keys import CLOCK_SKEW, KeyHistory, KeyLife
from exchange.core.origin import parse_origin

ORIGIN = parse_origin("yrd/330000")
NOW = datetime.now(UTC).replace(microsecond=0)
STAMP = NOW.isoformat()


def uncached(history: KeyHistory, index: int) -> KeyLife | None:
    """The rule without the cache: the first key (in announcement order) that signs ``index``."""
    return next((life for life in history.keys.values() if life.signs(index)), None)


def assert_signers_match(history: KeyHistory, seed: int = 0) -> None:
    """signer_at for every index near the log, in shuffled order, equals the uncached answer."""
    indices = list(range(-2, history.size + 4))
    random.Random(seed).shuffle(indices)
    for i in indices + sorted(indices) + sorted(indices, reverse=True):
        assert history.signer_at(i) is uncached(history, i), i


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("turns") / "certs"
    pki.init_federation(out, "yrd", {"zhejiang": "330000"})
    return out


@pytest.fixture(scope="module")
def anchors(certs: Path):
    return x509.load_pem_chain((certs / "anchor.pem").read_bytes())


class Keys:
    """Certified keys of zhejiang, one per turn, and the entries that change turns."""

    def __init__(self, certs: Path, tmp: Path) -> None:
        self.certs, self.tmp, self.made = certs, tmp, 0

    def new(self) -> tuple[SigningKey, str]:
        self.made += 1
        key_path, cert_path = pki.certify_signing_key(
            self.certs, "zhejiang", self.tmp / str(self.made)
        )
        return pki.load_signing_key(key_path), cert_path.read_text()

    @staticmethod
    def entry(field: str, msg) -> pb.Entry:
        e = pb.Entry(federation="yrd", region="330000", issued_at=STAMP)
        getattr(e, field).CopyFrom(msg)
        return e

    def announce(self, replaces: str = "") -> tuple[SigningKey, pb.Entry]:
        key, pem = self.new()
        ka = pb.KeyAnnouncement(
            public_key=bytes(key.verify_key), certificate_chain_pem=[pem], replaces_keyid=replaces
        )
        return key, self.entry("key_announcement", ka)


def kid(key: SigningKey) -> str:
    return keyid_of(bytes(key.verify_key))


def test_the_cached_signer_follows_rotations_and_revocations(certs, anchors, tmp_path) -> None:
    keys = Keys(certs, tmp_path)
    h = KeyHistory(ORIGIN)
    plain = Keys.entry("accession", pb.Accession(agreement_id="a", region="330000"))
    first, announcement = keys.announce()
    h.apply(0, announcement, "key_announcement", kid(first), anchors)
    current, retired = first, []

    def step(entry: pb.Entry, body: str | None, signer: SigningKey) -> None:
        life, _ = h.signer(h.size, [(kid(signer), b"")])
        assert life is uncached(h, h.size)
        h.admit(h.size, life, entry, body, NOW, anchors)
        assert_signers_match(h, seed=h.size)

    for _ in range(5):
        step(plain, "accession", current)
    for _ in range(3):  # three rotations, each signed by the key it replaces
        new, announcement = keys.announce(replaces=kid(current))
        step(announcement, "key_announcement", current)
        retired.append(current)
        current = new
        for _ in range(4):
            step(plain, "accession", current)
    # The newest key revokes two retired ones; the first key's turn is unchanged by it.
    for old in retired[:2]:
        revocation = pb.KeyRevocation(keyid=kid(old), compromised_since=STAMP)
        step(Keys.entry("key_revocation", revocation), "key_revocation", current)
    for _ in range(3):
        step(plain, "accession", current)
    # A federation's revocation marks the current key compromised, not ending its turn.
    assert h.federation_revoke(kid(current), NOW)
    assert_signers_match(h, seed=99)
    assert h.signer_at(h.size) is h.keys[kid(current)]

    # Who signs what: the turns as the entries set them.
    turns = [life.turn() for life in h.keys.values()]
    assert turns[0] == (0, 6) and turns[1] == (7, 11) and turns[3][1] > h.size
    with pytest.raises(VerificationError, match="replaced at entry 6"):
        h.signer(7, [(kid(first), b"")])

    # A copy, and the rows the store keeps read back, answer the same.
    assert_signers_match(h.copy(), seed=7)
    rows = h.to_rows()
    stored = KeyHistory.from_rows(ORIGIN, rows, size=h.size, last_issued_at=h.last_issued_at)
    assert_signers_match(stored, seed=8)
    for i in range(h.size + 2):
        assert (stored.signer_at(i) or KeyLife).keyid == (h.signer_at(i) or KeyLife).keyid


def test_a_cached_run_is_dropped_when_a_key_event_changes_turns(certs, anchors, tmp_path) -> None:
    keys = Keys(certs, tmp_path)
    h = KeyHistory(ORIGIN)
    first, announcement = keys.announce()
    h.apply(0, announcement, "key_announcement", kid(first), anchors)
    far = h.size + 100
    assert h.signer_at(far).keyid == kid(first)  # caches first's open-ended turn
    second, rotation = keys.announce(replaces=kid(first))
    h.apply(1, rotation, "key_announcement", kid(first), anchors)
    assert h.signer_at(far).keyid == kid(second)
    assert h.signer_at(1).keyid == kid(first)
    assert h.signer_at(2).keyid == kid(second)


@st.composite
def turns(draw) -> KeyHistory:
    """Arbitrary (even inconsistent) key turns: the cache must give the first key's answer."""
    h = KeyHistory(ORIGIN)
    for n in range(draw(st.integers(0, 5))):
        index = draw(st.integers(0, 30))
        end = st.none() | st.integers(0, 40)
        h.keys[f"k{n}"] = KeyLife(
            f"k{n}",
            bytes(32),
            "",
            index,
            NOW,
            NOW,
            draw(st.sampled_from(["", "k0"])),
            draw(end),
            draw(end),
        )
    h.size = 35
    return h


@settings(max_examples=300, deadline=None)
@given(turns(), st.randoms(use_true_random=False))
def test_the_cached_signer_equals_the_first_key_whose_turn_holds_the_index(h, rnd) -> None:
    indices = list(range(-3, 45))
    rnd.shuffle(indices)
    for i in indices:
        assert h.signer_at(i) is uncached(h, i), i


def rule_by_rule(h: KeyHistory, life: KeyLife, at: datetime, now: datetime) -> bool:
    """Trust rule 6 as docs/DESIGN.md states it, one rule at a time: may ``at`` stand?"""
    if not life.not_before <= at <= life.not_after:
        return False
    if h.left_at is not None and at >= h.left_at:
        return False
    if at > now + CLOCK_SKEW:
        return False
    return h.last_issued_at is None or at >= h.last_issued_at - CLOCK_SKEW


EDGE = st.sampled_from(
    [timedelta(0), CLOCK_SKEW, -CLOCK_SKEW, timedelta(microseconds=1), timedelta(microseconds=-1)]
)


@settings(max_examples=400, deadline=None)
@given(
    at=st.sampled_from([-2, -1, 0, 1, 2]).map(lambda m: NOW + m * CLOCK_SKEW),
    nudge=EDGE,
    last=st.none() | st.sampled_from([-1, 0, 1, 2]).map(lambda m: NOW + m * CLOCK_SKEW),
    left=st.none() | st.sampled_from([-1, 0, 1]).map(lambda m: NOW + m * CLOCK_SKEW),
    validity=st.sampled_from([(-3, 3), (0, 3), (-3, 0), (1, 3)]),
)
def test_check_time_accepts_exactly_what_the_rules_one_by_one_accept(
    at, nudge, last, left, validity
) -> None:
    at = at + nudge
    lo, hi = (NOW + m * CLOCK_SKEW for m in validity)
    life = KeyLife("k", bytes(32), "", 0, lo, hi)
    h = KeyHistory(ORIGIN, size=1, last_issued_at=last, left_at=left)
    try:
        h.check_time(life, 1, at, NOW)
        accepted = True
    except VerificationError:
        accepted = False
    assert accepted is rule_by_rule(h, life, at, NOW)
