"""The join bench's federation, generated once and cached: 3,200 origins, 10^6 entries.

Every origin is real: its own Ed25519 signing key with a certificate from the
federation's anchor (GB/T 2260 codes), its log starting with the key
announcement, every entry a signed DSSE envelope, a signed checkpoint at the
end. The logs are written straight into one SQLite file through the store layer
(``Tx.append``, the same rows, tree and registry projections a node writes when
it issues), not through gRPC; the signing runs in the worker processes.

The sizes are skewed as a national federation's would be (``plan``): a few big
provinces, more mid-sized prefectures, many small counties. With the default
3,200 origins and 10^6 entries: 31 provinces of ~12,000 entries, 342 prefectures
of ~1,000 and 2,827 counties of ~100 (37 % / 34 % / 29 % of the entries).

A directory holding a ``manifest.json`` with the same origins and entries is
reused as it is; the generation time is recorded there and reported apart
from the join.
"""

from __future__ import annotations

import json
import time
from collections import deque
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from exchange import pki, pki_issue
from exchange._proto.brandex.v1 import entries_pb2
from exchange.core import x509
from exchange.core.checkpoint import Checkpoint, sign_checkpoint
from exchange.core.note import format_note
from exchange.node.ledger import Ledger
from exchange.node.verify import sign_entries
from exchange.store import Store
from exchange.workers import start_pool

FEDERATION = "yrd"
#: Share of the entries held by each level of the GB/T 2260 hierarchy.
SHARES = {"province": 0.37, "prefecture": 0.34, "county": 0.29}
_SIGN_TASK = 2000  # entries per signing task in a worker


def _regions() -> dict[str, str]:
    """code -> level (province, prefecture, county), in code order."""
    table = json.loads(
        resources.files("exchange.core.data").joinpath("regions.json").read_text("utf-8")
    )
    out = {}
    for code in sorted(table):
        if code.endswith("0000"):
            out[code] = "province"
        elif code.endswith("00"):
            out[code] = "prefecture"
        else:
            out[code] = "county"
    return out


def plan(origins: int, entries: int) -> tuple[dict[str, tuple[str, int]], str]:
    """name -> (region, entries after the key announcement), and the joiner's region.

    All provinces and prefectures are origins, then counties in code order; the
    joiner takes the next county. Each level's share of ``entries`` is spread
    evenly over its origins (the remainder to the first ones). With fewer
    origins than provinces and prefectures, the shares follow the same rule over
    what is there.
    """
    regions = _regions()
    ordered = [c for c, lv in regions.items() if lv != "county"]
    ordered += [c for c, lv in regions.items() if lv == "county"]
    if origins + 1 > len(ordered):
        raise ValueError(f"at most {len(ordered) - 1} origins (one region is the joiner's)")
    chosen, joiner = ordered[:origins], ordered[origins]
    by_level: dict[str, list[str]] = {}
    for c in chosen:
        by_level.setdefault(regions[c], []).append(c)
    weight = sum(SHARES[lv] for lv in by_level)
    counts: dict[str, int] = {}
    given = 0
    levels = list(by_level)
    for n, lv in enumerate(levels):
        codes = by_level[lv]
        share = entries - given if n == len(levels) - 1 else round(entries * SHARES[lv] / weight)
        given += share
        per, extra = divmod(share, len(codes))
        for i, c in enumerate(codes):
            counts[c] = per + (1 if i < extra else 0)
    return {f"o{c}": (c, counts[c]) for c in sorted(chosen)}, joiner


def _accessions(region: str, origin_no: int, n: int) -> list[tuple[str, bytes]]:
    return [
        (
            "accession",
            entries_pb2.Accession(
                agreement_id=f"join-{origin_no}-{j}",
                title="join bench",
                covered_kinds=[2],
                effective_from="2026-01-01",
                region=region,
            ).SerializeToString(),
        )
        for j in range(n)
    ]


def build(root: Path, origins: int, entries: int, servers: int) -> dict:
    """Generate (or reuse) the federation under ``root``; returns the manifest."""
    manifest_path = root / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if (manifest["origins"], manifest["entries"], manifest["servers"]) == (
            origins,
            entries,
            servers,
        ):
            return manifest
        raise ValueError(f"{root} holds another dataset: {manifest_path.read_text()[:200]}")
    root.mkdir(parents=True, exist_ok=True)
    layout, joiner_region = plan(origins, entries)
    names = list(layout)
    # The server nodes run as the biggest origins' issuers: their configured keys sign them.
    node_members = {n: layout[n][0] for n in names[:servers]}
    node_members["joiner"] = joiner_region
    provinces = sorted({r[:2] + "0000" for r, _ in layout.values()} | {joiner_region[:2] + "0000"})
    t0 = time.perf_counter()
    pki.init_federation(root / "certs", FEDERATION, node_members, jurisdictions=provinces)
    keys = pki_issue.certify_origins(
        root / "certs", {n: layout[n][0] for n in names if n not in node_members}
    )
    for n in node_members:
        paths = pki.member_paths(root / "certs", n)
        keys[n] = (pki.load_signing_key(paths.signing_key), paths.signing_cert.read_text())
    keys_s = time.perf_counter() - t0

    anchors = x509.load_pem_chain((root / "certs" / "anchor.pem").read_bytes())
    t0 = time.perf_counter()
    pool = start_pool(2)
    assert pool is not None
    store = Store(root / "served.db")
    # One time for every entry, the key announcements included: on a loaded machine
    # writing the logs takes longer than the clock-skew rule allows a log's time to
    # go back, and an announcement stamped when it is written would be newer than
    # the accessions signed before it.
    at_dt = datetime.now(UTC).replace(microsecond=0)
    at = at_dt.isoformat(timespec="seconds")
    try:
        # Signing tasks run ahead in the workers while this process writes the logs.
        tasks: deque = deque()
        for i, name in enumerate(names):
            region, n = layout[name]
            key = keys[name][0]
            futures = [
                pool.submit(
                    sign_entries,
                    bytes(key),
                    FEDERATION,
                    region,
                    at,
                    _accessions(region, i, min(_SIGN_TASK, n - k)),
                )
                for k in range(0, n, _SIGN_TASK)
            ]
            tasks.append((name, futures))
            while len(tasks) > 8 or (tasks and i == len(names) - 1):
                _write(store, anchors, keys, layout, at_dt, *tasks.popleft())
        while tasks:
            _write(store, anchors, keys, layout, at_dt, *tasks.popleft())
    finally:
        store.close()
        pool.shutdown()
    manifest = {
        "origins": origins,
        "entries": entries,
        "servers": servers,
        "total_entries": entries + origins,  # each log starts with its key announcement
        "layout": {n: list(v) for n, v in layout.items()},
        "nodes": node_members,
        "joiner": "joiner",
        "shares": SHARES,
        "generated_at": at,
        "build_keys_s": round(keys_s, 1),
        "build_logs_s": round(time.perf_counter() - t0, 1),
        "db_mb": round((root / "served.db").stat().st_size / 2**20, 1),
    }
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest


def _write(store: Store, anchors, keys, layout, at: datetime, name: str, futures: list) -> None:
    """One origin's log: the key announcement (``Ledger.bootstrap``), then its entries."""
    region, _ = layout[name]
    key, chain = keys[name]
    ledger = Ledger(
        store,
        federation=FEDERATION,
        region=region,
        signing_key=key,
        signing_chain_pem=[chain],
        anchors=anchors,
        clock=lambda: at,
        witness=False,
    )
    ledger.bootstrap()
    pairs = [p for f in futures for p in f.result()]
    if not pairs:
        return
    entries = [entries_pb2.Entry.FromString(p) for p, _ in pairs]
    envelopes = [e for _, e in pairs]
    with store.write() as tx:
        start = tx.ensure_origin(ledger.origin, region).size
        root = tx.append(ledger.origin, start, envelopes, entries)
        size = start + len(envelopes)
        cp = Checkpoint(ledger.origin, size, root)
        note = format_note(sign_checkpoint(cp, ledger.log_signer))
        tx.accept_checkpoint(ledger.origin, size, root, note, "self")
