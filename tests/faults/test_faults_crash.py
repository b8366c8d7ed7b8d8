"""Crashes: kill -9 a node at random points of a large sync and of a bulk import.

After every kill the node's SQLite file is checked from the outside
(``logcheck.verify_database``: integrity check, every root re-derived from the
stored envelopes and compared with the issuer-signed checkpoint, sizes, subtree
table, projections, search index), then the node is restarted. Nothing that was
committed may be lost, nothing may be half written, and the work resumes from
the last commit.

Kill points are drawn from a seeded random stream. In the sync case a point is
a fraction ``f`` of the bytes the receiver still has to download (measured by
the TCP proxy the receiver pulls through): ``f <= 1`` kills mid-stream, while
verified batches are being staged past the log's size, ``f > 1`` kills around
the commit or just after. The source keeps growing, so every round has a large
range to sync. Staged rows a kill leaves behind are invisible; the next round
resumes from them, and the final check finds none.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time

import grpc
import pytest
from harness import Federation, wait_until
from logcheck import connect_ro, root_at, verify_database
from proxy import TcpProxy

from bench.common import synthetic_records
from exchange._proto.brandex.v1 import services_pb2, services_pb2_grpc
from exchange.node.identity import load_anchors

pytestmark = pytest.mark.e2e

ZJ = "yrd/330000"

SYNC_SCALES = {
    # initial entries, kills, grow the source by this much when fewer are pending
    "quick": (4_000, 3, 2_000),
    "full": (30_000, 20, 15_000),
}
IMPORT_SCALES = {
    # records available at first, kills, records per IssueBatch chunk
    "quick": (6_000, 3, 1_000),
    "full": (40_000, 20, 2_000),
}


def _issue(fed: Federation, name: str, offset: int, n: int) -> None:
    fed.issue_records(name, synthetic_records(n, issuer=name, offset=offset), chunk=10_000)


def _envelope_bytes(fed: Federation, name: str, origin: str, start: int) -> tuple[int, int]:
    """(size, bytes of the envelopes from ``start``) in ``name``'s database."""
    conn = connect_ro(fed.database(name))
    try:
        size = conn.execute("SELECT size FROM origins WHERE origin = ?", (origin,)).fetchone()[0]
        n = conn.execute(
            "SELECT coalesce(sum(length(envelope)), 0) FROM entries WHERE origin = ? AND idx >= ?",
            (origin, start),
        ).fetchone()[0]
        return size, n
    finally:
        conn.close()


def _indexed(fed: Federation, name: str, origin: str) -> int:
    conn = connect_ro(fed.database(name))
    try:
        row = conn.execute("SELECT indexed FROM origins WHERE origin = ?", (origin,)).fetchone()
        return row[0] if row else 0
    finally:
        conn.close()


def _sigkill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _calibrate(fed: Federation, name: str) -> float:
    """Entries per second of an uninterrupted cold sync of yrd/330000 to ``name``,
    timed from the first byte received to the signed head being served."""
    link = TcpProxy(fed.address("zhejiang"), name=f"{name}->zhejiang").start()
    fed.add_peer(name, link.address, "330000")
    first: list[float] = []
    link.trip_at(1, lambda: first.append(time.monotonic()))
    try:
        fed.start(name, wait=False)
        target = fed.heads("zhejiang")[ZJ]
        wait_until(lambda: fed.heads(name).get(ZJ) == target, what="calibration sync")
        seconds = time.monotonic() - first[0]
    finally:
        fed.stop(name)
        link.stop()
    return target[0] / seconds


@pytest.mark.parametrize(
    "scale", ["quick", pytest.param("full", marks=pytest.mark.slow)], ids=["quick", "full"]
)
def test_kill_receiver_during_large_sync(federation, fault_certs, fault_report, rng, scale):
    initial, kills, grow = SYNC_SCALES[scale]
    fed = federation(
        {"zhejiang": "330000", "anhui": "340000", "henan": "410000"}, sync_interval=1.0
    )
    link = TcpProxy(fed.address("zhejiang"), name="anhui->zhejiang").start()
    fed.add_peer("anhui", link.address, "330000")
    _, anchors = load_anchors([fault_certs / "anchor.pem"])
    try:
        t0 = time.monotonic()
        fed.start("zhejiang")
        _issue(fed, "zhejiang", 0, initial)
        issued = initial
        rate = _calibrate(fed, "henan")  # a throwaway receiver: how long a sync takes
        committed = 0  # the receiver's verified size of yrd/330000 after the last kill
        lost = 0
        log = [f"calibration: {rate:.0f} entries/s [{time.monotonic() - t0:.1f}s]"]
        phases = {
            "while streaming, nothing staged yet": 0,
            "with verified batches staged": 0,
            "after the commit": 0,
        }
        # Stratified: one point in each of `kills` equal slices of [0.02, 1.3] x the
        # calibrated sync time, in random order (the last slices fall after the commit).
        points = [0.02 + (i + rng.random()) * 1.28 / kills for i in range(kills)]
        rng.shuffle(points)
        for k, f in enumerate(points):
            src_size, _ = _envelope_bytes(fed, "zhejiang", ZJ, committed)
            if src_size - committed < grow * 2 // 3:
                _issue(fed, "zhejiang", issued, grow)
                issued += grow
                src_size, _ = _envelope_bytes(fed, "zhejiang", ZJ, committed)
            at = f * (src_size - committed) / rate
            link.reset_counters()
            proc = fed.start("anhui", wait=False)

            def armed(pid: int = proc.pid, at: float = at) -> None:
                threading.Timer(at, _sigkill, (pid,)).start()

            link.trip_at(1, armed)  # time counts from the first byte of the stream
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                _sigkill(proc.pid)  # no byte ever came: kill now
            link.trip_at(0, None)
            fed.stop("anhui")
            assert proc.returncode == -signal.SIGKILL, proc.returncode
            state = verify_database(fed.database("anhui"))
            size = state[ZJ].size if ZJ in state else 0
            lost += max(0, committed - size)
            assert size >= committed, f"kill {k}: {committed - size} committed entries lost"
            assert size in (committed, src_size), f"kill {k}: partial sync to {size}"
            if size:
                src = connect_ro(fed.database("zhejiang"))
                try:
                    assert root_at(src, ZJ, size) == state[ZJ].root, "not a prefix of the source"
                finally:
                    src.close()
            staged = state[ZJ].staged if ZJ in state else 0
            if size > committed:
                phase = "after the commit"
            elif staged:
                phase = "with verified batches staged"
            else:
                phase = "while streaming, nothing staged yet"
            phases[phase] += 1
            log.append(
                f"kill {k:2d} at {at:5.2f}s (f={f:.2f}) {phase}: {committed} -> {size}"
                f" of {src_size} ({staged} staged), {link.bytes_down / 1e6:.1f} MB had come down"
                f" [{time.monotonic() - t0:.1f}s]"
            )
            committed = size
        # Restarted for good: the sync completes from where the last commit left it.
        _, remaining = _envelope_bytes(fed, "zhejiang", ZJ, committed)
        link.reset_counters()
        fed.start("anhui")
        target = fed.heads("zhejiang")[ZJ]
        wait_until(lambda: fed.heads("anhui").get(ZJ) == target, what="the final sync")
        total = target[0]
        if committed:
            # Only the missing range travelled (plus TLS, listings, watch pushes).
            assert link.bytes_down < remaining * 1.2 + 2_000_000, (link.bytes_down, remaining)
        log.append(f"restarted: synced to {target[0]} [{time.monotonic() - t0:.1f}s]")
        wait_until(lambda: _indexed(fed, "anhui", ZJ) == total, what="the registry index")
        fed.stop_all()
        final = verify_database(fed.database("anhui"), anchors=anchors)
        assert (final[ZJ].size, final[ZJ].root) == target
        assert (final[ZJ].staged, final[ZJ].indexed) == (0, total)
        verify_database(fed.database("zhejiang"), anchors=anchors)
    finally:
        link.stop()
    print("\n[crash/sync]\n  " + "\n  ".join(log))
    fault_report(
        f"kill -9 receiver during sync ({scale})",
        kills,
        lost,
        f"{total} entries; kills " + ", ".join(f"{n} {p}" for p, n in phases.items()),
    )
    assert lost == 0


@pytest.mark.parametrize(
    "scale", ["quick", pytest.param("full", marks=pytest.mark.slow)], ids=["quick", "full"]
)
def test_kill_node_during_bulk_import(federation, fault_certs, fault_report, rng, scale):
    total, kills, chunk = IMPORT_SCALES[scale]
    fed = federation({"zhejiang": "330000"})
    _, anchors = load_anchors([fault_certs / "anchor.pem"])
    chunks: list[list] = []
    acked: list[bool] = []

    def add_records(n: int) -> None:
        recs = synthetic_records(n, issuer="zhejiang", offset=len(chunks) * chunk)
        for i in range(0, n, chunk):
            chunks.append(recs[i : i + chunk])
            acked.append(False)

    results: list[tuple[int, int, int]] = []  # (chunk, added, duplicates)

    def importer() -> None:
        """`brandex import` in short: one IssueBatch per chunk, in order, until refused."""
        with fed.channel("zhejiang") as ch:
            stub = services_pb2_grpc.AdminServiceStub(ch)
            for j in range(acked.index(False) if False in acked else len(acked), len(chunks)):
                try:
                    resp = stub.IssueBatch(
                        services_pb2.IssueBatchRequest(records=chunks[j]), timeout=120
                    )
                except grpc.RpcError:
                    return
                results.append((j, resp.added, resp.duplicates))
                acked[j] = True

    def present() -> set[str]:
        conn = connect_ro(fed.database("zhejiang"))
        try:
            return {r[0] for r in conn.execute("SELECT certificate_no FROM records")}
        finally:
            conn.close()

    add_records(total)
    lost = 0
    unacked_commits = 0
    log: list[str] = []
    fed.start("zhejiang")
    for k in range(kills):
        if all(acked):
            add_records(total // 2)
        worker = threading.Thread(target=importer)
        proc = fed.procs["zhejiang"]
        delay = rng.uniform(0.05, 0.8)
        worker.start()
        time.sleep(delay)  # the kill point (not a wait for a condition)
        _sigkill(proc.pid)
        fed.stop("zhejiang")
        worker.join(timeout=120)
        assert not worker.is_alive()
        state = verify_database(fed.database("zhejiang"))
        have = present()
        for j, part in enumerate(chunks):
            n = sum(r.certificate_no in have for r in part)
            assert n in (0, len(part)), f"kill {k}: chunk {j} is half written ({n}/{len(part)})"
            if acked[j]:
                lost += len(part) - n
            elif n:
                unacked_commits += 1
                acked[j] = True  # committed before the reply was lost; resent below anyway
        assert state["yrd/330000"].size == 1 + len(have), "log and records disagree"
        log.append(f"kill {k:2d} after {delay:.2f}s: {len(have)} records, size {len(have) + 1}")
        fed.start("zhejiang")
    # Resume: send every chunk again; whatever is in must come back as duplicates.
    acked[:] = [False] * len(chunks)
    results.clear()
    importer()
    assert all(acked), "the resumed import did not finish"
    expected = sum(len(c) for c in chunks)
    for j, added, dup in results:
        assert added + dup == len(chunks[j]) and added in (0, len(chunks[j])), (j, added, dup)
    fed.stop_all()
    state = verify_database(fed.database("zhejiang"), anchors=anchors)
    have = present()
    assert len(have) == expected and state["yrd/330000"].size == expected + 1
    conn = connect_ro(fed.database("zhejiang"))
    try:
        assert conn.execute("SELECT count(*) FROM records").fetchone()[0] == expected
    finally:
        conn.close()
    print("\n[crash/import]\n  " + "\n  ".join(log))
    fault_report(
        f"kill -9 node during bulk import ({scale})",
        kills,
        lost,
        f"{expected} records in chunks of {chunk}; {unacked_commits} chunks committed"
        " whose reply was lost (re-sent: all duplicates)",
    )
    assert lost == 0
