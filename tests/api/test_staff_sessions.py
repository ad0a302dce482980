"""Browser sessions for staff: sign-in with a password, a session cookie that expires and can be
ended, and CSRF tokens on everything that changes state."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from offhours import accounts
from offhours.models import WebSession
from tests.support.actors import HTML, make_user
from tests.support.actors import sign_in_status as sign_in
from tests.support.stack import Stack


async def test_sign_in_works_and_a_wrong_password_does_not(stack: Stack) -> None:
    email = make_user(stack)
    assert await sign_in(stack, email, "not the password!") == 401
    assert "offhours_session" not in stack.http.cookies
    assert await sign_in(stack, email) == 303
    cookie = stack.http.cookies.get("offhours_session")
    assert cookie
    jobs = await stack.http.get("/staff/jobs", headers=HTML)
    assert jobs.status_code == 200
    assert "Jobs" in jobs.text
    # The session also works on the JSON API (reads need no CSRF token).
    assert (await stack.http.get("/api/v1/jobs")).status_code == 200


async def test_state_changes_need_the_sessions_csrf_token(stack: Stack) -> None:
    email = make_user(stack)
    assert await sign_in(stack, email) == 303
    refused = await stack.http.post("/api/v1/jobs", json={"title": "No token", "pipeline": "standard"})
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    page = await stack.http.get("/staff/jobs", headers=HTML)
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert token is not None
    created = await stack.http.post(
        "/api/v1/jobs",
        json={"title": "With token", "pipeline": "standard"},
        headers={"X-CSRF-Token": token[1]},
    )
    assert created.status_code == 201, created.text
    forged = await stack.http.post(
        "/api/v1/jobs", json={"title": "Forged", "pipeline": "standard"}, headers={"X-CSRF-Token": "0" * 64}
    )
    assert forged.status_code == 403


async def test_an_expired_or_ended_session_signs_in_again(stack: Stack) -> None:
    email = make_user(stack)
    assert await sign_in(stack, email) == 303
    with Session(stack.engine) as session:
        for web in session.exec(select(WebSession)):
            web.expires_at = datetime.now(UTC) - timedelta(seconds=1)
            session.add(web)
        session.commit()
    page = await stack.http.get("/staff/jobs", headers=HTML)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/staff/login")
    api = await stack.http.get("/api/v1/jobs")
    assert api.status_code == 401
    assert "session has ended" in api.json()["detail"]

    assert await sign_in(stack, email) == 303
    jobs = await stack.http.get("/staff/jobs", headers=HTML)
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', jobs.text)
    assert token is not None
    out = await stack.http.post("/staff/logout", data={"csrf_token": token[1]})
    assert out.status_code == 303
    stack.http.cookies.clear()
    assert (await stack.http.get("/staff/jobs", headers=HTML)).status_code == 303


async def test_a_disabled_user_is_signed_out_at_once(stack: Stack) -> None:
    email = make_user(stack)
    assert await sign_in(stack, email) == 303
    with Session(stack.engine) as session:
        accounts.disable_user(session, email)
        session.commit()
    assert (await stack.http.get("/api/v1/jobs")).status_code == 401
    assert await sign_in(stack, email) == 401
