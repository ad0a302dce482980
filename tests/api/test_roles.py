"""Staff roles against the authorization policy: every route of the application has a rule, and each
role is allowed exactly what its rule says; recruiters see only their jobs, reviewers only their own
reviews, auditors read and change nothing; disabled users and revoked tokens are refused."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from sqlmodel import Session

from api import policy
from api.app import create_app
from offhours import accounts
from offhours.settings import Settings
from tests.support.actors import STAFF, Staff, make_staff, unique_email
from tests.support.stack import Stack


@pytest.fixture
def team(stack: Stack) -> dict[str, Staff]:
    return {
        "ops": make_staff(stack, "ops"),
        "recruiter": make_staff(stack, "recruiter", "ana"),
        "reviewer": make_staff(stack, "reviewer", "sam"),
        "auditor": make_staff(stack, "auditor"),
    }


def every_route(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every route the application serves, routers included, static files too."""
    return [
        (method, str(context.path))
        for context in iter_route_contexts(app.routes)
        for method in sorted(context.methods or {"GET"})
    ]


def test_every_route_has_a_policy(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"ENVIRONMENT": "development"}))
    routes = every_route(app)
    assert len(routes) > 60
    assert ("POST", "/api/v1/applications/{application_id}/decision") in routes
    missing = [f"{method} {path}" for method, path in routes if policy.rule_for(method, path) is None]
    assert missing == [], f"routes without an authorization policy: {missing}"
    assert policy.rule_for("POST", "/api/v1/a-route-nobody-wrote-a-rule-for") is None


def _staff_routes(app: Any) -> list[tuple[str, str, frozenset[str]]]:
    routes = []
    for method, path in every_route(app):
        rule = policy.rule_for(method, path)
        if isinstance(rule, frozenset) and method != "HEAD":
            routes.append((method, path, rule))
    return routes


async def test_each_role_is_allowed_exactly_what_the_policy_says(
    stack: Stack, team: dict[str, Staff]
) -> None:
    app = stack.http._transport.app  # type: ignore[attr-defined]
    routes = _staff_routes(app)
    assert len(routes) >= 20
    wrong = []
    for method, path, rule in routes:
        url = re.sub(r"\{[^}]+\}", "unknown", path)
        for role, member in team.items():
            response = await stack.http.request(method, url, headers=member.headers, json={})
            refused = response.status_code == 403
            if refused == (role in rule) or response.status_code == 401:
                wrong.append(f"{role} {method} {path} -> {response.status_code} {response.text[:80]}")
    assert wrong == []


async def test_recruiters_see_only_the_jobs_they_are_on(stack: Stack, team: dict[str, Staff]) -> None:
    mine = await stack.http.post(
        "/api/v1/jobs", json={"title": "Mine", "pipeline": "standard"}, headers=team["recruiter"].headers
    )
    assert mine.status_code == 201
    other = await stack.create_job("Someone else's")  # opened by ADMIN_TOKEN: nobody is on it
    invited = await stack.invite(other["id"])
    recruiter = team["recruiter"].headers
    listed = {j["id"] for j in (await stack.http.get("/api/v1/jobs", headers=recruiter)).json()}
    assert mine.json()["id"] in listed
    assert other["id"] not in listed
    assert (await stack.http.get(f"/api/v1/jobs/{other['id']}", headers=recruiter)).status_code == 404
    assert (
        await stack.http.get(f"/api/v1/applications/{invited['id']}", headers=recruiter)
    ).status_code == 404
    assert (await stack.http.get("/api/v1/applications", headers=recruiter)).json() == []
    refused = await stack.http.post(
        "/api/v1/applications",
        json={"job_id": other["id"], "candidate": {"name": "X", "email": unique_email(), "timezone": "UTC"}},
        headers=recruiter,
    )
    assert refused.status_code == 404
    withdraw = await stack.http.post(
        f"/api/v1/applications/{invited['id']}/withdraw", json={}, headers=recruiter
    )
    assert withdraw.status_code == 404

    # Ops put them on the job: now they see it and can act on it.
    added = await stack.http.post(
        f"/api/v1/jobs/{other['id']}/members", json={"user": team["recruiter"].user_id}, headers=STAFF
    )
    assert added.status_code == 201, added.text
    assert (
        await stack.http.get(f"/api/v1/applications/{invited['id']}", headers=recruiter)
    ).status_code == 200
    # Ops and auditors see every job.
    for role in ("ops", "auditor"):
        listed = {j["id"] for j in (await stack.http.get("/api/v1/jobs", headers=team[role].headers)).json()}
        assert {mine.json()["id"], other["id"]} <= listed


async def test_auditors_read_everything_and_change_nothing(stack: Stack, team: dict[str, Staff]) -> None:
    job = await stack.create_job("Audited")
    invited = await stack.invite(job["id"])
    auditor = team["auditor"].headers
    assert (await stack.http.get(f"/api/v1/applications/{invited['id']}", headers=auditor)).status_code == 200
    for path, body in (
        ("withdraw", {}),
        ("decision", {"decision": "approve"}),
        ("extension", {"grant": True}),
        ("messages", {"body": "hello"}),
    ):
        response = await stack.http.post(
            f"/api/v1/applications/{invited['id']}/{path}", json=body, headers=auditor
        )
        assert response.status_code == 403, (path, response.text)
        assert "auditor role may not" in response.json()["detail"]
    job_attempt = await stack.http.post(
        "/api/v1/jobs", json={"title": "X", "pipeline": "standard"}, headers=auditor
    )
    assert job_attempt.status_code == 403
    assert (await stack.application(invited["id"]))["status"] == "invited"


async def test_reviewers_score_only_as_themselves_and_cannot_decide(
    stack: Stack, team: dict[str, Staff]
) -> None:
    job = await stack.create_job("Reviewed")
    invited = await stack.invite(job["id"])
    reviewer = team["reviewer"].headers
    # Not assigned (yet): the application does not exist for them.
    assert (
        await stack.http.get(f"/api/v1/applications/{invited['id']}/review?reviewer_id=sam", headers=reviewer)
    ).status_code == 404
    other = await stack.http.get(
        f"/api/v1/applications/{invited['id']}/review?reviewer_id=kai", headers=reviewer
    )
    assert other.status_code == 403
    assert "own reviews" in other.json()["detail"]
    as_someone_else = await stack.http.post(
        f"/api/v1/applications/{invited['id']}/scorecards",
        json={"reviewer_id": "kai", "overall_recommendation": "yes", "ratings": {}},
        headers=reviewer,
    )
    assert as_someone_else.status_code == 403
    assert "as yourself ('sam')" in as_someone_else.json()["detail"]
    decide = await stack.http.post(
        f"/api/v1/applications/{invited['id']}/decision", json={"decision": "approve"}, headers=reviewer
    )
    assert decide.status_code == 403
    assert "reviewer role may not" in decide.json()["detail"]


async def test_disabled_users_and_revoked_tokens_are_refused(stack: Stack) -> None:
    with Session(stack.engine) as session:
        user = accounts.create_user(session, unique_email(), "Leaver", "recruiter")
        token, plain = accounts.create_token(session, user.id, "laptop")
        _, other = accounts.create_token(session, user.id, "ci")
        token_id, email = token.id, user.email
        session.commit()
    headers = {"Authorization": f"Bearer {plain}"}
    assert (await stack.http.get("/api/v1/jobs", headers=headers)).status_code == 200
    with Session(stack.engine) as session:
        accounts.revoke_token(session, token_id)
        session.commit()
    revoked = await stack.http.get("/api/v1/jobs", headers=headers)
    assert revoked.status_code == 401
    assert "not valid" in revoked.json()["detail"]
    assert (
        await stack.http.get("/api/v1/jobs", headers={"Authorization": f"Bearer {other}"})
    ).status_code == 200
    with Session(stack.engine) as session:
        accounts.disable_user(session, email)
        session.commit()
    assert (
        await stack.http.get("/api/v1/jobs", headers={"Authorization": f"Bearer {other}"})
    ).status_code == 401


def test_tokens_are_stored_hashed_and_passwords_salted(stack: Stack) -> None:
    with Session(stack.engine) as session:
        user = accounts.create_user(session, unique_email(), "Ops", "ops", password="a long enough password")
        token, plain = accounts.create_token(session, user.id, "x")
        session.commit()
        assert plain.startswith("oh_")
        assert plain not in token.token_hash
        assert token.token_hash == accounts.digest(plain)
        assert user.password_hash
        assert "a long enough password" not in user.password_hash
        assert accounts.authenticate(session, user.email, "a long enough password") is not None
        assert accounts.authenticate(session, user.email, "a wrong password!") is None
        with pytest.raises(accounts.AccountError, match="at least 12"):
            accounts.create_user(session, unique_email(), "Short", "ops", password="short")
        with pytest.raises(accounts.AccountError, match="role must be one of"):
            accounts.create_user(session, unique_email(), "Boss", "boss")


async def test_admin_token_keeps_working_for_bootstrap(stack: Stack) -> None:
    assert (await stack.http.get("/api/v1/jobs", headers=STAFF)).status_code == 200
    bad = await stack.http.get("/api/v1/jobs", headers={"Authorization": "Bearer oh_not-a-token"})
    assert bad.status_code == 401
    assert "not valid" in bad.json()["detail"]


async def test_a_recruiter_extends_a_deadline_unasked_and_the_candidate_is_told(
    stack: Stack, team: dict[str, Staff]
) -> None:
    job = await stack.create_job("Extended")
    address = unique_email()
    invited = await stack.invite(job["id"], address)
    await stack.http.post(
        f"/api/v1/jobs/{job['id']}/members", json={"user": team["recruiter"].user_id}, headers=STAFF
    )
    await stack.mailbox.wait_for(address, 1)  # invited: the workflow has set the deadline
    before = (await stack.application(invited["id"]))["deadline"]
    url = f"/api/v1/applications/{invited['id']}/deadline"
    recruiter = team["recruiter"].headers
    assert (await stack.http.post(url, json={"hours": 0}, headers=recruiter)).status_code == 422
    moved = await stack.http.post(url, json={"hours": 48}, headers=recruiter)
    assert moved.status_code == 200, moved.text
    after = moved.json()["deadline"]
    assert datetime.fromisoformat(after) - datetime.fromisoformat(before) == timedelta(hours=48)
    mails = await stack.mailbox.wait_for(address, 2)
    assert any("extension" in m.message_id for m in mails), [m.subject for m in mails]
    assert (
        await stack.http.post(url, json={"hours": 24}, headers=team["auditor"].headers)
    ).status_code == 403
    await stack.http.post(f"/api/v1/applications/{invited['id']}/withdraw", json={}, headers=recruiter)
    closed = await stack.http.post(url, json={"hours": 24}, headers=recruiter)
    # Refused by the workflow, or (once it has closed) by the API: either way a 409 naming why.
    assert closed.status_code == 409
    assert "no candidate deadline" in closed.json()["detail"] or "withdrawn" in closed.json()["detail"]
