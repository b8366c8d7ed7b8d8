"""Running the console: its files, its node client and the uvicorn server.

The console's state directory (``[web] state``; default ``<database>-web/``
beside the node's database) holds ``users.db`` (accounts), ``access.jsonl``
(the access log) and ``session.key`` (the secret that signs session cookies;
made on first start, 0600: replacing it logs everybody out).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from exchange.core.errors import ValidationError
from exchange.node.config import NodeConfig, load_config, parse_address
from exchange.store.web_users import WebUsers
from exchange.web.access_log import AccessLog
from exchange.web.security import Accounts, Sessions

__all__ = ["WebFiles", "build_console", "now_utc", "serve", "web_files"]


def now_utc() -> datetime:
    """The console's one clock read (tests hand in their own clock instead)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class WebFiles:
    state: Path
    users: Path
    access_log: Path
    secret: Path
    staff_cert: Path
    staff_key: Path


def web_files(config: NodeConfig) -> WebFiles:
    """Where a node's console keeps its state and finds its staff certificate."""
    web = config.web
    state = web.state or config.database.parent / f"{config.database.stem}-web"
    certs = config.operator_cert.parent
    return WebFiles(
        state=state,
        users=state / "users.db",
        access_log=state / "access.jsonl",
        secret=state / "session.key",
        staff_cert=web.staff_cert or certs / "staff.pem",
        staff_key=web.staff_key or certs / "staff.key",
    )


def _secret(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def open_accounts(config: NodeConfig, clock: Callable[[], datetime] = now_utc) -> Accounts:
    return Accounts(WebUsers(web_files(config).users), clock)


def build_console(config: NodeConfig | Path | str, clock: Callable[[], datetime] = now_utc):
    """The console of a node: its staff client, accounts, session signer and access log."""
    from exchange.client import NodeClient
    from exchange.web.app import Console

    if not isinstance(config, NodeConfig):
        config = load_config(config)
    files = web_files(config)
    for what, path in (("web.staff_cert", files.staff_cert), ("web.staff_key", files.staff_key)):
        if not path.is_file():
            raise ValidationError(
                what,
                f"no staff certificate at {path}: make one with "
                f"'brandex web cert --config {config.path}'",
            )
    client = NodeClient.from_config(config, cert=files.staff_cert, key=files.staff_key)
    sessions = Sessions(
        _secret(files.secret),
        clock,
        timedelta(minutes=config.web.session_minutes),
        secure=config.web.tls_cert is not None,
    )
    return Console(
        client=client,
        accounts=open_accounts(config, clock),
        sessions=sessions,
        log=AccessLog(files.access_log, clock),
        clock=clock,
        node_name=config.name,
        region=config.region,
    )


def serve(config: NodeConfig, listen: str | None = None) -> None:
    """Run the console until interrupted (SIGINT/SIGTERM stop it cleanly)."""
    import uvicorn

    from exchange.web.app import create_app

    host, port = parse_address(listen or config.web.listen, "web.listen")
    console = build_console(config)
    tls = {}
    if config.web.tls_cert is not None:
        tls = {"ssl_certfile": str(config.web.tls_cert), "ssl_keyfile": str(config.web.tls_key)}
    scheme = "https" if tls else "http"
    print(f"brandex web: console of {config.name} at {scheme}://{host}:{port}/", flush=True)
    try:
        uvicorn.run(
            create_app(console),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            server_header=False,
            # SIGTERM stops the console within seconds: connections still open then
            # (a stalled client, a half-done TLS handshake) are not waited on.
            timeout_graceful_shutdown=3,
            **tls,
        )
    finally:
        console.client.close()
        console.log.close()
        console.accounts.users.close()
