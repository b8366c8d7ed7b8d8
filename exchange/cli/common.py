"""What every client command shares: finding the node, presenting a certificate,
printing tables/JSON/CSV, and turning errors into exit codes (in one place).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from unicodedata import combining, east_asian_width

import click
import grpc

from exchange.cli.lang import tr
from exchange.client import NodeClient, RemoteError
from exchange.client.convert import to_dict
from exchange.core.errors import BrandexError, ValidationError

__all__ = [
    "EXIT_CODES",
    "Client",
    "client_options",
    "connect",
    "emit",
    "emit_one",
    "exit_code",
    "handle_errors",
    "output_option",
    "quiet_broken_pipe",
    "to_dict",
]

F = TypeVar("F", bound=Callable[..., Any])

# Exit codes: 0 done, 1 refused, invalid or a negative answer, 2 usage or caught before
# sending, 3 the node could not be reached (or failed inside); 141 (128 + SIGPIPE, what a
# shell reports for ``yes | head -1``) when the reader of standard output went away.
EXIT_NEGATIVE, EXIT_USAGE, EXIT_REMOTE, EXIT_BROKEN_PIPE = 1, 2, 3, 141

#: The one table from what went wrong to the exit code (first match wins).
EXIT_CODES: list[tuple[type[BaseException] | grpc.StatusCode, int]] = [
    (grpc.StatusCode.INVALID_ARGUMENT, EXIT_NEGATIVE),
    (grpc.StatusCode.FAILED_PRECONDITION, EXIT_NEGATIVE),
    (grpc.StatusCode.NOT_FOUND, EXIT_NEGATIVE),
    (grpc.StatusCode.ALREADY_EXISTS, EXIT_NEGATIVE),
    (grpc.StatusCode.PERMISSION_DENIED, EXIT_NEGATIVE),
    (grpc.StatusCode.UNAUTHENTICATED, EXIT_NEGATIVE),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, EXIT_REMOTE),
    (ValidationError, EXIT_USAGE),
    (OSError, EXIT_USAGE),
    (BrandexError, EXIT_NEGATIVE),
]


def exit_code(exc: BaseException) -> int:
    """The exit code for a failure, from :data:`EXIT_CODES` (node errors by gRPC status)."""
    if isinstance(exc, grpc.RpcError | RemoteError):
        code = (
            grpc.StatusCode[exc.code] if isinstance(exc, RemoteError) else exc.code()  # type: ignore[attr-defined]
        )
        return next((n for k, n in EXIT_CODES if k == code), EXIT_REMOTE)
    return next(
        (n for k, n in EXIT_CODES if isinstance(k, type) and isinstance(exc, k)), EXIT_NEGATIVE
    )


#: The client the commands use (exchange.client): one node, over mTLS.
Client = NodeClient


def client_options(fn: F) -> F:
    """``--config`` / ``--node`` / ``--cert`` / ``--key``, shared by every client command."""
    opts = [
        click.option(
            "--config",
            "config_path",
            envvar="BRANDEX_CONFIG",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Node config whose certificates to present (or $BRANDEX_CONFIG).",
        ),
        click.option(
            "--node",
            "--peer",
            "node_addr",
            default=None,
            metavar="HOST:PORT",
            help="Node to ask, host:port (--peer is the same option: another member's node, "
            "asked with the same certificate) [default: the config's listen address].",
        ),
        click.option(
            "--cert",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Client certificate [default: the config's operator certificate].",
        ),
        click.option(
            "--key",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Client key [default: the config's operator key].",
        ),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


class FormatChoice(click.Choice):
    """``table|json|csv``; ``text`` (the old name of the human form) is taken as ``table``."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, str) and value.lower() == "text":
            value = "table"
        return super().convert(value, param, ctx)


#: The --format choices of every command that prints data.
FORMATS = ("table", "json", "csv")


def output_option(
    fn: F | None = None, *, choices: Sequence[str] = FORMATS, help: str = "Output format."
) -> Any:
    """``--format table|json|csv`` (``text`` accepted as ``table``), default ``table``."""

    def deco(f: F) -> F:
        return click.option(
            "--format",
            "fmt",
            type=FormatChoice(list(choices)),
            default="table",
            show_default=True,
            help=help + " ('text' is accepted for 'table'.)",
        )(f)

    return deco(fn) if fn is not None else deco


def connect(
    config_path: Path | None,
    node_addr: str | None,
    cert: Path | None = None,
    key: Path | None = None,
) -> NodeClient:
    if config_path is None:
        raise click.UsageError(tr("give --config nodes/<name>.toml (or set BRANDEX_CONFIG)"))
    client = NodeClient.from_config(config_path, node=node_addr, cert=cert, key=key)
    _CLIENTS.append(client)
    return client


#: Clients this command connected: their nodes' warnings are shown when it ends.
_CLIENTS: list[NodeClient] = []


def _show_warnings() -> None:
    shown: set[str] = set()
    for client in _CLIENTS:
        for text in client.warnings:
            if text not in shown:
                shown.add(text)
                click.echo(tr("warning: {node}: {text}", node=client.address, text=text), err=True)


def quiet_broken_pipe() -> None:
    """Exit quietly when whoever reads standard output (``| head -1``) has gone away.

    The standard recipe (Python's signal docs): point stdout at /dev/null so the
    interpreter's final flush does not fail again, then exit 141 as a process
    killed by SIGPIPE would; nothing is printed.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    sys.exit(EXIT_BROKEN_PIPE)


def handle_errors(fn: F) -> F:
    """Map failures to one-line messages and exit codes (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BrokenPipeError:
            raise  # not the command's failure: the CLI group exits quietly (quiet_broken_pipe)
        except (grpc.RpcError, RemoteError) as exc:
            if isinstance(exc, RemoteError):
                name, details = exc.code, exc.details
            else:
                name, details = exc.code().name, exc.details()  # type: ignore[attr-defined]
            if name == "UNAVAILABLE":
                details = tr("node unreachable ({details})", details=details)
            click.echo(tr("error: {name}: {details}", name=name, details=details), err=True)
            sys.exit(exit_code(exc))
        except (BrandexError, OSError) as exc:
            click.echo(tr("error: {problem}", problem=exc), err=True)
            sys.exit(exit_code(exc))
        finally:
            _show_warnings()

    return wrapper  # type: ignore[return-value]


def _char_width(c: str) -> int:
    if combining(c) or c in "\u200b\u200d\ufeff":
        return 0
    return 2 if east_asian_width(c) in "WF" else 1


def text_width(s: str) -> int:
    """Terminal columns ``s`` takes: two per wide (Chinese) character, none for combining marks."""
    return sum(_char_width(c) for c in s)


def _clip(s: str, width: int) -> str:
    """``s`` cut to ``width`` terminal columns, ending in an ellipsis if it was cut."""
    if text_width(s) <= width:
        return s
    out, used = [], 0
    for c in s:
        w = _char_width(c)
        if used + w > width - 1:
            break
        out.append(c)
        used += w
    return "".join(out) + "…"


def terminal_width() -> int | None:
    """The width to keep tables within: the terminal's ($COLUMNS wins); None when piped."""
    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns  # $COLUMNS first, then the terminal


_MIN_COLUMN = 8
_GAP = "  "


def table(rows: Sequence[dict], columns: Sequence[str], max_width: int | None = -1) -> str:
    """A plain table that lines up Chinese text (two columns per wide character).

    Rows are kept within ``max_width`` columns (default: the terminal's width;
    None: no limit, as when the output is piped): the widest columns are
    narrowed and their long cells end in an ellipsis. No line has trailing
    spaces.
    """
    if max_width == -1:
        max_width = terminal_width()
    cells = [[str(r.get(c, "")).replace("\n", " ") for c in columns] for r in rows]
    heads = [tr(c.upper()) for c in columns]  # headers in the run's language
    widths = [
        max([text_width(h)] + [text_width(row[i]) for row in cells]) for i, h in enumerate(heads)
    ]
    if max_width:
        budget = max_width - len(_GAP) * (len(widths) - 1)
        while sum(widths) > budget:
            i = max(range(len(widths)), key=lambda k: widths[k])
            if widths[i] <= _MIN_COLUMN:
                break
            widths[i] -= 1

    def line(values: Sequence[str]) -> str:
        parts = []
        for v, w in zip(values, widths, strict=True):
            v = _clip(v, w)
            parts.append(v + " " * (w - text_width(v)))
        return _GAP.join(parts).rstrip()

    return "\n".join([line(heads), *(line(row) for row in cells)])


def emit(rows: Sequence[dict], columns: Sequence[str], fmt: str, *, one: bool = False) -> None:
    """Print rows as a table, JSON or CSV.

    JSON is a list of objects, or with ``one`` (a command that answers with one
    thing: an import summary, a status change, a record) that one object.
    """
    if fmt == "json":
        doc: Any = dict(rows[0]) if one and len(rows) == 1 else list(rows)
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
    elif fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in columns})
        click.echo(buf.getvalue(), nl=False)
    else:
        click.echo(table(rows, columns))


def emit_one(row: dict, columns: Sequence[str], fmt: str) -> None:
    """Print one answer: a JSON object (not a one-item list), or a one-row table/CSV."""
    emit([row], columns, fmt, one=True)


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false")
