"""Every request field a node accepts, checked at the RPC boundary in one place.

Each handler calls the validator of its request type first; a validator raises
``ValidationError`` (INVALID_ARGUMENT via ``exchange.node.errors``) naming the
field, the rule and the value. Nothing behind the boundary has to guess what a
caller may have put in a string: region codes are real GB/T 2260 codes, enums
are known values, text is bounded and free of control characters, and every
number that sizes an answer (limits, offsets, index ranges) is capped here.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from exchange._proto.brandex.v1 import entries_pb2
from exchange.core import regions
from exchange.core.errors import FormatError, ValidationError
from exchange.core.origin import parse_origin

__all__ = [
    "MAX_ENTRIES_PER_CALL",
    "MAX_ORIGIN",
    "MAX_SEARCH_LIMIT",
    "MAX_SEARCH_OFFSET",
    "MAX_TEXT",
    "STATUS_WORDS",
    "bundle",
    "check",
    "consistency",
    "get_checkpoint",
    "get_entries",
    "get_record",
    "inclusion",
    "list_cases",
    "search",
    "valid_origin",
]

MAX_TEXT = 200  # characters of a search text, brand or enterprise name
MAX_ID = 64  # record ids, USCCs (as core.records allows for ids)
MAX_ORIGIN = 64  # "yrd/330000"; a federation name is short
MAX_SEARCH_LIMIT = 1000
MAX_SEARCH_OFFSET = 100_000  # deeper pages cost a scan of everything before them
MAX_LIST = 1000  # cases per ListCases answer
MAX_LIST_OFFSET = 100_000
MAX_ACTIONS = 1000  # actions shown per case
MAX_ACCESSIONS = 10_000  # accession rows per ListAgreements answer
MAX_STATUS_ORIGINS = 1000  # origins in one node status
MAX_EVIDENCE = 100  # fork evidence in one node status (the most recent)
MAX_ANSWER_BYTES = 4 * 1024 * 1024  # a list answer stops (truncated) beyond this
MAX_BATCH_BYTES = 1024 * 1024  # envelopes per EntryBatch, in bytes (at least one)
MAX_ENTRIES_PER_CALL = 100_000  # GetEntries range; a sync asks again for the rest
MAX_NICE = 45
#: Origins one watch stream tracks (either side) without a federation document: a
#: hostile peer must not grow our memory with made-up origins. With a document the cap
#: is its member count (:func:`watch_limit`), so a national federation is never cut.
MAX_WATCHED_ORIGINS = 512
#: The status words a record row can have (exchange.store.projections).
STATUS_WORDS = frozenset({"valid", "suspended", "revoked", "withdrawn"})


def watch_limit(members: int) -> int:
    """Origins one watch stream may track, given the federation document's member
    count (0 without a document): every member, and never fewer than the default."""
    return max(MAX_WATCHED_ORIGINS, members)


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def like_pattern(text: str) -> str:
    """``%text%`` for ``LIKE ? ESCAPE '\\'``: the user's ``%`` and ``_`` match themselves."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _text(field: str, value: str, max_len: int = MAX_TEXT) -> None:
    if len(value) > max_len:
        raise ValidationError(field, f"must be at most {max_len} characters, not {len(value)}")
    if _CONTROL.search(value):
        raise ValidationError(field, "must not contain control characters", value)


def _region(field: str, value: str, *, required: bool = False) -> None:
    if not value:
        if required:
            raise ValidationError(field, "is required (a GB/T 2260 region code)")
        return
    _text(field, value, 6)
    regions.validate_region(value, field)


def _date(field: str, value: str) -> None:
    if not value:
        return
    _text(field, value, 10)
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValidationError(field, "must be YYYY-MM-DD", value) from None


def _enum(field: str, value: int, enum: Any) -> None:
    if value not in enum.values():
        raise ValidationError(field, f"is not a known {enum.DESCRIPTOR.name}", value)


def _record_ref(field: str, ref: Any, *, issuer_required: bool = True) -> None:
    _region(f"{field}.issuer", ref.issuer, required=issuer_required)
    if not ref.record_id:
        raise ValidationError(f"{field}.record_id", "is required")
    _text(f"{field}.record_id", ref.record_id, MAX_ID)


def acceptable_origin(origin: str, federation: str) -> bool:
    """Whether ``valid_origin`` accepts it (for streams, which skip rather than fail)."""
    try:
        valid_origin(origin, federation)
    except ValidationError:
        return False
    return True


def valid_origin(origin: str, federation: str, field: str = "origin") -> str:
    """``origin`` if it is ``<federation>/<six-digit region>`` of this federation."""
    if not origin:
        raise ValidationError(field, "is required (<federation>/<region>)")
    _text(field, origin, MAX_ORIGIN)
    try:
        where = parse_origin(origin)
    except FormatError:
        raise ValidationError(field, "must be <federation>/<six-digit region>", origin) from None
    if where.federation != federation:
        raise ValidationError(field, f"belongs to no origin of federation {federation}", origin)
    regions.validate_region(where.region, field)
    return origin


# ------------------------------------------------------------- RegistryService


def search(req: Any) -> None:
    _text("text", req.text)
    _text("enterprise", req.enterprise)
    _region("region", req.region)
    _region("issuer", req.issuer)
    _enum("kind", req.kind, entries_pb2.RecognitionKind)
    if not 0 <= req.nice_class <= MAX_NICE:
        raise ValidationError("nice_class", f"must be 1..{MAX_NICE} (0: any)", req.nice_class)
    if req.status and req.status not in STATUS_WORDS:
        raise ValidationError(
            "status", f"must be one of {', '.join(sorted(STATUS_WORDS))}", req.status
        )
    _date("valid_on", req.valid_on)
    _date("today", req.today)
    _text("uscc", req.uscc, MAX_ID)
    if req.limit > MAX_SEARCH_LIMIT:
        raise ValidationError("limit", f"must be at most {MAX_SEARCH_LIMIT}", req.limit)
    if req.offset > MAX_SEARCH_OFFSET:
        raise ValidationError(
            "offset", f"must be at most {MAX_SEARCH_OFFSET}; narrow the search", req.offset
        )


def watch(req: Any) -> None:
    """A WatchRequest: at most one subject, each bounded (the cursor is checked on decode)."""
    _text("brand", req.brand)
    _text("uscc", req.uscc, MAX_ID)
    _region("region", req.region)
    given = [n for n in ("brand", "uscc", "region") if getattr(req, n)]
    if req.HasField("record"):
        _record_ref("record", req.record)
        given.append("record")
    if len(given) > 1:
        raise ValidationError("watch", f"give one of brand, uscc, record, region, not {given}")


def get_record(req: Any) -> None:
    _record_ref("record", req)
    _date("today", req.today)


def check(req: Any) -> None:
    _region("region", req.region, required=True)
    _date("on", req.on)
    which = req.WhichOneof("subject")
    if which == "uscc":
        if not req.uscc:
            raise ValidationError("uscc", "is empty")
        _text("uscc", req.uscc, MAX_ID)
    elif which == "brand":
        if not req.brand:
            raise ValidationError("brand", "is empty")
        _text("brand", req.brand)
    elif which == "record":
        _record_ref("record", req.record, issuer_required=False)
    else:
        raise ValidationError("subject", "give a USCC, a brand name or a record")


def list_cases(req: Any) -> None:
    _text("brand", req.brand)
    _region("region", req.region)
    if req.HasField("record"):
        _record_ref("record", req.record)
    if req.limit > MAX_LIST:
        raise ValidationError("limit", f"must be at most {MAX_LIST}", req.limit)
    if req.offset > MAX_LIST_OFFSET:
        raise ValidationError("offset", f"must be at most {MAX_LIST_OFFSET}", req.offset)


# ---------------------------------------------------------- Log/AuditService


def get_checkpoint(req: Any, federation: str) -> None:
    valid_origin(req.origin, federation)


def get_entries(req: Any, federation: str) -> None:
    valid_origin(req.origin, federation)
    if req.end and req.start > req.end:
        raise ValidationError("start", "must be <= end", (req.start, req.end))
    if req.end and req.end - req.start > MAX_ENTRIES_PER_CALL:
        raise ValidationError(
            "end",
            f"at most {MAX_ENTRIES_PER_CALL} entries per call; ask again for the rest",
            (req.start, req.end),
        )


def consistency(req: Any, federation: str) -> None:
    valid_origin(req.origin, federation)
    if not 0 < req.size1 <= req.size2:
        raise ValidationError("size1/size2", "need 0 < size1 <= size2", (req.size1, req.size2))


def inclusion(req: Any, federation: str) -> None:
    valid_origin(req.origin, federation)


def bundle(req: Any) -> None:
    _record_ref("record", req.record)


class EntryStream:
    """``GetEntries`` over ``[start, end)`` in calls of at most ``MAX_ENTRIES_PER_CALL``.

    Iterates the batches of every call in turn; ``cancel()`` ends the current call.
    For clients (the audit) that read whole logs, which one call no longer serves.
    """

    def __init__(
        self, stub: Any, origin: str, start: int, end: int, *, batch_size: int, timeout: float
    ) -> None:
        self._stub, self._origin = stub, origin
        self._start, self._end = start, end
        self._batch_size, self._timeout = batch_size, timeout
        self._call: Any = None
        self._cancelled = False

    def __iter__(self) -> Any:
        from exchange._proto.brandex.v1 import services_pb2

        start = self._start
        while start < self._end and not self._cancelled:
            stop = min(self._end, start + MAX_ENTRIES_PER_CALL)
            self._call = self._stub.GetEntries(
                services_pb2.GetEntriesRequest(
                    origin=self._origin, start=start, end=stop, batch_size=self._batch_size
                ),
                timeout=self._timeout,
            )
            yield from self._call
            start = stop

    def cancel(self) -> None:
        self._cancelled = True
        if self._call is not None:
            self._call.cancel()
