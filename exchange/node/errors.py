"""The one place where brandex errors become gRPC status codes."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from exchange.core.errors import (
    BrandexError,
    ConflictError,
    EquivocationError,
    FormatError,
    NotFoundError,
    ValidationError,
    VerificationError,
    WitnessConflict,
)
from exchange.core.witness import NotWitnessed

__all__ = [
    "PermissionDenied",
    "ResourceExhausted",
    "Unauthenticated",
    "abort",
    "grpc_code",
    "translate_errors",
]

log = logging.getLogger("brandex.rpc")


class PermissionDenied(BrandexError):
    """The caller is authenticated but may not do this."""


class Unauthenticated(BrandexError):
    """The caller's certificate is missing or not acceptable."""


class ResourceExhausted(BrandexError):
    """The caller holds or asks for more than its share (streams, request rate).

    ``retry_after_ms``, when known, reaches the client as trailing metadata
    ``retry-after-ms`` (and is in the message).
    """

    def __init__(self, message: str, retry_after_ms: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


_CODES: list[tuple[type[BaseException], grpc.StatusCode]] = [
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (NotWitnessed, grpc.StatusCode.PERMISSION_DENIED),
    (ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (ValidationError, grpc.StatusCode.INVALID_ARGUMENT),
    (FormatError, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFoundError, grpc.StatusCode.NOT_FOUND),
    # A witness's size differs from the old size sent (C2SP tlog-witness 409): the
    # caller retries with the size in trailing metadata "brandex-witness-size".
    (WitnessConflict, grpc.StatusCode.ABORTED),
    (ConflictError, grpc.StatusCode.FAILED_PRECONDITION),
    (EquivocationError, grpc.StatusCode.FAILED_PRECONDITION),
    (VerificationError, grpc.StatusCode.FAILED_PRECONDITION),
]


def grpc_code(exc: BaseException) -> grpc.StatusCode:
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return code
    return grpc.StatusCode.INTERNAL


def abort(context: grpc.ServicerContext, exc: BrandexError) -> None:
    """End the RPC with the error's code and message (and its retry hint, if any)."""
    retry = getattr(exc, "retry_after_ms", None)
    if retry is not None:
        context.set_trailing_metadata((("retry-after-ms", str(retry)),))
    if isinstance(exc, WitnessConflict):
        context.set_trailing_metadata((("brandex-witness-size", str(exc.size)),))
    context.abort(grpc_code(exc), str(exc))


F = TypeVar("F", bound=Callable[..., Any])


def translate_errors(fn: F) -> F:
    """Abort the RPC with the mapped code and the error's own message."""

    @functools.wraps(fn)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(self, request, context)
        except BrandexError as exc:
            abort(context, exc)
        except Exception:
            log.exception("unexpected error in %s", fn.__name__)
            context.abort(grpc.StatusCode.INTERNAL, f"internal error in {fn.__name__}")

    return wrapper  # type: ignore[return-value]
