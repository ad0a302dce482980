"""The staff side in Chromium: a reviewer signs in, scores a blind application and only then sees the
other reviewer's scores; a recruiter approves from the job board and the decision email arrives."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect
from sqlmodel import Session

from offhours import accounts
from pipelines.base import Pipeline
from pipelines.people import PEOPLE
from pipelines.registry import PIPELINES, validate
from pipelines.stages import DAY, Decision, Interview, Invite, Question, Review
from tests.support.actors import STAFF, unique_email
from tests.support.browser import CLARITY, Live, Shots

PASSWORD = "correct horse battery staple"
PANEL = Pipeline(
    name="staff-panel",
    title="Two blind reviewers",
    stages=(
        Invite(deadline=5 * DAY),
        Interview(questions=(Question("why", "Why this role?"),)),
        Review(pool="eng", reviewers=2, criteria=(CLARITY,), blind=True, independent=True),
        Decision(),
    ),
)
SINGLE = Pipeline(
    name="staff-single",
    title="One reviewer, then a decision",
    stages=(
        Invite(deadline=5 * DAY),
        Interview(questions=(Question("why", "Why this role?"),)),
        Review(pool="default", reviewers=1, criteria=(CLARITY,)),
        Decision(),
    ),
)


@pytest.fixture
def staff_pipelines(monkeypatch: pytest.MonkeyPatch) -> None:
    for pipeline in (PANEL, SINGLE):
        monkeypatch.setitem(PIPELINES, pipeline.name, validate(pipeline))


def account(live: Live, role: str, person_id: str | None) -> tuple[str, str, dict[str, str]]:
    """A staff user with a password and an API token: (user id, email, headers)."""
    email = unique_email()
    with Session(live.engine) as session:
        user = accounts.create_user(session, email, f"Test {role}", role, person_id, PASSWORD)
        _, token = accounts.create_token(session, user.id, "test")
        user_id = user.id
        session.commit()
    return user_id, email, {"Authorization": f"Bearer {token}"}


async def candidate_submits(live: Live, link: str) -> None:
    token = link.rsplit("/c/", 1)[1]
    answer = await live.http.post(
        f"/api/v1/candidate/{token}/answers", json={"question_id": "why", "text": "I like it."}
    )
    assert answer.status_code == 200, answer.text
    assert (await live.http.post(f"/api/v1/candidate/{token}/submit")).status_code == 200


async def wait_for(live: Live, application_id: str, what: Any, timeout: float = 30) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            detail = dict(
                (await live.http.get(f"/api/v1/applications/{application_id}", headers=STAFF)).json()
            )
            if what(detail):
                return detail
            await asyncio.sleep(0.1)


async def sign_in(page: Page, live: Live, email: str) -> None:
    await page.goto(f"{live.url}/staff")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()  # sent to sign in first
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()


@pytest.mark.usefixtures("staff_pipelines")
async def test_a_reviewer_scores_blind_then_sees_the_other_scores(
    live: Live, browser: Browser, shots: Shots
) -> None:
    reviewers = {person: account(live, "reviewer", person) for person in ("kai", "ruth", "lee", "noor")}
    application, link = await live.invite("staff-panel", "Platform engineer", name="Grace Hopper")
    await candidate_submits(live, link)
    detail = await wait_for(live, application["id"], lambda d: len(d["review_assignments"]) == 2)
    first, second = [a["reviewer"] for a in detail["review_assignments"]]

    # The first reviewer scores through the API with their own token.
    scored = await live.http.post(
        f"/api/v1/applications/{application['id']}/scorecards",
        json={"overall_recommendation": "yes", "ratings": {"clarity": 4}, "notes": "Clear."},
        headers=reviewers[first][2],
    )
    assert scored.status_code == 201, scored.text

    # The second signs in with a browser: their queue, a blind view, nobody else's score yet.
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await sign_in(page, live, reviewers[second][1])
    await expect(page.get_by_role("heading", name="My reviews")).to_be_visible()
    await page.get_by_role("link", name=application["id"]).click()
    await expect(page.get_by_text("blind review: no name, email or photo")).to_be_visible()
    await expect(page.get_by_text("I like it.")).to_be_visible()
    assert "Grace Hopper" not in await page.content()
    await expect(page.get_by_role("heading", name="Other reviewers")).to_have_count(0)
    await shots.take(page, "blind-review")

    # A missing rating is refused on the page; then the scorecard goes in.
    await page.get_by_label("Overall recommendation").select_option("strong_yes")
    await page.get_by_role("button", name="Submit scorecard").click()
    await expect(page.get_by_role("alert")).to_contain_text("Rate 'Clarity' from 1 to 5")
    await page.get_by_label("5: Compelling").check()
    await page.get_by_label("Overall recommendation").select_option("strong_yes")
    await page.get_by_role("button", name="Submit scorecard").click()
    others = page.locator("#others")
    await expect(others).to_contain_text(PEOPLE[first].name)
    await expect(others).to_contain_text("Combined score")
    await shots.take(page, "after-scoring")
    await context.close()
    done = await wait_for(live, application["id"], lambda d: len(d["scorecards"]) == 2)
    assert {c["reviewer"] for c in done["scorecards"]} == {first, second}
    assert {c["submitted_by"] for c in done["scorecards"]} == {
        f"reviewer:{reviewers[first][0]}",
        f"reviewer:{reviewers[second][0]}",
    }


@pytest.mark.usefixtures("staff_pipelines")
async def test_a_recruiter_approves_from_the_board_and_the_candidate_is_emailed(
    live: Live, browser: Browser, shots: Shots
) -> None:
    sam = account(live, "reviewer", "sam")
    recruiter_id, recruiter_email, _ = account(live, "recruiter", "ana")
    application, link = await live.invite("staff-single", "Support lead", name="Ada Lovelace")
    added = await live.http.post(
        f"/api/v1/jobs/{application['job_id']}/members", json={"user": recruiter_id}, headers=STAFF
    )
    assert added.status_code == 201
    await candidate_submits(live, link)
    await wait_for(live, application["id"], lambda d: d["status"] == "in_review")
    scored = await live.http.post(
        f"/api/v1/applications/{application['id']}/scorecards",
        json={"overall_recommendation": "yes", "ratings": {"clarity": 4}},
        headers=sam[2],
    )
    assert scored.status_code == 201, scored.text
    await wait_for(live, application["id"], lambda d: d["status"] == "awaiting_decision")

    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await sign_in(page, live, recruiter_email)
    await page.get_by_role("link", name="Support lead").click()
    await shots.take(page, "board")
    column = page.locator("section.column", has=page.get_by_role("heading", name="Awaiting decision"))
    await column.get_by_role("link", name="Ada Lovelace").click()
    await expect(page.get_by_role("heading", name="Ada Lovelace")).to_be_visible()
    await page.get_by_label("Decision and reason").select_option("advance")
    await page.get_by_label("Note to the candidate (optional)").fill(
        "Your answers were the clearest we read."
    )
    await page.get_by_role("button", name="Record decision").click()
    await expect(page.get_by_role("status")).to_contain_text("Decision recorded")
    await shots.take(page, "decided")
    await context.close()

    address = (await live.http.get(f"/api/v1/applications/{application['id']}", headers=STAFF)).json()[
        "candidate"
    ]["email"]
    mails = await live.mailbox.wait_for(address, 2)
    decision = [m for m in mails if m.subject.startswith("Good news")]
    assert len(decision) == 1
    assert "clearest we read" in decision[0].text
    final = await wait_for(live, application["id"], lambda d: d["status"] == "approved")
    assert final["decided_by"] == f"recruiter:{recruiter_id}"
