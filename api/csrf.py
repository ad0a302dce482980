"""CSRF protection for the candidate portal's form posts (double submit, signed).

A random value lives in a cookie (HttpOnly, SameSite=Lax, Secure in production or on https); forms
carry an HMAC of it under the server's secret, in a hidden field or, from scripts, an X-CSRF-Token
header. A post from another site cannot read the cookie to produce the matching token, and
SameSite=Lax keeps the cookie off cross-site posts in the first place. Lax rather than Strict: opening
the link from a webmail tab is a cross-site navigation, which must find the cookie already set rather
than replace it (and with it the token of a page open in another tab).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request
from fastapi.responses import Response

from api.errors import Forbidden
from offhours.settings import Settings

COOKIE = "offhours_csrf"
HEADER = "x-csrf-token"
FIELD = "csrf_token"


def _sign(settings: Settings, value: str) -> str:
    return hmac.new(
        settings.secret_key.encode(), f"offhours.csrf.v1:{value}".encode(), hashlib.sha256
    ).hexdigest()


def csrf_value(request: Request) -> tuple[str, bool]:
    """The browser's CSRF cookie value, and whether it is new (then it must be set on the response)."""
    value = request.cookies.get(COOKIE)
    if value and 20 <= len(value) <= 100:
        return value, False
    return secrets.token_urlsafe(32), True


def form_token(settings: Settings, value: str) -> str:
    return _sign(settings, value)


def set_cookie(response: Response, settings: Settings, value: str, path: str = "/c/") -> None:
    response.set_cookie(
        COOKIE,
        value,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path=path,
    )


def verify(request: Request, settings: Settings, submitted: str | None) -> None:
    """Refuse a post whose token does not match the browser's cookie."""
    value = request.cookies.get(COOKIE)
    token = submitted or request.headers.get(HEADER)
    expected = _sign(settings, value).encode() if value else b""
    if not value or not token or not hmac.compare_digest(token.encode("utf-8", "replace"), expected):
        raise Forbidden(
            "this form has expired or was not sent from this site; reload the page and try again",
            errors=[{"field": FIELD, "message": "missing or wrong CSRF token"}],
        )
