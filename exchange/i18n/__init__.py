"""Chinese and English output for every surface (CLI, console, reports).

Messages are written in English in the code and looked up in a Chinese
catalogue (gettext's model without the compile step): ``tr = translator("zh")``
then ``tr("{n} records imported", n=3)``. A message with no Chinese entry is
shown in English rather than failing, and ``tests/unit/test_i18n.py`` checks
that every catalogue entry keeps its placeholders. Domain words (kinds,
states, reasons) are in :mod:`exchange.i18n.terms`.

Catalogues are per surface (``zh_cli``, ``zh_web``) so that each surface's
strings sit together; :data:`ZH` is their union, and a message both surfaces
use must have one translation.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from exchange.i18n import zh_cli, zh_web

LANGS: tuple[str, ...] = ("zh", "en")

#: Every Chinese translation, keyed by the English message.
ZH: dict[str, str] = {**zh_cli.MESSAGES, **zh_web.MESSAGES}

Translate = Callable[..., str]


def pick_lang(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """Choose the output language: ``--lang``, then ``BRANDEX_LANG``, then the locale.

    The locale variables are read in POSIX order (``LC_ALL``, ``LC_MESSAGES``,
    ``LANG``); any value starting with ``zh`` means Chinese, anything else English.
    """
    if explicit:
        return _normal(explicit)
    env = os.environ if environ is None else environ
    if env.get("BRANDEX_LANG"):
        return _normal(env["BRANDEX_LANG"])
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def _normal(value: str) -> str:
    v = value.strip().lower()
    if v.startswith("zh"):
        return "zh"
    if v.startswith("en") or v in ("c", "posix"):
        return "en"
    raise ValueError(f"language {value!r} is not one of {', '.join(LANGS)}")


def translator(lang: str) -> Translate:
    """Return ``tr(message, **fields)`` for ``lang``: looked up, then formatted."""

    def tr(message: str, /, **fields: object) -> str:
        text = ZH.get(message, message) if lang == "zh" else message
        return text.format(**fields) if fields else text

    return tr
