"""Partition and heal: six nodes split in two by the TCP proxies on their links.

Every peer link goes through a ``TcpProxy``. A partition cuts each link that
crosses the split, half of them by resetting connections (the far side is gone)
and half by blackholing them (packets vanish; open streams hang). Both sides
issue entries while split; each side must converge on its own and learn nothing
from the other. Once healed, every node must hold every origin with the same
size and root as its issuer's signed checkpoint, and every log must verify.
"""

from __future__ import annotations

import time

import pytest
from harness import Federation, wait_until
from logcheck import verify_database
from nodeconfig import set_sync_option
from proxy import TcpProxy

from exchange.node.identity import load_anchors
from exchange.pki import DEMO_MEMBERS

pytestmark = pytest.mark.e2e

# The demo members but Luyi.
REGIONS = {name: region for name, region in DEMO_MEMBERS.items() if name != "luyi"}
# Who pulls from whom (every link both ways): two triangles and three bridges.
LINKS = [
    ("shanghai", "jiangsu"),
    ("jiangsu", "zhejiang"),
    ("zhejiang", "shanghai"),
    ("anhui", "henan"),
    ("henan", "wenzhou"),
    ("wenzhou", "anhui"),
    ("shanghai", "anhui"),
    ("jiangsu", "henan"),
    ("zhejiang", "wenzhou"),
]
SPLITS = [
    ({"shanghai", "jiangsu", "zhejiang"}, {"anhui", "henan", "wenzhou"}),
    ({"zhejiang", "wenzhou", "anhui"}, {"shanghai", "jiangsu", "henan"}),
]


def _issuer_heads(fed: Federation, names) -> dict[str, tuple[int, bytes]]:
    return {fed.origin(n): fed.heads(n)[fed.origin(n)] for n in names}


def _peer_error(fed: Federation, name: str, address: str) -> str:
    return next(p.last_error for p in fed.status(name).peers if p.address == address)


def _holds(fed: Federation, name: str, heads: dict[str, tuple[int, bytes]]) -> bool:
    mine = fed.heads(name)
    return all(mine.get(o) == h for o, h in heads.items())


@pytest.mark.parametrize(
    "scale", ["quick", pytest.param("full", marks=pytest.mark.slow)], ids=["quick", "full"]
)
def test_partition_and_heal(federation, fault_certs, fault_report, rng, scale):
    splits = SPLITS[:1] if scale == "quick" else SPLITS
    waves = 1 if scale == "quick" else 3
    fed = federation(REGIONS, sync_interval=2.0)
    proxies: dict[tuple[str, str], TcpProxy] = {}
    for a, b in LINKS:
        for puller, peer in ((a, b), (b, a)):
            p = TcpProxy(fed.address(peer), name=f"{puller}->{peer}").start()
            proxies[(puller, peer)] = p
            fed.add_peer(puller, p.address, REGIONS[peer])
    for name in REGIONS:
        set_sync_option(fed, name, "verify_workers", "0")
    _, anchors = load_anchors([fault_certs / "anchor.pem"])
    cut_links = 0
    log: list[str] = []
    t_start = time.monotonic()

    def stamp(what: str) -> None:
        log.append(f"[{time.monotonic() - t_start:5.1f}s] {what}")

    try:
        fed.start_all()
        stamp("six nodes serving")
        for name in REGIONS:
            fed.issue(name, 3)
        heads = _issuer_heads(fed, REGIONS)
        for name in REGIONS:
            wait_until(lambda n=name: _holds(fed, n, heads), what=f"{name} to converge")
        stamp("converged before the split")
        for side_a, side_b in splits:
            crossing = [k for k in proxies if (k[0] in side_a) != (k[1] in side_a)]
            for i, key in enumerate(sorted(crossing)):
                proxies[key].set_mode("refuse" if i % 2 else "pause")
            cut_links += len(crossing)
            before = _issuer_heads(fed, REGIONS)
            issued = 0
            for _ in range(waves):
                for name in sorted(REGIONS):
                    n = rng.randint(5, 25)
                    fed.issue(name, n)
                    issued += n
            stamp(f"{issued} entries issued while split")
            # The nodes notice: a reset link fails at once (UNAVAILABLE); a blackholed one
            # only when the call's deadline passes (the full run waits for that too).
            expect = {"refuse": "UNAVAILABLE", "pause": "DEADLINE_EXCEEDED"}
            for key in crossing:
                mode = proxies[key].mode
                if mode == "pause" and scale == "quick":
                    continue
                wait_until(
                    lambda k=key, e=expect[mode]: _peer_error(
                        fed, k[0], proxies[k].address
                    ).startswith(e),
                    timeout=120,
                    what=f"{key[0]} to see {key[1]} as {expect[mode]}",
                )
            stamp("the nodes saw the cut links fail")
            # Each side converges on its own origins and learns nothing from the other.
            for side, other in ((side_a, side_b), (side_b, side_a)):
                own = _issuer_heads(fed, side)
                for name in side:
                    wait_until(lambda n=name, h=own: _holds(fed, n, h), what=f"{name} in side")
                    theirs = {
                        o: h
                        for o, h in fed.heads(name).items()
                        if o in {fed.origin(x) for x in other}
                    }
                    stale = {fed.origin(x): before[fed.origin(x)] for x in other}
                    assert theirs == stale, f"{name} saw the other side during the partition"
            stamp("each side converged on its own; nothing crossed")
            t0 = time.monotonic()
            for key in crossing:
                proxies[key].heal()
            final = _issuer_heads(fed, REGIONS)
            for name in REGIONS:
                wait_until(lambda n=name, h=final: _holds(fed, n, h), what=f"{name} to heal")
            healed = time.monotonic() - t0
            resets = sum(proxies[k].resets for k in crossing)
            stamp(
                f"split {sorted(side_a)} | {sorted(side_b)}: {len(crossing)} links cut"
                f" ({resets} connections reset), {issued} entries issued while split;"
                f" converged {healed:.1f}s after healing"
            )
        final = _issuer_heads(fed, REGIONS)
        total = sum(size for size, _ in final.values())
        lost = sum(
            max(0, final[o][0] - fed.heads(n).get(o, (0, b""))[0]) for n in REGIONS for o in final
        )
        stamp("stopping")
        fed.stop_all()
        stamp("stopped")
        for name in REGIONS:
            state = verify_database(fed.database(name), anchors=anchors)
            assert {o: (s.size, s.root) for o, s in state.items()} == final, name
            assert not any(s.frozen for s in state.values()), name
        stamp("verified")
    finally:
        for p in proxies.values():
            p.stop()
    stamp("proxies stopped")
    print("\n[partition]\n  " + "\n  ".join(log))
    fault_report(
        f"partition and heal, 6 nodes ({scale})",
        cut_links,
        lost,
        f"{len(splits)} split(s); {total} entries in 6 origins identical on all 6 nodes",
    )
    assert lost == 0
