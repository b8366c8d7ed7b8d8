"""verify.js on a real bundle from a real node, against ``brandex audit verify``.

Two member nodes (Zhejiang issues, Anhui mirrors and cosigns) run as processes
over mTLS; the bundle is exported from the mirror with the CLI, as an auditor
would. Then, in Chromium: every check the JavaScript reports passes, and
``audit verify`` reports the same check on the same subject, in the same
order; one flipped byte in the envelope signature, the payload, a proof hash,
the checkpoint signature or a cosignature is rejected by both, naming the same
check. Last, a person's path: upload through the page, pin the keys, switch to
English, drop a tampered file, and screenshots (``BRANDEX_UPDATE_SCREENSHOTS=1``
writes them to docs/img/, otherwise to a temporary folder).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from builders import recognition
from harness import Federation, brandex, wait_until

from exchange._proto.brandex.v1 import entries_pb2 as pb
from exchange.core.note import parse_note
from exchange.node.config import load_config
from exchange.pki import DEMO_MEMBERS

pytestmark = pytest.mark.e2e

REGIONS = {"zhejiang": DEMO_MEMBERS["zhejiang"], "anhui": DEMO_MEMBERS["anhui"]}
TOPOLOGY = {"zhejiang": ["anhui"], "anhui": ["zhejiang"]}
RECORD = "zj-web-0001"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
JS_CHECKS = {
    "format",
    "dsse-signature",
    "checkpoint-signature",
    "cosignatures",
    "inclusion-proof",
    "vkeys",
}

VERIFY = """async ([text, min]) => {
  const v = await import("/verify.js");
  return await v.verifyBundle(text, {minCosignatures: min});
}"""


def _witnesses(fed: Federation, holder: str, origin: str) -> set[str]:
    from exchange._proto.brandex.v1 import services_pb2

    st = fed.log_stub(holder).GetCheckpoint(
        services_pb2.GetCheckpointRequest(origin=origin), timeout=10
    )
    return {s.name for s in parse_note(st.checkpoint).signatures if s.name.endswith("/witness")}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict, list[str]]]:
    """A bundle exported from the mirror node, and the --anchors arguments to verify it."""
    root = tmp_path_factory.mktemp("webjs-fed")
    fed = Federation.create(root, REGIONS, TOPOLOGY)
    try:
        fed.start_all()
        zj, ah = fed.admin("zhejiang"), fed.admin("anhui")
        zj.Issue(recognition(RECORD, "ZJMP-2026-0777"), timeout=30)
        zj.ChangeStatus(
            pb.StatusChange(record_id=RECORD, new_status=1, reason=1, effective_on="2026-03-01"),
            timeout=30,
        )
        kind = pb.RecognitionKind.Value("PROVINCIAL_FAMOUS_BRAND_PRODUCT")
        ah.Accede(
            pb.Accession(
                agreement_id="yrd-2006",
                covered_kinds=[kind],
                effective_from="2006-08-29",
                region="340000",
            ),
            timeout=30,
        )
        want = {"yrd/330000": 3, "yrd/340000": 2}  # key announcements + the entries above
        wait_until(lambda: fed.sizes("anhui") == want, what="anhui to mirror zhejiang")
        wait_until(
            lambda: (
                _witnesses(fed, "anhui", "yrd/330000") == {"yrd/340000/witness"}
                and _witnesses(fed, "anhui", "yrd/340000") == {"yrd/330000/witness"}
            ),
            what="cosignatures at anhui",
        )
        out = root / "bundle.json"
        args = ["audit", "bundle", RECORD, "--issuer", "330000", "-o", str(out)]
        brandex(*args, config=fed.configs["anhui"], expect=0)
        anchors = [str(p) for p in load_config(fed.configs["anhui"]).anchors]
    finally:
        fed.stop_all()
    yield json.loads(out.read_text("utf-8")), [a for p in anchors for a in ("--anchors", p)]


@pytest.fixture
def py_verify(exported, tmp_path: Path) -> Callable[[dict], dict]:
    """``brandex audit verify --format json`` on a document, as a subprocess."""
    _, anchor_args = exported

    def run(doc: dict) -> dict:
        path = tmp_path / "b.json"
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        proc = brandex("audit", "verify", str(path), *anchor_args, "--format", "json")
        assert proc.returncode in (0, 1), proc.stderr
        report = json.loads(proc.stdout)
        assert (proc.returncode == 0) == report["valid"]
        return report

    return run


def _pairs(checks: list[dict]) -> list[tuple[str, str, bool]]:
    return [(c["check"], c["subject"], c["ok"]) for c in checks]


def _is_subsequence(small: list, big: list) -> bool:
    it = iter(big)
    return all(x in it for x in small)


def test_js_verifies_a_real_bundle_check_by_check_as_audit_verify(
    page, exported, py_verify
) -> None:
    doc, _ = exported
    py = py_verify(doc)
    js = page.evaluate(VERIFY, [json.dumps(doc, ensure_ascii=False), 1])
    assert py["valid"], py["failure"]
    assert js["valid"], js["failure"]
    assert js["recordId"] == RECORD and js["origin"] == "yrd/330000"
    # Every JS check is one audit verify ran, with the same result, in the same order.
    assert {c["check"] for c in js["checks"]} == JS_CHECKS
    assert _is_subsequence(_pairs(js["checks"]), _pairs(py["checks"])), (
        _pairs(js["checks"]),
        _pairs(py["checks"]),
    )
    # ... and it covered every entry the bundle carries: record, related, key entries.
    subjects = {c["subject"] for c in js["checks"] if c["check"] == "inclusion-proof"}
    assert f"record yrd/330000#{doc['index']}" in subjects
    assert {f"{r['type']} {r['origin']}#{r['index']}" for r in doc["related"]} <= subjects
    assert "key entries" in subjects
    # The fingerprints shown are the keys Python certified: the DSSE keyid of the
    # record, the log key of each checkpoint, and the other member as witness.
    keyid = json.loads(doc["leaf"])["signatures"][0]["keyid"]
    keys = {(k["origin"], k["fingerprint"]): set(k["roles"]) for k in js["keys"]}
    assert keys[("yrd/330000", keyid)] == {"signer", "checkpoint", "witness"}
    assert {o for o, _ in keys} == {"yrd/330000", "yrd/340000"}
    certified = [c for c in py["checks"] if c["check"] == "certificate-chain"]
    for origin, fp in keys:
        assert any(origin in c["subject"] and fp[:16] in c["detail"] for c in certified), (
            origin,
            fp,
            certified,
        )


def _flip_b64(value: str, at: int) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[at % len(raw)] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _with_leaf(doc: dict, change: Callable[[dict], None]) -> dict:
    env = json.loads(doc["leaf"])
    change(env)
    return dict(doc, leaf=json.dumps(env, separators=(",", ":"), sort_keys=True))


def _with_proof_line(doc: dict, pick: Callable[[str], bool], at: int) -> dict:
    lines = doc["tlog_proof"].split("\n")
    n = next(i for i, line in enumerate(lines) if pick(line))
    prefix, _, b64 = lines[n].rpartition(" ")
    lines[n] = (prefix + " " if prefix else "") + _flip_b64(b64, at)
    return dict(doc, tlog_proof="\n".join(lines))


def _sig(doc: dict) -> dict:
    def change(env: dict) -> None:
        env["signatures"][0]["sig"] = _flip_b64(env["signatures"][0]["sig"], 10)

    return _with_leaf(doc, change)


def _payload(doc: dict) -> dict:
    def change(env: dict) -> None:
        env["payload"] = _flip_b64(env["payload"], 20)

    return _with_leaf(doc, change)


def _proof_hash(doc: dict) -> dict:
    # The line after "index N" is the first proof hash (the leaf's sibling).
    lines = doc["tlog_proof"].split("\n")
    first = lines[next(i for i, line in enumerate(lines) if line.startswith("index ")) + 1]
    return _with_proof_line(doc, lambda line: line == first, 7)


def _checkpoint_sig(doc: dict) -> dict:
    return _with_proof_line(doc, lambda line: line.startswith("— yrd/330000 "), 4 + 9)


def _cosignature(doc: dict) -> dict:
    # key id (4) || timestamp (8) || signature (64): flip a signature byte.
    return _with_proof_line(doc, lambda line: line.startswith("— yrd/340000/witness "), 4 + 8 + 9)


TAMPERS = {
    "envelope-signature": (_sig, "dsse-signature"),
    "payload": (_payload, "dsse-signature"),
    "proof-hash": (_proof_hash, "inclusion-proof"),
    "checkpoint-signature": (_checkpoint_sig, "checkpoint-signature"),
    "cosignature": (_cosignature, "cosignatures"),
}


@pytest.mark.parametrize("what", list(TAMPERS))
def test_one_flipped_byte_is_rejected_naming_the_check(page, exported, py_verify, what) -> None:
    doc, _ = exported
    tamper, check = TAMPERS[what]
    bad = tamper(doc)
    assert bad != doc
    py = py_verify(bad)
    js = page.evaluate(VERIFY, [json.dumps(bad, ensure_ascii=False), 1])
    assert not py["valid"] and py["failure"]["check"] == check, py["failure"]
    assert not js["valid"] and js["failure"]["check"] == check, js["failure"]
    assert js["failure"]["subject"] == py["failure"]["subject"]
    # It stops there: the failure is the last check, every one before it passed.
    assert js["checks"][-1] == js["failure"]
    assert all(c["ok"] for c in js["checks"][:-1])
    assert _is_subsequence(_pairs(js["checks"][:-1]), _pairs(py["checks"]))


def test_a_wrong_signer_is_rejected(page, exported, py_verify) -> None:
    """The record's chain swapped for another member's: its key did not sign the leaf."""
    doc, _ = exported
    other = next(r for r in doc["related"] if r["origin"] == "yrd/340000")
    bad = dict(doc, certificate_chain_pem=other["certificate_chain_pem"])
    js = page.evaluate(VERIFY, [json.dumps(bad, ensure_ascii=False), 1])
    assert not js["valid"] and js["failure"]["check"] == "dsse-signature", js["failure"]
    assert "no signature is by the key" in js["failure"]["detail"]
    # Python sees it one check earlier: the certificate is not for region 330000.
    py = py_verify(bad)
    assert not py["valid"] and py["failure"]["check"] == "certificate-chain"


def test_an_oversized_envelope_is_refused_by_both(page, exported, py_verify) -> None:
    doc, _ = exported
    bad = _with_leaf(doc, lambda env: env.update(payload="A" * 300_000))
    js = page.evaluate(VERIFY, [json.dumps(bad), 1])
    assert not js["valid"] and js["failure"]["check"] == "dsse-signature"
    assert "limit" in js["failure"]["detail"]
    py = py_verify(bad)
    assert not py["valid"] and py["failure"]["check"] == "dsse-signature"


def test_verification_time_in_the_browser(page, exported) -> None:
    """Reported, not asserted (a busy machine): the whole bundle, verified 5 times."""
    doc, _ = exported
    ms = page.evaluate(
        """async (text) => {
      const v = await import("/verify.js");
      const t0 = performance.now();
      for (let i = 0; i < 5; i++) {
        if (!(await v.verifyBundle(text)).valid) throw new Error("not valid");
      }
      return (performance.now() - t0) / 5;
    }""",
        json.dumps(doc, ensure_ascii=False),
    )
    print(f"verify.js: a {len(json.dumps(doc))}-byte bundle verifies in {ms:.1f} ms")
    assert ms > 0


def test_hostile_input_gives_a_named_failure(page) -> None:
    """Not JSON, not a bundle, a proof too long: each a failed check, never an exception."""
    cases = [
        "not json",
        "[]",
        json.dumps({"format": "brandex.bundle/v2"}),
        "[" * 100_000,
    ]
    for text in cases:
        js = page.evaluate(VERIFY, [text, 1])
        assert not js["valid"] and js["failure"]["check"] == "format", (text[:20], js)


def _screens(name: str, tmp_path: Path) -> Path:
    where = DOCS_IMG if os.environ.get("BRANDEX_UPDATE_SCREENSHOTS") == "1" else tmp_path
    where.mkdir(parents=True, exist_ok=True)
    return where / name


def test_upload_pin_switch_and_drop_through_the_page(page, exported, tmp_path: Path) -> None:
    doc, _ = exported
    good = tmp_path / f"{RECORD}.bundle.json"
    good.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")

    page.set_input_files("#file", str(good))
    page.wait_for_selector("body[data-state=done]")
    verdict = page.locator("#verdict")
    assert verdict.get_attribute("data-valid") == "true"
    assert "验证通过" in verdict.inner_text()
    rows = page.locator("#checks tbody tr")
    assert rows.count() >= 8 and page.locator("#checks td.bad").count() == 0
    assert page.locator("#checks tr[data-check=cosignatures]").count() == 2  # one per log
    keys = page.locator("#keys tbody tr")
    assert keys.count() >= 2
    assert page.locator("#keys tr[data-pin=none]").count() == keys.count()

    page.click("#pin")
    assert page.locator("#keys tr[data-pin=match]").count() == keys.count()
    assert "一致" in page.locator("#pin-summary").inner_text()
    shot = _screens("verify-bundle.png", tmp_path)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    page.click("#lang")
    assert page.locator("h1").inner_text() == "Verify a bundle"
    assert verdict.inner_text().startswith("VALID")
    assert page.evaluate("document.documentElement.lang") == "en"

    # A tampered copy, dropped on the page: the failing check is named.
    bad = json.dumps(_cosignature(doc), ensure_ascii=False)
    page.evaluate("() => { document.body.dataset.state = 'waiting'; }")
    page.evaluate(
        """(text) => {
      const dt = new DataTransfer();
      dt.items.add(new File([text], "tampered.json", {type: "application/json"}));
      document.getElementById("drop").dispatchEvent(
        new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
    }""",
        bad,
    )
    page.wait_for_selector("body[data-state=done]")
    assert verdict.get_attribute("data-valid") == "false"
    assert "INVALID: cosignatures" in verdict.inner_text()
    assert page.locator("#checks tr.failed[data-check=cosignatures]").count() == 1
    shot = _screens("verify-bundle-tampered.png", tmp_path)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    # A pinned key that differs from the bundle's is called out.
    page.evaluate(
        """() => localStorage.setItem("brandex.pinnedKeys",
            JSON.stringify({"yrd/330000": ["00".repeat(32)]}))"""
    )
    page.evaluate("() => { document.body.dataset.state = 'waiting'; }")
    page.set_input_files("#file", str(good))
    page.wait_for_selector("body[data-state=done]")
    assert page.locator("#keys tr[data-pin=differs]").count() >= 1
    assert "Do not trust" in page.locator("#pin-summary").inner_text()
