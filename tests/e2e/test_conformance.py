"""The conformance table through all three drivers: one verdict per case, everywhere.

For each named case (see ``conformance.py``) the same signed bytes go to a real
mirror node (its sync from a peer serving them), to ``brandex audit log``
(reading them from that peer) and to ``brandex audit verify`` (a bundle made of
them). The test asserts each driver's verdict is the table's, so the three
agree on every case.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conformance import Case, build_cases, write_bundle
from harness import brandex, wait_until
from hostile import HostilePeer, ScriptedLog

from exchange import pki

#: Audit issue kinds meaning "this entry (or the checkpoint over it) is not part of the log".
REFUSING = {"envelope", "signer", "region", "time", "checkpoint"}


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Case]]:
    """A PKI whose anchor is three years old, so a member key can have expired."""
    root = tmp_path_factory.mktemp("conformance")
    certs = root / "certs"
    then = datetime.now(UTC) - timedelta(days=3 * 365)
    pki.init_federation(
        certs,
        "yrd",
        {"elder": "330100"},
        jurisdictions=["310000", "320000", "330000", "340000"],
        now=then,
    )
    for name, region in [
        ("zhejiang", "330000"),
        ("anhui", "340000"),
        ("jiangsu", "320000"),
        ("shanghai", "310000"),
    ]:
        pki.add_member(certs, name, region)
    key_path, cert_path = pki.certify_signing_key(
        certs, "zhejiang", root / "expired", now=then + timedelta(days=1)
    )
    old = (pki.load_signing_key(key_path), cert_path.read_text())
    return certs, build_cases(certs, old, root / "keys")


def _count(db: Path, sql: str, *args: object) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql, args).fetchone()[0]


def _mirror_and_audit(case: Case, federation_factory, certs: Path, tmp: Path) -> tuple[str, str]:
    fed = federation_factory({"jiangsu": "320000"}, {}, sync_interval=2.0, certs=certs)
    with HostilePeer(certs, "shanghai") as peer:
        for origin, (log, note) in case.logs.items():
            peer.serve(origin, ScriptedLog(note, list(log.envelopes)))
        fed.add_peer("jiangsu", peer.address, "310000")
        fed.start("jiangsu")

        def settled() -> bool:
            sizes = fed.sizes("jiangsu")
            status = next(p for p in fed.status("jiangsu").peers if p.address == peer.address)
            return all(
                sizes.get(o) == len(lg.envelopes) or o in status.last_error
                for o, (lg, _) in case.logs.items()
            )

        wait_until(settled, what=f"the mirror to take or refuse: {case.name}")
        origin, idx = case.subject
        db = fed.database("jiangsu")
        if fed.sizes("jiangsu").get(origin) != len(case.logs[origin][0].envelopes):
            mirror = "refused"
        elif _count(
            db, "SELECT count(*) FROM violations WHERE origin = ? AND idx = ?", origin, idx
        ) or _count(db, "SELECT count(*) FROM suspects WHERE origin = ? AND idx = ?", origin, idx):
            mirror = "flagged"
        else:
            mirror = "accepted"

        out = brandex(
            "audit", "log", "--node", peer.address, "--format", "json", "--workers", "0",
            config=fed.configs["jiangsu"],
        )  # fmt: skip
        assert out.returncode in (0, 1), out.stderr
        issues = json.loads(out.stdout)["issues"]
        mine = [i for i in issues if i["origin"] == origin]
        kinds = {i["kind"] for i in mine if i.get("index") == idx}
        if kinds & REFUSING or any(i["kind"] == "checkpoint" for i in mine):
            audit = "refused"
        elif kinds:
            audit = "flagged"
        else:
            audit = "accepted"
    return mirror, audit


def _verify(case: Case, certs: Path, tmp: Path) -> str:
    bundle = write_bundle(case, tmp / "bundle.json")
    out = brandex(
        "audit", "verify", str(bundle), "--anchors", str(certs / "anchor.pem"),
        "--min-cosignatures", "0", "--format", "json",
    )  # fmt: skip
    report = json.loads(out.stdout)
    if report["valid"]:
        return "accepted"
    failed = next(c for c in report["checks"] if not c["ok"])
    if failed["check"] == "rules" or "SUSPECT" in failed["detail"]:
        return "flagged"
    return "refused"


CASE_NAMES = [
    "valid entry",
    "expired certificate (log backdated into it)",
    "issued_at before the previous entry",
    "issued_at in the future",
    "key used after its rotation",
    "key used after its compromise time",
    "another region closing a case",
    "recognition outside the issuer's jurisdiction",
    "transition out of a terminal status",
    "duplicate certificate number",
]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_the_three_drivers_agree(name, table, federation_factory, tmp_path) -> None:
    certs, cases = table
    case = next(c for c in cases if c.name == name)
    mirror, audit = _mirror_and_audit(case, federation_factory, certs, tmp_path)
    verify = _verify(case, certs, tmp_path)
    assert (mirror, audit, verify) == (case.expect,) * 3, (
        f"{name}: mirror {mirror}, audit log {audit}, audit verify {verify}; "
        f"the table says {case.expect}"
    )
