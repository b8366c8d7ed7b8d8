"""Building record bundles (``brandex.bundle/v1``) from what a node holds.

Any node can build a bundle for any record it mirrors: nothing in a bundle is
trusted because of who built it. Every entry is carried as its exact leaf
bytes with a C2SP tlog-proof against the latest checkpoint of its own origin
(the note with the issuer's signature and every cosignature this node holds),
and every key needed to check them is carried as a certificate chain up to,
not including, a trust anchor. The format is documented in ``docs/audit.md``
and verified by :func:`exchange.core.bundle.verify_bundle`.

The whole bundle is read in one SQLite read transaction, so the entries, the
proofs and the checkpoints all describe one consistent state of the store.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError

from exchange._proto.brandex.v1 import entries_pb2
from exchange.core import merkle, x509
from exchange.core.bundle import FORMAT
from exchange.core.cosignature import CosignatureVerifier, cosigner_key
from exchange.core.dsse import keyid_of, parse_envelope
from exchange.core.ed25519 import VerifyKey
from exchange.core.errors import FormatError, NotFoundError
from exchange.core.keys import KeyHistory
from exchange.core.note import Ed25519NoteVerifier, parse_note
from exchange.core.origin import witness_name
from exchange.core.tlogproof import TlogProof, format_tlog_proof
from exchange.node.ledger import Ledger
from exchange.store import queries

__all__ = ["build_bundle", "decode_entry"]

_PEM_RE = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)


def parse_entry(payload: bytes) -> Any:
    """The ``parse_entry`` :func:`exchange.core.bundle.verify_bundle` takes: a verified
    payload as a ``brandex.v1.Entry`` message (for the domain rules and status)."""
    return entries_pb2.Entry.FromString(payload)


def decode_entry(payload: bytes) -> dict[str, Any]:
    """Decode an Entry payload to its proto3 JSON mapping, for humans and the verifier.

    This is the ``decode_entry`` that :func:`exchange.core.bundle.verify_bundle`
    expects; the bundle's ``payload`` fields are made with it too, so the
    verifier can compare them with what was signed.

    Raises:
        FormatError: if the bytes are not a ``brandex.v1.Entry``.
    """
    try:
        entry = entries_pb2.Entry.FromString(payload)
    except DecodeError as exc:
        raise FormatError(f"payload is not a brandex.v1.Entry: {exc}") from None
    return MessageToDict(entry, preserving_proto_field_name=True)


@dataclass
class _Key:
    public: bytes
    chain: list[str]


@dataclass
class _Origin:
    """One origin's state at the snapshot: checkpoint note, size and certified keys."""

    origin: str
    size: int
    note: str
    keys: dict[str, _Key]
    checkpoint_keyid: str
    signer_keyids: set[str] = field(default_factory=set)


class _Builder:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.store = ledger.store
        self.anchor_ders = {a.public_bytes(Encoding.DER) for a in ledger.anchors}
        self._histories: dict[str, KeyHistory] = {}
        self.origins: dict[str, _Origin] = {}

    # ------------------------------------------------------------- keys

    def _chain(self, chain_pem: str) -> list[str]:
        """Split a stored chain into PEM blocks, leaving out the trust anchors."""
        out = []
        for block in _PEM_RE.findall(chain_pem):
            cert = x509.load_pem_chain(block.encode())[0]
            if cert.public_bytes(Encoding.DER) not in self.anchor_ders:
                out.append(block + "\n")
        return out

    def keys(self, origin: str) -> dict[str, _Key]:
        return {
            keyid: _Key(bytes(pub), self._chain(chain))
            for keyid, pub, chain in self.store.keys(origin)
        }

    def origin(self, origin: str) -> _Origin:
        known = self.origins.get(origin)
        if known is not None:
            return known
        row = self.store.origin(origin)
        if row is None or not row.checkpoint:
            raise NotFoundError(f"origin {origin} has no checkpoint here")
        note = self.ledger.checkpoint_with_cosignatures(origin, row.size)
        keys = self.keys(origin)
        life = self._history(origin).checkpoint_signer(row.size)
        if life is None or life.keyid not in keys:
            raise NotFoundError(f"no key held for {origin} signs its checkpoint")
        signer = life.keyid
        made = _Origin(origin, row.size, note, keys, signer)
        self.origins[origin] = made
        return made

    # ----------------------------------------------------------- entries

    def item(self, origin: str, idx: int, type_: str) -> dict[str, Any]:
        o = self.origin(origin)
        if idx >= o.size:  # pragma: no cover - one read transaction makes this impossible
            raise NotFoundError(f"{origin} entry {idx} is beyond its checkpoint ({o.size})")
        raw = self.store.envelope(origin, idx)
        env = parse_envelope(raw)
        keyid = next((kid for kid, _ in env.signatures if kid in o.keys), None)
        if keyid is None:
            raise NotFoundError(f"{origin} entry {idx} is signed by a key not held here")
        o.signer_keyids.add(keyid)
        proof = merkle.inclusion_proof(idx, o.size, self.store.hash_reader(origin))
        return {
            "type": type_,
            "origin": origin,
            "index": idx,
            "leaf": raw.decode("ascii"),
            "payload": decode_entry(env.payload),
            "tlog_proof": format_tlog_proof(TlogProof(idx, proof, o.note)),
            "certificate_chain_pem": o.keys[keyid].chain,
        }

    def log_vkey(self, origin: str) -> str:
        o = self.origins[origin]
        key = o.keys[o.checkpoint_keyid].public
        return Ed25519NoteVerifier(origin, VerifyKey(key)).vkey_string()

    def _history(self, member: str) -> KeyHistory:
        """A member's key history, read once per bundle."""
        if member not in self._histories:
            self._histories[member] = self.ledger.history(member)
        return self._histories[member]

    def _witness_keys(self, member: str) -> list[bytes]:
        """A member's keys whose cosignatures count: every key it announced, but revoked ones."""
        return [
            life.public_key
            for life in self._history(member).keys.values()
            if life.revoked_at is None
        ]

    def witnesses(self) -> tuple[dict[str, list[str]], list[str]]:
        """Chain and vkey of each witness whose cosignature appears on a checkpoint used.

        One key per member (the format carries one chain each): the newest key
        that cosigned and is not revoked. Cosignatures by its other keys (before
        a rotation) are then not counted by a verifier, and a revoked key's never.
        """
        chosen: dict[str, tuple[int, bytes, list[str]]] = {}
        for o in self.origins.values():
            for sig in parse_note(o.note).signatures:
                found = cosigner_key(sig, self._witness_keys)
                if found is None:
                    continue
                member, public = found[0].name, found[1]
                life = self._history(member).keys[keyid_of(public)]
                if member not in chosen or chosen[member][0] < life.index:
                    chosen[member] = (life.index, public, self.keys(member)[life.keyid].chain)
        chains = {m: c for m, (_, _, c) in sorted(chosen.items())}
        vkeys = [
            CosignatureVerifier(witness_name(m), VerifyKey(pub)).vkey_string()
            for m, (_, pub, _) in sorted(chosen.items())
        ]
        return chains, vkeys


def build_bundle(ledger: Ledger, issuer: str, record_id: str) -> str:
    """Build the JSON bundle of record ``record_id`` of region ``issuer``.

    Args:
        ledger: the node's ledger (its store holds the logs).
        issuer: the issuing region's code, e.g. ``330000``.
        record_id: the issuer-scoped record id.

    Returns:
        The bundle as JSON text (UTF-8, indented), format ``brandex.bundle/v1``.

    Raises:
        NotFoundError: if the record, or a checkpoint it needs, is not held here.
    """
    conn = ledger.store.read
    with queries.snapshot(conn):
        row = queries.record_row(conn, issuer, record_id)
        if row is None:
            raise NotFoundError(f"record {issuer}/{record_id} is not known here")
        b = _Builder(ledger)
        origin = row["origin"]
        record = b.item(origin, row["idx"], "recognition")
        record_keyid = next(iter(b.origins[origin].signer_keyids))
        related = [
            b.item(o, idx, type_) for o, idx, type_ in queries.bundle_refs(conn, issuer, record_id)
        ]

        # Items of the record's own origin signed by the record's key need no chain of
        # their own; items of other origins carry their chain and their log's vkey.
        for item in related:
            if item["origin"] == origin:
                if item["certificate_chain_pem"] == record["certificate_chain_pem"]:
                    del item["certificate_chain_pem"]
            else:
                item["vkey"] = b.log_vkey(item["origin"])

        # Each log's key entries (announcements, rotations, revocations), so an offline
        # verifier rebuilds the key history that says which key signs which entry.
        key_entries = [
            b.item(o, idx, type_)
            for o in sorted(b.origins)
            for idx, type_ in ledger.store.key_entry_indices(o, b.origins[o].size)
        ]
        for item in key_entries:
            item.pop("certificate_chain_pem", None)
        # A checkpoint signed by a key that signed none of the entries carried
        # (after a key rotation) needs that key's chain too.
        log_chains = {
            o.origin: o.keys[o.checkpoint_keyid].chain
            for o in b.origins.values()
            if o.checkpoint_keyid not in o.signer_keyids
        }
        witness_chains, witness_vkeys = b.witnesses()
        log_vkeys = [b.log_vkey(o) for o in b.origins]
        doc: dict[str, Any] = {
            "format": FORMAT,
            "origin": origin,
            "issuer": issuer,
            "record_id": record_id,
            "index": record["index"],
            "leaf": record["leaf"],
            "payload": record["payload"],
            "certificate_chain_pem": b.origins[origin].keys[record_keyid].chain,
            "tlog_proof": record["tlog_proof"],
            "related": related,
            "key_entries": key_entries,
        }
        if log_chains:
            doc["log_chains"] = log_chains
        doc["witness_chains"] = witness_chains
        doc["vkeys"] = log_vkeys + witness_vkeys
        doc["built_by"] = ledger.origin
        doc["built_at"] = ledger.clock().astimezone(UTC).isoformat(timespec="seconds")
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
