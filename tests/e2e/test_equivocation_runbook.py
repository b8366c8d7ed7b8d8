"""Runbook "a peer equivocated": read the evidence, export it, unfreeze after the decision.

A hostile relay serves a second tree head signed with Zhejiang's real key; Anhui
freezes the origin. The operator exports the evidence (both signed notes), and
once the federation has decided, stops the node and unfreezes the origin: kept
(Anhui's copy is the honest log) and later dropped and fetched anew. Each time
the node catches up with Zhejiang's log and the evidence stays on file.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from harness import brandex, wait_until
from hostile import HostilePeer, ScriptedLog, forge_checkpoint, signing_key

pytestmark = pytest.mark.e2e

ZJ = "yrd/330000"


def test_evidence_is_exported_and_the_origin_unfrozen_after_the_decision(
    federation_factory, shared_certs
) -> None:
    fed = federation_factory(
        {"zhejiang": "330000", "anhui": "340000"},
        {"anhui": ["zhejiang"]},
        sync_interval=2.0,
    )
    cfg = fed.configs["anhui"]
    with HostilePeer(shared_certs, "shanghai") as evil:
        fed.add_peer("anhui", evil.address, "310000")
        fed.start_all()
        size = fed.issue("zhejiang", 10)
        wait_until(lambda: fed.sizes("anhui").get(ZJ) == size, what="anhui mirrors zhejiang")
        genuine = fed.heads("anhui")[ZJ]
        forged = forge_checkpoint(
            ZJ, size, bytes(b ^ 0xFF for b in genuine[1]), signing_key(shared_certs, "zhejiang")
        )
        evil.serve(ZJ, ScriptedLog(forged))
        wait_until(lambda: fed.status("anhui").evidence, what="anhui to freeze yrd/330000")

        # Read it, and export it for the federation (both notes exactly as signed).
        brandex("node", "status", config=cfg, expect=1)
        exported = brandex("node", "evidence", "--format", "json", config=cfg, expect=1)
        doc = json.loads(exported.stdout)
        assert [(e["origin"], e["note_b"]) for e in doc] == [(ZJ, forged)]
        assert doc[0]["note_a"] and doc[0]["source"] == evil.address

        # A running node's database is not touched.
        busy = brandex("node", "unfreeze", "--config", str(cfg), ZJ, "--decision", "x", expect=1)
        assert "in use" in busy.stderr
    # The hostile relay is gone (the federation removed it); zhejiang went on.
    grown = fed.issue("zhejiang", 5)
    fed.stop("anhui")
    kept = brandex(
        "node",
        "unfreeze",
        "--config",
        str(cfg),
        ZJ,
        "--decision",
        "yrd 2026-17: keep",
        "--format",
        "json",
        expect=0,
    )
    assert json.loads(kept.stdout)["evidence_resolved"] == 1
    fed.start("anhui")
    wait_until(lambda: fed.sizes("anhui").get(ZJ) == grown, what="anhui syncs yrd/330000 again")
    assert fed.heads("anhui")[ZJ] == fed.heads("zhejiang")[ZJ]
    assert not fed.status("anhui").evidence  # resolved: no longer an alarm ...
    brandex("node", "status", config=cfg, expect=0)
    conn = sqlite3.connect(f"file:{fed.database('anhui')}?mode=ro", uri=True, timeout=30)
    try:  # ... but kept, with the decision
        rows = conn.execute("SELECT note_b, resolution FROM evidence").fetchall()
    finally:
        conn.close()
    assert rows == [(forged, "yrd 2026-17: keep")]

    # The other decision: this copy is not to be trusted; drop it and fetch it anew.
    fed.stop("anhui")
    brandex(
        "node",
        "unfreeze",
        "--config",
        str(cfg),
        "yrd/340000",
        "--decision",
        "x",
        "--refetch",
        expect=1,
    )  # never the node's own log
    dropped = brandex(
        "node",
        "unfreeze",
        "--config",
        str(cfg),
        ZJ,
        "--decision",
        "yrd 2026-18: refetch",
        "--refetch",
        "--format",
        "json",
        expect=0,
    )
    assert json.loads(dropped.stdout)["entries_dropped"] == grown
    fed.start("anhui")
    wait_until(
        lambda: fed.heads("anhui").get(ZJ) == fed.heads("zhejiang")[ZJ],
        what="anhui fetches yrd/330000 anew",
    )
