"""Build the packaged GB/T 2260 region table from the shared CSV files.

The product must not read ``../shared/data`` at run time, so this script
copies the three CSV levels into one small JSON file inside the package
(``exchange/core/data/regions.json``), which is committed. Run it through
``make regions``.

Choices, each because of the data:

* codes are padded to six digits (``33`` -> ``330000``, ``3303`` -> ``330300``);
* areas whose county part is ``7x`` (``411671`` 周口临港开发区, ``320576``
  苏州工业园区) are statistical or development zones, not GB/T 2260 divisions,
  and are skipped;
* the ``市辖区`` / ``县`` pseudo-cities of the municipalities (``310100``) are
  kept as they are in the data;
* an area whose padded code equals its own city (``441900`` 东莞市, a city
  without counties) is the city itself and is not listed twice.

Usage: ``python tools/make_regions.py <regions dir> <out.json>``.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

__all__ = ["build", "main"]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _pad(code: str) -> str:
    code = code.strip()
    if not code.isascii() or not code.isdigit() or len(code) not in (2, 4, 6):
        raise SystemExit(f"unexpected region code {code!r}")
    return code.ljust(6, "0")


def _is_statistical(code6: str) -> bool:
    return code6[4] == "7"


def build(directory: Path) -> dict[str, list[str | None]]:
    """Read ``provinces.csv``, ``cities.csv`` and ``areas.csv`` into one table.

    Returns:
        ``{code6: [name, parent code6 or None, level]}`` with level one of
        ``province``, ``city``, ``county``.

    Raises:
        SystemExit: if a row names a parent that is not in the data, because a
            table with dangling parents would make ``within`` silently wrong.
    """
    table: dict[str, list[str | None]] = {}
    for row in _rows(directory / "provinces.csv"):
        table[_pad(row["code"])] = [row["name"].strip(), None, "province"]
    for row in _rows(directory / "cities.csv"):
        code, parent = _pad(row["code"]), _pad(row["provinceCode"])
        if parent not in table:
            raise SystemExit(f"city {code} names unknown province {parent}")
        table[code] = [row["name"].strip(), parent, "city"]
    for row in _rows(directory / "areas.csv"):
        code, parent = _pad(row["code"]), _pad(row["cityCode"])
        if _is_statistical(code):
            continue
        if parent not in table or table[parent][2] != "city":
            raise SystemExit(f"area {code} names unknown city {parent}")
        if code in table:
            continue  # e.g. 441900 东莞市: the city itself, already listed
        table[code] = [row["name"].strip(), parent, "county"]
    return dict(sorted(table.items()))


def main(argv: list[str]) -> int:
    """Write the table; one entry per line keeps diffs of the committed file readable."""
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    table = build(Path(argv[1]))
    lines = [
        f"{json.dumps(code)}:{json.dumps(value, ensure_ascii=False, separators=(',', ':'))}"
        for code, value in table.items()
    ]
    out = Path(argv[2])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
    print(f"wrote {len(table)} regions to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
