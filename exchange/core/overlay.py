"""Sparse peering and bounded witnessing: who talks to whom, who cosigns whom.

A national federation has some 3,200 members (31 provinces, 342 prefectures,
2,851 counties). Peering everyone with everyone, or having everyone witness
everyone, costs the square of that. The two rules here keep each member's share
constant whatever the membership, and are deterministic functions of the member
list alone, so every node (and an auditor) derives the same overlay from the same
federation document without talking to anyone.

**Peering** (:func:`overlay`, :func:`neighbours`); edges are undirected, so if A
peers with B then B peers with A:

1. *Region ring.* Members sorted by (region code, name) form a ring; each peers
   with its predecessor and successor. GB/T 2260 codes nest, so the ring keeps a
   province's members together and a county next to its prefecture: a path that
   stays local. The ring alone makes the graph connected and survives any one
   member being down.
2. *Hierarchy.* A member's *parent* is the member holding the nearest enclosing
   region (a county's prefecture, else its province); members without one (the
   province nodes, or orphans whose ancestors are not members) share a virtual
   root. The children of one parent are laid out as a ``HEAP_ARITY``-ary heap in
   ring order: the first ``HEAP_ARITY`` peer with the parent, child ``j`` after
   them with child ``j // HEAP_ARITY - 1``; the root group's child ``j >= 1``
   peers with child ``(j - 1) // HEAP_ARITY``. So a province node peers with a
   few of its prefectures' nodes, never all of them, and the tree's depth is
   about log_k(n) + 3.
3. *Hashed rings.* ``HASHED_RINGS`` further rings, each ordering members by
   SHA-256 of (ring number, name): chords between unrelated regions that cut
   paths to O(log n) hops (a ring plus one random Hamiltonian cycle is an
   expander with high probability), and spread over the country rather than
   concentrated on the root of the tree.

Each member has at most ``MAX_DEGREE`` = 2 (ring) + 2 * ``HASHED_RINGS`` + 1 (its
parent) + 2 * ``HEAP_ARITY`` (heap children, own and as a parent) peers, 9 with the
defaults. Adding or removing a member only rewires its neighbours on the rings
and in its heap.

**Witnessing** (:func:`witnesses`): an origin's witnesses are, in order, the
node of its parent region, the head node of its province (the member nearest the
province's root), the heads of ``NEIGHBOUR_PROVINCES`` bordering provinces
(chosen among the borders by a hash of the origin, so the load spreads; when
fewer border provinces have members, the nearest ones by border hops), then up
to ``MAX_DESIGNATED`` designated witnesses from the federation's policy; filled
up to ``MIN_WITNESSES`` with the nearest other members. Never the origin's own
member, at most ``MAX_WITNESSES``; the quorum is a strict majority.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from exchange.core import regions
from exchange.core.errors import ValidationError

__all__ = [
    "HASHED_RINGS",
    "HEAP_ARITY",
    "MAX_DEGREE",
    "MAX_DESIGNATED",
    "MAX_WITNESSES",
    "MIN_WITNESSES",
    "NEIGHBOUR_PROVINCES",
    "OverlayMember",
    "WitnessSet",
    "hop_distances",
    "neighbours",
    "overlay",
    "witnesses",
]

HEAP_ARITY = 2
HASHED_RINGS = 1
MAX_DEGREE = 2 + 2 * HASHED_RINGS + 1 + 2 * HEAP_ARITY
NEIGHBOUR_PROVINCES = 2
MAX_DESIGNATED = 2
MIN_WITNESSES = 3
MAX_WITNESSES = 2 + NEIGHBOUR_PROVINCES + MAX_DESIGNATED


@dataclass(frozen=True, order=True)
class OverlayMember:
    """One member as the federation document lists it (the fields these rules read)."""

    name: str
    region: str
    address: str = ""


@dataclass(frozen=True)
class WitnessSet:
    """Who cosigns one origin's checkpoints, and how many make it confirmed."""

    origin: str  # the member whose log it is
    witnesses: tuple[str, ...]  # member names, in the rule's order
    quorum: int


def _h(*parts: str) -> bytes:
    return hashlib.sha256("\x00".join(parts).encode()).digest()


def _checked(members: Iterable[OverlayMember]) -> tuple[OverlayMember, ...]:
    return _checked_tuple(tuple(members))


@lru_cache(maxsize=8)
def _checked_tuple(members: tuple[OverlayMember, ...]) -> tuple[OverlayMember, ...]:
    out = tuple(sorted(members, key=lambda m: (m.region, m.name)))
    names = [m.name for m in out]
    if len(set(names)) != len(names):
        raise ValidationError("members", "two members share a name", "")
    for m in out:
        regions.validate_region(m.region, f"members[{m.name}].region")
    return out


@lru_cache(maxsize=8)
def _parents(ordered: tuple[OverlayMember, ...]) -> dict[str, str | None]:
    """Each member's parent: the member of the nearest enclosing region.

    Several members in one region: the first by name is that region's node and
    the others hang under it.
    """
    holder: dict[str, str] = {}
    for m in ordered:
        holder.setdefault(m.region, m.name)
    out: dict[str, str | None] = {}
    for m in ordered:
        chain = regions.ancestors(m.region)
        if holder[m.region] != m.name:
            chain = [m.region, *chain]
        out[m.name] = next((holder[r] for r in chain if r in holder), None)
    return out


@lru_cache(maxsize=8)
def _overlay(ordered: tuple[OverlayMember, ...]) -> dict[str, tuple[str, ...]]:
    names = [m.name for m in ordered]
    adj: dict[str, set[str]] = {n: set() for n in names}

    def link(a: str, b: str) -> None:
        if a != b:
            adj[a].add(b)
            adj[b].add(a)

    rings = [names] + [
        sorted(names, key=lambda n, i=i: _h("ring", str(i), n)) for i in range(1, HASHED_RINGS + 1)
    ]
    for ring in rings:
        for i, n in enumerate(ring):
            link(n, ring[(i + 1) % len(ring)])

    groups: dict[str | None, list[str]] = {}
    for name, par in _parents(ordered).items():
        groups.setdefault(par, []).append(name)  # ring order: _parents keeps it
    k = HEAP_ARITY
    for par, kids in groups.items():
        for j, kid in enumerate(kids):
            if par is None:
                if j:
                    link(kid, kids[(j - 1) // k])
            elif j < k:
                link(kid, par)
            else:
                link(kid, kids[j // k - 1])
    return {n: tuple(sorted(adj[n])) for n in names}


def overlay(members: Iterable[OverlayMember]) -> dict[str, tuple[str, ...]]:
    """The whole peering graph: member name -> its peers' names (sorted).

    Raises:
        ValidationError: a member's region is not a GB/T 2260 code, or two
            members share a name.
    """
    return dict(_overlay(_checked(members)))


def hop_distances(graph: Mapping[str, Sequence[str]], start: str) -> dict[str, int]:
    """Hops from ``start`` to every member it reaches in ``graph`` (breadth first): how
    far an entry relayed hop by hop travels, for tests, benches and SCALE.md."""
    dist = {start: 0}
    todo = deque([start])
    while todo:
        x = todo.popleft()
        for y in graph[x]:
            if y not in dist:
                dist[y] = dist[x] + 1
                todo.append(y)
    return dist


def neighbours(members: Iterable[OverlayMember], me: str) -> tuple[str, ...]:
    """The members ``me`` peers with (at most ``MAX_DEGREE``, never itself).

    Raises:
        ValidationError: as :func:`overlay`, or ``me`` is not a member.
    """
    graph = _overlay(_checked(members))
    if me not in graph:
        raise ValidationError("me", "not a member of the federation", me)
    return graph[me]


def _province_hops(start: str) -> dict[str, int]:
    """Border hops from the province of ``start`` to every province."""
    return _hops_from(regions.province_of(start))


@lru_cache(maxsize=64)
def _hops_from(first: str) -> dict[str, int]:
    dist = {first: 0}
    todo = deque([first])
    while todo:
        p = todo.popleft()
        for q in regions.adjacent_provinces(p):
            if q not in dist:
                dist[q] = dist[p] + 1
                todo.append(q)
    return dist


@lru_cache(maxsize=8)
def _heads(ordered: tuple[OverlayMember, ...]) -> dict[str, str]:
    """The head of each province: its member nearest the province's root."""
    heads: dict[str, str] = {}
    for m in sorted(ordered, key=lambda m: (len(regions.ancestors(m.region)), m.region, m.name)):
        heads.setdefault(regions.province_of(m.region), m.name)
    return heads


def witnesses(
    members: Iterable[OverlayMember], origin: str, designated: Sequence[str] = ()
) -> WitnessSet:
    """The witness set and quorum of the log run by member ``origin``.

    Args:
        members: the federation's members.
        origin: the name of the member whose log it is.
        designated: witnesses the federation's policy names for every origin
            (at most ``MAX_DESIGNATED`` of them are used, in this order; names
            that are not members are skipped).

    Raises:
        ValidationError: as :func:`overlay`, or ``origin`` is not a member.
    """
    ordered = _checked(members)
    by_name = {m.name: m for m in ordered}
    if origin not in by_name:
        raise ValidationError("origin", "not a member of the federation", origin)
    me = by_name[origin]
    parents = _parents(ordered)
    hops = _province_hops(me.region)

    heads = _heads(ordered)

    chosen: list[str] = []

    def add(name: str | None) -> None:
        if name is not None and name != origin and name not in chosen:
            chosen.append(name)

    add(parents[origin])
    own_province = regions.province_of(me.region)
    add(heads.get(own_province))
    others = sorted(
        (p for p in heads if p != own_province),
        key=lambda p: (hops.get(p, 99), _h("witness", origin, p)),
    )
    for p in others[:NEIGHBOUR_PROVINCES]:
        add(heads[p])
    used = 0
    for name in designated:
        if used >= MAX_DESIGNATED:
            break
        if name in by_name and name != origin and name not in chosen:
            add(name)
            used += 1
    if len(chosen) < MIN_WITNESSES:  # a small federation: the nearest others
        rest = sorted(
            (m for m in ordered if m.name != origin and m.name not in chosen),
            key=lambda m: (
                hops.get(regions.province_of(m.region), 99),
                _h("witness", origin, m.name),
            ),
        )
        for m in rest[: MIN_WITNESSES - len(chosen)]:
            add(m.name)
    return WitnessSet(origin, tuple(chosen), len(chosen) // 2 + 1 if chosen else 0)
