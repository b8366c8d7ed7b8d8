"""The staff console's latency: the search page and the JSON search, server side, and the
time to first render in headless Chromium, on a node holding N records (1M by default).

A real node process serves the database (built as search_bench builds it) and a real
``brandex web`` process serves the console, reading from the node with a staff
certificate. Figures are client-side wall times over loopback HTTP with a kept-alive
connection, so they include the console's own gRPC call; the raw limit beside them is
the same query asked of the node directly over gRPC (what the console adds is the
difference).
"""

from __future__ import annotations

import random
import re
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import emit, wait
from bench.search_bench import _percentiles, query_forms, zhejiang_database
from exchange import pki
from exchange._proto.brandex.v1 import services_pb2, services_pb2_grpc
from exchange.demo.federation import brandex_command
from exchange.ports import free_port
from exchange.store import Store

PASSWORD = "bench-password-1"


def _console(root: Path, config: Path) -> tuple[subprocess.Popen, str]:
    from exchange.node.config import load_config
    from exchange.web.server import open_accounts, web_files

    cfg = load_config(config)
    files = web_files(cfg)
    pki.issue_staff_certificate(root / "certs", cfg.region, files.staff_cert.parent, "bench")
    accounts = open_accounts(cfg)
    if accounts.users.get("bench") is None:
        accounts.add("bench", "staff", PASSWORD)
    accounts.users.close()
    port = free_port()
    log = open(root / "web.log", "ab")  # noqa: SIM115 - lives with the process
    proc = subprocess.Popen(
        brandex_command("web", "--config", str(config), "--listen", f"127.0.0.1:{port}"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return proc, f"http://127.0.0.1:{port}"


def _login(http, url: str) -> None:
    page = http.get(f"{url}/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = http.post(f"{url}/login", data={"name": "bench", "password": PASSWORD, "csrf": csrf})
    assert r.status_code == 303, r.status_code


def _timed(fn, queries: list[str]) -> dict[str, float]:
    lat = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        lat.append(time.perf_counter() - t)
    return _percentiles(lat)


def _first_render(url: str, cookie: str, queries: list[str]) -> dict[str, float] | str:
    """Milliseconds from navigation start to the first contentful paint of the search page."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))
    try:
        from conftest import chromium_path
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        return f"skipped: {exc}"
    exe = chromium_path()
    if exe is None:
        return "skipped: no chromium"
    samples = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox"])
        context = browser.new_context()
        context.add_cookies([{"name": "brandex_session", "value": cookie, "url": url}])
        page = context.new_page()
        for q in queries:
            page.goto(f"{url}/?q={q}")
            fcp = page.evaluate(
                "() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime"
            )
            if fcp:
                samples.append(fcp / 1000)
        browser.close()
    return _percentiles(samples) if samples else "no paint timing"


def run(
    n: int = 1_000_000, per_query: int = 200, renders: int = 20, keep: Path | None = None
) -> dict:
    """``keep``: a folder to build the database in once and reuse on later runs (the
    same folder ``python -m bench.search_bench N DIR`` uses)."""
    import httpx2 as httpx

    with tempfile.TemporaryDirectory() as tmp:
        root = keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        nodes, db, _ = zhejiang_database(root, n, keep is not None)
        store = Store(db)
        brands = [
            r[0] for r in store.read.execute("SELECT brand_name FROM records WHERE rowid % 997 = 0")
        ]
        store.close()
        forms = query_forms(brands, random.Random(7))
        queries = {k: forms[k][:per_query] for k in ("hanzi", "pinyin", "initials")}
        web = None
        try:
            nodes.start("zhejiang")
            web, url = _console(root, nodes.configs["zhejiang"])
            http = httpx.Client(follow_redirects=False, timeout=60)

            def serving() -> bool:
                try:
                    return http.get(f"{url}/login").status_code == 200
                except httpx.TransportError:
                    return False

            wait(serving, 120, "console", 0.2)
            _login(http, url)
            stub = services_pb2_grpc.RegistryServiceStub(nodes.channel("zhejiang"))

            def grpc_search(q: str) -> None:
                stub.Search(services_pb2.SearchRequest(text=q, limit=20, facets=True), timeout=30)

            def page(q: str) -> None:
                assert http.get(f"{url}/", params={"q": q}).status_code == 200

            def api(q: str) -> None:
                assert http.get(f"{url}/api/v1/search", params={"q": q}).status_code == 200

            figures: dict[str, object] = {"records": n}
            for form, qs in queries.items():
                figures[f"grpc_search_facets_{form}"] = _timed(grpc_search, qs)
                figures[f"page_{form}"] = _timed(page, qs)
                figures[f"json_{form}"] = _timed(api, qs)
            cookie = http.cookies.get("brandex_session")
            figures["first_render"] = _first_render(url, cookie, queries["hanzi"][:renders])
            figures["targets"] = {"page_p99_ms": 50}
            http.close()
        finally:
            if web is not None and web.poll() is None:
                web.terminate()
                web.wait(timeout=60)
            nodes.stop()
    emit("console", **figures)
    return figures


if __name__ == "__main__":
    import sys

    run(
        int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000,
        keep=Path(sys.argv[2]) if len(sys.argv) > 2 else None,
    )
