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
from typing import Any, Protocol

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
    witness_name,
)
from exchange.core.dsse import keyid_of, sign_envelope
from exchange.core.errors import (
    BrandexError,
    ConflictError,
    EquivocationError,
    NotFoundError,
    VerificationError,
)
from exchange.core.note import (
    Ed25519NoteSigner,
    Ed25519NoteVerifier,
    Note,
    add_signature,
    format_note,
    parse_note,
)
from exchange.node.verify import (
    KeyInfo,
    VerifiedBatch,
    parse_origin,
    sign_entries,
    verify_batch,
    verify_batch_in_worker,
)
from exchange.store import Store
from exchange.store.database import OriginRow

__all__ = ["Ledger", "OriginHead", "Peer", "SyncOutcome"]

log = logging.getLogger("brandex.ledger")


_SIGN_CHUNK = 500  # entries per task when signing in worker processes
_KEY_BODY = "key_announcement"


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
    action: str  # "up-to-date", "appended", "cosigned", "lagging", "rejected", "equivocation"
    added: int = 0
    detail: str = ""


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
        self._sync_locks_guard = threading.Lock()

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

    def keys_for(self, origin: str) -> dict[str, bytes]:
        return {kid: pub for kid, pub, _ in self.store.keys(origin)}

    def log_verifiers(self, origin: str) -> list[Ed25519NoteVerifier]:
        return [
            Ed25519NoteVerifier(origin, VerifyKey(pub)) for pub in self.keys_for(origin).values()
        ]

    def witness_verifiers(self) -> dict[str, list[CosignatureVerifier]]:
        """Cosigner keys of every member whose log (and so key) this node holds."""
        out: dict[str, list[CosignatureVerifier]] = {}
        rows = self.store.read.execute("SELECT origin, public_key FROM keys ORDER BY idx")
        for origin, pub in rows:
            name = witness_name(origin)
            out.setdefault(name, []).append(CosignatureVerifier(name, VerifyKey(pub)))
        return out

    def _open(self, origin: str, note_text: str) -> tuple[Checkpoint, Note]:
        """Verify a checkpoint note with the origin's log keys."""
        verifiers = self.log_verifiers(origin)
        if not verifiers:
            raise VerificationError(f"no certified key is known for {origin}")
        last: BrandexError | None = None
        for v in verifiers:
            try:
                cp, note = open_checkpoint(note_text, v)
                return cp, note
            except VerificationError as exc:
                last = exc
        assert last is not None
        raise last

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

    def bootstrap(self) -> None:
        """Start the own log with a KeyAnnouncement, so peers can learn the key."""
        row = self.store.origin(self.origin)
        if row is not None and row.size > 0:
            return
        ka = entries_pb2.KeyAnnouncement(
            public_key=bytes(self._key.verify_key),
            certificate_chain_pem=self._chain,
            effective_from=self.clock().date().isoformat(),
        )
        self.issue([("key_announcement", ka)])

    def issue(
        self,
        bodies: Sequence[tuple[str, object]],
        *,
        check: Callable[[object, list[tuple[str, object]]], None] | None = None,
    ) -> tuple[int, list[bytes]]:
        """Sign, append and checkpoint entries of the own origin, atomically.

        Args:
            bodies: (oneof field name, message) pairs, in log order.
            check: called inside the write transaction with (tx, bodies) to apply
                domain rules against the current state; may raise to abort.

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
                getattr(entry, name).CopyFrom(msg)
                envelopes.append(sign_envelope(entry.SerializeToString(), self._key))
                entries.append(entry)
        with self.store.write() as tx:
            if check is not None:
                check(tx, list(bodies))
            row = tx.ensure_origin(self.origin, self.region)
            if row.frozen:
                raise EquivocationError(f"{self.origin} is frozen here: {row.frozen_reason}")
            start = row.size
            root = tx.append(self.origin, start, envelopes, entries)
            for i, entry in enumerate(entries):
                if entry.WhichOneof("body") == "key_announcement":
                    pub = entry.key_announcement.public_key
                    tx.add_key(
                        self.origin,
                        keyid_of(pub),
                        pub,
                        "".join(entry.key_announcement.certificate_chain_pem),
                        start + i,
                    )
            size = start + len(envelopes)
            note = format_note(
                sign_checkpoint(Checkpoint(self.origin, size, root), self.log_signer)
            )
            tx.accept_checkpoint(self.origin, size, root, note, "self")
        self._notify()
        return start, envelopes

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
                outcomes.append(SyncOutcome(head.origin, "rejected", detail=str(exc)))
        return outcomes

    def sync_origin(self, peer: Peer, head: OriginHead) -> SyncOutcome:
        """Verify and take one origin's new entries from a peer, or nothing at all.

        When the fetched entries do not hash to the signed root, the peer's whole
        log is fetched and checked, to tell a fork (evidence, origin frozen) from
        a peer serving bad entries (rejected, nothing stored).
        """
        federation, region = parse_origin(head.origin)
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
            cp, note = self._open(origin, head.checkpoint)
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
        keys = self.keys_for(origin)
        new_keys: list[KeyInfo] = []
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
                # Entries a killed sync verified and staged: take up its keys again
                # (checked once more against the anchors) and fetch only the rest.
                log.info("%s: resuming after %d staged entries", origin, staging.resumed)
                for idx, envelope in self.store.staged_of_type(origin, local_size, _KEY_BODY):
                    vb = verify_batch(origin, idx, [envelope], keys, self.anchors)
                    for k in vb.new_keys:
                        keys[k.keyid] = k.public_key
                    new_keys += vb.new_keys
            for start, envelopes, vb in self._verified_stream(
                peer, origin, staging.next, claimed.size, keys
            ):
                new_keys += vb.new_keys
                with self.store.write() as tx:
                    tx.stage(staging, start, envelopes, vb.types, vb.leaf_hashes)
            if staging.next != claimed.size:
                raise VerificationError(f"{peer.name} sent fewer entries than its checkpoint holds")
            # The checkpoint must verify with a key certified for the origin.
            verifiers = [Ed25519NoteVerifier(origin, VerifyKey(p)) for p in keys.values()]
            cp, note = self._open_with(origin, head.checkpoint, verifiers)
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
                for k in new_keys:
                    tx.add_key(origin, k.keyid, k.public_key, k.chain_pem, k.idx)
                issuer_only = Note(note.text, [s for s in note.signatures if s.name == origin])
                tx.accept_checkpoint(
                    origin, cp.size, cp.root_hash, format_note(issuer_only), peer.name
                )
                self._store_cosignatures(tx, origin, cp, note)
        except ConflictError as exc:
            return SyncOutcome(origin, "up-to-date", detail=f"raced with another sync: {exc}")
        finally:
            self.store.end_staging(staging)
        self._notify()
        return SyncOutcome(origin, "appended", added=claimed.size - local_size)

    def _verified_stream(
        self, peer: Peer, origin: str, start: int, end: int, keys: dict[str, bytes]
    ) -> Iterator[tuple[int, list[bytes], VerifiedBatch]]:
        """Yield verified batches in log order; ``keys`` grows with key announcements.

        With a pool, up to ``2 * workers`` batches are verified ahead while the
        caller stores earlier ones. A batch is verified with the keys known when it
        was sent off; if it fails after a key announcement arrived meanwhile, it is
        verified again here with the grown key set before it is judged.
        """
        pending: deque[tuple[int, list[bytes], Any, int]] = deque()
        announced = 0  # how many key announcements were seen so far

        def settle(
            item: tuple[int, list[bytes], Any, int],
        ) -> tuple[int, list[bytes], VerifiedBatch]:
            nonlocal announced
            s, envs, fut, seen = item
            try:
                vb = fut.result() if hasattr(fut, "result") else fut
            except VerificationError:
                if seen == announced:
                    raise
                vb = verify_batch(origin, s, envs, keys, self.anchors)
            for k in vb.new_keys:
                keys[k.keyid] = k.public_key
                announced += 1
            return s, envs, vb

        if start >= end:  # all of it was staged before a restart
            return
        expect = start
        for s, envelopes in peer.get_entries(origin, start, end):
            if s != expect or not envelopes or s + len(envelopes) > end:
                raise VerificationError(f"{peer.name} sent a batch at {s}, expected {expect}")
            expect = s + len(envelopes)
            if self.pool is None or not keys:
                # In-process, or the first batch of a new origin (it carries the key).
                while pending:
                    yield settle(pending.popleft())
                yield settle(
                    (
                        s,
                        envelopes,
                        verify_batch(origin, s, envelopes, keys, self.anchors),
                        announced,
                    )
                )
                continue
            fut = self.pool.submit(
                verify_batch_in_worker, origin, s, envelopes, dict(keys), self._anchors_pem
            )
            pending.append((s, envelopes, fut, announced))
            while len(pending) > self.pool_depth:
                yield settle(pending.popleft())
        while pending:
            yield settle(pending.popleft())

    def _open_with(
        self, origin: str, text: str, verifiers: list[Ed25519NoteVerifier]
    ) -> tuple[Checkpoint, Note]:
        if not verifiers:
            raise VerificationError(f"no certified key is known for {origin}")
        last: BrandexError = VerificationError("no verifier")
        for v in verifiers:
            try:
                return tuple(open_checkpoint(text, v))  # type: ignore[return-value]
            except VerificationError as exc:
                last = exc
        raise last

    def _store_cosignatures(self, tx, origin: str, cp: Checkpoint, note: Note) -> int:
        """Keep the valid cosignatures of known members, and add our own."""
        added = 0
        verifiers = self.witness_verifiers()
        for sig in note.signatures:
            if sig.name == witness_name(self.origin):
                continue
            for v in verifiers.get(sig.name, []):
                try:
                    ts = v.verify_cosignature(note.text, sig)
                except VerificationError:
                    continue
                added += tx.add_cosignature(origin, cp.size, sig.name, ts, sig.to_line())
                break
        if self.witness and origin != self.origin:
            ts = int(self.clock().timestamp())
            mine = cosign(note.text, self.cosigner, ts)
            added += tx.add_cosignature(origin, cp.size, mine.name, ts, mine.to_line())
        return added

    def _merge_cosignatures(self, origin: str, cp: Checkpoint, note: Note) -> int:
        with self.store.write() as tx:
            known = tx.conn.execute(
                "SELECT 1 FROM checkpoints WHERE origin = ? AND size = ?", (origin, cp.size)
            ).fetchone()
            if known is None:
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
        keys: dict[str, bytes] = {}
        try:
            for start, envelopes in peer.get_entries(origin, 0, exc.cp.size):
                vb = verify_batch(origin, start, envelopes, keys, self.anchors)
                for k in vb.new_keys:
                    keys[k.keyid] = k.public_key
                tree.append(vb.leaf_hashes)
        except BrandexError as err:
            return SyncOutcome(origin, "rejected", detail=f"entries do not verify: {err}")
        if tree.size != exc.cp.size or merkle.root_hash(tree.size, tree) != exc.cp.root_hash:
            return SyncOutcome(
                origin,
                "rejected",
                detail=f"{peer.name} served entries that do not match the checkpoint",
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
