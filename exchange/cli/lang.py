"""The CLI's output language: ``--lang zh|en`` (or BRANDEX_LANG, LC_ALL, LANG), per run.

The choice is made once per run and kept in the root context's ``meta`` so
every command, helper and error handler reads the same one (:func:`lang`).
``--lang`` is taken on the top-level group (``brandex --lang zh search ...``)
and, as the same option, on every command (``brandex search ... --lang zh``),
so a user need not remember where it goes. Only human-readable text changes:
JSON and CSV keys and values stay English identifiers whatever the language.
"""

from __future__ import annotations

from typing import Any

import click

from exchange import i18n
from exchange.core import regions

__all__ = ["LANG_OPTION_HELP", "add_lang_option", "lang", "lang_callback", "region_text", "tr"]

_KEY = "brandex.lang"
LANG_OPTION_HELP = "Output language, zh or en [default: $BRANDEX_LANG, else the locale]."


def _root() -> click.Context | None:
    ctx = click.get_current_context(silent=True)
    return ctx.find_root() if ctx is not None else None


def lang() -> str:
    """The language chosen for this run (``zh`` or ``en``)."""
    root = _root()
    if root is not None and _KEY in root.meta:
        return root.meta[_KEY]
    try:
        chosen = i18n.pick_lang()
    except ValueError:  # a BRANDEX_LANG we do not know: English, never a crash
        chosen = "en"
    if root is not None:
        root.meta[_KEY] = chosen
    return chosen


def tr(message: str, /, **fields: object) -> str:
    """``message`` in the run's language, formatted with ``fields`` (see :mod:`exchange.i18n`)."""
    return i18n.translator(lang())(message, **fields)


def region_text(code: str) -> str:
    """``浙江省 (330000)``: the region's name with its code (only the code if unknown).

    We hold Chinese names only, so English output shows them too, with the
    code an English reader can look up.
    """
    return regions.region_label(code)


def lang_callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value:
        ctx.find_root().meta[_KEY] = i18n.pick_lang(value)
    return value


def lang_option() -> click.Option:
    """The ``--lang`` option: eager, so it is set before other options are checked."""
    return click.Option(
        ["--lang"],
        type=click.Choice(list(i18n.LANGS), case_sensitive=False),
        default=None,
        expose_value=False,
        is_eager=True,
        callback=lang_callback,
        help=LANG_OPTION_HELP,
    )


def add_lang_option(command: click.Command) -> None:
    """Give ``command`` and every command under it the ``--lang`` option (once)."""
    if not any(p.name == "lang" for p in command.params):
        command.params.append(lang_option())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_lang_option(sub)
