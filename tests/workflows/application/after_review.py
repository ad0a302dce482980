"""Helpers of the tests of the stages after the review (scheduling, feedback, onboarding, custom): a
pipeline with the stages under test after a one-question interview and a review, a candidate brought
to them, the workflow's clock, and what the emails say (times, calendar attachments, sections)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from activities.email_text import format_deadline
from pipelines.registry import PIPELINES, Pipeline, validate
from pipelines.stages import DAY as DAY_SECONDS
from pipelines.stages import Criterion, Decision, Interview, Invite, Question, Review, Scheduling, Stage
from tests.support.actors import STAFF, unique_email
from tests.support.mail import CaughtMail, subject, token_from
from tests.support.samples import upload_recording
from tests.support.stack import Stack

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
TOLERANCE = timedelta(seconds=5)
TIMEZONE = "Europe/Paris"  # the candidate's timezone set by Stack.invite
PARIS_SUMMER = timezone(timedelta(hours=2))  # an offset other than UTC, to check conversions
CANDIDATE_NAME = "Katherine Johnson"

CLARITY = Criterion(
    "clarity",
    "Clarity",
    ("Muddled", "Patchy", "Clear enough", "Crisp", "Crystal clear, adapted to the reader"),
)
DEPTH = Criterion(
    "depth",
    "Technical depth",
    ("Surface only", "Some depth", "Solid grasp", "Deep grasp", "Teaches the topic"),
)
OWNERSHIP = Criterion(
    "ownership",
    "Ownership",
    ("Deflects", "Does what is asked", "Owns their part", "Owns the outcome", "Owns and improves the team"),
)
CRITERIA = (CLARITY, DEPTH, OWNERSHIP)
GOOD_CARD = {"clarity": 4, "depth": 4, "ownership": 4}


# --------------------------------------------------------------------------------------- helpers


@dataclass
class Applicant:
    application_id: str
    address: str
    token: str
    title: str


def make_pipeline(name: str, *later: Stage, review: Review | None = None) -> Pipeline:
    """Invite, a one-question interview, a review, then the stages under test."""
    return Pipeline(
        name=name,
        title=f"Pipeline {name}",
        stages=(
            Invite(),
            Interview(questions=(Question("why", "Why this role?"),)),
            review or Review(pool="default", reviewers=1, criteria=CRITERIA),
            *later,
        ),
    )


def register(monkeypatch: pytest.MonkeyPatch, pipeline: Pipeline) -> str:
    monkeypatch.setitem(PIPELINES, pipeline.name, validate(pipeline))
    return pipeline.name


async def invite(stack: Stack, title: str, pipeline: str) -> Applicant:
    job = await stack.create_job(title, pipeline=pipeline)
    address = unique_email()
    application = await stack.invite(job["id"], address, name=CANDIDATE_NAME)
    [mail] = await stack.mailbox.wait_for(address, 1)
    assert subject(mail) == f"Your interview for {title}: answer when it suits you"
    return Applicant(application["id"], address, token_from(mail.link()), title)


async def to_review(stack: Stack, title: str, pipeline: str) -> Applicant:
    """Invite a candidate to the pipeline and submit their interview: the review has started."""
    applicant = await invite(stack, title, pipeline)
    answer = await stack.http.post(
        f"/api/v1/candidate/{applicant.token}/answers",
        json={"question_id": "why", "text": "Because I like hard problems."},
    )
    assert answer.status_code == 200, answer.text
    submitted = await stack.http.post(f"/api/v1/candidate/{applicant.token}/submit")
    assert submitted.status_code == 200, submitted.text
    await stack.wait_status(applicant.application_id, "in_review")
    await stack.mailbox.wait_for(applicant.address, 2)
    return applicant


async def score(
    stack: Stack, applicant: Applicant, ratings: dict[str, int], reviewer: str | None = None
) -> dict[str, Any]:
    """A scorecard by `reviewer`, or by the one reviewer with an open assignment (as themselves:
    only staff linked to the directory score)."""
    body: dict[str, Any] = {"overall_recommendation": "yes", "ratings": ratings}
    if reviewer is not None:
        body["reviewer_id"] = reviewer
    response = await stack.http.post(
        f"/api/v1/applications/{applicant.application_id}/scorecards",
        json=body,
        headers=await stack.as_reviewer(applicant.application_id, reviewer),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def decide(stack: Stack, applicant: Applicant, decision: str, **extra: str) -> dict[str, Any]:
    """A decision; an approver's vote (approver_id) is cast by that approver's own account."""
    approver = extra.get("approver_id")
    response = await stack.http.post(
        f"/api/v1/applications/{applicant.application_id}/decision",
        json={"decision": decision, **extra},
        headers=stack.as_person(approver) if approver else STAFF,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def post(stack: Stack, url: str, body: dict[str, Any] | None = None, staff: bool = False) -> Any:
    return await stack.http.post(url, json=body if body is not None else {}, headers=STAFF if staff else None)


async def reviewers(stack: Stack, applicant: Applicant) -> list[str]:
    """The reviewers assigned, from the read model (all of them are assigned before in_review)."""
    application = await stack.application(applicant.application_id)
    return sorted(a["reviewer"] for a in application["review_assignments"])


async def wait_stage(stack: Stack, applicant: Applicant, stage: str, timeout: float = 20.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            application = await stack.application(applicant.application_id)
            if application["stage"] == stage:
                return application
            await asyncio.sleep(0.05)


async def clock(stack: Stack, applicant: Applicant) -> datetime:
    """The workflow's current time (the test server's virtual clock)."""
    now = await stack.env.get_current_time(stack.workflow(applicant.application_id))
    return now.astimezone(UTC)


async def skip(stack: Stack, duration: timedelta) -> None:
    """Skip workflow time; fail clearly rather than hang when the test server cannot skip."""
    try:
        async with asyncio.timeout(15):
            await stack.env.sleep(duration)
    except TimeoutError:
        raise AssertionError(
            f"the time-skipping server did not skip {duration} within 15 s: time skipping is locked "
            "(an activity or workflow task of some workflow on the shared server is still in flight?)"
        ) from None


async def candidate_view(stack: Stack, applicant: Applicant) -> dict[str, Any]:
    response = await stack.http.get(f"/api/v1/candidate/{applicant.token}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def when(moment: datetime) -> str:
    """How a time reads in the candidate's emails."""
    return format_deadline(moment, TIMEZONE)


def slot_at(now: datetime, offset: timedelta) -> datetime:
    """A whole-minute slot `offset` after `now`, written with a +02:00 offset."""
    return (now + offset).replace(second=0, microsecond=0).astimezone(PARIS_SUMMER)


# --------------------------------------------------------------------------------------- scheduling

SCHEDULING = Scheduling(
    title="Pairing session",
    duration_minutes=50,
    location="Room 4, Level 2",
    pick_within=2 * DAY_SECONDS,
    reminder_before_slot=1 * DAY_SECONDS,
)


async def to_scheduling(stack: Stack, monkeypatch: pytest.MonkeyPatch, name: str, title: str) -> Applicant:
    pipeline = register(monkeypatch, make_pipeline(name, SCHEDULING, Decision(sla=None)))
    applicant = await to_review(stack, title, pipeline)
    await score(stack, applicant, GOOD_CARD)
    application = await wait_stage(stack, applicant, "scheduling")
    assert application["status"] == "in_review"
    return applicant


# --------------------------------------------------------------------------------------- feedback


NEXT_STEPS = "Try our open-source track next spring."


# --------------------------------------------------------------------------------------- custom


async def upload(
    stack: Stack,
    token: str,
    question_id: str,
    name: str,  # noqa: ARG001 (what the candidate's file was called: the upload never sends it on)
    content: bytes,
    kind: str,
) -> None:
    response = await upload_recording(stack.http, token, question_id, content, kind)
    assert response.status_code == 200, response.text


async def _wait_subject(stack: Stack, recipient: str, prefix: str, timeout: float = 20.0) -> list[CaughtMail]:
    async with asyncio.timeout(timeout):
        while True:
            found = [m for m in stack.mailbox.to(recipient) if subject(m).startswith(prefix)]
            if found:
                return found
            await asyncio.sleep(0.05)
