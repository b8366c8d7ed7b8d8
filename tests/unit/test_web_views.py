"""The console's views say the node's reasons in the page's language (exchange.i18n.reasons)."""

from __future__ import annotations

from datetime import date

from exchange.client import types as t
from exchange.core.recognition import decide
from exchange.i18n import translator
from exchange.web import views
from tests.unit.test_i18n_reasons import YRD, ZJ


def _reasons() -> list[t.Reason]:
    """The reasons a node sends for Zhejiang's record asked about in Anhui (English text)."""
    decision = decide(ZJ, [], YRD, [], "340000", date(2024, 6, 1))
    return [t.Reason(code=r.code, text=r.text, entries=[]) for r in decision.reasons]


def test_check_reasons_follow_the_page_language() -> None:
    reasons = _reasons()
    english = [views._reason(r, "en")["text"] for r in reasons]
    chinese = [views._reason(r, "zh")["text"] for r in reasons]
    assert english == [r.text for r in reasons]
    assert all(zh != en for zh, en in zip(chinese, english, strict=True))
    assert any("浙江省 (330000)" in zh for zh in chinese)
    assert translator("zh")("yes") == "是"
