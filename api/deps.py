"""Dependencies: settings, database session, Temporal client, the authenticated principal, and the
application a candidate's link opens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client

from api import idempotency, policy
from api.errors import Forbidden, Gone, ServiceUnavailable, Unauthorized
from api.ratelimit import RateLimits
from offhours import accounts
from offhours.links import BadLink, ExpiredLink, read_candidate_link
from offhours.models import Application, User
from offhours.settings import Settings
from offhours.states import ApplicationStatus


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(
    engine: Annotated[Engine, Depends(get_engine)], settings: Annotated[Settings, Depends(get_settings)]
) -> Iterator[Session]:
    """One session per request; committed once when the route returns, rolled back on error. It
    carries the settings, for what seals personal text on its way to a workflow (api.personal)."""
    with Session(engine, expire_on_commit=False, info={"settings": settings}) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


async def get_temporal(request: Request) -> Client:
    gateway = request.app.state.temporal
    try:
        client: Client = await gateway.client()
    except Exception as error:  # noqa: BLE001 (whatever keeps Temporal away is a 503 naming it)
        raise ServiceUnavailable(f"the workflow engine (Temporal) is unreachable: {error}") from None
    return client


@dataclass(frozen=True)
class Principal:
    """Who is calling. Set by the server from the credentials, never taken from a request body.
    `name` is what workflow histories record (a user id, never an email); `person_id` links a user
    to the staff directory the pipelines name (reviewer pools, approvers)."""

    name: str
    role: str
    user_id: str | None = None
    person_id: str | None = None

    @property
    def sees_every_job(self) -> bool:
        return self.role in ("ops", "auditor") or self.user_id is None


bearer = HTTPBearer(auto_error=False, description="Staff API token")
SESSION_COOKIE = "offhours_session"
STAFF_CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def staff_csrf_token(settings: Settings, session_token: str) -> str:
    """The CSRF token of a browser session: an HMAC of its cookie, sent back in forms and scripts."""
    message = f"offhours.staff-csrf.v1:{session_token}".encode()
    return hmac.new(settings.secret_key.encode(), message, hashlib.sha256).hexdigest()


def _principal(user: User) -> Principal:
    return Principal(name=user.id, role=user.role, user_id=user.id, person_id=user.person_id)


async def authenticate_staff(
    request: Request, settings: Settings, session: Session, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """Bearer token (ADMIN_TOKEN or a user's API token) or a browser session cookie (with its CSRF
    token on anything that changes state)."""
    if credentials is not None:
        if credentials.scheme.lower() != "bearer":
            raise Unauthorized("send a staff token as 'Authorization: Bearer <token>'")
        token = credentials.credentials
        if settings.ADMIN_TOKEN and secrets.compare_digest(token.encode(), settings.ADMIN_TOKEN.encode()):
            return Principal(name="admin", role="ops")
        user = accounts.user_for_token(session, token)
        if user is None:
            # Failures are throttled per address (429 once over the limit); a valid token never is.
            limits: RateLimits = request.app.state.rate_limits
            raise limits.token_failed(request) or Unauthorized(
                "this token is not valid (unknown, revoked, or its user is disabled)"
            )
        return _principal(user)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        found = accounts.user_for_session(session, cookie)
        if found is None:
            raise Unauthorized("your session has ended; sign in again", login="/staff/login")
        user, _ = found
        # The codec endpoint changes nothing (it encrypts or decrypts what it is sent) and answers
        # only the Temporal UI's origin (CORS): the UI cannot send a CSRF token, nor needs to.
        if request.method not in SAFE_METHODS and not request.url.path.startswith("/codec/"):
            sent = request.headers.get(STAFF_CSRF_HEADER, "")
            if not sent and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")
            ):
                form = await request.form()  # parsed once; the route reads the same form
                field = form.get("csrf_token")
                sent = field if isinstance(field, str) else ""
            if not hmac.compare_digest(
                sent.encode("utf-8", "replace"), staff_csrf_token(settings, cookie).encode()
            ):
                raise Forbidden("missing or wrong CSRF token; reload the page and try again")
        return _principal(user)
    raise Unauthorized("send a staff token as 'Authorization: Bearer <token>', or sign in at /staff/login")


def authorize(request: Request, principal: Principal) -> None:
    """Apply the route's policy (api/policy.py); a route without one is refused."""
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    rule = policy.rule_for(request.method, path)
    if not isinstance(rule, frozenset):
        raise Forbidden(f"no staff policy covers {request.method} {path}; refused")
    if principal.role not in rule:
        allowed = ", ".join(sorted(rule))
        raise Forbidden(f"the {principal.role} role may not do this; it needs one of: {allowed}")


async def get_staff(
    request: Request,
    settings: Annotated[Settings, Depends(get_settings)],
    session: Annotated[Session, Depends(get_session, scope="function")],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    principal = await authenticate_staff(request, settings, session, credentials)
    # End the transaction now (it may have noted a token's last use): no lock or pooled connection
    # is held while the route waits on a workflow, whose activities write to the same database.
    session.commit()
    authorize(request, principal)
    idempotency.note_caller(request.scope.setdefault("state", {}))
    return principal


SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": the commit happens before the response is sent, so a 201 means it is stored.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
TemporalClientDep = Annotated[Client, Depends(get_temporal)]
StaffDep = Annotated[Principal, Depends(get_staff)]


# ------------------------------------------------------------------------- the candidate's link

INVALID_LINK = "this link is not valid; use the link from your most recent email"


def candidate_application(
    token: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Application:
    """The application a link is scoped to. A genuine link is rate-limited per application; links
    that do not verify are throttled per address (api/ratelimit.py)."""
    limits: RateLimits = request.app.state.rate_limits

    def bad_link() -> Exception:
        return limits.bad_link(request) or Unauthorized(INVALID_LINK)

    try:
        link = read_candidate_link(token, settings.secret_key)
    except BadLink:
        raise bad_link() from None
    except ExpiredLink:
        raise Gone("this link has expired; contact the hiring team for a new one") from None
    application = session.get(Application, link.application_id)
    if application is None:  # never existed: reveal nothing
        raise bad_link()
    limits.check(f"{application.id}:{link.generation}")
    if application.erased_at is not None:
        raise Gone("the data of this application has been erased; nothing is kept behind this link")
    if link.generation < application.link_generation:
        raise Gone("a newer link has been sent to you; use the link from your most recent email")
    if application.status == ApplicationStatus.withdrawn and not _status_route(request):
        raise Gone(
            "this application was withdrawn; its link now shows only its status and your data rights",
            status=application.status,
        )
    state = request.scope.setdefault("state", {})
    idempotency.note_caller(state)
    idempotency.note_application(state, application.id)
    # End the read transaction: its pooled connection is not held through a long upload or a
    # workflow call (the loaded row stays usable; the session reconnects when next used).
    session.commit()
    return application


# What a withdrawn application's link still opens: its status, and the candidate's data rights
# (what is kept, and asking for deletion).
STATUS_ROUTES = frozenset(
    {
        ("GET", "/api/v1/candidate/{token}"),
        ("POST", "/api/v1/candidate/{token}/deletion-request"),
        ("GET", "/c/{token}"),
        ("GET", "/c/{token}/privacy"),
        ("POST", "/c/{token}/privacy"),
    }
)


def _status_route(request: Request) -> bool:
    route = request.scope.get("route")
    return (request.method, getattr(route, "path", "")) in STATUS_ROUTES


CandidateDep = Annotated[Application, Depends(candidate_application)]
