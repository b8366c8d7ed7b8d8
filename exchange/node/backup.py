"""Backing a node up while it runs, and restoring only what verifies.

A backup is a directory: ``brandex.sqlite`` (a consistent copy made with
SQLite's online backup API) and ``manifest.json`` (each origin's size, root
and signed checkpoint, the file's SHA-256, the brandex version and time).

A restore trusts neither file. Every origin's log is verified from its first
entry with the same code that verifies what peers send
(:func:`exchange.node.verify.verify_log`), its Merkle tree is recomputed from
the stored envelopes, and its head checkpoint must be signed by the key the
verified history says signs that size and state that root. Only then is the
copy written over the node's database, and only while no node holds it.
Whatever the copy lacks (entries issued or mirrored after it was taken) the
restarted node fetches from its peers: its own log first, before it issues
anything (``Ledger.recover_own_log``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exchange import __version__
from exchange.core import merkle, x509
from exchange.core.errors import ConflictError, FormatError, VerificationError
from exchange.node.verify import open_origin_checkpoint, verify_log
from exchange.store.backup import Snapshot, copy_online, file_sha256, restore_file
from exchange.store.lock import DatabaseLock, database_in_use
from exchange.store.schema import stores_level

__all__ = [
    "BACKUP_FORMAT",
    "DB_NAME",
    "MANIFEST_NAME",
    "OriginCheck",
    "restore_backup",
    "take_backup",
    "verify_backup",
]

BACKUP_FORMAT = "brandex-backup/1"
DB_NAME = "brandex.sqlite"
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class OriginCheck:
    """One origin of a backup, verified."""

    origin: str
    size: int
    root: bytes
    keys: int  # signing keys in its verified history


def take_backup(database: Path, out: Path, *, node: str, origin: str, now: datetime) -> dict:
    """Copy the live ``database`` into the new directory ``out``; return the manifest.

    The manifest describes the copy (read back from it), not the live file,
    which may have moved on while the copy was made.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConflictError(f"{out} exists and is not an empty directory")
    out.mkdir(parents=True, exist_ok=True)
    copy = out / DB_NAME
    copy_online(database, copy)
    with Snapshot(copy) as snap:
        origins = [
            {
                "origin": o.origin,
                "size": o.size,
                "root": o.root.hex(),
                "checkpoint": o.checkpoint,
                "frozen": o.frozen,
            }
            for o in snap.origins()
            if o.size > 0
        ]
    manifest = {
        "format": BACKUP_FORMAT,
        "brandex_version": __version__,
        "created_at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "node": node,
        "node_origin": origin,
        "database": DB_NAME,
        "sha256": file_sha256(copy),
        "origins": origins,
    }
    tmp = out / (MANIFEST_NAME + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out / MANIFEST_NAME)
    return manifest


def read_manifest(backup: Path) -> dict[str, Any]:
    """The manifest of a backup directory, with the fields a restore relies on checked."""
    path = backup / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FormatError(f"{backup} is not a brandex backup: no {MANIFEST_NAME}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != BACKUP_FORMAT:
        raise FormatError(f"{path}: not a {BACKUP_FORMAT} manifest")
    origins = manifest.get("origins")
    if not isinstance(manifest.get("sha256"), str) or not isinstance(origins, list):
        raise FormatError(f"{path}: sha256 or origins missing")
    for o in origins:
        if not (
            isinstance(o, dict)
            and isinstance(o.get("origin"), str)
            and isinstance(o.get("size"), int)
            and isinstance(o.get("root"), str)
            and isinstance(o.get("checkpoint"), str)
        ):
            raise FormatError(f"{path}: an origin entry lacks origin, size, root or checkpoint")
    return manifest


def verify_backup(
    backup: Path, anchors: Sequence[x509.x509.Certificate], now: datetime
) -> list[OriginCheck]:
    """Verify every log in a backup; raise VerificationError naming the first fault."""
    manifest = read_manifest(backup)
    copy = backup / DB_NAME
    if not copy.is_file():
        raise FormatError(f"{backup} is not a brandex backup: no {DB_NAME}")
    if file_sha256(copy) != manifest["sha256"]:
        raise VerificationError(
            f"{copy} does not match its manifest (SHA-256 differs): the backup was altered"
        )
    listed = {o["origin"]: o for o in manifest["origins"]}
    out = []
    with Snapshot(copy) as snap:
        held = {o.origin: o for o in snap.origins() if o.size > 0}
        if set(held) != set(listed):
            raise VerificationError(
                f"the manifest lists {sorted(listed)} but the database holds {sorted(held)}"
            )
        for name, row in held.items():
            want = listed[name]
            if (row.size, row.root.hex(), row.checkpoint) != (
                want["size"],
                want["root"],
                want["checkpoint"],
            ):
                raise VerificationError(f"{name}: the database head differs from the manifest")
            out.append(_verify_origin(snap, name, row.size, row.root, row.checkpoint, anchors, now))
    return out


def _verify_origin(
    snap: Snapshot,
    origin: str,
    size: int,
    root: bytes,
    checkpoint: str,
    anchors: Sequence[x509.x509.Certificate],
    now: datetime,
) -> OriginCheck:
    rows = snap.entries(origin, size)
    if [i for i, _, _ in rows] != list(range(size)):
        raise VerificationError(f"{origin}: entries missing below its size {size}")
    envelopes = [env for _, _, env in rows]
    try:
        history = verify_log(origin, envelopes, anchors, now)
    except VerificationError as exc:
        raise VerificationError(f"{origin}: {exc}") from None
    leaves = [merkle.leaf_hash(env) for env in envelopes]
    bad = next((i for i, (_, lh, _) in enumerate(rows) if lh != leaves[i]), None)
    if bad is not None:
        raise VerificationError(f"{origin} entry {bad}: stored leaf hash is not its envelope's")
    tree = merkle.MemoryHashStore()
    expected = set(merkle.nodes_for_append(0, leaves, tree))
    if snap.nodes(origin, size) != {n for n in expected if stores_level(n[0])}:
        raise VerificationError(f"{origin}: stored subtree hashes differ from its entries' tree")
    computed = merkle.root_hash(size, _NodeSet(expected))
    if computed != root:
        raise VerificationError(f"{origin}: the stored root is not the root of its {size} entries")
    if not checkpoint:
        raise VerificationError(f"{origin}: no signed checkpoint for its {size} entries")
    cp, _ = open_origin_checkpoint(origin, checkpoint, history, size)
    if cp.origin != origin or cp.size != size or cp.root_hash != computed:
        raise VerificationError(
            f"{origin}: the signed checkpoint ({cp.size} entries, root {cp.root_hash.hex()[:16]}…)"
            f" does not match the log ({size} entries, root {computed.hex()[:16]}…)"
        )
    derived = {r["keyid"]: _key_row(r) for r in history.to_rows()}
    stored = {str(r["keyid"]): _key_row(r) for r in snap.key_rows(origin)}
    if stored != derived:
        odd = sorted(k for k in {*stored, *derived} if stored.get(k) != derived.get(k))
        raise VerificationError(
            f"{origin}: the stored keys differ from the key history its log implies"
            f" (key {odd[0][:16]}…)"
        )
    return OriginCheck(origin, size, computed, len(history.keys))


def _key_row(r: Mapping[str, Any]) -> tuple:
    """A key row as compared: bytes as bytes, empty text and NULL alike."""
    return tuple(
        bytes(r[k]) if k == "public_key" else (r.get(k) or None)
        for k in (
            "keyid",
            "public_key",
            "chain_pem",
            "idx",
            "replaces",
            "retired_at",
            "revoked_at",
            "compromised_since",
        )
    )


class _NodeSet:
    """A HashReader over a set of (level, index, hash) nodes."""

    def __init__(self, nodes: set[tuple[int, int, bytes]]) -> None:
        self._map = {(lv, ix): h for lv, ix, h in nodes}

    def get_many(self, keys: Sequence[tuple[int, int]]) -> list[bytes]:
        return [self._map[k] for k in keys]


def restore_backup(
    backup: Path, database: Path, anchors: Sequence[x509.x509.Certificate], now: datetime
) -> list[OriginCheck]:
    """Verify ``backup`` and write it over ``database``, which no node may hold.

    Raises:
        ConflictError: a node holds the database (its lock file is taken).
        VerificationError / FormatError: the backup does not verify; nothing
            was written.
    """
    with DatabaseLock(database):
        if database_in_use(database):  # not a node, but some process has it open
            raise ConflictError(f"the database {database} is in use by another process")
        checks = verify_backup(backup, anchors, now)
        restore_file(backup / DB_NAME, database)
    return checks
