"""The staff console in headless Chromium against a real federation (issue 13, item 6).

One federation and one ``brandex web`` process for the module (console_site.py):
log in; search 宋河, songhe, shly and 宋河糧液 as you type; click a facet; open a
record and verify it in the browser; ask "is it recognised here?" for 安徽省 and
河南省 and read the reasons; a tampered bundle on the verify page; English;
log out; a wrong password, a forged CSRF token and a locked-out user are
refused. ``BRANDEX_UPDATE_SCREENSHOTS=1`` writes the pages to docs/img/console-*.png.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import DEADLINE_MS
from console_site import PASSWORD, ConsoleSite, start_console_site

pytestmark = pytest.mark.e2e

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
SONGHE = "/record/410000/hn-2024-0001"
HANGRUI = "/record/330000/zj-2025-0001"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, browser) -> Iterator[ConsoleSite]:
    root = tmp_path_factory.mktemp("console")
    s = start_console_site(root, root / "certs")
    yield s
    s.stop()


def _new_page(browser, site: ConsoleSite, lang: str = "zh-CN"):
    context = browser.new_context(locale=lang, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(DEADLINE_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return context, page, errors


def _login(page, site: ConsoleSite, user: str = "wang", password: str = PASSWORD) -> None:
    page.goto(f"{site.url}/login")
    page.fill("#name", user)
    page.fill("#password", password)
    page.click("#login")


@pytest.fixture
def staff(browser, site: ConsoleSite):
    """A logged-in page (its own browser context); console errors fail the test."""
    context, page, errors = _new_page(browser, site)
    _login(page, site)
    page.wait_for_selector("#q")
    yield page
    context.close()
    assert errors == [], f"the page logged errors: {errors}"


def _shot(page, name: str, tmp_path: Path) -> None:
    where = DOCS_IMG if os.environ.get("BRANDEX_UPDATE_SCREENSHOTS") == "1" else tmp_path
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"console-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000


def _type_query(page, text: str, site: ConsoleSite) -> None:
    """Type ``text`` and wait until the page has answered it; a failed search fails
    here at once, with the page's message and the console's and node's log tails."""
    page.wait_for_selector("#results[data-state]")  # search.js has run: typing is heard
    box = page.locator("#q")
    box.fill("")
    box.press_sequentially(text)
    state = page.wait_for_function(
        "q => { const r = document.getElementById('results');"
        " return r.dataset.query === q && ['done', 'error'].includes(r.dataset.state)"
        " && r.dataset.state; }",
        arg=text,
    ).json_value()
    if state != "done":
        message = page.locator("#search-error").inner_text()
        web = (site.fed.root / "web.log").read_text(errors="replace")[-3000:]
        node = site.fed.log_text("anhui")[-3000:]
        raise AssertionError(f"search {text!r}: {message}\n--- web.log\n{web}\n--- anhui\n{node}")


def _hit_names(page) -> list[str]:
    return page.locator("#hits .brand-name").all_inner_texts()


def test_search_as_you_type_facets_and_record_verified_in_browser(staff, site, tmp_path) -> None:
    page = staff
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "搜索" in page.locator("nav").inner_text()
    for query in ("宋河", "songhe", "shly", "宋河糧液"):
        _type_query(page, query, site)
        names = _hit_names(page)
        assert "宋河粮液" in names, (query, names)
        first = page.locator("#hits li").filter(has_text="宋河粮液").first
        assert first.locator("mark").count() >= 1, query  # the matched characters
    assert page.locator("#hits li").filter(has_text="宋河粮液").first.locator(
        "mark"
    ).inner_text() in ("宋河粮液", "宋河")
    assert re.search(r"q=%E5%AE%8B", page.url)  # the address follows the query

    # A facet: issuer 浙江省 narrows an empty query to Zhejiang's records.
    _type_query(page, "", site)
    facet = page.locator("#facets a[data-field=issuer][data-value='330000']")
    count = int(facet.locator(".count").inner_text())
    assert count >= 2
    facet.click()
    page.wait_for_url(re.compile(r"issuer=330000"))
    assert page.locator("#facets a.active[data-field=issuer]").count() == 1
    assert page.locator("#hits li").count() == min(count, 20)
    assert all("浙江省" in m for m in page.locator("#hits .meta").all_inner_texts()[::2])
    _type_query(page, "杭瑞", site)
    _shot(page, "search", tmp_path)
    page.locator("#hits .brand-name").filter(has_text="杭瑞").first.click()

    # The record page: fields, lifecycle, recognised where and why, cases, verification.
    page.wait_for_url(re.compile(HANGRUI))
    assert "杭瑞" in page.locator("#record-title").inner_text()
    fields = page.locator("#fields").inner_text()
    assert "zj-2025-0001" in fields and "浙江省" in fields and "统一社会信用代码" in fields
    timeline = page.locator("#timeline").inner_text()
    assert "yrd/330000 #" in timeline and "签名密钥" in timeline and "见证时间" in timeline
    recognised = page.locator("#recognised").inner_text()
    assert "安徽省" in recognised and "yrd-2006" in recognised and "互认协议" in recognised
    assert "浙江省" in recognised and "签发机关辖区内" in recognised  # its own jurisdiction
    assert "杭州某假冒作坊" in page.locator("table.cases").inner_text()
    page.wait_for_selector("#verify[data-state=valid]")
    assert page.locator("#verdict").inner_text().startswith("已在本浏览器中验证")
    assert (
        page.locator("#checks tr[data-check=dsse-signature]")
        .first.inner_text()
        .startswith("DSSE 签名")
    )
    results = page.locator("#checks td.ok").count()
    assert results >= 5 and page.locator("#checks td.bad").count() == 0
    fps = page.locator("#keys td.fp").all_inner_texts()
    assert fps and all(re.fullmatch(r"([0-9a-f]{4} ){15}[0-9a-f]{4}", fp) for fp in fps)
    _shot(page, "record", tmp_path)


def _ask(page, site: ConsoleSite, region: str, brand: str = "", record: str = ""):
    page.goto(f"{site.url}/check")
    page.fill("#brand", brand)
    page.fill("#record", record)
    page.fill("#region", region)
    page.fill("#on", "2026年6月1日")
    page.click("#ask")
    page.wait_for_selector("#answer, #check-error")
    return page.locator("#answer")


def test_a_refused_search_is_shown_not_left_typing(browser, site) -> None:
    """The API refuses a query over 200 characters (422): the page says so and its
    state is "error"; the next good query clears the message. A search after the
    session ended (401) goes to the login page and back."""
    context, page, errors = _new_page(browser, site)
    try:
        _login(page, site)
        box = page.locator("#q")
        box.fill("宋" * 201)
        page.wait_for_selector("#results[data-state=error]")
        message = page.locator("#search-error").inner_text()
        assert message.startswith("搜索失败："), message
        assert "200" in message, message  # FastAPI's detail names the limit
        _type_query(page, "songhe", site)
        assert page.locator("#search-error").count() == 0
        assert "宋河粮液" in _hit_names(page)

        # The session ends while the page is open: the next search goes to the login
        # page, which brings the person back to that search.
        context.clear_cookies()
        box.fill("shly")
        page.wait_for_url(re.compile(r"/login\?next="))
        page.fill("#name", "wang")
        page.fill("#password", PASSWORD)
        page.click("#login")
        page.wait_for_url(re.compile(r"/\?q=shly"))
        assert "宋河粮液" in _hit_names(page)
    finally:
        context.close()
    assert any("422" in e for e in errors), errors  # the browser's own report of the refusal


def test_text_typed_before_the_script_loads_is_searched(browser, site) -> None:
    """search.js is held back while the query is typed (a slow network, a busy
    machine): once it runs it searches what is already in the box."""
    context, page, errors = _new_page(browser, site)
    held: list = []
    try:
        _login(page, site)
        page.wait_for_selector("#results[data-state=ready]")
        page.route("**/static/search.js", lambda route: held.append(route))
        page.goto(f"{site.url}/", wait_until="commit")
        page.wait_for_selector("#q")
        page.wait_for_function("() => true")  # the page is live; the script is not
        assert page.locator("#results").get_attribute("data-state") is None
        page.locator("#q").press_sequentially("songhe")
        assert held, "the page asked for search.js"
        held[0].continue_()
        page.wait_for_function(
            "() => document.getElementById('results').dataset.state === 'done'"
            " && document.getElementById('results').dataset.query === 'songhe'"
        )
        assert "宋河粮液" in _hit_names(page)
    finally:
        context.close()
    assert errors == [], errors


def test_is_it_recognised_here(staff, site, tmp_path) -> None:
    page = staff
    answer = _ask(page, site, "安徽省", brand="宋河粮液")
    text = answer.inner_text()
    assert "否，不获认可" in text and "宋河粮液" in text
    assert answer.locator("li[data-code=issuer-not-party]").count() == 1
    assert "签发机关未加入协议" in text and "yrd-2006" in text

    text = _ask(page, site, "河南省", brand="宋河粮液").inner_text()
    assert "是，获认可" in text and "签发机关辖区内" in text and "2026-06-01" in text

    answer = _ask(page, site, "安徽省", record="330000/zj-2025-0001")
    text = answer.inner_text()
    assert "是，获认可" in text and "yrd-2006" in text
    assert answer.locator("li[data-code=agreement]").count() == 1
    _shot(page, "check", tmp_path)

    text = _ask(page, site, "河南省", brand="杭瑞").inner_text()
    assert "否，不获认可" in text and "无互认协议" in text

    page.goto(f"{site.url}/check?brand=x&region=火星省")
    assert "火星省" in page.locator("#check-error").inner_text()


def test_cases_agreements_and_federation_pages(staff, site, tmp_path) -> None:
    page = staff
    page.goto(f"{site.url}/agreements")
    section = page.locator("#agreement-yrd-2006").inner_text()
    assert "浙江省" in section and "安徽省" in section and "2006-08-29" in section
    assert "省名牌产品" in section
    page.goto(f"{site.url}/cases")
    assert "杭州某假冒作坊" in page.locator("table.cases").inner_text()
    page.goto(f"{site.url}/federation")
    origins = page.locator("#origins").inner_text()
    for origin in ("yrd/330000", "yrd/340000", "yrd/410000"):
        assert origin in origins
    assert (
        "yrd/330000" in page.locator("#peers").inner_text()
        or "浙江省" in page.locator("#peers").inner_text()
    )
    assert page.locator("#frozen-none").count() == 1
    _shot(page, "federation", tmp_path)


def test_verify_page_names_the_failing_check(staff, site) -> None:
    page = staff
    bundle = page.request.get(f"{site.url}/api/v1/records/410000/hn-2024-0001/bundle").text()
    doc = json.loads(bundle)
    assert doc["format"] == "brandex.bundle/v1"
    # One flipped bit in the record's DSSE signature (the leaf is the envelope's JSON text).
    env = json.loads(doc["leaf"])
    raw = bytearray(base64.b64decode(env["signatures"][0]["sig"]))
    raw[5] ^= 0x01
    env["signatures"][0]["sig"] = base64.b64encode(bytes(raw)).decode()
    bad = json.dumps(
        dict(doc, leaf=json.dumps(env, separators=(",", ":"), sort_keys=True)), ensure_ascii=False
    )
    page.goto(f"{site.url}/verify")
    page.wait_for_url(re.compile(r"/static/verify\.html"))
    page.wait_for_selector("body[data-state=ready]")
    page.set_input_files(
        "#file",
        files=[{"name": "tampered.json", "mimeType": "application/json", "buffer": bad.encode()}],
    )
    page.wait_for_selector("body[data-state=done]")
    verdict = page.locator("#verdict")
    assert verdict.get_attribute("data-valid") == "false"
    assert page.locator("#checks tr.failed").count() == 1
    failed = page.locator("#checks tr.failed").get_attribute("data-check")
    assert failed == "dsse-signature" and "dsse-signature" in verdict.inner_text()


def test_english_switch_and_logout(staff, site) -> None:
    page = staff
    page.goto(f"{site.url}{SONGHE}")
    page.wait_for_selector("#verify[data-state=valid]")
    page.click("#lang-switch")
    page.wait_for_selector("html[lang=en]")
    assert page.url.endswith(SONGHE)
    assert "Where it is recognised today, and why" in page.locator("main").inner_text()
    assert "Henan" not in page.locator("#fields").inner_text()  # names stay Chinese
    assert "河南省 (410000)" in page.locator("#fields").inner_text()
    page.wait_for_selector("#verify[data-state=valid]")
    assert page.locator("#verdict").inner_text().startswith("Verified in this browser")
    page.goto(f"{site.url}/")
    assert "Search" in page.locator("nav").inner_text()  # remembered (cookie)
    page.click("#logout")
    page.wait_for_url(re.compile(r"/login"))
    page.goto(f"{site.url}/federation")
    page.wait_for_url(re.compile(r"/login\?next=(%2F|/)federation"))
    assert page.request.get(f"{site.url}/api/v1/search?q=x").status == 401


def test_wrong_password_forged_csrf_and_lockout_are_refused(browser, site, tmp_path) -> None:
    context, page, _ = _new_page(browser, site)
    try:
        page.goto(f"{site.url}/login")
        _shot(page, "login", tmp_path)
        _login(page, site, "zhao", "wrong-password")
        assert "用户名或密码错误" in page.locator("#login-error").inner_text()
        assert page.locator("#q").count() == 0

        page.goto(f"{site.url}/login")
        page.fill("#name", "zhao")
        page.fill("#password", PASSWORD)
        page.evaluate("document.querySelector('input[name=csrf]').value = 'forged'")
        page.click("#login")
        assert "CSRF" in page.locator("#login-error").inner_text()
        assert page.locator("#q").count() == 0

        for _ in range(5):
            _login(page, site, "locked", "not-the-password")
            page.wait_for_selector("#login-error")
        _login(page, site, "locked", PASSWORD)
        assert "已锁定 15 分钟" in page.locator("#login-error").inner_text()
        assert page.locator("#q").count() == 0

        _login(page, site, "zhao", PASSWORD)  # the right password still works for zhao
        page.wait_for_selector("#q")
    finally:
        context.close()
    log = [json.loads(line) for line in (site.state / "access.jsonl").read_text().splitlines()]
    results = {(e.get("user"), e.get("result")) for e in log if e["event"] == "login"}
    assert {("zhao", "bad-password"), ("zhao", "csrf-refused"), ("locked", "locked")} <= results
    queries = [e for e in log if e["event"] == "query" and e["route"] == "/api/v1/search"]
    assert any(e["user"] == "wang" and e["params"].get("q") == "shly" for e in queries)
    assert all(e["ip"] == "127.0.0.1" for e in log if "ip" in e)


def test_console_serves_tls_when_configured(site, tmp_path) -> None:
    """With ``[web] tls_cert``/``tls_key`` the console speaks HTTPS only: the session
    cookie is ``Secure``, HSTS is sent, and plain HTTP on that port gets no page."""
    import ssl
    import subprocess
    import urllib.error
    import urllib.request

    from harness import free_port, wait_until

    from exchange.demo.federation import brandex_command
    from exchange.node.config import load_config

    node = load_config(site.config)
    tls_config = site.config.with_name("anhui-web-tls.toml")
    tls_config.write_text(
        site.config.read_text()
        + f'\n[web]\ntls_cert = "{node.tls_cert}"\ntls_key = "{node.tls_key}"\n'
        + f'state = "{tmp_path / "web-tls"}"\n'
    )
    port = free_port()
    log = open(tmp_path / "web-tls.log", "ab")  # noqa: SIM115 - lives with the process
    proc = subprocess.Popen(
        brandex_command("web", "--config", str(tls_config), "--listen", f"127.0.0.1:{port}"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    trust = ssl.create_default_context(cafile=str(node.anchors[0]))
    answers: list = []

    def served() -> bool:
        assert proc.poll() is None, (tmp_path / "web-tls.log").read_text(errors="replace")
        try:
            resp = urllib.request.urlopen(
                f"https://127.0.0.1:{port}/login", context=trust, timeout=5
            )
        except OSError:
            return False
        answers.append(resp)
        return True

    try:
        wait_until(served, 120, "the console to serve HTTPS")
        resp = answers[-1]
        assert resp.status == 200
        cookies = resp.headers.get_all("Set-Cookie") or []
        assert cookies and all("Secure" in c and "HttpOnly" in c for c in cookies)
        assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()
