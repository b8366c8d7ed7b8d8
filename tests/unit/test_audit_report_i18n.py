"""The whole-log audit's HTML report: in Chinese, naming members, stating anchors,
version and who ran it, and sealed with a digest anyone can recompute."""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from exchange import pki
from exchange.audit.report import (
    Member,
    ReportContext,
    anchor_facts,
    check_digest,
    to_html,
)
from exchange.cli.main import cli
from exchange.core.logcheck import AuditResult
from exchange.core.x509 import load_pem_chain

ZJ_ADDR, AH_ADDR = "127.0.0.1:7330", "127.0.0.1:7340"


@pytest.fixture(scope="module")
def anchor(tmp_path_factory):
    d = tmp_path_factory.mktemp("fed") / "yrd"
    pki.init_federation(d, "yrd", {"zhejiang": "330000"})
    return load_pem_chain((d / "anchor.pem").read_bytes())


def _result() -> AuditResult:
    checkpoint = {
        "size": 3,
        "root": "ab" * 32,
        "sources": [ZJ_ADDR, f"{AH_ADDR} (evidence: its accepted checkpoint)"],
        "backed": True,
        "cosigners": ["anhui"],
    }
    origin = {
        "entries": 3,
        "kinds": {"recognition": 2, "key_announcement": 1},
        "histories": [{}],
        "issues": 0,
        "checkpoints": [checkpoint],
        "witnesses": {"anhui": [3]},
        "copies": [{"node": ZJ_ADDR, "served": 3, "history": 0}],
    }
    return AuditResult([ZJ_ADDR, AH_ADDR], {"yrd/330000": origin}, [], {}, [])


def _context(anchor, lang: str) -> ReportContext:
    return ReportContext(
        lang=lang,
        made_at=datetime(2026, 6, 1, 8, 30, tzinfo=UTC),
        members={ZJ_ADDR: Member("zhejiang", "330000"), AH_ADDR: Member("anhui", "340000")},
        federation_versions={ZJ_ADDR: 3, AH_ADDR: 3},
        anchors=anchor_facts(anchor),
        brandex_version="9.9.9",
        run_by="auditor@host1",
        operator="CN=anhui operator,O=yrd",
    )


def test_the_report_in_chinese_names_members_and_states_its_facts(anchor) -> None:
    page = to_html(_result(), _context(anchor, "zh"))
    assert '<html lang="zh">' in page and "全量日志审计报告" in page
    assert "正常：未发现任何问题。" in page
    # Members and regions by name and code; each address once, in the table of nodes asked.
    assert "zhejiang, 浙江省 (330000)" in page and "anhui, 安徽省 (340000)" in page
    assert page.count(ZJ_ADDR) == 1 and page.count(AH_ADDR) == 1
    assert "yrd/330000 浙江省 (330000)" in page
    subject, fingerprint = anchor_facts(anchor)[0]
    assert subject in page and fingerprint in page and len(fingerprint) == 64
    for fact in ("9.9.9", "auditor@host1", "CN=anhui operator,O=yrd", "2026-06-01T08:30:00"):
        assert fact in page
    assert "<tr><th>联盟文件版本</th><td>3</td></tr>" in page


def test_english_is_the_default(anchor) -> None:
    page = to_html(_result(), _context(anchor, "en"))
    assert "brandex whole-log audit" in page and "CLEAN: nothing found." in page
    assert "全量" not in page


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_digest_is_recomputed_and_a_one_byte_change_breaks_it(anchor, tmp_path, lang) -> None:
    page = to_html(_result(), _context(anchor, lang)).encode("utf-8")
    found = check_digest(page)
    assert found.ok, found
    # What the report says is digested: every byte before the last line.
    body = page[: page.rstrip(b"\n").rfind(b"\n") + 1]
    assert found.stated == hashlib.sha256(body).hexdigest()
    assert found.stated.encode() in page.splitlines()[-1]
    # The shell one-liner of docs/audit.md gives the same value.
    f = tmp_path / "audit.html"
    f.write_bytes(page)
    shell = subprocess.run(
        ["sh", "-c", f"head -n -1 {f} | sha256sum"], capture_output=True, text=True, check=True
    )
    assert shell.stdout.split()[0] == found.stated
    # One byte changed anywhere (content or digest), or anything added after it: refused.
    at = page.index(b"<h1>") + 4
    for changed in (
        page[:at] + bytes([page[at] ^ 1]) + page[at + 1 :],
        page.replace(found.stated.encode(), (found.stated[:-1] + "0").encode())
        if not found.stated.endswith("0")
        else page.replace(found.stated.encode(), (found.stated[:-1] + "1").encode()),
        page + b"<p>added later</p>\n",
    ):
        assert not check_digest(changed).ok


def test_brandex_audit_digest(anchor, tmp_path) -> None:
    f = tmp_path / "audit.html"
    f.write_bytes(to_html(_result(), _context(anchor, "zh")).encode("utf-8"))
    ok = CliRunner().invoke(cli, ["--lang", "zh", "audit", "digest", str(f)])
    assert ok.exit_code == 0 and "摘要一致" in ok.output, ok.output
    doc = json.loads(
        CliRunner().invoke(cli, ["audit", "digest", str(f), "--format", "json"]).output
    )
    assert doc["ok"] is True and doc["stated"] == doc["computed"]
    f.write_bytes(f.read_bytes().replace("浙江省".encode(), "江苏省".encode(), 1))
    bad = CliRunner().invoke(cli, ["audit", "digest", str(f), "--lang", "en"])
    assert bad.exit_code == 1 and "does not match its digest" in bad.output
