"""The demo's staff console: Anhui's ``brandex web``, with a demo staff account.

Made the way an operator makes it: ``brandex web cert`` (the staff certificate,
read-only role), ``brandex web user add --password-stdin`` and ``brandex web
--config``. The process joins the demo's node processes (``fed.procs["web"]``),
so it is recorded in the demo lock and stopped by PID with the nodes.
"""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from exchange.demo.federation import brandex_command, run_brandex
from exchange.ports import port_free

__all__ = ["CONSOLE_MEMBER", "DEMO_PASSWORD", "DEMO_USER", "console_port", "start_console"]

CONSOLE_MEMBER = "anhui"
CONSOLE_PORT = 8340
#: Ports tried in turn when 8340 is taken: fixed, and below the kernel's ephemeral
#: range, so no outgoing connection is handed one between the check and the bind.
CONSOLE_PORTS = range(CONSOLE_PORT, CONSOLE_PORT + 20)
DEMO_USER = "demo"
#: A demo account on a loopback demo: printed for the reader, never for real use.
DEMO_PASSWORD = "demo-staff-2026"


def _serving(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/login", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def console_port(ports: range = CONSOLE_PORTS) -> int:
    """The first of ``ports`` nothing listens on on 127.0.0.1; an error naming the
    range when all are taken (the demo prints its console's address, so the port
    comes from a short fixed list rather than anywhere)."""
    port = next((p for p in ports if port_free("127.0.0.1", p)), None)
    if port is None:
        raise SystemExit(
            f"error: ports {ports.start}-{ports.stop - 1} are all taken; "
            "the demo's console needs one of them"
        )
    return port


def start_console(fed: Any, timeout: float = 60) -> str:
    """Start Anhui's console beside the demo nodes; returns its address."""
    config: Path = fed.configs[CONSOLE_MEMBER]
    done = run_brandex(fed.root, "web", "cert", "--config", str(config))
    if done.returncode != 0:
        raise SystemExit(f"error: brandex web cert: {done.stderr.strip()}")
    add = subprocess.run(
        brandex_command(
            "web", "user", "add", DEMO_USER, "--password-stdin", "--config", str(config)
        ),
        input=DEMO_PASSWORD + "\n",
        cwd=fed.root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if add.returncode != 0 and "already exists" not in add.stderr:
        raise SystemExit(f"error: brandex web user add: {add.stderr.strip()}")
    port = console_port()
    url = f"http://127.0.0.1:{port}"
    logs = fed.state / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    out = open(logs / "web.log", "ab")  # noqa: SIM115 - owned by the child
    proc = subprocess.Popen(
        brandex_command("web", "--config", str(config), "--listen", f"127.0.0.1:{port}"),
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=fed.root,
        start_new_session=True,  # Ctrl-C reaches the demo, which stops it by PID
    )
    fed.procs["web"] = proc
    if fed.lock is not None:
        fed.lock.record_nodes({n: p.pid for n, p in fed.procs.items()})
    end = time.monotonic() + timeout
    while not _serving(url):
        if proc.poll() is not None:
            log = (logs / "web.log").read_text(errors="replace")[-2000:]
            raise SystemExit(f"error: the console exited ({proc.returncode}):\n{log}")
        if time.monotonic() > end:
            raise SystemExit(f"error: the console did not serve {url} in {timeout:.0f}s")
        time.sleep(0.2)
    return url
