"""The overlay, run: N real nodes peered by ``core.overlay``, push propagation measured.

Members are real GB/T 2260 regions picked as a national federation would look
(a province's node, one of its prefectures, two of that prefecture's counties,
province after province), and each node's ``[[peers]]`` are its
:func:`exchange.core.overlay.neighbours`. The sync poll interval is long (60 s by
default) so every figure below is push propagation: a node that mirrors new
entries of origin X pushes X's new checkpoint to its own watchers, hop by hop.

The bench holds one ``WatchCheckpoints`` stream on every node, so it learns the
moment each node holds the new entry without polling. Each round issues one entry
(an accession) on a random node and records, per node, the time until it holds
the entry and its hop distance from the issuer in the overlay. Figures (one JSON
line per run): latency p50/p99/max over rounds (until the last node holds it),
the per-hop time, bytes sent and received per node per entry (TCP counters of the
node's sockets, from ``ss``), served streams and TCP connections per node, RSS per
node (and its anonymous part), the nodes' proportional memory together (PSS: the
interpreter's and libraries' pages are shared, so RSS times N overstates it);
then the same rounds while 10% of the nodes are restarted, one per round. The raw
limit beside them: the signing rate measured in the same run.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import re
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from importlib import resources
from pathlib import Path
from typing import Any

import grpc

from bench.common import Nodes, emit, proc_mb, raw_sign_rate
from exchange._proto.brandex.v1 import entries_pb2, services_pb2, services_pb2_grpc
from exchange.core import overlay
from exchange.core.note import parse_note
from exchange.demo.governance import make_genesis
from exchange.ports import free_ports

FEDERATION = "yrd"
#: A run stops when the machine has less memory available than this (100 nodes
#: come close to a 23 GB box; there is no swap).
MIN_FREE_MB = 1024
#: Above this many members the nodes start this many at a time (``Nodes.start_all``).
WAVE = 25


def national_sample(n: int, seed: int = 2260) -> dict[str, str]:
    """``n`` members as a national federation looks: province, prefecture, counties.

    Provinces in a seeded order; from each, its own node, one prefecture's node and
    two of that prefecture's counties' nodes, until ``n`` members. Name: ``n<code>``.
    """
    table = json.loads(
        resources.files("exchange.core.data").joinpath("regions.json").read_text("utf-8")
    )
    kids: dict[str, list[str]] = {}
    for code, (_, par, _) in table.items():
        if par:
            kids.setdefault(par, []).append(code)
    rnd = random.Random(seed)
    provinces = sorted(c for c, v in table.items() if v[2] == "province")
    rnd.shuffle(provinces)
    picked: list[str] = []
    while len(picked) < n:
        for p in provinces:
            cities = [c for c in sorted(kids.get(p, [])) if c not in picked and kids.get(c)]
            city = rnd.choice(cities) if cities else None
            counties = sorted(kids.get(city, [])) if city else []
            group = [p] if p not in picked else []
            group += [city] if city else []
            group += rnd.sample(counties, min(2, len(counties)))
            for code in group:
                if len(picked) < n and code not in picked:
                    picked.append(code)
    return {f"n{c}": c for c in picked}


class Arrivals:
    """One watch stream per node: when each node first held each (origin, size)."""

    def __init__(self, nodes: Nodes) -> None:
        self.nodes = nodes
        self.sizes: dict[tuple[str, str], int] = {}  # (node, origin) -> size
        self.first: dict[tuple[str, str, int], float] = {}  # (node, origin, size) -> t
        self.cond = threading.Condition()
        self._stop = threading.Event()
        self._calls: dict[str, Any] = {}
        self._threads = [
            threading.Thread(target=self._watch, args=(n,), daemon=True) for n in nodes.members
        ]
        for t in self._threads:
            t.start()

    def _watch(self, name: str) -> None:
        while not self._stop.is_set():
            try:
                stub = services_pb2_grpc.LogServiceStub(self.nodes.channel(name))
                call = stub.WatchCheckpoints(services_pb2.WatchCheckpointsRequest())
                self._calls[name] = call
                for o in call:
                    now = time.monotonic()
                    with self.cond:
                        old = self.sizes.get((name, o.origin), 0)
                        for s in range(old + 1, o.size + 1):
                            self.first.setdefault((name, o.origin, s), now)
                        self.sizes[(name, o.origin)] = max(old, o.size)
                        self.cond.notify_all()
            except grpc.RpcError:
                pass
            except ValueError:  # the channel was closed under us (a restart)
                pass
            self._stop.wait(0.05)

    def size(self, name: str, origin: str) -> int:
        with self.cond:
            return self.sizes.get((name, origin), 0)

    def wait_all(self, names: list[str], origin: str, size: int, timeout: float) -> None:
        end = time.monotonic() + timeout
        with self.cond:
            while not all((n, origin, size) in self.first for n in names):
                left = end - time.monotonic()
                if left <= 0:
                    missing = [n for n in names if (n, origin, size) not in self.first]
                    raise RuntimeError(f"{origin}#{size} never reached {missing}")
                self.cond.wait(min(left, 1.0))

    def stop(self) -> None:
        self._stop.set()
        for call in list(self._calls.values()):
            with contextlib.suppress(Exception):  # best effort at shutdown
                call.cancel()


_SS_USER = re.compile(r"pid=(\d+)")
_SS_BYTES = re.compile(r"bytes_(sent|received):(\d+)")


def socket_bytes(pids: set[int]) -> dict[int, dict[str, int]]:
    """Bytes sent and received so far on each process's open TCP sockets (``ss -tinp``)."""
    out = {p: {"sent": 0, "received": 0, "connections": 0} for p in pids}
    text = subprocess.run(
        ["ss", "-Htinp", "state", "established"], capture_output=True, text=True, timeout=30
    ).stdout
    owner = None
    for line in text.splitlines():
        m = _SS_USER.search(line)
        if m:  # the socket line; its tcp_info follows on the next line
            owner = int(m.group(1)) if int(m.group(1)) in pids else None
            if owner is not None:
                out[owner]["connections"] += 1
            continue
        if owner is not None:
            for kind, value in _SS_BYTES.findall(line):
                out[owner][kind] += int(value)
            owner = None
    return out


def quiet(pids: set[int], settle: float = 1.0, limit: float = 120.0) -> dict:
    """Socket counters once the overlay is quiet: under 4 KB/s in all, or 150 B/s a node
    if more, for ``settle`` s. The idle floor grows with N (keepalive pings on ~36
    connections a node, the full rounds' listings): 100 idle nodes send ~10 KB/s,
    which a fixed 4 KB/s would never see as quiet, while an entry's push moves
    several KB a node within a second."""
    end = time.monotonic() + limit
    floor = max(4096, 150 * len(pids))
    last = socket_bytes(pids)
    while time.monotonic() < end:
        time.sleep(settle)  # a sampling period, not a wait for a condition
        now = socket_bytes(pids)
        moved = sum(now[p]["sent"] - last[p]["sent"] for p in pids)
        last = now
        if moved < floor * settle:
            break
    return last


def served_streams(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("brandex_open_streams "):
                return int(float(line.split()[1]))
    return -1


def synced_peers(port: int) -> int:
    """How many peers this node has finished a full sync round with (its /metrics)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return sum(
        1
        for line in text.splitlines()
        if line.startswith("brandex_sync_rounds_total{") and float(line.split()[-1]) >= 1
    )


def _cosigners(note: str, origin: str) -> int:
    return sum(1 for x in parse_note(note).signatures if x.name != origin)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def _issue(nodes: Nodes, name: str, tag: str) -> None:
    services_pb2_grpc.AdminServiceStub(nodes.channel(name)).Accede(
        entries_pb2.Accession(
            agreement_id=tag,
            title="overlay bench",
            covered_kinds=[2],
            effective_from="2026-01-01",
            region=nodes.members[name].region,
        ),
        timeout=60,
    )


class Overlay:
    """The running overlay: nodes, their metrics ports, the bench's watch streams."""

    def __init__(
        self, root: Path, n: int, interval: float, witness: bool, bounded: bool = False
    ) -> None:
        self.members = national_sample(n)
        ms = [overlay.OverlayMember(k, v) for k, v in self.members.items()]
        self.graph = overlay.overlay(ms)
        #: Each origin's witness set (bounded witnessing), by member name.
        sets = {m.name: overlay.witnesses(ms, m.name) for m in ms}
        self.witness_sets = {k: v.witnesses for k, v in sets.items()}
        #: Cosignatures each origin's checkpoint needs before start-up is over: the
        #: witness set's quorum with bounded witnessing (the document's rule); with
        #: everyone witnessing, or none, no figure of its own (0).
        self.quorums = {k: v.quorum if bounded and witness else 0 for k, v in sets.items()}
        self.nodes = Nodes(
            root, self.members, dict(self.graph), sync_interval=interval, verify_workers=0
        )
        document = None
        if bounded:
            # A federation document listing every node: peers and witness sets come
            # from it, and each origin asks its witness set (C2SP tlog-witness).
            document = make_genesis(
                root / "certs", list(self.nodes.members.values()), root / "federation-1.json"
            )
        taken = {m.port for m in self.nodes.members.values()}
        self.metrics = dict(zip(self.nodes.configs, free_ports(n, taken), strict=True))
        for name, path in self.nodes.configs.items():
            port = self.metrics[name]
            text = path.read_text("utf-8")
            if not witness:
                text = text.replace("[witness]\nenabled = true", "[witness]\nenabled = false")
            if document is not None:  # a top-level key: before every table
                text = f'federation_document = "{document.resolve()}"\n' + text
            path.write_text(text + f'\n[metrics]\nlisten = "127.0.0.1:{port}"\n', "utf-8")
        self.arrivals: Arrivals | None = None
        #: The least MemAvailable seen while the nodes started up (their peak).
        self.mem_low_mb = proc_mb("/proc/meminfo", "MemAvailable")

    def start(self) -> None:
        self.nodes.start_all(wave=WAVE if len(self.members) > WAVE else 0)
        self.arrivals = Arrivals(self.nodes)

    def started_up(self) -> list[str]:
        """The nodes still starting up (empty: start-up is over).

        A node has started up once it has finished a full sync round with every
        peer (``brandex_sync_rounds_total``, one label per peer) and serves every
        origin's checkpoint with at least its quorum of cosignatures. Until then
        the first full rounds, the key announcements and the witnesses' answers
        still cross the overlay, and a round issued in that tail measures the
        start-up's backlog, not propagation.
        """
        waiting = []
        for name, member in self.nodes.members.items():
            if synced_peers(self.metrics[name]) < len(member.peers):
                waiting.append(name)
                continue
            heads = services_pb2_grpc.LogServiceStub(self.nodes.channel(name)).ListOrigins(
                services_pb2.ListOriginsRequest(), timeout=60
            )
            notes = {o.origin: o.checkpoint for o in heads.origins if o.size > 0}
            for other, region in self.members.items():
                origin = f"{FEDERATION}/{region}"
                note = notes.get(origin)
                if note is None or _cosigners(note, origin) < self.quorums[other]:
                    waiting.append(name)
                    break
        return waiting

    def wait_started_up(self, timeout: float = 1800.0) -> None:
        """Until :meth:`started_up` is over (a condition polled once a second, not a
        sleep): a start-up that never ends is a failed run, reported with its nodes."""
        end = time.monotonic() + timeout
        while True:
            free = proc_mb("/proc/meminfo", "MemAvailable")
            self.mem_low_mb = min(self.mem_low_mb, free)
            if free < MIN_FREE_MB:  # stop before the kernel's OOM killer picks a victim
                raise RuntimeError(f"{free:.0f} MB of memory left during start-up: stopped")
            try:
                waiting = self.started_up()
            except grpc.RpcError as exc:  # a node busy starting: ask again
                waiting = [f"(rpc: {exc.code()})"]
            except OSError as exc:  # its /metrics slow to answer on a loaded box: ask again
                waiting = [f"(metrics: {exc})"]
            if not waiting:
                return
            if time.monotonic() > end:
                raise RuntimeError(f"start-up not over after {timeout:.0f} s: {waiting[:10]}")
            time.sleep(1.0)  # the polling period of the condition

    def pids(self) -> dict[int, str]:
        return {p.pid: n for n, p in self.nodes.procs.items() if p.poll() is None}

    def restart_stop(self, name: str) -> None:
        proc = self.nodes.procs[name]
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)

    def round(self, rnd: random.Random, tag: str, skip: frozenset[str] = frozenset()) -> dict:
        """Issue one entry on a random node; until every node not in ``skip`` holds it."""
        assert self.arrivals is not None
        src = rnd.choice(sorted(set(self.members) - skip))
        origin = f"{FEDERATION}/{self.members[src]}"
        size = self.nodes.size(src, origin) + 1
        t0 = time.monotonic()
        _issue(self.nodes, src, tag)
        others = [n for n in self.members if n not in skip]
        self.arrivals.wait_all(others, origin, size, timeout=300)
        got = {n: self.arrivals.first[(n, origin, size)] - t0 for n in others}
        hops = overlay.hop_distances(self.graph, src)
        return {"src": src, "origin": origin, "size": size, "t0": t0, "got": got, "hops": hops}

    def cosignatures(self, samples: list[dict]) -> list[int]:
        """Cosignatures on the newest checkpoint of each origin issued on, as its own node
        serves it (with bounded witnessing: at most its witness set's size)."""
        out = []
        for src in sorted({s["src"] for s in samples}):
            origin = f"{FEDERATION}/{self.members[src]}"
            state = services_pb2_grpc.LogServiceStub(self.nodes.channel(src)).GetCheckpoint(
                services_pb2.GetCheckpointRequest(origin=origin), timeout=30
            )
            out.append(sum(1 for x in parse_note(state.checkpoint).signatures if x.name != origin))
        return out

    def stop(self) -> None:
        if self.arrivals:
            self.arrivals.stop()
        self.nodes.stop()


def _latency_figures(samples: list[dict], prefix: str) -> dict[str, float]:
    last = [max(s["got"][n] for n in s["got"] if n != s["src"]) for s in samples]
    per_hop = [
        s["got"][n] / s["hops"][n] for s in samples for n in s["got"] if s["hops"].get(n, 0) > 0
    ]
    return {
        f"{prefix}p50_s": round(_pct(last, 0.5), 3),
        f"{prefix}p99_s": round(_pct(last, 0.99), 3),
        f"{prefix}max_s": round(max(last), 3),
        f"{prefix}per_hop_median_s": round(statistics.median(per_hop), 3),
        f"{prefix}max_hops": max(max(s["hops"].values()) for s in samples),
        # Every round's figure, in round order: one slow round (a push missed and
        # caught by the poll interval, a loaded box) shows as itself, not only in p99.
        f"{prefix}rounds_s": [round(x, 2) for x in last],
    }


def _steady_figures(
    ov: Overlay,
    steady: list[dict],
    rounds: int,
    interval: float,
    witness: bool,
    started: float,
    bounded: bool = False,
) -> dict[str, Any]:
    degrees = [len(v) for v in ov.graph.values()]
    return {
        "nodes": len(ov.members),
        "rounds": rounds,
        "poll_interval_s": interval,
        "witness_all": witness and not bounded,
        "witness_bounded": witness and bounded,
        "start_s": round(started, 1),
        "max_degree": max(degrees),
        "mean_degree": round(sum(degrees) / len(degrees), 2),
        **_latency_figures(steady, ""),
    }


def run(
    n: int = 12,
    rounds: int = 20,
    churn_rounds: int | None = None,
    interval: float = 60.0,
    witness: bool = True,
    seed: int = 1,
    bounded: bool = False,
) -> dict:
    """Start ``n`` nodes, run ``rounds`` steady rounds and the churn rounds; one JSON line."""
    churn_rounds = rounds if churn_rounds is None else churn_rounds
    sign_rate = raw_sign_rate(0.5)
    rnd = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        ov = Overlay(Path(tmp), n, interval, witness, bounded)
        try:
            t_start = time.monotonic()
            ov.start()
            # Round one starts after start-up is over: every node has synced with each
            # of its peers and holds every origin's checkpoint with its quorum.
            ov.wait_started_up(timeout=max(1800.0, 30.0 * n))  # 100 nodes on two cores
            started_s = time.monotonic() - t_start
            pids = ov.pids()
            before = quiet(set(pids))  # what start-up left moving is not counted
            steady = []
            for i in range(rounds):
                steady.append(ov.round(rnd, f"steady-{i}"))
                quiet(set(pids))  # each round starts from a quiet overlay: latency, not backlog
            # Cosignature gossip and relays go on after the last node holds the entry:
            # count it all, until the overlay is quiet again.
            after = quiet(set(pids))
            streams = {name: served_streams(ov.metrics[name]) for name in ov.members}
            rss = [ov.nodes.rss_mb(name) for name in ov.members]
            anon = [ov.nodes.rss_mb(name, "RssAnon") for name in ov.members]
            pss = [ov.nodes.pss_mb(name) for name in ov.members]
            per_node = [
                (
                    after[p]["sent"]
                    - before[p]["sent"]
                    + after[p]["received"]
                    - before[p]["received"]
                )
                / max(rounds, 1)
                for p in pids
            ]
            sent = [(after[p]["sent"] - before[p]["sent"]) / max(rounds, 1) for p in pids]
            steady_figures = _steady_figures(
                ov, steady, rounds, interval, witness, started_s, bounded
            )
            if witness:
                cosigs = ov.cosignatures(steady)
                steady_figures.update(
                    cosignatures_per_checkpoint_max=max(cosigs),
                    cosignatures_per_checkpoint_median=statistics.median(cosigs),
                    witness_set_max=max(len(w) for w in ov.witness_sets.values()),
                )
            steady_figures.update(
                bytes_per_node_per_entry_median=round(statistics.median(per_node)),
                bytes_per_node_per_entry_max=round(max(per_node)),
                bytes_sent_per_node_per_entry_median=round(statistics.median(sent)),
                tcp_connections_per_node_max=max(after[p]["connections"] for p in pids),
                served_streams_per_node_max=max(streams.values()) - 1,  # less the bench's own
                served_streams_per_node_median=statistics.median(streams.values()) - 1,
                rss_mb_median=round(statistics.median(rss), 1),
                rss_mb_max=round(max(rss), 1),
                anon_mb_median=round(statistics.median(anon), 1),
                anon_mb_max=round(max(anon), 1),
                pss_mb_all_nodes=round(sum(pss)),
                mem_available_mb_at_end=round(proc_mb("/proc/meminfo", "MemAvailable")),
                mem_available_mb_least_in_startup=round(ov.mem_low_mb),
                raw_sign_per_s=round(sign_rate),
            )
            name = f"overlay_{n}" + (
                ("_bounded_witness" if bounded else "") if witness else "_no_witness"
            )
            if churn_rounds:  # the steady figures first: a long churn phase may be cut short
                emit(name + "_steady", **steady_figures)
            churn: list[dict] = []
            restarts: list[float] = []
            k = max(1, round(n / 10))
            victims = rnd.sample(sorted(ov.members), k)
            for i in range(churn_rounds):
                victim = victims[i % k]
                ov.restart_stop(victim)
                t_down = time.monotonic()
                sample = ov.round(rnd, f"churn-{i}", skip=frozenset({victim}))
                churn.append(sample)
                ov.nodes.start(victim, wait=False)
                ov.nodes.wait_listening(victim)
                # A fresh channel: the old one's reconnect backoff grew while it was down.
                old = ov.nodes._channels.pop(victim, None)
                if old is not None:
                    old.close()
                assert ov.arrivals is not None
                ov.arrivals.wait_all([victim], sample["origin"], sample["size"], timeout=300)
                restarts.append(
                    ov.arrivals.first[(victim, sample["origin"], sample["size"])] - t_down
                )
                quiet(set(ov.pids()))
        finally:
            ov.stop()
    figures: dict[str, Any] = {
        **steady_figures,
        "churn_rounds": churn_rounds,
        "churn_restarted_nodes": k if churn_rounds else 0,
    }
    if churn:
        figures.update(_latency_figures(churn, "churn_"))
        figures["churn_restart_to_held_p50_s"] = round(_pct(restarts, 0.5), 3)
        figures["churn_restart_to_held_max_s"] = round(max(restarts), 3)
    figures["p50_in_signatures"] = round(figures["p50_s"] * sign_rate)
    emit(name, **figures)
    return figures


def sizes(ns: tuple[int, ...] = (12, 25), rounds: int = 20) -> None:
    """``make bench``'s overlay runs: each size without witnessing (the overlay's own
    cost), with 10% restarted; then the smallest with today's all-witnessing, for the
    comparison (at 25 nodes on 2 cores its cosignature gossip does not finish)."""
    for n in ns:
        run(n, rounds, witness=False)
    run(min(ns), rounds, churn_rounds=0, witness=True)


def bounded_sizes(ns: tuple[int, ...] = (12, 25, 50), rounds: int = 20) -> None:
    """Witnessing on, bounded: a federation document, each origin asking its witness set."""
    for n in ns:
        run(n, rounds, witness=True, bounded=True)


if __name__ == "__main__":
    import sys

    args = sys.argv[1:]
    if args and args[0] == "bounded":
        bounded_sizes(tuple(int(a) for a in args[1:]) or (12, 25, 50))
    else:
        sizes(tuple(int(a) for a in args) or (12, 25))
