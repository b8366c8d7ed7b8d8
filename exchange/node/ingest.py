"""Accepting other origins' entries: the verified sync pipeline of a node's ledger.

Trust rules 1-3 on the receiving side: a peer's checkpoint is checked with the
issuer's current key and a consistency proof before anything is fetched;
entries are verified in batches (in worker processes when there are some) and
staged; they are committed only when the staged tree's root is the signed
checkpoint's. A conflicting signed checkpoint becomes evidence and freezes the
origin. :class:`Ingest` holds these steps; :class:`exchange.node.ledger.Ledger`
inherits them and supplies the store, keys and locks they use.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from exchange._proto.brandex.v1 import entries_pb2
from exchange.core import merkle
from exchange.core.checkpoint import (
    Checkpoint,
    open_checkpoint,
    parse_checkpoint_body,
)
from exchange.core.cosignature import (
    cosign,
)
from exchange.core.dsse import parse_envelope
from exchange.core.ed25519 import VerifyKey
from exchange.core.errors import (
    BrandexError,
    ConflictError,
    FormatError,
    VerificationError,
)
from exchange.core.keys import CLOCK_SKEW, KeyHistory, parse_time
from exchange.core.note import (
    Ed25519NoteVerifier,
    Note,
    format_note,
    parse_note,
)
from exchange.core.origin import parse_origin
from exchange.core.rules import Violation
from exchange.node.verify import (
    VerifiedBatch,
    verify_batch,
    verify_batch_in_worker,
)
from exchange.store.tx import OriginRow

__all__ = ["Ingest", "OriginHead", "Peer", "SyncOutcome"]

log = logging.getLogger("brandex.ledger")

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


class Ingest:
    """The sync half of :class:`~exchange.node.ledger.Ledger` (a mixin: it uses the
    ledger's store, clock, anchors, locks and key histories)."""

    def sync_from(self, peer: Peer, origins: Iterable[str] | None = None) -> list[SyncOutcome]:
        """Bring every origin the peer knows (or the named ones) up to the peer's head.

        With ``parallel_origins`` > 1, that many origins are synced at once
        (threads): while one waits for its entries or its verifying workers,
        another commits, so joining thousands of small origins is not a chain of
        round trips. An origin another sync is working on (a push, or the same
        round with another peer) is left for the end of the round, when it is
        most likely up to date and costs one comparison.

        A round that brings more than ``inline_index_limit`` entries in all (a
        node joining, or back after a long time away) leaves the registry fold
        of every origin to the indexer, as one big origin's sync does: the
        verified logs are committed first, searchable a little later: the indexer
        holds back until such a round ends (``Ledger.bulk_syncing``).
        """
        wanted = set(origins) if origins is not None else None
        heads = [h for h in peer.list_origins() if wanted is None or h.origin in wanted]
        outcomes: list[SyncOutcome | None] = [None] * len(heads)
        inline = self._round_backlog(heads) <= self.inline_index_limit

        def first_pass(i: int) -> None:
            if not self._lock_for(heads[i].origin).locked():
                outcomes[i] = self._sync_reporting(peer, heads[i], inline)

        def second_pass(i: int) -> None:
            if outcomes[i] is None:
                outcomes[i] = self._sync_reporting(peer, heads[i], inline)

        with self._bulk_round(deferred=not inline):
            for step in (first_pass, second_pass):
                if self.parallel_origins <= 1 or len(heads) < 2:
                    for i in range(len(heads)):
                        step(i)
                    continue
                with ThreadPoolExecutor(self.parallel_origins, "sync-origin") as ex:
                    for f in [ex.submit(step, i) for i in range(len(heads))]:
                        f.result()
        return [o for o in outcomes if o is not None]

    def _round_backlog(self, heads: list[OriginHead]) -> int:
        """How many entries the peer's heads hold beyond this node's logs (as claimed:
        it only decides where the registry fold happens, nothing is trusted on it)."""
        held = {r.origin: r.size for r in self.store.origins()}
        return sum(max(0, h.size - held.get(h.origin, 0)) for h in heads)

    def _sync_reporting(self, peer: Peer, head: OriginHead, inline: bool = True) -> SyncOutcome:
        """``sync_origin``, with a refusal as its outcome rather than an exception."""
        if self.closing.is_set():
            return SyncOutcome(head.origin, "lagging", detail="node closing")
        try:
            return self.sync_origin(peer, head, inline_index=inline)
        except BrandexError as exc:
            log.warning("sync %s from %s rejected: %s", head.origin, peer.name, exc)
            invalid = isinstance(exc, VerificationError | FormatError)
            return SyncOutcome(head.origin, "rejected", detail=str(exc), invalid=invalid)

    def sync_origin(
        self, peer: Peer, head: OriginHead, *, inline_index: bool = True
    ) -> SyncOutcome:
        """Verify and take one origin's new entries from a peer, or nothing at all.

        ``inline_index``: a small sync folds its entries into the registry in its
        commit (False: the indexer does, as for a big one).

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
            return self._sync_origin_locked(peer, head, region, inline_index)
        except _RootMismatch as exc:
            return self._handle_root_mismatch(peer, head, exc)
        finally:
            if locked:
                lock.release()

    def _sync_origin_locked(
        self, peer: Peer, head: OriginHead, region: str, inline_index: bool = True
    ) -> SyncOutcome:
        origin = head.origin
        note = parse_note(head.checkpoint)
        claimed = parse_checkpoint_body(note.text)
        if claimed.origin != origin:
            raise VerificationError(f"checkpoint names {claimed.origin}, served as {origin}")
        local = self.store.origin(origin)
        if local is not None and local.frozen:
            return SyncOutcome(origin, "equivocation", detail=local.frozen_reason)
        local_size = local.size if local else 0
        if local is not None and local_size > 0 and head.checkpoint == local.checkpoint:
            # Byte for byte the note this node verified and accepted: nothing new to
            # check (a note carrying cosignatures differs and takes the path below).
            return SyncOutcome(origin, "up-to-date")
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
            # A small sync is indexed in the same transaction as its commit, so the
            # registry answers from it at once (a big one leaves that to the indexer,
            # see indexer.py); its payloads and stateless rule results come back with
            # the verified batches, found in the workers, not parsed here again.
            index = inline_index and claimed.size - local_size <= self.inline_index_limit
            payloads: list[bytes] = []
            stateless: list[list[tuple[str, str]]] = []
            # The last batch is staged in the commit's own transaction: one write
            # transaction fewer per origin (most origins of a join fit in one
            # batch), and nothing lost to a crash that the next sync would not
            # fetch again anyway.
            last: tuple[int, list[bytes], VerifiedBatch] | None = None
            for start, envelopes, vb in self._verified_stream(
                peer, origin, staging.next, claimed.size, history, rules=index
            ):
                assert vb.history is not None
                history = vb.history
                if start + len(envelopes) == claimed.size:
                    last = (start, envelopes, vb)
                else:
                    with self.store.write() as tx:
                        tx.stage(staging, start, envelopes, vb.types, vb.leaf_hashes)
                payloads += vb.payloads
                stateless += vb.stateless
                fetched += sum(map(len, envelopes))
                if fetched >= self.max_round_bytes and last is None:
                    # Enough for one round: keep what is staged (verified) for the next.
                    self.store.pause_staging(staging)
                    return SyncOutcome(
                        origin,
                        "partial",
                        detail=f"staged {staging.next - local_size} of "
                        f"{claimed.size - local_size} entries ({fetched >> 20} MiB this round)",
                    )
            if (last[0] + len(last[1]) if last else staging.next) != claimed.size:
                raise VerificationError(f"{peer.name} sent fewer entries than its checkpoint holds")
            # The checkpoint must verify with the key that signs that size, and that
            # key's certificate must be valid at the checkpoint's time evidence.
            cp, note = self._open(origin, head.checkpoint, history, claimed.size)
            life = history.checkpoint_keys(claimed.size)[0]
            history.check_checkpoint_key(life, cp.size, self.clock(), self._witnessed(note))
            found = None
            if index and len(payloads) == claimed.size - staging.start:  # none resumed
                found = (
                    [entries_pb2.Entry.FromString(p) for p in payloads],
                    [[Violation(rule, message) for rule, message in v] for v in stateless],
                )
            with self.store.write() as tx:
                if last is not None:
                    tx.stage(staging, last[0], last[1], last[2].types, last[2].leaf_hashes)
                root = tx.staged_root(staging)
                if root != cp.root_hash:
                    # Either the peer's entries are not the ones the checkpoint commits
                    # to, or the issuer signed a tree that does not extend ours.
                    raise _RootMismatch(cp)
                tx.commit_staged(staging, root, index=index, found=found)
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
        self._notify(origin)
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
        self,
        peer: Peer,
        origin: str,
        start: int,
        end: int,
        history: KeyHistory,
        *,
        rules: bool = False,
    ) -> Iterator[tuple[int, list[bytes], VerifiedBatch]]:
        """Yield verified batches in log order, each with the key history after it.

        With a pool, up to ``2 * workers`` batches are verified ahead while the
        caller stores earlier ones. A batch verified ahead gets the history as
        known when it was sent off, positioned at its start, with the previous
        entry's time unknown; on settling, its first entry's time is checked
        against the batch before, and a batch sent before a key event of an
        earlier batch was known is verified again here with the history as it is.
        ``rules``: each batch also carries its payloads and stateless rule results.
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
                vb = verify_batch(origin, s, envs, current, self.anchors, now, rules)
            if version != current.version or (
                vb.history is not None
                and current.last_issued_at is not None
                and vb.first_issued_at is not None
                and vb.first_issued_at < current.last_issued_at - CLOCK_SKEW
            ):
                # Verified with an outdated history: judge it with the real one.
                vb = verify_batch(origin, s, envs, current, self.anchors, now, rules)
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
            if self.pool is None:
                vb = verify_batch(origin, s, envelopes, current, self.anchors, now, rules)
                yield settle((s, envelopes, vb, current.version))
                continue
            if not current.keys:
                # The first batch of a new origin carries its key: verified (in a
                # worker) before any later batch is sent off with that key.
                while pending:
                    yield settle(pending.popleft())
                fut = self.pool.submit(
                    verify_batch_in_worker,
                    origin,
                    s,
                    envelopes,
                    current,
                    self._anchors_pem,
                    now,
                    rules,
                )
                yield settle((s, envelopes, fut, current.version))
                continue
            fut = self.pool.submit(
                verify_batch_in_worker,
                origin,
                s,
                envelopes,
                ahead(s),
                self._anchors_pem,
                now,
                rules,
            )
            pending.append((s, envelopes, fut, current.version))
            while len(pending) > self.pool_depth:
                yield settle(pending.popleft())
        while pending:
            yield settle(pending.popleft())

    def _store_cosignatures(self, tx, origin: str, cp: Checkpoint, note: Note) -> int:
        """Keep the valid cosignatures of known members, and (without a document) add our own.

        With a federation document, only the origin's witnesses (bounded witnessing,
        exchange.core.overlay.witnesses) count, so a checkpoint carries a handful of
        cosignatures whatever the membership; they cosign on the origin's request."""
        allowed = (
            self.governance.witnesses_of(parse_origin(origin).region)
            if self.governance is not None
            else None
        )
        added = 0
        for sig, ts in self._cosignatures(note):
            if allowed is not None and sig.name not in allowed:
                continue
            added += tx.add_cosignature(
                origin, cp.size, sig.name, ts, sig.to_line(), replace=self.by_current_key(sig)
            )
        if allowed is not None:
            # With a federation document this node cosigns only when the origin asks
            # (C2SP tlog-witness, exchange.node.witnessing), never while mirroring.
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
            self._notify(origin)
        return added

    def _equivocation(
        self, origin: str, cp: Checkpoint, theirs: str, peer: Peer, detail: str
    ) -> SyncOutcome:
        local = self.store.origin(origin)
        ours = local.checkpoint if local else ""
        with self.store.write() as tx:
            tx.add_evidence(origin, ours, theirs, peer.name, detail)
        log.error("EQUIVOCATION on %s: %s; origin frozen on this node", origin, detail)
        self._notify(origin)
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
