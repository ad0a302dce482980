"""The middleware that answers a retry as the first call was answered (see the package)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import anyio.to_thread
from sqlalchemy.engine import Engine
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.idempotency import Call, _call
from api.idempotency.store import Store, seal, unseal
from offhours.settings import Settings

HEADER = "idempotency-key"
FORM_FIELD = "idempotency_key"
REPLAYED = "idempotent-replayed"
KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as the draft standard's examples
SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")
NOT_KEPT = frozenset({401, 403, 408, 425, 429})  # the call was not taken: a retry runs it
KEEP_AT_MOST = 1024 * 1024  # a larger answer is not kept (no state-changing route sends one)
WAIT_FOR_FIRST_SECONDS = 10.0
SESSION_COOKIE = "offhours_session"
CANDIDATE_PATH = re.compile(r"^/(?:api/v1/candidate|c)/([^/]+)")
APPLICATION_PATH = re.compile(
    r"^/(?:api/v1/applications|staff/applications|staff/reviews)/(app_[0-9a-f]{20})(?:/|$)"
)
JOB_PATH = re.compile(r"^/api/v1/jobs/(job_[0-9a-f]{20})(?:/|$)")


# ------------------------------------------------------------------------------------ helpers


def _credential(scope: Scope, headers: Headers) -> str | None:
    """Who is calling, as the route will authenticate them: a key is theirs alone. A candidate
    path's link; else a bearer token; else the staff session cookie (the last one sent, as the
    framework reads cookies)."""
    match = CANDIDATE_PATH.match(scope["path"])
    if match:
        return "link:" + match.group(1)
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        return "bearer:" + token
    session = None
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE and value:
            session = value
    return "session:" + session if session else None


class _BodyDigest:
    """sha256 of a body as its meaning goes: JSON canonical, a multipart body without its boundary
    (a client that sends the same files again draws a new one)."""

    def __init__(self, content_type: str) -> None:
        self.kind = content_type.split(";")[0].strip().lower()
        self.hash = hashlib.sha256()
        self.marker = b""
        self.tail = b""
        self.json: list[bytes] | None = [] if self.kind == "application/json" else None
        if self.kind == "multipart/form-data":
            found = re.search(r'boundary="?([^";]+)"?', content_type)
            self.marker = b"--" + found.group(1).encode() if found else b""

    def update(self, chunk: bytes) -> None:
        if self.json is not None:
            self.json.append(chunk)
        elif self.marker:
            data = (self.tail + chunk).replace(self.marker, b"--")
            keep = len(self.marker) - 1
            self.hash.update(data[:-keep] if len(data) > keep else b"")
            self.tail = data[-keep:] if len(data) > keep else data
        else:
            self.hash.update(chunk)

    def hexdigest(self) -> str:
        if self.json is not None:
            raw = b"".join(self.json)
            with contextlib.suppress(ValueError, RecursionError):  # not JSON: the bytes as sent
                raw = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
            self.hash.update(raw)
        else:
            self.hash.update(self.tail)
        return self.hash.hexdigest()


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> tuple[int, list[Any], bytes]:
    body = json.dumps({"detail": detail}).encode()
    out = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    out += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return status, out, body


@dataclass
class _Derived:
    record: str  # the row's id
    seal_key: bytes  # seals the kept answer; never stored
    base: str  # the call's ids derive from it (with the request's fingerprint)


def _derive(
    settings: Settings, credential: str, key: str, fingerprint: str, *, per_body: bool = False
) -> _Derived:
    secret = settings.secret_key.encode()

    def mac(purpose: str, *parts: str) -> bytes:
        message = "\x00".join((f"offhours.idempotency.{purpose}.v1", credential, key, *parts))
        return hmac.new(secret, message.encode(), hashlib.sha256).digest()

    record = mac("record", fingerprint) if per_body else mac("record")
    return _Derived(record.hex(), mac("seal"), mac("ids", fingerprint).hex())


# -------------------------------------------------------------------------------- middleware


class Idempotency:
    """ASGI middleware: see the module's docstring. Inside BodyLimit, so that what it reads is bounded."""

    def __init__(self, app: ASGIApp, settings: Settings, engine: Engine | None = None) -> None:
        self.app = app
        self.settings = settings
        self._engine = engine
        self._store: Store | None = None

    def store(self, scope: Scope) -> Store:
        if self._store is None:
            engine = self._engine or scope["app"].state.engine
            self._store = Store(engine, self.settings)
        return self._store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = headers.get(HEADER)
        content_type = headers.get("content-type", "")
        form = content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded"
        credential = _credential(scope, headers)
        # Keyed: small bodies only (JSON, forms), from callers with a credential to key them by; an
        # upload goes on unkeyed, read by its route under its own limits and checks.
        limit = self.settings.MAX_JSON_BYTES
        declared = headers.get("content-length", "").strip()
        if (key is None and not form) or credential is None or (declared.isdigit() and int(declared) > limit):
            await self.app(scope, receive, send)
            return
        digest = _BodyDigest(content_type)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # gone before its request was whole: nothing was done, nothing to answer
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # larger than it said, or chunked: an unkeyed call after all
                await self.app(scope, _replayer(chunks, receive, more=bool(message.get("more_body"))), send)
                return
            digest.update(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        from_form = key is None
        if from_form:  # a browser form: its hidden field
            key = _form_key(body)
        replay = _replayer([body], receive, more=False)
        if key is None:
            await self.app(scope, replay, send)
            return
        if not KEY.match(key):
            if not await anyio.to_thread.run_sync(self.store(scope).still_valid, credential):
                await self.app(scope, replay, send)  # a stranger hears 401 first, whatever they sent
                return
            await _answer(send, *_error(400, "the Idempotency-Key must be 1 to 255 visible ASCII characters"))
            return
        kind = content_type.split(";")[0].strip().lower()
        query = scope.get("query_string", b"").decode("latin-1")
        request = f"{scope['method']} {scope['path']}?{query} {kind} {digest.hexdigest()}"
        fingerprint = hmac.new(
            self.settings.secret_key.encode(), request.encode(), hashlib.sha256
        ).hexdigest()
        # A form's key names the form as rendered: sent again changed (the back button, an edit),
        # it is another call, not a conflict the person could do nothing about.
        derived = _derive(self.settings, credential, key, fingerprint, per_body=from_form)
        await self._serve(scope, replay, send, derived, fingerprint, credential)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, derived: _Derived, fingerprint: str, credential: str
    ) -> None:
        store = self.store(scope)
        claim = uuid.uuid4().hex
        held = await anyio.to_thread.run_sync(store.claim, derived.record, fingerprint, claim)
        deadline = asyncio.get_running_loop().time() + WAIT_FOR_FIRST_SECONDS
        while held is not None and held.state == "running" and held.fingerprint == fingerprint:
            if asyncio.get_running_loop().time() >= deadline:
                await _answer(
                    send,
                    *_error(
                        503,
                        "a request with this Idempotency-Key is still being processed; "
                        "send it again in a few seconds to get its answer",
                        {"Retry-After": "2"},
                    ),
                )
                return
            await asyncio.sleep(0.2)
            held = await anyio.to_thread.run_sync(store.look, derived.record)
            if held is None or (held.state == "running" and held.lease_until <= datetime.now(UTC)):
                held = await anyio.to_thread.run_sync(store.claim, derived.record, fingerprint, claim)
        if held is not None:
            if held.fingerprint != fingerprint:
                await _answer(
                    send,
                    *_error(
                        422,
                        "this Idempotency-Key was already used for a different request (another "
                        "method, path or body); a key names one request: send a new key for a new one",
                    ),
                )
                return
            if not await anyio.to_thread.run_sync(store.still_valid, credential):
                await _answer(
                    send,
                    *_error(
                        401,
                        "the credentials this request was first sent with are no longer valid "
                        "(revoked, signed out, replaced or erased); nothing was done",
                    ),
                )
                return
            assert held.sealed is not None
            status, headers, body = unseal(derived.seal_key, derived.record, held.sealed)
            await _answer(send, status, [*headers, (REPLAYED.encode(), b"true")], body)
            return
        await self._run(scope, receive, send, derived, claim)

    async def _run(self, scope: Scope, receive: Receive, send: Send, derived: _Derived, claim: str) -> None:
        store = self.store(scope)
        status = 0
        kept_headers: list[tuple[bytes, bytes]] = []
        parts: list[bytes] = []
        size = 0

        async def capture(message: Message) -> None:
            nonlocal status, kept_headers, size
            if message["type"] == "http.response.start":
                status = message["status"]
                kept_headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
                if size <= KEEP_AT_MOST:
                    parts.append(message.get("body", b""))
            await send(message)

        async def renew() -> None:  # a long call keeps its claim
            while True:
                await asyncio.sleep(max(1.0, self.settings.IDEMPOTENCY_LEASE_SECONDS / 3))
                await anyio.to_thread.run_sync(store.renew, derived.record, claim)

        token = _call.set(Call(derived.base))
        renewing = asyncio.create_task(renew())
        kept = False
        try:
            await self.app(scope, receive, capture)
            state = scope.get("state") or {}
            if (
                status
                and status < 500
                and status not in NOT_KEPT
                and size <= KEEP_AT_MOST
                and state.get("idempotency_caller")
            ):
                application_id = job_id = None
                if not state.get("idempotency_apart"):
                    application_id = state.get("idempotency_application")
                    if application_id is None:
                        match = APPLICATION_PATH.match(scope["path"])
                        application_id = match.group(1) if match else None
                    job = JOB_PATH.match(scope["path"])
                    job_id = job.group(1) if job else None
                sealed = seal(derived.seal_key, derived.record, status, kept_headers, b"".join(parts))
                kept = await anyio.to_thread.run_sync(
                    store.keep, derived.record, claim, status, sealed, application_id, job_id
                )
        finally:
            _call.reset(token)
            renewing.cancel()
            if not kept:
                with anyio.CancelScope(shield=True):  # a cancelled call still lets go of its claim
                    await anyio.to_thread.run_sync(store.release, derived.record, claim)


def _form_key(body: bytes) -> str | None:
    """The key a browser form carries in its hidden field, if any."""
    try:
        values = parse_qs(body[: 64 * 1024].decode("latin-1"), max_num_fields=200)
    except ValueError:
        values = {}
    return values.get(FORM_FIELD, [None])[0] or None


def _replayer(chunks: list[bytes], receive: Receive, *, more: bool) -> Receive:
    """The body already read, given to the app again; then the real channel (the rest of the body
    when `more`, else whatever comes next: a disconnect)."""
    pending = list(chunks)

    async def replay() -> Message:
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": more or bool(pending)}
        return await receive()

    return replay


async def _answer(send: Send, status: int, headers: list[Any], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
