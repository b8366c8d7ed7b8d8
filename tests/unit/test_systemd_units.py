"""The sample systemd units in docs/systemd: commands that exist, and `systemd-analyze verify`."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from exchange.cli.main import cli

UNITS = Path(__file__).resolve().parents[2] / "docs" / "systemd"
PREFIX = "/opt/brandex/.venv/bin/brandex"
PLANNED = {("web",)}  # the staff console's command is not built yet


def _exec_lines() -> dict[str, str]:
    out = {}
    for unit in sorted(UNITS.glob("*.service")):
        lines = [x for x in unit.read_text().splitlines() if x.startswith("ExecStart=")]
        assert len(lines) == 1, unit.name
        out[unit.name] = lines[0].removeprefix("ExecStart=")
    return out


def test_every_unit_runs_a_brandex_command_that_exists() -> None:
    units = _exec_lines()
    assert {"brandex-node@.service", "brandex-web@.service"} <= set(units)
    for name, line in units.items():
        words = shlex.split(line.split(PREFIX, 1)[1].split("'")[0])
        path = tuple(w for w in words if not w.startswith("-") and "/" not in w)[:2]
        if path[:1] in PLANNED:
            continue
        cmd = cli
        for word in path:
            if not hasattr(cmd, "commands"):
                break
            assert word in cmd.commands, f"{name}: brandex has no command {' '.join(path)}"
            cmd = cmd.commands[word]
        assert "--config" in words and "/etc/brandex/%i.toml" in words, name


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verifies_the_units(tmp_path) -> None:
    brandex = Path(sys.executable).parent / "brandex"
    assert brandex.exists(), "the venv has no brandex script (make dev)"
    made = []
    for unit in sorted(UNITS.iterdir()):
        instance = tmp_path / unit.name.replace("@.", "@zhejiang.")
        # verify checks that the binary exists: point it at this installation's.
        instance.write_text(unit.read_text().replace(PREFIX, str(brandex)))
        made.append(str(instance))
    done = subprocess.run(
        ["systemd-analyze", "verify", *made],
        capture_output=True,
        text=True,
        timeout=120,
        env={"SYSTEMD_LOG_LEVEL": "warning", "PATH": "/usr/bin:/bin"},
    )
    complaints = [x for x in done.stderr.splitlines() if "brandex" in x]
    assert done.returncode == 0 and not complaints, done.stderr
