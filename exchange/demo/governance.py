"""The demo's governance chapter: Jiangxi joins the running federation.

Version 1 of the federation document is made when the demo's PKI is, signed by
all seven founding members' governance keys, and every node is installed with
it. The chapter then tells the story of issue 12 with the commands each party
would run: Jiangxi makes its own keys and request, the anchor certifies it,
Zhejiang proposes version 2, a proposal signed by three members is refused with
the count it lacks, five sign, it is published, every running node takes it
without a restart, Jiangxi's node starts and syncs, Jiangxi accedes to
yrd-2006 and one of its brands is recognised in Zhejiang.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from exchange._proto.brandex.v1 import entries_pb2, services_pb2
from exchange.core import federation as fd
from exchange.core import x509
from exchange.core.uscc import check_char
from exchange.demo.federation import Member, render_config, run_brandex
from exchange.federation_files import member_from_dir, policy_for
from exchange.pki import forget_member, load_governance_key

__all__ = ["JIANGXI", "make_genesis", "tell_governance_story"]

Say = Callable[[str], None]

#: The joining member (not in the seven the demo starts with).
JIANGXI = Member("jiangxi", "360000", 7360, ())
THRESHOLD = 5
QUORUM = 3


def make_genesis(certs_dir: Path, members: Sequence[Member], out: Path) -> Path:
    """Version 1, signed by every founding member (each with its own governance key)."""
    dirs = {m.name: certs_dir / m.name for m in members}
    listed = [member_from_dir(dirs[m.name], [f"127.0.0.1:{m.port}"], m.name) for m in members]
    anchor = x509.load_pem_chain((certs_dir / "anchor.pem").read_bytes())[0]
    now = datetime.now(UTC)
    raw = fd.unsigned_document(
        fd.genesis_body(
            "yrd",
            listed,
            anchors=[fd.cert_fingerprint(anchor.public_bytes(serialization.Encoding.DER))],
            threshold=THRESHOLD,
            witness_policy=policy_for("yrd", dirs, QUORUM),
            issued_at=now,
            expires_at=now + timedelta(days=365),
        )
    )
    for m in members:
        raw = fd.sign_document(raw, load_governance_key(dirs[m.name] / "governance.key"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(raw)
    return out


def _cli(root: Path, *args: str, expect: int = 0) -> str:
    done = run_brandex(root, *args)
    if done.returncode != expect:
        raise SystemExit(
            f"error: brandex {' '.join(args)} exited {done.returncode} (expected {expect}):\n"
            f"{done.stdout}{done.stderr}"
        )
    return done.stdout + done.stderr


def _version(fed: Any, name: str) -> int:
    st = fed.log(name).GetNodeStatus(services_pb2.NodeStatusRequest(), timeout=10)
    return st.federation_version


def _jiangxi_record(today: date) -> entries_pb2.Recognition:
    first17 = "91360982705512348"
    return entries_pb2.Recognition(
        record_id="jx-2026-0001",
        kind=entries_pb2.PROVINCIAL_FAMOUS_BRAND_PRODUCT,
        sector=entries_pb2.INDUSTRIAL,
        brand_name="四特",
        brand_name_latin="Site",
        product="白酒",
        nice_classes=[33],
        industry_code="C15",
        enterprise_name="四特酒有限责任公司",
        enterprise_uscc=first17 + check_char(first17),
        enterprise_region="360982",
        certificate_no="JXMP-2026-0001",
        announcement_no="赣市监〔2026〕12号",
        recognised_on=today.isoformat(),
        valid_from=today.isoformat(),
        valid_until=(today + timedelta(days=3 * 365)).isoformat(),
    )


def tell_governance_story(
    fed: Any, root: Path, say: Say, wait_for: Callable[[Callable[[], Any], float, str], Any]
) -> None:
    state = fed.state
    gov = state / "federation"
    v1, v2 = gov / "federation-1.json", gov / "federation-2.json"
    certs = root / "certs" / "yrd"
    say("\n-- governance: Jiangxi (360000) asks to join; no single party can admit it --")
    # Jiangxi's own keys, made in its own directory; only the request leaves it.
    jx_dir = state / "agencies" / "jiangxi"
    jx_dir.parent.mkdir(parents=True, exist_ok=True)
    forget_member(certs, "jiangxi")  # an earlier demo run enrolled it
    request = _certs_request(root, jx_dir)
    say(
        "  jiangxi:  brandex certs request --region 360000 --name jiangxi "
        f"--out {fed.shown(jx_dir)}"
    )
    response = state / "agencies" / "jiangxi-response.json"
    _cli(root, "certs", "sign", str(request), "--anchor", str(certs), "--out", str(response))
    say(
        f"  anchor:   brandex certs sign {fed.shown(request)} --anchor certs/yrd "
        "(region, key types and SANs checked)"
    )
    _cli(root, "certs", "install", str(response), "--dir", str(jx_dir))
    say("  jiangxi:  brandex certs install ...  (private keys never left its directory)")

    _cli(
        root, "federation", "propose", str(v1), "--add", str(jx_dir),
        "--address", f"jiangxi=127.0.0.1:{JIANGXI.port}", "--out", str(v2),
    )  # fmt: skip
    say(
        f"  zhejiang: brandex federation propose {fed.shown(v1)} --add jiangxi "
        f"--out {fed.shown(v2)}"
    )
    zj_cfg = str(fed.configs["zhejiang"])
    for name in ("zhejiang", "shanghai", "jiangsu"):
        _cli(root, "federation", "sign", str(v2), "--key", str(certs / name / "governance.key"))
    refused = _cli(root, "federation", "publish", str(v2), "--config", zj_cfg, expect=1)
    lacking = refused.strip().splitlines()[-1]
    say("  signed by zhejiang, shanghai, jiangsu; published to Zhejiang's node:")
    say(f"    {lacking.removeprefix('error: ')}")
    for name in ("anhui", "henan"):
        _cli(root, "federation", "sign", str(v2), "--key", str(certs / name / "governance.key"))
    before = time.monotonic()
    out = _cli(root, "federation", "publish", str(v2), "--config", zj_cfg)
    say("  anhui and henan sign too (5 of 7, the threshold): " + out.strip())
    wait_for(
        lambda: all(_version(fed, m.name) == 2 for m in fed.members),
        120,
        "every node to take version 2",
    )
    say(
        f"  all 7 running nodes hold version 2 {time.monotonic() - before:.1f}s later, "
        "without a restart"
    )

    # Jiangxi's node: installed with version 1 (the bootstrap), learns version 2 itself.
    # Its config points at its own directory (state/agencies/jiangxi), not certs/yrd.
    agencies = jx_dir.parent
    shutil.copyfile(certs / "anchor.pem", agencies / "anchor.pem")  # public
    cfg = fed.config_dir / "jiangxi.toml"
    text = render_config(
        JIANGXI,
        {},
        config_dir=fed.config_dir.resolve(),
        certs_dir=agencies.resolve(),
        db_dir=state.resolve(),
        federation_document=v1.resolve(),
    )
    cfg.write_text(text, encoding="utf-8")
    fed.configs["jiangxi"] = cfg
    fed._spawn("jiangxi")
    fed.wait_ready("jiangxi")
    origins = {f"yrd/{m.region}" for m in fed.members} | {"yrd/360000"}
    wait_for(
        lambda: (
            _version(fed, "jiangxi") == 2
            and set(_sizes(fed, "jiangxi")) >= origins
            and all("yrd/360000" in _sizes(fed, m.name) for m in fed.members)
        ),
        180,
        "Jiangxi's node to join and sync",
    )
    say(
        f"  jiangxi's node started from version 1, took version 2 from its peers and mirrors "
        f"all {len(origins)} logs; every member mirrors yrd/360000"
    )

    today = datetime.now(UTC).date()
    admin = fed.admin("jiangxi")
    admin.Accede(
        entries_pb2.Accession(
            agreement_id="yrd-2006",
            title="长三角名牌产品互认扩展 (2006-08-29)",
            covered_kinds=[entries_pb2.PROVINCIAL_FAMOUS_BRAND_PRODUCT],
            effective_from=today.isoformat(),
            region="360000",
        ),
        timeout=60,
    )
    admin.Issue(_jiangxi_record(today), timeout=60)
    say("  jiangxi accedes to yrd-2006 and recognises 四特 (白酒, 樟树市)")

    def recognised_in_zhejiang() -> services_pb2.CheckResponse | None:
        r = fed.registry("zhejiang").Check(
            services_pb2.CheckRequest(
                record=services_pb2.RecordRef(issuer="360000", record_id="jx-2026-0001"),
                region="330000",
            ),
            timeout=10,
        )
        return r if r.results and r.results[0].recognised else None

    answer = wait_for(recognised_in_zhejiang, 60, "Zhejiang to recognise the Jiangxi brand")
    reasons = "; ".join(x.text for x in answer.results[0].reasons)
    say(f"  zhejiang: is jx-2026-0001 recognised in 330000? YES: {reasons}")


def _sizes(fed: Any, name: str) -> dict[str, int]:
    resp = fed.log(name).ListOrigins(services_pb2.ListOriginsRequest(), timeout=10)
    return {o.origin: o.size for o in resp.origins}


def _certs_request(root: Path, out: Path) -> Path:
    """Jiangxi runs `brandex certs request`; returns the request file it wrote."""
    _cli(root, "certs", "request", "--region", "360000", "--name", "jiangxi", "--out", str(out))
    found = sorted(out.glob("*request*.json"))
    if not found:
        raise SystemExit(f"error: brandex certs request wrote no request file in {out}")
    return found[0]
