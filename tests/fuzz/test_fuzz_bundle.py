"""Fuzz ``brandex.bundle/v1`` documents as ``brandex audit verify`` reads them.

``verify_bundle`` must turn every hostile document into a report (a failed
check with its reason), never raise; a report that says "valid" may only
rest on leaves the issuers really logged. The text-level tests go through the
same path as the CLI (bytes -> ``json.loads`` -> ``verify_bundle``), and a
smaller budget runs the CLI itself, which must exit 0 or 1 with a report.
"""

from __future__ import annotations

import copy
import json
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from brandex_fuzz import (
    TOKENS,
    count,
    fuzz,
    json_values,
    mutated_bytes,
    mutated_text,
    raw_bytes,
    world,
)
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from exchange._proto.brandex.v1 import entries_pb2 as pb
from exchange.cli.main import cli
from exchange.core import merkle
from exchange.core.bundle import FORMAT, Report, verify_bundle
from exchange.core.checkpoint import Checkpoint, sign_checkpoint
from exchange.core.dsse import sign_envelope
from exchange.core.note import Ed25519NoteSigner, format_note
from exchange.core.tlogproof import TlogProof, format_tlog_proof
from exchange.node.bundles import decode_entry

W = world()
TEXTS = [W.bundle_json("anhui"), W.bundle_json("zhejiang")]
DOCS = [json.loads(t) for t in TEXTS]
NOW = datetime.now(UTC)
GENUINE = {
    env.decode("ascii")
    for ledger in W.ledgers.values()
    for o in ledger.store.origins()
    for env in ledger.store.envelopes(o.origin, 0, o.size)
}


def _verify(doc: object, region: str | None = "340100") -> Report:
    report = verify_bundle(
        doc,
        W.anchors,
        min_cosignatures=2,
        on=NOW.date(),
        region=region,
        now=NOW,
        decode_entry=decode_entry,
    )
    assert isinstance(report, Report)
    report.to_text()
    json.dumps(report.to_dict(), ensure_ascii=False)
    if report.valid:
        leaves = [doc["leaf"], *(r["leaf"] for r in doc.get("related", []))]
        assert all(leaf in GENUINE for leaf in leaves), "a valid bundle must rest on real leaves"
    return report


# ------------------------------------------------------------ structural


def _paths(value: object) -> list[tuple]:
    """Every path into a JSON value (iteratively, to a bounded depth)."""
    out: list[tuple] = []
    stack: list[tuple[tuple, object]] = [((), value)]
    while stack:
        path, v = stack.pop()
        out.append(path)
        if len(path) >= 12:
            continue
        if isinstance(v, dict):
            stack.extend(((*path, k), c) for k, c in v.items())
        elif isinstance(v, list):
            stack.extend(((*path, i), c) for i, c in enumerate(v))
    return out


def _get(doc: object, path: tuple) -> object:
    for p in path:
        doc = doc[p]  # type: ignore[index]
    return doc


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def _set(doc: object, path: tuple, new: object) -> object:
    if not path:
        return new
    _get(doc, path[:-1])[path[-1]] = new  # type: ignore[index]
    return doc


@st.composite
def mutated_docs(draw) -> object:
    doc = copy.deepcopy(draw(st.sampled_from(DOCS)))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        old = _get(doc, path)
        op = draw(
            st.sampled_from(["value", "text", "delete", "swap", "dup", "int", "type", "add-key"])
        )
        if op == "text" and isinstance(old, str) and old:
            new = draw(mutated_text([old], max_ops=3, surrogates=True))
        elif op == "swap":
            new = copy.deepcopy(_get(doc, draw(st.sampled_from(paths))))
        elif op == "int":
            new = draw(
                st.sampled_from(
                    [0, -1, 1, 2**63, 2**64, 10**400, True, 1.5, float("nan"), "0", None]
                )
            )
        elif op == "type":
            new = draw(st.sampled_from([None, [], {}, "", 0, [old], {"x": old}]))
        else:
            new = draw(json_values())
        parent = _get(doc, path[:-1]) if path else None
        if op == "delete" and path:
            del parent[path[-1]]  # type: ignore[union-attr]
        elif op == "dup" and isinstance(parent, list):
            parent.insert(path[-1], copy.deepcopy(old))
        elif op == "add-key" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["format", "related", "vkeys", "x", *TOKENS[:8]]))] = new
        else:
            doc = _set(doc, path, new)
    if draw(st.integers(0, 9)) == 0:
        # As deep as json.loads lets a document be (the CLI parses it a few frames in).
        depth = draw(st.sampled_from([100, 500, 900, 960, 980]))
        doc = _set(doc, draw(st.sampled_from(_paths(doc))), _nested(depth))
    return doc


@fuzz(weight=0.25)
@given(mutated_docs(), st.sampled_from(["340100", None, "330000", "999999"]))
def test_verify_bundle_structural(doc: object, region: str | None) -> None:
    count("bundle.verify_bundle(structural mutation)")
    _verify(doc, region)


# ------------------------------------------------------------------ text


def _load_like_the_cli(raw: bytes) -> object | None:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None  # the CLI reports "format: not a JSON document" (see test below)


@fuzz(weight=0.25)
@given(st.one_of(mutated_bytes([t.encode() for t in TEXTS], max_ops=3), raw_bytes()))
def test_verify_bundle_text(raw: bytes) -> None:
    count("bundle.verify_bundle(text mutation)")
    doc = _load_like_the_cli(raw)
    if doc is not None:
        _verify(doc)


# ------------------------------------------------------------------- CLI


ANCHOR = W.certs / "anchor.pem"


def _deep_payload(depth: int) -> bytes:
    """A bundle whose ``payload`` copy is nested about as deep as ``json.loads`` allows."""
    deep = "[" * depth + "]" * depth
    return TEXTS[0].replace('"payload": {', f'"payload": {deep}, "x": {{', 1).encode()


@fuzz(weight=0.02)
@given(
    st.one_of(
        mutated_bytes([t.encode() for t in TEXTS], max_ops=3),
        st.sampled_from([b"[" * 5000, b'{"a":' * 3000, b"\xff\xfe", b"", b"null"]),
        st.integers(950, 1005).map(_deep_payload),
    )
)
def test_audit_verify_cli(raw: bytes) -> None:
    """``brandex audit verify``: exit 0 (valid) or 1 (invalid, with a report), never a crash."""
    count("cli audit verify(text mutation)")
    runner = CliRunner()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "b.json"
        path.write_bytes(raw)
        result = runner.invoke(
            cli, ["audit", "verify", str(path), "--anchors", str(ANCHOR), "--format", "json"]
        )
    assert result.exit_code in (0, 1), (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit | None)
    report = json.loads(result.stdout)
    assert report["valid"] == (result.exit_code == 0)


# --------------------------------------------------- a hostile, certified issuer

# Members may sign nonsense: a bundle of validly signed, validly proven entries
# whose fields are hostile reaches the status and recognition computations.
_SIGNERS = {
    "yrd/330000": W.signing_keys["zhejiang"],
    "yrd/340000": W.signing_keys["anhui"],
}
_CHAINS = {
    "yrd/330000": [W.signing_pems["zhejiang"]],
    "yrd/340000": [W.signing_pems["anhui"]],
}
_dates = st.one_of(
    st.dates().map(date.isoformat),
    st.sampled_from(["", "0001-01-01", "9999-12-31", "2024-02-29", "2023-02-29", "2024-1-5"]),
)
_small = st.one_of(st.integers(0, 12), st.integers(-(2**31), 2**31 - 1))


@st.composite
def _recognition(draw) -> pb.Recognition:
    rec = W.recognition()
    for name in ("recognised_on", "valid_from", "valid_until"):
        if draw(st.booleans()):
            setattr(rec, name, draw(_dates))
    if draw(st.booleans()):
        rec.kind = draw(_small)
    if draw(st.booleans()):
        rec.brand_name = draw(st.text(max_size=10))
    return rec


@st.composite
def _related(draw) -> tuple[str, str, object]:
    kind = draw(st.sampled_from(["status_change", "accession", "withdrawal"]))
    origin = draw(st.sampled_from(sorted(_SIGNERS)))
    region = origin[-6:]
    if kind == "status_change":
        origin = "yrd/330000"
        msg = pb.StatusChange(
            record_id="zj-1",
            new_status=draw(_small),
            reason=draw(_small),
            effective_on=draw(_dates),
            new_valid_until=draw(_dates),
        )
        if draw(st.booleans()):
            msg.corrected.CopyFrom(draw(_recognition()))
    elif kind == "accession":
        msg = pb.Accession(
            agreement_id=draw(st.sampled_from(["yrd-2003", "", "x"])),
            covered_kinds=draw(st.lists(_small, max_size=3)),
            effective_from=draw(_dates),
            effective_until=draw(_dates),
            region=region,
        )
    else:
        msg = pb.Withdrawal(
            agreement_id=draw(st.sampled_from(["yrd-2003", "", "x"])),
            region=region,
            effective_on=draw(_dates),
        )
    return kind, origin, msg


def _signed_bundle(record: pb.Recognition, related: list[tuple[str, str, object]]) -> dict:
    issued = (NOW - timedelta(minutes=1)).isoformat(timespec="seconds")
    entries = [("recognition", "yrd/330000", record), *related]
    leaves: dict[str, list[bytes]] = {o: [] for o in _SIGNERS}
    placed = []
    for kind, origin, msg in entries:
        entry = pb.Entry(federation="yrd", region=origin[-6:], issued_at=issued)
        getattr(entry, kind).CopyFrom(msg)
        env = sign_envelope(entry.SerializeToString(), _SIGNERS[origin])
        placed.append((kind, origin, len(leaves[origin]), env, entry))
        leaves[origin].append(env)
    notes, stores = {}, {}
    for origin, envs in leaves.items():
        if not envs:
            continue
        store = merkle.MemoryHashStore()
        store.append([merkle.leaf_hash(e) for e in envs])
        cp = Checkpoint(origin, len(envs), merkle.root_hash(len(envs), store))
        notes[origin] = format_note(
            sign_checkpoint(cp, Ed25519NoteSigner(origin, _SIGNERS[origin]))
        )
        stores[origin] = store
    items = []
    for kind, origin, idx, env, entry in placed:
        size = len(leaves[origin])
        proof = merkle.inclusion_proof(idx, size, stores[origin])
        item = {
            "type": kind,
            "origin": origin,
            "index": idx,
            "leaf": env.decode("ascii"),
            "payload": decode_entry(entry.SerializeToString()),
            "tlog_proof": format_tlog_proof(TlogProof(idx, proof, notes[origin])),
            "certificate_chain_pem": _CHAINS[origin],
        }
        if origin != "yrd/330000":
            item["vkey"] = Ed25519NoteSigner(origin, _SIGNERS[origin]).vkey_string()
        items.append(item)
    doc = {"format": FORMAT, "issuer": "330000", "record_id": "zj-1", **items[0]}
    del doc["type"]
    doc["related"] = items[1:]
    doc["vkeys"] = [Ed25519NoteSigner(o, _SIGNERS[o]).vkey_string() for o in notes]
    return doc


@fuzz(weight=0.1)
@given(
    _recognition(),
    st.lists(_related(), max_size=4),
    st.one_of(st.dates(), st.just(NOW.date())),
    st.sampled_from(["340100", "330106", "320500", None]),
)
def test_verify_bundle_signed_hostile_fields(record, related, on, region) -> None:
    """Entries a certified member really signed and logged, with hostile field values."""
    count("bundle.verify_bundle(signed hostile entries)")
    doc = _signed_bundle(record, related)
    report = verify_bundle(
        doc,
        W.anchors,
        min_cosignatures=0,
        on=on,
        region=region,
        now=NOW,
        decode_entry=decode_entry,
    )
    report.to_text()
    json.dumps(report.to_dict(), ensure_ascii=False)
    # The signatures and proofs are genuine: whatever fails, it is not the crypto.
    failure = report.failure
    assert failure is None or failure.name in {"payload-region", "status", "recognition"}, failure
