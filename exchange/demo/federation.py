"""Laying out a federation on disk: PKI plus one TOML config per node.

Used three ways: by ``make demo`` / ``make up`` (configs in ``<state>/nodes/``,
never in the committed ``nodes/``), for the committed example configs in
``nodes/`` (``python -m exchange.demo configs``; a test keeps them current), and
by end-to-end tests with ports chosen at run time. One writer keeps the three
identical in shape.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from exchange import pki

__all__ = [
    "DEMO_PORTS",
    "DEMO_TOPOLOGY",
    "Member",
    "brandex_command",
    "demo_members",
    "enrol_member",
    "ensure_pki",
    "node_command",
    "render_config",
    "run_brandex",
    "write_configs",
]

# Fixed loopback ports of the demo federation (documented in docs/operators.md).
DEMO_PORTS = {
    "shanghai": 7310,
    "jiangsu": 7320,
    "zhejiang": 7330,
    "anhui": 7340,
    "henan": 7410,
    "wenzhou": 7303,
    "luyi": 7628,
}

#: A demo node's metrics port: its gRPC port + 2000 (9310 ... 9628), fixed like the
#: gRPC ports and below the kernel's ephemeral range, so the nodes' own outgoing
#: connections can never be handed it between the demo's check and the node's bind.
METRICS_OFFSET = 2000

# Who pulls from whom. Luyi has no link to Zhejiang: it receives Zhejiang's log
# through Anhui (and Henan), which shows relaying.
DEMO_TOPOLOGY = {
    "shanghai": ["jiangsu", "zhejiang", "anhui"],
    "jiangsu": ["shanghai", "zhejiang", "anhui"],
    "zhejiang": ["shanghai", "jiangsu", "anhui", "wenzhou"],
    "anhui": ["shanghai", "jiangsu", "zhejiang", "henan", "luyi"],
    "henan": ["anhui", "luyi"],
    "wenzhou": ["zhejiang"],
    "luyi": ["henan", "anhui"],
}


@dataclass(frozen=True)
class Member:
    name: str
    region: str
    port: int
    peers: tuple[str, ...]
    metrics_port: int = 0  # [metrics] listen on host:metrics_port (0: no metrics section)


def demo_members(ports: Mapping[str, int] | None = None) -> list[Member]:
    ports = ports or DEMO_PORTS
    return [Member(n, r, ports[n], tuple(DEMO_TOPOLOGY[n])) for n, r in pki.DEMO_MEMBERS.items()]


def _rel(target: Path, start: Path) -> str:
    return os.path.relpath(target, start)


def render_config(
    member: Member,
    members: Mapping[str, Member],
    *,
    config_dir: Path,
    certs_dir: Path,
    db_dir: Path,
    federation: str = "yrd",
    host: str = "127.0.0.1",
    sync_interval: float = 5.0,
    verify_workers: int = 2,
    federation_document: Path | None = None,
) -> str:
    """The TOML text of one node's config, paths relative to the config's folder.

    With ``federation_document`` (the bootstrap version), peers come from the
    document and the ``[[peers]]`` written here only fix their addresses."""
    paths = pki.member_paths(certs_dir, member.name)
    r = lambda p: _rel(Path(p), config_dir)  # noqa: E731
    lines = [
        f"# brandex node: {member.name} ({member.region}). See docs/operators.md.",
        f'name = "{member.name}"',
        f'region = "{member.region}"',
        f'federation = "{federation}"',
        f'listen = "{host}:{member.port}"',
        f'database = "{r(db_dir / (member.name + ".db"))}"',
        f'anchors = ["{r(paths.anchor)}"]',
        *(
            [f'federation_document = "{r(federation_document)}"']
            if federation_document is not None
            else []
        ),
        "",
        "[tls]",
        f'cert = "{r(paths.node_cert)}"',
        f'key = "{r(paths.node_key)}"',
        "# What `brandex` client commands present when given --config this file.",
        f'operator_cert = "{r(paths.operator_cert)}"',
        f'operator_key = "{r(paths.operator_key)}"',
        "",
        "[signing]",
        f'key = "{r(paths.signing_key)}"',
        f'cert = "{r(paths.signing_cert)}"',
        "",
        "[sync]",
        f"interval = {sync_interval}",
        "timeout = 30.0",
        "batch_size = 1000",
        "watch = true",
        "# Worker processes that check signatures during sync (0: in the node process).",
        f"verify_workers = {verify_workers}",
        "",
        "[witness]",
        "enabled = true",
    ]
    if member.metrics_port:
        lines += [
            "",
            "# Prometheus metrics and /healthz, /readyz over plain HTTP.",
            "[metrics]",
            f'listen = "{host}:{member.metrics_port}"',
        ]
    for peer in member.peers:
        p = members[peer]
        lines += ["", "[[peers]]", f'address = "{host}:{p.port}"', f'region = "{p.region}"']
    return "\n".join(lines) + "\n"


def write_configs(
    members: Sequence[Member],
    *,
    config_dir: Path,
    certs_dir: Path,
    db_dir: Path,
    federation: str = "yrd",
    sync_interval: float = 5.0,
    verify_workers: int = 2,
    federation_document: Path | None = None,
) -> dict[str, Path]:
    """Write one ``<name>.toml`` per member; returns name -> path."""
    config_dir.mkdir(parents=True, exist_ok=True)
    by_name = {m.name: m for m in members}
    out = {}
    for m in members:
        path = config_dir / f"{m.name}.toml"
        path.write_text(
            render_config(
                m,
                by_name,
                config_dir=config_dir.resolve(),
                certs_dir=certs_dir.resolve(),
                db_dir=db_dir.resolve(),
                federation=federation,
                sync_interval=sync_interval,
                verify_workers=verify_workers,
                federation_document=federation_document,
            ),
            encoding="utf-8",
        )
        out[m.name] = path
    return out


def ensure_pki(certs_dir: Path, members: Sequence[Member], federation: str = "yrd") -> list[str]:
    """Create the federation's PKI unless it is already there; returns the members enrolled now.

    The anchor is made alone (its jurisdictions: the members' provinces); then
    each member not yet recorded joins the way an agency does (:func:`enrol_member`).
    """
    if not (certs_dir / "anchor.pem").exists():
        # 360000: Jiangxi, which joins in the demo's governance chapter.
        provinces = sorted({m.region[:2] + "0000" for m in members} | {"360000"})
        pki.init_federation(certs_dir, federation, {}, jurisdictions=provinces)
    existing = pki.read_federation(certs_dir)["members"]
    enrolled = []
    for m in members:
        if m.name not in existing:
            enrol_member(certs_dir, m.name, m.region)
            enrolled.append(m.name)
    return enrolled


def enrol_member(certs_dir: Path, name: str, region: str, hosts: Sequence[str] = ()) -> None:
    """One agency joining, as ``certs request`` / ``certs sign`` / ``certs install`` do it.

    The member makes its keys and request in its own directory
    (``certs_dir/<name>``); the anchor checks the request and writes
    ``response.json``; the member checks that against its keys (and the anchor
    it knows) and installs. Keys left by an earlier run that never completed
    (the member is not in ``federation.json``) are replaced.
    """
    paths = pki.member_paths(certs_dir, name)
    member_dir = paths.node_key.parent
    pki.request_certificates(member_dir, name, region, hosts, force=True)
    pki.sign_request(certs_dir, paths.request, paths.response)
    pki.install_certificates(member_dir, paths.response, anchor=paths.anchor)


def brandex_command(*args: str) -> list[str]:
    """The ``brandex`` command line run with this interpreter (no installed script needed)."""
    return [sys.executable, "-m", "exchange.cli.main", *args]


def node_command(config: Path, *extra: str) -> list[str]:
    """The command that runs one node from its config (``brandex node run --config``)."""
    return brandex_command("node", "run", "--config", str(config), *extra)


def run_brandex(root: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``brandex`` in ``root`` as a user would, capturing its output."""
    return subprocess.run(
        brandex_command(*args), cwd=root, capture_output=True, text=True, timeout=300
    )
