"""Build hook: generate the protobuf / gRPC modules while building (metadata is in pyproject.toml).

The generated code is not committed, so a wheel or sdist built from a fresh
clone would otherwise lack ``exchange._proto.brandex``. ``build_py`` runs
``tools/gen_proto.py`` (the same code ``make proto`` runs) into the build
folder; ``grpcio-tools`` is a build requirement in pyproject.toml.
"""

from __future__ import annotations

import importlib.util
import re
from importlib import metadata
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent

DEPENDENCIES = [
    "grpcio>=1.60",
    "grpcio-health-checking>=1.60",
    "grpcio-reflection>=1.60",
    "protobuf>=5.26",
    "sqlite-utils>=3.36",
    "cryptography>=42",
    "pynacl>=1.5",
    # Ed25519 verification (exchange.core.ed25519): ed25519-dalek's verify_strict, the
    # same accept set as libsodium after that module's own checks, in ~2/3 of its time.
    # Pinned: Solana plans to move Signature.verify to ZIP-215 (cofactored) rules.
    "solders>=0.29,<0.30",
    "click>=8.1",
    "prometheus-client>=0.20",
    "python-json-logger>=3.1",
    "openpyxl>=3.1",
    "rfc8785>=0.1.4",
    "pypinyin>=0.50",  # search: brand names as pinyin and initials (exchange.core.textforms)
    "zhconv>=1.4",  # search: traditional characters to simplified (why not OpenCC: textforms)
    # search facets: counts over a thousand matches as array operations (store/facet_index.py)
    "numpy>=1.26",
    # The staff console (exchange.web, docs/console.md): ASGI app, templates, accounts.
    "fastapi>=0.110",
    "uvicorn>=0.29",
    "jinja2>=3.1",
    "argon2-cffi>=23.1",
    "itsdangerous>=2.1",
    "python-multipart>=0.0.9",
]


def _dependencies() -> list[str]:
    """DEPENDENCIES, with grpcio and protobuf raised to what the generated code checks at import.

    Code made by grpcio-tools X refuses to import under grpcio older than X, and
    its protobuf modules under a protobuf runtime older than the protoc inside
    (the protobuf floor grpcio-tools itself declares).
    """
    try:
        tools = metadata.version("grpcio-tools")
        requires = metadata.requires("grpcio-tools") or []
    except metadata.PackageNotFoundError:  # metadata only, without the build requirements
        return DEPENDENCIES
    floors = {"grpcio": tools}
    for req in requires:
        m = re.match(r"protobuf\b[^;]*?>=\s*([0-9][0-9.]*)", req)
        if m:
            floors["protobuf"] = m.group(1)
    out = []
    for dep in DEPENDENCIES:
        name = re.split(r"[<>=!~ ]", dep, maxsplit=1)[0]
        out.append(f"{name}>={floors[name]}" if name in floors else dep)
    return out


def _gen_proto():
    spec = importlib.util.spec_from_file_location("gen_proto", HERE / "tools" / "gen_proto.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithProto(build_py):
    """``build_py``, then the generated modules, written where the build collects files."""

    def run(self) -> None:
        super().run()
        # An editable install imports from the source tree: generate there.
        out = HERE if getattr(self, "editable_mode", False) else Path(self.build_lib)
        _gen_proto().generate(out, HERE / "proto")

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        generated = Path(self.build_lib) / "exchange" / "_proto" / "brandex"
        if not getattr(self, "editable_mode", False) and generated.is_dir():
            outputs += [str(p) for p in generated.rglob("*") if p.is_file()]
        return sorted(set(outputs))


setup(cmdclass={"build_py": BuildPyWithProto}, install_requires=_dependencies())
