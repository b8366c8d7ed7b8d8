"""The language choice and the catalogues (exchange.i18n)."""

from __future__ import annotations

import string

import pytest

from exchange import i18n
from exchange.core.vocabulary import CaseActionType, CaseType, Kind, ReasonCode, Status
from exchange.i18n import terms, zh_cli, zh_web


@pytest.mark.parametrize(
    ("explicit", "env", "want"),
    [
        ("zh", {"LANG": "en_US.UTF-8"}, "zh"),
        ("en", {"LANG": "zh_CN.UTF-8"}, "en"),
        (None, {"BRANDEX_LANG": "zh", "LANG": "en_US.UTF-8"}, "zh"),
        (None, {"LC_ALL": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),
        (None, {"LC_MESSAGES": "C", "LANG": "zh_CN.UTF-8"}, "en"),
        (None, {"LANG": "zh_TW.UTF-8"}, "zh"),
        (None, {}, "en"),
    ],
)
def test_pick_lang_order(explicit, env, want):
    assert i18n.pick_lang(explicit, env) == want


def test_unknown_language_is_refused():
    with pytest.raises(ValueError, match="not one of zh, en"):
        i18n.pick_lang("fr", {})


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


@pytest.mark.parametrize("catalogue", [zh_cli.MESSAGES, zh_web.MESSAGES])
def test_translations_keep_their_placeholders(catalogue):
    for english, chinese in catalogue.items():
        assert _fields(english) == _fields(chinese), english


def test_surfaces_agree_on_shared_messages():
    for message in set(zh_cli.MESSAGES) & set(zh_web.MESSAGES):
        assert zh_cli.MESSAGES[message] == zh_web.MESSAGES[message], message


def test_missing_translation_falls_back_to_english():
    tr = i18n.translator("zh")
    assert tr("no such message {n}", n=3) == "no such message 3"


def test_every_domain_word_has_chinese():
    assert set(terms.KIND_ZH) == {k for k in Kind if k}
    assert set(terms.STATUS_ZH) == {s for s in Status if s}
    assert set(terms.REASON_ZH) == {r for r in ReasonCode if r}
    assert set(terms.CASE_TYPE_ZH) == {c for c in CaseType if c}
    assert set(terms.CASE_ACTION_ZH) == {a for a in CaseActionType if a}
    assert terms.kind_name(Kind.WELL_KNOWN_TRADEMARK, "zh") == "驰名商标"
    assert terms.kind_name(Kind.WELL_KNOWN_TRADEMARK, "en") == "well-known trademark"
    assert terms.kind_name(99, "zh") == "类型 99"
    assert terms.state_name("revoked", "zh") == "已撤销"
    assert terms.reason_name(ReasonCode.SPOT_CHECK_FAILURE, "en") == "spot check failure"


def test_every_cli_message_has_chinese():
    """Each literal message the CLI passes to ``tr`` has a Chinese entry, so ``--lang zh``
    never falls back to English for a fixed phrase (node-sent details stay as sent)."""
    import ast
    from pathlib import Path

    import exchange.audit.report
    import exchange.cli

    paths = [*Path(exchange.cli.__file__).parent.glob("*.py"), Path(exchange.audit.report.__file__)]
    missing = []
    for path in sorted(paths):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "tr"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value not in i18n.ZH
            ):
                missing.append(f"{path.name}: {node.args[0].value}")
    assert missing == []
