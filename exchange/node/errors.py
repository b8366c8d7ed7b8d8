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
)

__all__ = ["PermissionDenied", "Unauthenticated", "grpc_code", "translate_errors"]

log = logging.getLogger("brandex.rpc")


class PermissionDenied(BrandexError):
    """The caller is authenticated but may not do this."""


class Unauthenticated(BrandexError):
    """The caller's certificate is missing or not acceptable."""


_CODES: list[tuple[type[BaseException], grpc.StatusCode]] = [
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (ValidationError, grpc.StatusCode.INVALID_ARGUMENT),
    (FormatError, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFoundError, grpc.StatusCode.NOT_FOUND),
    (ConflictError, grpc.StatusCode.FAILED_PRECONDITION),
    (EquivocationError, grpc.StatusCode.FAILED_PRECONDITION),
    (VerificationError, grpc.StatusCode.FAILED_PRECONDITION),
]


def grpc_code(exc: BaseException) -> grpc.StatusCode:
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return code
    return grpc.StatusCode.INTERNAL


F = TypeVar("F", bound=Callable[..., Any])


def translate_errors(fn: F) -> F:
    """Abort the RPC with the mapped code and the error's own message."""

    @functools.wraps(fn)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(self, request, context)
        except BrandexError as exc:
            context.abort(grpc_code(exc), str(exc))
        except Exception:
            log.exception("unexpected error in %s", fn.__name__)
            context.abort(grpc.StatusCode.INTERNAL, f"internal error in {fn.__name__}")

    return wrapper  # type: ignore[return-value]
