"""C2SP tlog-witness over gRPC: cosigning on request, and asking for cosignatures.

Witness side (:func:`add_checkpoint`): the rule is exchange.core.witness; here it
reads this node's state for the origin, decides and persists the new (size,
root) in one write transaction, and only then signs. A crash after the commit
loses nothing: the origin's retry at the same size and root is cosigned again;
the state never goes back and never takes another root for a size.

Origin side (:class:`CosignRequester`): with a federation document, a node asks
exactly the members of its own witness set (core.overlay.witnesses) to cosign
each new checkpoint of its log, sending the size each witness last cosigned and
a consistency proof from it. On a conflict it retries once with the size the
witness gave. It verifies every returned cosignature with that witness's
certified key before storing it, and stores all of a round in one transaction,
so its peers see one new note per round, not one per witness.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import grpc

from exchange._proto.brandex.v1 import services_pb2, services_pb2_grpc
from exchange.core import merkle
from exchange.core.checkpoint import parse_checkpoint_body
from exchange.core.cosignature import CosignatureVerifier, cosign, cosigner_key
from exchange.core.ed25519 import VerifyKey
from exchange.core.errors import BrandexError, FormatError, VerificationError
from exchange.core.note import Ed25519NoteVerifier, NoteSignature, parse_note
from exchange.core.origin import parse_origin, witness_member
from exchange.core.witness import NotWitnessed, WitnessState, accept_checkpoint, claimed_origin

__all__ = [
    "CONFLICT_SIZE_KEY",
    "CosignRequester",
    "NotWitnessed",
    "add_checkpoint",
    "conflict_size",
    "witnessed_here",
]

log = logging.getLogger("brandex.witness")

#: Trailing metadata carrying a witness's own size with a conflict (the spec's 409 body).
CONFLICT_SIZE_KEY = "brandex-witness-size"


def witnessed_here(ledger, origin: str) -> bool:
    """Whether this node witnesses ``origin``: never its own log; with a federation
    document only when the origin's witness set names it, else when witnessing is on."""
    if origin == ledger.origin or not ledger.witness:
        return False
    where = parse_origin(origin)
    if where.federation != ledger.federation:
        return False
    if ledger.governance is None:
        return True
    allowed = ledger.governance.witnesses_of(where.region)
    return allowed is not None and ledger.cosigner.name in allowed


def add_checkpoint(ledger, note_text: str, old_size: int, proof: Sequence[bytes]) -> NoteSignature:
    """Cosign ``note_text`` if the C2SP rule accepts it; the state is committed first.

    Raises what exchange.core.witness.accept_checkpoint raises.
    """
    origin = claimed_origin(note_text)
    witnessed = witnessed_here(ledger, origin)
    log_key = None
    if witnessed:
        size = parse_checkpoint_body(parse_note(note_text).text).size
        keys = ledger.history(origin).checkpoint_keys(size)
        if keys:
            log_key = Ed25519NoteVerifier(origin, VerifyKey(keys[0].public_key))
    with ledger.store.write() as tx:
        held = tx.witness_state(origin)
        cp = accept_checkpoint(
            note_text,
            old_size,
            proof,
            witnessed=witnessed,
            log_key=log_key,
            stored=WitnessState(*held) if held else None,
        )
        tx.advance_witness(origin, cp.size, cp.root_hash)
    return cosign(parse_note(note_text).text, ledger.cosigner, int(ledger.clock().timestamp()))


class CosignRequester:
    """Asks the own witness set to cosign each new checkpoint of this node's log.

    ``connect(address)`` gives a WitnessService stub (mTLS channel, cached by the
    caller); ``witnesses()`` maps each witness name of the own origin to its address.
    """

    def __init__(
        self,
        ledger,
        witnesses: Callable[[], dict[str, str]],
        connect: Callable[[str], services_pb2_grpc.WitnessServiceStub],
        *,
        timeout: float = 10.0,
        retry_interval: float = 15.0,
    ) -> None:
        self.ledger = ledger
        self.witnesses = witnesses
        self.connect = connect
        self.timeout = timeout
        self.retry_interval = retry_interval
        #: The size each witness last cosigned, as far as this node knows (0: unknown).
        self.known: dict[str, int] = {}
        self.conflicts = 0
        #: Rounds run, and the ledger version the loop has acted on (for tests).
        self.rounds = 0
        self.seen = -1
        #: witness -> (size, when) of its last failed request: not asked again for that
        #: size before retry_interval, however often the ledger changes meanwhile.
        self._failed: dict[str, tuple[int, float]] = {}
        #: Origins of witnesses not asked yet because this node holds no key of theirs
        #: (their logs not mirrored yet, as at a federation's start-up): a change of
        #: one of them runs a round, so they are asked as soon as their key is known.
        self.awaiting_keys: frozenset[str] = frozenset()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=6, thread_name_prefix="cosign")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="cosign-requests", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        """A round when the own log changed, the federation document did (a witness set
        or key), the log of a witness not asked for want of its key did, or
        ``retry_interval`` passed; not on every other origin's change.

        A node mirroring thousands of origins sees a change every few milliseconds
        while it syncs; a round reads the own checkpoint and its cosignature lines.
        """
        version = self.ledger.version
        ran_at, ran_when = -1, float("-inf")
        while not self._stop.is_set() and not self.ledger.closing.is_set():
            changed = self.ledger.changed_since(ran_at) if ran_at >= 0 else None
            due = time.monotonic() - ran_when >= self.retry_interval
            if (
                changed is None
                or self.ledger.origin in changed
                or not self.awaiting_keys.isdisjoint(changed)
                or due
            ):
                ran_at, ran_when = version, time.monotonic()
                self.rounds += 1
                try:
                    self.request_round()
                except Exception:
                    log.exception("cosignature requests failed")
            self.seen = version
            version = self.ledger.wait_for_change(version, timeout=self.retry_interval)

    def request_round(self) -> int:
        """Ask every witness lacking a cosignature on the current checkpoint; store what
        verifies in one transaction. Returns how many cosignatures were added."""
        ledger = self.ledger
        row = ledger.store.origin(ledger.origin)
        if row is None or not row.checkpoint or row.size == 0:
            return 0
        wanted = self.witnesses()
        body = parse_note(row.checkpoint).text
        have = {
            w
            for w, _, line in ledger.store.cosignatures(ledger.origin, row.size)
            if self._by_current_key(body, line)
        }
        now = time.monotonic()
        todo = sorted(
            w
            for w in set(wanted) - have
            if not (
                w in self._failed
                and self._failed[w][0] == row.size
                and now - self._failed[w][1] < self.retry_interval
            )
        )
        # A cosignature can only be checked with the witness's certified key, which
        # comes with its log: asking before that costs the witness a signature this
        # node would refuse.
        unkeyed = {
            w: m.name
            for w in todo
            if (m := witness_member(w)) is not None and not ledger.witness_keys(m.name)
        }
        if frozenset(unkeyed.values()) != self.awaiting_keys:
            self.awaiting_keys = frozenset(unkeyed.values())
            if unkeyed:
                log.info(
                    "not asking witnesses %s yet: their logs (and keys) are not held here",
                    ", ".join(sorted(unkeyed)),
                )
        todo = [w for w in todo if w not in unkeyed]
        if not todo:
            return 0
        jobs = [
            self._pool.submit(self._ask, name, wanted[name], row.checkpoint, row.size, row.root)
            for name in todo
        ]
        answers = [j.result() for j in jobs]
        for name, answer in zip(todo, answers, strict=True):
            if answer is None:
                self._failed[name] = (row.size, now)
            else:
                self._failed.pop(name, None)
        got = [a for a in answers if a is not None]
        if not got:
            return 0
        added = 0
        origin = ledger.origin
        with ledger.store.write() as tx:
            if tx.has_checkpoint(origin, row.size):
                for sig, ts in got:
                    # A witness asked again after its key rotated: its new line replaces
                    # the old key's (a bundle carries one key per witness).
                    added += tx.add_cosignature(
                        origin, row.size, sig.name, ts, sig.to_line(), replace=True
                    )
        if added:
            ledger._notify(origin)
        return added

    def _by_current_key(self, body: str, line: str) -> bool:
        """Whether a stored cosignature line is by the witness's current key
        (:meth:`Ledger.by_current_key`); one by an older key is asked for again."""
        try:
            sig = parse_note(body + "\n" + line).signatures[0]
        except (BrandexError, IndexError):
            return False
        return self.ledger.by_current_key(sig)

    def _proof(self, old: int, size: int) -> list[bytes]:
        if not 0 < old < size:
            return []
        reader = self.ledger.store.hash_reader(self.ledger.origin)
        return merkle.consistency_proof(old, size, reader)

    def _ask(
        self, name: str, address: str, note: str, size: int, root: bytes
    ) -> tuple[NoteSignature, int] | None:
        """One witness: a request, and once more with its size after a conflict."""
        stub = self.connect(address)
        old = self.known.get(name, 0)
        for attempt in (1, 2):
            if old > size:
                log.warning("witness %s holds size %d of our log, beyond our %d", name, old, size)
                return None
            req = services_pb2.AddCheckpointRequest(
                old_size=old, consistency_proof=self._proof(old, size), checkpoint=note
            )
            try:
                resp = stub.AddCheckpoint(req, timeout=self.timeout)
            except grpc.RpcError as exc:
                theirs = conflict_size(exc)
                if theirs is not None and attempt == 1:
                    self.conflicts += 1
                    self.known[name] = old = theirs
                    continue
                log.info("witness %s refused or failed (size %d): %s", name, size, _text(exc))
                return None
            try:
                found = self._verify(name, note, resp.cosignature)
            except BrandexError as exc:
                log.warning("witness %s answered a cosignature that does not verify: %s", name, exc)
                return None
            self.known[name] = size
            return found
        return None

    def _verify(self, name: str, note: str, line: str) -> tuple[NoteSignature, int]:
        """The witness's cosignature line, checked with its certified key: never trusted."""
        parsed = parse_note(note)
        sigs = parse_note(parsed.text + "\n" + line).signatures if line else []
        if len(sigs) != 1 or sigs[0].name != name:
            raise FormatError(f"expected one cosignature line by {name}")
        found = cosigner_key(sigs[0], self.ledger.witness_keys)
        if found is None:
            raise VerificationError(f"no certified key of {name} matches its key id")
        ts = CosignatureVerifier(name, VerifyKey(found[1])).verify_cosignature(parsed.text, sigs[0])
        return sigs[0], ts


def conflict_size(exc: grpc.RpcError) -> int | None:
    """The witness's size from a conflict answer (ABORTED + trailing metadata), else None."""
    code = exc.code() if hasattr(exc, "code") else None  # type: ignore[attr-defined]
    if code != grpc.StatusCode.ABORTED:
        return None
    for key, value in exc.trailing_metadata() or ():  # type: ignore[attr-defined]
        if key == CONFLICT_SIZE_KEY:
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _text(exc: grpc.RpcError) -> str:
    code = exc.code().name if hasattr(exc, "code") else "ERROR"  # type: ignore[attr-defined]
    return f"{code}: {exc.details() if hasattr(exc, 'details') else exc}"  # type: ignore[attr-defined]
