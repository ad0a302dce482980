"""Keyset pagination for the lists an ATS syncs from: jobs, applications, scorecards, messages.

A list is read in ascending (timestamp, id) order: `updated_at` for jobs and applications, the
submission time for scorecards, the creation time for messages. A page ends where it ends; the
`Link: <...>; rel="next"` header, present only while more rows may follow, carries the same query
with a `cursor` naming the last row served, and the next page is the rows after it. Rows that change
while a list is walked move to its end (their timestamp moves on), so a walk sees every row that
existed when it started, and those changed since, at least once: a row appears again only when it
changed after it was read.

`updated_after` (ISO 8601; without a zone, UTC) keeps only rows whose timestamp is later: an ATS
keeps the latest timestamp it has seen and asks for what changed since. A change is stamped as it is
written, a moment before its transaction commits, so a sync that resumes from the last timestamp it
saw should start a few seconds before it and skip what it already has by (id, timestamp).

A cursor is opaque: URL-safe base64 of the row's timestamp and id, with an HMAC (the server's secret
key) over them and the list's path, so that a cursor that is garbled, made up, or taken from another
list is refused with a 422 instead of silently starting somewhere else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, cast
from urllib.parse import urlencode

from fastapi import Depends, Query, Request, Response
from pydantic import WithJsonSchema
from sqlalchemy import and_, or_
from sqlalchemy.orm import InstrumentedAttribute
from sqlmodel import Session
from sqlmodel.sql.expression import Select, SelectOfScalar

from api.deps import SettingsDep
from api.errors import Unprocessable

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_CURSOR = 400  # far more than any cursor this API gives
SALT = "offhours.cursor.v1"
MAC_BYTES = 16
# Parameters a cursor replaces: dropped from the next page's link.
REPLACED = ("cursor", "offset")
BAD_CURSOR = "cursor is not one this API gave for this list; start again without it"
BAD_TIME = (
    "updated_after must be an ISO 8601 date and time, such as 2026-01-31T09:00:00Z "
    "(without a zone it is taken as UTC)"
)
# A '+' of a UTC offset sent unescaped in a query string arrives as a space.
SPACED_OFFSET = re.compile(r" (\d{2}(?::?\d{2})?)$")

LINK_DESCRIPTION = (
    'The next page, as `<url>; rel="next"`: the same query with a `cursor`. Absent on the last page.'
)
LINK_HEADER = {"Link": {"description": LINK_DESCRIPTION, "schema": {"type": "string"}}}

Key = str | int


@dataclass(frozen=True)
class Position:
    """Where a page ended: the last row's timestamp and id."""

    at: datetime
    id: Key


@dataclass(frozen=True)
class Paging:
    """A list request's paging: how many rows, after which row, changed after when; and what the
    next page's cursor and link are made from (the list's path, its query, the server's key)."""

    limit: int
    after: Position | None
    updated_after: datetime | None
    scope: str
    url: str
    query: tuple[tuple[str, str], ...]
    secret: str

    def cursor(self, position: Position) -> str:
        return encode_cursor(self.secret, self.scope, position)


# ----------------------------------------------------------------------------------- the cursor


def _mac(secret: str, scope: str, raw: bytes) -> bytes:
    message = f"{SALT}:{scope}:".encode() + raw
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()[:MAC_BYTES]


def encode_cursor(secret: str, scope: str, position: Position) -> str:
    """The cursor naming `position` on the list at `scope` (its path)."""
    raw = json.dumps([position.at.astimezone(UTC).isoformat(), position.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw + _mac(secret, scope, raw)).decode().rstrip("=")


def decode_cursor(secret: str, scope: str, cursor: str) -> Position:
    """The position a cursor of this list names; a 422 for any other."""
    try:
        blob = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise _bad_cursor() from None
    raw, mac = blob[:-MAC_BYTES], blob[-MAC_BYTES:]
    if len(blob) <= MAC_BYTES or not hmac.compare_digest(mac, _mac(secret, scope, raw)):
        raise _bad_cursor()
    try:
        at, key = json.loads(raw)
        position = Position(datetime.fromisoformat(at), key)
    except (ValueError, TypeError):
        raise _bad_cursor() from None
    if position.at.tzinfo is None or not isinstance(position.id, str | int):
        raise _bad_cursor()
    return position


def _bad_cursor() -> Unprocessable:
    return Unprocessable(BAD_CURSOR, errors=[{"field": "cursor", "message": BAD_CURSOR}])


def parse_time(value: str, name: str = "updated_after") -> datetime:
    """An ISO 8601 date and time (a date alone is its midnight), aware; naive is taken as UTC."""
    text = SPACED_OFFSET.sub(r"+\1", value.strip().upper())
    try:
        parsed = datetime.fromisoformat(text)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # not a time, or one that is out of range in UTC
        message = BAD_TIME.replace("updated_after", name)
        raise Unprocessable(message, errors=[{"field": name, "message": message}]) from None


# ------------------------------------------------------------------------------ the dependency


def paging(
    request: Request,
    settings: SettingsDep,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Rows per page (at most {MAX_LIMIT})")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            max_length=MAX_CURSOR,
            description='Where the previous page ended: taken from its `Link: <...>; rel="next"` header, '
            "never made up",
        ),
    ] = None,
    updated_after: Annotated[
        str | None,
        Query(
            max_length=64,
            description="Only rows changed after this time (ISO 8601, such as 2026-01-31T09:00:00Z; "
            "without a zone, UTC): what changed since the last sync",
        ),
        WithJsonSchema(
            {"anyOf": [{"type": "string", "format": "date-time", "maxLength": 64}, {"type": "null"}]}
        ),
    ] = None,
) -> Paging:
    """The paging of a list request, checked: a limit in range, a cursor this list gave, a time."""
    scope = request.url.path
    secret = settings.secret_key
    return Paging(
        limit=limit,
        after=decode_cursor(secret, scope, cursor) if cursor else None,
        updated_after=parse_time(updated_after) if updated_after else None,
        scope=scope,
        url=settings.PUBLIC_URL.rstrip("/") + scope,
        query=tuple((k, v) for k, v in request.query_params.multi_items() if k not in REPLACED),
        secret=secret,
    )


PagingDep = Annotated[Paging, Depends(paging)]


# --------------------------------------------------------------------------------- the page


def _position(row: Any, at: InstrumentedAttribute[Any], key: InstrumentedAttribute[Any]) -> Position:
    """The (timestamp, id) of a row: an entity, or a tuple holding the one the columns belong to."""
    owner = cast(type[Any], at.class_)  # a mapped class: no list pages over an alias
    item = row if isinstance(row, owner) else next(x for x in row if isinstance(x, owner))
    return Position(getattr(item, at.key), getattr(item, key.key))


def page(
    session: Session,
    query: Select[*tuple[Any, ...]] | SelectOfScalar[Any],
    at: Any,
    key: Any,
    paging: Paging,
) -> tuple[list[Any], str | None]:
    """One page of `query` in (`at`, `key`) order, after the paging's cursor and changed after its
    `updated_after`; and the cursor of the next page, None when this one is the last. One more row
    than the limit is read, to know."""
    query = query.order_by(None).order_by(at, key)
    if paging.updated_after is not None:
        query = query.where(at > paging.updated_after)
    if paging.after is not None:
        after = paging.after
        # The first condition alone is what an index on (at, key) ranges over.
        query = query.where(and_(at >= after.at, or_(at > after.at, key > after.id)))
    rows = list(session.exec(query.limit(paging.limit + 1)))
    if len(rows) <= paging.limit:
        return rows, None
    rows = rows[: paging.limit]
    return rows, paging.cursor(_position(rows[-1], at, key))


def link_header(paging: Paging, next_cursor: str) -> str:
    """The `Link` header of a page followed by another: the same query, with the next cursor."""
    query = urlencode([*paging.query, ("cursor", next_cursor)])
    return f'<{paging.url}?{query}>; rel="next"'


def paginate(response: Response, paging: Paging, next_cursor: str | None) -> None:
    """Put the next page's link on `response`, when there is a next page."""
    if next_cursor is not None:
        response.headers["Link"] = link_header(paging, next_cursor)
