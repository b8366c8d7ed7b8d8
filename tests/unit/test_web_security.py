"""The console's safety rules, through its real ASGI app (FastAPI's TestClient, no node).

Login, CSRF, lock-out, session expiry (a clock the test moves: no sleeping),
security headers and the access log. The routes that show node data are
driven against real nodes in tests/e2e/test_console_api.py and the browser tests.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from exchange.store.web_users import WebUsers
from exchange.web.access_log import AccessLog
from exchange.web.app import Console, create_app
from exchange.web.security import CSP, Accounts, Sessions

PASSWORD = "correct horse"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def setup(tmp_path: Path):
    clock = Clock()
    users = WebUsers(tmp_path / "users.db")
    accounts = Accounts(users, clock)
    accounts.add("wang", "staff", PASSWORD)
    accounts.add("li", "auditor", PASSWORD)
    console = Console(
        client=None,  # type: ignore[arg-type]  # these routes never ask the node
        accounts=accounts,
        sessions=Sessions(b"k" * 32, clock, timedelta(minutes=30), secure=False),
        log=AccessLog(tmp_path / "access.jsonl", clock),
        clock=clock,
        node_name="anhui",
        region="340000",
    )
    http = TestClient(create_app(console), base_url="http://127.0.0.1", follow_redirects=False)
    yield http, console, clock
    users.close()
    console.log.close()


def csrf_of(http: TestClient) -> str:
    page = http.get("/login")
    assert page.status_code == 200
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def login(http: TestClient, name: str = "wang", password: str = PASSWORD, csrf: str | None = None):
    token = csrf_of(http) if csrf is None else csrf
    return http.post(
        "/login", data={"name": name, "password": password, "csrf": token, "next": "/agreements"}
    )


def test_every_route_needs_login(setup) -> None:
    http, _, _ = setup
    for path in ("/", "/check", "/cases", "/agreements", "/federation", "/record/1/x", "/verify"):
        r = http.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
    for path in ("/api/v1/search", "/api/v1/federation", "/api/v1/openapi.json"):
        assert http.get(path).status_code == 401, path
    assert http.get("/static/verify.html").status_code == 303
    assert http.get("/static/console.css").status_code == 200  # the login page's style
    assert http.get("/static/../app.py").status_code == 404


def test_login_sets_a_strict_session_cookie_and_logout_ends_it(setup) -> None:
    http, console, _ = setup
    r = login(http)
    assert r.status_code == 303 and r.headers["location"] == "/agreements"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    spec = http.get("/api/v1/openapi.json")
    assert spec.status_code == 200 and "/api/v1/search" in spec.json()["paths"]
    page = http.get("/login?next=/cases")
    assert page.status_code == 303  # already logged in
    assert http.get("/static/verify.html").status_code == 200
    session = console.sessions.load(http.cookies.get("brandex_session"))
    assert session is not None and session.user == "wang"
    assert http.post("/logout", data={"csrf": "forged"}).status_code == 403
    assert http.get("/api/v1/openapi.json").status_code == 200  # a forged logout did nothing
    assert http.post("/logout", data={"csrf": session.csrf}).status_code == 303
    assert http.get("/api/v1/openapi.json").status_code == 401


def test_wrong_password_and_forged_csrf_are_refused_and_logged(setup) -> None:
    http, console, _ = setup
    r = login(http, password="wrong password")
    assert r.status_code == 401 and "用户名或密码错误" in r.text
    r = login(http, csrf="forged-token")
    assert r.status_code == 403
    assert http.get("/api/v1/openapi.json").status_code == 401
    fresh = TestClient(http.app, base_url="http://127.0.0.1", follow_redirects=False)
    r = fresh.post("/login", data={"name": "wang", "password": PASSWORD, "csrf": ""})
    assert r.status_code == 403  # no session, no token: refused
    events = [(e["event"], e.get("user"), e.get("result")) for e in console.log.read()]
    assert ("login", "wang", "bad-password") in events
    assert events.count(("login", "wang", "csrf-refused")) == 2
    assert all(e["ip"] for e in console.log.read() if e["event"] == "login")


def test_lockout_after_five_failures_for_fifteen_minutes(setup) -> None:
    http, console, clock = setup
    for _ in range(4):
        assert login(http, password="nope").status_code == 401
    assert login(http, password="nope").status_code == 403  # the fifth locks
    r = login(http)  # even the right password, while locked
    assert r.status_code == 403 and http.get("/api/v1/openapi.json").status_code == 401
    assert login(http, "li").status_code == 303  # per user: li is not locked
    http.cookies.clear()
    clock.now += timedelta(minutes=15, seconds=1)
    assert login(http, password="nope").status_code == 401  # five more tries after a lock
    assert login(http).status_code == 303
    assert console.accounts.users.get("wang").failures == 0
    results = [e["result"] for e in console.log.read() if e.get("user") == "wang"]
    assert results.count("locked") == 2 and results[-1] == "ok"


def test_sessions_expire_by_the_injected_clock(setup) -> None:
    http, _, clock = setup
    assert login(http).status_code == 303
    assert http.get("/api/v1/openapi.json").status_code == 200
    clock.now += timedelta(minutes=29)
    assert http.get("/api/v1/openapi.json").status_code == 200
    clock.now += timedelta(minutes=2)
    assert http.get("/api/v1/openapi.json").status_code == 401


def test_removed_user_loses_the_session(setup) -> None:
    http, console, _ = setup
    assert login(http).status_code == 303
    console.accounts.users.remove("wang")
    assert http.get("/api/v1/openapi.json").status_code == 401


def test_forged_or_tampered_session_cookie_is_ignored(setup) -> None:
    http, console, _ = setup
    assert login(http).status_code == 303
    good = http.cookies.get("brandex_session")
    http.cookies.clear()
    http.cookies.set("brandex_session", good[:-2] + ("AA" if not good.endswith("AA") else "BB"))
    assert http.get("/api/v1/openapi.json").status_code == 401
    other = Sessions(b"x" * 32, console.clock, timedelta(minutes=30), False)
    http.cookies.clear()
    http.cookies.set("brandex_session", other.dump(other.new("wang", "staff")))
    assert http.get("/api/v1/openapi.json").status_code == 401


def test_security_headers_and_no_open_redirect(setup) -> None:
    http, _, _ = setup
    r = http.get("/login")
    assert r.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
    assert "frame-ancestors 'none'" in CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in r.text and " style=" not in r.text
    token = csrf_of(http)
    r = http.post(
        "/login",
        data={"name": "wang", "password": PASSWORD, "csrf": token, "next": "//evil.example/"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert http.get("/lang/en?next=https://evil.example/").headers["location"] == "/"


def test_language_switch_is_remembered(setup) -> None:
    http, _, _ = setup
    assert "登录" in http.get("/login").text
    r = http.get("/lang/en?next=/login")
    assert r.status_code == 303 and "brandex_lang=en" in r.headers["set-cookie"]
    assert "Log in" in http.get("/login").text and "登录" not in http.get("/login").text


def test_accounts_reject_bad_names_and_roles(setup) -> None:
    _, console, _ = setup
    with pytest.raises(ValueError):
        console.accounts.add("x", "admin", PASSWORD)
    with pytest.raises(ValueError):
        console.accounts.add(" padded", "staff", PASSWORD)
    stored = console.accounts.users.get("wang").password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
