"""The package builds from a fresh clone and works installed anywhere.

Generated protobuf code is git-ignored, so this builds a wheel from a copy of
the repository's files *without* ``exchange/_proto/brandex`` (what a fresh
clone holds): setup.py's build hook must generate it. The wheel is installed
into a new venv outside the repository, and ``brandex`` is run from a folder
outside it too.

Offline: the wheel is built with this venv's setuptools and grpcio-tools (no
build isolation), installed with ``--no-index --no-deps``, and the new venv
finds the runtime dependencies through a ``.pth`` line naming this venv's
site-packages (a plain path: its own .pth files, such as the editable
install's, are not processed, so ``exchange`` can only come from the wheel).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.packaging


def _run(*args: str | Path, cwd: Path, env: dict | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, f"{args} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _fresh_clone(dest: Path) -> Path:
    """The files git would check out (plus new, not yet committed ones), nothing generated."""
    listed = _run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT)
    for name in filter(None, listed.split("\0")):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    assert not (dest / "exchange" / "_proto" / "brandex").exists()
    return dest


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to list the files")
def test_wheel_from_a_fresh_clone_installs_and_runs_anywhere(tmp_path: Path) -> None:
    src = _fresh_clone(tmp_path / "clone")
    dist = tmp_path / "dist"
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-q",
        "-w",
        dist,
        ".",
        cwd=src,
    )
    (wheel,) = dist.glob("brandex-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for module in ("entries_pb2.py", "services_pb2.py", "services_pb2_grpc.py"):
        assert f"exchange/_proto/brandex/v1/{module}" in names
    assert not any(n.startswith(("tools/", "proto/", "tests/")) for n in names)
    # The in-browser verifier is served from the installed package.
    for static in ("verify.js", "verify.html", "verify-page.js", "verify.css"):
        assert f"exchange/web/static/{static}" in names
    # ... and so is the staff console: its scripts, style and page templates.
    for static in ("console.css", "search.js", "record.js"):
        assert f"exchange/web/static/{static}" in names
    for template in ("base.html", "search.html", "record.html", "login.html"):
        assert f"exchange/web/templates/{template}" in names
    # The generated code refuses an older grpcio than the grpcio-tools that made it.
    (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    requires = zipfile.ZipFile(wheel).read(meta).decode()
    assert f"Requires-Dist: grpcio>={metadata.version('grpcio-tools')}" in requires
    assert "License-Expression: Apache-2.0" in requires

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    py = venv / "bin" / "python"
    _run(
        sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-index", "--no-deps",
        wheel, cwd=tmp_path,
    )  # fmt: skip
    site = Path(
        _run(
            py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path
        ).strip()
    )
    deps = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site / "_brandex_test_deps.pth").write_text("\n".join(sorted(deps)) + "\n")

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "BRANDEX"))}
    code = "import exchange, exchange._proto.brandex.v1.services_pb2_grpc; print(exchange.__file__)"
    where = _run(py, "-c", code, cwd=work, env=env)
    assert Path(where.strip()).is_relative_to(site), where
    brandex = venv / "bin" / "brandex"
    assert "famous-brand recognitions" in _run(brandex, "--help", cwd=work, env=env)
    _run(
        brandex, "certs", "init", "--federation", "pkg", "--out", work / "certs",
        "--member", "zhejiang=330000", cwd=work, env=env,
    )  # fmt: skip
    assert (work / "certs" / "anchor.pem").is_file()
    assert (work / "certs" / "zhejiang" / "signing.pem").is_file()
