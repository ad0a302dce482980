"""Hardening of identities: only directory-linked staff score or vote, a known address shows no other
job's record, staff routes authenticate before they judge the body."""

from __future__ import annotations

from sqlmodel import Session

from offhours import accounts
from tests.support.actors import STAFF, unique_email
from tests.support.journeys import invited
from tests.support.stack import Stack

# --------------------------------------------------------------------------------- identities


async def in_review(stack: Stack) -> str:
    application_id, _, token = await invited(stack)
    for question_id in ("motivation", "experience"):
        answered = await stack.http.post(
            f"/api/v1/candidate/{token}/answers",
            json={"question_id": question_id, "text": f"My {question_id}."},
        )
        assert answered.status_code == 200, answered.text
    assert (await stack.http.post(f"/api/v1/candidate/{token}/submit")).status_code == 200
    await stack.wait_status(application_id, "in_review")
    return application_id


CARD = {
    "overall_recommendation": "yes",
    "ratings": {"communication": 4, "relevant_experience": 4, "motivation": 5},
}


async def test_only_directory_linked_staff_score_or_vote(stack: Stack) -> None:
    application_id = await in_review(stack)
    base = f"/api/v1/applications/{application_id}"
    detail = await stack.application(application_id)
    [reviewer] = [a["reviewer"] for a in detail["review_assignments"] if a["status"] == "assigned"]
    with Session(stack.engine) as session:
        unlinked = accounts.create_user(session, unique_email(), "Unlinked ops", "ops")
        _, plain = accounts.create_token(session, unlinked.id, "test")
        session.commit()
    for headers in (STAFF, {"Authorization": f"Bearer {plain}"}):
        for body in (CARD, {**CARD, "reviewer_id": reviewer}):
            refused = await stack.http.post(f"{base}/scorecards", json=body, headers=headers)
            assert refused.status_code == 403, refused.text
            assert "not linked to the staff directory" in refused.json()["detail"]
        vote = await stack.http.post(
            f"{base}/decision", json={"decision": "approve", "approver_id": "kai"}, headers=headers
        )
        assert vote.status_code == 403, vote.text
    # A linked account scores as itself only.
    other = stack.as_person("ruth" if reviewer != "ruth" else "kai")
    posing = await stack.http.post(
        f"{base}/scorecards", json={**CARD, "reviewer_id": reviewer}, headers=other
    )
    assert posing.status_code == 403
    assert "as yourself" in posing.json()["detail"]
    assert (await stack.application(application_id))["scorecards"] == []
    scored = await stack.http.post(f"{base}/scorecards", json=CARD, headers=stack.as_person(reviewer))
    assert scored.status_code == 201, scored.text
    [card] = scored.json()["scorecards"]
    assert card["reviewer"] == reviewer


async def test_inviting_a_known_address_does_not_show_another_jobs_record(stack: Stack) -> None:
    first_job = await stack.create_job("Data analyst")
    second_job = await stack.create_job("Support engineer")
    address = unique_email()
    first = await stack.invite(first_job["id"], address, name="Ada Lovelace")
    await stack.mailbox.wait_for(address, 1)
    response = await stack.http.post(
        "/api/v1/applications",
        json={
            "job_id": second_job["id"],
            "candidate": {"name": "A. King", "email": address, "timezone": "America/Chicago"},
        },
        headers=STAFF,
    )
    assert response.status_code == 201, response.text
    second = response.json()
    # The second job's recruiter sees what they typed, not what the first job stored.
    assert second["candidate"]["name"] == "A. King"
    assert second["candidate"]["timezone"] == "America/Chicago"
    assert "Ada" not in response.text
    assert "Europe/Paris" not in response.text
    assert (await stack.application(second["id"]))["candidate"]["name"] == "A. King"
    # The first job's record is unchanged, and each invitation greets the candidate by its own name.
    assert (await stack.application(first["id"]))["candidate"]["name"] == "Ada Lovelace"
    mails = await stack.mailbox.wait_for(address, 2)
    greeting = {("Support" in m.subject): m.text for m in mails}
    assert "A. King" in greeting[True]
    assert "Ada" not in greeting[True]
    assert "Ada Lovelace" in greeting[False]


async def test_staff_routes_authenticate_before_they_judge_the_body(stack: Stack) -> None:
    job = await stack.create_job()
    reviewer = {"Authorization": f"Bearer {make_token(stack, 'reviewer')}"}
    for path in ("/api/v1/jobs", "/api/v1/applications", f"/api/v1/jobs/{job['id']}/members"):
        for body in (b"{not json", b'{"title": 5}', b"[]"):
            for headers, status in (({}, 401), ({"Authorization": "Bearer oh_wrong"}, 401), (reviewer, 403)):
                response = await stack.http.post(
                    path, content=body, headers={"Content-Type": "application/json", **headers}
                )
                assert response.status_code == status, (path, body, headers, response.text)
            # Staff allowed there hear what is wrong with the body.
            judged = await stack.http.post(
                path, content=body, headers={"Content-Type": "application/json", **STAFF}
            )
            assert judged.status_code == 422, (path, body, judged.text)


def make_token(stack: Stack, role: str) -> str:
    with Session(stack.engine) as session:
        user = accounts.create_user(session, unique_email(), f"A {role}", role, "sam")
        _, plain = accounts.create_token(session, user.id, "test")
        session.commit()
    return plain
