"""Editing a test node's config before it starts (not in conftest: test modules
import this, and ``conftest`` is an ambiguous module name across test folders)."""

from __future__ import annotations

from harness import Federation

__all__ = ["set_sync_option"]


def set_sync_option(fed: Federation, name: str, key: str, value: str) -> None:
    """Set ``[sync] key = value`` in a node's config (read when the node starts)."""
    path = fed.configs[name]
    lines = path.read_text().splitlines()
    start = lines.index("[sync]")
    for i in range(start + 1, len(lines)):
        if lines[i].startswith("["):
            lines.insert(i, f"{key} = {value}")
            break
        if lines[i].split("=")[0].strip() == key:
            lines[i] = f"{key} = {value}"
            break
    else:
        lines.append(f"{key} = {value}")
    path.write_text("\n".join(lines) + "\n")
