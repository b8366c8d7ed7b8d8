"""gRPC status codes become brandex errors in one place (exchange.client.errors)."""

from __future__ import annotations

import grpc
import pytest

from exchange.cli.common import EXIT_CODES, exit_code
from exchange.client import errors as e
from exchange.core.errors import ConflictError, FormatError, NotFoundError


class _Failed(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, retry: str | None = None) -> None:
        self._code, self._retry = code, retry

    def code(self):
        return self._code

    def details(self):
        return "the node's words"

    def trailing_metadata(self):
        return (("retry-after-ms", self._retry),) if self._retry else ()


@pytest.mark.parametrize(
    ("code", "kind", "core"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, e.RemoteInvalid, FormatError),
        (grpc.StatusCode.NOT_FOUND, e.RemoteNotFound, NotFoundError),
        (grpc.StatusCode.FAILED_PRECONDITION, e.RemoteConflict, ConflictError),
        (grpc.StatusCode.ALREADY_EXISTS, e.RemoteConflict, ConflictError),
        (grpc.StatusCode.PERMISSION_DENIED, e.Denied, e.RemoteError),
        (grpc.StatusCode.UNAUTHENTICATED, e.Denied, e.RemoteError),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, e.Busy, e.RemoteError),
        (grpc.StatusCode.UNAVAILABLE, e.Unreachable, e.RemoteError),
        (grpc.StatusCode.DEADLINE_EXCEEDED, e.Unreachable, e.RemoteError),
        (grpc.StatusCode.INTERNAL, e.RemoteFailure, e.RemoteError),
    ],
)
def test_each_status_has_its_error(code, kind, core) -> None:
    with pytest.raises(kind) as caught, e.remote_errors():
        raise _Failed(code)
    err = caught.value
    assert isinstance(err, core) and err.code == code.name and err.details == "the node's words"
    # The CLI's exit code is the one its table gives the status, raised or translated.
    assert exit_code(err) == exit_code(_Failed(code))


def test_retry_hint_is_kept() -> None:
    err = e.from_rpc_error(_Failed(grpc.StatusCode.RESOURCE_EXHAUSTED, "250"))
    assert isinstance(err, e.Busy) and err.retry_after_ms == 250


def test_the_exit_table_still_names_statuses() -> None:
    assert any(k == grpc.StatusCode.NOT_FOUND for k, _ in EXIT_CODES)
