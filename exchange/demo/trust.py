"""The demo's trust chapter: keys that live and die, and rules every mirror enforces.

Told against the running demo federation, with the CLI an operator would use
and, for the attacks, the keys an attacker would hold. Each line says what an
auditor would check.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from exchange._proto.brandex.v1 import entries_pb2, services_pb2
from exchange.core import merkle
from exchange.core.checkpoint import Checkpoint, sign_checkpoint
from exchange.core.dsse import keyid_of, sign_envelope
from exchange.core.note import Ed25519NoteSigner, format_note
from exchange.demo.federation import run_brandex
from exchange.node.identity import load_anchors
from exchange.node.ledger import Ledger, OriginHead
from exchange.pki import load_signing_key
from exchange.store import Store

__all__ = ["tell_trust_story"]

Say = Callable[[str], None]


_cli = run_brandex  # the CLI as an operator runs it


def _current_keyid(fed: Any, name: str) -> str:
    return keyid_of(bytes(load_signing_key(fed.config(name).signing_key).verify_key))


def _fresh_records(fed: Any, name: str, count: int, tag: str) -> list[entries_pb2.Recognition]:
    """New records for ``name``: copies of one it issued, with new ids and numbers."""
    resp = fed.registry(name).Search(
        services_pb2.SearchRequest(issuer=fed.config(name).region, limit=1), timeout=30
    )
    base = resp.records[0].record
    out = []
    for i in range(count):
        r = entries_pb2.Recognition()
        r.CopyFrom(base)
        r.record_id = f"{base.record_id}-{tag}{i}"
        r.certificate_no = f"{base.certificate_no}-{tag}{i}"
        out.append(r)
    return out


def _status(fed: Any, name: str) -> services_pb2.NodeStatus:
    return fed.log(name).GetNodeStatus(services_pb2.NodeStatusRequest(), timeout=10)


def _origin_status(fed: Any, name: str, origin: str) -> Any:
    return next((o for o in _status(fed, name).origins if o.origin == origin), None)


def _everyone(fed: Any, origin: str, size: int) -> Callable[[], bool]:
    return lambda: all(s.get(origin) == size for s in fed.sizes().values())


class _Offer:
    """One log offered to a mirror, through the Peer protocol a node's sync uses."""

    def __init__(self, origin: str, envelopes: list[bytes], note: str) -> None:
        self.name, self.origin, self.envelopes, self.note = "forger", origin, envelopes, note

    def list_origins(self) -> list[OriginHead]:
        return [OriginHead(self.origin, len(self.envelopes), self.note)]

    def get_entries(self, origin: str, start: int, end: int) -> Iterator[tuple[int, list[bytes]]]:
        yield start, self.envelopes[start:end]


def _log_of(fed: Any, name: str, origin: str) -> list[bytes]:
    size = fed.sizes()[name][origin]
    req = services_pb2.GetEntriesRequest(origin=origin, start=0, end=size)
    return [e for b in fed.log(name).GetEntries(req, timeout=120) for e in b.envelopes]


def _signed_note(origin: str, envelopes: list[bytes], key: Any) -> str:
    tree = merkle.MemoryHashStore()
    tree.append([merkle.leaf_hash(e) for e in envelopes])
    cp = Checkpoint(origin, len(envelopes), merkle.root_hash(len(envelopes), tree))
    return format_note(sign_checkpoint(cp, Ed25519NoteSigner(origin, key)))


def tell_trust_story(fed: Any, root: Path, say: Say, wait_for: Callable[..., Any]) -> None:
    """Rotation, a forgery with a retired key, a compromise, and a hostile member's entry."""
    certs = root / "certs" / "yrd"
    zj_origin, wz_origin = "yrd/330000", "yrd/330300"

    say("\n-- keys that live and die: Zhejiang rotates its signing key --")
    old_zj = _current_keyid(fed, "zhejiang")
    cfg = str(fed.configs["zhejiang"])
    done = _cli(root, "keys", "rotate", "--config", cfg, "--anchor-dir", "certs/yrd")
    if done.returncode != 0:
        raise SystemExit(f"error: rotation failed: {done.stderr}")
    say(f"  $ brandex keys rotate --config {fed.shown(Path(cfg))} --anchor-dir certs/yrd")
    say(f"    {done.stdout.strip()}")
    fed.admin("zhejiang").IssueBatch(
        services_pb2.IssueBatchRequest(records=_fresh_records(fed, "zhejiang", 2, "k")),
        timeout=60,
    )
    size = fed.sizes()["zhejiang"][zj_origin]
    wait_for(_everyone(fed, zj_origin, size), 60, "every node to follow the rotation")
    say(
        f"  Zhejiang keeps issuing with key {_current_keyid(fed, 'zhejiang')[:16]}…; every node "
        f"holds all {size} entries"
    )
    say(
        f"  auditor: the rotation entry is signed by the old key {old_zj[:16]}…, every later "
        "entry and checkpoint by the new one (brandex audit log checks each)"
    )

    say("\n-- a copy forged with the retired key, offered to a mirror --")
    retired = next(certs.glob(f"zhejiang/signing.retired-{old_zj[:12]}.key"))
    old_key = load_signing_key(retired)
    envs = _log_of(fed, "anhui", zj_origin)
    forged_entry = entries_pb2.Entry(
        federation="yrd",
        region="330000",
        issued_at=datetime.now(UTC).isoformat(timespec="seconds"),
        recognition=_fresh_records(fed, "zhejiang", 1, "forged")[0],
    )
    forged = [*envs, sign_envelope(forged_entry.SerializeToString(), old_key)]
    cfg_ah = fed.config("anhui")
    _, anchors = load_anchors(cfg_ah.anchors)
    with tempfile.TemporaryDirectory() as tmp:
        mirror = Ledger(
            Store(Path(tmp) / "mirror.db"),
            federation="yrd",
            region="340000",
            signing_key=load_signing_key(cfg_ah.signing_key),
            signing_chain_pem=[],
            anchors=anchors,
        )
        quiet = logging.getLogger("brandex.ledger")
        level, _ = quiet.level, quiet.setLevel(logging.CRITICAL)  # the refusal is told below
        try:
            offer = _Offer(zj_origin, forged, _signed_note(zj_origin, forged, old_key))
            got = mirror.sync_from(offer)
        finally:
            quiet.setLevel(level)
        mirror.store.close()
    outcome = got[0]
    say(f"  a mirror's sync (the code every node runs): {outcome.action}")
    say(f"    {outcome.detail}")
    if outcome.action != "rejected":
        raise SystemExit("error: a forgery with a retired key was not refused")

    say("\n-- Wenzhou's old key leaked: declared compromised since T --")
    since = datetime.now(UTC).replace(microsecond=0)
    time.sleep(1)  # issued_at has whole seconds: the thief's entries come after T
    fed.admin("wenzhou").IssueBatch(
        services_pb2.IssueBatchRequest(records=_fresh_records(fed, "wenzhou", 3, "x")),
        timeout=60,
    )
    old_wz = _current_keyid(fed, "wenzhou")
    cfg = str(fed.configs["wenzhou"])
    for args in (
        ("keys", "rotate", "--config", cfg, "--anchor-dir", "certs/yrd"),
        (
            "keys",
            "revoke",
            old_wz[:12],
            "--config",
            cfg,
            "--compromised-since",
            since.isoformat(),
            "--reason",
            "私钥泄露",
        ),
    ):
        done = _cli(root, *args)
        if done.returncode != 0:
            raise SystemExit(f"error: {' '.join(args[:2])} failed: {done.stderr}")
        shown = fed.shown(Path(cfg)) if hasattr(fed, "shown") else cfg
        say(f"  $ brandex {' '.join(shown if a == cfg else a for a in args)}")
        say(f"    {done.stdout.strip()}")
    size = fed.sizes()["wenzhou"][wz_origin]
    wait_for(_everyone(fed, wz_origin, size), 60, "every node to hold the revocation")

    def suspects() -> dict[str, int]:
        out = {}
        for m in fed.members:
            o = _origin_status(fed, m.name, wz_origin)
            out[m.name] = o.suspects if o is not None else 0
        return out

    wait_for(lambda: len(set(suspects().values())) == 1, 60, "suspects on every node")
    counts = suspects()
    say(
        f"  entries signed by key {old_wz[:16]}… at or after T: suspect on every node: "
        + ", ".join(f"{n} {c}" for n, c in counts.items())
    )
    say(
        "  kept in every log as evidence, not applied to any registry (the 3 records after T "
        "are not searchable; the rotation entry is listed too: the old key's last signature)"
    )
    say("  auditor: brandex audit log reports each as [suspect]; bundles say SUSPECT")

    tell_case_story(fed, root, say, wait_for)


def tell_case_story(fed: Any, root: Path, say: Say, wait_for: Callable[..., Any]) -> None:
    """Anhui's key closes a case Zhejiang handles: flagged everywhere, the case stays open."""
    zj_origin, ah_origin = "yrd/330000", "yrd/340000"
    say("\n-- a hostile member: Anhui's key closes a case Zhejiang reported and handles --")
    rec = _fresh_records(fed, "zhejiang", 1, "k")[0]
    case = entries_pb2.InfringementCase(
        case_id="zj-2026-0099",
        protected_issuer="330000",
        protected_record_id=rec.record_id,
        reporting_region="330000",
        handling_region="330000",
        infringer_name="仿冒茶叶作坊",
        case_type=entries_pb2.COUNTERFEIT,
        goods_value_fen=880000,
        opened_on=datetime.now(UTC).date().isoformat(),
    )
    reported = fed.admin("zhejiang").ReportCase(case, timeout=30)
    wait_for(
        _everyone(fed, zj_origin, reported.index + 1), 60, "every node to hold Zhejiang's case"
    )
    say(
        f"  Zhejiang reports case {case.case_id} and handles it "
        f"({zj_origin} entry #{reported.index})"
    )
    close = entries_pb2.CaseAction(
        case_region="330000",
        case_id=case.case_id,
        acting_region="340000",
        action=entries_pb2.CLOSED,
        date=datetime.now(UTC).date().isoformat(),
        note="结案",
    )
    try:
        fed.admin("anhui").ActOnCase(close, timeout=30)
    except grpc.RpcError as exc:  # Anhui's own node refuses first
        say(f"  through Anhui's own node: refused: {exc.details()}")  # type: ignore[attr-defined]
    else:
        raise SystemExit("error: Anhui's own node let it close another region's case")
    # A hostile Anhui bypasses its own node's rules: its key signs the entry directly.
    fed.stop_one("anhui")
    cfg = fed.config("anhui")
    _, anchors = load_anchors(cfg.anchors)
    ledger = Ledger(
        Store(cfg.database),
        federation="yrd",
        region="340000",
        signing_key=load_signing_key(cfg.signing_key),
        signing_chain_pem=[cfg.signing_cert.read_text()],
        anchors=anchors,
    )
    idx, _ = ledger.issue([("case_action", close)])
    ledger.store.close()
    fed.start_one("anhui")
    say(f"  Anhui's key signs it anyway: {ah_origin} entry #{idx} (authentic, signed)")
    size = idx + 1
    wait_for(_everyone(fed, ah_origin, size), 60, "every node to mirror Anhui's entry")

    def flagged() -> dict[str, int]:
        return {
            m.name: getattr(_origin_status(fed, m.name, ah_origin), "violations", 0)
            for m in fed.members
        }

    wait_for(lambda: all(v >= 1 for v in flagged().values()), 60, "the violation on every node")
    say("  flagged as a violation on every node: " + ", ".join(
        f"{n} {v}" for n, v in flagged().items()))  # fmt: skip
    cases = fed.registry("jiangsu").ListCases(
        services_pb2.ListCasesRequest(
            record=services_pb2.RecordRef(issuer="330000", record_id=rec.record_id)
        ),
        timeout=30,
    )
    state = next(
        ("open" if c.open else "closed" for c in cases.cases if c.case.case_id == case.case_id),
        "missing",
    )
    say(
        f"  on Jiangsu's node the case is still {state}; the entry stays in Anhui's log as evidence"
    )
    say(
        f"  auditor: brandex audit log reports it as a [case] issue in {ah_origin} "
        f"(a case of {zj_origin})"
    )
    if state != "open":
        raise SystemExit("error: a hostile case action changed a mirror's registry")
