"""Bundles end to end: issued on one node, exported from the other with the CLI,
verified offline with the CLI (exit 0), and a tampered copy rejected (exit 1)."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
from harness import Federation, brandex, wait_until

from exchange._proto.brandex.v1 import entries_pb2 as pb
from exchange._proto.brandex.v1 import services_pb2
from exchange.core.note import parse_note
from exchange.core.uscc import check_char
from exchange.node.config import load_config
from exchange.pki import DEMO_MEMBERS

pytestmark = pytest.mark.e2e

REGIONS = {"zhejiang": DEMO_MEMBERS["zhejiang"], "anhui": DEMO_MEMBERS["anhui"]}
TOPOLOGY = {"zhejiang": ["anhui"], "anhui": ["zhejiang"]}
KIND = pb.RecognitionKind.Value("PROVINCIAL_FAMOUS_BRAND_PRODUCT")
RECORD = "zj-e2e-0001"


def _witnesses(fed: Federation, holder: str, origin: str) -> set[str]:
    st = fed.log_stub(holder).GetCheckpoint(
        services_pb2.GetCheckpointRequest(origin=origin), timeout=10
    )
    return {s.name for s in parse_note(st.checkpoint).signatures if s.name.endswith("/witness")}


@pytest.fixture
def fed(federation_factory) -> Federation:
    f = federation_factory(REGIONS, TOPOLOGY)
    f.start_all()
    zj, ah = f.admin("zhejiang"), f.admin("anhui")
    body = "91330106MA2B00002"
    zj.Issue(
        pb.Recognition(
            record_id=RECORD,
            kind=KIND,
            sector=pb.Sector.Value("AGRICULTURAL"),
            brand_name="西湖",
            product="龙井茶",
            enterprise_name="杭州西湖茶业有限公司",
            enterprise_uscc=body + check_char(body),
            enterprise_region="330106",
            certificate_no="ZJMP-2026-0901",
            announcement_no="浙市监〔2026〕9号",
            recognised_on="2026-01-15",
            valid_from="2026-01-15",
            valid_until="2028-12-31",
        ),
        timeout=30,
    )
    for status, on in ((1, "2026-03-01"), (2, "2026-04-01")):  # SUSPENDED, REINSTATED
        zj.ChangeStatus(
            pb.StatusChange(record_id=RECORD, new_status=status, reason=1, effective_on=on),
            timeout=30,
        )
    for stub, region, since in ((zj, "330000", "2003-08-31"), (ah, "340000", "2006-08-29")):
        stub.Accede(
            pb.Accession(
                agreement_id="yrd-2006",
                covered_kinds=[KIND],
                effective_from=since,
                region=region,
            ),
            timeout=30,
        )
    want = {"yrd/330000": 5, "yrd/340000": 2}  # key announcements + the entries above
    wait_until(lambda: f.sizes("anhui") == want, what="anhui to mirror zhejiang")
    # Each log's checkpoint, as anhui holds it, cosigned by the other member.
    wait_until(
        lambda: (
            _witnesses(f, "anhui", "yrd/330000") == {"yrd/340000/witness"}
            and _witnesses(f, "anhui", "yrd/340000") == {"yrd/330000/witness"}
        ),
        what="cosignatures at anhui",
    )
    return f


def test_bundle_from_the_mirror_verifies_offline_and_tampering_fails(
    fed: Federation, tmp_path: Path
) -> None:
    out = tmp_path / "bundle.json"
    exported = brandex(
        "audit", "bundle", RECORD, "--issuer", "330000", "-o", str(out), config=fed.configs["anhui"]
    )
    assert exported.returncode == 0, exported.stderr
    doc = json.loads(out.read_text("utf-8"))
    assert doc["built_by"] == "yrd/340000" and doc["origin"] == "yrd/330000"
    assert [r["type"] for r in doc["related"]] == [
        "status_change",
        "status_change",
        "accession",
        "accession",
    ]

    anchors = [str(p) for p in load_config(fed.configs["anhui"]).anchors]
    anchor_args = [a for p in anchors for a in ("--anchors", p)]

    def verify(path: Path, *args: str) -> subprocess.CompletedProcess:
        # No config and no node: verification is offline.
        return brandex("audit", "verify", str(path), *anchor_args, *args)

    ok = verify(out, "--min-cosignatures", "1")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.splitlines()[0].startswith("VALID")
    quiet = verify(out, "--min-cosignatures", "1", "--quiet")
    assert quiet.returncode == 0 and quiet.stdout.splitlines() == ok.stdout.splitlines()[:1]

    report = verify(out, "--on", "2026-06-01", "--in", "340100", "--format", "json")
    assert report.returncode == 0, report.stdout + report.stderr
    r = json.loads(report.stdout)
    assert r["valid"] and r["status"]["status"] == "valid"
    assert r["recognition"]["code"] == "agreement"

    suspended = verify(out, "--on", "2026-03-15", "--in", "340100", "--format", "json")
    assert suspended.returncode == 1
    assert json.loads(suspended.stdout)["failure"]["check"] == "recognition"

    too_many = verify(out, "--min-cosignatures", "2", "--format", "json")
    assert too_many.returncode == 1
    assert json.loads(too_many.stdout)["failure"]["check"] == "cosignatures"

    # A tampered copy: one byte of the signed payload flipped.
    env = json.loads(doc["leaf"])
    payload = bytearray(base64.b64decode(env["payload"]))
    payload[len(payload) // 2] ^= 0x20
    env["payload"] = base64.b64encode(bytes(payload)).decode()
    tampered = dict(doc, leaf=json.dumps(env, separators=(",", ":"), sort_keys=True))
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(tampered, ensure_ascii=False), encoding="utf-8")
    rejected = verify(bad, "--format", "json")
    assert rejected.returncode == 1, rejected.stdout
    failure = json.loads(rejected.stdout)["failure"]
    assert failure["check"] == "dsse-signature" and "does not verify" in failure["detail"]

    # A status change dropped: still valid (a documented limit), the status says so.
    dropped = dict(
        doc, related=[r for r in doc["related"] if (r["origin"], r["index"]) != ("yrd/330000", 3)]
    )
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(dropped, ensure_ascii=False), encoding="utf-8")
    limit = verify(partial, "--on", "2026-06-01", "--format", "json")
    assert limit.returncode == 0 and json.loads(limit.stdout)["status"]["status"] == "suspended"


def test_bundle_of_an_unknown_record_is_refused(fed: Federation, tmp_path: Path) -> None:
    out = tmp_path / "none.json"
    args = ["audit", "bundle", "no-such", "--issuer", "330000", "-o", str(out)]
    proc = brandex(*args, config=fed.configs["anhui"])
    assert proc.returncode == 1 and "NOT_FOUND" in proc.stderr
    assert not out.exists()
