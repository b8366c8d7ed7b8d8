"""Every ``brandex`` command answers ``--help`` and shows an example."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from exchange.cli.main import cli


def _walk(cmd: click.Command, path: tuple[str, ...] = ()):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from _walk(sub, (*path, name))


COMMANDS = list(_walk(cli))


def test_the_agency_and_staff_commands_are_registered() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {
        "import",
        "export",
        "status suspend",
        "status reinstate",
        "status revoke",
        "status renew",
        "status correct",
        "status withdraw",
        "case report",
        "case act",
        "case list",
        "agreement accede",
        "agreement withdraw",
        "agreement list",
        "search",
        "show",
        "check",
    } <= names


@pytest.mark.parametrize(
    ("path", "cmd"), COMMANDS, ids=[" ".join(p) or "brandex" for p, _ in COMMANDS]
)
def test_help_has_an_example(path, cmd) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="brandex")
    assert result.exit_code == 0, result.output
    assert "Usage: brandex" in result.output
    if isinstance(cmd, click.Group):
        assert cmd.commands, f"group {' '.join(path)} has no commands"
    assert "Example:" in result.output, f"brandex {' '.join(path)} --help shows no example"
    example = result.output.split("Example:", 1)[1]
    assert "brandex" in example


@pytest.mark.parametrize(
    "args",
    [
        ["search", "x", "--peer", "127.0.0.1:1", "--node", "127.0.0.1:2"],
        ["check", "--in", "340000"],
        ["check", "r1", "--brand", "宋河", "--in", "340000"],
    ],
)
def test_usage_errors_exit_2(args, tmp_path) -> None:
    cfg = tmp_path / "none.toml"
    result = CliRunner().invoke(cli, [*args, "--config", str(cfg)], prog_name="brandex")
    assert result.exit_code == 2


def test_bad_dates_and_regions_are_refused_before_connecting() -> None:
    runner = CliRunner()
    r = runner.invoke(cli, ["check", "r1", "--in", "999999"], prog_name="brandex")
    assert r.exit_code == 2 and "GB/T 2260" in r.output
    r = runner.invoke(cli, ["check", "r1", "--in", "340000", "--on", "2026-02-30"])
    assert r.exit_code == 2 and "calendar date" in r.output
