"""Table definitions, created with sqlite-utils so the schema reads as data."""

from __future__ import annotations

import sqlite_utils

from exchange.core.errors import FormatError
from exchange.store.search import create_search_index

__all__ = ["NODES_FROM_LEVEL", "SCHEMA_VERSION", "create_schema", "stores_level"]

#: 4: ``nodes`` holds levels 1 and up; level 0 is ``entries.leaf_hash``. A version 3
#: file opens as is (its level-0 ``nodes`` rows stay, unread).
#: 5: ``nodes`` holds levels :data:`NODES_FROM_LEVEL` and up; the levels between are
#: hashed from the leaves when read. A version 4 file opens as is (its rows of
#: levels 1 to 3 stay, unread); an older brandex refuses a version 5 file, whose
#: missing rows it would report as a broken tree.
SCHEMA_VERSION = 5

#: The lowest tree level the ``nodes`` table holds. A node below it covers at most
#: 2**(NODES_FROM_LEVEL - 1) = 8 leaves, hashed from ``entries.leaf_hash`` when read:
#: one ``nodes`` row per 16 entries instead of one per entry, the rows a sync
#: writes being most of the joiner's per-entry storage work.
NODES_FROM_LEVEL = 4


def stores_level(level: int) -> bool:
    """Whether the tree's ``level`` is stored: level 0 as ``entries.leaf_hash``,
    levels from :data:`NODES_FROM_LEVEL` up as ``nodes`` rows; the rest is hashed."""
    return level == 0 or level >= NODES_FROM_LEVEL


def create_schema(db: sqlite_utils.Database) -> None:
    """Create every table and index that does not exist yet (idempotent).

    Raises:
        FormatError: the file was written by a newer brandex (a later schema
            version), which this code could misread; nothing is changed.
    """
    found = db.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        raise FormatError(
            f"{db.conn.execute('PRAGMA database_list').fetchone()[2]}: schema version"
            f" {found} was written by a newer brandex (this one reads up to {SCHEMA_VERSION})"
        )
    t = db.table
    # One row per origin this node holds: its log head and whether it is frozen.
    t("origins").create(
        {
            "origin": str,
            "region": str,
            "size": int,
            "root": bytes,
            "checkpoint": str,
            "frozen": int,
            "frozen_reason": str,
            "updated_at": str,
            "indexed": int,
        },
        pk="origin",
        if_not_exists=True,
    )
    # How many of an origin's entries the registry tables below reflect. A big
    # sync commits the log first and leaves this behind, for the node's indexer.
    if "indexed" not in db["origins"].columns_dict:  # a version 1 file: all indexed
        db["origins"].add_column("indexed", int)
        db.execute("UPDATE origins SET indexed = size")
    # The log itself: the exact envelope bytes issuers signed, and the hashes of
    # complete subtrees of NODES_FROM_LEVEL and up (the leaves are entries.leaf_hash,
    # the levels between are hashed from them) so proofs cost O(log n) reads.
    # WITHOUT ROWID: the key is the only access path, so a second b-tree per row
    # would be pure cost.
    db.execute(
        "CREATE TABLE IF NOT EXISTS entries (origin TEXT NOT NULL, idx INTEGER NOT NULL,"
        " leaf_hash BLOB NOT NULL, envelope BLOB NOT NULL, type TEXT,"
        " PRIMARY KEY (origin, idx)) WITHOUT ROWID"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS nodes (origin TEXT NOT NULL, level INTEGER NOT NULL,"
        " idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (origin, level, idx))"
        " WITHOUT ROWID"
    )
    # Every checkpoint this node accepted (for consistency and audits).
    t("checkpoints").create(
        {"origin": str, "size": int, "root": bytes, "note": str, "source": str, "accepted_at": str},
        pk=("origin", "size"),
        if_not_exists=True,
    )
    t("cosignatures").create(
        {"origin": str, "size": int, "witness": str, "timestamp": int, "line": str},
        pk=("origin", "size", "witness"),
        if_not_exists=True,
    )
    # What this node cosigned as a witness (C2SP tlog-witness), per origin: the
    # size and root it last cosigned. Only ever moves forward (Tx.advance_witness).
    t("witness_state").create(
        {"origin": str, "size": int, "root": bytes, "updated_at": str},
        pk="origin",
        if_not_exists=True,
    )
    t("evidence").create(
        {
            "id": int,
            "origin": str,
            "note_a": str,
            "note_b": str,
            "source": str,
            "detail": str,
            "detected_at": str,
        },
        pk="id",
        if_not_exists=True,
    )
    # An operator's unfreeze (after the federation decided) resolves the evidence;
    # the rows stay, as the record of what happened and what was decided.
    for col in ("resolved_at", "resolution"):
        if col not in db["evidence"].columns_dict:
            db["evidence"].add_column(col, str)
    # Signing keys learned from verified KeyAnnouncement entries, with their
    # lifecycle (core.keys.KeyHistory.to_rows): rotation and revocation.
    t("keys").create(
        {"origin": str, "keyid": str, "public_key": bytes, "chain_pem": str, "idx": int},
        pk=("origin", "keyid"),
        if_not_exists=True,
    )
    for col, kind in [
        ("replaces", str),
        ("retired_at", int),
        ("revoked_at", int),
        ("compromised_since", str),
    ]:
        if col not in db["keys"].columns_dict:  # a version 1 or 2 file
            db["keys"].add_column(col, kind)
    # Entries signed by a key inside its declared compromise: kept in the log
    # (signed evidence), never applied to the registry tables below.
    t("suspects").create(
        {"origin": str, "idx": int, "keyid": str, "reason": str},
        pk=("origin", "idx"),
        if_not_exists=True,
    )
    # The federation document chain this node accepted (core.federation), pinned
    # version first, and the documents it refused, kept as evidence.
    t("federation_docs").create(
        {"version": int, "digest": str, "document": bytes, "source": str, "accepted_at": str},
        pk="version",
        if_not_exists=True,
    )
    t("governance_evidence").create(
        {
            "kind": str,
            "version": int,
            "digest": str,
            "document": bytes,
            "detail": str,
            "source": str,
            "recorded_at": str,
        },
        pk=("kind", "digest"),
        if_not_exists=True,
    )
    # ------------------------------------------------------------ projections
    t("records").create(
        {
            "issuer": str,
            "record_id": str,
            "kind": int,
            "sector": int,
            "brand_name": str,
            "brand_name_latin": str,
            "product": str,
            "nice_classes": str,
            "industry_code": str,
            "enterprise_name": str,
            "enterprise_uscc": str,
            "enterprise_region": str,
            "certificate_no": str,
            "announcement_no": str,
            "recognised_on": str,
            "valid_from": str,
            "valid_until": str,
            "status": str,
            "status_since": str,
            "origin": str,
            "idx": int,
            "issued_at": str,
        },
        pk=("issuer", "record_id"),
        if_not_exists=True,
    )
    t("status_changes").create(
        {
            "origin": str,
            "idx": int,
            "issuer": str,
            "record_id": str,
            "status": int,
            "reason": int,
            "reason_text": str,
            "effective_on": str,
            "announcement_no": str,
            "new_valid_until": str,
            "issued_at": str,
        },
        pk=("origin", "idx"),
        if_not_exists=True,
    )
    t("cases").create(
        {
            "case_region": str,
            "case_id": str,
            "protected_issuer": str,
            "protected_record_id": str,
            "handling_region": str,
            "infringer_name": str,
            "infringer_uscc": str,
            "case_type": int,
            "goods_value_fen": int,
            "opened_on": str,
            "description": str,
            "open": int,
            "origin": str,
            "idx": int,
        },
        pk=("case_region", "case_id"),
        if_not_exists=True,
    )
    t("case_actions").create(
        {
            "origin": str,
            "idx": int,
            "case_region": str,
            "case_id": str,
            "acting_region": str,
            "action": int,
            "date": str,
            "note": str,
            "decision_no": str,
            "fine_fen": int,
        },
        pk=("origin", "idx"),
        if_not_exists=True,
    )
    t("accessions").create(
        {
            "origin": str,
            "idx": int,
            "agreement_id": str,
            "region": str,
            "title": str,
            "covered_kinds": str,
            "effective_from": str,
            "effective_until": str,
        },
        pk=("origin", "idx"),
        if_not_exists=True,
    )
    t("withdrawals").create(
        {
            "origin": str,
            "idx": int,
            "agreement_id": str,
            "region": str,
            "effective_on": str,
            "reason_text": str,
        },
        pk=("origin", "idx"),
        if_not_exists=True,
    )
    # Authentic entries that break a domain rule (exchange.core.rules): kept in
    # the log as evidence, never applied to the tables above. ``subject`` names
    # the record or case concerned, "<region>/<id>" (empty for other entries).
    t("violations").create(
        {"id": int, "origin": str, "idx": int, "rule": str, "message": str, "subject": str},
        pk="id",
        if_not_exists=True,
    )
    for table, cols, unique in [
        ("records", ["issuer", "certificate_no"], True),
        ("records", ["enterprise_uscc"], False),
        ("records", ["origin", "idx"], True),
        ("records", ["brand_name"], False),
        ("status_changes", ["issuer", "record_id"], False),
        ("cases", ["protected_issuer", "protected_record_id"], False),
        ("case_actions", ["case_region", "case_id"], False),
        ("violations", ["origin", "idx"], False),
        ("violations", ["subject"], False),
    ]:
        t(table).create_index(cols, unique=unique, if_not_exists=True)
    create_search_index(db.conn)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
