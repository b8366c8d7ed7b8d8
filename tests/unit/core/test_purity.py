"""exchange.core stays pure: standard library, nacl, cryptography and itself only.

The core is what an auditor runs offline, so it must not pull in protobuf,
gRPC, SQLite wrappers or click. Imports are read with ``ast`` (nothing is
executed), including imports inside functions and ``TYPE_CHECKING`` blocks.
"""

import ast
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[3] / "exchange" / "core"
# rfc8785: pure JCS encoder (core.federation); pypinyin and zhconv: pure text conversion
# over packaged dictionaries (core.textforms); solders: ed25519-dalek's verify, the fast path
# of core.ed25519 (no I/O).
ALLOWED_THIRD_PARTY = {"nacl", "cryptography", "rfc8785", "pypinyin", "zhconv", "solders"}
FILES = sorted(CORE.rglob("*.py"))


def _package_of(path: Path) -> list[str]:
    rel = path.relative_to(CORE.parent.parent).with_suffix("")
    # A package's __init__ is its own package; a module's package is its parent.
    return list(rel.parts[:-1])


def imported_modules(path: Path) -> list[str]:
    """Every absolute module name ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = _package_of(path)
                base = package[: len(package) - (node.level - 1)]
                names.append(".".join([*base, *([node.module] if node.module else [])]))
            else:
                names.append(node.module or "")
    return names


def allowed(module: str) -> bool:
    top = module.split(".")[0]
    if top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY:
        return True
    return module == "exchange.core" or module.startswith("exchange.core.")


def test_there_are_core_modules():
    assert CORE / "records.py" in FILES


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_imports_only_allowed_modules(path):
    bad = [m for m in imported_modules(path) if not allowed(m)]
    assert not bad, f"{path.name} imports {bad}"


def test_relative_imports_are_resolved():
    assert imported_modules(CORE / "status.py")  # sanity: the walker finds imports
    pkg = _package_of(CORE / "data" / "__init__.py")
    assert pkg == ["exchange", "core", "data"]
    assert _package_of(CORE / "records.py") == ["exchange", "core"]


def test_the_checker_catches_forbidden_imports():
    assert not allowed("google.protobuf")
    assert not allowed("exchange._proto.brandex.v1.entries_pb2")
    assert not allowed("exchange.store")
    assert not allowed("grpc")
    assert allowed("importlib.resources")
    assert allowed("nacl.signing")
    assert allowed("exchange.core.errors")
