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

The package: this module is the call being served (the ids a route derives from its key, and what
it tells the middleware); `middleware` claims keys and replays answers (`store` keeps them, sealed);
`openapi` documents the header on every state-changing operation.
"""

from __future__ import annotations

import hashlib
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

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
