"""Where a run's CPU went, from Linux ``perf`` samples: by process role and by library.

``perf record -a`` samples every CPU at a fixed rate whatever the process is
doing, and a sample exists only while something runs: unlike a Python sampling
profiler it never counts a thread that waits (for the GIL, a lock, a socket) as
busy, which made py-spy's joiner profiles overstate per-origin work
(docs/SCALE.md, "A profile's trap"). The join bench's ``--perf`` runs it beside
the join and reads ``perf script -F pid,ip,sym,dso`` with :func:`split`.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterable, Mapping

__all__ = ["ED25519_PARTS", "split"]

# "14214  7f34a17d7b00 PyUnicode_New+0x20 (/path/libpython3.11.so.1.0)" (with tid
# in the fields, "14214/14247 ..."; the thread is not used)
_LINE = re.compile(r"^\s*(\d+)(?:/\d+)?\s+\S+\s+(.*?)\s+\(([^()]*)\)\s*$")

#: How the Ed25519 equation's time divides inside ed25519-dalek (solders), by
#: symbol: the AVX2 double-base scalar multiplication, and the serial field
#: arithmetic, which is the exponentiations (decompressing the key and R,
#: compressing the result: three per signature through ``verify_strict``).
ED25519_PARTS: tuple[tuple[str, str], ...] = (
    ("avx2_double_base", "backend::vector"),
    ("serial_field_ops", "backend::serial"),
)


def _library(dso: str) -> str:
    name = dso.rsplit("/", 1)[-1]
    if name.startswith("[kernel"):
        return "kernel"
    return name.split(".cpython")[0].split(".abi3")[0].split(".so")[0]


def split(lines: Iterable[str], roles: Mapping[int, str], top: int = 6) -> dict[str, object]:
    """Shares of all samples per role (``roles`` maps a pid to its role; pid 0 is
    "idle", any other pid "other"), each role's top libraries as shares of that
    role's samples, and the Ed25519 parts as shares of the samples in solders."""
    per_role: collections.Counter[str] = collections.Counter()
    libraries: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    ed25519: collections.Counter[str] = collections.Counter()
    for line in lines:
        m = _LINE.match(line)
        if m is None:
            continue
        pid, symbol, dso = int(m[1]), m[2], m[3]
        role = "idle" if pid == 0 else roles.get(pid, "other")
        per_role[role] += 1
        lib = _library(dso)
        libraries[role][lib] += 1
        if lib == "solders":
            ed25519["all"] += 1
            for part, marker in ED25519_PARTS:
                if marker in symbol:
                    ed25519[part] += 1
                    break
    total = sum(per_role.values()) or 1
    out: dict[str, object] = {
        role: {
            "share": round(n / total, 3),
            "libraries": {lib: round(c / n, 3) for lib, c in libraries[role].most_common(top)},
        }
        for role, n in per_role.most_common()
    }
    if ed25519["all"]:
        out["ed25519_in_solders"] = {
            part: round(ed25519[part] / ed25519["all"], 3) for part, _ in ED25519_PARTS
        }
    out["samples"] = total
    return out
