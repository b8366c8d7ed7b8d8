"""Which key may sign what, and when: the one key-certification rule.

Every driver (the issuing node, every mirror at ingest, ``brandex audit log``,
``brandex audit verify`` and ``brandex log vkeys``) answers "may key K sign
entry i (or the checkpoint of size n) of origin O at time T" through a
:class:`KeyHistory`, built entry by entry from the log's own key entries:

* the first entry announces the log's first key and is signed by it; its
  certificate must chain to an anchor and name the origin's region, judged
  at the entry's ``issued_at``;
* a later ``KeyAnnouncement`` is a rotation: it names the key it replaces
  (the current one) and is signed by it. That key signs nothing after the
  rotation entry; the checkpoint that covers the rotation, and everything
  after, is signed by the new key;
* a ``KeyRevocation`` (signed by a later key) declares a retired key
  compromised since T. Entries it signed with ``issued_at >= T`` are
  *suspect*: kept (they are signed evidence), flagged, not applied;
* time (trust rule 6): an entry's ``issued_at`` lies within the validity of
  the signing key's certificate, is at most :data:`CLOCK_SKEW` after the
  verifier's clock and at most :data:`CLOCK_SKEW` before the previous entry's.
  A checkpoint's key must hold a certificate valid at the checkpoint's time
  evidence: the earliest verified witness cosignature on it, or the
  verifier's clock when none is known. An issuer's clock proves nothing: a
  log freshly signed with an expired certificate is refused even when every
  ``issued_at`` was set inside the certificate's validity.

Pure: certificates are parsed from the PEM the log carries; the caller hands
in the anchors and the time. A history pickles cheaply, so worker processes
receive it with each batch.
"""

from __future__ import annotations

import copy
import functools
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509 as cx509

from exchange.core import x509
from exchange.core.dsse import keyid_of
from exchange.core.errors import (
    ConflictError,
    FormatError,
    NotFoundError,
    ValidationError,
    VerificationError,
)
from exchange.core.origin import Origin

__all__ = [
    "CLOCK_SKEW",
    "KeyHistory",
    "KeyLife",
    "certify_announcement",
    "issued_at",
    "parse_time",
    "resolve_keyid",
]

#: How far an issuer's clock may run ahead of a verifier's, and backwards
#: between two entries of one log.
CLOCK_SKEW = timedelta(minutes=5)


def parse_time(text: str, what: str = "issued_at") -> datetime:
    """Parse an RFC 3339 time; naive times are UTC. VerificationError otherwise."""
    at = _parse_time(text) if isinstance(text, str) else None
    if at is None:
        raise VerificationError(f"{what} {text!r} is not an RFC 3339 time")
    return at


@functools.lru_cache(maxsize=1024)
def _parse_time(text: str) -> datetime | None:
    """Memoised: a batch's entries mostly carry the same few times (an import signs
    hundreds at one ``issued_at``), and every entry's time is read twice while it is
    verified. A datetime is immutable, so sharing one is safe."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def issued_at(entry: object) -> datetime:
    """The ``issued_at`` of an Entry (protobuf or an object with that attribute)."""
    return parse_time(getattr(entry, "issued_at", ""))


@dataclass
class KeyLife:
    """One signing key of a log, from its announcement to its retirement.

    Attributes:
        index: the entry that announced it.
        not_before, not_after: its certificate's validity.
        retired_at: the rotation entry that replaced it (the last it signed).
        revoked_at: the KeyRevocation entry that revoked it.
        compromised_since: from when its signatures are suspect.
    """

    keyid: str
    public_key: bytes
    chain_pem: str
    index: int
    not_before: datetime
    not_after: datetime
    replaces: str = ""
    retired_at: int | None = None
    revoked_at: int | None = None
    compromised_since: datetime | None = None

    def signs(self, index: int) -> bool:
        """Whether the key is the log's signing key for entry ``index``."""
        first, last = self.turn()
        return first <= index <= last

    def turn(self) -> tuple[int, int]:
        """The entries the key signs: ``first`` to ``last`` inclusive (empty when
        last < first; ``last`` is sys.maxsize while nothing has ended its turn).

        A log's first key signs its own announcement; a rotated-in key signs
        from the entry after the rotation, which its predecessor signed; a
        rotation (``retired_at``) is the last entry a key signs, a revocation
        (``revoked_at``) the first it does not.
        """
        last = sys.maxsize
        if self.retired_at is not None:
            last = self.retired_at
        if self.revoked_at is not None and self.revoked_at - 1 < last:
            last = self.revoked_at - 1
        return (self.index + 1 if self.replaces else self.index), last

    def valid_at(self, at: datetime) -> bool:
        return self.not_before <= at <= self.not_after

    def suspect(self, at: datetime) -> bool:
        """Whether an entry this key signed at ``at`` falls in its compromise."""
        return self.compromised_since is not None and at >= self.compromised_since

    def describe(self) -> str:
        return f"key {self.keyid[:16]}…"


def certify_announcement(
    announcement: Any, region: str, anchors: Sequence[cx509.Certificate], at: datetime
) -> tuple[bytes, str, datetime, datetime]:
    """Check a KeyAnnouncement's certificate at ``at`` for ``region``.

    Returns (raw key, chain PEM, not_before, not_after).
    """
    pems = list(announcement.certificate_chain_pem)
    try:
        blocks = [pem.encode("utf-8") for pem in pems]
    except UnicodeEncodeError as exc:
        raise FormatError(f"certificate chain is not valid text: {exc}") from None
    chain = [c for block in blocks for c in x509.load_pem_chain(block)]
    if not chain:
        raise VerificationError("key announcement carries no certificate")
    public = x509.verify_signing_certificate(chain[0], chain[1:], anchors, at=at, region=region)
    if public != bytes(announcement.public_key):
        raise VerificationError("the announced key differs from the key its certificate certifies")
    return public, "".join(pems), chain[0].not_valid_before_utc, chain[0].not_valid_after_utc


@dataclass
class KeyHistory:
    """The key state of one origin after its first ``size`` entries.

    ``last_issued_at`` is the ``issued_at`` of entry ``size - 1`` (for the
    rule that a log's time does not go backwards); ``version`` counts key
    events, so a pipeline can tell a batch verified with an older history.
    """

    origin: Origin
    keys: dict[str, KeyLife] = field(default_factory=dict)
    size: int = 0
    last_issued_at: datetime | None = None
    version: int = 0
    #: When the origin's region left the federation (its federation document says):
    #: entries issued from then on are refused; those before stay valid.
    left_at: datetime | None = None
    #: The answer of :meth:`signer_at` for a run of indices: (version, key or None,
    #: first, last). A log's key signs long runs, so the answer for the next index
    #: is almost always this one; every change of a key's turn (announcement,
    #: rotation, revocation) goes through a method that bumps ``version``.
    _run: tuple[int, KeyLife | None, int, int] | None = field(
        default=None, repr=False, compare=False
    )

    # ------------------------------------------------------------ queries

    def copy(self) -> KeyHistory:
        return copy.deepcopy(self)

    def current(self) -> KeyLife | None:
        """The key that signs the log's next entry."""
        return self.signer_at(self.size)

    def signer_at(self, index: int) -> KeyLife | None:
        """The key that may sign entry ``index`` (None before any key)."""
        run = self._run
        if run is not None and run[0] == self.version and run[2] <= index <= run[3]:
            return run[1]
        return self._find_signer(index)

    def _find_signer(self, index: int) -> KeyLife | None:
        """The first key whose turn holds ``index``, and the run of indices around it
        with the same answer (kept in ``_run``): inside that key's turn and outside
        the turns of every key before it, which the answer would otherwise be."""
        first, last = -sys.maxsize, sys.maxsize
        found = None
        for life in self.keys.values():
            lo, hi = life.turn()
            if lo <= index <= hi:
                found = life
                first, last = max(first, lo), min(last, hi)
                break
            if hi < index:  # an empty turn (hi < lo) lies on one side too
                first = max(first, hi + 1)
            else:
                last = min(last, lo - 1)
        self._run = (self.version, found, first, last)
        return found

    def checkpoint_signer(self, size: int) -> KeyLife | None:
        """The key that signs the checkpoint of ``size``: the one current after entry size-1."""
        return self.signer_at(size) if size > 0 else None

    def public_keys(self) -> dict[str, bytes]:
        return {k: life.public_key for k, life in self.keys.items()}

    def suspect(self, keyid: str, at: datetime) -> bool:
        life = self.keys.get(keyid)
        return life is not None and life.suspect(at)

    def check_checkpoint_key(
        self, life: KeyLife, size: int, now: datetime, witnessed: Sequence[datetime] = ()
    ) -> None:
        """Refuse a checkpoint of ``size`` signed by ``life`` out of its time.

        The key must be the one current at that size and hold a certificate
        valid at the checkpoint's time evidence: the verifier's clock, or the
        time of a verified witness cosignature on it (a witness saw it then).
        A log freshly signed with an expired certificate has neither.
        """
        if self.checkpoint_signer(size) is not life:
            raise VerificationError(
                f"checkpoint of {self.origin} at size {size} is signed by {life.describe()}, "
                "which does not sign that size (retired or revoked)"
            )
        times = [now, *(w for w in witnessed if w <= now)]
        if not any(life.valid_at(t) for t in times):
            raise VerificationError(
                f"checkpoint of {self.origin} at size {size} is signed by {life.describe()} "
                f"whose certificate ({life.not_before.isoformat()} .. "
                f"{life.not_after.isoformat()}) is not valid now ({now.isoformat()}) nor when "
                "a witness cosigned it"
            )

    def checkpoint_keys(self, size: int) -> list[KeyLife]:
        """Keys a verifier tries for a checkpoint of ``size`` (at most one)."""
        life = self.checkpoint_signer(size)
        return [life] if life is not None else []

    # ----------------------------------------------------------- entries

    def signer(self, index: int, signatures: Iterable[tuple[str, bytes]]) -> tuple[KeyLife, bytes]:
        """Pick the signature on entry ``index`` by the key that may sign it.

        Raises VerificationError naming why no signature counts.
        """
        sigs = signatures if isinstance(signatures, (tuple, list)) else list(signatures)
        life = self.signer_at(index)
        if life is not None:
            for kid, sig in sigs:
                if kid == life.keyid:
                    return life, sig
        known = [self.keys[k] for k, _ in sigs if k in self.keys]
        if known:
            old = known[0]
            if old.revoked_at is not None and index >= old.revoked_at:
                why = f"revoked at entry {old.revoked_at}"
            elif old.retired_at is not None and index > old.retired_at:
                why = f"replaced at entry {old.retired_at}"
            else:
                why = "not the log's key at that index"
            raise VerificationError(f"signed by {old.describe()}, {why}: a key never signs again")
        if life is None:
            raise VerificationError(f"no key is certified for {self.origin}")
        first = sigs[0][0][:16] if sigs else "nothing"
        raise VerificationError(f"signed by key {first}…, which is not certified for {self.origin}")

    def check_time(self, life: KeyLife, index: int, at: datetime, now: datetime) -> None:
        """Trust rule 6 for entry ``index`` signed by ``life`` at ``at``.

        The first test is every rule below at once, for the entry that passes them
        all (``at - now > CLOCK_SKEW`` is ``at > now + CLOCK_SKEW``: datetime
        arithmetic is exact); the rules one by one say which failed.
        """
        last, left = self.last_issued_at, self.left_at
        if (
            life.valid_at(at)
            and (left is None or at < left)
            and at - now <= CLOCK_SKEW
            and (last is None or last - at <= CLOCK_SKEW)
        ):
            return
        if not life.valid_at(at):
            raise VerificationError(
                f"issued at {at.isoformat()}, outside the validity of {life.describe()}'s "
                f"certificate ({life.not_before.isoformat()} .. {life.not_after.isoformat()})"
            )
        if self.left_at is not None and at >= self.left_at:
            raise VerificationError(
                f"issued at {at.isoformat()}, after region {self.origin.region} left the "
                f"federation ({self.left_at.isoformat()}): its keys sign nothing from then on"
            )
        if at > now + CLOCK_SKEW:
            raise VerificationError(
                f"issued at {at.isoformat()}, more than {CLOCK_SKEW} after this clock "
                f"({now.isoformat()})"
            )
        if self.last_issued_at is not None and at < self.last_issued_at - CLOCK_SKEW:
            raise VerificationError(
                f"issued at {at.isoformat()}, more than {CLOCK_SKEW} before the previous "
                f"entry ({self.last_issued_at.isoformat()}): a log's time does not go backwards"
            )

    def apply(
        self,
        index: int,
        entry: Any,
        body: str | None,
        signer_keyid: str,
        anchors: Sequence[cx509.Certificate],
        at: datetime | None = None,
    ) -> None:
        """Take in a verified entry's key event (if any) and advance to ``index + 1``.

        The caller has already checked the signature with :meth:`signer` (for
        entry 0, with the key it announces) and the time with :meth:`check_time`;
        ``at`` is the entry's issued_at when the caller has already read it.
        """
        if at is None:
            at = issued_at(entry)
        if index != self.size:
            raise VerificationError(f"{self.origin}: entry {index} applied at size {self.size}")
        if body == "key_announcement":
            self._announce(index, entry.key_announcement, signer_keyid, anchors, at)
        elif body == "key_revocation":
            self._revoke(index, entry.key_revocation, signer_keyid)
        elif index == 0:
            raise VerificationError("the first entry of a log must announce the key that signs it")
        self.size = index + 1
        self.last_issued_at = at

    def admit(
        self,
        index: int,
        life: KeyLife,
        entry: Any,
        body: str | None,
        now: datetime,
        anchors: Sequence[cx509.Certificate],
    ) -> datetime:
        """:meth:`check_time` then :meth:`apply` for entry ``index`` (not a log's first),
        whose signature by ``life`` (from :meth:`signer`) has verified; its time is
        read once. Returns that time."""
        at = issued_at(entry)
        self.check_time(life, index, at, now)
        self.apply(index, entry, body, life.keyid, anchors, at)
        return at

    def skip(self, index: int) -> None:
        """Step over entry ``index`` that was refused (an auditor reports it and goes on)."""
        if index != self.size:
            raise VerificationError(f"{self.origin}: entry {index} skipped at size {self.size}")
        self.size = index + 1

    def _announce(
        self,
        index: int,
        ka: Any,
        signer_keyid: str,
        anchors: Sequence[cx509.Certificate],
        at: datetime,
    ) -> None:
        public, chain_pem, lo, hi = certify_announcement(ka, self.origin.region, anchors, at)
        keyid = keyid_of(public)
        if keyid in self.keys:
            raise VerificationError(f"key {keyid[:16]}… was announced before: keys are not reused")
        replaces = getattr(ka, "replaces_keyid", "")
        if index == 0 or not self.keys:
            if replaces:
                raise VerificationError("the first key announcement cannot replace a key")
            if signer_keyid != keyid:
                raise VerificationError(
                    "the key announcement is not signed by the key it announces"
                )
        else:
            current = self.signer_at(index)
            if not replaces:
                raise VerificationError(
                    "a key announcement after the first entry must name the key it replaces"
                )
            if current is None or replaces != current.keyid:
                raise VerificationError(
                    f"the rotation replaces key {replaces[:16]}…, which is not the current key"
                )
            if signer_keyid != current.keyid:
                raise VerificationError("a rotation must be signed by the key it replaces")
            current.retired_at = index
        self.keys[keyid] = KeyLife(keyid, public, chain_pem, index, lo, hi, replaces)
        self.version += 1

    def _revoke(self, index: int, kr: Any, signer_keyid: str) -> None:
        life = self.keys.get(kr.keyid)
        if life is None:
            raise VerificationError(f"revocation of key {kr.keyid[:16]}…, unknown to this log")
        if kr.keyid == signer_keyid:
            raise VerificationError("a key cannot revoke itself: the region's next key signs it")
        if life.revoked_at is not None:
            raise VerificationError(f"{life.describe()} was already revoked at {life.revoked_at}")
        life.compromised_since = parse_time(kr.compromised_since, "compromised_since")
        life.revoked_at = index
        self.version += 1

    def federation_revoke(self, keyid: str, since: datetime) -> bool:
        """Mark a key compromised since ``since`` because the federation document says so
        (a member lost its key and the others revoked it by threshold). Like a
        KeyRevocation entry, entries it signed from then on become suspects; unlike
        one, it does not end the key's turn in the log (the log did not say so).
        Returns whether anything changed."""
        life = self.keys.get(keyid)
        if life is None or (life.compromised_since is not None and life.compromised_since <= since):
            return False
        life.compromised_since = since
        self.version += 1
        return True

    # ------------------------------------------------------ persistence

    def to_rows(self) -> list[dict[str, Any]]:
        """One plain dict per key (for the store)."""
        return [
            {
                "keyid": k.keyid,
                "public_key": k.public_key,
                "chain_pem": k.chain_pem,
                "idx": k.index,
                "replaces": k.replaces,
                "retired_at": k.retired_at,
                "revoked_at": k.revoked_at,
                "compromised_since": k.compromised_since.isoformat()
                if k.compromised_since
                else None,
            }
            for k in self.keys.values()
        ]

    @classmethod
    def from_rows(
        cls,
        origin: Origin,
        rows: Iterable[Mapping[str, Any]],
        *,
        size: int,
        last_issued_at: datetime | None,
    ) -> KeyHistory:
        """Rebuild a history the store kept (the certificates were checked when stored)."""
        h = cls(origin, size=size, last_issued_at=last_issued_at)
        for r in sorted(rows, key=lambda r: r["idx"]):
            chain = x509.load_pem_chain(r["chain_pem"].encode())
            since = r.get("compromised_since")
            h.keys[r["keyid"]] = KeyLife(
                r["keyid"],
                bytes(r["public_key"]),
                r["chain_pem"],
                r["idx"],
                chain[0].not_valid_before_utc,
                chain[0].not_valid_after_utc,
                r.get("replaces") or "",
                r.get("retired_at"),
                r.get("revoked_at"),
                parse_time(since, "compromised_since") if since else None,
            )
        h.version = len(h.keys) + sum(1 for k in h.keys.values() if k.revoked_at is not None)
        return h


def resolve_keyid(history: KeyHistory, prefix: str) -> str:
    """The full id of the key of ``history`` that ``prefix`` (8+ hex digits) names.

    Raises ValidationError for a short or ambiguous prefix, NotFoundError for
    none, and ConflictError for the current key (rotate away from it first:
    a key is revoked by the key that replaced it).
    """
    text = prefix.strip().lower()
    if len(text) < 8 or any(c not in "0123456789abcdef" for c in text):
        raise ValidationError("keyid", "must be at least 8 hex digits of a key id", prefix)
    found = [k for k in history.keys if k.startswith(text)]
    if not found:
        raise NotFoundError(f"{history.origin} has no key {text}")
    if len(found) > 1:
        raise ValidationError("keyid", "names more than one key; give more digits", prefix)
    current = history.current()
    if current is not None and current.keyid == found[0]:
        raise ConflictError(
            f"key {found[0][:16]}… is the current key of {history.origin}: rotate to a new key "
            "first (brandex keys rotate); the new key signs the revocation"
        )
    return found[0]
