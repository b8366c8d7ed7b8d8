"""``brandex web user add|list|remove``: accounts in the console's own users.db."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from exchange.cli.main import cli
from exchange.node.config import load_config
from exchange.web.server import web_files

CONFIG = """
name = "anhui"
region = "340000"
federation = "yrd"
listen = "127.0.0.1:7340"
database = "db/anhui.db"
anchors = ["certs/anchor.pem"]
[tls]
cert = "certs/anhui/node.pem"
key = "certs/anhui/node.key"
operator_cert = "certs/anhui/operator.pem"
operator_key = "certs/anhui/operator.key"
[signing]
key = "certs/anhui/signing.key"
cert = "certs/anhui/signing.pem"
"""


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(cli, list(args), input=stdin, prog_name="brandex")


def test_user_add_list_remove(tmp_path: Path) -> None:
    config = tmp_path / "anhui.toml"
    config.write_text(CONFIG)
    c = str(config)
    r = run("web", "user", "add", "wang", "--password-stdin", "--config", c, stdin="s3cret-pass\n")
    assert r.exit_code == 0, r.output
    r = run(
        "web",
        "user",
        "add",
        "li",
        "--role",
        "auditor",
        "--password-stdin",
        "--config",
        c,
        stdin="another-pass\n",
    )
    assert r.exit_code == 0, r.output
    again = run("web", "user", "add", "wang", "--password-stdin", "--config", c, stdin="xxxxxxxx\n")
    assert again.exit_code == 1 and "already exists" in again.output
    short = run("web", "user", "add", "zhao", "--password-stdin", "--config", c, stdin="short\n")
    assert short.exit_code == 2 and "at least 8" in short.output
    r = run("web", "user", "list", "--format", "json", "--config", c)
    users = json.loads(r.output)
    assert [(u["name"], u["role"], u["failures"]) for u in users] == [
        ("li", "auditor", 0),
        ("wang", "staff", 0),
    ]
    users_db = web_files(load_config(config)).users
    assert users_db == tmp_path / "db" / "anhui-web" / "users.db"
    assert oct(users_db.stat().st_mode & 0o777) == "0o600"
    assert b"s3cret-pass" not in users_db.read_bytes()
    assert run("web", "user", "remove", "wang", "--config", c).exit_code == 0
    gone = run("web", "user", "remove", "wang", "--config", c)
    assert gone.exit_code == 1 and "no user" in gone.output
    r = run("web", "user", "list", "--format", "json", "--config", c)
    assert [u["name"] for u in json.loads(r.output)] == ["li"]
