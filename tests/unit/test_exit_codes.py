"""The CLI's one table from failures to exit codes (0 done, 1 refused, 2 usage, 3 remote)."""

from __future__ import annotations

import grpc
import pytest

from exchange.cli.common import exit_code
from exchange.core.errors import (
    ConflictError,
    FormatError,
    NotFoundError,
    ValidationError,
    VerificationError,
)


class _Rpc(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (_Rpc(grpc.StatusCode.INVALID_ARGUMENT), 1),
        (_Rpc(grpc.StatusCode.FAILED_PRECONDITION), 1),
        (_Rpc(grpc.StatusCode.NOT_FOUND), 1),
        (_Rpc(grpc.StatusCode.PERMISSION_DENIED), 1),
        (_Rpc(grpc.StatusCode.UNAUTHENTICATED), 1),
        (_Rpc(grpc.StatusCode.UNAVAILABLE), 3),
        (_Rpc(grpc.StatusCode.DEADLINE_EXCEEDED), 3),
        (_Rpc(grpc.StatusCode.INTERNAL), 3),
        (_Rpc(grpc.StatusCode.RESOURCE_EXHAUSTED), 3),
        (ValidationError("decision_no", "is required"), 2),
        (FormatError("bad bytes"), 1),
        (FileNotFoundError("x.toml"), 2),
        (ConflictError("revoked"), 1),
        (NotFoundError("no record"), 1),
        (VerificationError("bad signature"), 1),
    ],
)
def test_every_failure_has_one_exit_code(failure: BaseException, code: int) -> None:
    assert exit_code(failure) == code
