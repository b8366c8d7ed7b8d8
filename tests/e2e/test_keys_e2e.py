"""Key rotation and revocation with the CLI, between real node processes."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness import brandex, wait_until

from exchange import pki
from exchange.core.dsse import keyid_of

ZJ = "yrd/330000"


def _count(db: Path, sql: str, *args: object) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql, args).fetchone()[0]


def test_rotate_then_revoke_on_real_nodes(federation_factory, tmp_path: Path) -> None:
    certs = tmp_path / "own-certs"  # rotation moves key files: not the session's PKI
    fed = federation_factory(
        {"zhejiang": "330000", "anhui": "340000"},
        {"zhejiang": ["anhui"], "anhui": ["zhejiang"]},
        sync_interval=2.0,
        certs=certs,
    )
    fed.start_all()
    since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    fed.issue("zhejiang", 5)
    wait_until(lambda: fed.sizes("anhui").get(ZJ) == 6, what="anhui mirrors 6 entries")
    paths = pki.member_paths(certs, "zhejiang")
    old = keyid_of(bytes(pki.load_signing_key(paths.signing_key).verify_key))

    cfg = fed.configs["zhejiang"]
    done = brandex("keys", "rotate", "--anchor-dir", str(certs), config=cfg, expect=0)
    assert "rotated: yrd/330000 entry #6" in done.stdout
    new = keyid_of(bytes(pki.load_signing_key(paths.signing_key).verify_key))
    assert new != old  # the configured path now holds the new key, the old one kept beside
    assert list(paths.signing_key.parent.glob(f"signing.retired-{old[:12]}.key"))

    fed.issue("zhejiang", 3)
    wait_until(lambda: fed.sizes("anhui").get(ZJ) == 10, what="anhui follows the rotation")
    # A restart signs with the new key (peers would refuse the old one).
    fed.stop("zhejiang")
    fed.start("zhejiang")
    fed.issue("zhejiang", 1)
    wait_until(lambda: fed.sizes("anhui").get(ZJ) == 11, what="entries after the restart")

    refused = brandex(
        "keys", "revoke", new[:12], "--compromised-since", since, config=cfg, expect=1
    )
    assert "rotate to a new key first" in refused.stderr
    brandex(
        "keys",
        "revoke",
        old[:12],
        "--compromised-since",
        since,
        "--reason",
        "私钥泄露",
        config=cfg,
        expect=0,
    )
    wait_until(lambda: fed.sizes("anhui").get(ZJ) == 12, what="anhui mirrors the revocation")
    db = fed.database("anhui")
    # Entries 0-6 were signed by the old key after `since`: suspect on the mirror,
    # still in its log, not in its registry; the 4 records signed by the new key stay.
    wait_until(
        lambda: _count(db, "SELECT count(*) FROM suspects WHERE origin = ?", ZJ) == 7,
        what="suspects flagged on anhui",
    )
    assert _count(db, "SELECT count(*) FROM entries WHERE origin = ?", ZJ) == 12
    wait_until(
        lambda: _count(db, "SELECT count(*) FROM records WHERE origin = ?", ZJ) == 4,
        what="suspect records leave anhui's registry",
    )
    assert _count(fed.database("zhejiang"), "SELECT count(*) FROM suspects") == 7
