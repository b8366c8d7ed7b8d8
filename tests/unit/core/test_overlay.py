"""Sparse peering and bounded witnessing: the rules' promises, on real GB/T 2260 codes."""

from __future__ import annotations

import json
import random
from importlib import resources

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.core import overlay as ov
from exchange.core import regions
from exchange.core.errors import ValidationError
from exchange.pki import DEMO_MEMBERS

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ALL_CODES = sorted(
    json.loads(resources.files("exchange.core.data").joinpath("regions.json").read_text("utf-8"))
)
NATION = [ov.OverlayMember(f"m{c}", c, f"10.0.0.1:{i}") for i, c in enumerate(ALL_CODES)]
DEMO = [ov.OverlayMember(n, r) for n, r in DEMO_MEMBERS.items()]


def check_graph(members: list[ov.OverlayMember]) -> dict[str, tuple[str, ...]]:
    graph = ov.overlay(members)
    assert set(graph) == {m.name for m in members}
    for name, peers in graph.items():
        assert name not in peers
        assert len(peers) <= ov.MAX_DEGREE
        for p in peers:
            assert name in graph[p], f"{name} -> {p} is not symmetric"
    assert len(ov.hop_distances(graph, members[0].name)) == len(members), "not connected"
    return graph


members_strategy = st.lists(
    st.sampled_from(ALL_CODES), min_size=1, max_size=120, unique=True
).flatmap(
    lambda codes: st.tuples(
        st.just(codes),
        st.lists(st.sampled_from(codes), max_size=5),  # a few regions with a second member
        st.randoms(use_true_random=False),
    )
)


def build(drawn) -> list[ov.OverlayMember]:
    codes, doubles, rnd = drawn
    out = [ov.OverlayMember(f"n{c}", c) for c in codes]
    out += [ov.OverlayMember(f"n{c}-{i}", c) for i, c in enumerate(doubles)]
    rnd.shuffle(out)
    return out


@SETTINGS
@given(members_strategy)
def test_overlay_is_symmetric_bounded_connected_and_order_free(drawn):
    members = build(drawn)
    graph = check_graph(members)
    shuffled = list(members)
    random.Random(7).shuffle(shuffled)
    assert ov.overlay(shuffled) == graph
    for m in members[:5]:
        assert ov.neighbours(members, m.name) == graph[m.name]


@SETTINGS
@given(members_strategy)
def test_overlay_survives_any_one_member_down(drawn):
    members = build(drawn)
    graph = ov.overlay(members)
    for down in list(graph)[:10]:
        rest = {n: tuple(p for p in ps if p != down) for n, ps in graph.items() if n != down}
        if rest:
            assert len(ov.hop_distances(rest, next(iter(rest)))) == len(rest), (
                f"{down} cuts the overlay"
            )


def test_nation_degree_and_diameter():
    """3,224 members (every GB/T 2260 code): degree <= MAX_DEGREE, diameter small."""
    graph = check_graph(NATION)
    # Eccentricity of any node e bounds the diameter by 2e; sample some for the estimate.
    ecc = [
        max(ov.hop_distances(graph, n).values()) for n in random.Random(1).sample(list(graph), 40)
    ]
    assert 2 * min(ecc) <= 20
    assert max(ecc) <= 10
    degrees = [len(p) for p in graph.values()]
    assert sum(degrees) / len(degrees) < 7


def test_peering_follows_the_hierarchy():
    graph = ov.overlay(NATION)
    # Zhejiang's node peers with its first prefectures' nodes, and Hangzhou with it.
    assert "m330100" in graph["m330000"]
    # Every county reaches its prefecture within a few hops inside the province.
    for county in ("m330302", "m411628", "m320506"):
        city = "m" + regions.parent(county[1:])
        assert ov.hop_distances(graph, county)[city] <= 4


def test_neighbours_refuses_unknowns():
    with pytest.raises(ValidationError):
        ov.neighbours(DEMO, "atlantis")
    with pytest.raises(ValidationError):
        ov.overlay([*DEMO, ov.OverlayMember("bad", "999999")])
    with pytest.raises(ValidationError):
        ov.overlay([*DEMO, ov.OverlayMember("zhejiang", "330100")])


def check_witnesses(members, designated=()):
    names = {m.name for m in members}
    for m in members:
        ws = ov.witnesses(members, m.name, designated)
        assert ws.origin == m.name
        assert m.name not in ws.witnesses
        assert len(set(ws.witnesses)) == len(ws.witnesses)
        assert set(ws.witnesses) <= names
        assert len(ws.witnesses) <= ov.MAX_WITNESSES
        assert len(ws.witnesses) >= min(ov.MIN_WITNESSES, len(members) - 1)
        assert ws.quorum == (len(ws.witnesses) // 2 + 1 if ws.witnesses else 0)
        assert ws.quorum <= len(ws.witnesses)


@SETTINGS
@given(members_strategy, st.lists(st.sampled_from(ALL_CODES), max_size=4))
def test_witness_sets_are_bounded_and_exclude_the_origin(drawn, designated_codes):
    members = build(drawn)
    designated = [f"n{c}" for c in designated_codes]
    check_witnesses(members, designated)
    shuffled = list(reversed(members))
    assert [ov.witnesses(shuffled, m.name, designated) for m in members] == [
        ov.witnesses(members, m.name, designated) for m in members
    ]


def test_witnesses_of_a_county_follow_the_rule():
    """Luyi (a county of Zhoukou, Henan): Zhoukou's node, Henan's, two bordering provinces'."""
    ws = ov.witnesses(NATION, "m411628", designated=["m110000", "m411628", "m000000", "m310000"])
    assert ws.witnesses[:2] == ("m411600", "m410000")
    borders = {"m" + p for p in regions.adjacent_provinces("410000")}
    assert set(ws.witnesses[2:4]) <= borders
    assert ws.witnesses[4:] == ("m110000", "m310000")  # itself and non-members skipped
    assert ws.quorum == 4


def test_witnesses_in_the_demo_federation():
    check_witnesses(DEMO)
    zj = ov.witnesses(DEMO, "zhejiang")
    # Zhejiang is its province's head: two of its bordering provinces' nodes, then the
    # nearest other member to reach the minimum of three.
    assert len(zj.witnesses) == 3 and set(zj.witnesses[:2]) <= {"shanghai", "jiangsu", "anhui"}
    assert ov.witnesses(DEMO, "wenzhou").witnesses[0] == "zhejiang"
    assert ov.witnesses(DEMO, "luyi").witnesses[0] == "henan"


def test_witness_sets_at_national_scale():
    sample = random.Random(3).sample(NATION, 300)
    check_witnesses(sample)
    for m in NATION[::50]:
        ws = ov.witnesses(NATION, m.name)
        assert 3 <= len(ws.witnesses) <= ov.MAX_WITNESSES


def test_a_lone_member_has_no_witnesses():
    ws = ov.witnesses([ov.OverlayMember("only", "330000")], "only")
    assert ws.witnesses == () and ws.quorum == 0
    assert ov.neighbours([ov.OverlayMember("only", "330000")], "only") == ()


def test_adjacent_provinces_is_symmetric_and_connected():
    provinces = [c for c in ALL_CODES if regions.level(c) == "province"]
    for p in provinces:
        adj = regions.adjacent_provinces(p)
        assert adj and p not in adj
        for q in adj:
            assert p in regions.adjacent_provinces(q)
    graph = {p: regions.adjacent_provinces(p) for p in provinces}
    assert len(ov.hop_distances(graph, "110000")) == 31
    assert set(regions.adjacent_provinces("330106")) == {
        "310000",
        "320000",
        "340000",
        "350000",
        "360000",
    }
