"""The node's logs: issuing its own entries and accepting other origins' entries.

This is where trust rules 1-3 are enforced. Nothing reaches the store that has
not been verified against the issuer's certified key and the issuer's signed
checkpoint; a checkpoint that conflicts with one already accepted becomes
evidence and freezes the origin. The ledger speaks to peers only through the
small ``Peer`` protocol, so the rules are testable without sockets.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from nacl.signing import SigningKey

from exchange._proto.brandex.v1 import entries_pb2
from exchange.core import x509
from exchange.core.checkpoint import (
    Checkpoint,
    sign_checkpoint,
)
from exchange.core.cosignature import (
    CosignatureSigner,
    CosignatureVerifier,
    cosigner_key,
)
from exchange.core.dsse import keyid_of, parse_envelope, sign_envelope
from exchange.core.ed25519 import VerifyKey
from exchange.core.errors import (
    ConflictError,
    EquivocationError,
    NotFoundError,
    VerificationError,
)
from exchange.core.keys import KeyHistory, issued_at, parse_time
from exchange.core.note import (
    Ed25519NoteSigner,
    Note,
    NoteSignature,
    add_signature,
    format_note,
    parse_note,
)
from exchange.core.origin import origin_name, parse_origin, witness_name
from exchange.node.ingest import Ingest, OriginHead, Peer, SyncOutcome
from exchange.node.verify import (
    open_origin_checkpoint,
    sign_entries,
)
from exchange.store import Store
from exchange.store.tx import OriginRow

if TYPE_CHECKING:
    from exchange.core.federation import FederationDoc
    from exchange.node.governance import Governance


__all__ = ["Ledger", "OriginHead", "Peer", "SyncOutcome"]

log = logging.getLogger("brandex.ledger")


_SIGN_CHUNK = 500  # entries per task when signing in worker processes


class Ledger(Ingest):
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
        parallel_origins: int = 1,
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
        self.parallel_origins = parallel_origins
        self._anchors_pem = b"".join(
            a.public_bytes(serialization.Encoding.PEM) for a in self.anchors
        )
        self.log_signer = Ed25519NoteSigner(self.origin, signing_key)
        self.cosigner = CosignatureSigner(witness_name(self.origin), signing_key)
        self._changed = threading.Condition()
        self.closing = threading.Event()
        self._version = 0
        #: (version, origin) of the latest changes, for :meth:`changed_since`.
        self._changes: collections.deque[tuple[int, str | None]] = collections.deque(maxlen=4096)
        self._sync_locks: dict[str, threading.Lock] = {}
        #: How many sync rounds that leave their registry fold to the indexer (a
        #: node joining, or back after a long time away) are running now: the
        #: indexer holds back while there are any (see :attr:`bulk_syncing`).
        self._bulk_rounds = 0
        #: Set when a peer holds a bigger signed checkpoint of the own log than this
        #: node (a tail lost to a power cut or a restored backup): issuing waits.
        self.lost_tail: str | None = None
        self._sync_locks_guard = threading.Lock()
        #: The federation document chain, when the node runs with one (node.governance):
        #: a departed member's later entries are refused, revoked keys flag suspects.
        self.governance: Governance | None = None

    # ----------------------------------------------------------- notifications

    def _notify(self, origin: str | None = None) -> None:
        """Move the change counter; ``origin`` names the one origin whose head changed
        (None: anything may have, such as a new federation document)."""
        with self._changed:
            self._version += 1
            self._changes.append((self._version, origin))
            self._changed.notify_all()

    def changed_since(self, version: int) -> set[str] | None:
        """The origins whose head changed after ``version``, or None when that is not
        known (a change of everything, or ``version`` older than the kept changes).

        A watch stream re-reads only these: re-reading every origin's note and
        cosignatures on every change costs O(origins) per change per stream, which
        at national scale (3,200 origins, a change a second) is most of a core.
        """
        with self._changed:
            if version == self._version:
                return set()
            if not self._changes or self._changes[0][0] > version + 1:
                return None
            out: set[str] = set()
            for v, origin in reversed(self._changes):
                if v <= version:
                    break
                if origin is None:
                    return None
                out.add(origin)
            return out

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

    @property
    def bulk_syncing(self) -> bool:
        """Whether a deferred-fold sync round is running (see ``Ingest.sync_from``).

        The indexer waits while one is: on two cores its fold, and the stateless
        rules it sends to the same verifying workers, would only slow the round
        down (the join's time to "verified"), not make the registry ready sooner.
        """
        with self._changed:
            return self._bulk_rounds > 0

    @contextlib.contextmanager
    def _bulk_round(self, deferred: bool = True) -> Iterator[None]:
        """Counts a deferred-fold round (``deferred``) while it runs; nothing otherwise."""
        if not deferred:
            yield
            return
        with self._changed:
            self._bulk_rounds += 1
        try:
            yield
        finally:
            with self._changed:
                self._bulk_rounds -= 1
            # The indexer, holding back, goes on now. A change of "anything" makes
            # watch streams compare every head once: once per such round, rare.
            self._notify()

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

    def by_current_key(self, sig: NoteSignature) -> bool:
        """Whether a witness cosignature line is by its member's current key.

        A line by an older (rotated, not revoked) key stays valid evidence, but a
        line by the current key replaces it when one arrives: bundles carry one
        key per witness (the newest), so only current-key lines count for whoever
        verifies one. Used by the origin asking its witnesses and by every mirror.
        """
        found = cosigner_key(sig, self.witness_keys)
        if found is None:
            return False
        current = self.history(found[0].name).current()
        return current is not None and current.public_key == found[1]

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
        self._notify(self.origin)
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
    # (the sync pipeline itself is exchange.node.ingest.Ingest)

    def _lock_for(self, origin: str) -> threading.Lock:
        with self._sync_locks_guard:
            return self._sync_locks.setdefault(origin, threading.Lock())
