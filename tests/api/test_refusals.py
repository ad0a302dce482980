"""Bad input, wrong order, duplicates and unknown ids: clear 4xx answers that lose nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, func, select

from offhours.links import make_candidate_token
from offhours.models import Application, Candidate
from pipelines.base import Pipeline
from pipelines.registry import PIPELINES
from pipelines.stages import Criterion, Decision, Interview, Invite, Question, Reminders, Review
from tests.support.actors import STAFF, unique_email
from tests.support.journeys import SCORECARD, answer_all
from tests.support.mail import token_from
from tests.support.stack import Stack


async def invited(stack: Stack, address: str | None = None) -> tuple[dict[str, Any], str, str]:
    job = await stack.create_job()
    address = address or unique_email()
    application = await stack.invite(job["id"], address)
    [invite] = await stack.mailbox.wait_for(address, 1)
    return application, token_from(invite.link()), address


async def in_review(stack: Stack) -> tuple[dict[str, Any], str, str]:
    application, token, address = await invited(stack)
    await answer_all(stack, token)
    assert (await stack.http.post(f"/api/v1/candidate/{token}/submit")).status_code == 200
    await stack.wait_status(application["id"], "in_review")
    return application, token, address


# ----------------------------------------------------------------------------- authentication


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/jobs"),
        ("GET", "/api/v1/jobs"),
        ("GET", "/api/v1/jobs/job_x"),
        ("POST", "/api/v1/applications"),
        ("GET", "/api/v1/applications"),
        ("GET", "/api/v1/applications/app_x"),
        ("POST", "/api/v1/applications/app_x/scorecards"),
        ("POST", "/api/v1/applications/app_x/decision"),
        ("POST", "/api/v1/applications/app_x/withdraw"),
    ],
)
async def test_staff_routes_need_a_valid_token(stack: Stack, method: str, path: str) -> None:
    missing = await stack.http.request(method, path, json={})
    assert missing.status_code == 401
    assert "Bearer" in missing.json()["detail"]
    wrong = await stack.http.request(method, path, json={}, headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    assert wrong.json()["detail"].startswith("this token is not valid")


async def test_candidate_token_cannot_be_used_as_a_staff_token(stack: Stack) -> None:
    _, token, _ = await invited(stack)
    response = await stack.http.get("/api/v1/applications", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


# ----------------------------------------------------------------------------- validation


async def test_unknown_pipeline_names_the_known_ones(stack: Stack) -> None:
    response = await stack.http.post("/api/v1/jobs", json={"title": "X", "pipeline": "nope"}, headers=STAFF)
    assert response.status_code == 422
    body = response.json()
    assert "unknown pipeline 'nope'" in body["detail"]
    assert "standard" in body["detail"]
    assert body["known_pipelines"] == sorted(PIPELINES)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"pipeline": "standard"}, "title"),
        ({"title": "", "pipeline": "standard"}, "title"),
        ({"title": "x" * 201, "pipeline": "standard"}, "title"),
        ({"title": "X", "pipeline": "standard", "salary": 1}, "salary"),
    ],
)
async def test_invalid_job_bodies_name_the_field(stack: Stack, body: dict[str, Any], field: str) -> None:
    response = await stack.http.post("/api/v1/jobs", json=body, headers=STAFF)
    assert response.status_code == 422
    assert field in response.json()["detail"]
    assert [e["field"] for e in response.json()["errors"]] == [field]


@pytest.mark.parametrize(
    ("candidate", "field"),
    [
        ({"name": "A", "email": "not-an-email", "timezone": "UTC"}, "candidate.email"),
        ({"name": "A", "email": "a@example.com", "timezone": "Mars/Olympus"}, "candidate.timezone"),
        ({"name": "", "email": "a@example.com", "timezone": "UTC"}, "candidate.name"),
        ({"email": "a@example.com", "timezone": "UTC"}, "candidate.name"),
    ],
)
async def test_invalid_candidates_name_the_field_and_save_nothing(
    stack: Stack, candidate: dict[str, Any], field: str
) -> None:
    job = await stack.create_job()
    response = await stack.http.post(
        "/api/v1/applications", json={"job_id": job["id"], "candidate": candidate}, headers=STAFF
    )
    assert response.status_code == 422
    assert field in response.json()["detail"]
    with Session(stack.engine) as session:
        assert session.exec(select(func.count()).select_from(Application)).one() == 0
        assert session.exec(select(func.count()).select_from(Candidate)).one() == 0


async def test_malformed_json_is_a_422(stack: Stack) -> None:
    response = await stack.http.post(
        "/api/v1/jobs", content=b"{not json", headers={**STAFF, "Content-Type": "application/json"}
    )
    assert response.status_code == 422


async def test_unknown_ids_are_404(stack: Stack) -> None:
    assert (await stack.http.get("/api/v1/jobs/job_missing", headers=STAFF)).status_code == 404
    missing_app = await stack.http.get("/api/v1/applications/app_missing", headers=STAFF)
    assert missing_app.status_code == 404
    assert "app_missing" in missing_app.json()["detail"]
    # As a directory person (ADMIN_TOKEN may not score at all): the application is unknown.
    card = await stack.http.post(
        "/api/v1/applications/app_missing/scorecards", json=SCORECARD, headers=stack.as_person("sam")
    )
    assert card.status_code == 404
    decision = await stack.http.post(
        "/api/v1/applications/app_missing/decision", json={"decision": "approve"}, headers=STAFF
    )
    assert decision.status_code == 404
    invite = await stack.http.post(
        "/api/v1/applications",
        json={
            "job_id": "job_missing",
            "candidate": {"name": "A", "email": unique_email(), "timezone": "UTC"},
        },
        headers=STAFF,
    )
    assert invite.status_code == 404
    assert "job_missing" in invite.json()["detail"]


async def test_unknown_status_filter_is_a_422(stack: Stack) -> None:
    response = await stack.http.get("/api/v1/applications", params={"status": "hired"}, headers=STAFF)
    assert response.status_code == 422
    assert "status" in response.json()["detail"]


# ----------------------------------------------------------------------------- duplicates


async def test_same_candidate_on_same_job_is_a_409_with_the_existing_id(stack: Stack) -> None:
    job = await stack.create_job()
    address = unique_email()
    first = await stack.invite(job["id"], address)
    again = await stack.http.post(
        "/api/v1/applications",
        json={
            "job_id": job["id"],
            "candidate": {"name": "Other Name", "email": address.upper(), "timezone": "UTC"},
        },
        headers=STAFF,
    )
    assert again.status_code == 409
    assert again.json()["application_id"] == first["id"]
    await stack.mailbox.wait_for(address, 1)
    await stack.mailbox.settle()
    assert len(stack.mailbox.to(address)) == 1, "the duplicate must not send a second invitation"

    other_job = await stack.create_job("Another role")
    elsewhere = await stack.invite(other_job["id"], address)
    assert elsewhere["candidate"]["id"] == first["candidate"]["id"]


async def test_concurrent_duplicate_invites_start_exactly_one_application(stack: Stack) -> None:
    job = await stack.create_job()
    address = unique_email()
    body = {"job_id": job["id"], "candidate": {"name": "Ada", "email": address, "timezone": "UTC"}}
    responses = await asyncio.gather(
        *(stack.http.post("/api/v1/applications", json=body, headers=STAFF) for _ in range(6))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [201, 409, 409, 409, 409, 409]
    created = next(r.json() for r in responses if r.status_code == 201)
    assert {r.json()["application_id"] for r in responses if r.status_code == 409} <= {created["id"]}
    await stack.mailbox.wait_for(address, 1)
    await stack.mailbox.settle()
    assert len(stack.mailbox.to(address)) == 1


# ----------------------------------------------------------------------------- wrong order


async def test_decision_before_review_is_a_409_with_the_state(stack: Stack) -> None:
    application, _, _ = await invited(stack)
    response = await stack.http.post(
        f"/api/v1/applications/{application['id']}/decision", json={"decision": "approve"}, headers=STAFF
    )
    assert response.status_code == 409
    body = response.json()
    assert body["status"] == "invited"
    assert "awaiting_decision" in body["detail"]
    assert (await stack.application(application["id"]))["decision"] is None


async def test_scorecard_before_submission_is_a_409(stack: Stack) -> None:
    application, _, _ = await invited(stack)
    response = await stack.http.post(  # sam, the standard pool's reviewer, has no review yet
        f"/api/v1/applications/{application['id']}/scorecards", json=SCORECARD, headers=stack.as_person("sam")
    )
    assert response.status_code == 409
    assert response.json()["status"] == "invited"
    assert (await stack.application(application["id"]))["scorecards"] == []


@pytest.mark.parametrize(
    ("ratings", "needle"),
    [
        ({"communication": 5, "relevant_experience": 4}, "missing: motivation"),
        ({"communication": 5, "relevant_experience": 4, "motivation": 5, "charisma": 5}, "unknown: charisma"),
    ],
)
async def test_scorecard_must_rate_the_pipeline_criteria(
    stack: Stack, ratings: dict[str, Any], needle: str
) -> None:
    application, _, _ = await in_review(stack)
    response = await stack.http.post(
        f"/api/v1/applications/{application['id']}/scorecards",
        json={**SCORECARD, "ratings": ratings},
        headers=await stack.as_reviewer(application["id"]),
    )
    assert response.status_code == 422
    assert needle in response.json()["detail"]
    assert (await stack.application(application["id"]))["status"] == "in_review"


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        (
            {"ratings": {"communication": 6, "relevant_experience": 4, "motivation": 5}},
            "ratings.communication",
        ),
        ({"overall_recommendation": "maybe"}, "overall_recommendation"),
    ],
)
async def test_scorecard_body_errors_name_the_field(stack: Stack, patch: dict[str, Any], field: str) -> None:
    application, _, _ = await in_review(stack)
    response = await stack.http.post(
        f"/api/v1/applications/{application['id']}/scorecards",
        json={**SCORECARD, **patch},
        headers=await stack.as_reviewer(application["id"]),
    )
    assert response.status_code == 422
    assert field in response.json()["detail"]


async def test_second_scorecard_and_second_decision_are_409s(stack: Stack) -> None:
    application, _, address = await in_review(stack)
    url = f"/api/v1/applications/{application['id']}"
    reviewer = await stack.as_reviewer(application["id"])
    assert (await stack.http.post(f"{url}/scorecards", json=SCORECARD, headers=reviewer)).status_code == 201
    second_card = await stack.http.post(f"{url}/scorecards", json=SCORECARD, headers=reviewer)
    assert second_card.status_code == 409
    assert second_card.json()["status"] == "awaiting_decision"

    bad = await stack.http.post(f"{url}/decision", json={"decision": "maybe"}, headers=STAFF)
    assert bad.status_code == 422
    assert "decision" in bad.json()["detail"]

    assert (
        await stack.http.post(f"{url}/decision", json={"decision": "approve"}, headers=STAFF)
    ).status_code == 200
    again = await stack.http.post(f"{url}/decision", json={"decision": "reject"}, headers=STAFF)
    assert again.status_code == 409
    assert again.json()["status"] == "approved"
    await stack.workflow(application["id"]).result()
    # Once the workflow has closed the answer is the same.
    closed = await stack.http.post(f"{url}/decision", json={"decision": "reject"}, headers=STAFF)
    assert closed.status_code == 409
    assert closed.json()["status"] == "approved"
    final = await stack.application(application["id"])
    assert final["decision"] == "approve"
    assert final["status"] == "approved"
    await stack.mailbox.settle()
    assert [m.subject.startswith("Good news") for m in stack.mailbox.to(address)].count(True) == 1
    assert not any("not to move forward" in m.text for m in stack.mailbox.to(address))


async def test_concurrent_decisions_only_one_wins(stack: Stack) -> None:
    application, _, address = await in_review(stack)
    url = f"/api/v1/applications/{application['id']}"
    reviewer = await stack.as_reviewer(application["id"])
    assert (await stack.http.post(f"{url}/scorecards", json=SCORECARD, headers=reviewer)).status_code == 201
    responses = await asyncio.gather(
        stack.http.post(f"{url}/decision", json={"decision": "approve"}, headers=STAFF),
        stack.http.post(f"{url}/decision", json={"decision": "reject"}, headers=STAFF),
        stack.http.post(f"{url}/decision", json={"decision": "approve"}, headers=STAFF),
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409]
    result = await stack.workflow(application["id"]).result()
    await stack.mailbox.settle()
    decision_mails = [m for m in stack.mailbox.to(address) if m.message_id.startswith("<decision.")]
    assert len(decision_mails) == 1
    assert result.status in ("approved", "rejected")


# ----------------------------------------------------------------------------- candidate side


async def test_answers_after_submission_are_409_and_change_nothing(stack: Stack) -> None:
    application, token, _ = await in_review(stack)
    late = await stack.http.post(
        f"/api/v1/candidate/{token}/answers", json={"question_id": "motivation", "text": "A new answer"}
    )
    assert late.status_code == 409
    again = await stack.http.post(f"/api/v1/candidate/{token}/submit")
    assert again.status_code == 409
    answers = (await stack.application(application["id"]))["answers"]
    assert {a["question_id"]: a["text"] for a in answers}["motivation"] == "My motivation."


async def test_answers_that_do_not_fit_the_interview_are_422(stack: Stack) -> None:
    _, token, _ = await invited(stack)
    url = f"/api/v1/candidate/{token}/answers"
    unknown = await stack.http.post(url, json={"question_id": "salary", "text": "lots"})
    assert unknown.status_code == 422
    assert "motivation, experience, cv" in unknown.json()["detail"]
    text_for_file = await stack.http.post(url, json={"question_id": "cv", "text": "see attached"})
    assert text_for_file.status_code == 422
    assert "file" in text_for_file.json()["detail"]
    file_for_text = await stack.http.post(
        url, data={"question_id": "motivation"}, files={"file": ("a.txt", b"hello", "text/plain")}
    )
    assert file_for_text.status_code == 422
    blank = await stack.http.post(url, json={"question_id": "motivation", "text": "   "})
    assert blank.status_code == 422
    missing = await stack.http.post(url, json={"text": "no question"})
    assert missing.status_code == 422
    assert "question_id" in missing.json()["detail"]
    no_file = await stack.http.post(
        url, data={"question_id": "cv"}, files={"other": ("a.txt", b"x", "text/plain")}
    )
    assert no_file.status_code == 422
    assert "file" in no_file.json()["detail"]
    view = (await stack.http.get(f"/api/v1/candidate/{token}")).json()
    assert view["progress"]["answered"] == 0


async def test_uploads_over_the_limit_are_413_and_store_nothing(stack: Stack) -> None:
    _, token, _ = await invited(stack)
    limited = stack.settings.model_copy(update={"MAX_UPLOAD_BYTES": 1024})
    stack.http._transport.app.state.settings = limited  # type: ignore[attr-defined]
    response = await stack.http.post(
        f"/api/v1/candidate/{token}/answers",
        data={"question_id": "cv"},
        files={"file": ("big.bin", b"x" * 4096, "application/octet-stream")},
    )
    assert response.status_code == 413
    objects = stack.settings.DATA_DIR / "objects"
    assert not objects.exists() or not any(p.is_file() for p in objects.rglob("*"))


async def test_bad_and_expired_links_reveal_nothing(stack: Stack) -> None:
    application, token, _ = await invited(stack)
    garbage = await stack.http.get("/api/v1/candidate/not-a-token")
    assert garbage.status_code == 401
    tampered = await stack.http.get(f"/api/v1/candidate/{token[:-2]}xx")
    assert tampered.status_code == 401
    assert "Ada" not in tampered.text
    assert application["id"] not in tampered.text
    expired = make_candidate_token(
        application["id"], datetime.now(UTC) - timedelta(seconds=1), stack.settings.secret_key
    )
    gone = await stack.http.get(f"/api/v1/candidate/{expired}")
    assert gone.status_code == 410
    assert "expired" in gone.json()["detail"]
    assert "Ada" not in gone.text
    assert (await stack.http.post(f"/api/v1/candidate/{expired}/submit")).status_code == 410
    other_key = make_candidate_token(
        application["id"], datetime.now(UTC) + timedelta(days=1), "another-secret-key"
    )
    assert (await stack.http.get(f"/api/v1/candidate/{other_key}")).status_code == 401
    page = await stack.http.get(f"/c/{token[:-2]}xx")
    assert page.status_code == 401
    assert "could not open this link" in page.text


QUICK = Pipeline(
    name="quick",
    title="A short deadline for tests",
    stages=(
        Invite(deadline=3, reminders=Reminders(before_deadline=(2,))),
        Interview(questions=(Question(id="motivation", prompt="Why?"),)),
        Review(criteria=(Criterion("communication", "Communication", ("1", "2", "3", "4", "5")),)),
        Decision(),
    ),
)


async def test_answer_after_the_deadline_is_409_and_the_candidate_is_told(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(PIPELINES, "quick", QUICK.validate())
    job = await stack.create_job("Quick role", pipeline="quick")
    address = unique_email()
    application = await stack.invite(job["id"], address)
    [invite] = await stack.mailbox.wait_for(address, 1)
    token = token_from(invite.link())
    expired = await stack.wait_status(application["id"], "expired", timeout=30)
    assert expired["closed_at"] is not None
    late = await stack.http.post(
        f"/api/v1/candidate/{token}/answers", json={"question_id": "motivation", "text": "Hi"}
    )
    assert late.status_code == 409
    assert late.json()["status"] == "expired"
    mails = await stack.mailbox.wait_for(address, 3)
    assert [m.message_id.split(".")[0] for m in mails] == ["<invite", "<reminder-2", "<expired"]
    assert mails[2].subject == "Your interview for Quick role has closed"
    view = (await stack.http.get(f"/api/v1/candidate/{token}")).json()
    assert view["accepting_answers"] is False
    assert view["progress"]["answered"] == 0
