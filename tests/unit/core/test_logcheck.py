"""Whole-log audit checks (exchange.core.logcheck): logs built in memory with real
certified keys, each tampering found by the check that should find it."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from builders import counterfeit_case, recognition
from nacl.signing import SigningKey

from exchange import pki, pki_issue
from exchange._proto.brandex.v1 import entries_pb2 as pb
from exchange.audit.report import to_html, to_json, to_text
from exchange.audit.runner import decode_entry
from exchange.core import merkle, x509
from exchange.core.checkpoint import Checkpoint, sign_checkpoint
from exchange.core.cosignature import CosignatureSigner, cosign
from exchange.core.dsse import keyid_of, parse_envelope, sign_envelope
from exchange.core.keys import KeyHistory
from exchange.core.log_envelopes import check_envelopes
from exchange.core.logcheck import MAX_LISTED, AuditResult, LogAudit
from exchange.core.note import Ed25519NoteSigner, NoteSignature, add_signature, format_note
from exchange.core.origin import parse_origin

MEMBERS = {"zhejiang": "330000", "anhui": "340000", "jiangsu": "320000"}
KIND = pb.RecognitionKind.Value("PROVINCIAL_FAMOUS_BRAND_PRODUCT")
ZJ, AH, JS = "yrd/330000", "yrd/340000", "yrd/320000"
CLOCK = datetime.now(UTC)
NOW = CLOCK.isoformat(timespec="seconds")
EMPTY = KeyHistory(parse_origin(ZJ))


class Log:
    """One member's log, built entry by entry and signed with its certified key."""

    def __init__(self, certs: Path, name: str) -> None:
        paths = pki.member_paths(certs, name)
        self.region = MEMBERS[name]
        self.origin = f"yrd/{self.region}"
        self.key = pki.load_signing_key(paths.signing_key)
        self.chain = [paths.signing_cert.read_text()]
        self.envelopes: list[bytes] = []
        self.add(
            "key_announcement",
            pb.KeyAnnouncement(
                public_key=bytes(self.key.verify_key),
                certificate_chain_pem=self.chain,
                effective_from="2024-01-01",
            ),
        )

    def entry(self, field: str, msg, *, region: str | None = None) -> pb.Entry:
        e = pb.Entry(federation="yrd", region=region or self.region, issued_at=NOW)
        getattr(e, field).CopyFrom(msg)
        return e

    def add(self, field: str, msg, *, key: SigningKey | None = None, region: str | None = None):
        payload = self.entry(field, msg, region=region).SerializeToString()
        self.envelopes.append(sign_envelope(payload, key or self.key))
        return len(self.envelopes) - 1

    def root(self, size: int | None = None) -> bytes:
        tree = merkle.MemoryHashStore()
        tree.append([merkle.leaf_hash(e) for e in self.envelopes])
        return merkle.root_hash(len(self.envelopes) if size is None else size, tree)

    def checkpoint(self, size: int | None = None, root: bytes | None = None) -> str:
        size = len(self.envelopes) if size is None else size
        cp = Checkpoint(self.origin, size, root or self.root(size))
        return format_note(sign_checkpoint(cp, Ed25519NoteSigner(self.origin, self.key)))


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("logcheck") / "certs"
    pki.init_federation(out, "yrd", MEMBERS)
    return out


@pytest.fixture(scope="module")
def anchors(certs: Path):
    return x509.load_pem_chain((certs / "anchor.pem").read_bytes())


def clean_logs(certs: Path) -> tuple[Log, Log]:
    zj, ah = Log(certs, "zhejiang"), Log(certs, "anhui")
    acc = pb.Accession(
        agreement_id="yrd-2003",
        covered_kinds=[KIND],
        effective_from="2003-08-31",
        region="330000",
    )
    zj.add("accession", acc)
    zj.add("recognition", recognition("zj-1", "ZJMP-2024-0001"))
    zj.add("recognition", recognition("zj-2", "ZJMP-2024-0002"))
    zj.add(
        "status_change",
        pb.StatusChange(record_id="zj-1", new_status=1, reason=1, effective_on="2024-06-01"),
    )
    zj.add(
        "status_change",
        pb.StatusChange(record_id="zj-1", new_status=2, reason=1, effective_on="2024-09-01"),
    )
    fixed = recognition("zj-2", "ZJMP-2024-0002")
    fixed.valid_until = "2025-12-31"
    zj.add(
        "status_change",
        pb.StatusChange(
            record_id="zj-2", new_status=5, reason=8, effective_on="2024-02-01", corrected=fixed
        ),
    )
    zj.add(
        "withdrawal",
        pb.Withdrawal(agreement_id="yrd-2003", region="330000", effective_on="2025-01-01"),
    )
    ah.add(
        "infringement_case",
        counterfeit_case(),
    )
    ah.add(
        "case_action",
        pb.CaseAction(
            case_region="340000",
            case_id="ah-2024-7",
            acting_region="340000",
            action=6,
            date="2024-07-05",
        ),
    )
    return zj, ah


def cosigned(note: str, by: Log, at: int = 1_700_000_000) -> str:
    from exchange.core.note import parse_note

    n = parse_note(note)
    signer = CosignatureSigner(f"{by.origin}/witness", by.key)
    return format_note(add_signature(n, cosign(n.text, signer, at)))


def audit_of(anchors, copies: dict[tuple[str, str], list[bytes]], notes) -> AuditResult:
    """copies: (origin, node) -> envelopes; notes: (origin, node, note text[, evidence])."""
    audit = LogAudit(anchors, decode_entry, now=CLOCK)
    for (origin, node), envs in copies.items():
        audit.add_copy(origin, node, envs, batch=3)
    for origin, node, note, *ev in notes:
        audit.checkpoint(origin, node, note, evidence=bool(ev and ev[0]))
    return audit.finish()


def kinds(result: AuditResult) -> list[tuple[str, str, int | None]]:
    return [(i.kind, i.origin, i.index) for i in result.issues]


def standard(anchors, zj: Log, ah: Log, *, zj_envs=None, extra_notes=()) -> AuditResult:
    return audit_of(
        anchors,
        {(ZJ, "A"): zj_envs or zj.envelopes, (AH, "A"): ah.envelopes, (ZJ, "B"): zj.envelopes},
        [
            (ZJ, "A", cosigned(zj.checkpoint(), ah)),
            (ZJ, "B", zj.checkpoint()),
            (AH, "A", cosigned(ah.checkpoint(), zj)),
            *extra_notes,
        ],
    )


# ------------------------------------------------------------------ clean


def test_a_clean_federation_passes(certs, anchors) -> None:
    zj, ah = clean_logs(certs)
    result = standard(anchors, zj, ah)
    assert result.clean, to_text(result)
    o = result.origins[ZJ]
    assert o["entries"] == len(zj.envelopes) == 8
    assert o["kinds"] == {
        "accession": 1,
        "key_announcement": 1,
        "recognition": 2,
        "status_change": 3,
        "withdrawal": 1,
    }
    assert len(o["histories"]) == 1 and o["histories"][0]["nodes"] == ["A", "B"]
    assert o["witnesses"] == {"yrd/340000/witness": [8]}
    assert o["checkpoints"][0]["backed"] and o["checkpoints"][0]["sources"] == ["A", "B"]
    assert result.origins[AH]["witnesses"] == {"yrd/330000/witness": [3]}
    assert "CLEAN" in to_text(result)
    chinese = to_text(result, "zh")
    assert chinese.endswith("结果：无异常，未发现问题") and "个节点" in chinese
    assert json.loads(to_json(result))["clean"] is True


def test_a_lagging_node_is_not_an_issue(certs, anchors) -> None:
    zj, ah = clean_logs(certs)
    old = zj.checkpoint(5)
    result = audit_of(
        anchors,
        {(ZJ, "A"): zj.envelopes, (ZJ, "B"): zj.envelopes[:5], (AH, "A"): ah.envelopes},
        [(ZJ, "A", zj.checkpoint()), (ZJ, "B", old), (AH, "A", ah.checkpoint())],
    )
    assert result.clean, to_text(result)
    assert [c["size"] for c in result.origins[ZJ]["checkpoints"]] == [5, 8]


def test_identical_copies_are_verified_once(certs, anchors) -> None:
    zj, _ = clean_logs(certs)
    audit = LogAudit(anchors, decode_entry, now=CLOCK)
    audit.add_copy(ZJ, "A", zj.envelopes)
    audit.add_copy(ZJ, "B", zj.envelopes)
    audit.add_copy(ZJ, "C", zj.envelopes[:4])
    assert len(audit.histories(ZJ)) == 1
    assert audit.counts() == (8, 8)


# -------------------------------------------------------------- envelopes


def _tamper_payload(env: bytes) -> bytes:
    doc = json.loads(env)
    payload = bytearray(base64.b64decode(doc["payload"]))
    payload[-3] ^= 0x01
    doc["payload"] = base64.b64encode(bytes(payload)).decode()
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def test_a_tampered_envelope_is_found(certs, anchors) -> None:
    zj, ah = clean_logs(certs)
    envs = list(zj.envelopes)
    envs[2] = _tamper_payload(envs[2])
    result = audit_of(
        anchors,
        {(ZJ, "A"): envs, (AH, "A"): ah.envelopes},
        [(ZJ, "A", zj.checkpoint()), (AH, "A", ah.checkpoint())],
    )
    found = kinds(result)
    assert ("envelope", ZJ, 2) in found
    env_issue = next(i for i in result.issues if i.kind == "envelope")
    assert "does not verify" in env_issue.message
    # The issuer's checkpoint commits to the untampered leaf: the node's copy does not match it.
    assert any(i.kind == "checkpoint" and "do not hash" in i.message for i in result.issues)
    assert not result.clean


def test_an_envelope_that_is_not_dsse(certs, anchors) -> None:
    zj, _ = clean_logs(certs)
    res = check_envelopes(
        ZJ, 0, [zj.envelopes[0], b"{not json"], EMPTY, anchors, decode_entry, now=CLOCK
    )
    assert [(i.kind, i.index) for i in res.issues] == [("envelope", 1)]
    assert res.history is not None and len(res.history.keys) == 1


def test_an_entry_signed_by_another_region_is_found(certs, anchors) -> None:
    zj, ah = clean_logs(certs)
    js = Log(certs, "jiangsu")
    # A record in Zhejiang's log, signed with Jiangsu's (certified) key.
    zj.add("recognition", recognition("zj-9", "ZJMP-2024-0009"), key=js.key)
    result = audit_of(
        anchors,
        {(JS, "A"): js.envelopes, (ZJ, "A"): zj.envelopes, (AH, "A"): ah.envelopes},
        [(ZJ, "A", zj.checkpoint())],
    )
    issue = next(i for i in result.issues if i.kind == "signer")
    assert (issue.origin, issue.index) == (ZJ, 8)
    assert "yrd/320000" in issue.message and "not certified for yrd/330000" in issue.message


def test_a_key_announcement_with_another_regions_certificate(certs, anchors) -> None:
    js = Log(certs, "jiangsu")
    fake = Log(certs, "zhejiang")
    # Zhejiang's log whose first entry announces Jiangsu's key with Jiangsu's certificate.
    fake.envelopes = []
    fake.key = js.key
    fake.add(
        "key_announcement",
        pb.KeyAnnouncement(public_key=bytes(js.key.verify_key), certificate_chain_pem=js.chain),
    )
    fake.add("recognition", recognition("zj-1", "ZJMP-2024-0001"))
    res = check_envelopes(ZJ, 0, fake.envelopes, EMPTY, anchors, decode_entry, now=CLOCK)
    assert res.issues[0].kind == "signer" and "region 320000, not 330000" in res.issues[0].message
    assert res.history is not None and not res.history.keys and not res.facts


def test_a_payload_naming_another_region_is_found(certs, anchors) -> None:
    zj, _ = clean_logs(certs)
    zj.add("recognition", recognition("zj-8", "ZJMP-2024-0008"), region="320000")
    result = audit_of(anchors, {(ZJ, "A"): zj.envelopes}, [(ZJ, "A", zj.checkpoint())])
    assert ("region", ZJ, 8) in kinds(result)


def rotate(log: Log, certs: Path, tmp_path: Path) -> SigningKey:
    """Rotate ``log`` to a new certified key (announced and signed by the old); return the old."""
    key_path, cert_path = pki.certify_signing_key(certs, "zhejiang", tmp_path)
    old, new = log.key, pki.load_signing_key(key_path)
    log.add(
        "key_announcement",
        pb.KeyAnnouncement(
            public_key=bytes(new.verify_key),
            certificate_chain_pem=[cert_path.read_text()],
            replaces_keyid=keyid_of(bytes(old.verify_key)),
        ),
    )
    log.key = new
    return old


def test_a_key_rotation_is_followed(certs, anchors, tmp_path) -> None:
    """A key announced mid-log, signed by the key it replaces, signs the later entries."""
    zj, _ = clean_logs(certs)
    rotate(zj, certs, tmp_path)
    zj.add("recognition", recognition("zj-5", "ZJMP-2024-0005"))
    result = audit_of(anchors, {(ZJ, "A"): zj.envelopes}, [(ZJ, "A", zj.checkpoint())])
    assert result.clean, to_text(result)


def test_the_old_key_signs_nothing_after_its_rotation(certs, anchors, tmp_path) -> None:
    zj, _ = clean_logs(certs)
    old = rotate(zj, certs, tmp_path)
    i = zj.add("recognition", recognition("zj-5", "ZJMP-2024-0005"), key=old)
    result = audit_of(anchors, {(ZJ, "A"): zj.envelopes}, [(ZJ, "A", zj.checkpoint())])
    assert ("signer", ZJ, i) in kinds(result)
    assert "replaced at entry" in next(x.message for x in result.issues if x.index == i)


def test_a_checkpoint_signed_by_a_retired_key_is_refused(certs, anchors, tmp_path) -> None:
    zj, _ = clean_logs(certs)
    old = rotate(zj, certs, tmp_path)
    cp = Checkpoint(ZJ, len(zj.envelopes), zj.root())
    note = format_note(sign_checkpoint(cp, Ed25519NoteSigner(ZJ, old)))
    result = audit_of(anchors, {(ZJ, "A"): zj.envelopes}, [(ZJ, "A", note)])
    assert any(x.kind == "checkpoint" for x in result.issues), to_text(result)


def test_a_revoked_keys_entries_after_its_compromise_are_suspect(certs, anchors, tmp_path) -> None:
    zj, _ = clean_logs(certs)
    before = len(zj.envelopes) - 1
    old = rotate(zj, certs, tmp_path)
    zj.add(
        "key_revocation",
        pb.KeyRevocation(keyid=keyid_of(bytes(old.verify_key)), compromised_since=NOW),
    )
    result = audit_of(anchors, {(ZJ, "A"): zj.envelopes}, [(ZJ, "A", zj.checkpoint())])
    suspects = sorted(x.index for x in result.issues if x.kind == "suspect")
    # Every entry the old key signed at or after NOW: all of them here, the rotation included.
    assert suspects == list(range(0, before + 2)), to_text(result)


def test_a_first_entry_dated_after_the_clock_is_refused(certs, anchors) -> None:
    """The key announcement that opens a log passes the same time rules (index 0):
    one dated a day after the audit's clock is refused as "time", not "signer"."""
    zj, _ = clean_logs(certs)
    first = pb.Entry.FromString(parse_envelope(zj.envelopes[0]).payload)
    first.issued_at = (CLOCK + timedelta(days=1)).isoformat(timespec="seconds")
    zj.envelopes[0] = sign_envelope(first.SerializeToString(), zj.key)
    result = audit_of(anchors, {(ZJ, "A"): zj.envelopes}, [(ZJ, "A", zj.checkpoint())])
    assert ("time", ZJ, 0) in kinds(result), to_text(result)


def test_an_entry_dated_outside_its_certificate_is_refused(certs, anchors) -> None:
    zj, _ = clean_logs(certs)
    payload = zj.entry("recognition", recognition("zj-9", "ZJMP-2024-0009"))
    payload.issued_at = "2001-01-01T00:00:00+00:00"
    zj.envelopes.append(sign_envelope(payload.SerializeToString(), zj.key))
    i = len(zj.envelopes) - 1
    result = audit_of(anchors, {(ZJ, "A"): zj.envelopes}, [(ZJ, "A", zj.checkpoint())])
    assert ("time", ZJ, i) in kinds(result)


# ----------------------------------------------------------------- domain


def test_a_duplicate_certificate_number_is_found(certs, anchors) -> None:
    zj, ah = clean_logs(certs)
    i = zj.add("recognition", recognition("zj-3", "ZJMP-2024-0001"))
    j = zj.add("recognition", recognition("zj-1", "ZJMP-2024-0099"))
    result = standard(anchors, zj, ah)
    dups = [x for x in result.issues if x.kind == "duplicate"]
    assert [(d.index, d.origin) for d in dups] == [(i, ZJ), (j, ZJ)]
    assert "certificate number 'ZJMP-2024-0001'" in dups[0].message
    assert "record id 'zj-1'" in dups[1].message


def test_a_status_change_for_a_missing_record_is_found(certs, anchors) -> None:
    zj, ah = clean_logs(certs)
    i = zj.add(
        "status_change",
        pb.StatusChange(record_id="zj-404", new_status=3, reason=1, effective_on="2024-06-01"),
    )
    result = standard(anchors, zj, ah)
    assert kinds(result) == [("status", ZJ, i)]
    assert "zj-404" in result.issues[0].message


def test_a_status_change_the_lifecycle_forbids_is_found(certs, anchors) -> None:
    zj, ah = clean_logs(certs)
    zj.add(
        "status_change",
        pb.StatusChange(record_id="zj-2", new_status=3, reason=1, effective_on="2024-10-01"),
    )
    i = zj.add(  # a revoked record cannot be reinstated
        "status_change",
        pb.StatusChange(record_id="zj-2", new_status=2, reason=1, effective_on="2024-11-01"),
    )
    result = standard(anchors, zj, ah)
    assert kinds(result) == [("status", ZJ, i)]
    assert "revoked" in result.issues[0].message


def test_an_invalid_record_is_found(certs, anchors) -> None:
    zj, ah = clean_logs(certs)
    bad = recognition("zj-7", "ZJMP-2024-0007")
    bad.enterprise_uscc = "91350203M0001QAY9B"  # bad check character
    i = zj.add("recognition", bad)
    result = standard(anchors, zj, ah)
    assert kinds(result) == [("invalid-entry", ZJ, i)]
    assert "enterprise_uscc" in result.issues[0].message


def test_references_to_missing_records_and_cases_are_found(certs, anchors) -> None:
    zj, ah = clean_logs(certs)
    i = ah.add(
        "infringement_case",
        pb.InfringementCase(
            case_id="ah-2024-8",
            protected_issuer="330000",
            protected_record_id="zj-404",
            reporting_region="340000",
            handling_region="340000",
            infringer_name="假茶作坊",
            case_type=1,
            opened_on="2024-07-02",
        ),
    )
    j = zj.add(
        "case_action",
        pb.CaseAction(
            case_region="340000", case_id="ah-2024-7", acting_region="330000", action=2,
            date="2024-07-06",
        ),
    )  # fmt: skip
    k = zj.add(
        "withdrawal",
        pb.Withdrawal(agreement_id="yrd-2099", region="330000", effective_on="2025-01-01"),
    )
    result = standard(anchors, zj, ah)
    assert sorted(kinds(result)) == sorted(
        [("reference", AH, i), ("case", ZJ, j), ("reference", ZJ, k)]
    )


def test_an_entry_that_breaks_a_rule_does_not_change_the_audited_state(certs, anchors) -> None:
    """As on a mirror: a refused action leaves the case open, a refused record unknown."""
    zj, ah = clean_logs(certs)
    case = counterfeit_case("zj-c1", "zj-1")
    case.reporting_region = case.handling_region = "330000"
    zj.add("infringement_case", case)

    def act(log, region: str, action: int) -> int:
        return log.add(
            "case_action",
            pb.CaseAction(
                case_region="330000", case_id="zj-c1", acting_region=region, action=action,
                date="2024-08-01",
            ),
        )  # fmt: skip

    i = act(ah, "340000", 6)  # Anhui closes Zhejiang's case: not a party
    act(zj, "330000", 2)  # so Zhejiang may still inspect it
    j = zj.add("recognition", recognition("zj-1", "ZJMP-2024-0099"))  # duplicate id
    k = zj.add(  # zj-1 is still the record first issued (valid again): it may be revoked
        "status_change",
        pb.StatusChange(record_id="zj-1", new_status=3, reason=1, effective_on="2024-10-01"),
    )
    result = standard(anchors, zj, ah)
    assert sorted(kinds(result)) == sorted([("case", AH, i), ("duplicate", ZJ, j)])
    assert k not in [x.index for x in result.issues]
    assert (
        "only the handling region 330000" in next(x for x in result.issues if x.index == i).message
    )


def test_a_reference_to_an_origin_not_audited_is_a_note(certs, anchors) -> None:
    _, ah = clean_logs(certs)
    result = audit_of(anchors, {(AH, "A"): ah.envelopes}, [(AH, "A", ah.checkpoint())])
    assert result.clean
    assert any("yrd/330000" in n and "not checked" in n for n in result.notes)


def test_issues_beyond_the_cap_are_counted(certs, anchors) -> None:
    zj, _ = clean_logs(certs)
    for n in range(MAX_LISTED + 5):
        zj.add(
            "status_change",
            pb.StatusChange(record_id=f"x{n}", new_status=3, reason=1, effective_on="2024-06-01"),
        )
    result = audit_of(anchors, {(ZJ, "A"): zj.envelopes}, [(ZJ, "A", zj.checkpoint())])
    assert len(result.issues) == MAX_LISTED
    assert result.unlisted == {(ZJ, "status"): 5}
    assert result.total_issues == MAX_LISTED + 5


# ------------------------------------------------------------ checkpoints


def test_a_fork_between_two_checkpoint_views(certs, anchors) -> None:
    """Two real logs for one origin, both signed with the issuer's key, one per node."""
    zj, ah = clean_logs(certs)
    twin = Log(certs, "zhejiang")
    twin.add("recognition", recognition("zj-1", "ZJMP-2024-0001"))
    twin.add("recognition", recognition("zj-x", "ZJMP-2024-0777"))
    note_a, note_b = cosigned(zj.checkpoint(), ah), twin.checkpoint()
    result = audit_of(
        anchors,
        {
            (ZJ, "A"): zj.envelopes,
            (ZJ, "B"): twin.envelopes,
            (ZJ, "C"): zj.envelopes[:5],  # lagging on the real branch
            (AH, "A"): ah.envelopes,
        },
        [
            (ZJ, "A", note_a),
            (ZJ, "B", note_b),
            (ZJ, "C", zj.checkpoint(5)),
            (AH, "A", ah.checkpoint()),
        ],
    )
    # One fork (one pair of histories), shown with the largest head of each.
    forks = [i for i in result.issues if i.kind == "fork"]
    assert len(forks) == 1, to_text(result)
    fork = forks[0]
    assert fork.origin == ZJ and "FORK" in fork.message
    assert {text for _, text in fork.evidence} == {note_a, note_b}
    assert len(result.origins[ZJ]["histories"]) == 2
    assert [i.kind for i in result.issues] == ["fork"]


def test_a_fork_at_the_same_size(certs, anchors) -> None:
    zj, _ = clean_logs(certs)
    twin = Log(certs, "zhejiang")
    for n in range(len(zj.envelopes) - 1):
        twin.add("recognition", recognition(f"t-{n}", f"T-{n}"))
    assert len(twin.envelopes) == len(zj.envelopes)
    result = audit_of(
        anchors,
        {(ZJ, "A"): zj.envelopes, (ZJ, "B"): twin.envelopes},
        [(ZJ, "A", zj.checkpoint()), (ZJ, "B", twin.checkpoint())],
    )
    assert [i.kind for i in result.issues] == ["fork"]
    assert "both have size 8" in result.issues[0].message


def test_a_smaller_checkpoint_that_is_not_a_prefix(certs, anchors) -> None:
    """Only the larger tree was downloaded; the smaller checkpoint came as evidence."""
    zj, _ = clean_logs(certs)
    forged = zj.checkpoint(4, root=b"\x07" * 32)
    result = audit_of(
        anchors,
        {(ZJ, "A"): zj.envelopes},
        [(ZJ, "A", zj.checkpoint()), (ZJ, "A (evidence)", forged, True)],
    )
    forks = [i for i in result.issues if i.kind == "fork"]
    assert len(forks) == 1 and "not a prefix" in forks[0].message
    assert forged in {t for _, t in forks[0].evidence}


def test_a_checkpoint_not_signed_by_the_issuer(certs, anchors) -> None:
    zj, ah = clean_logs(certs)
    cp = Checkpoint(ZJ, len(zj.envelopes), zj.root())
    by_anhui = format_note(sign_checkpoint(cp, Ed25519NoteSigner(ZJ, ah.key)))
    result = standard(anchors, zj, ah, extra_notes=[(ZJ, "C", by_anhui)])
    assert [(i.kind, i.source) for i in result.issues] == [("checkpoint", "C")]
    assert "not validly signed" in result.issues[0].message


def test_a_node_serving_fewer_entries_than_its_checkpoint(certs, anchors) -> None:
    zj, _ = clean_logs(certs)
    result = audit_of(anchors, {(ZJ, "A"): zj.envelopes[:6]}, [(ZJ, "A", zj.checkpoint())])
    assert [i.kind for i in result.issues] == ["checkpoint"]
    assert "served 6 entries" in result.issues[0].message


def test_bad_and_unknown_cosignatures(certs, anchors) -> None:
    zj, ah = clean_logs(certs)
    from exchange.core.note import parse_note

    note = parse_note(cosigned(zj.checkpoint(), ah))
    good = note.signatures[1]
    bad = NoteSignature(good.name, good.key_id, good.sig[:-1] + bytes([good.sig[-1] ^ 1]))
    stranger = CosignatureSigner("example.org/witness", SigningKey.generate())
    odd = cosign(note.text, stranger, 1_700_000_000)
    text = format_note(add_signature(type(note)(note.text, [note.signatures[0], bad]), odd))
    result = standard(anchors, zj, ah, extra_notes=[(ZJ, "C", text)])
    cos = [i for i in result.issues if i.kind == "cosignature"]
    assert len(cos) == 2, to_text(result)
    assert "does not verify" in cos[0].message
    assert "example.org/witness" in cos[1].message


# ----------------------------------------------------------------- report


def test_the_html_report_escapes_what_nodes_say(certs, anchors) -> None:
    zj, _ = clean_logs(certs)
    hostile = "<script>alert(1)</script>"
    result = audit_of(
        anchors,
        {(ZJ, hostile): zj.envelopes[:6]},
        [(ZJ, hostile, zj.checkpoint())],
    )
    page = to_html(result)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "yrd/330000" in page and "1 issue(s) found" in page


def test_the_json_report(certs, anchors) -> None:
    zj, _ = clean_logs(certs)
    twin = Log(certs, "zhejiang")
    twin.add("recognition", recognition("zj-x", "ZJMP-2024-0777"))
    result = audit_of(
        anchors,
        {(ZJ, "A"): zj.envelopes, (ZJ, "B"): twin.envelopes},
        [(ZJ, "A", zj.checkpoint()), (ZJ, "B", twin.checkpoint())],
    )
    doc = json.loads(to_json(result))
    assert doc["format"] == "brandex.log-audit/v1" and doc["clean"] is False
    fork = next(i for i in doc["issues"] if i["kind"] == "fork")
    assert len(fork["evidence"]) == 2
    assert doc["origins"][ZJ]["histories"][1]["nodes"] == ["B"]


# ------------------------------------------------- the runner, without sockets


class _Stream:
    def __init__(self, batches) -> None:
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def cancel(self) -> None:
        pass


class _FakeLogService:
    """LogService.GetEntries over in-memory logs (what the runner streams from)."""

    def __init__(self, logs: dict[str, list[bytes]]) -> None:
        self.logs = logs

    def GetEntries(self, req, timeout=None):
        from exchange._proto.brandex.v1 import services_pb2

        envs = self.logs[req.origin][req.start : req.end or None]
        step = req.batch_size or 1000
        return _Stream(
            [
                services_pb2.EntryBatch(
                    origin=req.origin, start=req.start + i, envelopes=envs[i : i + step]
                )
                for i in range(0, len(envs), step)
            ]
        )


def _second_signing_key(certs: Path) -> tuple[SigningKey, str]:
    """Another key certified for 330000 (a key rotation), from the same anchor."""
    return pki_issue.certify_origins(certs, {"rotated": "330000"})["rotated"]


def _run(certs: Path, logs: dict[str, dict[str, tuple[list[bytes], str]]], workers: int):
    """Run the download pipeline over fake nodes: {node: {origin: (envelopes, note)}}."""
    from concurrent.futures import ThreadPoolExecutor

    from exchange._proto.brandex.v1 import services_pb2
    from exchange.audit.runner import LogAuditRun, _Node

    pool = ThreadPoolExecutor(workers) if workers else None
    run = LogAuditRun((certs / "anchor.pem").read_bytes(), None, [], pool=pool, batch_size=500)
    for name, origins in logs.items():
        node = _Node(name, None, _FakeLogService({o: e for o, (e, _) in origins.items()}))
        for origin, (envs, note) in origins.items():
            node.origins[origin] = services_pb2.OriginState(
                origin=origin, size=len(envs), checkpoint=note
            )
            run.audit.checkpoint(origin, name, note)
        run.nodes.append(node)
        run.audit.add_source(name)
    run.origins = sorted({o for origins in logs.values() for o in origins})
    run.download()
    result = run.finish()
    if pool is not None:
        pool.shutdown()
    return result


@pytest.mark.parametrize("workers", [0, 2])
def test_the_pipeline_follows_a_key_rotation_across_batches(certs, anchors, workers) -> None:
    zj = Log(certs, "zhejiang")
    for n in range(1200):
        zj.add("recognition", recognition(f"a{n}", f"A-{n}"))
    new_key, new_pem = _second_signing_key(certs)
    zj.add(
        "key_announcement",
        pb.KeyAnnouncement(
            public_key=bytes(new_key.verify_key),
            certificate_chain_pem=[new_pem],
            replaces_keyid=keyid_of(bytes(zj.key.verify_key)),
        ),
    )
    zj.key = new_key  # entries and checkpoints from here on are signed with the new key
    for n in range(1800):
        zj.add("recognition", recognition(f"b{n}", f"B-{n}"))
    result = _run(certs, {"A": {ZJ: (zj.envelopes, zj.checkpoint())}}, workers)
    assert result.clean, to_text(result)
    assert result.stats["entries_verified"] == len(zj.envelopes) == 3002


def test_the_pipeline_reads_a_diverging_copy_as_its_own_history(certs, anchors) -> None:
    zj, _ = clean_logs(certs)
    twin = Log(certs, "zhejiang")
    for n in range(700):
        twin.add("recognition", recognition(f"t{n}", f"T-{n}"))
    envs = list(zj.envelopes)
    envs[3] = _tamper_payload(envs[3])
    result = _run(
        certs,
        {
            "A": {ZJ: (zj.envelopes, zj.checkpoint())},
            "B": {ZJ: (twin.envelopes, twin.checkpoint())},
            "C": {ZJ: (envs, zj.checkpoint())},
        },
        2,
    )
    found = {(i.kind, i.source, i.index) for i in result.issues}
    # The real head is served by A and C, the twin's by B; C's altered entry 3 (record
    # zj-2) is not part of its history, so the correction of zj-2 there has no record.
    assert found == {
        ("fork", "A, C, B", None),
        ("envelope", "", 3),
        ("status", "", 6),
        ("checkpoint", "C", None),
    }, found
    assert len(result.origins[ZJ]["histories"]) == 3
    assert result.stats["entries_downloaded"] > len(twin.envelopes) + 2 * len(zj.envelopes)
