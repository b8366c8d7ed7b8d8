"""One error hierarchy for brandex.

Library errors (``cryptography.exceptions.InvalidSignature``, ``binascii.Error``,
protobuf's ``DecodeError`` ...) are translated into these at the boundary, so
callers map them to gRPC status codes in one place (``exchange.node.errors``)
and to exit codes in one place (``exchange.cli``).
"""

from __future__ import annotations

__all__ = [
    "BrandexError",
    "ConflictError",
    "EquivocationError",
    "FormatError",
    "NotFoundError",
    "ValidationError",
    "VerificationError",
    "WitnessConflict",
]


class BrandexError(Exception):
    """Base class of every error brandex raises on purpose."""


class ValidationError(BrandexError):
    """A domain rule rejected a value.

    The message names the field, the rule and the offending value, in English,
    so an agency can fix row 17 of its spreadsheet without reading code.
    """

    def __init__(self, field: str, rule: str, value: object = None) -> None:
        self.field = field
        self.rule = rule
        self.value = value
        shown = "" if value is None else f" (got {value!r})"
        super().__init__(f"{field}: {rule}{shown}")


class FormatError(BrandexError):
    """Bytes from outside do not parse as the format they claim to be."""


class VerificationError(BrandexError):
    """A signature, proof or checkpoint does not verify."""


class EquivocationError(VerificationError):
    """Two validly signed checkpoints for one origin conflict."""


class ConflictError(BrandexError):
    """The request conflicts with state already recorded (e.g. a terminal status)."""


class WitnessConflict(ConflictError):
    """A witness's stored size for an origin is not the ``old`` size a log sent.

    ``size`` is the witness's own size, so the log can retry with the right old
    size and proof (C2SP tlog-witness: 409 Conflict carrying the size).
    """

    def __init__(self, size: int, message: str) -> None:
        super().__init__(message)
        self.size = size


class NotFoundError(BrandexError):
    """The named record, case, origin or index does not exist here."""
