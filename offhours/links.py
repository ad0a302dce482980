"""Candidate links: signed, expiring, scoped to one application. Nothing in them can be guessed."""

from __future__ import annotations

from datetime import UTC, datetime

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "offhours.candidate-link.v1"


class BadLink(Exception):
    """The token was not issued by this server (tampered, truncated, or signed with another key)."""


class ExpiredLink(Exception):
    """The token was genuine but its validity has ended."""


def make_candidate_token(application_id: str, expires_at: datetime, secret: str) -> str:
    serializer = URLSafeSerializer(secret, salt=SALT)
    return str(serializer.dumps({"a": application_id, "e": int(expires_at.timestamp())}))


def read_candidate_token(token: str, secret: str, now: datetime | None = None) -> str:
    """Return the application id the token is scoped to, or raise BadLink / ExpiredLink."""
    serializer = URLSafeSerializer(secret, salt=SALT)
    try:
        payload = serializer.loads(token)
    except BadSignature:
        raise BadLink("this link is not valid") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("a"), str) or "e" not in payload:
        raise BadLink("this link is not valid")
    now = now or datetime.now(UTC)
    if now.timestamp() >= float(payload["e"]):
        raise ExpiredLink("this link has expired")
    return payload["a"]
