"""Build hook: generate the protobuf / gRPC modules while building (metadata is in pyproject.toml).

The generated code is not committed, so a wheel or sdist built from a fresh
clone would otherwise lack ``exchange._proto.brandex``. ``build_py`` runs
``tools/gen_proto.py`` (the same code ``make proto`` runs) into the build
folder; ``grpcio-tools`` is a build requirement in pyproject.toml.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


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


setup(cmdclass={"build_py": BuildPyWithProto})
