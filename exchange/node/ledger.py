"""The node's logs: issuing its own entries and accepting other origins' entries.

This is where trust rules 1-3 are enforced. Nothing reaches the store that has
not been verified against the issuer's certified key and the issuer's signed
checkpoint; a checkpoint that conflicts with one already accepted becomes
evidence and freezes the origin. The ledger speaks to peers only through the
small ``Peer`` protocol, so the rules are testable without sockets.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.hazmat.primitives import serialization
from nacl.signing import SigningKey, VerifyKey

from exchange._proto.brandex.v1 import entries_pb2
from exchange.core import merkle, x509
from exchange.core.checkpoint import (
    Checkpoint,
    open_checkpoint,
    parse_checkpoint_body,
    sign_checkpoint,
)
from exchange.core.cosignature import (
    CosignatureSigner,
    CosignatureVerifier,
    cosign,
    cosigner_key,
)
from exchange.core.dsse import keyid_of, parse_envelope, sign_envelope
from exchange.core.errors import (
    BrandexError,
    ConflictError,
    EquivocationError,
    FormatError,
    NotFoundError,
    VerificationError,
)
from exchange.core.keys import CLOCK_SKEW, KeyHistory, issued_at, parse_time
from exchange.core.note import (
    Ed25519NoteSigner,
    Ed25519NoteVerifier,
    Note,
    NoteSignature,
    add_signature,
    format_note,
    parse_note,
)
from exchange.core.origin import origin_name, parse_origin, witness_name
from exchange.node.verify import (
    VerifiedBatch,
    open_origin_checkpoint,
    sign_entries,
    verify_batch,
    verify_batch_in_worker,
)
from exchange.store import Store
from exchange.store.database import OriginRow

if TYPE_CHECKING:
    from exchange.core.federation import FederationDoc
    from exchange.node.governance import Governance

__all__ = ["Ledger", "OriginHead", "Peer", "SyncOutcome"]

log = logging.getLogger("brandex.ledger")


_SIGN_CHUNK = 500  # entries per task when signing in worker processes
_KEY_BODIES = ("key_announcement", "key_revocation")


@dataclass(frozen=True)
class OriginHead:
    """What a peer says about one origin: its size and signed checkpoint."""

    origin: str
    size: int
    checkpoint: str


class Peer(Protocol):
    """The little the ledger needs from another node."""

    name: str

    def list_origins(self) -> list[OriginHead]: ...

    def get_entries(
        self, origin: str, start: int, end: int
    ) -> Iterator[tuple[int, list[bytes]]]: ...


@dataclass(frozen=True)
class SyncOutcome:
    origin: str
    action: str  # "up-to-date", "appended", "partial", "cosigned", "lagging", "rejected",
    # "equivocation"
    added: int = 0
    detail: str = ""
    invalid: bool = False  # the peer served data that does not verify


class Ledger:
    """Own log plus verified mirrors of every other origin, on one Store."""

    def __init__(
        self,
        store: Store,
        *,
        federation: str,
        region: str,
        signing_key: SigningKey,
        signing_chain_pem: Sequence[str],
        anchors: Sequence[x509.x509.Certificate],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        witness: bool = True,
        max_fetch: int = 2_000_000,
        max_round_bytes: int = 256 << 20,
        pool: Executor | None = None,
        pool_depth: int = 4,
        origin_lock_wait: float = 2.0,
        inline_index_limit: int = 10_000,
    ) -> None:
        self.store = store
        self.federation = federation
        self.region = region
        self.origin = f"{federation}/{region}"
        self._key = signing_key
        self._chain = list(signing_chain_pem)
        self.anchors = list(anchors)
        self.clock = clock
        self.witness = witness
        self.max_fetch = max_fetch
        self.max_round_bytes = max_round_bytes
        self.pool = pool
        self.pool_depth = pool_depth
        self.origin_lock_wait = origin_lock_wait
        self.inline_index_limit = inline_index_limit
        self._anchors_pem = b"".join(
            a.public_bytes(serialization.Encoding.PEM) for a in self.anchors
        )
        self.log_signer = Ed25519NoteSigner(self.origin, signing_key)
        self.cosigner = CosignatureSigner(witness_name(self.origin), signing_key)
        self._changed = threading.Condition()
        self.closing = threading.Event()
        self._version = 0
        self._sync_locks: dict[str, threading.Lock] = {}
        #: Set when a peer holds a bigger signed checkpoint of the own log than this
        #: node (a tail lost to a power cut or a restored backup): issuing waits.
        self.lost_tail: str | None = None
        self._sync_locks_guard = threading.Lock()
        #: The federation document chain, when the node runs with one (node.governance):
        #: a departed member's later entries are refused, revoked keys flag suspects.
        self.governance: Governance | None = None

    # ----------------------------------------------------------- notifications

    def _notify(self) -> None:
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    def wait_for_change(self, version: int, timeout: float) -> int:
        """Block until a checkpoint newer than ``version`` is accepted (or timeout)."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._version != version or self.closing.is_set(), timeout=timeout
            )
            return self._version

    def close(self) -> None:
        """Release everyone waiting for changes (watch streams end at once)."""
        self.closing.set()
        with self._changed:
            self._changed.notify_all()

    @property
    def version(self) -> int:
        return self._version

    # ------------------------------------------------------------------- keys

    def history(self, origin: str) -> KeyHistory:
        """The origin's key history at its committed size (see core.keys)."""
        row = self.store.origin(origin)
        size = row.size if row else 0
        last = self.store.issued_at(origin, size - 1) if size else None
        parsed = parse_origin(origin)
        history = KeyHistory.from_rows(
            parsed,
            self.store.key_rows(origin),
            size=size,
            last_issued_at=parse_time(last) if last else None,
        )
        if self.governance is not None:
            doc = self.governance.latest
            history.left_at = self.governance.left_at(parsed.region)
            for revoked in doc.revoked_keys:
                if revoked.region == parsed.region:
                    history.federation_revoke(revoked.keyid, revoked.since)
        return history

    def apply_federation(self, doc: FederationDoc) -> None:
        """Take in what a new federation document says about keys: each signing key it
        revokes is compromised from the time it gives, so what that key signed since is
        flagged (kept, not applied), exactly as for a KeyRevocation entry."""
        for revoked in doc.revoked_keys:
            origin = origin_name(self.federation, revoked.region)
            with self._lock_for(origin):
                history = self.history(origin)  # the document's revocations applied
                life = history.keys.get(revoked.keyid)
                if life is None:
                    continue  # not known yet: applied when its announcement is mirrored
                with self.store.write() as tx:
                    tx.save_keys(origin, history.to_rows())
                    self._flag_suspects(tx, origin, history)
                log.warning(
                    "%s: key %s… revoked by federation document version %d (since %s)",
                    origin,
                    revoked.keyid[:16],
                    doc.version,
                    revoked.since.isoformat(),
                )
        self._notify()

    def witness_keys(self, origin: str) -> list[bytes]:
        """Cosigner keys of one member, from its log that this node holds.

        A revoked key's cosignatures do not count: whoever stole it could make them.
        Read per witness named on a note, not for every member at once: with
        thousands of origins a whole-table read per checkpoint made joining
        quadratic in the number of origins (docs/SCALE.md).
        """
        return [
            bytes(r["public_key"]) for r in self.store.key_rows(origin) if r["revoked_at"] is None
        ]

    def _cosignatures(self, note: Note) -> list[tuple[NoteSignature, int]]:
        """Each witness cosignature on ``note`` by a known member's key that verifies, with
        its timestamp (this node's own excepted)."""
        keys: dict[str, list[bytes]] = {}

        def keys_of(member: str) -> list[bytes]:
            if member not in keys:
                keys[member] = self.witness_keys(member)
            return keys[member]

        out = []
        for sig in note.signatures:
            if sig.name == witness_name(self.origin):
                continue
            found = cosigner_key(sig, keys_of)
            if found is None:
                continue
            try:
                ts = CosignatureVerifier(sig.name, VerifyKey(found[1])).verify_cosignature(
                    note.text, sig
                )
            except VerificationError:
                continue
            out.append((sig, ts))
        return out

    def _open(
        self, origin: str, note_text: str, history: KeyHistory, size: int | None = None
    ) -> tuple[Checkpoint, Note]:
        """Verify a checkpoint note with the key that signs that size of the origin."""
        return open_origin_checkpoint(origin, note_text, history, size)

    def _witnessed(self, note: Note) -> list[datetime]:
        """Times of verified cosignatures of known witnesses on ``note`` (time evidence)."""
        return [datetime.fromtimestamp(ts, UTC) for _, ts in self._cosignatures(note)]

    def _flag_suspects(self, tx, origin: str, history: KeyHistory) -> int:
        """Flag entries signed inside a revoked key's compromise; re-fold the registry.

        Returns how many entries were newly flagged. The entries stay in the log.
        """
        flagged: list[tuple[int, str, str]] = []
        for life in history.keys.values():
            if life.compromised_since is None:
                continue
            last = life.retired_at if life.retired_at is not None else history.size - 1
            for idx, raw in tx.envelopes(origin, life.index, last + 1):
                env = parse_envelope(raw)
                if not any(kid == life.keyid for kid, _ in env.signatures):
                    continue
                at = issued_at(entries_pb2.Entry.FromString(env.payload))
                if life.suspect(at):
                    reason = (
                        f"signed by {life.describe()} at {at.isoformat()}, after its compromise "
                        f"since {life.compromised_since.isoformat()} (revoked at entry "
                        f"{life.revoked_at})"
                    )
                    flagged.append((idx, life.keyid, reason))
        added = tx.add_suspects(origin, flagged)
        if added:
            log.warning("%s: %d entries flagged as suspect (key compromise)", origin, added)
            tx.reindex(origin)
            tx.index(origin)
        return added

    # ---------------------------------------------------------------- serving

    def checkpoint_with_cosignatures(
        self, origin: str, size: int | None = None, row: OriginRow | None = None
    ) -> str:
        """The issuer-signed note plus every cosignature held for it.

        Pass the ``row`` already read when its size is served alongside the note:
        a second read could see a newer head than the first.
        """
        row = row or self.store.origin(origin)
        if row is None:
            raise NotFoundError(f"origin {origin} is not held here")
        size = row.size if size is None else size
        if not row.checkpoint and size == row.size:
            raise NotFoundError(f"origin {origin} has no checkpoint yet")
        note = parse_note(
            row.checkpoint if size == row.size else self.store.checkpoint_note(origin, size)
        )
        have = {(s.name, s.key_id) for s in note.signatures}
        for _, _, line in self.store.cosignatures(origin, size):
            sig = parse_note(note.text + "\n" + line).signatures[0]
            if (sig.name, sig.key_id) not in have:
                note = add_signature(note, sig)
                have.add((sig.name, sig.key_id))
        return format_note(note)

    # ---------------------------------------------------------------- issuing

    def recover_own_log(self, peers: Iterable[Peer]) -> None:
        """Before issuing anything: take back own entries a peer holds and this node lost.

        A node whose disk died, or whose last commits a power cut took, finds its
        own log bigger at a peer (signed by its own key); it syncs it back before
        bootstrapping or issuing, instead of signing a different tree (a fork).
        Unreachable peers are skipped: the sync rounds check again later.
        """
        for peer in peers:
            try:
                heads = [h for h in peer.list_origins() if h.origin == self.origin]
            except Exception as exc:  # an unreachable peer is the usual case at start
                log.debug("own-log check with %s skipped: %s", peer.name, exc)
                continue
            row = self.store.origin(self.origin)
            if heads and heads[0].size > (row.size if row else 0):
                outcome = self.sync_origin(peer, heads[0])
                log.warning("own log from %s: %s %s", peer.name, outcome.action, outcome.detail)

    def bootstrap(self) -> None:
        """Start the own log with a KeyAnnouncement, so peers can learn the key.

        On a log that exists, the configured key must be the log's current key
        (after a rotation the node is configured with the new one).
        """
        row = self.store.origin(self.origin)
        if row is not None and row.size > 0:
            current = self.history(self.origin).current()
            mine = keyid_of(bytes(self._key.verify_key))
            if current is None or current.keyid != mine:
                raise VerificationError(
                    f"the configured signing key {mine[:16]}… is not the current key of "
                    f"{self.origin} ({current.describe() if current else 'none'}): "
                    "configure the key the log last rotated to"
                )
            return
        ka = entries_pb2.KeyAnnouncement(
            public_key=bytes(self._key.verify_key),
            certificate_chain_pem=self._chain,
            effective_from=self.clock().date().isoformat(),
        )
        self.issue([("key_announcement", ka)])

    @property
    def keyid(self) -> str:
        """The id of the key this node signs with now."""
        return keyid_of(bytes(self._key.verify_key))

    def rotate(
        self,
        new_key: SigningKey,
        new_chain_pem: Sequence[str],
        actor: tuple[str, str] | None = None,
    ) -> tuple[int, list[bytes]]:
        """Announce ``new_key`` in the own log, signed by the current key, and switch to it.

        The rotation entry is the last the old key signs; the checkpoint that
        covers it is signed by the new key, and so is everything after.
        """
        ka = entries_pb2.KeyAnnouncement(
            public_key=bytes(new_key.verify_key),
            certificate_chain_pem=list(new_chain_pem),
            effective_from=self.clock().date().isoformat(),
            replaces_keyid=self.keyid,
        )
        return self.issue(
            [("key_announcement", ka)], next_key=(new_key, list(new_chain_pem)), actor=actor
        )

    def revoke(
        self,
        keyid: str,
        compromised_since: str,
        reason: str,
        actor: tuple[str, str] | None = None,
    ) -> tuple[int, list[bytes]]:
        """Publish a KeyRevocation of one of the own log's earlier keys (signed by the current)."""
        kr = entries_pb2.KeyRevocation(
            keyid=keyid, compromised_since=compromised_since, reason_text=reason
        )
        return self.issue([("key_revocation", kr)], actor=actor)

    def _use_key(self, key: SigningKey, chain: list[str]) -> None:
        self._key = key
        self._chain = chain
        self.log_signer = Ed25519NoteSigner(self.origin, key)
        self.cosigner = CosignatureSigner(witness_name(self.origin), key)

    def issue(
        self,
        bodies: Sequence[tuple[str, object]],
        *,
        check: Callable[[object, list[tuple[str, object]]], None] | None = None,
        next_key: tuple[SigningKey, list[str]] | None = None,
        actor: tuple[str, str] | None = None,
    ) -> tuple[int, list[bytes]]:
        """Sign, append and checkpoint entries of the own origin, atomically.

        Every entry goes through the same key and time rules (core.keys) that
        mirrors apply, before anything is stored.

        Args:
            bodies: (oneof field name, message) pairs, in log order.
            check: called inside the write transaction with (tx, bodies) to apply
                domain rules against the current state; may raise to abort.
            next_key: a rotation's new key and chain: the checkpoint (and every
                later entry) is signed with it.
            actor: (subject, serial) of the operator certificate whose call this
                is, recorded in every entry (``Entry.actor``).

        Returns:
            (index of the first entry, envelopes).
        """
        at = self.clock().astimezone(UTC).isoformat(timespec="seconds")
        envelopes: list[bytes] = []
        entries: list[entries_pb2.Entry] = []
        if self.pool is not None and len(bodies) >= 2 * _SIGN_CHUNK:
            # Big imports: build and sign in the worker processes, chunk by chunk.
            seed = bytes(self._key)
            futures = [
                self.pool.submit(
                    sign_entries,
                    seed,
                    self.federation,
                    self.region,
                    at,
                    [(name, msg.SerializeToString()) for name, msg in bodies[i : i + _SIGN_CHUNK]],
                    actor,
                )
                for i in range(0, len(bodies), _SIGN_CHUNK)
            ]
            for fut in futures:
                for payload, envelope in fut.result():
                    entries.append(entries_pb2.Entry.FromString(payload))
                    envelopes.append(envelope)
        else:
            for name, msg in bodies:
                entry = entries_pb2.Entry(
                    federation=self.federation, region=self.region, issued_at=at
                )
                if actor is not None:
                    entry.actor.subject, entry.actor.serial = actor
                getattr(entry, name).CopyFrom(msg)
                envelopes.append(sign_envelope(entry.SerializeToString(), self._key))
                entries.append(entry)
        if self.lost_tail is not None:
            raise ConflictError(
                f"{self.origin} is recovering its own entries: {self.lost_tail}; this node "
                "issues again once it holds them (it would otherwise sign a fork)"
            )
        with self.store.write(durable=True) as tx:
            if check is not None:
                check(tx, list(bodies))
            row = tx.ensure_origin(self.origin, self.region)
            if row.frozen:
                raise EquivocationError(f"{self.origin} is frozen here: {row.frozen_reason}")
            start = row.size
            history, key_events = self._own_rules(start, entries)
            root = tx.append(self.origin, start, envelopes, entries)
            if key_events:
                tx.save_keys(self.origin, history.to_rows())
            if any(e.WhichOneof("body") == "key_revocation" for e in entries):
                self._flag_suspects(tx, self.origin, history)
            size = start + len(envelopes)
            signer = self.log_signer
            if next_key is not None:
                signer = Ed25519NoteSigner(self.origin, next_key[0])
            note = format_note(sign_checkpoint(Checkpoint(self.origin, size, root), signer))
            tx.accept_checkpoint(self.origin, size, root, note, "self")
        if next_key is not None:
            self._use_key(*next_key)
        self._notify()
        return start, envelopes

    def _own_rules(
        self, start: int, entries: Sequence[entries_pb2.Entry]
    ) -> tuple[KeyHistory, bool]:
        """Run the own new entries through the key and time rules every mirror runs.

        Returns the history after them and whether it changed (a key event).
        """
        history = self.history(self.origin) if start else KeyHistory(parse_origin(self.origin))
        version = history.version
        if history.size != start:
            raise ConflictError(f"{self.origin}: the log moved while issuing")
        now = self.clock()
        mine = self.keyid
        for i, entry in enumerate(entries):
            idx = start + i
            body = entry.WhichOneof("body")
            when = issued_at(entry)
            if idx == 0:
                history.apply(idx, entry, body, mine, self.anchors)
                history.check_time(history.keys[mine], idx, when, now)
                continue
            life = history.signer_at(idx)
            if life is None or life.keyid != mine:
                raise VerificationError(
                    f"this node's key {mine[:16]}… does not sign entry {idx} of {self.origin}"
                )
            history.check_time(life, idx, when, now)
            history.apply(idx, entry, body, mine, self.anchors)
        return history, history.version != version

    # ------------------------------------------------------------------- sync

    def _lock_for(self, origin: str) -> threading.Lock:
        with self._sync_locks_guard:
            return self._sync_locks.setdefault(origin, threading.Lock())

    def sync_from(self, peer: Peer, origins: Iterable[str] | None = None) -> list[SyncOutcome]:
        """Bring every origin the peer knows (or the named ones) up to the peer's head."""
        wanted = set(origins) if origins is not None else None
        outcomes = []
        for head in peer.list_origins():
            if wanted is not None and head.origin not in wanted:
                continue
            try:
                outcomes.append(self.sync_origin(peer, head))
            except BrandexError as exc:
                log.warning("sync %s from %s rejected: %s", head.origin, peer.name, exc)
                invalid = isinstance(exc, VerificationError | FormatError)
                outcomes.append(
                    SyncOutcome(head.origin, "rejected", detail=str(exc), invalid=invalid)
                )
        return outcomes

    def sync_origin(self, peer: Peer, head: OriginHead) -> SyncOutcome:
        """Verify and take one origin's new entries from a peer, or nothing at all.

        When the fetched entries do not hash to the signed root, the peer's whole
        log is fetched and checked, to tell a fork (evidence, origin frozen) from
        a peer serving bad entries (rejected, nothing stored).
        """
        where = parse_origin(head.origin)
        federation, region = where.federation, where.region
        if federation != self.federation:
            return SyncOutcome(head.origin, "rejected", detail="other federation")
        # One sync per origin at a time saves fetching the same entries from every
        # peer that pushes them; but a stalled peer must not hold the others up, so
        # after a short wait we go ahead anyway (the commit re-checks the size).
        lock = self._lock_for(head.origin)
        locked = lock.acquire(timeout=self.origin_lock_wait)
        try:
            return self._sync_origin_locked(peer, head, region)
        except _RootMismatch as exc:
            return self._handle_root_mismatch(peer, head, exc)
        finally:
            if locked:
                lock.release()

    def _sync_origin_locked(self, peer: Peer, head: OriginHead, region: str) -> SyncOutcome:
        origin = head.origin
        note = parse_note(head.checkpoint)
        claimed = parse_checkpoint_body(note.text)
        if claimed.origin != origin:
            raise VerificationError(f"checkpoint names {claimed.origin}, served as {origin}")
        local = self.store.origin(origin)
        if local is not None and local.frozen:
            return SyncOutcome(origin, "equivocation", detail=local.frozen_reason)
        local_size = local.size if local else 0
        if local is not None and local_size > 0 and claimed.size <= local_size:
            cp, note = self._open(origin, head.checkpoint, self.history(origin))
            mine = (
                merkle.root_hash(cp.size, self.store.hash_reader(origin))
                if cp.size
                else merkle.EMPTY_ROOT
            )
            if mine != cp.root_hash:
                return self._equivocation(
                    origin,
                    cp,
                    head.checkpoint,
                    peer,
                    f"{peer.name} serves a signed checkpoint of size "
                    f"{cp.size} whose root differs from this node's tree",
                )
            added = self._merge_cosignatures(origin, cp, note)
            if cp.size < local_size:
                return SyncOutcome(origin, "lagging", detail=f"peer at {cp.size}")
            return SyncOutcome(origin, "cosigned" if added else "up-to-date")
        if claimed.size - local_size > self.max_fetch:
            raise VerificationError(
                f"{origin}: {claimed.size - local_size} entries exceed the "
                f"fetch limit {self.max_fetch}"
            )
        # Entries are verified (in worker processes when there is a pool) while the
        # stream goes on, and each verified batch is staged past the origin's size,
        # where nothing reads it, in a short transaction of its own: a slow or
        # stalled peer never holds the write lock. The checkpoint is checked last;
        # only then does one small transaction make the staged entries the log.
        # Any failure drops them; a crash leaves them for the next sync to go on from.
        history = self.history(origin)
        verified = self._precheck(peer, head, history, local)
        if origin == self.origin and verified:
            # Our own log, bigger at a peer: we lost a tail. Its signature was checked
            # above when our key signed it; take the entries back before issuing again.
            self.lost_tail = f"{peer.name} holds {claimed.size} entries, this node {local_size}"
            log.error("own log %s: %s; recovering from it", origin, self.lost_tail)
        try:
            with self.store.write() as tx:
                # A claim idle for half the lock wait belongs to a stalled sync.
                staging = tx.begin_staging(
                    origin, region, self.origin_lock_wait / 2, resume_up_to=claimed.size
                )
                if staging.start != local_size:
                    tx.end_staging(staging)
                    return SyncOutcome(origin, "up-to-date", detail="raced with another sync")
        except ConflictError as exc:
            return SyncOutcome(origin, "up-to-date", detail=str(exc))
        try:
            if staging.resumed:
                # Entries a killed sync verified and staged: take up their key
                # events again (certificates checked once more) and fetch the rest.
                log.info("%s: resuming after %d staged entries", origin, staging.resumed)
                history = self._replay_staged(origin, history, staging.next)
            fetched = 0
            for start, envelopes, vb in self._verified_stream(
                peer, origin, staging.next, claimed.size, history
            ):
                assert vb.history is not None
                history = vb.history
                with self.store.write() as tx:
                    tx.stage(staging, start, envelopes, vb.types, vb.leaf_hashes)
                fetched += sum(map(len, envelopes))
                if fetched >= self.max_round_bytes and staging.next < claimed.size:
                    # Enough for one round: keep what is staged (verified) for the next.
                    self.store.pause_staging(staging)
                    return SyncOutcome(
                        origin,
                        "partial",
                        detail=f"staged {staging.next - local_size} of "
                        f"{claimed.size - local_size} entries ({fetched >> 20} MiB this round)",
                    )
            if staging.next != claimed.size:
                raise VerificationError(f"{peer.name} sent fewer entries than its checkpoint holds")
            # The checkpoint must verify with the key that signs that size, and that
            # key's certificate must be valid at the checkpoint's time evidence.
            cp, note = self._open(origin, head.checkpoint, history, claimed.size)
            life = history.checkpoint_keys(claimed.size)[0]
            history.check_checkpoint_key(life, cp.size, self.clock(), self._witnessed(note))
            # A small sync is indexed in the same transaction, so the registry answers
            # from it at once; a big one leaves that to the indexer (see indexer.py).
            index = claimed.size - local_size <= self.inline_index_limit
            with self.store.write() as tx:
                root = tx.staged_root(staging)
                if root != cp.root_hash:
                    # Either the peer's entries are not the ones the checkpoint commits
                    # to, or the issuer signed a tree that does not extend ours.
                    raise _RootMismatch(cp)
                tx.commit_staged(staging, root, index=index)
                tx.save_keys(origin, history.to_rows())
                if any((k.revoked_at is not None and k.revoked_at >= local_size)
                       or (k.compromised_since is not None and k.revoked_at is None)
                       for k in history.keys.values()):  # fmt: skip
                    self._flag_suspects(tx, origin, history)
                issuer_only = Note(note.text, [s for s in note.signatures if s.name == origin])
                tx.accept_checkpoint(
                    origin, cp.size, cp.root_hash, format_note(issuer_only), peer.name
                )
                self._store_cosignatures(tx, origin, cp, note)
        except ConflictError as exc:
            return SyncOutcome(origin, "up-to-date", detail=f"raced with another sync: {exc}")
        finally:
            self.store.end_staging(staging)
        if origin == self.origin:
            self.lost_tail = None
            log.warning("own log %s recovered up to %d entries", origin, claimed.size)
        self._notify()
        return SyncOutcome(origin, "appended", added=claimed.size - local_size)

    def _precheck(
        self, peer: Peer, head: OriginHead, history: KeyHistory, local: OriginRow | None
    ) -> bool:
        """Check what can be checked of a peer's checkpoint before fetching anything.

        When the note carries a signature by the origin's current key, it must
        verify, and the peer's RFC 9162 consistency proof (when it serves one)
        must tie it to this node's tree: a checkpoint signed by nobody, or one
        that does not extend what is held, costs no download. A note signed by
        another key can only come after a rotation within the range; that is
        checked once the range has been verified. Returns whether the note was
        verified here.
        """
        origin = head.origin
        current = history.current()
        if current is None:
            return False  # a new origin: its first entry carries the key
        verifier = Ed25519NoteVerifier(origin, VerifyKey(current.public_key))
        note = parse_note(head.checkpoint)
        if not any(s.name == origin and s.key_id == verifier.key_id for s in note.signatures):
            return False
        try:
            cp, _ = open_checkpoint(head.checkpoint, verifier)
        except VerificationError as exc:
            raise VerificationError(
                f"{peer.name}'s checkpoint of {origin} does not verify with the log's key "
                f"(nothing fetched): {exc}"
            ) from None
        prove = getattr(peer, "consistency_proof", None)
        if local is None or local.size == 0 or prove is None:
            return True
        proof = prove(origin, local.size, cp.size)
        if proof is None:
            return True
        try:
            merkle.verify_consistency(local.size, cp.size, proof, local.root, cp.root_hash)
        except BrandexError:
            # A validly signed checkpoint that does not extend our tree: a fork, or a
            # peer sending a bad proof. Fetching the whole log tells them apart.
            raise _RootMismatch(cp) from None
        return True

    def _replay_staged(self, origin: str, history: KeyHistory, end: int) -> KeyHistory:
        """The key history after staged entries [history.size, end), from their key entries."""
        h = history.copy()
        for idx, envelope in self.store.staged_of_type(origin, h.size, _KEY_BODIES):
            if idx >= end:
                break
            env = parse_envelope(envelope)
            entry = entries_pb2.Entry.FromString(env.payload)
            # Entry 0 is signed by the key it announces (checked when it was staged).
            signer = env.signatures[0][0] if idx == 0 else h.signer(idx, env.signatures)[0].keyid
            h.size = idx  # the entries in between were verified when staged
            h.apply(idx, entry, entry.WhichOneof("body"), signer, self.anchors)
        h.size = end
        last = self.store.issued_at(origin, end - 1) if end else None
        h.last_issued_at = parse_time(last) if last else h.last_issued_at
        return h

    def _verified_stream(
        self, peer: Peer, origin: str, start: int, end: int, history: KeyHistory
    ) -> Iterator[tuple[int, list[bytes], VerifiedBatch]]:
        """Yield verified batches in log order, each with the key history after it.

        With a pool, up to ``2 * workers`` batches are verified ahead while the
        caller stores earlier ones. A batch verified ahead gets the history as
        known when it was sent off, positioned at its start, with the previous
        entry's time unknown; on settling, its first entry's time is checked
        against the batch before, and a batch sent before a key event of an
        earlier batch was known is verified again here with the history as it is.
        """
        pending: deque[tuple[int, list[bytes], Any, int]] = deque()
        now = self.clock()
        current = history

        def ahead(s: int) -> KeyHistory:
            h = current.copy()
            h.size, h.last_issued_at = s, None
            return h

        def settle(
            item: tuple[int, list[bytes], Any, int],
        ) -> tuple[int, list[bytes], VerifiedBatch]:
            nonlocal current
            s, envs, fut, version = item
            try:
                vb = fut.result() if hasattr(fut, "result") else fut
            except VerificationError:
                if version == current.version:
                    raise
                vb = verify_batch(origin, s, envs, current, self.anchors, now)
            if version != current.version or (
                vb.history is not None
                and current.last_issued_at is not None
                and vb.first_issued_at is not None
                and vb.first_issued_at < current.last_issued_at - CLOCK_SKEW
            ):
                # Verified with an outdated history: judge it with the real one.
                vb = verify_batch(origin, s, envs, current, self.anchors, now)
            assert vb.history is not None
            vb.history.last_issued_at = vb.history.last_issued_at or current.last_issued_at
            current = vb.history
            return s, envs, vb

        if start >= end:  # all of it was staged before a restart
            return
        expect = start
        for s, envelopes in peer.get_entries(origin, start, end):
            if s != expect or not envelopes or s + len(envelopes) > end:
                raise VerificationError(f"{peer.name} sent a batch at {s}, expected {expect}")
            expect = s + len(envelopes)
            if self.pool is None or not current.keys:
                # In-process, or the first batch of a new origin (it carries the key).
                while pending:
                    yield settle(pending.popleft())
                vb = verify_batch(origin, s, envelopes, current, self.anchors, now)
                yield settle((s, envelopes, vb, current.version))
                continue
            fut = self.pool.submit(
                verify_batch_in_worker,
                origin,
                s,
                envelopes,
                ahead(s),
                self._anchors_pem,
                now,
            )
            pending.append((s, envelopes, fut, current.version))
            while len(pending) > self.pool_depth:
                yield settle(pending.popleft())
        while pending:
            yield settle(pending.popleft())

    def _store_cosignatures(self, tx, origin: str, cp: Checkpoint, note: Note) -> int:
        """Keep the valid cosignatures of known members, and add our own.

        With a federation document, only the origin's witnesses (bounded witnessing,
        exchange.core.overlay.witnesses) count and cosign, so a checkpoint carries a
        handful of cosignatures whatever the membership."""
        allowed = (
            self.governance.witnesses_of(parse_origin(origin).region)
            if self.governance is not None
            else None
        )
        added = 0
        for sig, ts in self._cosignatures(note):
            if allowed is not None and sig.name not in allowed:
                continue
            added += tx.add_cosignature(origin, cp.size, sig.name, ts, sig.to_line())
        if allowed is not None and self.cosigner.name not in allowed:
            return added
        if self.witness and origin != self.origin:
            ts = int(self.clock().timestamp())
            mine = cosign(note.text, self.cosigner, ts)
            added += tx.add_cosignature(origin, cp.size, mine.name, ts, mine.to_line())
        return added

    def _merge_cosignatures(self, origin: str, cp: Checkpoint, note: Note) -> int:
        with self.store.write() as tx:
            if not tx.has_checkpoint(origin, cp.size):
                return 0
            added = self._store_cosignatures(tx, origin, cp, note)
        if added:
            self._notify()
        return added

    def _equivocation(
        self, origin: str, cp: Checkpoint, theirs: str, peer: Peer, detail: str
    ) -> SyncOutcome:
        local = self.store.origin(origin)
        ours = local.checkpoint if local else ""
        with self.store.write() as tx:
            tx.add_evidence(origin, ours, theirs, peer.name, detail)
        log.error("EQUIVOCATION on %s: %s; origin frozen on this node", origin, detail)
        self._notify()
        return SyncOutcome(origin, "equivocation", detail=detail)

    def _handle_root_mismatch(
        self, peer: Peer, head: OriginHead, exc: _RootMismatch
    ) -> SyncOutcome:
        """Tell a forked log (evidence) from a peer that served bad entries (rejected)."""
        origin = head.origin
        local = self.store.origin(origin)
        if local is None or local.size == 0:
            return SyncOutcome(origin, "rejected", detail="entries do not match the checkpoint")
        tree = merkle.MemoryHashStore()
        history = KeyHistory(parse_origin(origin))
        now = self.clock()
        try:
            for start, envelopes in peer.get_entries(origin, 0, exc.cp.size):
                vb = verify_batch(origin, start, envelopes, history, self.anchors, now)
                assert vb.history is not None
                history = vb.history
                tree.append(vb.leaf_hashes)
        except BrandexError as err:
            return SyncOutcome(
                origin, "rejected", detail=f"entries do not verify: {err}", invalid=True
            )
        if tree.size != exc.cp.size or merkle.root_hash(tree.size, tree) != exc.cp.root_hash:
            return SyncOutcome(
                origin,
                "rejected",
                detail=f"{peer.name} served entries that do not match the checkpoint",
                invalid=True,
            )
        theirs_at_ours = merkle.root_hash(local.size, tree)
        if theirs_at_ours == local.root:
            return SyncOutcome(origin, "rejected", detail="inconsistent state; retry")
        return self._equivocation(
            origin,
            exc.cp,
            head.checkpoint,
            peer,
            f"{peer.name} serves a complete, validly signed log of size {exc.cp.size} that does"
            f" not extend this node's accepted tree of size {local.size}",
        )


class _RootMismatch(VerificationError):
    def __init__(self, cp: Checkpoint) -> None:
        super().__init__(f"entries do not hash to the checkpoint root at size {cp.size}")
        self.cp = cp
