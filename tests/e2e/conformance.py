"""The trust kernel's conformance table: named cases, each a set of signed logs.

Every case is the same bytes handed to three drivers: a real node mirroring
them from a peer, ``brandex audit log`` reading them from that peer, and
``brandex audit verify`` checking a bundle made of them. Each driver's answer
is reduced to one verdict: ``accepted`` (applied as it is), ``refused`` (not
stored, not counted) or ``flagged`` (kept as signed evidence, recorded as a
violation or a suspect, not applied).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from builders import recognition as valid_recognition
from nacl.signing import SigningKey

from exchange import pki
from exchange._proto.brandex.v1 import entries_pb2 as pb
from exchange.core import merkle, x509
from exchange.core.checkpoint import Checkpoint, sign_checkpoint
from exchange.core.dsse import keyid_of, parse_envelope, sign_envelope
from exchange.core.note import Ed25519NoteSigner, format_note
from exchange.core.tlogproof import TlogProof, format_tlog_proof
from exchange.node.bundles import decode_entry

ZJ, AH = "yrd/330000", "yrd/340000"
KIND = pb.RecognitionKind.Value("PROVINCIAL_FAMOUS_BRAND_PRODUCT")
KEY_BODIES = ("key_announcement", "key_revocation")


def recognition(record_id: str, cert_no: str, region: str = "330106") -> pb.Recognition:
    """A valid Zhejiang record (tests/builders.py), for an enterprise in ``region``."""
    rec = valid_recognition(record_id, cert_no)
    rec.enterprise_region = region
    return rec


@dataclass
class Log:
    """One origin's log, built entry by entry with real certified keys."""

    origin: str
    key: SigningKey
    chain: str
    at: datetime
    envelopes: list[bytes] = field(default_factory=list)
    chains: list[str] = field(default_factory=list)  # the signer's chain, per entry

    def __post_init__(self) -> None:
        ka = pb.KeyAnnouncement(
            public_key=bytes(self.key.verify_key), certificate_chain_pem=[self.chain]
        )
        self.add("key_announcement", ka)

    @property
    def region(self) -> str:
        return self.origin.rpartition("/")[2]

    def add(self, body: str, msg: Any, *, key: SigningKey | None = None, at=None) -> int:
        entry = pb.Entry(
            federation="yrd", region=self.region, issued_at=(at or self.at).isoformat()
        )
        getattr(entry, body).CopyFrom(msg)
        signer = key or self.key
        self.envelopes.append(sign_envelope(entry.SerializeToString(), signer))
        self.chains.append(self.chain if signer is self.key else self._old_chain)
        return len(self.envelopes) - 1

    def rotate(self, certs: Path, member: str, dest: Path) -> SigningKey:
        key_path, cert_path = pki.certify_signing_key(certs, member, dest)
        old, new = self.key, pki.load_signing_key(key_path)
        ka = pb.KeyAnnouncement(
            public_key=bytes(new.verify_key),
            certificate_chain_pem=[cert_path.read_text()],
            replaces_keyid=keyid_of(bytes(old.verify_key)),
        )
        self.add("key_announcement", ka)
        self._old_chain, self.key, self.chain = self.chain, new, cert_path.read_text()
        return old

    def root(self) -> bytes:
        tree = merkle.MemoryHashStore()
        tree.append([merkle.leaf_hash(e) for e in self.envelopes])
        return merkle.root_hash(len(self.envelopes), tree)

    def note(self, key: SigningKey | None = None) -> str:
        cp = Checkpoint(self.origin, len(self.envelopes), self.root())
        return format_note(sign_checkpoint(cp, Ed25519NoteSigner(self.origin, key or self.key)))


@dataclass
class Case:
    """One row of the table."""

    name: str
    expect: str  # "accepted", "refused" or "flagged"
    logs: dict[str, tuple[Log, str]]  # origin -> (log, checkpoint note served)
    subject: tuple[str, int]  # the entry the case is about
    record: tuple[str, int]  # the recognition whose bundle carries it (origin, index)


def _key(certs: Path, member: str) -> tuple[SigningKey, str]:
    paths = pki.member_paths(certs, member)
    return pki.load_signing_key(paths.signing_key), paths.signing_cert.read_text()


def _zj(certs: Path, now: datetime) -> Log:
    key, chain = _key(certs, "zhejiang")
    return Log(ZJ, key, chain, now)


def build_cases(certs: Path, old_key: tuple[SigningKey, str], tmp: Path) -> list[Case]:
    """The table. ``old_key``: a Zhejiang signing key whose certificate expired."""
    now = datetime.now(UTC).replace(microsecond=0)
    cases: list[Case] = []

    def case(name: str, expect: str, build: Callable[[], tuple[dict, tuple, tuple]]) -> None:
        logs, subject, record = build()
        cases.append(Case(name, expect, logs, subject, record))

    def valid():
        zj = _zj(certs, now)
        i = zj.add("recognition", recognition("zj-1", "ZJ-0001"))
        return {ZJ: (zj, zj.note())}, (ZJ, i), (ZJ, i)

    def expired_certificate():
        key, chain = old_key
        leaf = x509.load_pem_chain(chain.encode())[0]
        then = leaf.not_valid_before_utc + timedelta(days=1)  # inside the dead certificate
        zj = Log(ZJ, key, chain, then)
        i = zj.add("recognition", recognition("zj-1", "ZJ-0001"))
        return {ZJ: (zj, zj.note())}, (ZJ, i), (ZJ, i)

    def backdated():
        zj = _zj(certs, now)
        zj.add("recognition", recognition("zj-1", "ZJ-0001"))
        i = zj.add("recognition", recognition("zj-2", "ZJ-0002"), at=now - timedelta(minutes=30))
        return {ZJ: (zj, zj.note())}, (ZJ, i), (ZJ, i)

    def future():
        zj = _zj(certs, now)
        i = zj.add("recognition", recognition("zj-1", "ZJ-0001"), at=now + timedelta(hours=2))
        return {ZJ: (zj, zj.note())}, (ZJ, i), (ZJ, i)

    def after_rotation():
        zj = _zj(certs, now)
        zj.add("recognition", recognition("zj-1", "ZJ-0001"))
        old = zj.rotate(certs, "zhejiang", tmp / "rot")
        i = zj.add("recognition", recognition("zj-2", "ZJ-0002"), key=old)
        return {ZJ: (zj, zj.note())}, (ZJ, i), (ZJ, i)

    def after_compromise():
        zj = _zj(certs, now)
        i = zj.add("recognition", recognition("zj-1", "ZJ-0001"))
        old = zj.rotate(certs, "zhejiang", tmp / "comp")
        kr = pb.KeyRevocation(
            keyid=keyid_of(bytes(old.verify_key)),
            compromised_since=(now - timedelta(minutes=1)).isoformat(),
        )
        zj.add("key_revocation", kr)
        zj.add("recognition", recognition("zj-2", "ZJ-0002"))
        return {ZJ: (zj, zj.note())}, (ZJ, i), (ZJ, i)

    def case_closed_by_another_region():
        zj = _zj(certs, now)
        r = zj.add("recognition", recognition("zj-1", "ZJ-0001"))
        zj.add(
            "infringement_case",
            pb.InfringementCase(
                case_id="zj-c1",
                protected_issuer="330000",
                protected_record_id="zj-1",
                reporting_region="330000",
                handling_region="330000",
                infringer_name="假茶作坊",
                case_type=pb.COUNTERFEIT,
                opened_on="2024-07-02",
            ),
        )
        ah_key, ah_chain = _key(certs, "anhui")
        ah = Log(AH, ah_key, ah_chain, now)
        i = ah.add(
            "case_action",
            pb.CaseAction(
                case_region="330000",
                case_id="zj-c1",
                acting_region="340000",
                action=pb.CLOSED,
                date="2024-07-05",
            ),
        )
        return {ZJ: (zj, zj.note()), AH: (ah, ah.note())}, (AH, i), (ZJ, r)

    def outside_jurisdiction():
        ah_key, ah_chain = _key(certs, "anhui")
        ah = Log(AH, ah_key, ah_chain, now)
        i = ah.add("recognition", recognition("ah-1", "AH-0001", region="330100"))
        return {AH: (ah, ah.note())}, (AH, i), (AH, i)

    def out_of_terminal_status():
        zj = _zj(certs, now)
        r = zj.add("recognition", recognition("zj-1", "ZJ-0001"))
        zj.add(
            "status_change",
            pb.StatusChange(
                record_id="zj-1", new_status=pb.REVOKED, reason=1, effective_on="2024-06-01"
            ),
        )
        i = zj.add(
            "status_change",
            pb.StatusChange(
                record_id="zj-1", new_status=pb.REINSTATED, reason=1, effective_on="2024-09-01"
            ),
        )
        return {ZJ: (zj, zj.note())}, (ZJ, i), (ZJ, r)

    def duplicate_certificate():
        zj = _zj(certs, now)
        zj.add("recognition", recognition("zj-1", "ZJ-0001"))
        i = zj.add("recognition", recognition("zj-2", "ZJ-0001"))
        return {ZJ: (zj, zj.note())}, (ZJ, i), (ZJ, i)

    case("valid entry", "accepted", valid)
    case("expired certificate (log backdated into it)", "refused", expired_certificate)
    case("issued_at before the previous entry", "refused", backdated)
    case("issued_at in the future", "refused", future)
    case("key used after its rotation", "refused", after_rotation)
    case("key used after its compromise time", "flagged", after_compromise)
    case("another region closing a case", "flagged", case_closed_by_another_region)
    case("recognition outside the issuer's jurisdiction", "flagged", outside_jurisdiction)
    case("transition out of a terminal status", "flagged", out_of_terminal_status)
    case("duplicate certificate number", "flagged", duplicate_certificate)
    return cases


# ------------------------------------------------------------------ bundles


def _item(log: Log, idx: int, note: str, type_: str) -> dict:
    raw = log.envelopes[idx]
    tree = merkle.MemoryHashStore()
    tree.append([merkle.leaf_hash(e) for e in log.envelopes])
    proof = merkle.inclusion_proof(idx, len(log.envelopes), tree)
    return {
        "type": type_,
        "origin": log.origin,
        "index": idx,
        "leaf": raw.decode("ascii"),
        "payload": decode_entry(parse_envelope(raw).payload),
        "tlog_proof": format_tlog_proof(TlogProof(idx, proof, note)),
        "certificate_chain_pem": [log.chains[idx]],
    }


def bundle_of(case: Case) -> dict:
    """A ``brandex.bundle/v1`` carrying every entry of the case's logs."""

    origin, idx = case.record
    log, note = case.logs[origin]
    record = _item(log, idx, note, "recognition")
    record_id = record["payload"]["recognition"]["record_id"]
    related, context, key_entries, vkeys = [], [], [], []
    for o, (lg, nt) in case.logs.items():
        for i, raw in enumerate(lg.envelopes):
            body = pb.Entry.FromString(parse_envelope(raw).payload).WhichOneof("body")
            if (o, i) == case.record:
                continue
            item = _item(lg, i, nt, body)
            if body in KEY_BODIES:
                item.pop("certificate_chain_pem")
                key_entries.append(item)
            else:
                if o != origin:
                    item["vkey"] = Ed25519NoteSigner(o, lg.key).vkey_string()
                about = item["payload"].get(body, {})
                mine = (
                    (
                        body == "status_change"
                        and o == origin
                        and about.get("record_id") == record_id
                    )
                    or (
                        body == "infringement_case"
                        and about.get("protected_record_id") == record_id
                    )
                    or body in ("case_action", "accession", "withdrawal")
                )
                (related if mine else context).append(item)
        vkeys.append(Ed25519NoteSigner(o, lg.key).vkey_string())
    return {
        "format": "brandex.bundle/v1",
        "origin": origin,
        "issuer": log.region,
        "record_id": record["payload"]["recognition"]["record_id"],
        "index": idx,
        "leaf": record["leaf"],
        "payload": record["payload"],
        "certificate_chain_pem": record["certificate_chain_pem"],
        "tlog_proof": record["tlog_proof"],
        "related": related,
        "context": context,
        "key_entries": key_entries,
        "witness_chains": {},
        "vkeys": vkeys,
    }


def write_bundle(case: Case, path: Path) -> Path:
    path.write_text(json.dumps(bundle_of(case), ensure_ascii=False, indent=2) + "\n")
    return path
