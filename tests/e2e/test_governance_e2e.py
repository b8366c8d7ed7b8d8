"""Governance with real nodes: a member joins at run time, one leaves, one catches up.

Four members' PKI exists; three found the federation (version 1). Jiangxi
joins (version 2, published while Anhui is offline), Jiangsu is removed
(version 3). Anhui then restarts and walks both versions from its peers;
everyone mirrors Jiangxi; Jiangsu's certificates are refused from version 3
on while its old entries stay. A proposal one signature short, a second
different version 2 (a fork) and a stranger's signature are refused with
evidence kept.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness import brandex, wait_until

from exchange.core import federation as fd

REGIONS = {"zhejiang": "330000", "anhui": "340000", "jiangsu": "320000", "jiangxi": "360000"}
FOUNDERS = ("anhui", "jiangsu", "zhejiang")


def _use_document(config: Path, document: Path) -> None:
    """Top-level keys come before any table in TOML: put it first."""
    text = config.read_text()
    config.write_text(f'federation_document = "{document}"\n' + text)


def _version(fed, name: str) -> int:
    return fed.status(name).federation_version


def test_join_leave_and_catch_up(federation_factory, tmp_path: Path) -> None:
    certs = tmp_path / "gov-certs"
    fed = federation_factory(REGIONS, {}, sync_interval=1.0, certs=certs)
    gkey = {n: str(certs / n / "governance.key") for n in REGIONS}
    v1 = tmp_path / "federation-1.json"
    brandex(
        "federation", "init", "--name", "yrd", "--dir", str(certs),
        *(a for n in FOUNDERS for a in ("--member", f"{n}={fed.address(n)}")),
        "--anchor", str(certs / "anchor.pem"),
        "--threshold", "2", "--quorum", "1", "--days", "20", "--out", str(v1),
        expect=0,
    )  # fmt: skip
    for n in ("zhejiang", "anhui"):
        brandex("federation", "sign", str(v1), "--key", gkey[n], expect=0)
    for n in REGIONS:
        _use_document(fed.configs[n], v1)
    for n in FOUNDERS:
        fed.start(n, wait=False)
    for n in FOUNDERS:
        fed.wait_ready(n)

    # It expires within 30 days: every answer says so, node status too (exit 0 until then).
    shown = brandex("federation", "show", "--config", str(fed.configs["anhui"]), expect=0)
    assert "federation document yrd version 1 expires on" in shown.stderr
    status = brandex("node", "status", "--config", str(fed.configs["anhui"]), expect=0)
    assert "!!! federation document yrd version 1 expires on" in status.stdout

    # Peers come from the document: no [[peers]] in any config.
    fed.issue("jiangsu", 2)
    for n in ("zhejiang", "anhui"):
        wait_until(lambda n=n: fed.sizes(n).get("yrd/320000") == 3, what=f"{n} mirrors jiangsu")
    fed.stop("anhui")  # offline across the next two versions

    # Version 2: Jiangxi joins. One signature short is refused with the count.
    v2 = tmp_path / "federation-2.json"
    brandex(
        "federation", "propose", str(v1), "--add", str(certs / "jiangxi"),
        "--address", f"jiangxi={fed.address('jiangxi')}", "--out", str(v2),
        expect=0,
    )  # fmt: skip
    zj = fed.configs["zhejiang"]
    brandex("federation", "sign", str(v2), "--key", gkey["zhejiang"], expect=0)
    short = brandex("federation", "publish", str(v2), config=zj, expect=1)
    assert "1 valid signature(s) from version 1's members" in short.stderr
    assert "1 missing" in short.stderr
    stranger = tmp_path / "stranger.json"
    brandex("federation", "sign", str(v2), "--key", gkey["jiangxi"], "--out", str(stranger))
    brandex("federation", "sign", str(stranger), "--key", gkey["anhui"], expect=0)
    brandex("federation", "publish", str(stranger), config=zj, expect=0)  # jiangxi is in v2
    assert _version(fed, "zhejiang") == 2

    # The same version again, and a different version 2 (a fork), are refused.
    again = brandex("federation", "publish", str(stranger), config=zj, expect=1)
    assert "already accepted" in again.stderr
    fork = tmp_path / "fork-2.json"
    brandex("federation", "propose", str(v1), "--threshold", "3", "--out", str(fork), expect=0)
    for n in ("zhejiang", "anhui"):
        brandex("federation", "sign", str(fork), "--key", gkey[n], expect=0)
    forked = brandex("federation", "publish", str(fork), config=zj, expect=1)
    assert "fork of governance" in forked.stderr
    kinds = {e.kind for e in fed.status("zhejiang").governance_evidence}
    assert "fork" in kinds

    # Jiangxi's node starts from version 1 and learns version 2 from its peers.
    fed.start("jiangxi")
    wait_until(lambda: _version(fed, "jiangxi") == 2, what="jiangxi accepts version 2")

    # Version 3: Jiangsu leaves.
    v3 = tmp_path / "federation-3.json"
    brandex("federation", "propose", str(stranger), "--remove", "jiangsu", "--out", str(v3))
    for n in ("zhejiang", "anhui"):
        brandex("federation", "sign", str(v3), "--key", gkey[n], expect=0)
    brandex("federation", "publish", str(v3), config=zj, expect=0)
    verified = brandex(
        "federation", "verify", "--bootstrap", str(v1), str(stranger), str(v3),
        "--format", "json", expect=0,
    )  # fmt: skip
    assert [r["result"] for r in json.loads(verified.stdout)] == ["pinned", "valid", "valid"]

    # Anhui comes back and walks versions 2 and 3.
    fed.start("anhui")
    wait_until(lambda: _version(fed, "anhui") == 3, what="anhui catches up two versions")
    wait_until(lambda: _version(fed, "jiangxi") == 3, what="jiangxi accepts version 3")

    # The new member's log (its key announcement) is mirrored by everyone.
    for n in ("zhejiang", "anhui"):
        wait_until(lambda n=n: fed.sizes(n).get("yrd/360000") == 1, what=f"{n} mirrors jiangxi")

    # The departed member is refused, its old entries stay.
    refused = brandex(
        "node", "status", "--node", fed.address("zhejiang"), config=fed.configs["jiangsu"]
    )
    assert refused.returncode != 0
    assert "left the federation" in refused.stderr
    assert fed.sizes("anhui")["yrd/320000"] == 3
    peers = {p.region for p in fed.status("zhejiang").peers}
    assert "320000" not in peers and "360000" in peers

    # Each published version is an entry in the publisher's log.
    doc = fd.parse_document(v3.read_bytes())
    assert doc.departure("320000") is not None
    zj_log = fed.sizes("zhejiang")["yrd/330000"]
    assert zj_log == 3  # key announcement + versions 2 and 3

    # An auditor reads the publisher's log: both logged versions follow the chain.
    audited = brandex(
        "audit", "log", "--config", str(zj), "--origin", "yrd/330000",
        "--format", "json", "--workers", "0",
    )  # fmt: skip
    report = json.loads(audited.stdout)
    assert report["origins"]["yrd/330000"]["kinds"].get("federation_update") == 2
    assert not [i for i in report["issues"] if i["kind"] == "governance"], report["issues"]

    # The departed member's entries, signed while it was a member, still verify.
    departed = brandex(
        "audit", "log", "--config", str(fed.configs["anhui"]), "--origin", "yrd/320000",
        "--format", "json", "--workers", "0",
    )  # fmt: skip
    report = json.loads(departed.stdout)
    assert report["origins"]["yrd/320000"]["kinds"].get("recognition") == 2
    assert report["clean"], report["issues"]
