"""Fuzz node configuration files: ``load_config`` raises only ``ValidationError``.

Files are written to a temporary directory and read back exactly as a node
reads them. Mutations work on the TOML text and bytes; a second generator
puts hostile TOML values (wrong types, NUL in paths, superscript or 5,000-digit
ports, deep arrays) into an otherwise valid file.
"""

from __future__ import annotations

from pathlib import Path

from brandex_fuzz import count, fuzz, mutated_bytes, mutated_text, raw_bytes, raw_text, world
from hypothesis import given
from hypothesis import strategies as st

from exchange.core.errors import ValidationError
from exchange.node.config import KNOWN_KEYS, NodeConfig, load_config, parse_address

ROOT = Path(__file__).resolve().parents[2]
SEEDS = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "nodes").glob("*.toml"))]
MINIMAL = """\
region = "330000"
listen = "127.0.0.1:7330"
database = "z.db"
anchors = ["anchor.pem"]
[tls]
cert = "n.pem"
key = "n.key"
operator_cert = "o.pem"
operator_key = "o.key"
[signing]
key = "s.key"
cert = "s.pem"
"""
SEEDS.append(MINIMAL)
DIR = Path(world().root) / "config-fuzz"
DIR.mkdir(exist_ok=True)

TEMPLATE = """\
name = {name}
region = {region}
federation = "yrd"
listen = {listen}
database = {path}
anchors = {anchors}
[tls]
cert = {path}
key = "n.key"
operator_cert = "o.pem"
operator_key = "o.key"
[signing]
key = "s.key"
cert = "s.pem"
[sync]
interval = {number}
timeout = {number}
batch_size = {number}
watch = {boolean}
verify_workers = {number}
[witness]
enabled = {boolean}
{peers}
"""

_literals = st.sampled_from(
    [
        '""',
        '"x"',
        '"\\u0000"',
        '"a\\u0000b"',
        "'../../etc/passwd'",
        "0",
        "-1",
        "1e400",
        "inf",
        "nan",
        "-inf",
        "true",
        "[]",
        "[1, 2]",
        '["a", 1]',
        "[[]]",
        "{}",
        "{a = 1}",
        "1979-05-27",
        "1979-05-27T07:32:00Z",
        "07:32:00",
        "0x7FFFFFFF",
        "9223372036854775807",
        '"33000０"',
        '"３３００００"',
        '"330000 "',
        '"999999"',
        '"127.0.0.1:²"',
        '"127.0.0.1:８０"',
        '"127.0.0.1:' + "1" * 5000 + '"',
        '"127.0.0.1:0"',
        '"127.0.0.1:65536"',
        '":80"',
        '"[::1]:80"',
        '"host:"',
        '"host: 80"',
        '"host:+80"',
        "[" * 600 + "]" * 600,
        "[" * 3000 + "]" * 3000,
    ]
)
_region = st.one_of(st.sampled_from(['"330000"', '"340000"', '"411628"']), _literals)
_listen = st.one_of(st.just('"127.0.0.1:7330"'), _literals)
_path = st.one_of(st.just('"x.pem"'), _literals)
_peer = st.builds(
    lambda a, r: f"[[peers]]\naddress = {a}\nregion = {r}\n", _listen, _region
) | st.sampled_from(["peers = [1]\n", "peers = 'x'\n", "peers = [{}]\n", "[peers]\n"])


@st.composite
def templated(draw) -> str:
    return TEMPLATE.format(
        name=draw(st.one_of(st.just('"zj"'), _literals)),
        region=draw(_region),
        listen=draw(_listen),
        path=draw(_path),
        anchors=draw(st.one_of(st.just('["anchor.pem"]'), _literals)),
        number=draw(st.one_of(st.just("5"), _literals)),
        boolean=draw(st.one_of(st.just("true"), _literals)),
        peers="".join(draw(st.lists(_peer, max_size=3))),
    )


def _load(data: bytes) -> None:
    path = DIR / "node.toml"
    path.write_bytes(data)
    try:
        cfg = load_config(path)
    except ValidationError:
        return
    assert isinstance(cfg, NodeConfig)
    parse_address(cfg.listen)
    assert len(cfg.region) == 6 and cfg.anchors


@fuzz(weight=0.5)
@given(st.one_of(mutated_text(SEEDS, max_ops=4), templated(), raw_text()))
def test_load_config_text(text: str) -> None:
    count("config.load_config(text)")
    _load(text.encode("utf-8"))


@fuzz(weight=0.5)
@given(st.one_of(mutated_bytes([s.encode() for s in SEEDS]), raw_bytes()))
def test_load_config_bytes(data: bytes) -> None:
    count("config.load_config(bytes)")
    _load(data)


@fuzz(weight=0.5)
@given(
    st.one_of(
        mutated_text(["127.0.0.1:7330", "[::1]:443", "node.example:1"], surrogates=False),
        st.text(max_size=30),
    )
)
def test_parse_address(value: str) -> None:
    count("config.parse_address")
    try:
        host, port = parse_address(value)
    except ValidationError:
        return
    assert host and 0 < port < 65536


_BARE_KEY = st.text("abcdefghijklmnopqrstuvwxyz_-0123456789", min_size=1, max_size=20)
# Where a stray key goes: (text before which it is inserted, the table's key prefix).
_TABLES = {
    "": ("[tls]", ""),
    "tls": ("[signing]", "tls."),
    "signing": (None, "signing."),
    "sync": (None, "sync."),
    "witness": (None, "witness."),
    "peers": (None, "peers[0]."),
}
_OPENERS = {
    "sync": "[sync]\n",
    "witness": "[witness]\n",
    "peers": '[[peers]]\naddress = "127.0.0.1:1"\nregion = "340000"\n',
}


@st.composite
def stray_key(draw) -> tuple[str, str]:
    """MINIMAL plus one key the table does not know: a random name or a one-character typo."""
    table = draw(st.sampled_from(sorted(_TABLES)))
    known = KNOWN_KEYS[table]
    typo = draw(st.sampled_from(known))
    i = draw(st.integers(0, len(typo)))
    key = draw(
        st.one_of(
            _BARE_KEY,
            st.just(typo[:i] + typo[i + 1 :]),  # a character dropped
            st.just(typo[:i] + draw(st.sampled_from("aeilnrst_")) + typo[i:]),  # one added
        ).filter(lambda k: k and k not in known)
    )
    before, prefix = _TABLES[table]
    line = f"{key} = 1\n"
    if before is not None:
        text = MINIMAL.replace(before, line + before)
    elif table == "signing":
        text = MINIMAL + line
    else:
        text = MINIMAL + _OPENERS[table] + line
    return text, f"{prefix}{key}"


@fuzz(weight=0.25)
@given(stray_key())
def test_unknown_keys_name_themselves(case: tuple[str, str]) -> None:
    count("config.load_config(unknown key)")
    text, field = case
    path = DIR / "stray.toml"
    path.write_text(text, encoding="utf-8")
    try:
        load_config(path)
    except ValidationError as exc:
        assert exc.field == field, (exc, field)
        assert exc.rule.startswith("unknown key"), exc
        if "did you mean" in exc.rule:
            suggested = exc.rule.split("'")[1]
            table, _, key = suggested.rpartition(".")
            assert key in KNOWN_KEYS[table.split("[")[0]], suggested
    else:
        raise AssertionError(f"{field} was accepted")
