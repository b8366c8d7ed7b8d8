"""The CLI reaches nodes through exchange.client; a ratchet on who still imports protobuf.

Only exchange/client (and exchange/node) should import the generated code. The
CLI modules listed in STILL_PROTO had not moved yet; the list may only shrink,
and is now empty: reads and writes (issue, import, status, cases, agreements,
keys, bundles, watch) all go through the client.
"""

from __future__ import annotations

import ast
from pathlib import Path

CLI = Path(__file__).resolve().parents[2] / "exchange" / "cli"
STILL_PROTO: set[str] = set()  # every command goes through exchange.client now


def _imports_proto(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("exchange._proto"):
            return True
        if isinstance(node, ast.Import) and any(
            a.name.startswith("exchange._proto") for a in node.names
        ):
            return True
    return False


def test_only_the_listed_cli_modules_import_generated_code() -> None:
    importing = {p.name for p in CLI.glob("*.py") if _imports_proto(p)}
    assert importing <= STILL_PROTO, f"new protobuf imports in the CLI: {importing - STILL_PROTO}"
    assert "registry.py" not in importing and "node.py" not in importing


def test_the_list_only_shrinks() -> None:
    """A module that no longer imports protobuf must leave the list."""
    importing = {p.name for p in CLI.glob("*.py") if _imports_proto(p)}
    assert importing >= STILL_PROTO, f"take {STILL_PROTO - importing} off STILL_PROTO"
