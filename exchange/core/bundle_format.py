"""The ``brandex.bundle/v1`` file: what a bundle holds and its structural parse.

:func:`parse_bundle` checks shape only (types, bounds, origins in one
federation, no entry twice) and raises :class:`FormatError` naming the field;
nothing here is trusted until :mod:`exchange.core.bundle` has verified it.
``docs/bundle.schema.json`` describes the same layout for other tools.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from exchange.core.errors import FormatError
from exchange.core.origin import parse_origin

#: Value of the bundle's ``format`` field.
FORMAT = "brandex.bundle/v1"

RELATED_TYPES = frozenset(
    {"status_change", "infringement_case", "case_action", "accession", "withdrawal"}
)
KEY_TYPES = frozenset({"key_announcement", "key_revocation"})


#: Bounds on what one bundle may carry, so a hostile file cannot make us work forever.
_MAX_RELATED = 10_000
_MAX_CHAIN = 8


@dataclass
class Item:
    """One entry of the bundle (the record or a related entry), as given."""

    type: str
    origin: str
    index: int
    leaf: bytes
    payload: Any
    tlog_proof: str
    chain_pem: list[str] | None
    vkey: str | None
    context: bool = False  # carried for the rules only, not about the record

    @property
    def subject(self) -> str:
        what = "record" if self.type == "recognition" else self.type
        return f"{what} {self.origin}#{self.index}"


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise FormatError(what)


def _origin_parts(origin: object, what: str) -> tuple[str, str]:
    _need(isinstance(origin, str), f"{what} must be a string")
    assert isinstance(origin, str)
    try:
        o = parse_origin(origin)
    except FormatError as exc:
        raise FormatError(f"{what}: {exc}") from None
    return o.federation, o.region


def _pem_list(value: object, what: str) -> list[str]:
    _need(
        isinstance(value, list)
        and 1 <= len(value) <= _MAX_CHAIN
        and all(isinstance(p, str) and p for p in value),
        f"{what} must be a list of 1 to {_MAX_CHAIN} PEM strings",
    )
    return list(value)  # type: ignore[arg-type]


def _item(
    d: object, what: str, *, type_: str | None = None, types: frozenset[str] = RELATED_TYPES
) -> Item:
    _need(isinstance(d, dict), f"{what} must be an object")
    assert isinstance(d, dict)
    t = type_ if type_ is not None else d.get("type")
    _need(
        isinstance(t, str) and t in types | {"recognition"},
        f"{what}.type must be one of {sorted(types)}",
    )
    _origin_parts(d.get("origin"), f"{what}.origin")
    index = d.get("index")
    _need(
        isinstance(index, int) and not isinstance(index, bool) and index >= 0,
        f"{what}.index must be a whole number",
    )
    leaf = d.get("leaf")
    _need(isinstance(leaf, str) and leaf.isascii(), f"{what}.leaf must be an ASCII string")
    proof = d.get("tlog_proof")
    _need(isinstance(proof, str), f"{what}.tlog_proof must be a string")
    chain = d.get("certificate_chain_pem")
    chain_pem = None if chain is None else _pem_list(chain, f"{what}.certificate_chain_pem")
    vkey = d.get("vkey")
    _need(vkey is None or isinstance(vkey, str), f"{what}.vkey must be a string")
    return Item(
        type=t,  # type: ignore[arg-type]
        origin=d["origin"],
        index=index,  # type: ignore[arg-type]
        leaf=leaf.encode("ascii"),  # type: ignore[union-attr]
        payload=d.get("payload"),
        tlog_proof=proof,  # type: ignore[arg-type]
        chain_pem=chain_pem,
        vkey=vkey,  # type: ignore[arg-type]
    )


@dataclass
class Parsed:
    origin: str
    federation: str
    issuer: str
    record_id: str
    items: list[Item]
    witness_chains: dict[str, list[str]]
    log_chains: dict[str, list[str]]
    vkeys: list[str]
    key_entries: list[Item] = field(default_factory=list)
    context: list[Item] = field(default_factory=list)


def parse_bundle(doc: object) -> Parsed:
    _need(isinstance(doc, dict), "a bundle must be a JSON object")
    assert isinstance(doc, dict)
    _need(doc.get("format") == FORMAT, f"format must be {FORMAT!r}, got {doc.get('format')!r}")
    federation, issuer = _origin_parts(doc.get("origin"), "origin")
    origin: str = doc["origin"]
    _need(doc.get("issuer", issuer) == issuer, f"issuer must be the origin's region {issuer}")
    record_id = doc.get("record_id")
    _need(isinstance(record_id, str) and bool(record_id), "record_id must be a non-empty string")
    record = _item(doc, "bundle", type_="recognition")
    _need(record.origin == origin, "the record's origin is the bundle's origin")
    _need(record.chain_pem is not None, "certificate_chain_pem is required")

    def entries(name: str, types: frozenset[str]) -> list[Item]:
        """The bundle's list ``name``: bounded, each entry of ``types`` and this federation."""
        docs = doc.get(name, [])
        _need(
            isinstance(docs, list) and len(docs) <= _MAX_RELATED,
            f"{name} must be a list of at most {_MAX_RELATED} entries",
        )
        out = [_item(d, f"{name}[{i}]", types=types) for i, d in enumerate(docs)]
        for it in out:
            fed, _ = _origin_parts(it.origin, "origin")
            _need(fed == federation, f"entry {it.subject} is from another federation than {origin}")
        return out

    items = [record, *entries("related", RELATED_TYPES)]
    seen: set[tuple[str, int]] = set()
    for it in items:
        key = (it.origin, it.index)
        _need(key not in seen, f"entry {it.origin}#{it.index} appears twice")
        seen.add(key)
        _need(
            it.chain_pem is not None or it.origin == origin,
            f"{it.subject} is from another origin and needs its certificate_chain_pem",
        )

    def chains(name: str) -> dict[str, list[str]]:
        value = doc.get(name, {})
        _need(isinstance(value, dict), f"{name} must be an object {{origin: [PEM, ...]}}")
        out = {}
        for o, pems in value.items():
            fed, _ = _origin_parts(o, f"{name} key")
            _need(fed == federation, f"{name} names {o}, which is not in federation {federation}")
            out[o] = _pem_list(pems, f"{name}[{o!r}]")
        return out

    vkeys = doc.get("vkeys", [])
    _need(
        isinstance(vkeys, list) and all(isinstance(v, str) for v in vkeys),
        "vkeys must be a list of strings",
    )
    key_entries = entries("key_entries", KEY_TYPES)
    for it in key_entries:
        _need(it.type in KEY_TYPES, f"{it.subject}: key_entries hold key entries only")
    context = entries("context", RELATED_TYPES)
    for it in context:
        it.context = True
        _need(it.chain_pem is not None, f"{it.subject} needs its certificate_chain_pem")
    seen_all = {(it.origin, it.index) for it in items}
    for it in context:
        _need((it.origin, it.index) not in seen_all, f"entry {it.subject} appears twice")
        seen_all.add((it.origin, it.index))
    return Parsed(
        origin=origin,
        federation=federation,
        issuer=issuer,
        record_id=record_id,  # type: ignore[arg-type]
        items=items,
        witness_chains=chains("witness_chains"),
        log_chains=chains("log_chains"),
        vkeys=vkeys,
        key_entries=key_entries,
        context=context,
    )
