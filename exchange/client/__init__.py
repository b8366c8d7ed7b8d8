"""A typed client library for a brandex node (used by the CLI and the staff console).

``NodeClient.from_config("nodes/anhui.toml").search("宋河")`` returns plain
dataclasses (:mod:`exchange.client.types`) and raises core errors
(:mod:`exchange.client.errors`). Only this package and ``exchange.node`` touch
the generated protobuf code.
"""

from exchange.client.client import NodeClient, kind_names
from exchange.client.errors import (
    Busy,
    Denied,
    InvalidRequest,
    RemoteConflict,
    RemoteError,
    RemoteFailure,
    RemoteInvalid,
    RemoteNotFound,
    Unreachable,
)

__all__ = [
    "Busy",
    "Denied",
    "InvalidRequest",
    "NodeClient",
    "RemoteConflict",
    "RemoteError",
    "RemoteFailure",
    "RemoteInvalid",
    "RemoteNotFound",
    "Unreachable",
    "kind_names",
]
