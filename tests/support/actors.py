"""The people tests act as: the admin token (`STAFF`), staff accounts linked to the directory, staff
with a role, staff who sign in with a password, and unique candidate addresses."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from offhours import accounts
from offhours.settings import new_key

if TYPE_CHECKING:
    from tests.support.stack import Stack

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
STAFF = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# One set of keys for the whole session, so that subprocesses (a worker, the CLI) share them.
PAYLOAD_KEYS = new_key("test-payload")
MASTER_KEYS = new_key("test-master")

PASSWORD = "a password long enough"
HTML = {"Accept": "text/html"}


def unique_email() -> str:
    return f"cand-{uuid.uuid4().hex[:10]}@example.com"


def person_headers(engine: Engine, person_id: str, token_name: str = "test") -> dict[str, str]:
    """Headers for a new ops account linked to a person of the staff directory: only such accounts
    score and cast approvers' votes, as themselves (ADMIN_TOKEN does neither)."""
    with Session(engine) as session:
        user = accounts.create_user(session, unique_email(), f"Staff {person_id}", "ops", person_id)
        _, token = accounts.create_token(session, user.id, token_name)
        session.commit()
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Staff:
    user_id: str
    headers: dict[str, str]


def make_staff(stack: Stack, role: str, person_id: str | None = None) -> Staff:
    """A staff account with `role` (linked to `person_id` of the directory, if given) and its token."""
    with Session(stack.engine) as session:
        user = accounts.create_user(session, unique_email(), f"A {role}", role, person_id)
        _, token = accounts.create_token(session, user.id, "test")
        session.commit()
        return Staff(user.id, {"Authorization": f"Bearer {token}"})


def make_user(stack: Stack, role: str = "recruiter", password: str = PASSWORD) -> str:
    """A staff account that signs in with a password (linked to ana); returns its email address."""
    email = unique_email()
    with Session(stack.engine) as session:
        accounts.create_user(session, email, "Rita", role, "ana", password)
        session.commit()
    return email


async def sign_in(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    """Sign in on the staff login form, as a browser does (its CSRF token first)."""
    page = await http.get("/staff/login", headers=HTML)
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert token is not None, page.text
    return await http.post(
        "/staff/login",
        data={"csrf_token": token[1], "email": email, "password": password, "next": "/staff"},
        headers=HTML,
    )


async def sign_in_status(stack: Stack, email: str, password: str = PASSWORD) -> int:
    """Sign in on the stack's own client (its cookies then hold the session); returns the status."""
    page = await stack.http.get("/staff/login", headers=HTML)
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert token is not None
    response = await stack.http.post(
        "/staff/login", data={"csrf_token": token[1], "email": email, "password": password, "next": "/staff"}
    )
    return response.status_code


def recorded_as(stack: Stack, headers: dict[str, str]) -> str:
    """How the account behind these headers is named in histories (role:user id)."""
    with Session(stack.engine) as session:
        user = accounts.user_for_token(session, headers["Authorization"].removeprefix("Bearer "))
        assert user is not None
        return f"{user.role}:{user.id}"
