"""Generate the protobuf and gRPC modules of ``exchange._proto`` from ``proto/``.

The one home of code generation: ``make proto`` runs this file, and so does the
package build (``setup.py``'s ``build_py``), so a wheel or sdist built anywhere
carries the generated modules (they are git-ignored, never committed).

protoc names modules after their proto path (``brandex.v1``); the imports
between them are rewritten to point into the ``exchange`` package so nothing
touches ``sys.path``.

    python tools/gen_proto.py [OUT]     # OUT: the folder holding exchange/_proto

Needs ``grpcio-tools`` (a build requirement and a dev extra).
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO_DIR = ROOT / "proto"
PACKAGE = "brandex/v1"  # below PROTO_DIR and below exchange/_proto
_IMPORT = re.compile(r"^from brandex\.v1 import", re.MULTILINE)


def generate(out_root: Path = ROOT, proto_dir: Path = PROTO_DIR) -> list[Path]:
    """Write ``<out_root>/exchange/_proto/brandex/v1/*`` afresh; returns the files written."""
    from grpc_tools import protoc  # imported here: only generation needs it

    target = out_root / "exchange" / "_proto"
    shutil.rmtree(target / "brandex", ignore_errors=True)
    (target / PACKAGE).mkdir(parents=True)
    sources = sorted((proto_dir / PACKAGE).glob("*.proto"))
    if not sources:
        raise SystemExit(f"gen_proto: no .proto files in {proto_dir / PACKAGE}")
    include = Path(protoc.__file__).parent / "_proto"  # google/protobuf/*.proto
    args = [
        "grpc_tools.protoc",
        f"-I{proto_dir}",
        f"-I{include}",
        f"--python_out={target}",
        f"--pyi_out={target}",
        f"--grpc_python_out={target}",
        *(str(s) for s in sources),
    ]
    if protoc.main(args) != 0:
        raise SystemExit(f"gen_proto: protoc failed on {', '.join(s.name for s in sources)}")
    written = []
    for path in sorted((target / PACKAGE).glob("*.py*")):
        text = path.read_text(encoding="utf-8")
        path.write_text(_IMPORT.sub("from exchange._proto.brandex.v1 import", text), "utf-8")
        written.append(path)
    for init in (target / "brandex" / "__init__.py", target / PACKAGE / "__init__.py"):
        init.touch()
        written.append(init)
    return written


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    files = generate(out)
    print(f"gen_proto: {len(files)} files in {out / 'exchange' / '_proto' / 'brandex'}")
