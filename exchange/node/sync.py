"""Anti-entropy with every configured peer: poll, watch (push) and relay.

One thread per peer pulls every origin the peer serves; a second thread per
peer holds a ``WatchCheckpoints`` stream open and wakes the puller the moment
the peer accepts a new checkpoint, so an entry spreads without waiting for
the poll interval. A peer that is down, slow or hostile only delays itself:
every call has a deadline, failures back off, and nothing is stored unverified.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import grpc

from exchange._proto.brandex.v1 import services_pb2, services_pb2_grpc
from exchange.core.errors import BrandexError, VerificationError
from exchange.node import requests
from exchange.node.ledger import Ledger, OriginHead, SyncOutcome

__all__ = ["GrpcPeer", "PeerError", "PeerState", "SyncEngine"]

log = logging.getLogger("brandex.sync")


class PeerError(BrandexError):
    """A peer failed while serving one origin; other origins and peers go on."""


def _translated(stream: Iterator, name: str) -> Iterator:
    """Iterate a gRPC stream, turning transport errors into ``PeerError``."""
    try:
        yield from stream
    except grpc.RpcError as exc:
        code = exc.code().name if hasattr(exc, "code") else "ERROR"  # type: ignore[attr-defined]
        details = exc.details() if hasattr(exc, "details") else str(exc)  # type: ignore[attr-defined]
        raise PeerError(f"{name}: {code}: {details}") from None


class GrpcPeer:
    """The ``Peer`` protocol over a real mTLS channel."""

    def __init__(
        self,
        address: str,
        channel: grpc.Channel,
        *,
        timeout: float,
        batch_size: int,
        max_batches: int = 100_000,
    ) -> None:
        self.name = address
        self.address = address
        self.channel = channel
        self._log = services_pb2_grpc.LogServiceStub(channel)
        self.timeout = timeout
        self.batch_size = batch_size
        self.max_batches = max_batches

    def federation_documents(self, from_version: int) -> list[bytes]:
        """The federation document versions the peer holds from ``from_version`` on."""
        resp = self._log.GetFederation(
            services_pb2.GetFederationRequest(from_version=from_version), timeout=self.timeout
        )
        return list(resp.documents)

    def list_origins(self) -> list[OriginHead]:
        resp = self._log.ListOrigins(services_pb2.ListOriginsRequest(), timeout=self.timeout)
        return [OriginHead(o.origin, o.size, o.checkpoint) for o in resp.origins]

    def get_entries(self, origin: str, start: int, end: int) -> Iterator[tuple[int, list[bytes]]]:
        # A node serves at most MAX_ENTRIES_PER_CALL per call: long ranges in pieces.
        while start < end:
            stop = min(end, start + requests.MAX_ENTRIES_PER_CALL)
            yield from self._get_range(origin, start, stop)
            start = stop

    def _get_range(self, origin: str, start: int, end: int) -> Iterator[tuple[int, list[bytes]]]:
        # The deadline grows with the range, so big catch-ups are not cut short,
        # while a stalled stream still ends.
        deadline = self.timeout + (end - start) / 2000.0
        stream = self._log.GetEntries(
            services_pb2.GetEntriesRequest(
                origin=origin, start=start, end=end, batch_size=self.batch_size
            ),
            timeout=deadline,
        )
        count = 0
        try:
            for batch in _translated(stream, self.name):
                count += 1
                if count > self.max_batches:
                    raise VerificationError(
                        f"{self.name} sent more than {self.max_batches} batches"
                    )
                if batch.origin != origin:
                    raise VerificationError(f"{self.name} sent {batch.origin} for {origin}")
                yield batch.start, list(batch.envelopes)
        finally:
            stream.cancel()

    def consistency_proof(self, origin: str, size1: int, size2: int) -> list[bytes] | None:
        """The peer's RFC 9162 consistency proof between two sizes of ``origin``.

        None when the peer does not give one (an old node, or it does not hold the
        smaller size): the caller then learns consistency from the entries.
        """
        try:
            resp = self._log.GetConsistencyProof(
                services_pb2.ConsistencyRequest(origin=origin, size1=size1, size2=size2),
                timeout=self.timeout,
            )
        except grpc.RpcError as exc:
            log.debug("no consistency proof from %s: %s", self.name, exc)
            return None
        return list(resp.proof)

    def watch(self) -> Iterator[OriginHead]:
        for o in self._log.WatchCheckpoints(services_pb2.WatchCheckpointsRequest()):
            yield OriginHead(o.origin, o.size, o.checkpoint)


@dataclass
class PeerState:
    """What ``brandex node status`` shows about one peer."""

    address: str
    region: str
    reachable: bool = False
    last_sync: str = ""
    last_error: str = ""
    sizes: dict[str, int] = field(default_factory=dict)
    strikes: int = 0  # rounds in a row in which the peer served invalid data
    backoff_until: float = 0.0  # time.time() before which the peer is not synced from

    def backoff_text(self) -> str:
        if self.backoff_until <= time.time():
            return ""
        return datetime.fromtimestamp(self.backoff_until, UTC).isoformat(timespec="seconds")


class SyncEngine:
    """Threads that keep this node's mirrors in step with every peer."""

    def __init__(
        self,
        ledger: Ledger,
        peers: list[tuple[GrpcPeer, str]],
        *,
        interval: float,
        watch: bool = True,
    ) -> None:
        self.ledger = ledger
        self.interval = interval
        self.watch_enabled = watch
        self._stop = threading.Event()
        self._started = False
        self._peers: dict[str, GrpcPeer] = {}
        self.states: dict[str, PeerState] = {}
        self._wake: dict[str, threading.Event] = {}
        self._stops: dict[str, threading.Event] = {}
        self._pushed: dict[str, dict[str, OriginHead]] = {}
        self._threads: list[threading.Thread] = []
        self._watch_calls: dict[str, object] = {}
        #: Told of each full round's outcomes (None: the round failed) and each pushed
        #: origin's (full=False): (peer address, outcomes, full). Metrics hook here.
        self.on_sync: Callable[[str, list[SyncOutcome] | None, bool], None] = lambda *a: None
        #: Run before each full round with a peer (the federation document poll hooks here).
        self.before_round: Callable[[GrpcPeer], None] = lambda peer: None
        #: Told the federation document version each watched head carries.
        self.on_federation_version: Callable[[GrpcPeer, int], None] = lambda peer, v: None
        for peer, region in peers:
            self.add_peer(peer, region)

    @property
    def peers(self) -> list[GrpcPeer]:
        return list(self._peers.values())

    def add_peer(self, peer: GrpcPeer, region: str) -> None:
        """Sync with one more peer (at once if the engine runs); a known address is kept."""
        if peer.address in self._peers:
            return
        self._peers[peer.address] = peer
        self.states[peer.address] = PeerState(peer.address, region)
        self._wake[peer.address] = threading.Event()
        self._stops[peer.address] = threading.Event()
        self._pushed[peer.address] = {}
        if self._started:
            self._start_peer(peer)

    def remove_peer(self, address: str) -> None:
        """Stop syncing with a peer (a member that left the federation)."""
        if self._peers.pop(address, None) is None:
            return
        self._stops[address].set()
        self._wake[address].set()
        call = self._watch_calls.pop(address, None)
        if call is not None:
            with contextlib.suppress(Exception):
                call.cancel()  # type: ignore[attr-defined]
        self.states.pop(address, None)

    def _start_peer(self, peer: GrpcPeer) -> None:
        t = threading.Thread(
            target=self._pull_loop, args=(peer,), daemon=True, name=f"sync-{peer.address}"
        )
        t.start()
        self._threads.append(t)
        if self.watch_enabled:
            w = threading.Thread(
                target=self._watch_loop, args=(peer,), daemon=True, name=f"watch-{peer.address}"
            )
            w.start()
            self._threads.append(w)

    def start(self) -> None:
        self._started = True
        for peer in list(self._peers.values()):
            self._start_peer(peer)

    def stop(self, timeout: float = 10.0) -> None:
        """End every sync and watch thread; wait up to ``timeout`` seconds for them.

        Closing the peers' channels cancels the calls in flight (a ``GetEntries``
        may otherwise run for the whole sync timeout), so each thread leaves its
        sync through the usual error path, which puts its staging away. Waiting
        matters: a thread still syncing when the store closes writes to a closed
        database, and one still running when the interpreter exits can crash it
        (seen as segfaults of nodes stopped in the middle of a 100-node start-up).
        """
        self._stop.set()
        for e in self._stops.values():
            e.set()
        for e in self._wake.values():
            e.set()
        for call in list(self._watch_calls.values()):
            with contextlib.suppress(Exception):  # best effort on shutdown
                call.cancel()  # type: ignore[attr-defined]
        for peer in list(self._peers.values()):
            with contextlib.suppress(Exception):
                peer.channel.close()
        end = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, end - time.monotonic()))

    def sync_once(self, peer: GrpcPeer) -> list[SyncOutcome]:
        state = self.states[peer.address]
        self.before_round(peer)
        outcomes = self.ledger.sync_from(peer)
        self.on_sync(peer.address, outcomes, True)
        state.reachable = True
        state.last_sync = datetime.now(UTC).isoformat(timespec="seconds")
        rejected = [o for o in outcomes if o.action in ("rejected", "equivocation")]
        state.last_error = "; ".join(f"{o.origin}: {o.detail}" for o in rejected)
        if any(o.invalid for o in outcomes):
            # It served data that does not verify: leave it alone for a while
            # (1 s, doubling, at most 2 poll intervals), and say so in node status.
            state.strikes += 1
            pause = min(2.0 ** (state.strikes - 1), 2 * max(self.interval, 0.5), 600.0)
            state.backoff_until = time.time() + pause
            log.warning("peer %s served invalid data; backing off %.0f s", peer.address, pause)
        else:
            state.strikes = 0
        for o in outcomes:
            if o.action == "appended":
                log.info("synced %s from %s: +%d", o.origin, peer.address, o.added)
        return outcomes

    def _pull_loop(self, peer: GrpcPeer) -> None:
        """Full anti-entropy every interval; in between, only what the peer pushed."""
        failures = 0
        wake = self._wake[peer.address]
        pushed = self._pushed[peer.address]
        stop = self._stops[peer.address]
        next_full = 0.0
        while not stop.is_set():
            try:
                backoff = self.states[peer.address].backoff_until - time.time()
                if backoff > 0:
                    pushed.clear()
                    wake.clear()
                    stop.wait(backoff)
                    next_full = 0.0  # what was pushed meanwhile was dropped: a full round
                    continue
                if time.monotonic() >= next_full:
                    pushed.clear()
                    outcomes = self.sync_once(peer)
                    # A round cut at its byte budget goes on at once.
                    partial = any(o.action == "partial" for o in outcomes)
                    next_full = time.monotonic() + (0.0 if partial else self.interval)
                else:
                    while pushed:
                        _, head = pushed.popitem()
                        self.on_sync(peer.address, [self.ledger.sync_origin(peer, head)], False)
                failures = 0
            except KeyError:  # removed from the federation meanwhile
                break
            except grpc.RpcError as exc:
                failures += 1
                st = self.states[peer.address]
                st.reachable = False
                st.last_error = f"{exc.code().name}: {exc.details()}"  # type: ignore[attr-defined]
                log.debug("peer %s: %s", peer.address, st.last_error)
            except BrandexError as exc:
                failures += 1
                self.states[peer.address].last_error = str(exc)
                log.warning("peer %s: %s", peer.address, exc)
            except Exception:
                if stop.is_set():  # the node is stopping: its channel or store closed
                    break
                failures += 1
                log.exception("sync with %s failed", peer.address)
            if failures:
                self.on_sync(peer.address, None, True)
                # Back off (capped, with jitter) and retry everything then.
                next_full = 0.0
                delay = min(2.0**failures, 60.0, max(self.interval, 1.0)) * (
                    0.5 + random.random() / 2
                )
            else:
                delay = max(0.0, next_full - time.monotonic())
            if not pushed:
                wake.wait(delay)
            wake.clear()

    def _watched(self, peer: GrpcPeer, origin: str) -> bool:
        """Track only origins of our federation, and at most ``requests.watch_limit`` per
        peer: a peer must not grow our memory (or our status answers) with made-up origins."""
        state = self.states[peer.address]
        if origin in state.sizes:
            return True
        if not requests.acceptable_origin(origin, self.ledger.federation):
            state.last_error = f"watch: ignored malformed origin {origin[:40]!r}"
            return False
        gov = self.ledger.governance
        limit = requests.watch_limit(len(gov.latest.members) if gov is not None else 0)
        if len(state.sizes) >= limit:
            state.last_error = (
                f"watch: ignored origin {origin}: already tracking {limit} from this peer"
            )
            return False
        return True

    def _watch_loop(self, peer: GrpcPeer) -> None:
        """Hold a WatchCheckpoints stream; a head bigger than ours wakes the puller."""
        failures = 0
        stop = self._stops[peer.address]
        while not stop.is_set():
            try:
                call = peer._log.WatchCheckpoints(services_pb2.WatchCheckpointsRequest())
                self._watch_calls[peer.address] = call
                for o in call:
                    failures = 0
                    if o.federation_version:
                        self.on_federation_version(peer, o.federation_version)
                    if not self._watched(peer, o.origin):
                        continue
                    self.states[peer.address].sizes[o.origin] = o.size
                    row = self.ledger.store.origin(o.origin)
                    # New entries, or new cosignatures on the checkpoint we hold: pull
                    # just that origin now (a full round waits for the poll interval).
                    if (
                        row is None
                        or o.size > row.size
                        or (
                            o.size == row.size
                            and o.checkpoint != self.ledger.checkpoint_with_cosignatures(o.origin)
                        )
                    ):
                        self._pushed[peer.address][o.origin] = OriginHead(
                            o.origin, o.size, o.checkpoint
                        )
                        self._wake[peer.address].set()
                    if stop.is_set():
                        break
            except grpc.RpcError:
                failures += 1
            except KeyError:  # removed from the federation meanwhile
                break
            except Exception:
                if stop.is_set():
                    break
                failures += 1
                log.exception("watch on %s failed", peer.address)
            stop.wait(min(0.2 * 2 ** min(failures, 6), 10.0))
