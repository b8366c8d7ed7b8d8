"""Hostile peers against real nodes: equivocation, tampered bytes, wrong-region signers.

The hostile peer (``hostile.py``) is a real mTLS gRPC server presenting a genuine
member certificate (Shanghai's, which runs no node in these tests), so the victim
talks to it exactly as to an honest node. The forgeries use the members' real
certified signing keys: the point is that holding *a* valid key is not enough.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
from harness import Federation, wait_until
from hostile import (
    HostilePeer,
    ScriptedLog,
    flip_payload_byte,
    forge_checkpoint,
    key_announcement,
    root_of,
    signed_entry,
    signing_key,
)

from exchange._proto.brandex.v1 import entries_pb2, services_pb2
from exchange.core.checkpoint import parse_checkpoint_body
from exchange.core.note import parse_note
from exchange.pki import member_paths

pytestmark = pytest.mark.e2e

INTERVAL = 30.0
ZJ = "yrd/330000"


def _db_count(fed: Federation, name: str, table: str, origin: str, extra: str = "") -> int:
    """Read the victim's SQLite file directly (read-only; WAL allows it while it runs)."""
    conn = sqlite3.connect(f"file:{fed.database(name)}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(
            f"SELECT count(*) FROM {table} WHERE origin = ? {extra}", (origin,)
        ).fetchone()[0]
    finally:
        conn.close()


def _peer(fed: Federation, name: str, address: str) -> services_pb2.PeerStatus:
    return next(p for p in fed.status(name).peers if p.address == address)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def test_equivocation_is_detected_stored_and_freezes_the_origin(
    federation_factory, shared_certs
) -> None:
    fed = federation_factory(
        {"zhejiang": "330000", "anhui": "340000", "henan": "410000"},
        {"zhejiang": ["henan"], "anhui": ["zhejiang"]},
        sync_interval=INTERVAL,
    )
    with HostilePeer(shared_certs, "shanghai") as evil:
        fed.add_peer("anhui", evil.address, "310000")
        fed.start_all()
        size = fed.issue("zhejiang", 30)
        wait_until(lambda: fed.sizes("anhui").get(ZJ) == size, what="anhui to mirror zhejiang")
        genuine = fed.heads("anhui")[ZJ]

        # Zhejiang's own key signs a second tree head of the same size: a split view.
        forged = forge_checkpoint(
            ZJ, size, bytes(b ^ 0xFF for b in genuine[1]), signing_key(shared_certs, "zhejiang")
        )
        t0 = time.monotonic()
        evil.serve(ZJ, ScriptedLog(forged))

        def evidence():
            return [e for e in fed.status("anhui").evidence if e.origin == ZJ]

        found = wait_until(evidence, what="anhui to store equivocation evidence")
        detected = time.monotonic() - t0
        ev = found[0]
        assert ev.note_b == forged and ev.source == evil.address
        ours = parse_checkpoint_body(parse_note(ev.note_a).text)
        assert (ours.size, ours.root_hash) == genuine
        origin = next(o for o in fed.status("anhui").origins if o.origin == ZJ)
        assert origin.frozen and origin.frozen_reason
        listed = fed.log_stub("anhui").ListOrigins(services_pb2.ListOriginsRequest(), timeout=10)
        assert next(o for o in listed.origins if o.origin == ZJ).equivocating

        # The honest issuer goes on; anhui must not follow it on this origin any more.
        grown = fed.issue("zhejiang", 20)
        # Henan's new entry reaches anhui only through zhejiang, listed after yrd/330000:
        # once it is there, anhui has processed a zhejiang head of the grown size.
        fed.issue("henan", 5)
        wait_until(lambda: fed.sizes("anhui").get("yrd/410000") == 6, what="henan via zhejiang")
        assert fed.sizes("zhejiang")[ZJ] == grown == size + 20
        assert fed.heads("anhui")[ZJ] == genuine
        # Other origins are unaffected.
        assert not next(o for o in fed.status("anhui").origins if o.origin == "yrd/410000").frozen

        # The operator sees it: `brandex node status` says so and exits 1; so does the log.
        proc = subprocess.run(
            [sys.executable, "-m", "exchange.cli.main", "node", "status"],
            env=dict(os.environ, BRANDEX_CONFIG=str(fed.configs["anhui"])),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "EQUIVOCATION" in proc.stdout and ZJ in proc.stdout
        assert "EQUIVOCATION" in fed.log_text("anhui")
        print(
            f"\n[equivocation] forged same-size checkpoint detected and {ZJ} frozen on anhui"
            f" {detected:.2f}s after the hostile peer served it"
        )


def test_tampered_and_wrong_region_logs_are_rejected(federation_factory, shared_certs) -> None:
    fed = federation_factory(
        {"zhejiang": "330000", "jiangsu": "320000", "anhui": "340000"},
        {"anhui": ["jiangsu"]},
        sync_interval=INTERVAL,
    )
    with HostilePeer(shared_certs, "shanghai") as evil:
        fed.add_peer("anhui", evil.address, "310000")
        fed.start_all()
        fed.issue("zhejiang", 40)
        fed.issue("jiangsu", 10)
        envs, checkpoint = fed.served_log("zhejiang")
        n = len(envs)
        zj_key = signing_key(shared_certs, "zhejiang")
        ah_key = signing_key(shared_certs, "anhui")
        ah_cert = member_paths(shared_certs, "anhui").signing_cert.read_text()
        rec = fed.records("zhejiang", 1)[0]

        def entry(region: str) -> entries_pb2.Entry:
            return entries_pb2.Entry(
                federation="yrd", region=region, issued_at=_now(), recognition=rec
            )

        # Anhui's certified key signs an entry for yrd/330000 (appended to the real log).
        by_anhui = [*envs, signed_entry(entry("330000"), ah_key)]
        # A whole yrd/330000 log whose key announcement certifies anhui's key.
        anhui_log = [
            signed_entry(key_announcement("yrd", "330000", ah_key, ah_cert, _now()), ah_key),
            signed_entry(entry("330000"), ah_key),
        ]
        # Zhejiang's key, but the payload names Anhui's region.
        other_region = [*envs, signed_entry(entry("340000"), zj_key)]
        attacks = [
            (
                "flipped payload byte",
                ScriptedLog(checkpoint, [*envs[:7], flip_payload_byte(envs[7]), *envs[8:]]),
                f"{ZJ} entry 7: signature by key",
            ),
            (
                "key announced with another region's certificate",
                ScriptedLog(forge_checkpoint(ZJ, 2, root_of(anhui_log), ah_key), anhui_log),
                "is for region 340000, not 330000",
            ),
            (
                "payload names another region",
                ScriptedLog(
                    forge_checkpoint(ZJ, n + 1, root_of(other_region), zj_key), other_region
                ),
                f"{ZJ} entry {n}: payload names yrd/340000",
            ),
            (
                "genuine entries, checkpoint signed by another member",
                ScriptedLog(forge_checkpoint(ZJ, n, root_of(envs), ah_key), envs),
                "no signature from a known key",
            ),
            (
                "entry signed by another region's certified key",
                ScriptedLog(forge_checkpoint(ZJ, n + 1, root_of(by_anhui), ah_key), by_anhui),
                f"{ZJ} entry {n}: signed by key ",
            ),
        ]
        wait_until(lambda: fed.sizes("anhui").get("yrd/320000") == 11, what="honest jiangsu")
        for label, script, expect in attacks:
            before = evil.count("GetEntries", ZJ)
            evil.serve(ZJ, script)
            wait_until(
                lambda e=expect: e in _peer(fed, "anhui", evil.address).last_error,
                what=f"anhui to reject: {label}",
            )
            assert evil.count("GetEntries", ZJ) > before, label  # it did fetch, then refused
            assert ZJ not in fed.sizes("anhui"), label
        # Nothing of yrd/330000 reached the store, nothing was mistaken for equivocation,
        # and the honest peer was served all along.
        for table in ("entries", "checkpoints", "keys", "nodes", "records", "evidence"):
            assert _db_count(fed, "anhui", table, ZJ) == 0, table
        st = fed.status("anhui")
        assert not st.evidence and not any(o.frozen for o in st.origins)
        assert fed.heads("anhui")["yrd/320000"] == fed.heads("jiangsu")["yrd/320000"]
        assert "rejected" in fed.log_text("anhui")

        # With an honest source of yrd/330000 too, anhui takes it from there, while the
        # hostile peer keeps offering its anhui-signed extension.
        fed.stop("anhui")
        fed.add_peer("anhui", fed.address("zhejiang"), "330000")
        fed.start("anhui")
        wait_until(
            lambda: fed.heads("anhui").get(ZJ) == fed.heads("zhejiang")[ZJ],
            what="anhui to take yrd/330000 from zhejiang",
        )
        wait_until(
            lambda: f"{ZJ} entry {n}" in _peer(fed, "anhui", evil.address).last_error,
            what="the hostile extension to be refused again",
        )
        assert fed.sizes("anhui")[ZJ] == n
        sources = f"AND source = '{evil.address}'"
        assert _db_count(fed, "anhui", "checkpoints", ZJ, sources) == 0
        assert _db_count(fed, "anhui", "checkpoints", ZJ) >= 1
        assert not fed.status("anhui").evidence
        print(f"\n[hostile] {len(attacks)} forged/tampered logs refused; honest sync unaffected")


def test_a_stalling_peer_does_not_hold_up_the_others(federation_factory, shared_certs) -> None:
    """A peer that opens a GetEntries stream and then goes quiet (well within the 30 s
    sync timeout) must not delay what honest peers send, nor the node's own issuing."""
    fed = federation_factory(
        {"zhejiang": "330000", "jiangsu": "320000", "anhui": "340000"},
        {"anhui": ["zhejiang"]},
        sync_interval=INTERVAL,
    )
    with HostilePeer(shared_certs, "shanghai") as slow:
        slow.batch_size, slow.stall_after = 10, 2
        fed.add_peer("anhui", slow.address, "310000")
        fed.start_all()
        fed.issue("jiangsu", 59)
        envs, checkpoint = fed.served_log("jiangsu")
        wait_until(lambda: fed.sizes("anhui").get(ZJ) == 1, what="anhui to mirror zhejiang")
        slow.serve("yrd/320000", ScriptedLog(checkpoint, envs))
        wait_until(lambda: slow.count("GetEntries-stalled", "yrd/320000"), what="a stalled fetch")

        t0 = time.monotonic()
        size = fed.issue("zhejiang", 5)
        wait_until(lambda: fed.sizes("anhui").get(ZJ) == size, what="honest sync during stall")
        honest = time.monotonic() - t0
        t1 = time.monotonic()
        own = fed.issue("anhui", 3)
        issuing = time.monotonic() - t1
        still_stalled = "yrd/320000" not in fed.sizes("anhui")
        slow.release()
        wait_until(
            lambda: fed.heads("anhui").get("yrd/320000") == fed.heads("jiangsu")["yrd/320000"],
            what="the slow peer's genuine log once it flows",
        )
        print(
            f"\n[stall] while a peer stalled mid-stream: honest entries arrived in {honest:.2f}s,"
            f" the node's own issue took {issuing:.2f}s"
        )
        assert still_stalled, "the stall ended before the measurements"
        assert own == 4
        assert honest < 5.0 and issuing < 5.0
