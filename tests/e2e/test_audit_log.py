"""``brandex audit log`` over real node processes: a clean federation passes, and a
forged fork (a second real node issuing a different log as the same region, with
a copy of the issuer's key) is reported as a fork with both signed checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from harness import Federation, brandex, free_port, wait_until
from nacl.signing import VerifyKey

from exchange.core import x509
from exchange.core.checkpoint import open_checkpoint
from exchange.core.note import Ed25519NoteVerifier
from exchange.node.config import load_config
from exchange.pki import DEMO_MEMBERS

pytestmark = pytest.mark.e2e

THREE = {n: DEMO_MEMBERS[n] for n in ("zhejiang", "anhui", "jiangsu")}
MESH = {n: [m for m in THREE if m != n] for n in THREE}


def nodes(*pairs: tuple[Federation, str]) -> list[str]:
    out: list[str] = []
    for fed, name in pairs:
        out += ["--node", fed.address(name)]
    return out


def converged(fed: Federation) -> dict[str, int]:
    """Wait until every node holds every member's origin at its issuer's size."""
    want = {fed.origin(n): fed.sizes(n)[fed.origin(n)] for n in fed.members}
    wait_until(
        lambda: all(fed.sizes(n) == want for n in fed.members),
        what=f"every node to hold {want}",
    )
    return want


def test_a_clean_federation_passes(federation_factory, tmp_path: Path) -> None:
    fed = federation_factory(THREE, MESH)
    fed.start_all()
    # More than one download batch (2000) on one origin, so worker processes verify too.
    fed.issue("zhejiang", 2500)
    fed.issue("anhui", 20)
    fed.issue("jiangsu", 20)
    want = converged(fed)
    report = tmp_path / "audit.html"
    done = brandex(
        "audit",
        "log",
        "--config",
        str(fed.configs["anhui"]),
        *nodes(*((fed, n) for n in THREE)),
        "--report",
        str(report),
        "--workers",
        "2",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "CLEAN" in done.stdout
    page = report.read_text("utf-8")
    assert "CLEAN: nothing found" in page
    for origin, size in want.items():
        assert origin in page
        assert f"{origin}: {size} entries" in done.stdout

    # JSON, one origin, one node: counts per kind.
    done = brandex(
        "audit",
        "log",
        "--config",
        str(fed.configs["zhejiang"]),
        "--origin",
        "yrd/330000",
        "--format",
        "json",
        "--workers",
        "0",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    assert doc["clean"] and list(doc["origins"]) == ["yrd/330000"]
    assert doc["origins"]["yrd/330000"]["kinds"] == {"key_announcement": 1, "recognition": 2500}

    # The report in Chinese names the members (not their addresses) and is sealed.
    zh_report = tmp_path / "audit-zh.html"
    done = brandex(
        "--lang", "zh", "audit", "log", "--config", str(fed.configs["anhui"]),
        *nodes((fed, "anhui"), (fed, "zhejiang")), "--origin", "yrd/330000",
        "--report", str(zh_report), "--workers", "0",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    page = zh_report.read_text("utf-8")
    assert "全量日志审计报告" in page and "正常：未发现任何问题。" in page
    assert "anhui, 安徽省 (340000)" in page and "zhejiang, 浙江省 (330000)" in page
    assert page.count(fed.address("anhui")) == 1  # only in the table of nodes asked
    assert "SHA-256" in page and "brandex" in page
    sealed = brandex("audit", "digest", str(zh_report))
    assert sealed.returncode == 0, sealed.stdout + sealed.stderr

    # Usage errors exit 2; a node that does not answer exits 3.
    cfg = str(fed.configs["anhui"])
    assert brandex("audit", "log", "--config", cfg, "--origin", "yrd/999999").returncode == 2
    assert brandex("audit", "log", "--config", cfg, "--origin", "nonsense").returncode == 2
    gone = brandex("audit", "log", "--config", cfg, "--node", f"127.0.0.1:{free_port()}")
    assert gone.returncode == 3, gone.stdout + gone.stderr
    assert "unreachable" in gone.stderr


def test_a_forged_fork_is_reported_with_both_checkpoints(federation_factory) -> None:
    fed = federation_factory(
        {"zhejiang": "330000", "anhui": "340000"},
        {"zhejiang": ["anhui"], "anhui": ["zhejiang"]},
    )
    # A second real node for Zhejiang: same certified key (the shared PKI), its own
    # database, no peers. Whatever it issues is a validly signed, conflicting log.
    twin = federation_factory({"zhejiang": "330000"}, {})
    fed.start_all()
    twin.start("zhejiang")
    fed.issue("zhejiang", 3)
    twin.issued["zhejiang"] = 50  # other records than the real issuer's
    twin.issue("zhejiang", 5)
    converged(fed)
    origin = "yrd/330000"
    heads = {
        "real": fed.heads("zhejiang")[origin],
        "twin": twin.heads("zhejiang")[origin],
    }
    assert heads["real"] != heads["twin"]

    done = brandex(
        "audit",
        "log",
        "--config",
        str(fed.configs["anhui"]),
        *nodes((fed, "zhejiang"), (fed, "anhui"), (twin, "zhejiang")),
        "--origin",
        origin,
        "--format",
        "json",
        "--workers",
        "0",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    forks = [i for i in doc["issues"] if i["kind"] == "fork"]
    assert forks, doc["issues"]
    fork = forks[0]
    assert fork["origin"] == origin and "FORK" in fork["message"]
    assert twin.address("zhejiang") in fork["source"]

    # Both pieces of evidence are checkpoints validly signed with Zhejiang's key,
    # one the real log's head, the other the twin's.
    cert = x509.load_pem_chain(load_config(fed.configs["zhejiang"]).signing_cert.read_bytes())[0]
    verifier = Ed25519NoteVerifier(origin, VerifyKey(x509.raw_ed25519_public(cert)))
    shown = set()
    for ev in fork["evidence"]:
        cp, _ = open_checkpoint(ev["text"], verifier)
        shown.add((cp.size, cp.root_hash))
    assert shown == set(heads.values())
    assert len(doc["origins"][origin]["histories"]) == 2
