"""Staff sign-in in the browser: a session is a cookie (HttpOnly, SameSite=Lax, Secure on https)
whose forms carry its CSRF token; it uses the same authorization policy as the API (api/policy.py)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import csrf
from api.deps import SESSION_COOKIE, SessionDep, SettingsDep, StaffDep
from api.errors import ServiceUnavailable
from api.pages.render import staff_page
from api.ratelimit import RateLimits
from offhours import accounts

router = APIRouter(prefix="/staff", tags=["staff pages"], include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, settings: SettingsDep, next: str = "/staff") -> HTMLResponse:
    value, new = csrf.csrf_value(request)
    response = staff_page(
        request, settings, None, "login.html", login_csrf=csrf.form_token(settings, value), next=next
    )
    if new:
        csrf.set_cookie(response, settings, value, path="/staff/")
    return response


@router.post("/login", response_model=None)
async def login(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    form = await request.form(max_fields=5)
    submitted = form.get(csrf.FIELD)
    csrf.verify(request, settings, submitted if isinstance(submitted, str) else None)
    email, password = str(form.get("email") or ""), str(form.get("password") or "")
    target = str(form.get("next") or "/staff")
    limits: RateLimits = request.app.state.rate_limits
    limits.login_attempt(request, email)  # counted, and 429 when over, before any hashing
    try:
        user = await accounts.authenticate_async(session, email, password)
    except accounts.Busy:
        raise ServiceUnavailable("too many sign-ins are being checked at this moment") from None
    if user is None:
        value, _ = csrf.csrf_value(request)
        return staff_page(
            request,
            settings,
            None,
            "login.html",
            status_code=401,
            login_csrf=csrf.form_token(settings, value),
            next=target,
            email=email,
            error="That email and password do not match an active account.",
        )
    hours = settings.STAFF_SESSION_HOURS
    _, token = accounts.start_session(session, user, timedelta(hours=hours))
    response = RedirectResponse(target if target.startswith("/staff") else "/staff", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )
    return response


@router.post("/logout", response_model=None)
async def logout(request: Request, session: SessionDep, _staff: StaffDep) -> Response:
    found = accounts.user_for_session(session, request.cookies.get(SESSION_COOKIE, ""))
    if found is not None:
        accounts.end_session(session, found[1])
    response = RedirectResponse("/staff/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("", response_model=None)
def home(staff: StaffDep) -> Response:
    return RedirectResponse("/staff/reviews" if staff.role == "reviewer" else "/staff/jobs", status_code=303)


def login_redirect(path: str) -> RedirectResponse:
    return RedirectResponse(f"/staff/login?next={quote(path)}", status_code=303)
