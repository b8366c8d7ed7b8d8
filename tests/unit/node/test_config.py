"""Node configs: the committed demo configs load; every bad value names its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.core.errors import ValidationError
from exchange.node.config import load_config, parse_address

ROOT = Path(__file__).resolve().parents[3]
BASE = """name = "x"
region = "330000"
federation = "yrd"
listen = "127.0.0.1:7330"
database = "x.db"
anchors = ["a.pem"]
[tls]
cert = "a"
key = "a"
operator_cert = "a"
operator_key = "a"
[signing]
key = "a"
cert = "a"
"""


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "nodes").glob("*.toml")))
def test_demo_configs_load(name: str) -> None:
    cfg = load_config(ROOT / "nodes" / f"{name}.toml")
    assert cfg.name == name
    assert cfg.origin == f"yrd/{cfg.region}"
    assert cfg.anchors[0] == (ROOT / "certs" / "yrd" / "anchor.pem").resolve()
    assert cfg.peers, "every demo node has peers"


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("[sync]\ninterval = nan\n", "sync.interval"),
        ("[sync]\ninterval = -1.0\n", "sync.interval"),
        ("[sync]\nbatch_size = 0\n", "sync.batch_size"),
        ("[sync]\nverify_workers = -2\n", "sync.verify_workers"),
        ('[sync]\nwatch = "yes"\n', "sync.watch"),
        ('[[peers]]\naddress = "nohost"\nregion = "340000"\n', "peers[0].address"),
        ('[[peers]]\naddress = "127.0.0.1:1"\nregion = "999999"\n', "peers[0].region"),
    ],
)
def test_bad_values_name_their_key(tmp_path: Path, extra: str, key: str) -> None:
    path = tmp_path / "n.toml"
    path.write_text(BASE + extra, encoding="utf-8")
    with pytest.raises(ValidationError) as err:
        load_config(path)
    assert err.value.field == key


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="not found"):
        load_config(tmp_path / "absent.toml")
    (tmp_path / "bad.toml").write_text("region = ", encoding="utf-8")
    with pytest.raises(ValidationError, match="TOML"):
        load_config(tmp_path / "bad.toml")


@pytest.mark.parametrize("value", ["h:0", "h:65536", "h:８０", ":80", "h:", "h:+1"])
def test_bad_addresses(value: str) -> None:
    with pytest.raises(ValidationError):
        parse_address(value)


@pytest.mark.parametrize(
    ("text", "key", "hint"),
    [
        (BASE.replace("[tls]", 'intervall = "fast"\n[tls]'), "intervall", "'sync.interval'"),
        (BASE + '[sync]\nintervall = "fast"\n', "sync.intervall", "'sync.interval'"),
        (BASE + "[witnes]\nenabled = false\n", "witnes", "'witness'"),
        (BASE + "[witness]\nenable = false\n", "witness.enable", "'witness.enabled'"),
        (BASE.replace('key = "a"\ncert', 'keys = "a"\ncert'), "signing.keys", "'signing.key'"),
        (BASE + '[[peers]]\naddres = "127.0.0.1:1"\nregion = "340000"\n', "peers[0].addres", ""),
        (BASE.replace("[tls]", "colour = 1\n[tls]"), "colour", "(known: name, region"),
    ],
)
def test_unknown_keys_are_refused_by_name(tmp_path: Path, text: str, key: str, hint: str) -> None:
    path = tmp_path / "n.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationError) as err:
        load_config(path)
    assert err.value.field == key
    assert "unknown key" in str(err.value) and hint in str(err.value)


def test_a_config_copied_elsewhere_names_the_missing_file(tmp_path: Path) -> None:
    import subprocess
    import sys

    copy = tmp_path / "elsewhere" / "zhejiang.toml"
    copy.parent.mkdir()
    copy.write_text((ROOT / "nodes" / "zhejiang.toml").read_text("utf-8"), encoding="utf-8")
    cfg = load_config(copy)  # loads: the paths are only resolved
    missing = (tmp_path / "certs" / "yrd" / "anchor.pem").resolve()
    with pytest.raises(ValidationError, match=f"no such file {missing}") as err:
        cfg.require_files("anchors", "tls.cert")
    assert err.value.field == "anchors[0]"
    proc = subprocess.run(
        [sys.executable, "-m", "exchange.cli.main", "node", "run", "--config", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: anchors[0]: no such file {missing} (relative paths in {copy} are resolved"
        " against its folder)"
    ]
