"""A hostile peer: a real mTLS gRPC server that serves scripted LogService answers.

It presents a genuine member node certificate (so a real node will talk to it)
and answers ``ListOrigins``, ``GetCheckpoint``, ``GetEntries`` and
``WatchCheckpoints`` from whatever the test scripted: forged checkpoints,
tampered envelopes, logs signed with the wrong key. Changing the script pushes
the new heads to every open ``WatchCheckpoints`` stream, as an honest node
would, so the victim pulls at once.

Also the forging kit the attacks need: DSSE envelopes and checkpoints signed
with a member's real key (tests hold the whole PKI).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from nacl.signing import SigningKey

from exchange._proto.brandex.v1 import entries_pb2, services_pb2, services_pb2_grpc
from exchange.core import merkle
from exchange.core.checkpoint import Checkpoint, sign_checkpoint
from exchange.core.dsse import sign_envelope
from exchange.core.note import Ed25519NoteSigner, format_note
from exchange.pki import load_signing_key, member_paths

__all__ = [
    "HostilePeer",
    "ScriptedLog",
    "flip_payload_byte",
    "forge_checkpoint",
    "key_announcement",
    "root_of",
    "signed_entry",
    "signing_key",
]


@dataclass
class ScriptedLog:
    """What the hostile peer claims about one origin."""

    checkpoint: str
    envelopes: list[bytes] = field(default_factory=list)
    size: int | None = None  # defaults to the checkpoint's size as claimed by the script

    def state(self, origin: str) -> services_pb2.OriginState:
        size = self.size if self.size is not None else _note_size(self.checkpoint)
        return services_pb2.OriginState(origin=origin, size=size, checkpoint=self.checkpoint)


def _note_size(note: str) -> int:
    try:
        return int(note.split("\n")[1])
    except (IndexError, ValueError):
        return 0


class _HostileLogService(services_pb2_grpc.LogServiceServicer):
    def __init__(self, peer: HostilePeer) -> None:
        self.peer = peer

    def ListOrigins(self, request, context):
        self.peer._count("ListOrigins")
        return services_pb2.ListOriginsResponse(origins=self.peer._states())

    def GetCheckpoint(self, request, context):
        self.peer._count("GetCheckpoint")
        for st in self.peer._states():
            if st.origin == request.origin:
                return st
        context.abort(grpc.StatusCode.NOT_FOUND, f"origin {request.origin} is not held here")

    def GetEntries(self, request, context):
        self.peer._count("GetEntries", request.origin)
        with self.peer._cond:
            log = self.peer.logs.get(request.origin)
            envs = list(log.envelopes) if log else []
        if log is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"origin {request.origin} is not held here")
        end = min(request.end or len(envs), len(envs))
        step = max(1, min(request.batch_size or 1000, self.peer.batch_size or 1 << 30))
        start = request.start
        sent = 0
        while start < end and context.is_active():
            if self.peer.stall_after is not None and sent >= self.peer.stall_after:
                # A slow peer: the stream stays open, sending nothing, until released.
                self.peer._count("GetEntries-stalled", request.origin)
                while not self.peer._released.wait(0.2):
                    if not context.is_active() or self.peer._stopping.is_set():
                        return
            stop = min(start + step, end)
            yield services_pb2.EntryBatch(
                origin=request.origin, start=start, envelopes=envs[start:stop]
            )
            sent += 1
            start = stop
        self.peer._count("GetEntries-done", request.origin)

    def WatchCheckpoints(self, request, context):
        self.peer._count("WatchCheckpoints")
        sent: dict[str, tuple[int, str]] = {}
        version = -1
        while context.is_active() and not self.peer._stopping.is_set():
            with self.peer._cond:
                self.peer._cond.wait_for(
                    lambda v=version: self.peer._version != v or self.peer._stopping.is_set(),
                    timeout=0.5,
                )
                if self.peer._version == version:
                    continue
                version = self.peer._version
            for st in self.peer._states():
                key = (st.size, st.checkpoint)
                if sent.get(st.origin) != key:
                    sent[st.origin] = key
                    yield st

    def GetNodeStatus(self, request, context):
        return services_pb2.NodeStatus(name="hostile")


class HostilePeer:
    """A scripted LogService on 127.0.0.1 behind mTLS with a member's node certificate.

    Args:
        certs: the federation directory (``exchange.pki`` layout).
        member: whose node certificate and key to present (e.g. ``"shanghai"``).
        anchors_pem: the roots its clients must chain to (default: the federation anchor).
    """

    def __init__(self, certs: Path, member: str, anchors_pem: bytes | None = None) -> None:
        paths = member_paths(certs, member)
        self.member = member
        self.logs: dict[str, ScriptedLog] = {}
        self.calls: dict[str, int] = {}
        self.batch_size: int | None = None  # cap on envelopes per streamed batch
        self.stall_after: int | None = None  # stall GetEntries after this many batches
        self._released = threading.Event()
        self._cond = threading.Condition()
        self._version = 0
        self._stopping = threading.Event()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        services_pb2_grpc.add_LogServiceServicer_to_server(_HostileLogService(self), self._server)
        creds = grpc.ssl_server_credentials(
            [(paths.node_key.read_bytes(), paths.node_cert.read_bytes())],
            root_certificates=anchors_pem or paths.anchor.read_bytes(),
            require_client_auth=True,
        )
        self.port = self._server.add_secure_port("127.0.0.1:0", creds)
        assert self.port, "hostile peer could not bind a port"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> HostilePeer:
        self._server.start()
        return self

    def release(self) -> None:
        """Let stalled ``GetEntries`` streams go on."""
        self._released.set()

    def stop(self) -> None:
        self._stopping.set()
        self._released.set()
        with self._cond:
            self._cond.notify_all()
        self._server.stop(0).wait()

    def __enter__(self) -> HostilePeer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------- scripting

    def serve(self, origin: str, log: ScriptedLog | None) -> None:
        """Set (or with None, withdraw) what is served for ``origin``; pushes to watchers."""
        with self._cond:
            if log is None:
                self.logs.pop(origin, None)
            else:
                self.logs[origin] = log
            self._version += 1
            self._cond.notify_all()

    def count(self, what: str, origin: str = "") -> int:
        with self._cond:
            return self.calls.get(f"{what}:{origin}" if origin else what, 0)

    def _count(self, what: str, origin: str = "") -> None:
        with self._cond:
            key = f"{what}:{origin}" if origin else what
            self.calls[key] = self.calls.get(key, 0) + 1

    def _states(self) -> list[services_pb2.OriginState]:
        with self._cond:
            return [log.state(o) for o, log in sorted(self.logs.items())]


# ------------------------------------------------------------------ forging kit


def signing_key(certs: Path, member: str) -> SigningKey:
    """A member's real, certified entry/checkpoint signing key."""
    return load_signing_key(member_paths(certs, member).signing_key)


def root_of(envelopes: Sequence[bytes]) -> bytes:
    tree = merkle.MemoryHashStore()
    tree.append([merkle.leaf_hash(e) for e in envelopes])
    return merkle.root_hash(len(envelopes), tree) if envelopes else merkle.EMPTY_ROOT


def forge_checkpoint(origin: str, size: int, root: bytes, key: SigningKey) -> str:
    """A checkpoint note for ``origin`` signed with ``key`` under the origin's key name."""
    return format_note(
        sign_checkpoint(Checkpoint(origin, size, root), Ed25519NoteSigner(origin, key))
    )


def signed_entry(entry: entries_pb2.Entry, key: SigningKey) -> bytes:
    return sign_envelope(entry.SerializeToString(), key)


def key_announcement(
    federation: str, region: str, key: SigningKey, chain_pem: str, issued_at: str
) -> entries_pb2.Entry:
    """Entry 0 of a log: announces ``key`` with a certificate chain (true or not)."""
    return entries_pb2.Entry(
        federation=federation,
        region=region,
        issued_at=issued_at,
        key_announcement=entries_pb2.KeyAnnouncement(
            public_key=bytes(key.verify_key),
            certificate_chain_pem=[chain_pem],
            effective_from=issued_at[:10],
        ),
    )


def flip_payload_byte(envelope: bytes, at: int = -1) -> bytes:
    """The same DSSE envelope (same signature) with one payload byte flipped."""
    doc = json.loads(envelope)
    payload = bytearray(base64.b64decode(doc["payload"]))
    payload[at] ^= 0x01
    doc["payload"] = base64.b64encode(bytes(payload)).decode("ascii")
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode("ascii")
