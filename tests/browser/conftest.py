"""Browser tests: headless Chromium (Debian's ``chromium``) driven by Playwright for Python.

Playwright, not Selenium: its pip wheel carries its own driver, so there is no
chromedriver whose version must match the browser; ``page.evaluate`` awaits a
JavaScript promise and returns its JSON, which is how the verifier's functions
are called directly; and its locators wait for conditions, so no test sleeps.
It is launched with ``executable_path`` (``/usr/bin/chromium``, or
``$BRANDEX_CHROMIUM``) and never downloads a browser (``.ci/run`` installs the
Debian package when it is missing).

The static files (``exchange/web/static``) are served from 127.0.0.1 on a port
chosen at run time, under the strict Content-Security-Policy the console will
send, so a page that needs inline script or style fails here first. Without
Chromium the tests skip, except under CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import http.server
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

STATIC = Path(__file__).resolve().parents[2] / "exchange" / "web" / "static"
# Same place as tests/unit/core/conftest.SHARED: the project's sibling shared/data.
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"

#: How long any one page wait may take (Playwright's own default is 30 s).
DEADLINE_MS = 1000 * float(os.environ.get("BRANDEX_TEST_DEADLINE", "90")) * 2

#: What the staff console will send with every page: no inline script or style.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def chromium_path() -> str | None:
    """Debian's chromium, or $BRANDEX_CHROMIUM; None when neither is there."""
    wanted = os.environ.get("BRANDEX_CHROMIUM")
    if wanted:
        return wanted if Path(wanted).exists() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _missing(why: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{why} (CI must run the browser tests: .ci/run installs chromium)")
    pytest.skip(why)


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {  # noqa: RUF012 - the stdlib class attribute this overrides
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".css": "text/css",
        ".html": "text/html; charset=utf-8",
        ".json": "application/json",
    }

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        pass


@pytest.fixture(scope="session")
def static_url() -> Iterator[str]:
    """Base URL of exchange/web/static served on 127.0.0.1 (port chosen by the OS)."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(_Handler, directory=str(STATIC))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless Chromium for the session."""
    exe = chromium_path()
    if exe is None:
        _missing("chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (make dev)")
    pw = sync_playwright().start()
    try:
        # --no-sandbox: tests run as root in CI, where Chromium's sandbox refuses to start.
        b = pw.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()
    finally:
        pw.stop()


@pytest.fixture
def page(browser, static_url: str) -> Iterator[object]:
    """A fresh context (empty localStorage) on the verify page; console errors fail the test."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    # Generous: the machine is shared and busy; waits are on conditions, never sleeps.
    context.set_default_timeout(DEADLINE_MS)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(f"{static_url}/verify.html")
    pg.wait_for_selector("body[data-state=ready]")
    yield pg
    context.close()
    assert errors == [], f"the page logged errors: {errors}"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared reference data not found at {SHARED}")
    return SHARED
