"""The staff console: an ASGI app (FastAPI) of server-rendered pages and a read-only JSON API.

Why FastAPI (on Starlette): the JSON API must come with an OpenAPI description,
and FastAPI derives it from the typed route signatures, so the description
cannot drift from the code; Starlette underneath gives Jinja2 templates, cookies
and static files without another framework; uvicorn serves it (HTTP/1.1, TLS).
The pages work without JavaScript; ``search.js`` adds search-as-you-type and
``record.js`` verifies the record's bundle in the browser (``verify.js``).

Everything the console knows comes from its node through
:class:`exchange.client.NodeClient`, presenting a *staff* certificate (read
only). No protobuf here. The session, CSRF and lock-out rules are in
:mod:`exchange.web.security`; who asked what is written by
:mod:`exchange.web.access_log` from the one login check every route passes.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from exchange.client import NodeClient, RemoteError, RemoteNotFound, Unreachable
from exchange.client import types as t
from exchange.core import regions
from exchange.core.errors import BrandexError, NotFoundError, ValidationError
from exchange.core.parsing import ascii_int
from exchange.core.records import parse_date
from exchange.i18n import LANGS, translator
from exchange.web import views
from exchange.web.access_log import AccessLog
from exchange.web.security import SECURITY_HEADERS, Accounts, Session, Sessions, csrf_ok

__all__ = ["Console", "create_app"]

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"
LANG_COOKIE = "brandex_lang"
PAGE_SIZE = 20
#: At most this many regions are explained on a record page (one Check call each).
MAX_EXPLAINED = 12


@dataclass
class Console:
    """What the app needs, handed in: the node client, accounts, log and clock."""

    client: NodeClient
    accounts: Accounts
    sessions: Sessions
    log: AccessLog
    clock: Callable[[], datetime]
    node_name: str = ""
    region: str = ""


class NotLoggedIn(Exception):
    """Raised by the login check; pages redirect to the login form, the API answers 401."""


def _lang(request: Request) -> str:
    value = request.cookies.get(LANG_COOKIE, "zh")
    return value if value in LANGS else "zh"


def _safe_next(value: str | None) -> str:
    """Only a path on this site (no scheme, no //host): an open redirect is refused."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _ip(request: Request) -> str:
    return request.client.host if request.client else ""


def _today(console: Console) -> date:
    return console.clock().astimezone(UTC).date()


def _date(text: str | None, console: Console) -> str:
    """A date in any form the importer reads (2026/6/1, 2026年6月1日 ...) as YYYY-MM-DD."""
    from exchange.import_plan import normalise_date

    if not text or not text.strip():
        return _today(console).isoformat()
    value = normalise_date(text)
    parse_date(value, "on")
    return value


def _session_of(console: Console, request: Request) -> Session | None:
    return console.sessions.load(request.cookies.get(Sessions.COOKIE))


def _user(request: Request) -> Session:
    """The login check of every page and API route; it also logs the query."""
    console: Console = request.app.state.console
    session = _session_of(console, request)
    if session is None or not session.logged_in:
        raise NotLoggedIn()
    if console.accounts.users.get(session.user) is None:  # removed since login
        raise NotLoggedIn()
    console.log.query(session.user, request.url.path, dict(request.query_params), _ip(request))
    return session


# Module level: FastAPI reads these annotations from the module (postponed evaluation).
User = Annotated[Session, Depends(_user)]
Text = Annotated[str, Query(max_length=200)]
Offset = Annotated[int, Query(ge=0, le=10_000)]


class SearchQuery:
    """A search's query parameters: one definition for the search page and its API."""

    def __init__(
        self,
        q: Text = "",
        issuer: Text = "",
        region: Text = "",
        kind: Text = "",
        status: Text = "",
        nice_class: Text = "",
        offset: Offset = 0,
    ) -> None:
        self.q, self.offset = q, offset
        self.issuer, self.region, self.kind = issuer, region, kind
        self.status, self.nice_class = status, nice_class

    def filters(self) -> dict[str, str]:
        """The filters given, by name (for the page's links and facets)."""
        named = {
            "issuer": self.issuer,
            "region": self.region,
            "kind": self.kind,
            "status": self.status,
            "nice_class": self.nice_class,
        }
        return {k: v for k, v in named.items() if v}


class CasesQuery:
    """The cases listing's query parameters (page and API)."""

    def __init__(self, brand: Text = "", region: Text = "", open_only: bool = False) -> None:
        self.brand, self.region, self.open_only = brand, region, open_only


def create_app(console: Console) -> FastAPI:
    app = FastAPI(
        title="brandex staff console API",
        version="1",
        description=(
            "Read-only answers of a brandex node, as its staff console shows them. Every "
            "route needs a logged-in session (the console's login form)."
        ),
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.console = console
    templates = Jinja2Templates(directory=str(TEMPLATES))
    templates.env.autoescape = True

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        if console.sessions.secure:
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response

    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, exc: NotLoggedIn):
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "login required"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(BrandexError)
    async def brandex_error(request: Request, exc: BrandexError):
        status = 400
        if isinstance(exc, NotFoundError):
            status = 404
        elif isinstance(exc, Unreachable):
            status = 503
        elif isinstance(exc, RemoteError) and not isinstance(exc, ValidationError):
            status = 502
        message = exc.details if isinstance(exc, RemoteError) else str(exc)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=status)
        session = _session(request)
        return _render(request, session, "error.html", {"message": message}, status)

    def _session(request: Request) -> Session | None:
        return _session_of(console, request)

    user = _user

    def _render(
        request: Request,
        session: Session | None,
        template: str,
        data: dict[str, Any],
        status: int = 200,
    ) -> HTMLResponse:
        lang = _lang(request)
        fresh = session is None
        if session is None:
            session = console.sessions.new()
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        context = {
            "request": request,
            "tr": translator(lang),
            "lang": lang,
            "other_lang": "en" if lang == "zh" else "zh",
            "session": session,
            "here": here,
            "node": console.node_name,
            "node_region": views.region_text(console.region, lang) if console.region else "",
            **data,
        }
        response = templates.TemplateResponse(request, template, context, status_code=status)
        if fresh:
            response.set_cookie(value=console.sessions.dump(session), **_cookie(console))
        return response

    # ------------------------------------------------------------- login, language

    @app.get("/login", include_in_schema=False)
    def login_form(request: Request, next: str = "/") -> Response:
        session = _session(request)
        if session is not None and session.logged_in:
            return RedirectResponse(_safe_next(next), status_code=303)
        return _render(request, session, "login.html", {"next": _safe_next(next), "error": ""})

    @app.post("/login", include_in_schema=False)
    def login(
        request: Request,
        name: Annotated[str, Form(max_length=64)] = "",
        password: Annotated[str, Form(max_length=1024)] = "",
        csrf: Annotated[str, Form(max_length=256)] = "",
        next: Annotated[str, Form(max_length=2048)] = "/",
    ) -> Response:
        tr = translator(_lang(request))
        session = _session(request)
        if not csrf_ok(session, csrf):
            console.log.login(name, "csrf-refused", _ip(request))
            return _render(request, None, "login.html", {"next": "/", "error": tr(_CSRF_TEXT)}, 403)
        result = console.accounts.login(name, password)
        console.log.login(name, result.outcome, _ip(request))
        if result.user is None:
            text = (
                tr("Too many failed logins: this account is locked for 15 minutes.")
                if result.outcome == "locked"
                else tr("Wrong user name or password.")
            )
            status = 403 if result.outcome == "locked" else 401
            return _render(
                request, session, "login.html", {"next": _safe_next(next), "error": text}, status
            )
        fresh = console.sessions.new(result.user.name, result.user.role)
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.set_cookie(value=console.sessions.dump(fresh), **_cookie(console))
        return response

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request, csrf: Annotated[str, Form(max_length=256)] = "") -> Response:
        session = _session(request)
        if not csrf_ok(session, csrf):
            tr = translator(_lang(request))
            return _render(request, session, "error.html", {"message": tr(_CSRF_TEXT)}, 403)
        assert session is not None
        console.log.write("logout", user=session.user, ip=_ip(request))
        response = RedirectResponse("/login", status_code=303)
        response.set_cookie(value=console.sessions.dump(console.sessions.new()), **_cookie(console))
        return response

    @app.get("/lang/{lang}", include_in_schema=False)
    def switch_language(lang: str, next: str = "/") -> Response:
        response = RedirectResponse(_safe_next(next), status_code=303)
        if lang in LANGS:
            response.set_cookie(
                LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict", path="/", httponly=True
            )
        return response

    # ------------------------------------------------------------------ the answers

    def search_data(request: Request, p: SearchQuery) -> dict[str, Any]:
        lang = _lang(request)
        found = console.client.search(
            p.q,
            issuer=p.issuer or None,
            region=p.region or None,
            kind=p.kind or None,
            status=p.status or None,
            nice_class=ascii_int(p.nice_class, max_digits=2),
            limit=PAGE_SIZE,
            offset=p.offset,
            today=_today(console),
            facets=True,
        )
        data = views.search_view(found, p.q, p.filters(), lang, translator(lang))
        data["offset"] = p.offset
        data["page_size"] = PAGE_SIZE
        return data

    def record_data(request: Request, issuer: str, record_id: str) -> dict[str, Any]:
        lang = _lang(request)
        today = _today(console)
        history = console.client.record(issuer, record_id, today)
        # The issuer's own jurisdiction is implied by the node's list (recognised_in names
        # agreement partners only): ask about it too, and show the regions answering yes.
        asked = [history.view.issuer, *history.view.recognised_in][:MAX_EXPLAINED]
        why: dict[str, list[t.CheckResult]] = {}
        for region in dict.fromkeys(asked):
            answers = console.client.check(region, today, record=(issuer, record_id))
            if any(a.recognised for a in answers):
                why[region] = answers
        return views.record_view(history, why, lang, translator(lang))

    def check_data(
        request: Request, brand: str, record: str, region: str, on: str
    ) -> dict[str, Any]:
        lang = _lang(request)
        code = regions.resolve_region(region, "region")
        when = _date(on, console)
        if record.strip():
            issuer, _, rid = record.strip().partition("/")
            if not rid:  # a bare record id: every issuer holding one with that id
                held = console.client.issuers_holding(issuer, _today(console))
                if not held:
                    raise NotFoundError(f"no record {issuer} is held by this node")
                results = [
                    r
                    for h in held
                    for r in console.client.check(
                        code, when, record=(h.view.issuer, h.view.record.record_id)
                    )
                ]
            else:
                results = console.client.check(code, when, record=(issuer, rid))
        elif brand.strip():
            results = console.client.check(code, when, brand=brand.strip())
        else:
            raise ValidationError("brand", "give a brand or a record")
        return views.check_view(results, code, when, lang, translator(lang))

    def cases_data(request: Request, p: CasesQuery) -> dict[str, Any]:
        lang = _lang(request)
        code = regions.resolve_region(p.region, "region") if p.region.strip() else None
        found = console.client.cases(brand=p.brand or None, region=code, open_only=p.open_only)
        return views.cases_view(found, lang, translator(lang))

    def agreements_data(request: Request) -> dict[str, Any]:
        lang = _lang(request)
        return views.agreements_view(console.client.agreements(), lang, translator(lang))

    def federation_data(request: Request) -> dict[str, Any]:
        lang = _lang(request)
        status = console.client.node_status()
        heads = console.client.origins()
        return views.federation_view(status, heads, console.clock(), lang, translator(lang))

    # ------------------------------------------------------------------------ pages

    @app.get("/", include_in_schema=False)
    def search_page(
        request: Request, session: User, p: Annotated[SearchQuery, Depends()]
    ) -> HTMLResponse:
        data = search_data(request, p)
        return _render(request, session, "search.html", {"result": data, "page": "search"})

    @app.get("/record/{issuer}/{record_id}", include_in_schema=False)
    def record_page(request: Request, session: User, issuer: str, record_id: str) -> HTMLResponse:
        data = record_data(request, issuer, record_id)
        return _render(request, session, "record.html", {"record": data, "page": "search"})

    @app.get("/check", include_in_schema=False)
    def check_page(
        request: Request,
        session: User,
        brand: Text = "",
        record: Text = "",
        region: Text = "",
        on: Text = "",
    ) -> HTMLResponse:
        form = {"brand": brand, "record": record, "region": region, "on": on}
        answer, error = None, ""
        if region.strip() and (brand.strip() or record.strip()):
            try:
                answer = check_data(request, brand, record, region, on)
            except (ValidationError, RemoteNotFound, NotFoundError) as exc:
                error = exc.details if isinstance(exc, RemoteError) else str(exc)
        return _render(
            request,
            session,
            "check.html",
            {"form": form, "answer": answer, "error": error, "page": "check"},
        )

    @app.get("/cases", include_in_schema=False)
    def cases_page(
        request: Request, session: User, p: Annotated[CasesQuery, Depends()]
    ) -> HTMLResponse:
        data = cases_data(request, p)
        form = {"brand": p.brand, "region": p.region, "open_only": p.open_only}
        return _render(
            request, session, "cases.html", {"data": data, "form": form, "page": "cases"}
        )

    @app.get("/agreements", include_in_schema=False)
    def agreements_page(request: Request, session: User) -> HTMLResponse:
        data = agreements_data(request)
        return _render(request, session, "agreements.html", {"data": data, "page": "agreements"})

    @app.get("/federation", include_in_schema=False)
    def federation_page(request: Request, session: User) -> HTMLResponse:
        data = federation_data(request)
        return _render(request, session, "federation.html", {"data": data, "page": "federation"})

    @app.get("/verify", include_in_schema=False)
    def verify_page(session: User) -> Response:
        return RedirectResponse("/static/verify.html", status_code=303)

    @app.get("/static/{name}", include_in_schema=False)
    def static(request: Request, name: str) -> Response:
        """The console's files; pages (``.html``) need a login, scripts and styles do not."""
        path = (STATIC / name).resolve()
        if path.parent != STATIC or not path.is_file():
            return Response("not found", status_code=404, media_type="text/plain")
        if path.suffix == ".html":
            user(request)
        media = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}.get(
            path.suffix
        ) or (mimetypes.guess_type(path.name)[0] or "application/octet-stream")
        if media.startswith("text/"):
            media += "; charset=utf-8"
        return Response(path.read_bytes(), media_type=media)

    # -------------------------------------------------------------------- JSON API

    @app.get("/api/v1/search", tags=["registry"], summary="Search records (the search page)")
    def api_search(
        request: Request, session: User, p: Annotated[SearchQuery, Depends()]
    ) -> dict[str, Any]:
        return search_data(request, p)

    @app.get(
        "/api/v1/records/{issuer}/{record_id}",
        tags=["registry"],
        summary="One record: fields, lifecycle, where recognised and why, cases (record page)",
    )
    def api_record(request: Request, session: User, issuer: str, record_id: str) -> dict[str, Any]:
        return record_data(request, issuer, record_id)

    @app.get(
        "/api/v1/records/{issuer}/{record_id}/bundle",
        tags=["audit"],
        summary="The record's evidence bundle (brandex.bundle/v1), exactly as the node wrote it",
    )
    def api_bundle(session: User, issuer: str, record_id: str) -> Response:
        text = console.client.bundle(issuer, record_id)
        return Response(text, media_type="application/json")

    @app.get("/api/v1/check", tags=["registry"], summary="Is it recognised here? (check page)")
    def api_check(
        request: Request,
        session: User,
        region: Annotated[str, Query(max_length=200, description="code or name: 安徽省")],
        brand: Text = "",
        record: Text = "",
        on: Text = "",
    ) -> dict[str, Any]:
        return check_data(request, brand, record, region, on)

    @app.get("/api/v1/cases", tags=["registry"], summary="Counterfeit cases (cases page)")
    def api_cases(
        request: Request, session: User, p: Annotated[CasesQuery, Depends()]
    ) -> dict[str, Any]:
        return cases_data(request, p)

    @app.get("/api/v1/agreements", tags=["registry"], summary="Agreements (agreements page)")
    def api_agreements(request: Request, session: User) -> dict[str, Any]:
        return agreements_data(request)

    @app.get("/api/v1/federation", tags=["federation"], summary="Federation (federation page)")
    def api_federation(request: Request, session: User) -> dict[str, Any]:
        return federation_data(request)

    @app.get("/api/v1/openapi.json", include_in_schema=False)
    def openapi(session: User) -> dict[str, Any]:
        return app.openapi()

    return app


_CSRF_TEXT = "The form expired or did not come from this console (CSRF check); please try again."


def _cookie(console: Console) -> dict[str, Any]:
    return console.sessions.cookie_args()


def page_api_routes() -> dict[str, str]:
    """Each page and the API route that gives its data (tests check the OpenAPI has them)."""
    return {
        "/": "/api/v1/search",
        "/record/{issuer}/{record_id}": "/api/v1/records/{issuer}/{record_id}",
        "/check": "/api/v1/check",
        "/cases": "/api/v1/cases",
        "/agreements": "/api/v1/agreements",
        "/federation": "/api/v1/federation",
    }
