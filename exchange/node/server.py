"""Running a node process: ``brandex node run nodes/<name>.toml``.

Builds the store, ledger, gRPC server (mTLS, health, reflection) and the sync
engine from a config, and stops all of it cleanly on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from exchange import gcpolicy
from exchange._proto.brandex.v1 import services_pb2_grpc
from exchange.core import x509
from exchange.core.dsse import keyid_of
from exchange.core.errors import BrandexError, ConflictError, NotFoundError
from exchange.core.federation import FederationDoc
from exchange.core.origin import origin_name, witness_name
from exchange.core.overlay import OverlayMember, neighbours
from exchange.node.config import NodeConfig, parse_address
from exchange.node.governance import Governance
from exchange.node.identity import (
    CallerCache,
    channel_credentials,
    load_anchors,
    open_channel,
    server_credentials,
)
from exchange.node.indexer import Indexer
from exchange.node.ledger import Ledger
from exchange.node.limits import RPC_WORKERS, TokenBuckets
from exchange.node.observe import (
    HealthMonitor,
    NodeMetrics,
    ObserveServer,
    RpcInterceptor,
    StateCollector,
)
from exchange.node.services import NodeContext, add_services
from exchange.node.sync import GrpcPeer, SyncEngine
from exchange.node.witnessing import CosignRequester
from exchange.pki import load_signing_key
from exchange.store import Store
from exchange.workers import start_pool

__all__ = ["Node", "PortInUseError", "run_node"]

log = logging.getLogger("brandex.node")


class PortInUseError(BrandexError):
    """The listen address is taken (or not ours to bind)."""


@dataclass
class Node:
    """A running node; ``stop()`` ends it."""

    config: NodeConfig
    server: grpc.Server
    engine: SyncEngine
    ledger: Ledger
    indexer: Indexer
    started_at: str
    health: HealthMonitor | None = None
    observe: ObserveServer | None = None
    cosign: CosignRequester | None = None

    def stop(self, grace: float = 2.0) -> None:
        # First: it wakes every thread waiting for a change (the cosignature requests
        # wait up to their 15 s retry interval, the watch streams peers hold on us).
        self.ledger.close()
        if self.cosign is not None:
            self.cosign.stop()
        if self.health is not None:
            self.health.stop()
        if self.observe is not None:
            self.observe.stop()
        self.engine.stop()
        self.server.stop(grace).wait()
        self.indexer.stop()
        if self.ledger.pool is not None:
            self.ledger.pool.shutdown(wait=True, cancel_futures=True)
        self.ledger.store.close()


def _install_key(config: NodeConfig, key_path: Path, cert_path: Path, old_keyid: str) -> None:
    """Put a rotated-in key at the configured paths; keep the old one beside, by its id."""
    tag = f"retired-{old_keyid[:12]}"
    for current, new in ((config.signing_key, key_path), (config.signing_cert, cert_path)):
        if current.exists():
            os.replace(current, current.with_name(f"{current.stem}.{tag}{current.suffix}"))
        os.replace(new, current)


def _rotate(
    config: NodeConfig,
    ledger: Ledger,
    key_path: Path,
    cert_path: Path,
    actor: tuple[str, str] | None = None,
) -> tuple[int, list[bytes]]:
    """Rotate the node's signing key to the files given (see Ledger.rotate)."""
    if key_path.resolve() == config.signing_key.resolve():
        raise ConflictError(f"{key_path} is the key in use; give the new key's file")
    try:
        new_key = load_signing_key(key_path)
        pem = cert_path.read_text()
    except OSError as exc:
        raise NotFoundError(f"cannot read the new key or certificate: {exc}") from None
    old = ledger.keyid
    result = ledger.rotate(new_key, [pem], actor)
    _install_key(config, key_path, cert_path, old)
    log.info("signing key rotated from %s to %s", old[:16], ledger.keyid[:16])
    return result


def _finish_rotation(config: NodeConfig, ledger: Ledger) -> None:
    """After a crash between a rotation's commit and its file swap, finish the swap.

    The log says which key is current; if the configured file holds another,
    the current key is looked for beside it (where ``_rotate`` left it).
    """
    row = ledger.store.origin(ledger.origin)
    if row is None or row.size == 0:
        return
    current = ledger.history(ledger.origin).current()
    if current is None or current.keyid == ledger.keyid:
        return
    for key_path in sorted(config.signing_key.parent.glob("*.key")):
        try:
            key = load_signing_key(key_path)
        except BrandexError:
            continue
        if keyid_of(bytes(key.verify_key)) == current.keyid:
            cert_path = key_path.with_suffix(".pem")
            if not cert_path.exists():
                continue
            _install_key(config, key_path, cert_path, ledger.keyid)
            ledger._use_key(key, [config.signing_cert.read_text()])
            log.warning("finished an interrupted key rotation to %s", current.keyid[:16])
            return


def _peer_addresses(config: NodeConfig, governance: Governance | None) -> list[tuple[str, str]]:
    """(address, region) of every peer: this member's neighbours in the federation
    document's overlay (exchange.core.overlay: a handful, whatever the membership;
    every entry still reaches every node, relayed hop by hop) at their first listed
    address, a ``[[peers]]`` entry overriding the address of a member of its region
    and adding any other; without a document, ``[[peers]]`` alone."""
    overrides = {p.region: p.address for p in config.peers}
    if governance is None:
        return [(p.address, p.region) for p in config.peers]
    doc = governance.latest
    me = doc.member_of_region(config.region)
    chosen = (
        set(neighbours([OverlayMember(m.name, m.region) for m in doc.members], me.name))
        if me is not None
        else {m.name for m in doc.members}  # not (yet) a member: pull from everyone listed
    )
    out = []
    for m in doc.members:
        if m.region == config.region or m.name not in chosen:
            continue
        address = overrides.pop(m.region, m.addresses[0] if m.addresses else "")
        if address:
            out.append((address, m.region))
    out.extend((a, r) for r, a in overrides.items() if doc.departure(r) is None)
    return out


def _witness_addresses(config: NodeConfig, governance: Governance) -> dict[str, str]:
    """Witness name -> address of each member of this node's own witness set (the
    federation document's rule, exchange.core.overlay.witnesses); a ``[[peers]]``
    entry overrides the address of a member of its region, as for peers."""
    wanted = governance.witnesses_of(config.region) or frozenset()
    overrides = {p.region: p.address for p in config.peers}
    doc = governance.latest
    out = {}
    for m in doc.members:
        name = witness_name(origin_name(doc.federation, m.region))
        address = overrides.get(m.region, m.addresses[0] if m.addresses else "")
        if name in wanted and address:
            out[name] = address
    return out


def _follow_federation(
    config: NodeConfig,
    governance: Governance,
    engine: SyncEngine,
    ledger: Ledger,
    make_peer: Callable[[str], GrpcPeer],
) -> None:
    """Make each accepted federation version take effect, and fetch new versions."""

    def pull(peer: GrpcPeer) -> None:
        try:
            docs = peer.federation_documents(governance.latest.version + 1)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
                raise
            return  # a peer without a document: nothing to learn from it
        if docs:
            governance.offer(docs, peer.address)

    def on_version(peer: GrpcPeer, version: int) -> None:
        if version > governance.latest.version:
            try:
                pull(peer)
            except grpc.RpcError as exc:
                log.debug("federation documents from %s: %s", peer.address, exc)

    def apply(doc: FederationDoc) -> None:
        ledger.apply_federation(doc)
        wanted = dict(_peer_addresses(config, governance))
        for peer in engine.peers:
            if peer.address not in wanted:
                log.info("no longer peering with %s (not in version %d)", peer.address, doc.version)
                engine.remove_peer(peer.address)
        for address, region in wanted.items():
            engine.add_peer(make_peer(address), region)

    engine.before_round = pull
    engine.on_federation_version = on_version
    governance.listeners.append(apply)


def start_node(config: NodeConfig) -> Node:
    """Start serving and syncing; returns once the port is bound and the log bootstrapped."""
    anchors_pem, anchors = load_anchors(config.anchors)
    signing_key = load_signing_key(config.signing_key)
    chain_pem = config.signing_cert.read_text()
    # Refuse to start with a key the federation would not accept from us.
    cert = x509.load_pem_chain(chain_pem.encode())[0]
    public = x509.verify_signing_certificate(
        cert, [], anchors, at=datetime.now(UTC), region=config.region
    )
    if public != bytes(signing_key.verify_key):
        raise BrandexError(f"{config.signing_key} does not match {config.signing_cert}")
    config.database.parent.mkdir(parents=True, exist_ok=True)
    pool = start_pool(config.verify_workers)
    store = Store(config.database, exclusive=True)  # one node per file; restores wait
    ledger = Ledger(
        store,
        pool=pool,
        federation=config.federation,
        region=config.region,
        signing_key=signing_key,
        signing_chain_pem=[chain_pem],
        anchors=anchors,
        witness=config.witness,
        parallel_origins=config.parallel_origins,
    )
    _finish_rotation(config, ledger)
    client_creds = channel_credentials(config.tls_cert, config.tls_key, anchors_pem)
    governance = None
    if config.federation_document is not None:
        governance = Governance(store, config.federation_document.read_bytes(), config.federation)
        ledger.governance = governance

    def make_peer(address: str) -> GrpcPeer:
        return GrpcPeer(
            address,
            open_channel(address, client_creds, max_message_bytes=config.max_message_bytes),
            timeout=config.sync_timeout,
            batch_size=config.batch_size,
        )

    peers = [(make_peer(a), r) for a, r in _peer_addresses(config, governance)]
    # A lost disk or a lost tail: take the own log back from peers, never re-sign it.
    ledger.recover_own_log(p for p, _ in peers)
    ledger.bootstrap()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    metrics = NodeMetrics()
    observe = None
    if config.metrics_listen:  # [metrics] listen: bound before serving, so a clash stops here
        try:
            observe = ObserveServer(*parse_address(config.metrics_listen), metrics, None)
        except OSError as exc:
            store.close()
            raise PortInUseError(
                f"cannot serve metrics on {config.metrics_listen}: {exc}"
            ) from None
    ctx = NodeContext(
        ledger=ledger,
        callers=CallerCache(anchors, config.crl, governance),
        today=lambda: datetime.now(UTC).date(),
        name=config.name,
        started_at=started_at,
        rotate_key=lambda key, cert, actor: _rotate(config, ledger, key, cert, actor),
        reads=TokenBuckets(config.read_rate, config.read_burst),
    )
    server = grpc.server(
        # Streams take at most half of these workers (exchange.node.limits.StreamSlots).
        futures.ThreadPoolExecutor(max_workers=RPC_WORKERS, thread_name_prefix="rpc"),
        options=[
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", config.max_message_bytes),
            ("grpc.so_reuseport", 0),
            # A peer that vanished without a FIN must not hold a stream slot for ever:
            # ping idle connections, drop them when pings go unanswered.
            ("grpc.keepalive_time_ms", 60_000),
            ("grpc.keepalive_timeout_ms", 20_000),
            ("grpc.keepalive_permit_without_calls", 1),
            # Clients ping every 30 s (exchange.node.identity.open_channel): allow it.
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.http2.max_pings_without_data", 0),
            # Connections are recycled (GOAWAY) after an hour; open calls get 5 minutes
            # to finish, and watch streams reconnect at once.
            ("grpc.max_connection_age_ms", 3_600_000),
            ("grpc.max_connection_age_grace_ms", 300_000),
            ("grpc.max_connection_idle_ms", 1_800_000),
        ],
        maximum_concurrent_rpcs=256,
        interceptors=[
            RpcInterceptor(metrics, lambda: governance.warning() if governance else None)
        ],
    )
    names = add_services(server, ctx)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [
            *names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    creds = server_credentials(config.tls_cert, config.tls_key, anchors_pem)
    try:
        port = server.add_secure_port(config.listen, creds)
    except RuntimeError:
        port = 0
    if port == 0:
        if observe is not None:
            observe.stop()
        store.close()
        raise PortInUseError(
            f"cannot listen on {config.listen}: the port is in use or not available"
        )
    server.start()
    engine = SyncEngine(ledger, peers, interval=config.sync_interval, watch=config.watch)
    ctx.peer_states = lambda: list(engine.states.values())
    engine.on_sync = metrics.on_sync
    if governance is not None:
        _follow_federation(config, governance, engine, ledger, make_peer)
    indexer = Indexer(ledger)

    def set_health(ok: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if ok
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for n in ("", *names):
            health_servicer.set(n, status)

    own_certs = {"tls": config.tls_cert, "signing": config.signing_cert}
    monitor = HealthMonitor(
        store,
        own_certs,
        interval=config.health_interval,
        peers=lambda: [p.address for p in engine.peers],
        attempted=metrics.attempted,
        on_change=set_health,
        federation_expiry=lambda: governance.latest.expires_at if governance else None,
    )
    metrics.registry.register(
        StateCollector(config.database, ctx.peer_states, ctx.streams.held, own_certs, monitor)
    )
    requester = None
    if governance is not None:
        # Bounded witnessing: ask the own witness set (C2SP tlog-witness requests).
        witness_channels: dict[str, services_pb2_grpc.WitnessServiceStub] = {}

        def connect(address: str) -> services_pb2_grpc.WitnessServiceStub:
            if address not in witness_channels:
                channel = open_channel(
                    address, client_creds, max_message_bytes=config.max_message_bytes
                )
                witness_channels[address] = services_pb2_grpc.WitnessServiceStub(channel)
            return witness_channels[address]

        gov = governance
        requester = CosignRequester(
            ledger, lambda: _witness_addresses(config, gov), connect, timeout=config.sync_timeout
        )
    node = Node(config, server, engine, ledger, indexer, started_at, monitor, observe, requester)
    monitor.check()  # SERVING (or not) from the first answer on
    indexer.start()
    engine.start()
    if requester is not None:
        requester.start()
    monitor.start()
    if observe is not None:
        observe.health = monitor
        observe.start()
    return node


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def wait_for_stop_signal(ready: Callable[[], None] = lambda: None) -> int:
    """Block the main thread until SIGTERM or SIGINT; returns the signal's number.

    The handler only appends to a list: a handler runs in the main thread between
    any two bytecodes, so one that takes a lock deadlocks when the signal lands
    while the main thread holds that lock. The earlier ``Event.set()`` handler did,
    with the main thread inside ``Event.wait``: under load (100 nodes on two cores)
    4 of 100 nodes never stopped. A process-directed signal may be delivered to any
    thread (gRPC's, the sync engine's), and CPython runs the handler only once the
    main thread runs bytecode: the C-level handler writes the signal's number to
    the wakeup pipe (``signal.set_wakeup_fd``), which wakes the main thread from
    its blocking read. ``ready`` is called once the handlers are in place.
    """
    received: list[int] = []
    r, w = os.pipe()
    os.set_blocking(w, False)
    old_fd = signal.set_wakeup_fd(w)
    try:
        for s in STOP_SIGNALS:
            # Left in place on return: a second signal while the node stops is recorded
            # and otherwise ignored, not the default action (which would kill it mid-stop).
            signal.signal(s, lambda signum, frame: received.append(signum))
        ready()
        while not received:
            os.read(r, 64)  # the wakeup bytes; the handler has run when it returns
        return received[0]
    finally:
        signal.set_wakeup_fd(old_fd)
        os.close(r)
        os.close(w)


def run_node(config: NodeConfig) -> None:
    """Run until SIGTERM or SIGINT, then stop cleanly."""
    gcpolicy.settle()  # the imports are done: what they built lives as long as the process
    node = start_node(config)

    def _ready() -> None:
        log.info(
            "node %s (%s) ready on %s, holding %d origin(s)",
            config.name,
            config.origin,
            config.listen,
            len(node.ledger.store.origins()),
        )

    signum = wait_for_stop_signal(_ready)
    log.info("signal %d: stopping", signum)
    node.stop()
    log.info("node %s stopped", config.name)


def database_path(config: NodeConfig) -> Path:
    return config.database
