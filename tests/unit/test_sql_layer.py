"""Only exchange/store speaks SQL: the node, CLI, audit and core code ask it."""

from __future__ import annotations

import re
from pathlib import Path

SQL = re.compile(r"""["'](SELECT|INSERT|UPDATE|DELETE|CREATE|PRAGMA)\s""")


def test_no_sql_outside_the_store() -> None:
    package = Path(__file__).resolve().parents[2] / "exchange"
    offenders = [
        f"{p.relative_to(package)}:{n}"
        for p in package.rglob("*.py")
        if "store" not in p.relative_to(package).parts[:1] and "_proto" not in p.parts
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if SQL.search(line)
    ]
    assert offenders == []
