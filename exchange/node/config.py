"""Node configuration (TOML), documented in docs/operators.md.

Relative paths in a config file are resolved against the file's own folder, so
``nodes/zhejiang.toml`` works from any working directory.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exchange.core.errors import ValidationError
from exchange.core.parsing import host_port
from exchange.core.regions import validate_region
from exchange.node.limits import MAX_STREAMS_PER_CLIENT

__all__ = [
    "NODE_FILES",
    "NodeConfig",
    "PeerConfig",
    "WebConfig",
    "load_config",
    "parse_address",
]

#: Every key a config may hold, per table ("" is the top level; "peers" each [[peers]]).
KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "": (
        "name",
        "region",
        "federation",
        "listen",
        "database",
        "anchors",
        "tls",
        "signing",
        "sync",
        "witness",
        "limits",
        "metrics",
        "peers",
        "federation_document",
        "web",
    ),
    "tls": ("cert", "key", "operator_cert", "operator_key", "crl"),
    "signing": ("key", "cert"),
    "sync": ("interval", "timeout", "batch_size", "watch", "verify_workers", "parallel_origins"),
    "witness": ("enabled",),
    "limits": ("read_rate", "read_burst"),
    "metrics": ("listen", "health_interval"),
    "peers": ("address", "region"),
    "web": (
        "listen",
        "tls_cert",
        "tls_key",
        "staff_cert",
        "staff_key",
        "state",
        "session_minutes",
    ),
}
#: The files ``brandex node run`` reads.
NODE_FILES = ("anchors", "tls.cert", "tls.key", "signing.key", "signing.cert")
_FILE_ATTRS = {
    "anchors": "anchors",
    "tls.cert": "tls_cert",
    "tls.key": "tls_key",
    "tls.operator_cert": "operator_cert",
    "tls.operator_key": "operator_key",
    "signing.key": "signing_key",
    "signing.cert": "signing_cert",
    "database": "database",
}


@dataclass(frozen=True)
class PeerConfig:
    address: str
    region: str


@dataclass(frozen=True)
class WebConfig:
    """The ``[web]`` table: the staff console (``brandex web``) that runs beside this node.

    It presents a staff certificate (read-only role) to the node; it listens on
    loopback unless told otherwise, with TLS when ``tls_cert``/``tls_key`` are set.
    """

    listen: str = "127.0.0.1:8080"
    staff_cert: Path | None = None  # default: staff.pem beside the operator certificate
    staff_key: Path | None = None
    tls_cert: Path | None = None  # both or neither: HTTPS with them, plain HTTP without
    tls_key: Path | None = None
    state: Path | None = None  # users.db and access.jsonl (default: <database>-web/)
    session_minutes: int = 480  # a login lasts this long


@dataclass(frozen=True)
class NodeConfig:
    """Everything a node process (and a CLI talking to it) needs to know."""

    path: Path
    name: str
    region: str
    federation: str
    listen: str
    database: Path
    tls_cert: Path
    tls_key: Path
    operator_cert: Path
    operator_key: Path
    signing_key: Path
    signing_cert: Path
    anchors: tuple[Path, ...]
    peers: tuple[PeerConfig, ...] = ()
    sync_interval: float = 5.0
    sync_timeout: float = 30.0
    batch_size: int = 1000
    max_message_bytes: int = 16 * 1024 * 1024
    watch: bool = True
    witness: bool = True
    verify_workers: int = 2
    #: [sync] origins one round with a peer syncs at once; with the watch stream, within
    #: the stream slots a node gives one client (limits.MAX_STREAMS_PER_CLIENT)
    parallel_origins: int = 3
    read_rate: float = 200.0  # [limits] read RPCs per second per client certificate (0: off)
    read_burst: float = 400.0  # [limits] ... of which this many at once
    metrics_listen: str = ""  # [metrics] listen: host:port of /metrics, /healthz, /readyz ("": off)
    health_interval: float = 5.0  # [metrics] health_interval: seconds between health checks
    crl: Path | None = None  # [tls] crl: the anchor's certificate revocation list (PEM)
    #: The bootstrap (pinned) federation document; with it, peers come from the document
    #: and [[peers]] only overrides a member's address. None: peers from [[peers]] alone.
    federation_document: Path | None = None
    web: WebConfig = field(default_factory=WebConfig)
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return f"{self.federation}/{self.region}"

    def require_files(self, *keys: str) -> None:
        """Raise one line naming the config key and the absolute path of the first missing file.

        Relative paths are resolved against the config's folder, so a config
        copied elsewhere points at files that may not be there.
        """
        for key in keys:
            value = getattr(self, _FILE_ATTRS[key])
            paths = value if isinstance(value, tuple) else (value,)
            for i, path in enumerate(paths):
                if not path.is_file():
                    where = f"{key}[{i}]" if isinstance(value, tuple) else key
                    raise ValidationError(
                        where,
                        f"no such file {path} (relative paths in {self.path} are resolved"
                        " against its folder)",
                    )


def parse_address(value: str, what: str = "address") -> tuple[str, int]:
    """Split ``host:port``; a clear error rather than a gRPC one later."""
    split = host_port(value)
    if split is None:
        raise ValidationError(what, "must be host:port with a port from 1 to 65535", value)
    return split


def _get(d: dict, key: str, kind: type, where: str, default: object = ...) -> object:
    if key not in d:
        if default is ...:
            raise ValidationError(f"{where}{key}", "is required")
        return default
    value = d[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValidationError(f"{where}{key}", f"must be {kind.__name__}", value)
    return value


def _refuse_unknown(d: dict, table: str, where: str) -> None:
    """An unknown key is an error naming it (and the nearest known key), never ignored."""
    known = KNOWN_KEYS[table]
    for key in d:
        if key in known:
            continue
        near = [f"{where}{k}" for k in difflib.get_close_matches(str(key), known, n=1)]
        if not near:  # a key put in the wrong table: intervall at the top, for sync.interval
            elsewhere = {k: f"{t}.{k}" for t, keys in KNOWN_KEYS.items() if t for k in keys}
            near = [elsewhere[k] for k in difflib.get_close_matches(str(key), elsewhere, n=1)]
        hint = f"; did you mean '{near[0]}'?" if near else f" (known: {', '.join(known)})"
        raise ValidationError(f"{where}{key}", f"unknown key{hint}")


def _bounded(
    d: dict, key: str, kind: type, default: object, low: float, high: float, where: str = "sync."
) -> Any:
    """A number in [low, high]: nan, inf and negative intervals make no sense."""
    value = _get(d, key, kind, where, default)
    if not low <= value <= high:  # type: ignore[operator]  # also false for nan
        raise ValidationError(f"{where}{key}", f"must be between {low:g} and {high:g}", value)
    return value


def load_config(path: str | os.PathLike[str]) -> NodeConfig:
    """Read and check a node config; every problem names the key at fault."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError("config", "file not found", str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError("config", f"is not valid TOML: {exc}", str(path)) from None
    except UnicodeDecodeError as exc:
        raise ValidationError("config", f"is not UTF-8 text: {exc}", str(path)) from None
    except ValueError as exc:  # tomllib lets int()'s 4300-digit limit through
        raise ValidationError("config", f"is not valid TOML: {exc}", str(path)) from None
    except RecursionError:  # tomllib parses nested arrays recursively
        raise ValidationError("config", "is not valid TOML: nested too deeply", str(path)) from None
    base = path.resolve().parent
    _refuse_unknown(raw, "", "")

    def p(value: object) -> Path:
        text = str(value)
        if "\x00" in text:  # Path.resolve() raises ValueError on it
            raise ValidationError("config", "a path must not contain NUL characters", text)
        return (base / text).resolve()

    region = str(_get(raw, "region", str, ""))
    validate_region(region, "region")
    listen = str(_get(raw, "listen", str, ""))
    parse_address(listen, "listen")
    tls = _get(raw, "tls", dict, "")
    signing = _get(raw, "signing", dict, "")
    sync = _get(raw, "sync", dict, "", {})
    witness = _get(raw, "witness", dict, "", {})
    limits = _get(raw, "limits", dict, "", {})
    metrics = _get(raw, "metrics", dict, "", {})
    web = _get(raw, "web", dict, "", {})
    anchors = _get(raw, "anchors", list, "")
    if not anchors:
        raise ValidationError("anchors", "must name at least one trust anchor PEM file")
    peers = []
    for i, peer in enumerate(_get(raw, "peers", list, "", [])):  # type: ignore[arg-type]
        where = f"peers[{i}]."
        if not isinstance(peer, dict):
            raise ValidationError(f"peers[{i}]", "must be a table with address and region")
        _refuse_unknown(peer, "peers", where)
        address = str(_get(peer, "address", str, where))
        parse_address(address, f"{where}address")
        peer_region = str(_get(peer, "region", str, where))
        validate_region(peer_region, f"{where}region")
        peers.append(PeerConfig(address, peer_region))
    assert isinstance(tls, dict) and isinstance(signing, dict)
    assert isinstance(sync, dict) and isinstance(witness, dict) and isinstance(limits, dict)
    assert isinstance(metrics, dict)
    tables = {"tls": tls, "signing": signing, "sync": sync, "witness": witness, "limits": limits}
    tables["metrics"] = metrics
    tables["web"] = web
    for table, value in tables.items():
        _refuse_unknown(value, table, f"{table}.")
    metrics_listen = str(_get(metrics, "listen", str, "metrics.", ""))
    if metrics_listen:
        parse_address(metrics_listen, "metrics.listen")
    return NodeConfig(
        path=path.resolve(),
        name=str(_get(raw, "name", str, "")),
        region=region,
        federation=str(_get(raw, "federation", str, "")),
        listen=listen,
        database=p(_get(raw, "database", str, "")),
        tls_cert=p(_get(tls, "cert", str, "tls.")),
        tls_key=p(_get(tls, "key", str, "tls.")),
        operator_cert=p(_get(tls, "operator_cert", str, "tls.")),
        operator_key=p(_get(tls, "operator_key", str, "tls.")),
        crl=p(tls["crl"]) if isinstance(tls, dict) and "crl" in tls else None,
        federation_document=(
            p(_get(raw, "federation_document", str, "")) if "federation_document" in raw else None
        ),
        signing_key=p(_get(signing, "key", str, "signing.")),
        signing_cert=p(_get(signing, "cert", str, "signing.")),
        anchors=tuple(p(a) for a in anchors),
        peers=tuple(peers),
        sync_interval=_bounded(sync, "interval", float, 5.0, 0.05, 86_400.0),
        sync_timeout=_bounded(sync, "timeout", float, 30.0, 0.5, 3_600.0),
        batch_size=_bounded(sync, "batch_size", int, 1000, 1, 5000),
        watch=bool(_get(sync, "watch", bool, "sync.", True)),
        verify_workers=_bounded(sync, "verify_workers", int, 2, 0, 64),
        parallel_origins=_bounded(sync, "parallel_origins", int, 3, 1, MAX_STREAMS_PER_CLIENT - 1),
        witness=bool(_get(witness, "enabled", bool, "witness.", True)),
        read_rate=_bounded(limits, "read_rate", float, 200.0, 0.0, 1e6, "limits."),
        read_burst=_bounded(limits, "read_burst", float, 400.0, 1.0, 1e6, "limits."),
        metrics_listen=metrics_listen,
        health_interval=_bounded(metrics, "health_interval", float, 5.0, 0.1, 3_600.0, "metrics."),
        web=_web(web, p),  # type: ignore[arg-type]
    )


def _web(web: dict, p: Any) -> WebConfig:
    """The ``[web]`` table, paths resolved like every other path of the config."""
    listen = str(_get(web, "listen", str, "web.", WebConfig.listen))
    parse_address(listen, "web.listen")
    paths = {}
    for key in ("staff_cert", "staff_key", "tls_cert", "tls_key", "state"):
        value = _get(web, key, str, "web.", "")
        paths[key] = p(value) if value else None
    if (paths["tls_cert"] is None) != (paths["tls_key"] is None):
        raise ValidationError("web.tls_cert", "tls_cert and tls_key go together (both or neither)")
    minutes = _bounded(web, "session_minutes", int, 480, 1, 7 * 24 * 60, "web.")
    return WebConfig(listen=listen, session_minutes=minutes, **paths)
