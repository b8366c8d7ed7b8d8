"""Record bundles: built from real ledgers in memory, verified offline, and every
tampering rejected by the check that should catch it, with its reason."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from builders import counterfeit_case, member_ledgers, recognition, sync_all
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.signing import SigningKey

from exchange import pki
from exchange._proto.brandex.v1 import entries_pb2 as pb
from exchange.cli.main import cli
from exchange.core import x509
from exchange.core.bundle import CHECKS, FORMAT, Report, verify_bundle
from exchange.core.checkpoint import Checkpoint, parse_checkpoint_body
from exchange.core.cosignature import CosignatureSigner, cosign
from exchange.core.dsse import pae
from exchange.core.errors import NotFoundError
from exchange.core.note import (
    Ed25519NoteSigner,
    NoteSignature,
    add_signature,
    format_note,
    parse_note,
    sign_note,
)
from exchange.node.bundles import build_bundle, decode_entry
from exchange.node.ledger import Ledger

ROOT = Path(__file__).resolve().parents[3]
MEMBERS = {"zhejiang": "330000", "anhui": "340000", "jiangsu": "320000"}
KIND = pb.RecognitionKind.Value("PROVINCIAL_FAMOUS_BRAND_PRODUCT")


@dataclass
class World:
    certs: Path
    anchors: list
    ledgers: dict[str, Ledger]
    rogue: Path
    rogue_anchors: list

    def signing_key(self, name: str) -> SigningKey:
        return pki.load_signing_key(pki.member_paths(self.certs, name).signing_key)

    def signing_pem(self, name: str, certs: Path | None = None) -> str:
        return pki.member_paths(certs or self.certs, name).signing_cert.read_text()

    def bundle(self, record_id: str = "zj-1", node: str = "anhui") -> dict:
        return json.loads(build_bundle(self.ledgers[node], "330000", record_id))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("bundles")
    certs = root / "certs"
    pki.init_federation(certs, "yrd", MEMBERS)
    anchors = x509.load_pem_chain((certs / "anchor.pem").read_bytes())
    ledgers = member_ledgers(certs, root, MEMBERS)

    zj, ah = ledgers["zhejiang"], ledgers["anhui"]
    zj.issue(
        [
            (
                "accession",
                pb.Accession(
                    agreement_id="yrd-2003",
                    title="长三角名牌互认",
                    covered_kinds=[KIND],
                    effective_from="2003-08-31",
                    region="330000",
                ),
            )
        ]
    )
    zj.issue([("recognition", recognition("zj-1", "ZJMP-2024-0001"))])
    zj.issue([("recognition", recognition("zj-2", "ZJMP-2024-0002"))])
    for status, on in ((1, "2024-06-01"), (2, "2024-09-01")):  # SUSPENDED, REINSTATED
        zj.issue(
            [
                (
                    "status_change",
                    pb.StatusChange(record_id="zj-1", new_status=status, reason=1, effective_on=on),
                )
            ]
        )
    zj.issue(
        [
            (
                "status_change",
                pb.StatusChange(
                    record_id="zj-2", new_status=3, reason=1, effective_on="2024-03-01"
                ),
            )
        ]
    )
    # zj-3 is corrected: its validity ends a year earlier than first announced.
    zj.issue([("recognition", recognition("zj-3", "ZJMP-2024-0003"))])
    fixed = recognition("zj-3", "ZJMP-2024-0003")
    fixed.valid_until = "2025-12-31"
    zj.issue(
        [
            (
                "status_change",
                pb.StatusChange(
                    record_id="zj-3",
                    new_status=5,  # CORRECTED
                    reason=8,
                    reason_text="validity misprinted",
                    effective_on="2024-02-01",
                    corrected=fixed,
                ),
            )
        ]
    )
    ah.issue(
        [
            (
                "accession",
                pb.Accession(
                    agreement_id="yrd-2003",
                    covered_kinds=[KIND],
                    effective_from="2006-08-29",
                    region="340000",
                ),
            )
        ]
    )
    # Anhui reports a counterfeit case about zj-1 and acts on it.
    ah.issue(
        [
            (
                "infringement_case",
                counterfeit_case(),
            ),
            (
                "case_action",
                pb.CaseAction(
                    case_region="340000",
                    case_id="ah-2024-7",
                    acting_region="340000",
                    action=3,
                    date="2024-07-05",
                ),
            ),
        ]
    )
    sync_all(ledgers)

    rogue = root / "rogue"
    pki.init_federation(rogue, "yrd", MEMBERS)
    rogue_anchors = x509.load_pem_chain((rogue / "anchor.pem").read_bytes())
    return World(certs, anchors, ledgers, rogue, rogue_anchors)


def verify(world: World, doc: dict, **kw) -> Report:
    args = {
        "anchors": world.anchors,
        "min_cosignatures": 2,
        "on": date(2024, 5, 1),
        "region": None,
        "now": datetime.now(UTC),  # the world is built when its first test runs
        "decode_entry": decode_entry,
        "parse_entry": pb.Entry.FromString,
    }
    args.update(kw)
    return verify_bundle(doc, **args)


def failed(report: Report) -> tuple[str, str, str]:
    f = report.failure
    assert f is not None, report.to_text()
    return f.name, f.subject, f.detail


def leaf_doc(leaf: str) -> dict:
    return json.loads(leaf)


def dump_leaf(env: dict) -> str:
    return json.dumps(env, separators=(",", ":"), sort_keys=True)


def replace_note(doc: dict, origin: str, new_note: str) -> None:
    """Swap the checkpoint note in every tlog-proof of ``origin``."""
    for item in [doc, *doc["related"], *doc.get("key_entries", [])]:
        if item.get("origin", doc["origin"]) == origin:
            head, sep, _ = item["tlog_proof"].partition("\n\n")
            item["tlog_proof"] = head + sep + new_note


def note_of(doc: dict) -> str:
    return doc["tlog_proof"].partition("\n\n")[2]


# ----------------------------------------------------------------- valid


def test_bundle_from_a_mirror_verifies(world: World) -> None:
    doc = world.bundle()
    assert doc["format"] == FORMAT
    assert (doc["origin"], doc["issuer"], doc["record_id"]) == ("yrd/330000", "330000", "zj-1")
    types = [(r["type"], r["origin"]) for r in doc["related"]]
    assert types == [
        ("status_change", "yrd/330000"),
        ("status_change", "yrd/330000"),
        ("infringement_case", "yrd/340000"),
        ("case_action", "yrd/340000"),
        ("accession", "yrd/330000"),
        ("accession", "yrd/340000"),
    ]
    # Items of another origin carry their chain and their log's vkey; own ones inherit.
    for r in doc["related"]:
        assert ("certificate_chain_pem" in r) == (r["origin"] != "yrd/330000")
        assert ("vkey" in r) == (r["origin"] != "yrd/330000")
    assert set(doc["witness_chains"]) == {"yrd/320000", "yrd/340000", "yrd/330000"}
    assert "log_chains" not in doc  # no key rotation: the entry signers signed the checkpoints
    report = verify(world, doc)
    assert report.valid, report.to_text()
    names = {c.name for c in report.checks}
    assert names == set(CHECKS) - {"recognition"}
    assert report.status is not None and report.status.status == "valid"
    assert report.entries[0] == f"yrd/330000#{doc['index']}"
    assert len(report.entries) == 1 + len(doc["related"])


def test_bundle_from_the_issuer_itself_verifies(world: World) -> None:
    report = verify(world, world.bundle(node="zhejiang"))
    assert report.valid, report.to_text()


def test_the_anchor_is_left_out_of_chains(world: World) -> None:
    doc = world.bundle()
    anchor = (world.certs / "anchor.pem").read_text()
    pems = [doc["certificate_chain_pem"], *doc["witness_chains"].values()]
    assert all(anchor.strip() not in p for chain in pems for p in chain)


@pytest.mark.parametrize(
    ("on", "status"),
    [
        (date(2024, 1, 14), "not-yet-valid"),
        (date(2024, 5, 1), "valid"),
        (date(2024, 7, 1), "suspended"),
        (date(2024, 10, 1), "valid"),
        (date(2027, 1, 10), "expired"),
    ],
)
def test_status_is_recomputed_from_the_included_entries(world, on, status) -> None:
    report = verify(world, world.bundle(), on=on)
    assert report.valid and report.status is not None
    assert report.status.status == status


def test_a_revoked_record_still_has_a_valid_bundle(world: World) -> None:
    report = verify(world, world.bundle("zj-2"), on=date(2024, 5, 1))
    assert report.valid, report.to_text()
    assert report.status is not None and report.status.status == "revoked"


@pytest.mark.parametrize(
    ("region", "on", "recognised", "code"),
    [
        ("340100", date(2024, 10, 1), True, "agreement"),  # Hefei: Anhui acceded
        ("330300", date(2024, 10, 1), True, "jurisdiction"),  # Wenzhou: within Zhejiang
        ("340100", date(2024, 7, 1), False, "suspended"),
        ("410000", date(2024, 10, 1), False, "no-agreement"),  # Henan never acceded
    ],
)
def test_recognition_in_a_region(world, region, on, recognised, code) -> None:
    report = verify(world, world.bundle(), on=on, region=region)
    assert report.decision is not None and report.decision.code == code
    assert report.valid is recognised
    if not recognised:
        name, subject, detail = failed(report)
        assert name == "recognition" and region in subject and code in detail


def test_a_correction_replaces_the_record(world: World) -> None:
    doc = world.bundle("zj-3")
    assert doc["payload"]["recognition"]["valid_until"] == "2026-12-31"
    report = verify(world, doc, on=date(2026, 6, 1))
    assert report.valid, report.to_text()
    assert report.status is not None and report.status.status == "expired"
    assert report.status.valid_until == date(2025, 12, 31)


def test_checkpoint_key_chains(world: World) -> None:
    """``log_chains`` (used after a key rotation) are certified like any other chain."""
    doc = world.bundle()
    doc["log_chains"] = {"yrd/330000": doc["certificate_chain_pem"]}
    report = verify(world, doc)
    assert report.valid, report.to_text()
    assert report.checks[1].subject == "log key yrd/330000"
    doc["log_chains"] = {"yrd/330000": [world.signing_pem("anhui")]}
    name, subject, detail = failed(verify(world, doc))
    assert (name, subject) == ("certificate-chain", "log key yrd/330000")
    assert "region 340000, not 330000" in detail


def test_text_and_json_reports(world: World) -> None:
    report = verify(world, world.bundle(), region="340100")
    text = report.to_text()
    assert text.splitlines()[-1].startswith("VALID:")
    d = report.to_dict()
    assert d["valid"] is True and d["failure"] is None
    assert d["recognition"]["recognised"] is True
    assert d["status"]["status"] == "valid"
    json.dumps(d)  # serialisable


def test_unknown_record_is_not_found(world: World) -> None:
    with pytest.raises(NotFoundError):
        build_bundle(world.ledgers["anhui"], "330000", "no-such-record")


# ------------------------------------------------------------- tampering


def test_payload_byte_flipped(world: World) -> None:
    doc = world.bundle()
    env = leaf_doc(doc["leaf"])
    payload = bytearray(base64.b64decode(env["payload"]))
    payload[-1] ^= 0x01
    env["payload"] = base64.b64encode(bytes(payload)).decode()
    doc["leaf"] = dump_leaf(env)
    name, subject, detail = failed(verify(world, doc))
    assert (name, subject) == ("dsse-signature", "record yrd/330000#2")
    assert "does not verify" in detail


def test_leaf_byte_flipped_outside_the_payload(world: World) -> None:
    doc = world.bundle()
    doc["leaf"] = doc["leaf"].replace('"payloadType"', '"payloadTypf"')
    name, _, detail = failed(verify(world, doc))
    assert name == "dsse-signature" and "payload, payloadType and signatures" in detail


def test_signature_swapped(world: World) -> None:
    doc = world.bundle()
    other = leaf_doc(world.bundle("zj-2")["leaf"])
    env = leaf_doc(doc["leaf"])
    env["signatures"] = other["signatures"]
    doc["leaf"] = dump_leaf(env)
    name, _, detail = failed(verify(world, doc))
    assert name == "dsse-signature" and "does not verify" in detail


def test_certificate_from_another_region(world: World) -> None:
    doc = world.bundle()
    doc["certificate_chain_pem"] = [world.signing_pem("anhui")]
    name, subject, detail = failed(verify(world, doc))
    assert (name, subject) == ("certificate-chain", "record yrd/330000#2")
    assert "region 340000, not 330000" in detail


def test_chain_to_an_untrusted_anchor(world: World) -> None:
    # The verifier trusts another federation's anchor ...
    name, _, detail = failed(verify(world, world.bundle(), anchors=world.rogue_anchors))
    assert name == "certificate-chain" and "not issued by any trusted anchor" in detail
    # ... or the bundle carries a certificate from an untrusted CA for the right region.
    doc = world.bundle()
    doc["certificate_chain_pem"] = [world.signing_pem("zhejiang", world.rogue)]
    name, _, detail = failed(verify(world, doc))
    assert name == "certificate-chain" and "not issued by any trusted anchor" in detail


def test_related_entry_with_a_foreign_certificate(world: World) -> None:
    doc = world.bundle()
    case = next(r for r in doc["related"] if r["type"] == "infringement_case")
    case["certificate_chain_pem"] = [world.signing_pem("jiangsu")]
    name, subject, detail = failed(verify(world, doc))
    assert (name, subject) == ("certificate-chain", f"infringement_case yrd/340000#{case['index']}")
    assert "region 320000, not 340000" in detail


def test_proof_hash_changed(world: World) -> None:
    doc = world.bundle()
    lines = doc["tlog_proof"].split("\n")
    assert lines[1].startswith("index ") and lines[2]  # at least one proof hash
    lines[2] = base64.b64encode(hashlib.sha256(b"forged").digest()).decode()
    doc["tlog_proof"] = "\n".join(lines)
    name, _, detail = failed(verify(world, doc))
    assert name == "inclusion-proof" and "leads to root" in detail


def test_proof_hash_removed(world: World) -> None:
    doc = world.bundle()
    lines = doc["tlog_proof"].split("\n")
    del lines[2]
    doc["tlog_proof"] = "\n".join(lines)
    name, _, detail = failed(verify(world, doc))
    assert name == "inclusion-proof" and "expected" in detail


def test_index_changed(world: World) -> None:
    doc = world.bundle()
    doc["index"] = 3
    name, _, detail = failed(verify(world, doc))
    assert name == "inclusion-proof" and "for index 2, not 3" in detail


def test_checkpoint_resigned_by_a_non_issuer(world: World) -> None:
    doc = world.bundle()
    note = parse_note(note_of(doc))
    cp = parse_checkpoint_body(note.text)
    other = Checkpoint(cp.origin, cp.size + 1, hashlib.sha256(b"other tree").digest())
    # Anhui's key, under Zhejiang's log name, over the same (or a different) body.
    for body in (note.text, other.to_body()):
        forged = sign_note(body, [Ed25519NoteSigner("yrd/330000", world.signing_key("anhui"))])
        for sig in note.signatures[1:]:
            forged = add_signature(forged, sig)
        bad = copy.deepcopy(doc)
        replace_note(bad, "yrd/330000", format_note(forged))
        name, subject, detail = failed(verify(world, bad))
        assert (name, subject) == ("checkpoint-signature", "record yrd/330000#2")
        assert "no signature from a known key" in detail


def test_checkpoint_signature_bytes_changed(world: World) -> None:
    doc = world.bundle()
    note = parse_note(note_of(doc))
    log_sig = note.signatures[0]
    bad_sig = NoteSignature(log_sig.name, log_sig.key_id, bytes(64))
    forged = format_note(note.__class__(note.text, [bad_sig, *note.signatures[1:]]))
    replace_note(doc, "yrd/330000", forged)
    name, _, detail = failed(verify(world, doc))
    assert name == "checkpoint-signature" and "does not verify" in detail


def test_too_few_cosignatures(world: World) -> None:
    doc = world.bundle()
    name, subject, detail = failed(verify(world, doc, min_cosignatures=3))
    assert (name, subject) == ("cosignatures", "checkpoint yrd/330000@9")
    assert "2 valid from other members" in detail and "at least 3 required" in detail
    # Strip every cosignature: even one required is then too many.
    note = parse_note(note_of(doc))
    replace_note(doc, "yrd/330000", format_note(note.__class__(note.text, note.signatures[:1])))
    name, _, detail = failed(verify(world, doc, min_cosignatures=1))
    assert name == "cosignatures" and "0 valid" in detail
    assert verify(world, doc, min_cosignatures=0).valid


def test_cosignature_bytes_changed(world: World) -> None:
    doc = world.bundle()
    note = parse_note(note_of(doc))
    sigs = list(note.signatures)
    sig = sigs[1].sig  # flip a bit: setting a byte could leave it as it was (1 in 256)
    sigs[1] = NoteSignature(sigs[1].name, sigs[1].key_id, sig[:-1] + bytes([sig[-1] ^ 1]))
    replace_note(doc, "yrd/330000", format_note(note.__class__(note.text, sigs)))
    name, _, detail = failed(verify(world, doc))
    assert name == "cosignatures" and "does not verify" in detail


def test_witness_key_must_be_certified_for_the_named_member(world: World) -> None:
    doc = world.bundle()
    doc["witness_chains"]["yrd/320000"] = [world.signing_pem("jiangsu", world.rogue)]
    name, _, detail = failed(verify(world, doc))
    assert name == "cosignatures" and "yrd/320000/witness: certificate" in detail
    assert "not issued by any trusted anchor" in detail
    # A witness chain of another member does not certify this cosigner either.
    doc = world.bundle()
    doc["witness_chains"]["yrd/320000"] = doc["witness_chains"]["yrd/340000"]
    name, _, detail = failed(verify(world, doc))
    assert name == "cosignatures" and "yrd/320000/witness" in detail


def test_a_log_does_not_witness_itself(world: World) -> None:
    doc = world.bundle()
    note = parse_note(note_of(doc))
    own = cosign(
        note.text, CosignatureSigner("yrd/330000/witness", world.signing_key("zhejiang")), 1
    )
    rogue = SigningKey.generate()
    stranger = cosign(note.text, CosignatureSigner("yrd/310000/witness", rogue), 1)
    only_log = note.__class__(note.text, [note.signatures[0], own, stranger])
    replace_note(doc, "yrd/330000", format_note(only_log))
    name, _, detail = failed(verify(world, doc, min_cosignatures=1))
    assert name == "cosignatures" and "0 valid" in detail
    assert "a log does not witness itself" in detail
    assert "yrd/310000/witness: no certified key in the bundle" in detail


def test_human_payload_copy_changed(world: World) -> None:
    doc = world.bundle()
    doc["payload"]["recognition"]["brand_name"] = "东湖"
    name, _, detail = failed(verify(world, doc))
    assert name == "payload-copy" and "differs" in detail


def test_payload_naming_another_region(world: World) -> None:
    def lying(payload: bytes) -> dict:
        return {**decode_entry(payload), "region": "340000"}

    name, _, detail = failed(verify(world, world.bundle(), decode_entry=lying))
    assert name == "payload-region" and "names yrd/340000, but the log is yrd/330000" in detail


def test_bundle_about_another_record(world: World) -> None:
    doc = world.bundle()
    doc["record_id"] = "zj-2"
    name, _, detail = failed(verify(world, doc))
    assert name == "payload-region" and "'zj-1', not 'zj-2'" in detail


def test_status_change_of_another_record_smuggled_in(world: World) -> None:
    doc = world.bundle()
    foreign = world.bundle("zj-2")["related"][0]
    assert foreign["type"] == "status_change"
    doc["related"].insert(0, foreign)
    name, _, detail = failed(verify(world, doc))
    assert name == "payload-region" and "record 'zj-2', not yrd/330000 record 'zj-1'" in detail


def test_declared_type_must_match_the_signed_body(world: World) -> None:
    doc = world.bundle()
    doc["related"][0]["type"] = "withdrawal"
    name, _, detail = failed(verify(world, doc))
    assert name == "payload-region" and "is a status_change, the bundle says withdrawal" in detail


def test_signed_in_the_future_or_outside_the_certificate(world: World) -> None:
    def later(payload: bytes) -> dict:
        entry = decode_entry(payload)
        if "recognition" not in entry:
            return entry
        return {**entry, "issued_at": "2099-01-01T00:00:00+00:00"}

    doc = world.bundle()
    doc["payload"]["issued_at"] = "2099-01-01T00:00:00+00:00"
    name, _, detail = failed(verify(world, doc, decode_entry=later))
    assert name == "signing-time" and "outside the validity of key" in detail


def test_case_action_without_its_case(world: World) -> None:
    doc = world.bundle()
    doc["related"] = [r for r in doc["related"] if r["type"] != "infringement_case"]
    name, _, detail = failed(verify(world, doc))
    assert name == "references" and "ah-2024-7" in detail


def test_vkey_of_an_uncertified_key(world: World) -> None:
    doc = world.bundle()
    doc["vkeys"][0] = Ed25519NoteSigner("yrd/330000", SigningKey.generate()).vkey_string()
    name, _, detail = failed(verify(world, doc))
    assert name == "vkeys" and "not a key certified for yrd/330000" in detail


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda d: d.update(format="brandex.bundle/v2"), "format must be"),
        (lambda d: d.pop("leaf"), "bundle.leaf"),
        (lambda d: d.update(origin="yrd/33000"), "six-digit region"),
        (lambda d: d.update(related=[*d["related"], d["related"][0]]), "appears twice"),
        (lambda d: d["related"][2].pop("certificate_chain_pem"), "needs its certificate_chain"),
        (lambda d: d.update(witness_chains=[]), "witness_chains must be an object"),
        (lambda d: d.update(issuer="340000"), "issuer must be the origin's region"),
    ],
)
def test_malformed_bundles(world: World, edit, reason) -> None:
    doc = world.bundle()
    edit(doc)
    name, subject, detail = failed(verify(world, doc))
    assert (name, subject) == ("format", "bundle") and reason in detail


def test_not_an_object(world: World) -> None:
    assert failed(verify(world, [1, 2]))[0] == "format"


# ------------------------------------------------------------------ limits


def test_omitted_status_change_is_a_documented_limit(world: World) -> None:
    """A bundle proves inclusion, not completeness (docs/audit.md, "Limits")."""
    doc = world.bundle()
    doc["related"] = [
        r
        for r in doc["related"]
        if r["payload"].get("status_change", {}).get("new_status") != "REINSTATED"
    ]
    report = verify(world, doc, on=date(2024, 10, 1))
    assert report.valid
    assert report.status is not None and report.status.status == "suspended"
    # What the report does say: which entries the answer rests on.
    assert "from 1 status change(s) in the bundle" in report.checks[-1].detail
    assert (ROOT / "docs" / "audit.md").read_text().count("completeness") >= 1


# ------------------------------------------------------- by hand, no brandex


def test_verifiable_by_hand_with_stdlib_and_cryptography(world: World) -> None:
    """The recipe in docs/audit.md, written without brandex code."""
    doc = world.bundle()
    leaf = doc["leaf"].encode()
    env = json.loads(leaf)
    payload = base64.b64decode(env["payload"])
    # DSSE: Ed25519 over PAE with the key in the signer's certificate.
    cert = x509.load_pem_chain(doc["certificate_chain_pem"][0].encode())[0]
    key = cert.public_key()
    assert isinstance(key, Ed25519PublicKey)
    ptype = env["payloadType"].encode()
    message = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(payload), payload)
    assert message == pae(env["payloadType"], payload)
    key.verify(base64.b64decode(env["signatures"][0]["sig"]), message)
    assert env["signatures"][0]["keyid"] == hashlib.sha256(key.public_bytes_raw()).hexdigest()
    # RFC 9162 inclusion: recompute the root from the tlog-proof.
    head, _, note = doc["tlog_proof"].partition("\n\n")
    lines = head.split("\n")
    index = int(lines[1].removeprefix("index "))
    path = [base64.b64decode(h) for h in lines[2:]]
    origin, size, root = note.split("\n")[:3]
    fn, sn = index, int(size) - 1
    r = hashlib.sha256(b"\x00" + leaf).digest()
    for p in path:
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0 and r == base64.b64decode(root) and origin == doc["origin"]
    # C2SP signed note: the log's Ed25519 signature over the note text.
    text, _, sigs = note.rpartition("\n\n")
    name, b64 = sigs.split("\n")[0].removeprefix("\u2014 ").split(" ")
    raw = base64.b64decode(b64)
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + key.public_bytes_raw()).digest()[:4]
    assert name == origin and raw[:4] == key_id
    key.verify(raw[4:], (text + "\n").encode())


# ----------------------------------------------------------------- schema


def _check_schema(value, schema: dict, defs: dict, path: str = "$") -> None:
    """The subset of JSON Schema 2020-12 docs/bundle.schema.json uses."""
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[1]]
    types = {
        "object": dict,
        "array": list,
        "string": str,
        "integer": int,
        "boolean": bool,
        "null": type(None),
    }
    t = schema.get("type")
    if t is not None:
        allowed = t if isinstance(t, list) else [t]
        assert any(isinstance(value, types[x]) for x in allowed), f"{path}: not {t}"
    if "const" in schema:
        assert value == schema["const"], path
    if "enum" in schema:
        assert value in schema["enum"], path
    if "pattern" in schema:
        import re

        assert re.search(schema["pattern"], value), f"{path}: {value!r} !~ {schema['pattern']}"
    if "minimum" in schema:
        assert value >= schema["minimum"], path
    if isinstance(value, dict):
        for k in schema.get("required", []):
            assert k in value, f"{path}: missing {k}"
        props = schema.get("properties", {})
        for k, v in value.items():
            if k in props:
                _check_schema(v, props[k], defs, f"{path}.{k}")
            elif isinstance(schema.get("additionalProperties"), dict):
                _check_schema(v, schema["additionalProperties"], defs, f"{path}.{k}")
            else:
                assert schema.get("additionalProperties", True) is not False, f"{path}: extra {k}"
    if isinstance(value, list):
        if "minItems" in schema:
            assert len(value) >= schema["minItems"], path
        for i, v in enumerate(value):
            if "items" in schema:
                _check_schema(v, schema["items"], defs, f"{path}[{i}]")


def test_bundles_match_the_published_schema(world: World) -> None:
    schema = json.loads((ROOT / "docs" / "bundle.schema.json").read_text())
    assert schema["properties"]["format"]["const"] == FORMAT
    for doc in (world.bundle(), world.bundle("zj-2"), world.bundle(node="zhejiang")):
        _check_schema(doc, schema, schema.get("$defs", {}))


# -------------------------------------------------------------------- CLI


@pytest.fixture
def bundle_file(world: World, tmp_path: Path) -> Path:
    path = tmp_path / "zj-1.bundle.json"
    path.write_text(build_bundle(world.ledgers["anhui"], "330000", "zj-1"), encoding="utf-8")
    return path


def run_verify(world: World, *args: str):
    anchor = str(world.certs / "anchor.pem")
    return CliRunner().invoke(cli, ["audit", "verify", *args, "--anchors", anchor])


def test_cli_verify_valid_is_exit_0(world: World, bundle_file: Path) -> None:
    r = run_verify(world, str(bundle_file), "--min-cosignatures", "2", "--on", "2024-10-01")
    assert r.exit_code == 0, r.output
    assert "VALID" in r.output
    r = run_verify(
        world, str(bundle_file), "--in", "340100", "--on", "2024-10-01", "--format", "json"
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["valid"] and out["recognition"]["code"] == "agreement"


def test_cli_verify_tampered_is_exit_1(world: World, bundle_file: Path) -> None:
    doc = json.loads(bundle_file.read_text())
    doc["payload"]["recognition"]["valid_until"] = "2099-12-31"
    bundle_file.write_text(json.dumps(doc))
    r = run_verify(world, str(bundle_file), "--format", "json")
    assert r.exit_code == 1
    assert json.loads(r.output)["failure"]["check"] == "payload-copy"
    bundle_file.write_text("{not json")
    r = run_verify(world, str(bundle_file))
    assert r.exit_code == 1 and "INVALID: format" in r.output


def test_cli_verify_not_recognised_is_exit_1(world: World, bundle_file: Path) -> None:
    r = run_verify(world, str(bundle_file), "--in", "410000", "--on", "2024-10-01")
    assert r.exit_code == 1 and "no-agreement" in r.output


@pytest.mark.parametrize(
    "args",
    [
        ["--on", "2024-13-01"],
        ["--on", "2024年2月30日"],  # 20240101 is a date now (the importer's forms)
        ["--in", "999999"],
        ["--min-cosignatures", "-1"],
        ["--format", "xml"],
    ],
)
def test_cli_verify_usage_errors_are_exit_2(world: World, bundle_file: Path, args) -> None:
    r = run_verify(world, str(bundle_file), *args)
    assert r.exit_code == 2, r.output


def test_cli_verify_needs_anchors_and_a_file(tmp_path: Path, bundle_file: Path) -> None:
    r = CliRunner().invoke(cli, ["audit", "verify", str(bundle_file)])
    assert r.exit_code == 2 and "--anchors" in r.output
    not_pem = tmp_path / "anchor.pem"
    not_pem.write_text("hello")
    r = CliRunner().invoke(cli, ["audit", "verify", str(bundle_file), "--anchors", str(not_pem)])
    assert r.exit_code == 2 and "PEM" in r.output
    r = CliRunner().invoke(
        cli, ["audit", "verify", str(tmp_path / "missing.json"), "--anchors", str(not_pem)]
    )
    assert r.exit_code == 2


@pytest.mark.parametrize("command", ["bundle", "verify"])
def test_cli_help_has_an_example(command: str) -> None:
    r = CliRunner().invoke(cli, ["audit", command, "--help"])
    assert r.exit_code == 0 and "Example:" in r.output
