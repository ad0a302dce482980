"""Request-body limits, enforced before a route reads anything.

Every request body is bounded: by `MAX_JSON_BYTES` unless its route is one of the few that take
files (answers, recordings, the bulk-invitation CSV), which have their own, larger limit. A
declared Content-Length over the limit is answered 413 at once; a body sent without one (chunked)
is counted as it arrives and cut off with the same 413 when it passes the limit. So a stranger
cannot make the server hold a 40 MB JSON body in memory, authenticated or not.
"""

from __future__ import annotations

import json
import re

from fastapi import HTTPException, Request
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import PayloadTooLarge
from offhours.settings import Settings

# Routes that take files, by path pattern, with their limit (None: the upload limit), and whether
# that limit holds for JSON too (the codec endpoint's payload batches are JSON).
CSV_LIMIT = 20 * 1024 * 1024 + 64 * 1024
FILE_ROUTES: tuple[tuple[re.Pattern[str], int | None, bool], ...] = (
    (re.compile(r"^/api/v1/candidate/[^/]+/answers/?$"), None, False),
    (re.compile(r"^/c/[^/]+/questions/[^/]+(/recording)?/?$"), None, False),
    (re.compile(r"^/api/v1/jobs/[^/]+/invitations/?$"), CSV_LIMIT, False),
    (re.compile(r"^/staff/jobs/[^/]+/invitations/?$"), CSV_LIMIT, False),
    # The Temporal UI sends a history's payloads to decode in batches.
    (re.compile(r"^/codec/(en|de)code/?$"), 16 * 1024 * 1024, True),
)


SMALL_TYPES = ("application/json", "application/x-www-form-urlencoded")


def limit_for(settings: Settings, path: str, content_type: str = "") -> int:
    """A JSON or form body is small wherever it goes; files go only where files are taken."""
    small = content_type.strip().lower().startswith(SMALL_TYPES)
    for pattern, limit, also_json in FILE_ROUTES:
        if pattern.match(path) and (also_json or not small):
            return min(limit if limit is not None else settings.body_limit, settings.body_limit)
    return min(settings.MAX_JSON_BYTES, settings.body_limit)


def _describe(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"


def _message(limit: int) -> str:
    return f"the request body is larger than this endpoint takes ({_describe(limit)}); send less"


class _TooLarge(HTTPException):
    """Raised from inside the route's read: an HTTPException, so that no body parser turns it
    into a 400; answered 413 by the framework, or here if it gets this far."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _message(limit))


class BodyLimit:
    """ASGI middleware: the body of each request within its route's limit, or 413."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Read as the route will read them (the first of repeated headers), so that a second
        # Content-Type cannot win a file route's limit for a body the route then parses as JSON.
        headers = Headers(scope=scope)
        if len(headers.getlist("content-type")) > 1 or len(headers.getlist("content-length")) > 1:
            await self._refuse(scope, send, 0, 400, "send one Content-Type and at most one Content-Length")
            return
        limit = limit_for(self.settings, scope["path"], headers.get("content-type", ""))
        declared = headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send, limit)
            return
        received = 0
        started = False

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, send, limit)

    async def _refuse(
        self, scope: Scope, send: Send, limit: int, status: int = 413, detail: str = ""
    ) -> None:
        body = json.dumps({"detail": detail or _message(limit)}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        if scope["path"].startswith("/codec/"):  # the Temporal UI must be able to read it
            from api.routes.codec import cors_headers

            extra = cors_headers(self.settings, Request(scope))
            headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def bounded_body(request: Request, limit: int, what: str = "the body") -> bytes:
    """The whole body, read no further than `limit` + 1 bytes (for a route's own, lower limit)."""
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"{what} is larger than {_describe(limit)}; split it")
        parts.append(chunk)
    return b"".join(parts)
