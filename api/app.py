"""The FastAPI application: routes, error rendering, and the shared Temporal client."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from temporalio.client import Client

from api.bodies import BodyLimit
from api.errors import ApiError, invalid_request
from api.idempotency.middleware import Idempotency
from api.idempotency.openapi import document_idempotency
from api.pages import (
    analytics_pages,
    application_pages,
    console,
    job_pages,
    portal,
    questions,
    reviews,
    signin,
    stages,
    user_pages,
    webhook_pages,
)
from api.pages.render import render_page
from api.ratelimit import RateLimits
from api.routes import (
    analytics,
    applications,
    candidate,
    codec,
    files,
    health,
    jobs,
    mailbox,
    pipelines,
    privacy,
    scorecards,
    webhooks,
)
from api.services.jobs import InviteRuns
from offhours import TEMPLATES_DIR
from offhours.codec import data_converter, with_codec
from offhours.db import get_engine
from offhours.settings import Settings, get_settings

log = logging.getLogger("offhours.api")

PORTAL_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(self), microphone=(self), geolocation=()",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self' blob: mediastream:; "
    "script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'",
}
HSTS = "max-age=31536000; includeSubDomains"


class TemporalGateway:
    """One Temporal client for the app, connected on first use and kept, so that the API starts
    (and /health can say why) even while Temporal is down."""

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self.settings = settings
        self._client = with_codec(client, settings) if client is not None else None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                async with asyncio.timeout(5):
                    self._client = await Client.connect(
                        self.settings.TEMPORAL_ADDRESS,
                        namespace=self.settings.TEMPORAL_NAMESPACE,
                        data_converter=data_converter(self.settings),
                    )
            return self._client


class RedactLinks(logging.Filter):
    """Access logs show candidate paths without their link token (it is the candidate's key)."""

    PATTERN = re.compile(r"(/c/|/api/v1/candidate/)[^/?\s\"]+")
    # A signed file URL is a key to the file until it expires: its signature is not logged either.
    SIGNATURE = re.compile(r"([?&]signature=)[^&\s\"]+")

    @classmethod
    def redact(cls, text: str) -> str:
        return cls.SIGNATURE.sub(r"\1[signature]", cls.PATTERN.sub(r"\1[link]", text))

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self.redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = self.redact(record.msg)
        return True


REDACT_LINKS = RedactLinks()


def _needs_staff(request: Request) -> bool:
    """Whether the matched route authenticates staff (it depends on api.deps.get_staff)."""
    from api.deps import get_staff

    route = request.scope.get("route")
    pending = list(getattr(getattr(route, "dependant", None), "dependencies", []))
    while pending:
        dependant = pending.pop()
        if dependant.call is get_staff:
            return True
        pending.extend(dependant.dependencies)
    return False


async def _refuse_stranger(request: Request, settings: Settings, engine: Engine) -> ApiError | None:
    """The 401/403 the route's staff dependency would have answered, or None when the caller is
    staff allowed here (then the body's problems are theirs to hear)."""
    from fastapi.security.utils import get_authorization_scheme_param
    from sqlmodel import Session

    from api.deps import authenticate_staff, authorize

    header = request.headers.get("authorization")
    scheme, token = get_authorization_scheme_param(header)
    credentials = HTTPAuthorizationCredentials(scheme=scheme, credentials=token) if header else None
    try:
        with Session(engine) as session:
            authorize(request, await authenticate_staff(request, settings, session, credentials))
    except ApiError as error:
        return error
    except Exception:  # noqa: BLE001 (e.g. a form body that cannot be read twice: judge the body)
        return None
    return None


def error_response(request: Request, error: ApiError, settings: Settings) -> Response:
    """An ApiError as its caller reads it: the candidate portal's and staff pages get a page
    (a staff page's 401 goes to sign-in); scripts and API clients get JSON."""
    if request.url.path.startswith("/staff") and "text/html" in request.headers.get("accept", ""):
        if error.status_code == 401:
            return signin.login_redirect(request.url.path)
        page = render_page(
            request, "pages/staff/error.html", {"message": error.detail}, status_code=error.status_code
        )
        page.headers.update(error.headers)
        return page
    accept = request.headers.get("accept", "")
    html = request.method == "GET" or ("text/html" in accept and "application/json" not in accept)
    if request.url.path.startswith("/c/") and html:
        page = render_page(
            request, "pages/link_error.html", {"message": error.detail}, status_code=error.status_code
        )
        page.headers.update(error.headers)
        return page
    headers = dict(error.headers)
    if request.url.path.startswith("/codec/"):  # the Temporal UI reads a 401/403 too
        headers.update(codec.cors_headers(settings, request))
    return JSONResponse(error.body(), status_code=error.status_code, headers=headers)


def _security_headers(app: FastAPI, settings: Settings) -> None:
    """The portal's and staff pages' headers, and HSTS in production."""

    @app.middleware("http")
    async def _portal_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        if request.url.path.startswith(("/c/", "/api/v1/candidate/", "/staff")):
            # The link is the candidate's key: never cached, never sent on as a Referer, never framed.
            response.headers.update(PORTAL_HEADERS)
        return response

    @app.middleware("http")
    async def _strict_transport(request: Request, call_next: Any) -> Response:
        # Production is served over TLS (often ended by a proxy): browsers must never fall back to http.
        response: Response = await call_next(request)
        if settings.is_production:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response


def _lifespan(settings: Settings) -> Any:
    """At start: a warning when production names no trusted proxy; Temporal connected if it can be."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.is_production and not settings.TRUSTED_PROXIES.strip():
            log.warning(
                "TRUSTED_PROXIES is empty: behind a reverse proxy every client has the proxy's address "
                "and shares its rate limits (sign-ins, bad links); name the proxy in OFFHOURS_TRUSTED_PROXIES"
            )
        try:
            await app.state.temporal.client()
        except Exception as error:  # noqa: BLE001 (the API still serves /health and says why)
            log.warning("Temporal not reachable at start (%s); will retry on use", error)
        yield
        await app.state.invite_runs.close()

    return lifespan


def _error_handlers(app: FastAPI, settings: Settings) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> Response:
        return error_response(request, error, settings)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        # FastAPI reads and parses the body before it resolves dependencies: on a staff route, who is
        # calling is checked first, so a stranger gets 401 (or a wrong role 403), whatever they sent.
        if _needs_staff(request):
            refused = await _refuse_stranger(request, settings, app.state.engine)
            if refused is not None:
                return await _api_error(request, refused)
        return JSONResponse(invalid_request(error.errors()).body(), status_code=422)


def create_app(
    settings: Settings | None = None, *, temporal_client: Client | None = None, engine: Engine | None = None
) -> FastAPI:
    settings = settings or get_settings()

    app = FastAPI(
        title="offhours",
        version="0.1.0",
        description="Asynchronous hiring on Temporal: jobs, applications, candidate answers, "
        "scorecards and decisions.",
        lifespan=_lifespan(settings),
    )
    # The two innermost middlewares, both plain ASGI (the function middlewares below would wrap an
    # exception in an exception group). A call sent with an Idempotency-Key answers a retry as it
    # answered first (api/idempotency/). Around it, a body over its route's limit is refused
    # before anything reads it: the 413 is raised straight into the read, the route's or the
    # idempotency fingerprint's.
    app.state.settings = settings
    app.state.engine = engine or get_engine(settings.DATABASE_URL)
    app.add_middleware(Idempotency, settings=settings, engine=app.state.engine)
    app.add_middleware(BodyLimit, settings=settings)
    app.state.temporal = TemporalGateway(settings, temporal_client)
    app.state.rate_limits = RateLimits(settings)
    app.state.invite_runs = InviteRuns()
    access = logging.getLogger("uvicorn.access")
    if REDACT_LINKS not in access.filters:
        access.addFilter(REDACT_LINKS)

    _error_handlers(app, settings)
    _security_headers(app, settings)
    routers = (
        health,
        pipelines,
        jobs,
        applications,
        scorecards,
        privacy,
        analytics,
        webhooks,
        files,
        candidate,
        portal,
        questions,
        stages,
        signin,
        reviews,
        job_pages,  # before console: /staff/jobs/new is not a job's board
        user_pages,
        analytics_pages,
        webhook_pages,
        application_pages,
        console,
    )
    for module in (*routers, codec):
        app.include_router(module.router)
    document_idempotency(app)
    app.mount("/static", StaticFiles(directory=TEMPLATES_DIR / "static"), name="static")
    if settings.is_development:
        app.include_router(mailbox.router)
    return app
