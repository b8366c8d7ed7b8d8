"""Verifying a range of envelopes from one origin before anything is stored.

A plain function over bytes, so it can run in worker processes: every envelope
is checked through the origin's :class:`~exchange.core.keys.KeyHistory` (which
key may sign which entry, at what time; key announcements, rotations and
revocations taken in as they come), and every payload must name the origin's
federation and region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from google.protobuf.message import DecodeError
from nacl.signing import SigningKey

from exchange._proto.brandex.v1 import entries_pb2
from exchange.core import merkle, x509
from exchange.core.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint_body
from exchange.core.dsse import parse_envelope, sign_envelope, verify_envelope
from exchange.core.ed25519 import VerifyKey
from exchange.core.errors import BrandexError, VerificationError
from exchange.core.keys import KeyHistory, KeyLife, issued_at
from exchange.core.note import Ed25519NoteVerifier, Note, parse_note
from exchange.core.origin import parse_origin
from exchange.core.records import recognition_errors
from exchange.core.rules import stateless_violations

__all__ = [
    "VerifiedBatch",
    "open_origin_checkpoint",
    "sign_entries",
    "validate_records",
    "verify_batch",
    "verify_batch_in_worker",
    "verify_log",
]


@dataclass
class VerifiedBatch:
    """The outcome of checking envelopes[start:start+n] of one origin.

    Plain bytes, strings and the small key history, so it crosses process
    boundaries cheaply; the envelopes themselves stay with the caller, which
    stores them as received. ``history`` is the origin's key history after the
    batch; ``first_issued_at`` the time its first entry states (a batch verified
    ahead of the one before it is checked against that one's last time).
    """

    leaf_hashes: list[bytes] = field(default_factory=list)
    types: list[str] = field(default_factory=list)  # each entry's body field name
    #: With ``rules``: each verified payload and what its body validator found
    #: ((rule, message) pairs), so the registry can be folded without parsing again.
    payloads: list[bytes] = field(default_factory=list)
    stateless: list[list[tuple[str, str]]] = field(default_factory=list)
    history: KeyHistory | None = None
    first_issued_at: datetime | None = None


def verify_batch(
    origin: str,
    start: int,
    envelopes: Sequence[bytes],
    history: KeyHistory,
    anchors: Sequence[x509.x509.Certificate],
    now: datetime,
    rules: bool = False,
) -> VerifiedBatch:
    """Verify envelopes that would sit at indices start, start+1, ... of ``origin``.

    Args:
        origin: the log they claim to belong to.
        start: index of the first envelope (must equal ``history.size``).
        envelopes: exact envelope bytes as received.
        history: the origin's key history after its first ``start`` entries;
            not modified (the result carries the history after the batch).
        anchors: trusted anchors, for key announcements in the range.
        now: the verifier's clock, for the future-time rule.
        rules: also keep each payload and run the stateless domain rules on it
            (:func:`exchange.core.rules.stateless_violations`), for a caller that
            indexes the entries as it commits them.

    Raises:
        VerificationError: naming the index and the check that failed.
    """
    where = parse_origin(origin)
    region, federation = where.region, where.federation
    h = history.copy()
    if h.size != start:
        raise VerificationError(f"{origin}: batch at {start}, but the key history is at {h.size}")
    out = VerifiedBatch()
    # One VerifyKey per key for the batch (building one costs as much as a tenth of
    # a signature check), looked up by key id as verify_envelope does. A key id is
    # the hash of its key, and a history holds each id once.
    verifiers: dict[str, dict[str, VerifyKey]] = {}

    def keys_of(life: KeyLife) -> dict[str, VerifyKey]:
        found = verifiers.get(life.keyid)
        if found is None:
            found = verifiers[life.keyid] = {life.keyid: VerifyKey(life.public_key)}
        return found

    # Bound once: this loop runs once per entry of every log mirrored.
    parse, from_bytes, signer, admit = (
        parse_envelope,
        entries_pb2.Entry.FromString,
        h.signer,
        h.admit,
    )
    types = out.types
    at = None
    for idx, raw in enumerate(envelopes, start):
        try:
            env = parse(raw)
            if idx == 0:
                # The first entry must announce (and be signed by) the key it carries.
                entry = from_bytes(env.payload)
                body = entry.WhichOneof("body")
                if body != "key_announcement":
                    raise VerificationError("the first entry of a log must announce its key")
                _same_origin(entry, where)
                at = issued_at(entry)
                h.apply(idx, entry, body, _first_keyid(env.signatures), anchors)
                life = h.keys[_first_keyid(env.signatures)]
                verify_envelope(env, keys_of(life))
                h.check_time(life, idx, at, now)
            else:
                life, _ = signer(idx, env.signatures)
                verify_envelope(env, keys_of(life))
                entry = from_bytes(env.payload)
                if entry.region != region or entry.federation != federation:
                    _same_origin(entry, where)
                body = entry.WhichOneof("body")
                if body is None:
                    raise VerificationError("entry has no body")
                at = admit(idx, life, entry, body, now, anchors)
        except DecodeError as exc:
            raise VerificationError(
                f"{origin} entry {idx}: payload is not an Entry: {exc}"
            ) from None
        except BrandexError as exc:
            raise VerificationError(f"{origin} entry {idx}: {exc}") from None
        if out.first_issued_at is None:
            out.first_issued_at = at
        types.append(body)
        if rules:
            out.payloads.append(env.payload)
            out.stateless.append(
                [(v.rule, v.message) for v in stateless_violations(where.region, idx, entry)]
            )
    out.leaf_hashes = merkle.leaf_hashes(envelopes)
    out.history = h
    return out


def verify_log(
    origin: str,
    envelopes: Sequence[bytes],
    anchors: Sequence[x509.x509.Certificate],
    now: datetime,
    batch: int = 5000,
) -> KeyHistory:
    """Verify a whole log from its first entry; returns its key history at the end."""
    history = KeyHistory(parse_origin(origin))
    for start in range(0, len(envelopes), batch):
        vb = verify_batch(origin, start, envelopes[start : start + batch], history, anchors, now)
        assert vb.history is not None
        history = vb.history
    return history


def open_origin_checkpoint(
    origin: str, note_text: str, history: KeyHistory, size: int | None = None
) -> tuple[Checkpoint, Note]:
    """Verify a checkpoint note of ``origin`` with the key that signs that size of it.

    ``history`` is the origin's key history (from its verified entries); the key
    current after entry size-1 is the only one that may sign the checkpoint.
    """
    if size is None:
        size = parse_checkpoint_body(parse_note(note_text).text).size
    keys = history.checkpoint_keys(size)
    if not keys:
        raise VerificationError(f"no certified key is known for {origin} at size {size}")
    verifier = Ed25519NoteVerifier(origin, VerifyKey(keys[0].public_key))
    return open_checkpoint(note_text, verifier)


def _first_keyid(signatures: Sequence[tuple[str, bytes]]) -> str:
    if not signatures:
        raise VerificationError("envelope carries no signature")
    return signatures[0][0]


def _same_origin(entry: entries_pb2.Entry, where) -> None:
    if entry.region != where.region or entry.federation != where.federation:
        raise VerificationError(f"payload names {entry.federation}/{entry.region}, not {where}")


_ANCHORS: dict[bytes, list[x509.x509.Certificate]] = {}


def verify_batch_in_worker(
    origin: str,
    start: int,
    envelopes: list[bytes],
    history: KeyHistory,
    anchors_pem: bytes,
    now: datetime,
    rules: bool = False,
) -> VerifiedBatch:
    """``verify_batch`` for a worker process: the anchors travel as PEM."""
    anchors = _ANCHORS.get(anchors_pem)
    if anchors is None:
        anchors = _ANCHORS[anchors_pem] = x509.load_pem_chain(anchors_pem)
    return verify_batch(origin, start, envelopes, history, anchors, now, rules)


def sign_entries(
    seed: bytes,
    federation: str,
    region: str,
    issued_at: str,
    bodies: list[tuple[str, bytes]],
    actor: tuple[str, str] | None = None,
) -> list[tuple[bytes, bytes]]:
    """Build and sign entries in a worker: (payload, envelope) pairs, in order.

    The payload is serialised here, once; the caller parses it back for the
    projections and stores the envelope exactly as signed.
    """
    key = SigningKey(seed)
    out = []
    for name, body in bodies:
        entry = entries_pb2.Entry(federation=federation, region=region, issued_at=issued_at)
        if actor is not None:
            entry.actor.subject, entry.actor.serial = actor
        getattr(entry, name).ParseFromString(body)
        payload = entry.SerializeToString()
        out.append((payload, sign_envelope(payload, key)))
    return out


def validate_records(issuer: str, blobs: list[bytes]) -> list[tuple[int, str, str, str]]:
    """Validation of serialised Recognitions in a worker: (index, field, rule, value)."""
    out = []
    for i, blob in enumerate(blobs):
        rec = entries_pb2.Recognition.FromString(blob)
        out += [
            (i, e.field, e.rule, "" if e.value is None else str(e.value))
            for e in recognition_errors(rec, issuer=issuer)
        ]
    return out
