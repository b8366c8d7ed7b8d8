"""Option types and helpers shared by the agency and staff commands."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import click
import grpc

from exchange.cli.common import EXIT_NEGATIVE, EXIT_USAGE, exit_code
from exchange.cli.lang import region_text, tr
from exchange.client import InvalidRequest, RemoteError
from exchange.core import regions
from exchange.core.errors import BrandexError, ValidationError
from exchange.core.records import parse_date

__all__ = [
    "DATE",
    "ORIGIN",
    "REGION",
    "check_locally",
    "enum_names",
    "fen",
    "refusals",
    "region_text",
    "sent",
    "yuan",
]

F = TypeVar("F", bound=Callable[..., Any])


class _Date(click.ParamType):
    """A calendar date in any form the importer reads, passed on as ``YYYY-MM-DD``.

    2026-01-15, 2026/1/15, 2026.01.15, 2026年1月15日 and 20260115 are one date;
    anything else (or a day the calendar lacks) is a usage error before sending.
    """

    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        from exchange.import_plan import normalise_date

        text = normalise_date(str(value))
        try:
            parse_date(text, param.name if param else "date")
        except ValidationError as exc:
            self.fail(
                exc.rule + f" (got {value!r}); e.g. 2026-01-15, 2026/1/15 or 2026年1月15日",
                param,
                ctx,
            )
        return text


class _Region(click.ParamType):
    """A region by GB/T 2260 code or exact Chinese name (``340000``, ``安徽省``, ``合肥市``),
    passed on as its code (:func:`exchange.core.regions.resolve_region`)."""

    name = "REGION"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        try:
            return regions.resolve_region(value, param.name if param else "region")
        except ValidationError as exc:
            self.fail(f"{exc.rule} (got {value!r}); e.g. 330000 or 浙江省", param, ctx)


class _Origin(click.ParamType):
    name = "ORIGIN"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        from exchange.core.origin import parse_origin

        try:
            parse_origin(value)
        except BrandexError as exc:
            self.fail(f"{exc}; e.g. yrd/330000", param, ctx)
        return value


#: A calendar date (every form the importer reads), checked before anything is sent.
DATE = _Date()
#: A log origin, ``yrd/330000``.
ORIGIN = _Origin()
#: A GB/T 2260 region code or exact name, checked against the packaged table.
REGION = _Region()


def enum_names(enum: Any) -> list[str]:
    """The names of an enumeration of :mod:`exchange.core.vocabulary` (which mirror the
    wire's), without its ``*_UNSPECIFIED`` zero."""
    return [m.name for m in enum if not m.name.endswith("UNSPECIFIED")]


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
    except (grpc.RpcError, RemoteError) as exc:
        if exit_code(exc) == EXIT_NEGATIVE:
            details = exc.details if isinstance(exc, RemoteError) else exc.details()  # type: ignore[attr-defined]
            click.echo(tr("refused: {details}", details=details), err=True)
            sys.exit(EXIT_NEGATIVE)
        raise


def _flags_of_command() -> dict[str, str]:
    """Option and argument names of the running command: ``decision_no`` -> ``--decision-no``."""
    ctx = click.get_current_context(silent=True)
    names: dict[str, str] = {}
    if ctx is None:
        return names
    for p in ctx.command.params:
        if not p.name:
            continue
        if isinstance(p, click.Option):
            longs = [o for o in p.opts if o.startswith("--")]
            if longs:
                names[p.name] = longs[0]
        elif isinstance(p, click.Argument):
            names[p.name] = p.human_readable_name
    return names


def flag_message(problem: ValidationError, flags: dict[str, str]) -> str:
    """``decision_no: is required`` as the user typed it: ``--decision-no is required``."""
    field = problem.field
    base = re.split(r"[.\[]", field, maxsplit=1)[0]
    flag = flags.get(field) or flags.get(base)
    if not flag:
        return str(problem)
    if field != base:  # corrected.product -> --set product
        flag = f"{flag} {field[len(base) :].lstrip('.')}"
    shown = "" if problem.value is None else f" (got {problem.value!r})"
    sep = " " if problem.rule.startswith(("is ", "must ", "may ")) else ": "
    return f"{flag}{sep}{problem.rule}{shown}"


def check_locally(problems: list[ValidationError], flags: dict[str, str] | None = None) -> None:
    """Print every rule a message breaks (the node would refuse it) and exit 2.

    Each problem names the flag that sets the field (the command's own option
    names, plus ``flags`` for fields named otherwise, e.g. effective_on ->
    --effective), not the record's field name.
    """
    if problems:
        names = {**_flags_of_command(), **(flags or {})}
        for p in problems:
            click.echo(tr("error: {problem}", problem=flag_message(p, names)), err=True)
        sys.exit(EXIT_USAGE)


@contextlib.contextmanager
def sent(flags: dict[str, str] | None = None, *, refused: bool = True) -> Iterator[None]:
    """A write through the client: rules broken before sending exit 2 naming the flags
    (:func:`check_locally`); a refusal by the node exits 1 shown as ``refused: ...``
    (:func:`refusals`), or with ``refused=False`` is left to ``handle_errors``."""
    try:
        with refusals() if refused else contextlib.nullcontext():
            yield
    except InvalidRequest as exc:
        check_locally(exc.problems, flags)
