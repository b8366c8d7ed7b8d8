"""The one place where gRPC status codes become brandex errors (the inverse of
``exchange.node.errors``).

Every error a node sends back reaches the caller as a :class:`RemoteError`
subclass that is also the core error the node raised (a ``NOT_FOUND`` is a
:class:`~exchange.core.errors.NotFoundError`), so callers catch domain errors,
not ``grpc.RpcError``. The status name and the node's message stay on the
exception (``code``, ``details``) for those who print them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import grpc

from exchange.core.errors import (
    BrandexError,
    ConflictError,
    FormatError,
    NotFoundError,
    ValidationError,
)
from exchange.core.parsing import ascii_int

__all__ = [
    "Busy",
    "Denied",
    "InvalidRequest",
    "RemoteConflict",
    "RemoteError",
    "RemoteFailure",
    "RemoteInvalid",
    "RemoteNotFound",
    "Unreachable",
    "remote_errors",
]


class RemoteError(BrandexError):
    """The node answered with an error (or could not be reached)."""

    def __init__(self, code: str, details: str, retry_after_ms: int | None = None) -> None:
        super().__init__(f"{code}: {details}")
        self.code = code  # the gRPC status name, e.g. "NOT_FOUND"
        self.details = details  # the node's own message
        self.retry_after_ms = retry_after_ms


class InvalidRequest(BrandexError):
    """The request breaks rules the node would refuse it for; found before sending.

    ``problems`` lists every rule broken (field, rule, value), so a caller can name
    its own flags or form fields for each.
    """

    def __init__(self, problems: list[ValidationError]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


class RemoteInvalid(RemoteError, FormatError):
    """The node rejected the request's values (INVALID_ARGUMENT)."""


class RemoteNotFound(RemoteError, NotFoundError):
    """The node does not hold what was asked for (NOT_FOUND)."""


class RemoteConflict(RemoteError, ConflictError):
    """The request conflicts with what the node has recorded (FAILED_PRECONDITION,
    ALREADY_EXISTS)."""


class Denied(RemoteError):
    """The node refused the caller's certificate or role (PERMISSION_DENIED,
    UNAUTHENTICATED)."""


class Busy(RemoteError):
    """The caller asked for more than its share (RESOURCE_EXHAUSTED); retry later."""


class Unreachable(RemoteError):
    """No answer: the node is down, unreachable or too slow (UNAVAILABLE, DEADLINE_EXCEEDED)."""


class RemoteFailure(RemoteError):
    """The node failed inside (INTERNAL, UNKNOWN and the rest)."""


#: gRPC status -> the error raised for it (anything else: RemoteFailure).
_ERRORS: dict[grpc.StatusCode, type[RemoteError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: RemoteInvalid,
    grpc.StatusCode.NOT_FOUND: RemoteNotFound,
    grpc.StatusCode.FAILED_PRECONDITION: RemoteConflict,
    grpc.StatusCode.ALREADY_EXISTS: RemoteConflict,
    grpc.StatusCode.ABORTED: RemoteConflict,  # a witness's conflict (its size in metadata)
    grpc.StatusCode.PERMISSION_DENIED: Denied,
    grpc.StatusCode.UNAUTHENTICATED: Denied,
    grpc.StatusCode.RESOURCE_EXHAUSTED: Busy,
    grpc.StatusCode.UNAVAILABLE: Unreachable,
    grpc.StatusCode.DEADLINE_EXCEEDED: Unreachable,
}


def from_rpc_error(exc: grpc.RpcError) -> RemoteError:
    """The brandex error for a failed call."""
    code = exc.code()  # type: ignore[attr-defined]
    details = exc.details() or ""  # type: ignore[attr-defined]
    retry = None
    trailing = getattr(exc, "trailing_metadata", None)  # absent on errors made by hand
    for key, value in (trailing() if trailing else None) or ():
        if key == "retry-after-ms" and (ms := ascii_int(str(value))) is not None:
            retry = ms
    return _ERRORS.get(code, RemoteFailure)(code.name, details, retry)


@contextlib.contextmanager
def remote_errors() -> Iterator[None]:
    """Turn a ``grpc.RpcError`` raised inside into its :class:`RemoteError`."""
    try:
        yield
    except grpc.RpcError as exc:
        raise from_rpc_error(exc) from None
