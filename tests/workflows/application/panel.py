"""Helpers of the review and decision stage tests: a small pipeline (invite, a one-question interview, a
review, a decision) built from the stages of the example pipelines, a candidate in review, scorecards
and decisions cast by the staff they name, the workflow's open reviewers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType

from pipelines.base import Pipeline
from pipelines.examples import COMMUNICATION, CUSTOMER_FOCUS, SENIOR_BACKEND_ENGINEER, SUPPORT_AGENT
from pipelines.people import PEOPLE
from pipelines.registry import PIPELINES, validate
from pipelines.stages import CheckIn, Decision, Interview, Invite, Question, Review, Stage
from tests.support.actors import STAFF, unique_email
from tests.support.mail import CaughtMail, subject, token_from
from tests.support.stack import Stack

QUESTION = Question("why", "Why does this role interest you?")
ANSWER = "Because I like solving problems for people."
TOLERANCE = timedelta(minutes=1)

# Stages of the example pipelines, reused where they fit.
SENIOR_REVIEW: Review = SENIOR_BACKEND_ENGINEER.first(Review)  # eng pool, 3 reviewers, median
SENIOR_DECISION: Decision = SENIOR_BACKEND_ENGINEER.first(Decision)  # 2 of kai, ruth, noor; escalates to lee
SUPPORT_REVIEW: Review = SUPPORT_AGENT.first(Review)  # 1 reviewer, advance at 4.5, reject below 2.0
# Any recruiter decides; sla 2 days, reminder 1 day before, escalates to jo.
SUPPORT_DECISION: Decision = SUPPORT_AGENT.first(Decision)

TWO_CRITERIA = (COMMUNICATION, CUSTOMER_FOCUS)  # weights 1 and 2


def email_of(person: str) -> str:
    return PEOPLE[person].email


# --------------------------------------------------------------------------------------- helpers


def make_pipeline(
    name: str,
    review: Review,
    decision: Decision | None = None,
    *,
    check_in: CheckIn | None = None,
    contact: str | None = None,
    after: tuple[Stage, ...] = (),
) -> Pipeline:
    return Pipeline(
        name=name,
        title=f"Test pipeline {name}",
        stages=(Invite(), Interview(questions=(QUESTION,)), review, decision or Decision(), *after),
        check_in=check_in,
        contact=contact,
    )


async def open_job(stack: Stack, monkeypatch: pytest.MonkeyPatch, pipeline: Pipeline, title: str) -> str:
    monkeypatch.setitem(PIPELINES, pipeline.name, validate(pipeline))
    job = await stack.create_job(title, pipeline=pipeline.name)
    return str(job["id"])


@dataclass
class Candidate:
    application_id: str
    address: str
    name: str
    token: str


async def apply(stack: Stack, job_id: str, name: str = "Ada Lovelace") -> Candidate:
    """Invite a candidate who answers the one question and submits: the application is then in review."""
    address = unique_email()
    application = await stack.invite(job_id, address, name=name)
    [invite] = await stack.mailbox.wait_for(address, 1)
    token = token_from(invite.link())
    answer = await stack.http.post(
        f"/api/v1/candidate/{token}/answers", json={"question_id": QUESTION.id, "text": ANSWER}
    )
    assert answer.status_code == 200, answer.text
    submit = await stack.http.post(f"/api/v1/candidate/{token}/submit")
    assert submit.status_code == 200, submit.text
    await stack.wait_status(application["id"], "in_review")
    return Candidate(application["id"], address, name, token)


async def scorecard(
    stack: Stack,
    application_id: str,
    ratings: dict[str, int],
    reviewer: str | None = None,
    recommendation: str = "yes",
) -> httpx.Response:
    """A scorecard by `reviewer`, or by the one reviewer with an open assignment, from their own
    account (only staff linked to the directory score, and only as themselves)."""
    body: dict[str, Any] = {"overall_recommendation": recommendation, "ratings": ratings}
    if reviewer is not None:
        body["reviewer_id"] = reviewer
    return await stack.http.post(
        f"/api/v1/applications/{application_id}/scorecards",
        json=body,
        headers=await stack.as_reviewer(application_id, reviewer),
    )


async def decide(stack: Stack, application_id: str, **body: str) -> httpx.Response:
    """A decision; an approver's vote (approver_id) is cast by that approver's own account."""
    approver = body.get("approver_id")
    headers = stack.as_person(approver) if approver else STAFF
    return await stack.http.post(
        f"/api/v1/applications/{application_id}/decision", json=body, headers=headers
    )


async def reviewer_view(stack: Stack, application_id: str, reviewer: str) -> httpx.Response:
    return await stack.http.get(
        f"/api/v1/applications/{application_id}/review", params={"reviewer_id": reviewer}, headers=STAFF
    )


def assignments(detail: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["reviewer"], a["status"]) for a in detail["review_assignments"]]


def assert_names_no_candidate(mail: CaughtMail, candidate: Candidate) -> None:
    for part in (subject(mail), mail.text, mail.html):
        assert candidate.name not in part, part
        assert candidate.address not in part, part


async def review_ended_at(stack: Stack, application_id: str) -> datetime:
    """Workflow time at which the review stage saved the panel's score (the decision stage starts then)."""
    history = await stack.workflow(application_id).fetch_history()
    for event in history.events:
        if (
            event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and event.activity_task_scheduled_event_attributes.activity_type.name == "save_score"
        ):
            moment: datetime = event.event_time.ToDatetime(tzinfo=UTC)
            return moment
    raise AssertionError("the review never saved a score")
