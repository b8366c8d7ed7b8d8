"""Real node processes federating: convergence, relay, push, restart and late join.

Every node runs with a 30 s poll interval, so anything that spreads faster than
that spread by push (``WatchCheckpoints``) or by the initial pull at start.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from harness import Federation, wait_until
from nacl.signing import VerifyKey

from exchange._proto.brandex.v1 import services_pb2
from exchange.core import merkle, x509
from exchange.core.checkpoint import open_checkpoint
from exchange.core.cosignature import CosignatureVerifier, witness_name
from exchange.core.note import Ed25519NoteVerifier, parse_note
from exchange.pki import member_paths

pytestmark = pytest.mark.e2e

INTERVAL = 30.0


def _public_key(fed: Federation, name: str) -> VerifyKey:
    pem = member_paths(fed.certs, name).signing_cert.read_bytes()
    return VerifyKey(x509.raw_ed25519_public(x509.load_pem_chain(pem)[0]))


def _same_heads(fed: Federation, names: list[str], expect: dict[str, int]) -> bool:
    """Every node holds exactly the expected origins at the expected sizes, same roots."""
    heads = [fed.heads(n) for n in names]
    want = {o for o in expect}
    return all(set(h) == want for h in heads) and all(
        h == heads[0] and all(h[o][0] == size for o, size in expect.items()) for h in heads
    )


def _check_signed_and_cosigned(fed: Federation, names: list[str]) -> None:
    """Each node's checkpoint of each origin is signed by the issuer and cosigned by the node."""
    by_origin = {fed.origin(n): n for n in names}
    for holder in names:
        resp = fed.log_stub(holder).ListOrigins(services_pb2.ListOriginsRequest(), timeout=10)
        for o in resp.origins:
            issuer = by_origin[o.origin]
            cp, note = open_checkpoint(
                o.checkpoint, Ed25519NoteVerifier(o.origin, _public_key(fed, issuer))
            )
            assert cp.size == o.size
            if issuer == holder:
                continue
            mine = witness_name(fed.origin(holder))
            sigs = [s for s in note.signatures if s.name == mine]
            assert sigs, f"{holder} serves {o.origin} without its own cosignature"
            CosignatureVerifier(mine, _public_key(fed, holder)).verify_cosignature(
                note.text, sigs[0]
            )


def test_five_nodes_converge_to_identical_logs(federation_factory) -> None:
    names = ["shanghai", "jiangsu", "zhejiang", "anhui", "henan"]
    # A directed ring plus one chord: no node pulls from everyone, so most data relays.
    topology = {
        "shanghai": ["jiangsu", "anhui"],
        "jiangsu": ["zhejiang"],
        "zhejiang": ["anhui"],
        "anhui": ["henan", "shanghai"],
        "henan": ["shanghai"],
    }
    fed = federation_factory(
        {
            n: r
            for n, r in zip(names, ("310000", "320000", "330000", "340000", "410000"), strict=True)
        },
        topology,
        sync_interval=INTERVAL,
    )
    t0 = time.monotonic()
    fed.start_all()
    started = time.monotonic() - t0
    plan = {
        "shanghai": [60, 40],
        "jiangsu": [150, 50],
        "zhejiang": [300, 200],
        "anhui": [50, 50],
        "henan": [100, 30],
    }
    t1 = time.monotonic()
    # Two rounds, issued on all five nodes at once, while they are syncing.
    with ThreadPoolExecutor(len(names)) as pool:
        for rnd in range(2):
            list(pool.map(lambda n, r=rnd: fed.issue(n, plan[n][r]), names))
    expect = {fed.origin(n): 1 + sum(plan[n]) for n in names}
    wait_until(lambda: _same_heads(fed, names, expect), what="five nodes to converge")
    converged = time.monotonic() - t1
    _check_signed_and_cosigned(fed, names)
    print(
        f"\n[convergence] 5 nodes started in {started:.2f}s; {sum(expect.values())} entries"
        f" over 5 origins identical (size and root) everywhere {converged:.2f}s after the"
        f" first issue; sizes {expect}"
    )


def test_relay_through_a_middle_node(federation_factory) -> None:
    fed = federation_factory(
        {"zhejiang": "330000", "anhui": "340000", "luyi": "411628"},
        {"zhejiang": ["anhui"], "anhui": ["zhejiang", "luyi"], "luyi": ["anhui"]},
        sync_interval=INTERVAL,
    )
    fed.start_all()
    t0 = time.monotonic()
    zj = fed.issue("zhejiang", 200)
    ly = fed.issue("luyi", 20)
    wait_until(
        lambda: fed.heads("luyi").get("yrd/330000") == fed.heads("zhejiang")["yrd/330000"],
        what="zhejiang's log to reach luyi through anhui",
    )
    wait_until(
        lambda: fed.heads("zhejiang").get("yrd/411628") == fed.heads("luyi")["yrd/411628"],
        what="luyi's log to reach zhejiang through anhui",
    )
    took = time.monotonic() - t0
    assert (zj, ly) == (201, 21)
    # Luyi has no link to Zhejiang: its only peer is Anhui ...
    st = fed.status("luyi")
    assert [p.address for p in st.peers] == [fed.address("anhui")]
    # ... and what it holds still verifies against Zhejiang's key alone.
    resp = fed.log_stub("luyi").GetCheckpoint(
        services_pb2.GetCheckpointRequest(origin="yrd/330000"), timeout=10
    )
    cp, _ = open_checkpoint(
        resp.checkpoint, Ed25519NoteVerifier("yrd/330000", _public_key(fed, "zhejiang"))
    )
    assert cp.size == 201
    from exchange._proto.brandex.v1 import services_pb2_grpc

    audit = services_pb2_grpc.AuditServiceStub(fed.channel("luyi"))
    proof = audit.GetInclusionProof(
        services_pb2.InclusionRequest(origin="yrd/330000", index=123), timeout=10
    )
    merkle.verify_inclusion(
        merkle.leaf_hash(proof.envelope), 123, cp.size, list(proof.proof), cp.root_hash
    )
    # Luyi's copy carries the relay's cosignature as well as its own.
    names = {s.name for s in parse_note(resp.checkpoint).signatures}
    assert {"yrd/330000", "yrd/340000/witness", "yrd/411628/witness"} <= names
    print(f"\n[relay] zhejiang->anhui->luyi and back, 200+20 entries, in {took:.2f}s")


def test_push_latency_is_well_under_the_poll_interval(federation_factory) -> None:
    fed = federation_factory(
        {"zhejiang": "330000", "anhui": "340000"},
        {"anhui": ["zhejiang"]},
        sync_interval=INTERVAL,
    )
    fed.start_all()
    wait_until(lambda: fed.sizes("anhui").get("yrd/330000") == 1, what="initial pull")
    # The watch stream is up once anhui has heard a head through it (only watches set sizes).
    zj = fed.address("zhejiang")
    wait_until(
        lambda: any(p.address == zj and "yrd/330000" in p.sizes for p in fed.status("anhui").peers),
        what="anhui's watch on zhejiang",
    )
    latencies = []
    for _ in range(5):
        t0 = time.monotonic()
        size = fed.issue("zhejiang", 1)
        wait_until(lambda s=size: fed.sizes("anhui").get("yrd/330000") == s, timeout=INTERVAL)
        latencies.append(time.monotonic() - t0)
    print(
        f"\n[push] issue on zhejiang -> visible on anhui:"
        f" median {statistics.median(latencies):.3f}s,"
        f" max {max(latencies):.3f}s (poll interval {INTERVAL:.0f}s); all: "
        + ", ".join(f"{x:.3f}" for x in latencies)
    )
    assert max(latencies) < INTERVAL / 3


def test_restart_catches_up(federation_factory) -> None:
    fed = federation_factory(
        {"zhejiang": "330000", "jiangsu": "320000", "anhui": "340000"},
        {
            "zhejiang": ["jiangsu", "anhui"],
            "jiangsu": ["zhejiang", "anhui"],
            "anhui": ["zhejiang", "jiangsu"],
        },
        sync_interval=INTERVAL,
    )
    names = ["zhejiang", "jiangsu", "anhui"]
    fed.start_all()
    fed.issue("zhejiang", 50)
    expect = {"yrd/330000": 51, "yrd/320000": 1, "yrd/340000": 1}
    wait_until(lambda: _same_heads(fed, names, expect), what="first convergence")

    assert fed.stop("anhui") == 0  # clean exit on SIGTERM
    zj = fed.issue("zhejiang", 500)
    js = fed.issue("jiangsu", 100)
    assert (zj, js) == (551, 101)
    t0 = time.monotonic()
    fed.start("anhui")
    ready = time.monotonic() - t0
    # What anhui held before the restart is still there, the rest arrives at start.
    expect = {"yrd/330000": 551, "yrd/320000": 101, "yrd/340000": 1}
    wait_until(lambda: _same_heads(fed, names, expect), what="anhui to catch up")
    caught_up = time.monotonic() - t0
    # And it goes on issuing from where its own log stood.
    assert fed.issue("anhui", 10) == 11
    expect["yrd/340000"] = 11
    wait_until(lambda: _same_heads(fed, names, expect), what="anhui's new entries to spread")
    print(
        f"\n[restart] anhui back up in {ready:.2f}s, caught up on 600 entries"
        f" {caught_up:.2f}s after restart"
    )


def test_a_node_that_joins_late(federation_factory) -> None:
    fed = federation_factory(
        {"zhejiang": "330000", "anhui": "340000", "henan": "410000"},
        {"zhejiang": ["anhui"], "anhui": ["zhejiang", "henan"], "henan": ["anhui"]},
        sync_interval=INTERVAL,
    )
    fed.start("zhejiang", wait=False)
    fed.start("anhui", wait=False)
    fed.wait_ready("zhejiang")
    fed.wait_ready("anhui")
    fed.issue("zhejiang", 400)
    fed.issue("anhui", 100)
    wait_until(lambda: fed.sizes("anhui").get("yrd/330000") == 401, what="anhui in step")

    t0 = time.monotonic()
    fed.start("henan")
    wait_until(
        lambda: (
            fed.heads("henan").get("yrd/330000") == fed.heads("zhejiang")["yrd/330000"]
            and fed.heads("henan").get("yrd/340000") == fed.heads("anhui")["yrd/340000"]
        ),
        what="henan to catch up",
    )
    caught_up = time.monotonic() - t0
    # Anhui, which had henan as an unreachable peer all along, now picks up henan's log.
    wait_until(lambda: fed.sizes("anhui").get("yrd/410000") == 1, what="anhui to reach henan")
    wait_until(lambda: fed.sizes("zhejiang").get("yrd/410000") == 1, what="henan's log to relay")
    learned = time.monotonic() - t0
    print(
        f"\n[late join] henan copied 502 entries in {caught_up:.2f}s after start;"
        f" its own log reached zhejiang (via anhui) {learned:.2f}s after start"
    )
