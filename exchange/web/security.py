"""Sessions, CSRF tokens, passwords, lock-out and the security headers of the console.

Rules, in one place:

* a **session** is a cookie signed with the console's secret (itsdangerous,
  HMAC-SHA1 over the payload; the payload is not secret, only unforgeable):
  ``{"u": user, "r": role, "c": csrf token, "x": expiry}``. Expiry is checked
  against the injected clock, never against the cookie's own timestamp, so tests
  expire sessions without sleeping. ``HttpOnly``, ``SameSite=Strict``, and
  ``Secure`` when the console serves TLS. A visitor who is not logged in gets a
  session without a user, which carries the CSRF token of the login form;
* every POST form carries that token in a hidden field (synchronizer token);
  the server compares it with the session's, in constant time;
* passwords are hashed with **argon2id** (argon2-cffi's defaults, RFC 9106's
  second recommended parameters); an unknown user name costs the same work;
* **lock-out**: 5 failed logins in a row lock the account for 15 minutes (per
  user, stored with the account, so a restart does not reset it);
* **headers**: a Content-Security-Policy with no inline script or style,
  ``frame-ancestors 'none'``, nosniff, no referrer, no caching of answers.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, URLSafeSerializer

from exchange.store.web_users import WebUser, WebUsers

__all__ = [
    "CSP",
    "LOCKOUT",
    "MAX_FAILURES",
    "ROLES",
    "SECURITY_HEADERS",
    "Accounts",
    "LoginResult",
    "Session",
    "Sessions",
    "csrf_ok",
    "hash_password",
]

ROLES = ("staff", "auditor")
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)

#: No inline script, no inline style, nothing from elsewhere; fetch() only to itself.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_HASHER = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4
#: Verified against when the user name is unknown, so both cases cost one hash.
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    """The argon2id hash (PHC string, salt included) stored for an account."""
    if not password:
        raise ValueError("a password must not be empty")
    return _HASHER.hash(password)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


@dataclass(frozen=True)
class LoginResult:
    user: WebUser | None
    outcome: str  # "ok", "bad-password", "unknown-user", "locked"
    locked_until: str = ""


class Accounts:
    """Login with lock-out over the console's user store."""

    def __init__(self, users: WebUsers, clock: Callable[[], datetime]) -> None:
        self.users = users
        self.clock = clock

    def add(self, name: str, role: str, password: str) -> WebUser:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if not name or len(name) > 64 or not name.isprintable() or name.strip() != name:
            raise ValueError("a user name is 1 to 64 printable characters, no outer spaces")
        return self.users.add(name, role, hash_password(password), _iso(self.clock()))

    def login(self, name: str, password: str) -> LoginResult:
        user = self.users.get(name)
        now = self.clock()
        if user is None:
            _verify(_DUMMY_HASH, password)
            return LoginResult(None, "unknown-user")
        failures = user.failures
        if user.locked_until:
            if now < datetime.fromisoformat(user.locked_until):
                return LoginResult(None, "locked", user.locked_until)
            failures = 0  # the lock ran out: five more tries
        if not _verify(user.password_hash, password):
            failures += 1
            locked = _iso(now + LOCKOUT) if failures >= MAX_FAILURES else ""
            self.users.record_failure(name, failures, locked)
            return LoginResult(None, "locked" if locked else "bad-password", locked)
        self.users.record_success(name)
        if _HASHER.check_needs_rehash(user.password_hash):
            self.users.set_password(name, hash_password(password))
        return LoginResult(user, "ok")


def _verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Session:
    user: str  # "" before login
    role: str
    csrf: str
    expires: float  # POSIX seconds

    @property
    def logged_in(self) -> bool:
        return bool(self.user)


class Sessions:
    """Signed session cookies whose expiry is judged by the console's clock."""

    COOKIE = "brandex_session"

    def __init__(
        self, secret: bytes, clock: Callable[[], datetime], lifetime: timedelta, secure: bool
    ) -> None:
        self._signer = URLSafeSerializer(secret, salt="brandex.web.session")
        self.clock = clock
        self.lifetime = lifetime
        self.secure = secure

    def new(self, user: str = "", role: str = "") -> Session:
        expires = (self.clock() + self.lifetime).timestamp()
        return Session(user, role, secrets.token_urlsafe(32), expires)

    def dump(self, session: Session) -> str:
        return self._signer.dumps(
            {"u": session.user, "r": session.role, "c": session.csrf, "x": session.expires}
        )

    def load(self, cookie: str | None) -> Session | None:
        """The session in a cookie, or None when absent, forged, malformed or expired."""
        if not cookie or len(cookie) > 4096:
            return None
        try:
            data = self._signer.loads(cookie)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        try:
            session = Session(str(data["u"]), str(data["r"]), str(data["c"]), float(data["x"]))
        except (KeyError, TypeError, ValueError):
            return None
        if session.expires <= self.clock().timestamp():
            return None
        return session

    def cookie_args(self) -> dict[str, object]:
        return {
            "key": self.COOKIE,
            "httponly": True,
            "samesite": "strict",
            "secure": self.secure,
            "path": "/",
            "max_age": int(self.lifetime.total_seconds()),
        }


def csrf_ok(session: Session | None, token: str | None) -> bool:
    """Whether a POSTed form's token is the one its session carries."""
    if session is None or not token:
        return False
    return hmac.compare_digest(session.csrf.encode(), str(token).encode())
