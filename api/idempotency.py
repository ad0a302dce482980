"""Idempotency keys: a state-changing call sent again with the same `Idempotency-Key` answers what
the first answered, and changes nothing more.

A client that lost an answer (a timeout, a 503, a dropped connection) cannot know whether its call
took effect; with a key it sends the same call again. Here, around every route:

- The first call with a key claims it (a row in `idempotent_requests`, keyed by an HMAC of the
  caller's credential and the key), runs, and its answer is kept, sealed, for
  `IDEMPOTENCY_TTL_HOURS`: a retry is given that answer, marked `Idempotent-Replayed: true`.
  Answers that say the call was not taken at all (401, 403, 429, any 5xx) are not kept: the retry
  runs again.
- A call that runs again must not do again what the first did before it was lost. So the call's
  ids are derived from the key: each workflow update it sends gets the update id `idem-...`
  (Temporal gives a retry with that id the first update's outcome, while it runs and after it
  closes, for as long as it keeps the workflow), the personal text it seals keeps its id, and the
  rows it creates (an application, a job, a message) get ids a retry finds again.
- The same key with another method, path or body is a 422: a key names one call.
- A retry while the first is still running waits for it (a few seconds), then is told 503 with
  Retry-After; a claim left by a process that died is taken over after `IDEMPOTENCY_LEASE_SECONDS`.

Browsers cannot set headers on a form, so staff and portal forms send the key as a hidden
`idempotency_key` field (URL-encoded forms only; file uploads are not covered).

What is kept is not readable without the key: the id is an HMAC, the response is sealed (AES-GCM)
with a key derived from the caller's key and the server secret, and neither key is stored. A kept
response about an application is deleted when the application is erased; all expire.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import anyio.to_thread
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from offhours import accounts
from offhours.links import BadLink, ExpiredLink, read_candidate_link
from offhours.models import Application, IdempotentRequest
from offhours.settings import Settings

HEADER = "idempotency-key"
FORM_FIELD = "idempotency_key"
REPLAYED = "idempotent-replayed"
KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as the draft standard's examples
SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")
NOT_KEPT = frozenset({401, 403, 408, 425, 429})  # the call was not taken: a retry runs it
KEEP_AT_MOST = 1024 * 1024  # a larger answer is not kept (no state-changing route sends one)
WAIT_FOR_FIRST_SECONDS = 10.0
NONCE = 12
SESSION_COOKIE = "offhours_session"
CANDIDATE_PATH = re.compile(r"^/(?:api/v1/candidate|c)/([^/]+)")
APPLICATION_PATH = re.compile(
    r"^/(?:api/v1/applications|staff/applications|staff/reviews)/(app_[0-9a-f]{20})(?:/|$)"
)
JOB_PATH = re.compile(r"^/api/v1/jobs/(job_[0-9a-f]{20})(?:/|$)")

_call: ContextVar[Call | None] = ContextVar("offhours_idempotent_call", default=None)


@dataclass
class Call:
    """The idempotent call being served: `base` is derived from the caller, the key and the
    request, so a retry of the same call derives the same ids."""

    base: str
    updates: dict[str, int] = field(default_factory=dict)

    def update_id(self, update: str) -> str:
        n = self.updates.get(update, 0)
        self.updates[update] = n + 1
        return f"idem-{self.base[:32]}-{update}" + (f"-{n}" if n else "")

    def row_id(self, prefix: str, purpose: str = "") -> str:
        """An id shaped like offhours.models.new_id, the same for a retry of this call."""
        digest = hashlib.sha256(f"{self.base}:{prefix}:{purpose}".encode()).hexdigest()
        return f"{prefix}_{digest[:20]}"


def current() -> Call | None:
    """The idempotent call this request serves, or None (no key was sent)."""
    return _call.get()


def update_id(update: str) -> str | None:
    call = current()
    return call.update_id(update) if call is not None else None


def row_id(prefix: str, purpose: str = "") -> str | None:
    call = current()
    return call.row_id(prefix, purpose) if call is not None else None


def _state(scope_state: Any) -> dict[str, Any]:
    return scope_state if isinstance(scope_state, dict) else {}


def note_application(scope_state: Any, application_id: str) -> None:
    """Tell the middleware which application a call concerns (its kept answer goes with its erasure)."""
    _state(scope_state)["idempotency_application"] = application_id


def note_caller(scope_state: Any) -> None:
    """The caller has proved who they are (a staff token or session, a candidate link): only such a
    call's answer is kept, so a stranger cannot fill the table."""
    _state(scope_state)["idempotency_caller"] = True


def keep_apart(scope_state: Any) -> None:
    """This call's answer holds no personal data and outlives the application's erasure (the
    erasure request's own answer, which a retry must still be given)."""
    _state(scope_state)["idempotency_apart"] = True


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


# ---------------------------------------------------------------------------------- OpenAPI

KEY_DESCRIPTION = (
    "A key of your choosing (a UUID, say), new for each new request, the same when you send a "
    "request again because its answer was lost (a timeout, a 503, a dropped connection). A retry "
    "with the same key is answered as the first request was (marked `Idempotent-Replayed: true`) "
    "and changes nothing more; answers are kept for the retry for a day (IDEMPOTENCY_TTL_HOURS). "
    "The same key with another method, path or body is refused (422). Keys are per credential."
)


def document_idempotency(app: Any) -> None:
    """Every state-changing operation of the API takes the Idempotency-Key header (in the spec)."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return dict(app.openapi_schema)
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith("/api/"):
                continue
            for method, operation in operations.items():
                if method.upper() in SAFE_METHODS or not isinstance(operation, dict):
                    continue
                operation.setdefault("parameters", []).append(
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": KEY_DESCRIPTION,
                        "schema": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 255,
                            "pattern": KEY.pattern,
                        },
                    }
                )
                responses = operation.setdefault("responses", {})
                for status, what in (
                    (
                        "400",
                        "The body could not be read, or the Idempotency-Key is not 1 to 255 visible ASCII characters",
                    ),
                    (
                        "422",
                        "The request is not valid, or its Idempotency-Key was used for a different request",
                    ),
                    (
                        "503",
                        "Busy or unreachable (or a request with this Idempotency-Key is still running): send it again",
                    ),
                ):
                    responses.setdefault(
                        status,
                        {
                            "description": what,
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
                            },
                        },
                    )
                for status, response in responses.items():
                    if status.startswith("2"):
                        response.setdefault("headers", {})["Idempotent-Replayed"] = {
                            "description": "`true` when this is the kept answer to an earlier request with the same Idempotency-Key",
                            "schema": {"type": "string", "enum": ["true"]},
                        }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi


# ------------------------------------------------------------------------------- the store


class _Store:
    """The claims and kept answers. Every change to a claimed row names the claim (a token drawn
    when it was taken), so a call whose claim was taken over cannot touch its successor's row."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self._purged_at = datetime.min.replace(tzinfo=UTC)

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.IDEMPOTENCY_LEASE_SECONDS)

    def claim(self, record: str, fingerprint: str, claim: str) -> IdempotentRequest | None:
        """Take the key under `claim` (None: taken, run the call), or the row that holds it."""
        for _ in range(5):
            now = datetime.now(UTC)
            with Session(self.engine, expire_on_commit=False) as session:
                self._purge(session, now)
                row = session.get(IdempotentRequest, record)
                if row is not None and row.expires_at <= now:
                    session.delete(row)
                    session.commit()
                    row = None
                if row is None:
                    session.add(
                        IdempotentRequest(
                            id=record,
                            fingerprint=fingerprint,
                            claim=claim,
                            lease_until=now + self.lease,
                            expires_at=now + timedelta(hours=self.settings.IDEMPOTENCY_TTL_HOURS),
                        )
                    )
                    try:
                        session.commit()
                        return None
                    except IntegrityError:  # the same call, sent twice at once: look again
                        session.rollback()
                        continue
                if row.fingerprint == fingerprint and row.state == "running" and row.lease_until <= now:
                    # Its process was lost mid-call: this retry takes the claim over.
                    taken = session.execute(
                        update(IdempotentRequest)
                        .where(
                            col(IdempotentRequest.id) == record,
                            col(IdempotentRequest.state) == "running",
                            col(IdempotentRequest.claim) == row.claim,
                        )
                        .values(claim=claim, lease_until=now + self.lease)
                    )
                    session.commit()
                    if getattr(taken, "rowcount", 0) == 1:
                        return None
                    continue
                return row
        raise RuntimeError(f"idempotency record {record[:8]}… changed five times while being read")

    def renew(self, record: str, claim: str) -> None:
        with Session(self.engine) as session:
            session.execute(
                update(IdempotentRequest)
                .where(col(IdempotentRequest.id) == record, col(IdempotentRequest.claim) == claim)
                .where(col(IdempotentRequest.state) == "running")
                .values(lease_until=datetime.now(UTC) + self.lease)
            )
            session.commit()

    def still_valid(self, credential: str) -> bool:
        """Whether the credential a kept answer was made for still opens the API: a revoked token,
        an ended session, a disabled user, a replaced link or an erased application is not given
        it again."""
        kind, _, value = credential.partition(":")
        with Session(self.engine) as session:
            if kind == "bearer":
                admin = self.settings.ADMIN_TOKEN
                if admin and hmac.compare_digest(value.encode(), admin.encode()):
                    return True
                return accounts.user_for_token(session, value) is not None
            if kind == "session":
                return accounts.user_for_session(session, value) is not None
            try:
                link = read_candidate_link(value, self.settings.secret_key)
            except (BadLink, ExpiredLink):
                return False
            application = session.get(Application, link.application_id)
            return (
                application is not None
                and application.erased_at is None
                and link.generation >= application.link_generation
            )

    def look(self, record: str) -> IdempotentRequest | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(IdempotentRequest, record)

    def keep(
        self,
        record: str,
        claim: str,
        status: int,
        sealed: bytes,
        application_id: str | None,
        job_id: str | None,
    ) -> bool:
        """Keep the answer, unless the claim was lost or the application erased meanwhile."""
        with Session(self.engine) as session:
            if application_id is not None:
                application = session.get(Application, application_id)
                if application is not None and application.erased_at is not None:
                    return False
            kept = session.execute(
                update(IdempotentRequest)
                .where(col(IdempotentRequest.id) == record, col(IdempotentRequest.claim) == claim)
                .where(col(IdempotentRequest.state) == "running")
                .values(
                    state="done",
                    status_code=status,
                    sealed=sealed,
                    application_id=application_id,
                    job_id=job_id,
                )
            )
            session.commit()
            return getattr(kept, "rowcount", 0) == 1

    def release(self, record: str, claim: str) -> None:
        with Session(self.engine) as session:
            session.execute(
                delete(IdempotentRequest).where(
                    col(IdempotentRequest.id) == record,
                    col(IdempotentRequest.claim) == claim,
                    col(IdempotentRequest.state) == "running",
                )
            )
            session.commit()

    def _purge(self, session: Session, now: datetime) -> None:
        if now - self._purged_at < timedelta(minutes=10):
            return
        self._purged_at = now
        session.execute(delete(IdempotentRequest).where(col(IdempotentRequest.expires_at) <= now))
        session.commit()


def _seal(key: bytes, record: str, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    plain = json.dumps(
        {
            "status": status,
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in headers],
            "body": base64.b64encode(body).decode(),
        }
    ).encode()
    nonce = os.urandom(NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plain, record.encode())


def _open(key: bytes, record: str, sealed: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    plain = json.loads(AESGCM(key).decrypt(sealed[:NONCE], sealed[NONCE:], record.encode()))
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in plain["headers"]]
    return int(plain["status"]), headers, base64.b64decode(plain["body"])


# -------------------------------------------------------------------------------- middleware


class Idempotency:
    """ASGI middleware: see the module's docstring. Inside BodyLimit, so that what it reads is bounded."""

    def __init__(self, app: ASGIApp, settings: Settings, engine: Engine | None = None) -> None:
        self.app = app
        self.settings = settings
        self._engine = engine
        self._store: _Store | None = None

    def store(self, scope: Scope) -> _Store:
        if self._store is None:
            engine = self._engine or scope["app"].state.engine
            self._store = _Store(engine, self.settings)
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
            try:
                values = parse_qs(body[: 64 * 1024].decode("latin-1"), max_num_fields=200)
            except ValueError:
                values = {}
            field_value = values.get(FORM_FIELD, [None])[0]
            key = field_value if field_value else None
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
            status, headers, body = _open(derived.seal_key, derived.record, held.sealed)
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
                sealed = _seal(derived.seal_key, derived.record, status, kept_headers, b"".join(parts))
                kept = await anyio.to_thread.run_sync(
                    store.keep, derived.record, claim, status, sealed, application_id, job_id
                )
        finally:
            _call.reset(token)
            renewing.cancel()
            if not kept:
                with anyio.CancelScope(shield=True):  # a cancelled call still lets go of its claim
                    await anyio.to_thread.run_sync(store.release, derived.record, claim)


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
