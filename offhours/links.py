"""Candidate links: signed, expiring, scoped to one application. Nothing in them can be guessed.

A link also carries its application's link generation: sending a new link (staff "send the
invitation again") moves the generation on, and every link of an earlier one stops working. Links
issued before generations existed are generation 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "offhours.candidate-link.v1"


class BadLink(Exception):
    """The token was not issued by this server (tampered, truncated, or signed with another key)."""


class ExpiredLink(Exception):
    """The token was genuine but its validity has ended."""


@dataclass(frozen=True)
class Link:
    application_id: str
    generation: int


def make_candidate_token(application_id: str, expires_at: datetime, secret: str, generation: int = 0) -> str:
    serializer = URLSafeSerializer(secret, salt=SALT)
    payload: dict[str, object] = {"a": application_id, "e": int(expires_at.timestamp())}
    if generation:
        payload["g"] = generation
    return str(serializer.dumps(payload))


def read_candidate_link(token: str, secret: str, now: datetime | None = None) -> Link:
    """The application a token is scoped to and its generation, or raise BadLink / ExpiredLink."""
    serializer = URLSafeSerializer(secret, salt=SALT)
    try:
        payload = serializer.loads(token)
    except BadSignature:
        raise BadLink("this link is not valid") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("a"), str) or "e" not in payload:
        raise BadLink("this link is not valid")
    generation = payload.get("g", 0)
    if not isinstance(generation, int):
        raise BadLink("this link is not valid")
    now = now or datetime.now(UTC)
    if now.timestamp() >= float(payload["e"]):
        raise ExpiredLink("this link has expired")
    return Link(payload["a"], generation)


def read_candidate_token(token: str, secret: str, now: datetime | None = None) -> str:
    """The application id a token is scoped to, or raise BadLink / ExpiredLink."""
    return read_candidate_link(token, secret, now).application_id
