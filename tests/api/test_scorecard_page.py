"""The reviewer's scorecard page on a pipeline with two review stages: each time, the page asks for
and sends the criteria of the review stage being scored, which are exactly what the workflow takes
(criteria from every review stage would be refused, 422, on every scorecard sent from the page)."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlmodel import Session

from offhours import accounts
from pipelines.base import Pipeline
from pipelines.registry import PIPELINES, validate
from pipelines.stages import Criterion, Decision, Interview, Invite, Question, Review
from tests.support.actors import unique_email
from tests.support.mail import token_from
from tests.support.stack import Stack

PASSWORD = "a password long enough"
HTML = {"Accept": "text/html"}
ANCHORS = ("1", "2", "3", "4", "5")
CLARITY = Criterion("clarity", "Clarity", ANCHORS)
DEPTH = Criterion("depth", "Depth", ANCHORS)
TWO_REVIEWS = Pipeline(
    name="two-review-stages",
    title="A screen, then a panel",
    stages=(
        Invite(),
        Interview(questions=(Question("why", "Why this role?"),)),
        Review(id="screen", pool="default", reviewers=1, criteria=(CLARITY,)),
        Review(id="panel", pool="support", reviewers=1, criteria=(DEPTH,)),
        Decision(),
    ),
)
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


async def sign_in_as_reviewer(stack: Stack, person_id: str) -> None:
    email = unique_email()
    with Session(stack.engine) as session:
        accounts.create_user(session, email, f"Reviewer {person_id}", "reviewer", person_id, PASSWORD)
        session.commit()
    page = await stack.http.get("/staff/login", headers=HTML)
    token = CSRF.search(page.text)
    assert token is not None
    form = {"csrf_token": token[1], "email": email, "password": PASSWORD, "next": "/staff"}
    assert (await stack.http.post("/staff/login", data=form)).status_code == 303


async def open_review(stack: Stack, application_id: str, stage_id: str) -> str:
    """The reviewer assigned on `stage_id`, once the workflow has assigned one."""
    for _ in range(400):
        detail = await stack.application(application_id)
        open_ = [
            a for a in detail["review_assignments"] if a["stage_id"] == stage_id and a["status"] == "assigned"
        ]
        if open_:
            return str(open_[0]["reviewer"])
        await stack.mailbox.settle(0.05)
    raise AssertionError(f"no open review on stage {stage_id}: {detail['review_assignments']}")


async def review_page(stack: Stack, application_id: str) -> tuple[set[str], str]:
    """The criteria the reviewer's page asks to rate, and the page's CSRF token."""
    page = await stack.http.get(f"/staff/reviews/{application_id}", headers=HTML)
    assert page.status_code == 200, page.text
    token = CSRF.search(page.text)
    assert token is not None
    return set(re.findall(r'name="rating-([a-z]+)"', page.text)), token[1]


async def send_scorecard(stack: Stack, application_id: str, token: str, **ratings: str) -> httpx.Response:
    form = {"csrf_token": token, "recommendation": "yes", "notes": "Clear."}
    form |= {f"rating-{criterion}": value for criterion, value in ratings.items()}
    return await stack.http.post(f"/staff/reviews/{application_id}", data=form, headers=HTML)


async def test_each_review_stage_is_scored_on_its_own_criteria_from_the_page(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(PIPELINES, TWO_REVIEWS.name, validate(TWO_REVIEWS))
    job = await stack.create_job("Support engineer", pipeline=TWO_REVIEWS.name)
    application = await stack.invite(job["id"])
    [invite] = await stack.mailbox.wait_for(application["candidate"]["email"], 1)
    api = f"/api/v1/candidate/{token_from(invite.link())}"
    answered = await stack.http.post(f"{api}/answers", json={"question_id": "why", "text": "I like people."})
    assert answered.status_code == 200, answered.text
    assert (await stack.http.post(f"{api}/submit")).status_code == 200

    # The screen: its page asks for its one criterion, and the scorecard sent from it is taken.
    screener = await open_review(stack, application["id"], "screen")
    await sign_in_as_reviewer(stack, screener)
    asked, token = await review_page(stack, application["id"])
    assert asked == {"clarity"}
    sent = await send_scorecard(stack, application["id"], token, clarity="4")
    assert sent.status_code == 303, sent.text
    detail = await stack.application(application["id"])
    assert [(c["reviewer"], c["ratings"]) for c in detail["scorecards"]] == [(screener, {"clarity": 4})]

    # The panel: its page asks for its own criterion, and a form without it is refused for that one.
    panelist = await open_review(stack, application["id"], "panel")
    await sign_in_as_reviewer(stack, panelist)
    asked, token = await review_page(stack, application["id"])
    assert asked == {"depth"}
    refused = await send_scorecard(stack, application["id"], token)
    assert refused.status_code == 422, refused.text
    assert "Rate &#39;Depth&#39; from 1 to 5" in refused.text
    assert "Clarity" not in refused.text

    # With its criterion rated, the panel's scorecard is taken; the panel's score is its own card's
    # (a score over the screen's card too would have failed on its missing 'depth' rating).
    sent = await send_scorecard(stack, application["id"], token, depth="2")
    assert sent.status_code == 303, sent.text
    detail = await stack.application(application["id"])
    assert detail["status"] == "awaiting_decision"
    assert detail["combined_score"] == 2.0
    assert sorted((c["reviewer"], c["ratings"]) for c in detail["scorecards"]) == sorted(
        [(screener, {"clarity": 4}), (panelist, {"depth": 2})]
    )
