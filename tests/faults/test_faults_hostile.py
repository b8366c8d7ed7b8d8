"""Hostile peers: a victim node keeps only what verifies and keeps syncing from honest peers.

The victim (Anhui) pulls from one honest peer (Jiangsu) and three hostile ones:

* ``evil``: ``tests/e2e/hostile.py``'s scripted LogService behind mTLS with a
  genuine member certificate (Shanghai's), serving forged or tampered logs of
  Zhejiang's origin, which the victim can get from nobody else;
* ``junk``: a real gRPC server (Henan's certificate) whose answers are garbage
  bytes where protobuf messages belong;
* ``noise``: a TCP port that answers the TLS handshake with random bytes.

For every attack the test waits until the victim has seen it and refused it,
then issues an entry on the honest peer and waits for it to arrive while the
attack is still being served. At the end, everything the victim serves is
fetched from it and verified like an auditor would, and its database is checked.
"""

from __future__ import annotations

import base64
import json
import random
from concurrent import futures
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from harness import Federation, wait_until
from hostile import (
    HostilePeer,
    ScriptedLog,
    flip_payload_byte,
    forge_checkpoint,
    root_of,
    signed_entry,
    signing_key,
)
from logcheck import verify_database
from nacl.signing import VerifyKey
from nodeconfig import set_sync_option
from proxy import TcpProxy

from exchange._proto.brandex.v1 import entries_pb2, services_pb2
from exchange.core.checkpoint import open_checkpoint
from exchange.core.note import Ed25519NoteVerifier
from exchange.node.identity import load_anchors
from exchange.node.verify import verify_log
from exchange.pki import member_paths

pytestmark = pytest.mark.e2e

ZJ = "yrd/330000"
JS = "yrd/320000"


class JunkPeer:
    """A LogService whose replies are not protobuf at all (but arrive over real mTLS).

    ListOrigins alternates between garbage and a valid listing (so the victim goes
    on to GetEntries, which streams garbage); WatchCheckpoints sends garbage.
    """

    def __init__(self, certs: Path, member: str, seed: int) -> None:
        self._rng = random.Random(seed)
        self.calls: dict[str, int] = {}
        self.listing = b""  # a valid ListOriginsResponse, once the test sets one
        paths = member_paths(certs, member)
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        raw = {"request_deserializer": None, "response_serializer": None}
        handlers = {
            "ListOrigins": grpc.unary_unary_rpc_method_handler(self._list, **raw),
            "GetEntries": grpc.unary_stream_rpc_method_handler(self._entries, **raw),
            "WatchCheckpoints": grpc.unary_stream_rpc_method_handler(self._watch, **raw),
        }
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("brandex.v1.LogService", handlers),)
        )
        creds = grpc.ssl_server_credentials(
            [(paths.node_key.read_bytes(), paths.node_cert.read_bytes())],
            root_certificates=paths.anchor.read_bytes(),
            require_client_auth=True,
        )
        self.port = self._server.add_secure_port("127.0.0.1:0", creds)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def garbage(self, n: int = 2048) -> bytes:
        # Field number 0 with wire type 7 cannot start any protobuf message.
        return b"\x07" + bytes(self._rng.getrandbits(8) for _ in range(n))

    def _count(self, what: str) -> int:
        self.calls[what] = self.calls.get(what, 0) + 1
        return self.calls[what]

    def _list(self, request: bytes, context) -> bytes:
        n = self._count("ListOrigins")
        return self.listing if self.listing and n % 2 == 0 else self.garbage()

    def _entries(self, request: bytes, context):
        self._count("GetEntries")
        for _ in range(3):
            yield self.garbage()

    def _watch(self, request: bytes, context):
        self._count("WatchCheckpoints")
        yield self.garbage(64)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _peer_error(fed: Federation, name: str, address: str) -> str:
    return next(p.last_error for p in fed.status(name).peers if p.address == address)


def _audit(fed: Federation, name: str, anchors) -> dict[str, tuple[int, bytes]]:
    """Fetch every origin a node serves and verify it from scratch (signatures,
    key announcements against the anchors, tree root against the signed head)."""
    stub = fed.log_stub(name)
    out = {}
    for o in stub.ListOrigins(services_pb2.ListOriginsRequest(), timeout=10).origins:
        envs: list[bytes] = []
        for batch in stub.GetEntries(
            services_pb2.GetEntriesRequest(origin=o.origin, start=0, end=o.size), timeout=60
        ):
            envs.extend(batch.envelopes)
        assert len(envs) == o.size, o.origin
        history = verify_log(o.origin, envs, anchors, datetime.now(UTC))
        life = history.checkpoint_signer(o.size)
        assert life is not None, o.origin
        cp = open_checkpoint(
            o.checkpoint, Ed25519NoteVerifier(o.origin, VerifyKey(life.public_key))
        ).checkpoint
        assert cp is not None and cp.size == o.size, o.origin
        assert cp.root_hash == root_of(envs), f"{o.origin}: served entries differ from its head"
        out[o.origin] = (cp.size, cp.root_hash)
    return out


def test_hostile_peers_are_refused_and_honest_sync_goes_on(
    federation, fault_certs, fault_report, rng
):
    fed = federation({"zhejiang": "330000", "jiangsu": "320000", "anhui": "340000"})
    _, anchors = load_anchors([fault_certs / "anchor.pem"])
    evil = HostilePeer(fault_certs, "shanghai").start()
    junk = JunkPeer(fault_certs, "henan", seed=rng.randrange(1 << 30))
    noise = TcpProxy("127.0.0.1:9", name="noise", seed=rng.randrange(1 << 30))
    noise.set_mode("garbage")
    noise.start()
    junk._server.start()
    for address, region in [
        (fed.address("jiangsu"), "320000"),
        (evil.address, "310000"),
        (junk.address, "410000"),
        (noise.address, "410000"),
    ]:
        fed.add_peer("anhui", address, region)
    set_sync_option(fed, "anhui", "interval", "0.5")
    set_sync_option(fed, "anhui", "timeout", "5.0")
    rows: list[tuple[str, int, int, str]] = []
    try:
        fed.start_all()
        fed.issue("zhejiang", 10)
        envs11, cp11 = fed.served_log("zhejiang")
        fed.issue("zhejiang", 20)
        envs31, cp31 = fed.served_log("zhejiang")
        assert envs31[:11] == envs11
        zj_key = signing_key(fault_certs, "zhejiang")
        ah_key = signing_key(fault_certs, "anhui")
        sh_key = signing_key(fault_certs, "shanghai")
        rec = fed.records("zhejiang", 1)[0]

        def entry(region: str) -> entries_pb2.Entry:
            return entries_pb2.Entry(
                federation="yrd", region=region, issued_at=_now(), recognition=rec
            )

        def heads() -> dict[str, tuple[int, bytes]]:
            return fed.heads("anhui")

        def honest_entry_arrives() -> None:
            size = fed.issue("jiangsu", 1)
            wait_until(lambda: fed.sizes("anhui").get(JS) == size, what="the honest entry")

        # A hostile peer may also relay genuine data: the victim takes 11 entries from it.
        evil.serve(ZJ, ScriptedLog(cp11, envs11))
        wait_until(lambda: fed.sizes("anhui").get(ZJ) == 11, what="the genuine prefix")
        wait_until(lambda: fed.sizes("anhui").get(JS) == 1, what="jiangsu's log")

        def attack(label, script, expect, *, origin=ZJ, on=evil, fetched=True):
            before = heads()
            fetches = evil.count("GetEntries", origin)
            lists = evil.count("ListOrigins")
            if script is not None:
                evil.serve(origin, script)
            # Two listings after the script changed: one whole round saw it.
            wait_until(
                lambda: (
                    (script is None or evil.count("ListOrigins") >= lists + 2)
                    and expect in _peer_error(fed, "anhui", on.address)
                ),
                what=f"the victim to refuse: {label}",
            )
            honest_entry_arrives()  # while the attack is still being served
            after = heads()
            lost = sum(max(0, before[o][0] - after.get(o, (0, b""))[0]) for o in before)
            assert lost == 0, label
            assert after[ZJ] == before[ZJ], f"{label}: the victim moved {ZJ}"
            if script is not None and script.envelopes:
                # It fetched, then refused (or, for an absurd size, refused without fetching).
                assert (evil.count("GetEntries", origin) > fetches) == fetched, label
            seen = _peer_error(fed, "anhui", on.address).replace(on.address, "peer")
            rows.append((label, 1, lost, f"refused: {seen[:80]}"))

        n = 31
        flipped = [*envs31[:20], flip_payload_byte(envs31[20]), *envs31[21:]]
        attack("(a) flipped payload byte", ScriptedLog(cp31, flipped), f"{ZJ} entry 20: signature")
        by_anhui = [*envs31, signed_entry(entry("330000"), ah_key)]
        attack(
            "(b) entry signed by another region's key",
            ScriptedLog(forge_checkpoint(ZJ, n + 1, root_of(by_anhui), ah_key), by_anhui),
            f"{ZJ} entry {n}: signed by key ",
        )
        attack(
            "(d) truncated stream",
            ScriptedLog(cp31, envs31[:25]),
            "sent fewer entries than its checkpoint holds",
        )
        big = [*envs31[:11], b"x" * (17 << 20), *envs31[12:]]
        attack("(e) oversized message (17 MiB)", ScriptedLog(cp31, big), "RESOURCE_EXHAUSTED")
        wide = [*envs31[:11], b"{" + b" " * (300 << 10) + b"}", *envs31[12:]]
        attack(
            "(e) oversized envelope (300 KiB)",
            ScriptedLog(cp31, wide),
            f"{ZJ} entry 11: envelope is 307202 bytes; the limit is 262144",
        )
        attack(
            "(e) tree size beyond the fetch limit",
            ScriptedLog(forge_checkpoint(ZJ, 1 << 40, bytes(32), sh_key), envs31),
            "exceed the fetch limit",
            fetched=False,
        )
        noisy = [*envs31[:11], *(junk.garbage(200) for _ in range(20))]
        attack(
            "(f) garbage envelopes",
            ScriptedLog(cp31, noisy),
            f"{ZJ} entry 11: envelope is not JSON",
        )
        attack(
            "(f) garbage checkpoint",
            ScriptedLog("yrd/330000\n\x00\xff" + junk.garbage(40).hex() + "\n"),
            f"{ZJ}: note: control character",
        )
        junk.listing = services_pb2.ListOriginsResponse(
            origins=[services_pb2.OriginState(origin=ZJ, size=n, checkpoint=cp31)]
        ).SerializeToString()
        wait_until(lambda: junk.calls.get("GetEntries", 0) >= 1, what="junk GetEntries")
        attack("(f) garbage protobuf messages", None, "INTERNAL", on=junk)
        attack("(f) garbage bytes instead of TLS", None, "UNAVAILABLE", on=noise)

        # (d) A stalled stream for an origin an honest peer serves too, claiming a huge
        # range so that its deadline is far away: honest sync of that origin goes on.
        envs_js, _ = fed.served_log("jiangsu")
        evil.stall_after = 0
        fake = forge_checkpoint(JS, 1_000_000, bytes(32), sh_key)
        evil.serve(JS, ScriptedLog(fake, [*envs_js, *[b"{}"] * 5]))
        wait_until(lambda: evil.count("GetEntries-stalled", JS), what="a stalled stream")
        before = heads()
        honest_entry_arrives()
        assert evil.count("GetEntries-done", JS) == 0, "the stall ended too early"
        after = heads()
        rows.append(("(d) stalled stream (claims 10^6 entries)", 1, 0, "honest entries arrived"))
        assert after[ZJ] == before[ZJ]
        evil.serve(JS, None)
        evil.release()
        evil.stall_after = None

        # Genuine data again from the same peer, then (g): a lower tree size than before.
        evil.serve(ZJ, ScriptedLog(cp31, envs31))
        wait_until(lambda: fed.sizes("anhui").get(ZJ) == n, what="the genuine 31 entries")
        genuine = heads()[ZJ]
        lists = evil.count("ListOrigins")
        evil.serve(ZJ, ScriptedLog(cp11, envs11, size=3))
        wait_until(lambda: evil.count("ListOrigins") >= lists + 2, what="two polls")
        honest_entry_arrives()
        assert heads()[ZJ] == genuine
        st = fed.status("anhui")
        assert not st.evidence and not any(o.frozen for o in st.origins)
        rows.append(("(g) lower tree size than before (genuine old head)", 1, 0, "kept 31"))

        # (c) A fork, validly signed by the issuer's own key: a log of 33 entries that
        # shares only the first 29 with what the victim holds.
        forged = [signed_entry(entry("330000"), zj_key) for _ in range(4)]
        for i, env in enumerate(forged):  # distinct envelopes (distinct records)
            doc = json.loads(env)
            e = entries_pb2.Entry.FromString(base64.b64decode(doc["payload"]))
            e.recognition.record_id = f"fork-{i}"
            e.recognition.certificate_no = f"FORK-{i}"
            forged[i] = signed_entry(e, zj_key)
        fork = [*envs31[:29], *forged]
        fork_cp = forge_checkpoint(ZJ, len(fork), root_of(fork), zj_key)
        evil.serve(ZJ, ScriptedLog(fork_cp, fork))
        ev = wait_until(
            lambda: [e for e in fed.status("anhui").evidence if e.origin == ZJ],
            what="fork evidence",
        )[0]
        assert ev.note_b == fork_cp and ev.source == evil.address
        assert next(o for o in fed.status("anhui").origins if o.origin == ZJ).frozen
        honest_entry_arrives()
        assert heads()[ZJ] == genuine
        rows.append(("(c) forked checkpoint signed by the issuer", 1, 0, "evidence stored, frozen"))

        # Everything the victim serves verifies, and is exactly the issuers' logs.
        assert fed.procs["anhui"].poll() is None, "the victim died"
        served = _audit(fed, "anhui", anchors)
        assert served[ZJ] == genuine == fed.heads("zhejiang")[ZJ]
        assert served[JS] == fed.heads("jiangsu")[JS]
        victim_envs = []
        for batch in fed.log_stub("anhui").GetEntries(
            services_pb2.GetEntriesRequest(origin=ZJ, start=0, end=n), timeout=30
        ):
            victim_envs.extend(batch.envelopes)
        assert victim_envs == envs31
        fed.stop_all()
        state = verify_database(fed.database("anhui"), anchors=anchors)
        assert state[ZJ].frozen and state[ZJ].size == n
    finally:
        evil.stop()
        junk._server.stop(0)
        noise.stop()
    for label, faults, lost, note in rows:
        fault_report(f"hostile peer: {label}", faults, lost, note)
