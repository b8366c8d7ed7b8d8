"""Option types and helpers shared by the agency and staff commands."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import click
import grpc

from exchange.cli.common import EXIT_NEGATIVE, EXIT_USAGE, exit_code
from exchange.core import regions
from exchange.core.errors import ValidationError
from exchange.core.records import parse_date

__all__ = [
    "DATE",
    "REGION",
    "check_locally",
    "enum_names",
    "fen",
    "refusals",
    "region_text",
    "yuan",
]

F = TypeVar("F", bound=Callable[..., Any])


class _Date(click.ParamType):
    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        try:
            parse_date(value, param.name if param else "date")
        except ValidationError as exc:
            self.fail(exc.rule + f" (got {value!r})", param, ctx)
        return value


class _Region(click.ParamType):
    name = "REGION"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        try:
            regions.validate_region(value, param.name if param else "region")
        except ValidationError as exc:
            self.fail(f"{exc.rule} (got {value!r}); e.g. 330000 for 浙江省", param, ctx)
        return value


#: A strict calendar date, checked before anything is sent.
DATE = _Date()
#: A GB/T 2260 region code, checked against the packaged table.
REGION = _Region()


def enum_names(enum: Any) -> list[str]:
    """The names of a proto enum, without its ``*_UNSPECIFIED`` zero."""
    return [n for n in enum.keys() if not n.endswith("UNSPECIFIED")]  # noqa: SIM118


def region_text(code: str) -> str:
    """``330000 浙江省`` (or just the code if this build does not know it)."""
    return f"{code} {regions.region_name(code)}" if regions.is_region(code) else code


def fen(value: str | None, what: str) -> int:
    """Yuan as typed (``1234.5``) to fen, exactly; more than two decimals is an error."""
    if value in (None, ""):
        return 0
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"{what} must be an amount in yuan, e.g. 1234.50") from None
    f = d * 100
    if not d.is_finite() or d < 0 or f != f.to_integral_value():
        raise click.BadParameter(f"{what} must be >= 0 with at most two decimals (got {value})")
    return int(f)


def yuan(amount_fen: int) -> str:
    return f"{amount_fen // 100}.{amount_fen % 100:02d}"


@contextlib.contextmanager
def refusals() -> Iterator[None]:
    """Show a refusal by the node (state machine, unknown record, not allowed) and exit 1."""
    try:
        yield
    except grpc.RpcError as exc:
        if exit_code(exc) == EXIT_NEGATIVE:
            click.echo(f"refused: {exc.details()}", err=True)  # type: ignore[attr-defined]
            sys.exit(EXIT_NEGATIVE)
        raise


def check_locally(problems: list[ValidationError]) -> None:
    """Print every rule a message breaks (the node would refuse it) and exit 2."""
    if problems:
        for p in problems:
            click.echo(f"error: {p}", err=True)
        sys.exit(EXIT_USAGE)
