"""A small real federation with demo data and a real ``brandex web`` process, for browser tests.

Three nodes on 127.0.0.1 (ports chosen at run time): Zhejiang (杭瑞 zj-2025-0001),
Henan (宋河粮液 hn-2024-0001) and Anhui, which mirrors both and whose console
the tests drive. Zhejiang and Anhui accede to yrd-2006 (provincial famous-brand
products), so 杭瑞 is recognised in 安徽省 and not in 河南省, while 宋河粮液 is
recognised in 河南省 (its issuer's own region) and not in 安徽省 (Henan is not a
party). Zhejiang reports one counterfeit case against 杭瑞.

The console's staff certificate, users and process are made with the CLI, as
an operator would (``brandex web cert``, ``brandex web user add --password-stdin``,
``brandex web --config``); everything is stopped by PID.
"""

from __future__ import annotations

import os
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from harness import DEADLINE, Federation, _demo_records, brandex, free_port, wait_until

from exchange import pki
from exchange._proto.brandex.v1 import entries_pb2
from exchange.client import NodeClient
from exchange.demo.dataset import FEATURED
from exchange.demo.federation import brandex_command

PASSWORD = "staff-password-1"
REGIONS = {"zhejiang": "330000", "anhui": "340000", "henan": "410000"}
#: Records per issuer besides the featured ones (facets need a few of each).
PER_ISSUER = 25
#: Setting up three nodes, a sync and an index on a shared, busy machine: wait generously.
SETUP_DEADLINE = 5 * DEADLINE


@dataclass
class ConsoleSite:
    fed: Federation
    url: str
    proc: subprocess.Popen
    config: Path
    state: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=60)
        self.fed.stop_all()


def _records(name: str) -> list[entries_pb2.Recognition]:
    every = _demo_records()[name]
    featured = {f["record_id"] for f in FEATURED.values()}
    chosen = [r for r in every if r["record_id"] in featured] + every[:PER_ISSUER]
    seen: set[str] = set()
    out = []
    for r in chosen:
        if r["record_id"] not in seen:
            seen.add(r["record_id"])
            out.append(entries_pb2.Recognition(**r))
    return out


def _load(fed: Federation) -> None:
    for name in ("zhejiang", "henan", "anhui"):
        fed.issue_records(name, _records(name))
    for name in ("zhejiang", "anhui"):
        fed.admin(name).Accede(
            entries_pb2.Accession(
                agreement_id="yrd-2006",
                title="长三角名牌产品互认扩展",
                covered_kinds=[entries_pb2.PROVINCIAL_FAMOUS_BRAND_PRODUCT],
                effective_from="2006-08-29",
                region=REGIONS[name],
            ),
            timeout=60,
        )
    zj = FEATURED["zhejiang_brand"]
    fed.admin("zhejiang").ReportCase(
        entries_pb2.InfringementCase(
            case_id="zj-case-2026-01",
            protected_issuer=zj["issuer"],
            protected_record_id=zj["record_id"],
            reporting_region="330000",
            handling_region="330000",
            infringer_name="杭州某假冒作坊",
            case_type=entries_pb2.COUNTERFEIT,
            goods_value_fen=1_200_000,
            opened_on="2026-03-02",
        ),
        timeout=60,
    )


def _console_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/login", timeout=5) as resp:
            return resp.status == 200
    except OSError:
        return False


def start_console_site(root: Path, certs: Path) -> ConsoleSite:
    """The federation, loaded and converged on Anhui, and Anhui's console serving."""
    pki.init_federation(certs, "yrd", REGIONS)
    fed = Federation.create(
        root,
        REGIONS,
        {"anhui": ["zhejiang", "henan"], "henan": ["anhui"], "zhejiang": ["anhui"]},
        sync_interval=1.0,
        certs=certs,
    )
    try:
        fed.start_all()
        _load(fed)
        want = {fed.origin(n): fed.sizes(n)[fed.origin(n)] for n in REGIONS}

        def converged() -> bool:
            held = fed.sizes("anhui")
            return all(held.get(o, 0) >= n for o, n in want.items())

        wait_until(converged, SETUP_DEADLINE, "anhui mirrors zhejiang and henan")
        config = fed.configs["anhui"]
        with NodeClient.from_config(config) as c:
            wait_until(
                lambda: all(o.indexed == o.size for o in c.node_status().origins),
                SETUP_DEADLINE,
                "anhui indexes every log",
            )
        brandex("web", "cert", "--config", str(config), expect=0)
        for user in ("wang", "zhao", "locked"):
            proc = subprocess.run(
                brandex_command("web", "user", "add", user, "--password-stdin"),
                input=PASSWORD + "\n",
                env={**os.environ, "BRANDEX_CONFIG": str(config)},
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert proc.returncode == 0, proc.stderr
        port = free_port()
        log = open(root / "web.log", "ab")  # noqa: SIM115 - lives with the process
        proc = subprocess.Popen(
            brandex_command("web", "--config", str(config), "--listen", f"127.0.0.1:{port}"),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=root,
        )
    except BaseException:
        fed.stop_all()
        raise
    url = f"http://127.0.0.1:{port}"
    site = ConsoleSite(fed, url, proc, config, root / "db" / "anhui-web")
    try:

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(
                    f"brandex web exited with {proc.returncode}: "
                    + (root / "web.log").read_text(errors="replace")[-3000:]
                )
            return _console_up(url)

        wait_until(up, SETUP_DEADLINE, "the console to serve")
    except BaseException:
        site.stop()
        raise
    return site
