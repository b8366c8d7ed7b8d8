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


@pytest.fixture(scope="module")
def small_fed(tmp_path_factory):
    from exchange import pki

    d = tmp_path_factory.mktemp("fed") / "yrd"
    pki.init_federation(d, "yrd", {"zhejiang": "330000"})
    return d


def test_certs_show_takes_dir_and_format(small_fed) -> None:
    runner = CliRunner()
    new = runner.invoke(cli, ["certs", "show", "--dir", str(small_fed), "--format", "json"])
    old = runner.invoke(cli, ["certs", "show", "--out", str(small_fed), "--format", "json"])
    assert new.exit_code == 0, new.output
    assert new.output == old.output
    import json

    doc = json.loads(new.output)
    assert doc["federation"] == "yrd" and doc["members"][0]["member"] == "zhejiang"
    rows = runner.invoke(cli, ["certs", "show", "--dir", str(small_fed), "--format", "csv"])
    assert rows.output.splitlines()[0] == "member,region,node,operator,signing,status"


def test_text_is_still_accepted_for_table(small_fed, tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[[[", encoding="utf-8")
    anchor = str(small_fed / "anchor.pem")
    for fmt in ("text", "table"):
        r = CliRunner().invoke(
            cli, ["audit", "verify", str(bad), "--anchors", anchor, "--format", fmt]
        )
        assert r.exit_code == 1 and "not a JSON document" in r.output, r.output


def test_issue_and_log_commands_take_format() -> None:
    for path in (["issue"], ["log", "checkpoint"], ["log", "proof"], ["log", "vkeys"]):
        out = CliRunner().invoke(cli, [*path, "--help"]).output
        assert "--format [table|json|csv]" in out, path


def test_peer_is_another_name_of_node() -> None:
    out = CliRunner().invoke(cli, ["search", "--help"]).output
    assert "--node, --peer HOST:PORT" in out


def test_node_run_takes_config_and_the_old_positional_form(tmp_path) -> None:
    missing = tmp_path / "none.toml"
    new = CliRunner().invoke(cli, ["node", "run", "--config", str(missing)])
    assert new.exit_code == 2 and "deprecated" not in new.output
    old = CliRunner().invoke(cli, ["node", "run", str(missing)])
    assert old.exit_code == 2 and "deprecated" in old.output
    assert "--config" in CliRunner().invoke(cli, ["node", "run", "--help"]).output


def test_audit_verify_prints_its_verdict_first(small_fed, tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[[[", encoding="utf-8")
    args = ["audit", "verify", str(bad), "--anchors", str(small_fed / "anchor.pem")]
    full = CliRunner().invoke(cli, args)
    assert full.exit_code == 1 and full.output.startswith("INVALID: ")
    assert len(full.output.splitlines()) > 1
    quiet = CliRunner().invoke(cli, [*args, "--quiet"])
    assert quiet.exit_code == 1 and quiet.output.splitlines() == full.output.splitlines()[:1]


# ------------------------------------------------------------------ the help walk

LEAVES = [(p, c) for p, c in COMMANDS if not isinstance(c, click.Group)]
#: Commands that need no node (local files only): no --config.
OFFLINE = {
    "certs init",
    "certs add",
    "certs renew",
    "certs revoke",
    "certs show",
    "certs request",
    "certs sign",
    "certs install",
    "audit verify",
    "audit digest",
    "federation init",
    "federation propose",
    "federation sign",
    "federation verify",
}
#: Commands that write a file or run a server rather than print data: no --format.
NO_DATA = {
    "certs init",
    "certs add",
    "certs renew",
    "certs revoke",
    "certs request",
    "certs sign",
    "certs install",
    "audit bundle",
    "export",
    "node run",
    "federation init",
    "federation propose",
    "federation sign",
    "web",
    "web cert",
    "web user add",
    "web user remove",
}
#: Reports with no tabular CSV form.
REPORTS = {"audit verify", "audit log", "audit digest"}


def _help(path) -> str:
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="brandex", terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(("path", "cmd"), LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_every_command_has_the_common_flags(path, cmd) -> None:
    name = " ".join(path)
    out = _help(path)
    if name not in OFFLINE:
        assert "--config" in out, f"brandex {name} has no --config"
    if name not in NO_DATA:
        choices = "[table|json]" if name in REPORTS else "[table|json|csv]"
        assert f"--format {choices}" in out, f"brandex {name}: --format is not {choices}"
        fmt = next(p for p in cmd.params if p.name == "fmt")
        assert fmt.default == "table"
    example = " ".join(out.split("Example:", 1)[1].split())
    assert f"brandex {name}" in example, f"brandex {name}'s example runs another command"
    assert "--lang [zh|en]" in out, f"brandex {name} does not take --lang"


@pytest.mark.parametrize(
    ("path", "cmd"), COMMANDS, ids=[" ".join(p) or "brandex" for p, _ in COMMANDS]
)
def test_every_command_and_group_takes_lang(path, cmd) -> None:
    """``--lang`` on the top group, inherited by every command (either place works)."""
    assert "--lang [zh|en]" in _help(path)


def test_top_level_help_shows_lang_and_says_machine_output_stays_english() -> None:
    out = _help(())
    assert "--lang [zh|en]" in out and "BRANDEX_LANG" in out
    assert "JSON and CSV keys and values stay English" in " ".join(out.split())
