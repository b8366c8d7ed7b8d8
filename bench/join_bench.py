"""Joining the nation: a fresh node mirrors 3,200 origins holding 10^6 entries, fully verified.

``python -m bench.join_bench --data DIR [--origins 3200] [--entries 1000000]
[--servers 2] [--profile] [--perf] [--parallel-origins N]`` (or ``python -m
bench join --data DIR``); ``--parallel-origins`` sets the joiner's ``[sync]
parallel_origins`` (origins synced at once per server; default 3).

The federation is generated once under DIR (``bench.join_data``: real keys,
certificates and signed logs, a skewed distribution of sizes) and reused by
every later run, so before/after figures compare the same data. Each run copies
the served database to a few real server nodes, starts them, then launches a
fresh node peering with all of them: the clock runs from its port accepting
connections until it holds every origin at full size, every signature, key
certificate, tree and checkpoint checked (the node's own sync pipeline, nothing
skipped).

Where the time goes, measured in the same run:

* CPU seconds of every process (the joiner, its verifying workers, the servers),
  so the wall time can be read against two cores;
* with ``--profile``, a py-spy sampling profile of the joiner and its workers,
  each sample put in one bucket (``PROFILE_BUCKETS``) of per-entry work
  (signature, decoding, leaf hash, storage) or per-origin work (checkpoint,
  cosignatures, proofs, transactions, RPC set-up);
* with ``--perf``, Linux ``perf`` samples of every CPU through the join, split
  by process (the joiner, its workers, the servers) and library, and the
  Ed25519 equation's parts (``bench.perf_split``): unlike py-spy, perf never
  counts a thread waiting for the GIL as busy;
* the raw limits of the machine at that moment: Ed25519 verifies per second on one
  core and on all cores, SQLite bulk inserts of entry-shaped rows per second,
  SHA-256 leaf hashes per second, and the load average.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing as mp
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from hashlib import sha256
from pathlib import Path

from bench import perf_split
from bench.common import Nodes, emit, raw_verify_rate, wait
from bench.join_data import build
from exchange._proto.brandex.v1 import services_pb2, services_pb2_grpc

_TICK = os.sysconf("SC_CLK_TCK")
#: ``--perf``: samples per second per CPU (a prime, so it does not beat with timers).
PERF_HZ = 199

#: Profile buckets: the first pattern found in a sample's stack (leaf first) names
#: its bucket; "entry" or "origin" says which kind of work it is.
PROFILE_BUCKETS: list[tuple[str, str, tuple[str, ...]]] = [
    ("signature verify (Ed25519)", "entry", ("verify_envelope",)),
    ("envelope parse (JSON, base64)", "entry", ("parse_envelope",)),
    ("leaf hash", "entry", ("leaf_hash",)),
    ("key and time rules", "entry", ("check_time", "KeyHistory.apply", "signer", "issued_at")),
    ("payload decode and checks", "entry", ("verify_batch", "_same_origin")),
    (
        "worker hand-off (pickle, queues)",
        "entry",
        (
            "_process_worker",
            "_sendback_result",
            "submit",
            "settle",
            "_ahead",
            "ahead",
        ),
    ),
    ("stage entries (insert rows, subtree hashes)", "entry", ("Tx.stage",)),
    (
        "index (registry projections, rules)",
        "entry",
        (
            "Tx.index",
            "apply_entries",
            "_checked",
            "Indexer._catch_up_ahead",
            "Store.backlog",
        ),
    ),
    ("tree root of staged entries", "origin", ("Tx.staged_root", "root_hash")),
    (
        "checkpoint and cosignature checks",
        "origin",
        (
            "Ingest._open",
            "Ingest._precheck",
            "Ledger._cosignatures",
            "Ingest._store_cosignatures",
            "open_checkpoint",
            "check_checkpoint_key",
            "Ingest._merge_cosignatures",
        ),
    ),
    (
        "transactions (begin, commit, key rows)",
        "origin",
        (
            "Tx.commit_staged",
            "Tx.accept_checkpoint",
            "Tx.save_keys",
            "Tx.begin_staging",
            "Tx.end_staging",
            "Store.end_staging",
            "Store.write",
        ),
    ),
    ("fetch entries (gRPC stream)", "entry", ("GrpcPeer._get_range", "GrpcPeer.get_entries")),
    (
        "serving ListOrigins, watch streams",
        "origin",
        (
            "LogService.ListOrigins",
            "LogService._watch",
            "SyncEngine._watch_loop",
        ),
    ),
    ("list origins (client)", "origin", ("GrpcPeer.list_origins",)),
    (
        "other per-origin sync work",
        "origin",
        (
            "Ingest.sync_origin",
            "Ingest._sync_origin_locked",
            "Ingest.sync_from",
            "SyncEngine._pull_loop",
        ),
    ),
]


#: Leaf frames of threads that wait with a timeout or in C (py-spy counts them busy).
_WAITING = {
    "Condition.wait",
    "_wait_once",
    "Event.wait",
    "select",
    "poll",
    "_PollLikeSelector.select",
    "_run_channel_spin_thread.<locals>.channel_spin",
    "_serve",
    "_start_worker.<locals>.watch",
}


def _bucket(frame: str) -> str | None:
    func = frame.split(" (", 1)[0]
    for name, _, patterns in PROFILE_BUCKETS:
        if any(func == p or func.endswith("." + p) for p in patterns):
            return name
    return None


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            if ppid == pid:
                out.append(int(d.name))
    return out


def _tree_cpu(pid: int) -> tuple[float, float]:
    """(the process's CPU seconds, its children's)."""
    return _cpu_seconds(pid), sum(_cpu_seconds(c) for c in _children(pid))


def _loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def _verify_for(seconds: float, out: mp.Queue) -> None:
    out.put(raw_verify_rate(seconds))


def raw_verify_all_cores(seconds: float = 1.0) -> float:
    """Ed25519 verifies per second summed over one process per core, run together."""
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=_verify_for, args=(seconds, q)) for _ in range(os.cpu_count() or 1)]
    for p in procs:
        p.start()
    rates = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join()
    return sum(rates)


def raw_sqlite_insert_rate(rows: int = 100_000) -> float:
    """Rows per second into a table shaped like ``entries`` (WAL, one transaction)."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "raw.db")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(
            "CREATE TABLE entries (origin TEXT, idx INTEGER, leaf_hash BLOB, envelope BLOB,"
            " type TEXT, PRIMARY KEY (origin, idx)) WITHOUT ROWID"
        )
        env = os.urandom(480)
        t0 = time.perf_counter()
        with conn:
            conn.executemany(
                "INSERT INTO entries VALUES (?, ?, ?, ?, ?)",
                (
                    (f"yrd/{i // 300:06d}", i, sha256(env + bytes(i)).digest(), env, "accession")
                    for i in range(rows)
                ),
            )
        rate = rows / (time.perf_counter() - t0)
        conn.close()
    return rate


def raw_leaf_hash_rate(n: int = 200_000) -> float:
    env = os.urandom(480)
    t0 = time.perf_counter()
    for _ in range(n):
        sha256(b"\x00" + env).digest()
    return n / (time.perf_counter() - t0)


def raw_verify_per_cpu_second(seconds: float = 1.0, verifier: str = "node") -> float:
    """Ed25519 verifies per second of this process's CPU time."""
    return raw_verify_rate(seconds, clock=time.process_time, verifier=verifier)


def raw_limits() -> dict[str, float]:
    # The node's verifier (core.ed25519) and libsodium's (PyNaCl) beside it: the
    # earlier runs' "verifies' worth" figures are in PyNaCl verifies.
    return {
        "raw_verify_per_cpu_s": round(raw_verify_per_cpu_second(1.0)),
        "raw_verify_per_cpu_s_pynacl": round(raw_verify_per_cpu_second(1.0, "pynacl")),
        "raw_verify_per_s_one_core": round(raw_verify_rate(1.0)),
        "raw_verify_per_s_all_cores": round(raw_verify_all_cores(1.0)),
        "raw_sqlite_insert_rows_per_s": round(raw_sqlite_insert_rate()),
        "raw_leaf_hash_per_s": round(raw_leaf_hash_rate()),
    }


def _held(nodes: Nodes, name: str) -> dict[str, int]:
    resp = services_pb2_grpc.LogServiceStub(nodes.channel(name)).ListOrigins(
        services_pb2.ListOriginsRequest(), timeout=120
    )
    return {o.origin: o.size for o in resp.origins}


class _Watch:
    """Whether the joiner's file holds every origin at its size, read without gRPC.

    One read-only connection for the whole run, and each poll first sums the
    column in SQL: only once the sum reaches the target is it compared origin
    by origin. Opening the file and reading 3,200 rows into Python ten times a
    second cost the bench ~1.5 % of the machine's CPU (docs/SCALE.md, sixth
    pass), taken from the join it measures.
    """

    def __init__(self, db: Path, want: dict[str, int]) -> None:
        self.db, self.want, self.total = db, want, sum(want.values())
        self.conn: sqlite3.Connection | None = None

    def holds(self, column: str = "size") -> bool:
        """Every wanted origin at its size in ``column`` (or ``indexed``: in the registry)."""
        try:
            if self.conn is None:
                if not self.db.exists():
                    return False
                self.conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
            (summed,) = self.conn.execute(f"SELECT total({column}) FROM origins").fetchone()
            if summed < self.total:
                return False
            sizes = dict(self.conn.execute(f"SELECT origin, {column} FROM origins"))
        except sqlite3.OperationalError:  # the schema is not there yet
            return False
        return all((sizes.get(o) or 0) >= n for o, n in self.want.items())

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def classify(raw_profile: Path) -> dict[str, dict[str, float]]:
    """Share of the sampled CPU per bucket, from py-spy's collapsed stacks."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw_profile.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = stack.split(";")[::-1]  # leaf first
        if frames[0].split(" (", 1)[0] in _WAITING:
            continue  # a thread waiting with a timeout (gRPC, events) looks busy to py-spy
        bucket = "other (gRPC threads, start-up, interpreter)"
        for frame in frames:
            name = _bucket(frame)
            if name is not None:
                bucket = name
                break
        counts[bucket] += int(n)
    total = sum(counts.values()) or 1
    kinds = {b: k for b, k, _ in PROFILE_BUCKETS}
    return {
        b: {"share": round(c / total, 3), "kind": kinds.get(b, "other")}
        for b, c in counts.most_common()
    }


def run(
    data: Path,
    origins: int = 3200,
    entries: int = 1_000_000,
    servers: int = 2,
    profile: bool = False,
    tag: str = "",
    parallel_origins: int | None = None,
    perf: bool = False,
) -> dict:
    t0 = time.perf_counter()
    manifest = build(data, origins, entries, servers)
    built_now = time.perf_counter() - t0 > 5
    limits = raw_limits()
    node_members = manifest["nodes"]
    joiner = manifest["joiner"]
    srv = [n for n in node_members if n != joiner]
    shutil.rmtree(data / "db", ignore_errors=True)
    shutil.rmtree(data / "nodes", ignore_errors=True)
    (data / "db").mkdir()
    t0 = time.perf_counter()
    for name in srv:  # the closed database, as SQLite left it
        for suffix in ("", "-wal"):
            src = data / f"served.db{suffix}"
            if src.exists():
                shutil.copyfile(src, data / "db" / f"{name}.db{suffix}")
    copy_s = time.perf_counter() - t0
    nodes = Nodes(data, node_members, {joiner: srv}, sync_interval=30.0, verify_workers=2)
    if parallel_origins is not None:  # the joiner's [sync] parallel_origins (default 3)
        cfg = nodes.configs[joiner]
        cfg.write_text(
            cfg.read_text().replace("[sync]\n", f"[sync]\nparallel_origins = {parallel_origins}\n")
        )
    spy = perf_rec = None
    roles: dict[int, str] = {}
    try:
        for name in srv:
            nodes.start(name, wait=False)
        for name in srv:
            nodes.wait_ready(name)
        want = _held(nodes, srv[0])
        total = sum(want.values())
        server_cpu0 = [sum(_tree_cpu(nodes.procs[n].pid)) for n in srv]
        load0 = _loadavg()
        launched = time.perf_counter()
        nodes.start(joiner, wait=False)
        nodes.wait_listening(joiner)
        t0 = time.perf_counter()
        pid = nodes.procs[joiner].pid
        spy_bin = Path(sys.executable).parent / "py-spy"
        if profile and not spy_bin.exists():
            print("join bench: py-spy is not installed (pip install py-spy); no profile",
                  file=sys.stderr)  # fmt: skip
        elif profile:
            spy = subprocess.Popen(
                [str(spy_bin), "record", "--pid", str(pid),
                 "--subprocesses", "--nonblocking", "--rate", "25", "--format", "raw",
                 "-o", str(data / "profile.txt")],
                stdout=subprocess.DEVNULL, stderr=open(data / "py-spy.log", "wb"),  # noqa: SIM115
            )  # fmt: skip
        if perf and shutil.which("perf") is None:
            print("join bench: perf is not installed; no --perf figures", file=sys.stderr)
        elif perf:  # every CPU, every process: what each role's CPU went to
            perf_rec = subprocess.Popen(
                ["perf", "record", "-a", "-F", str(PERF_HZ), "-o", str(data / "perf.data")],
                stdout=subprocess.DEVNULL, stderr=open(data / "perf.log", "wb"),  # noqa: SIM115
            )  # fmt: skip

        # Watched on the joiner's database file (read-only), not over gRPC: a
        # ListOrigins of 3,200 rows twice a second would load the node being timed.
        # The committed sizes are what ListOrigins serves; it confirms at the end.
        db = data / "db" / f"{joiner}.db"

        watch = _Watch(db, want)
        wait(watch.holds, 7200, "the joiner holding every origin", 0.1)
        done = time.perf_counter()
        held = _held(nodes, joiner)
        missing = [o for o, s in want.items() if held.get(o, 0) < s]
        if missing:
            raise RuntimeError(f"the joiner does not serve {len(missing)} origins")
        joiner_cpu, workers_cpu = _tree_cpu(pid)
        if perf_rec is not None:  # the samples are of the join to "verified"
            perf_rec.send_signal(2)  # SIGINT: perf writes what it has
            perf_rec.wait(120)
            roles = {pid: "joiner", **dict.fromkeys(_children(pid), "workers")}
            for n in srv:
                server = nodes.procs[n].pid
                roles.update({server: "servers", **dict.fromkeys(_children(server), "servers")})
        server_cpu = sum(sum(_tree_cpu(nodes.procs[n].pid)) for n in srv) - sum(server_cpu0)
        load1 = _loadavg()
        if spy is not None:  # the profile is of the join to "verified"
            spy.send_signal(2)  # SIGINT: py-spy writes what it has
            spy.wait(60)

        # Searchable: the indexer has folded every entry into the registry.
        wait(lambda: watch.holds("indexed"), 7200, "the joiner's registry holding every entry", 0.1)
        watch.close()
        found = time.perf_counter()
        search_cpu = sum(_tree_cpu(pid))
        verify_end = raw_verify_rate(1.0)  # the load changes during a long run
        rss = nodes.rss_mb(joiner)
    finally:
        for proc in (spy, perf_rec):
            if proc is not None and proc.poll() is None:
                proc.kill()
        nodes.stop()
    db_mb = sum(p.stat().st_size for p in (data / "db").glob(f"{joiner}.db*")) / 2**20
    seconds = done - t0
    cpu = joiner_cpu + workers_cpu + server_cpu
    figures = {
        "origins": len(want),
        "entries": total,
        "servers": len(srv),
        "parallel_origins": parallel_origins or 3,
        "seconds": round(seconds, 1),
        "with_startup_s": round(done - launched, 1),
        # Verified first; searchable once the indexer has folded the logs (a join
        # leaves the registry fold to it, after the rounds: ingest.sync_from).
        "searchable_s": round(found - t0, 1),
        "cpu_s_joiner_to_searchable": round(search_cpu, 1),
        "entries_per_s": round(total / seconds),
        "target_s": 60,
        "cpu_s_joiner_main": round(joiner_cpu, 1),
        "cpu_s_joiner_workers": round(workers_cpu, 1),
        "cpu_s_servers": round(server_cpu, 1),
        "cores_busy": round(cpu / seconds, 2),
        "cpu_us_per_entry_all_processes": round(1e6 * cpu / total, 1),
        # The same in units of one signature check's CPU, measured in this run.
        "cpu_per_entry_in_verifies": round(cpu / total * limits["raw_verify_per_cpu_s"], 2),
        "cpu_per_entry_in_pynacl_verifies": round(
            cpu / total * limits["raw_verify_per_cpu_s_pynacl"], 2
        ),
        **limits,
        "raw_verify_per_s_one_core_at_end": round(verify_end),
        "ratio_to_one_core_verify": round(total / seconds / limits["raw_verify_per_s_one_core"], 2),
        "ratio_to_all_cores_verify": round(
            total / seconds / limits["raw_verify_per_s_all_cores"], 2
        ),
        "loadavg_start": load0,
        "loadavg_end": load1,
        "rss_mb_joiner": round(rss, 1),
        "db_mb_joiner": round(db_mb, 1),
        "build_keys_s": manifest["build_keys_s"],
        "build_logs_s": manifest["build_logs_s"],
        "built_in_this_run": built_now,
        "copy_served_db_s": round(copy_s, 1),
    }
    if profile and (data / "profile.txt").exists():
        buckets = classify(data / "profile.txt")
        figures["profile"] = buckets
        figures["profile_entry_share"] = round(
            sum(v["share"] for v in buckets.values() if v["kind"] == "entry"), 3
        )
        figures["profile_origin_share"] = round(
            sum(v["share"] for v in buckets.values() if v["kind"] == "origin"), 3
        )
        # The profile covers the joiner and its workers: their CPU, split by the shares.
        sampled = joiner_cpu + workers_cpu
        figures["per_entry_cpu_us"] = round(
            1e6 * sampled * figures["profile_entry_share"] / total, 1
        )
        figures["per_origin_cpu_ms"] = round(
            1e3 * sampled * figures["profile_origin_share"] / len(want), 2
        )
    if perf_rec is not None and (data / "perf.data").exists():
        script = subprocess.run(
            ["perf", "script", "-i", str(data / "perf.data"), "-F", "pid,ip,sym,dso"],
            capture_output=True, text=True, errors="replace", check=True,
        )  # fmt: skip
        figures["perf"] = perf_split.split(script.stdout.splitlines(), roles)
    emit("join" + tag, **figures)
    return figures


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench.join_bench", description=__doc__)
    ap.add_argument("--data", type=Path, required=True, help="dataset cache directory")
    ap.add_argument("--origins", type=int, default=3200)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--servers", type=int, default=2)
    ap.add_argument("--profile", action="store_true", help="py-spy profile of the joiner")
    ap.add_argument("--tag", default="")
    ap.add_argument(
        "--parallel-origins", type=int, help="the joiner's [sync] parallel_origins (default 3)"
    )
    ap.add_argument(
        "--perf",
        action="store_true",
        help="Linux perf samples of every process: CPU by role and library (bench.perf_split)",
    )
    a = ap.parse_args(argv)
    return run(
        a.data, a.origins, a.entries, a.servers, a.profile, a.tag, a.parallel_origins, a.perf
    )


if __name__ == "__main__":
    main()
