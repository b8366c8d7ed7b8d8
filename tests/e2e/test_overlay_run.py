"""The overlay bench, short: 8 real nodes peered by core.overlay, push relayed hop by hop.

The poll interval is an hour, so a node two hops from the issuer can only hold a new
entry within this test's deadlines if its neighbour relayed the push (a node that
mirrors origin X's entries pushes X's checkpoint to its own watchers). Witnessing is
on and bounded: a checkpoint never carries more cosignatures than its witness set.
"""

from __future__ import annotations

from bench.overlay_bench import national_sample, run
from exchange.core import overlay, regions
from exchange.node.limits import MAX_STREAMS


def test_national_sample_is_a_real_hierarchy():
    members = national_sample(12)
    assert len(members) == 12 and len(set(members.values())) == 12
    levels = {regions.level(code) for code in members.values()}
    assert levels == {"province", "city", "county"}
    for code in members.values():
        if regions.level(code) != "province":
            assert regions.province_of(code) in members.values()


def test_overlay_short_run():
    # Bounded witnessing (a federation document; each origin asks its witness set).
    figures = run(8, rounds=3, churn_rounds=1, interval=3600.0, bounded=True)
    assert figures["witness_bounded"]
    assert 1 <= figures["cosignatures_per_checkpoint_max"] <= figures["witness_set_max"]
    assert figures["max_hops"] >= 2  # reached through a relay, not the (hourly) poll
    assert figures["churn_max_hops"] >= 1
    assert figures["max_degree"] <= overlay.MAX_DEGREE
    # Each peer holds one watch stream on a node; nothing else stays open.
    assert 1 <= figures["served_streams_per_node_max"] <= figures["max_degree"] < MAX_STREAMS
    assert figures["bytes_per_node_per_entry_median"] > 0
    assert figures["churn_restart_to_held_max_s"] > 0  # the restarted node caught up
    assert figures["rss_mb_max"] > 0
    # Proportional memory shares the interpreter's pages: all nodes together take
    # less than RSS times N, and each node's own (anonymous) part is below its RSS.
    assert 0 < figures["pss_mb_all_nodes"] < figures["rss_mb_max"] * 8
    assert 0 < figures["anon_mb_max"] < figures["rss_mb_max"]
