"""Review, decision and check-ins on the time-skipping server, through the HTTP API, with real SMTP.

Each test builds a small pipeline (invite, a one-question interview, a review, a decision), often from
the stages of the example pipelines, and registers it for the test only. Days pass with
`stack.env.sleep`; activities (database writes, emails) run in real time, so after each skip the test
waits for the email it expects. The scoring functions are also tested directly at the end."""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from activities.applications import ApplicationActivities
from activities.email_text import format_deadline
from offhours.contracts import ApplicationState, AssignReviewers, ScorecardInput
from offhours.models import Application
from pipelines.base import Pipeline
from pipelines.examples import (
    COMMUNICATION,
    CUSTOMER_FOCUS,
    SENIOR_BACKEND_ENGINEER,
    SUPPORT_AGENT,
)
from pipelines.people import PEOPLE
from pipelines.registry import PIPELINES, validate
from pipelines.scoring import build_feedback, combined_score, scorecard_score
from pipelines.stages import (
    DAY,
    CheckIn,
    Criterion,
    Decision,
    Interview,
    Invite,
    Module,
    Onboarding,
    Question,
    ReasonCode,
    Review,
    Stage,
)
from tests.api.test_end_to_end import recorded_as
from tests.conftest import STAFF, CaughtMail, Stack, token_from, unique_email
from tests.history import scheduled_emails

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


@pytest.fixture
async def skipping_stack(skipping_stack: Stack) -> AsyncIterator[Stack]:
    """The conftest's time-skipping stack, left quiet before its teardown terminates the workflows:
    terminating one while an activity runs leaves the shared time-skipping server locked, and every
    later `env.sleep` in the session then hangs until its RPC times out."""
    yield skipping_stack
    await wait_until_quiet(skipping_stack)


async def wait_until_quiet(stack: Stack, timeout: float = 10.0) -> None:
    with Session(stack.engine) as session:
        workflow_ids = list(session.exec(select(Application.workflow_id)).all())
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout
    while workflow_ids and loop.time() < give_up:
        busy = []
        for workflow_id in workflow_ids:
            description = await stack.client.get_workflow_handle(workflow_id).describe()
            if description.status != WorkflowExecutionStatus.RUNNING:
                continue
            pending = list(description.raw_description.pending_activities)
            for child in description.raw_description.pending_children:
                child_description = await stack.client.get_workflow_handle(child.workflow_id).describe()
                pending += list(child_description.raw_description.pending_activities)
            if pending:
                busy.append(workflow_id)
        workflow_ids = busy
        if busy:
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.1)  # a workflow task that the last activity's completion started


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


async def state(stack: Stack, application_id: str) -> ApplicationState:
    result: ApplicationState = await stack.workflow(application_id).query(
        "state", result_type=ApplicationState
    )
    return result


async def wait_open_reviewers(stack: Stack, application_id: str, reviewers: list[str]) -> None:
    """Until the workflow holds exactly these open review tasks (a reassignment has settled)."""
    for _ in range(400):
        if (await state(stack, application_id)).reviewers == reviewers:
            return
        await stack.mailbox.settle(0.05)
    raise AssertionError(f"open reviewers never became {reviewers}: {await state(stack, application_id)}")


def assignments(detail: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["reviewer"], a["status"]) for a in detail["review_assignments"]]


def subject(mail: CaughtMail) -> str:
    """The subject as a mail client shows it: Python's parser keeps the space of a folded header."""
    return mail.subject.strip()


def subjects(mails: list[CaughtMail]) -> list[str]:
    return [subject(mail) for mail in mails]


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
            return event.event_time.ToDatetime(tzinfo=UTC)
    raise AssertionError("the review never saved a score")


# ================================================================================ review: assignment


async def test_reviewers_are_drawn_least_loaded_from_the_pool_and_emailed_blind(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    pipeline = make_pipeline("t-least-loaded", SENIOR_REVIEW)  # pool eng: kai, ruth, lee, noor; 3 reviewers
    title = "Panel engineer"
    job_id = await open_job(stack, monkeypatch, pipeline, title)

    # Nobody is loaded: the first three in pool order.
    first = await apply(stack, job_id, name="Ada Lovelace")
    detail = await stack.application(first.application_id)
    assert assignments(detail) == [("kai", "assigned"), ("ruth", "assigned"), ("lee", "assigned")]
    assert {a["stage_id"] for a in detail["review_assignments"]} == {SENIOR_REVIEW.id}
    for reviewer in ("kai", "ruth", "lee"):
        [mail] = await stack.mailbox.wait_for(email_of(reviewer), 1)
        assert subject(mail) == f"New review: {title} (application {first.application_id})"
        assert mail.recipients == [email_of(reviewer)]
        assert PEOPLE[reviewer].name in mail.text
        assert_names_no_candidate(mail, first)

    # While those three reviews are open, noor (no load) comes first, then kai and ruth (one each,
    # ties in pool order); lee, also loaded, is not needed.
    second = await apply(stack, job_id, name="Grace Hopper")
    detail = await stack.application(second.application_id)
    assert assignments(detail) == [("noor", "assigned"), ("kai", "assigned"), ("ruth", "assigned")]
    assert (await state(stack, second.application_id)).reviewers == ["kai", "noor", "ruth"]
    [noor_mail] = await stack.mailbox.wait_for(email_of("noor"), 1)
    assert subject(noor_mail) == f"New review: {title} (application {second.application_id})"
    assert_names_no_candidate(noor_mail, second)
    for reviewer in ("kai", "ruth"):
        mails = await stack.mailbox.wait_for(email_of(reviewer), 2)
        assert subject(mails[1]) == f"New review: {title} (application {second.application_id})"
        assert_names_no_candidate(mails[1], second)
        assert_names_no_candidate(mails[1], first)

    await stack.mailbox.settle(0.5)
    assert len(stack.mailbox.to(email_of("lee"))) == 1  # only the first application's review
    assert len(stack.mailbox.to(email_of("noor"))) == 1
    # The first application's panel did not change.
    assert assignments(await stack.application(first.application_id)) == [
        ("kai", "assigned"),
        ("ruth", "assigned"),
        ("lee", "assigned"),
    ]


# ================================================================================ review: SLA


async def test_review_reminder_before_the_sla_then_reassignment_to_another_pool_member(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    review = Review(pool="eng", reviewers=1, criteria=TWO_CRITERIA, sla=2 * DAY, reminder_before_sla=1 * DAY)
    title = "Overdue engineer"
    job_id = await open_job(stack, monkeypatch, make_pipeline("t-review-sla", review), title)
    candidate = await apply(stack, job_id)
    kai, ruth = email_of("kai"), email_of("ruth")
    [assigned] = await stack.mailbox.wait_for(kai, 1)
    assert subject(assigned) == f"New review: {title} (application {candidate.application_id})"
    [row] = (await stack.application(candidate.application_id))["review_assignments"]
    due_at = datetime.fromisoformat(row["due_at"]).replace(tzinfo=UTC)

    # Just before sla - reminder_before_sla: nothing yet.
    await stack.env.sleep(timedelta(days=1) - timedelta(minutes=10))
    await stack.mailbox.settle(0.5)
    assert len(stack.mailbox.to(kai)) == 1

    # Just after: the reviewer is reminded of the due time (in UTC, for staff); still nobody else.
    await stack.env.sleep(timedelta(minutes=20))
    reminder = (await stack.mailbox.wait_for(kai, 2))[1]
    assert subject(reminder).startswith("Reminder: review due ") and subject(reminder).endswith(f"({title})")
    assert any(format_deadline(due_at + timedelta(seconds=s), "UTC") in subject(reminder) for s in (0, 60))
    assert candidate.application_id in reminder.text
    assert_names_no_candidate(reminder, candidate)
    assert stack.mailbox.to(ruth) == []
    assert assignments(await stack.application(candidate.application_id)) == [("kai", "assigned")]

    # Past the SLA: kai's assignment is marked reassigned and ruth (next least-loaded) gets the review.
    await stack.env.sleep(timedelta(days=1))
    [new] = await stack.mailbox.wait_for(ruth, 1)
    assert subject(new) == f"New review: {title} (application {candidate.application_id})"
    assert_names_no_candidate(new, candidate)
    await wait_open_reviewers(stack, candidate.application_id, ["ruth"])
    detail = await stack.application(candidate.application_id)
    assert detail["status"] == "in_review"
    assert assignments(detail) == [("kai", "reassigned"), ("ruth", "assigned")]
    assert detail["review_assignments"][0]["closed_at"] is not None

    # The original reviewer can no longer submit; the new one completes the review.
    late = await scorecard(stack, candidate.application_id, {"communication": 4, "customer_focus": 4}, "kai")
    assert late.status_code == 409, late.text
    assert "kai" in late.json()["detail"] and "no open review" in late.json()["detail"]
    done = await scorecard(stack, candidate.application_id, {"communication": 4, "customer_focus": 5}, "ruth")
    assert done.status_code == 201, done.text
    body = done.json()
    assert body["status"] == "awaiting_decision"
    assert body["combined_score"] == round((4 + 2 * 5) / 3, 2)
    assert [c["reviewer"] for c in body["scorecards"]] == ["ruth"]
    assert assignments(body) == [("kai", "reassigned"), ("ruth", "completed")]
    again = await scorecard(stack, candidate.application_id, {"communication": 4, "customer_focus": 4}, "kai")
    assert again.status_code == 409, again.text

    await stack.mailbox.settle(0.5)
    assert len(stack.mailbox.to(kai)) == 2  # assignment and reminder; nothing after the reassignment
    assert len(stack.mailbox.to(ruth)) == 1


async def test_two_overdue_reviewers_are_reassigned_to_two_different_people(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    review = Review(pool="eng", reviewers=2, criteria=TWO_CRITERIA, sla=2 * DAY, reminder_before_sla=1 * DAY)
    job_id = await open_job(stack, monkeypatch, make_pipeline("t-double-overdue", review), "Busy panel")
    candidate = await apply(stack, job_id)
    assert assignments(await stack.application(candidate.application_id)) == [
        ("kai", "assigned"),
        ("ruth", "assigned"),
    ]

    await stack.env.sleep(timedelta(days=2, minutes=5))
    await stack.mailbox.wait_for(email_of("lee"), 1)
    await stack.mailbox.settle(1.0)
    detail = await stack.application(candidate.application_id)
    open_reviewers = sorted(r for r, status in assignments(detail) if status == "assigned")
    # Two open reviews are needed, by two different people, each told once.
    assert open_reviewers == ["lee", "noor"], assignments(detail)
    assert len(stack.mailbox.to(email_of("lee"))) == 1
    assert len(stack.mailbox.to(email_of("noor"))) == 1


async def test_a_retried_assignment_returns_the_same_reviewer_and_the_next_request_another(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """assign_reviewers is idempotent: a retry (same request) gets the reviewer it already chose.
    The workflow makes reassignments one at a time, each excluding everyone seen so far, so two
    overdue tasks never send the same request (see the test above)."""
    stack = skipping_stack
    review = Review(pool="eng", reviewers=2, criteria=TWO_CRITERIA)
    job_id = await open_job(stack, monkeypatch, make_pipeline("t-same-moment", review), "Batched panel")
    candidate = await apply(stack, job_id)
    at = datetime.now(UTC) + timedelta(days=2)
    request = AssignReviewers(
        candidate.application_id, review.id, "eng", 1, ["kai", "ruth"], at + timedelta(days=2), at
    )
    activities = ApplicationActivities(stack.engine, stack.settings)
    first = activities.assign_reviewers(dataclasses.replace(request))
    retried = activities.assign_reviewers(dataclasses.replace(request))
    assert first == retried == ["lee"]
    following = dataclasses.replace(request, exclude=["kai", "ruth", "lee"])
    assert activities.assign_reviewers(following) == ["noor"]


# ================================================================================ review: scorecards


async def test_scorecard_refusals_name_the_reviewer_problem(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    review = Review(pool="eng", reviewers=2, criteria=TWO_CRITERIA)
    job_id = await open_job(stack, monkeypatch, make_pipeline("t-scorecards", review), "Scored engineer")

    # Before the review: no scorecard at all.
    early_address = unique_email()
    early = await stack.invite(job_id, early_address)
    too_soon = await scorecard(stack, early["id"], {"communication": 3, "customer_focus": 3}, "kai")
    assert too_soon.status_code == 409, too_soon.text
    assert "in_review" in too_soon.json()["detail"]

    candidate = await apply(stack, job_id)
    app_id = candidate.application_id
    good = {"communication": 4, "customer_focus": 3}

    # A scorecard naming nobody, with two reviews open: ADMIN_TOKEN may not score at all now (only
    # staff linked to the directory do, as themselves, so through the API a scorecard always names
    # its reviewer); the workflow itself still asks for the reviewer.
    anonymous = await stack.http.post(
        f"/api/v1/applications/{app_id}/scorecards",
        json={"overall_recommendation": "yes", "ratings": good},
        headers=STAFF,
    )
    assert anonymous.status_code == 403, anonymous.text
    assert "not linked to the staff directory" in anonymous.json()["detail"]
    with pytest.raises(WorkflowUpdateFailedError) as unnamed:
        await stack.workflow(app_id).execute_update(
            "submit_scorecard", ScorecardInput("", "yes", good, None, "ops:admin")
        )
    assert isinstance(unnamed.value.cause, ApplicationError)
    assert "reviewer_id" in unnamed.value.cause.message and "kai, ruth" in unnamed.value.cause.message

    stranger = await scorecard(stack, app_id, good, "noor")  # in the pool, but not assigned here
    assert stranger.status_code == 409, stranger.text
    assert "noor" in stranger.json()["detail"] and "kai, ruth" in stranger.json()["detail"]

    incomplete = await scorecard(stack, app_id, {"communication": 4}, "kai")
    assert incomplete.status_code == 422, incomplete.text
    assert "missing: customer_focus" in incomplete.json()["detail"]
    unknown = await scorecard(stack, app_id, {**good, "charisma": 5}, "kai")
    assert unknown.status_code == 422, unknown.text
    assert "unknown: charisma" in unknown.json()["detail"]

    first = await scorecard(stack, app_id, good, "kai")
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "in_review"
    assert first.json()["combined_score"] is None

    twice = await scorecard(stack, app_id, good, "kai")
    assert twice.status_code == 409, twice.text
    assert "kai" in twice.json()["detail"] and "already scored" in twice.json()["detail"]

    # reviewer_id may be left out: a card is its author's, here ruth's (the one review left open).
    last = await scorecard(stack, app_id, {"communication": 2, "customer_focus": 5})
    assert last.status_code == 201, last.text
    body = last.json()
    assert body["status"] == "awaiting_decision"
    assert [(c["reviewer"], c["ratings"]) for c in body["scorecards"]] == [
        ("kai", good),
        ("ruth", {"communication": 2, "customer_focus": 5}),
    ]
    assert assignments(body) == [("kai", "completed"), ("ruth", "completed")]
    closed = await scorecard(stack, app_id, good, "ruth")
    assert closed.status_code == 409, closed.text


# ================================================================================ review: combination


async def test_combined_score_is_the_mean_of_weighted_scorecards(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    review = Review(pool="eng", reviewers=2, criteria=TWO_CRITERIA, combine="weighted_mean")
    job_id = await open_job(stack, monkeypatch, make_pipeline("t-weighted", review), "Weighted engineer")
    candidate = await apply(stack, job_id)

    kai = {"communication": 5, "customer_focus": 2}  # (1*5 + 2*2) / 3 = 3.0
    ruth = {"communication": 2, "customer_focus": 4}  # (1*2 + 2*4) / 3 = 3.333...
    assert (await scorecard(stack, candidate.application_id, kai, "kai")).status_code == 201
    response = await scorecard(stack, candidate.application_id, ruth, "ruth")
    assert response.status_code == 201, response.text

    expected = round(((5 + 2 * 2) / 3 + (2 + 2 * 4) / 3) / 2, 2)
    assert expected == 3.17  # an unweighted mean of the ratings would give 3.25
    assert response.json()["combined_score"] == expected
    detail = await stack.application(candidate.application_id)
    assert detail["combined_score"] == expected and detail["status"] == "awaiting_decision"
    assert (await state(stack, candidate.application_id)).combined_score == expected


async def test_combined_score_by_median_of_weighted_scorecards(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    # The senior engineer's panel: system_design counts twice, three reviewers, combined by median.
    job_id = await open_job(stack, monkeypatch, make_pipeline("t-median", SENIOR_REVIEW), "Median engineer")
    candidate = await apply(stack, job_id)

    cards = {
        "kai": {"system_design": 5, "code_quality": 4, "collaboration": 3},  # 17/4 = 4.25
        "ruth": {"system_design": 2, "code_quality": 3, "collaboration": 3},  # 10/4 = 2.5
        "lee": {"system_design": 4, "code_quality": 2, "collaboration": 5},  # 15/4 = 3.75
    }
    response: httpx.Response | None = None
    for reviewer, ratings in cards.items():
        response = await scorecard(stack, candidate.application_id, ratings, reviewer)
        assert response.status_code == 201, response.text
    assert response is not None
    expected = 3.75  # the middle of 4.25, 2.5 and 3.75; the mean would be 3.5
    assert expected == statistics.median(
        (2 * r["system_design"] + r["code_quality"] + r["collaboration"]) / 4 for r in cards.values()
    )
    assert response.json()["combined_score"] == expected
    assert response.json()["status"] == "awaiting_decision"


# ================================================================================ review: thresholds


async def test_thresholds_reject_advance_or_leave_the_decision_to_people(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    # The support agent's review: communication (1) and customer_focus (2); reject below 2.0,
    # advance at 4.5 or more.
    assert (SUPPORT_REVIEW.auto_reject_below, SUPPORT_REVIEW.auto_advance_at) == (2.0, 4.5)
    title = "Threshold agent"
    job_id = await open_job(stack, monkeypatch, make_pipeline("t-thresholds", SUPPORT_REVIEW), title)

    # (1 + 2*2) / 3 = 1.67 < 2.0: rejected by the system, and told.
    low = await apply(stack, job_id, name="Low Scorer")
    response = await scorecard(stack, low.application_id, {"communication": 1, "customer_focus": 2})
    assert response.status_code == 201, response.text
    detail = await stack.wait_status(low.application_id, "rejected")
    assert detail["combined_score"] == 1.67
    assert detail["decision"] == "reject" and detail["decided_by"] == "system:auto-reject"
    mails = await stack.mailbox.wait_for(low.address, 3)
    assert subject(mails[2]) == f"Your application for {title}"
    assert (await stack.workflow(low.application_id).result()).status == "rejected"

    # (4 + 2*5) / 3 = 4.67 >= 4.5: approved by the system, and told.
    high = await apply(stack, job_id, name="High Scorer")
    response = await scorecard(stack, high.application_id, {"communication": 4, "customer_focus": 5})
    assert response.status_code == 201, response.text
    detail = await stack.wait_status(high.application_id, "approved")
    assert detail["combined_score"] == 4.67
    assert detail["decision"] == "approve" and detail["decided_by"] == "system:auto-advance"
    assert detail["decision_reason_code"] == "advance"
    mails = await stack.mailbox.wait_for(high.address, 3)
    assert subject(mails[2]) == f"Good news about your application for {title}"
    assert (await stack.workflow(high.application_id).result()).status == "approved"

    # Exactly 2.0 is not below 2.0, and (5 + 2*4) / 3 = 4.33 is under 4.5: people decide.
    for name, ratings, score in (
        ("Edge Scorer", {"communication": 2, "customer_focus": 2}, 2.0),
        ("Middle Scorer", {"communication": 5, "customer_focus": 4}, 4.33),
    ):
        between = await apply(stack, job_id, name=name)
        response = await scorecard(stack, between.application_id, ratings)
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["status"], body["combined_score"], body["decision"]) == (
            "awaiting_decision",
            score,
            None,
        )
        await stack.mailbox.settle(0.3)
        assert len(stack.mailbox.to(between.address)) == 2  # invite and submitted only

    # Only the two clear cases were decided without anyone.
    assert len(stack.mailbox.to(low.address)) == 3 and len(stack.mailbox.to(high.address)) == 3


# ================================================================================ review: reviewer view


async def test_blind_and_independent_reviewer_view(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    review = Review(pool="eng", reviewers=3, criteria=TWO_CRITERIA)
    assert review.blind and review.independent
    job_id = await open_job(stack, monkeypatch, make_pipeline("t-blind", review), "Blind engineer")
    candidate = await apply(stack, job_id, name="Hedy Lamarr")
    app_id = candidate.application_id

    view = await reviewer_view(stack, app_id, "kai")
    assert view.status_code == 200, view.text
    body = view.json()
    assert body["blind"] is True and body["candidate_name"] is None
    assert candidate.name not in view.text and candidate.address not in view.text
    assert [a["text"] for a in body["answers"]] == [ANSWER]
    assert [c["id"] for c in body["criteria"]] == ["communication", "customer_focus"]
    assert (body["own_scorecard"], body["other_scorecards"], body["combined_score"]) == (None, None, None)

    # Ruth scores; kai, who has not, still sees nobody else's score.
    assert (
        await scorecard(stack, app_id, {"communication": 3, "customer_focus": 4}, "ruth")
    ).status_code == 201
    body = (await reviewer_view(stack, app_id, "kai")).json()
    assert (
        body["own_scorecard"] is None and body["other_scorecards"] is None and body["combined_score"] is None
    )
    ruth_view = (await reviewer_view(stack, app_id, "ruth")).json()
    assert ruth_view["own_scorecard"]["ratings"] == {"communication": 3, "customer_focus": 4}
    assert ruth_view["other_scorecards"] == [] and ruth_view["combined_score"] is None

    # Kai scores: now kai sees ruth's card, but no combined score while lee has not scored.
    assert (
        await scorecard(stack, app_id, {"communication": 5, "customer_focus": 5}, "kai")
    ).status_code == 201
    body = (await reviewer_view(stack, app_id, "kai")).json()
    assert body["own_scorecard"]["reviewer"] == "kai"
    assert [c["reviewer"] for c in body["other_scorecards"]] == ["ruth"]
    assert body["combined_score"] is None
    assert (await reviewer_view(stack, app_id, "lee")).json()["other_scorecards"] is None

    # Lee scores last: everyone sees the others and the combined score; still no name.
    assert (
        await scorecard(stack, app_id, {"communication": 1, "customer_focus": 4}, "lee")
    ).status_code == 201
    expected = round(((3 + 8) / 3 + (5 + 10) / 3 + (1 + 8) / 3) / 3, 2)
    for reviewer, others in (("kai", ["ruth", "lee"]), ("ruth", ["kai", "lee"]), ("lee", ["ruth", "kai"])):
        view = await reviewer_view(stack, app_id, reviewer)
        body = view.json()
        assert sorted(c["reviewer"] for c in body["other_scorecards"]) == sorted(others)
        assert body["combined_score"] == expected
        assert body["candidate_name"] is None and candidate.name not in view.text

    # Someone with no review of it has no view of it.
    assert (await reviewer_view(stack, app_id, "noor")).status_code == 404


async def test_open_panel_view_shows_the_name_and_others_scores(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    review = Review(pool="eng", reviewers=2, criteria=TWO_CRITERIA, blind=False, independent=False)
    job_id = await open_job(stack, monkeypatch, make_pipeline("t-open-panel", review), "Open engineer")
    candidate = await apply(stack, job_id, name="Katherine Johnson")
    app_id = candidate.application_id

    body = (await reviewer_view(stack, app_id, "kai")).json()
    assert body["blind"] is False and body["candidate_name"] == "Katherine Johnson"
    assert body["other_scorecards"] == [] and body["combined_score"] is None

    assert (
        await scorecard(stack, app_id, {"communication": 2, "customer_focus": 3}, "ruth")
    ).status_code == 201
    body = (await reviewer_view(stack, app_id, "kai")).json()
    assert body["own_scorecard"] is None
    assert [(c["reviewer"], c["ratings"]) for c in body["other_scorecards"]] == [
        ("ruth", {"communication": 2, "customer_focus": 3})
    ]
    assert body["combined_score"] is None  # not available before the panel is complete

    assert (
        await scorecard(stack, app_id, {"communication": 4, "customer_focus": 4}, "kai")
    ).status_code == 201
    body = (await reviewer_view(stack, app_id, "ruth")).json()
    assert [c["reviewer"] for c in body["other_scorecards"]] == ["kai"]
    assert body["combined_score"] == round(((2 + 6) / 3 + (4 + 8) / 3) / 2, 2)


# ================================================================================ decision: N of M


async def test_two_of_three_approvers_approve(skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = skipping_stack
    review = Review(criteria=TWO_CRITERIA)  # default pool: sam
    assert (SENIOR_DECISION.approvals_required, SENIOR_DECISION.approvers) == (2, ("kai", "ruth", "noor"))
    title = "Approved engineer"
    job_id = await open_job(stack, monkeypatch, make_pipeline("t-n-of-m", review, SENIOR_DECISION), title)
    candidate = await apply(stack, job_id)
    app_id = candidate.application_id
    assert (await scorecard(stack, app_id, {"communication": 4, "customer_focus": 4})).status_code == 201

    anonymous = await decide(stack, app_id, decision="approve")
    assert anonymous.status_code == 422, anonymous.text
    assert "approver_id" in anonymous.json()["detail"] and "kai, ruth, noor" in anonymous.json()["detail"]
    outsider = await decide(stack, app_id, decision="approve", approver_id="sam")
    assert outsider.status_code == 409, outsider.text
    assert "'sam' is not an approver" in outsider.json()["detail"]

    one = await decide(stack, app_id, decision="approve", approver_id="kai", reason="Strong design sense.")
    assert one.status_code == 200, one.text
    assert one.json()["status"] == "awaiting_decision" and one.json()["decision"] is None
    assert (await state(stack, app_id)).votes == {"kai": "approve"}
    twice = await decide(stack, app_id, decision="approve", approver_id="kai")
    assert twice.status_code == 409, twice.text
    assert "'kai' has already voted" in twice.json()["detail"]
    await stack.mailbox.settle(0.3)
    assert len(stack.mailbox.to(candidate.address)) == 2  # nothing decided yet

    two = await decide(stack, app_id, decision="approve", approver_id="ruth", reason="Let us meet.")
    assert two.status_code == 200, two.text
    body = two.json()
    assert (body["status"], body["decision"], body["decision_reason_code"]) == ("approved", "approve", "hire")
    # The deciding vote was ruth's, cast from her own account.
    ruth = recorded_as(stack, stack.as_person("ruth"))
    assert body["decided_by"] == ruth and body["decision_reason"] == "Let us meet."
    result = await stack.workflow(app_id).result()
    assert result.status == "approved" and result.votes == {"kai": "approve", "ruth": "approve"}

    mails = await stack.mailbox.wait_for(candidate.address, 3)
    assert subject(mails[2]) == f"Good news about your application for {title}"
    assert "Let us meet." in mails[2].text
    late = await decide(stack, app_id, decision="reject", approver_id="noor")
    assert late.status_code == 409, late.text
    await stack.mailbox.settle(0.3)
    assert len(stack.mailbox.to(candidate.address)) == 3


async def test_two_rejections_make_two_approvals_impossible(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    review = Review(criteria=TWO_CRITERIA)
    title = "Rejected engineer"
    job_id = await open_job(
        stack, monkeypatch, make_pipeline("t-n-of-m-reject", review, SENIOR_DECISION), title
    )
    candidate = await apply(stack, job_id)
    app_id = candidate.application_id
    assert (await scorecard(stack, app_id, {"communication": 3, "customer_focus": 2})).status_code == 201

    # One rejection and one approval: two approvals are still possible.
    for approver, vote in (("kai", "reject"), ("noor", "approve")):
        response = await decide(stack, app_id, decision=vote, approver_id=approver)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "awaiting_decision"
    # A second rejection leaves one possible approval of the two required: rejected.
    response = await decide(stack, app_id, decision="reject", approver_id="ruth")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["decision"], body["decision_reason_code"]) == (
        "rejected",
        "reject",
        "not_senior_yet",
    )
    result = await stack.workflow(app_id).result()
    assert result.status == "rejected" and result.votes == {
        "kai": "reject",
        "noor": "approve",
        "ruth": "reject",
    }
    mails = await stack.mailbox.wait_for(candidate.address, 3)
    assert subject(mails[2]) == f"Your application for {title}"
    await stack.mailbox.settle(0.3)
    assert len(stack.mailbox.to(candidate.address)) == 3


# ================================================================================ decision: reasons


async def test_reason_codes_are_checked_stored_and_choose_the_email(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    decision = Decision(
        reason_codes=(
            ReasonCode("advance", "approve", "Moving forward", "approved"),
            ReasonCode("not_a_fit", "reject", "Not the right fit", "rejected"),
            ReasonCode("candidate_withdrew", "reject", "The candidate withdrew by email", "withdrawn"),
        )
    )
    title = "Reasoned engineer"
    job_id = await open_job(
        stack, monkeypatch, make_pipeline("t-reasons", Review(criteria=TWO_CRITERIA), decision), title
    )
    candidate = await apply(stack, job_id)
    app_id = candidate.application_id
    assert (await scorecard(stack, app_id, {"communication": 3, "customer_focus": 3})).status_code == 201

    unknown = await decide(stack, app_id, decision="reject", reason_code="too_expensive")
    assert unknown.status_code == 422, unknown.text
    detail = unknown.json()["detail"]
    assert "too_expensive" in detail and "advance, not_a_fit, candidate_withdrew" in detail
    crossed = await decide(stack, app_id, decision="approve", reason_code="not_a_fit")
    assert crossed.status_code == 422, crossed.text
    assert crossed.json()["detail"] == "reason_code 'not_a_fit' is for reject, not approve"
    assert (await stack.application(app_id))["status"] == "awaiting_decision"

    response = await decide(stack, app_id, decision="reject", reason_code="candidate_withdrew")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["decision_reason_code"]) == ("rejected", "candidate_withdrew")
    mails = await stack.mailbox.wait_for(candidate.address, 3)
    # The reason code's own template, not the generic rejection.
    assert subject(mails[2]) == f"Your application for {title} has been withdrawn"
    assert (await stack.workflow(app_id).result()).status == "rejected"
    await stack.mailbox.settle(0.3)
    assert len(stack.mailbox.to(candidate.address)) == 3


# ================================================================================ decision: SLA


async def test_decision_sla_reminds_pending_approvers_then_escalates(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    decision = SENIOR_DECISION  # sla 4 days, reminder 1 day before, escalate_to lee
    assert (decision.sla, decision.reminder_before_sla, decision.escalate_to) == (4 * DAY, DAY, "lee")
    title = "Slow decision"
    job_id = await open_job(
        stack, monkeypatch, make_pipeline("t-decision-sla", Review(criteria=TWO_CRITERIA), decision), title
    )
    candidate = await apply(stack, job_id)
    app_id = candidate.application_id
    assert (await scorecard(stack, app_id, {"communication": 4, "customer_focus": 4})).status_code == 201
    waiting_since = await review_ended_at(stack, app_id)

    # Kai votes on day 1; the others wait.
    await stack.env.sleep(timedelta(days=1))
    assert (await decide(stack, app_id, decision="approve", approver_id="kai")).status_code == 200

    # Day 3 (sla - reminder_before_sla): the approvers who have not voted are reminded.
    await stack.env.sleep(timedelta(days=2, minutes=5))
    for approver in ("ruth", "noor"):
        [reminder] = await stack.mailbox.wait_for(email_of(approver), 1)
        assert subject(reminder) == f"Decision waiting: {title} (application {app_id})"
        assert_names_no_candidate(reminder, candidate)
    await stack.mailbox.settle(0.5)
    assert stack.mailbox.to(email_of("kai")) == []  # already voted
    assert stack.mailbox.to(email_of("lee")) == []  # not yet overdue

    # Day 4 (the SLA): the hiring manager is told.
    await stack.env.sleep(timedelta(days=1))
    [escalation] = await stack.mailbox.wait_for(email_of("lee"), 1)
    assert subject(escalation) == f"Escalation: decision overdue on {title} (application {app_id})"
    assert "4 days" in escalation.text
    assert_names_no_candidate(escalation, candidate)

    # When, on the workflow's clock.
    scheduled = {e.key: e for e in await scheduled_emails(stack, app_id)}
    for approver in ("ruth", "noor"):
        at = scheduled[f"decision-reminder-{decision.id}-{approver}"].at
        assert abs(at - (waiting_since + timedelta(days=3))) <= TOLERANCE
    assert f"decision-reminder-{decision.id}-kai" not in scheduled
    assert (
        abs(scheduled[f"decision-escalation-{decision.id}"].at - (waiting_since + timedelta(days=4)))
        <= TOLERANCE
    )

    # A decision after the SLA still works, and nobody is chased again.
    response = await decide(stack, app_id, decision="approve", approver_id="noor")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "approved"
    mails = await stack.mailbox.wait_for(candidate.address, 3)
    assert subject(mails[2]) == f"Good news about your application for {title}"
    await stack.mailbox.settle(0.5)
    assert [len(stack.mailbox.to(email_of(p))) for p in ("kai", "ruth", "noor", "lee")] == [0, 1, 1, 1]


async def test_decision_sla_reminds_the_contact_when_no_approvers_are_named(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    decision = SUPPORT_DECISION  # any recruiter decides; sla 2 days, reminder 1 day before, escalate_to jo
    assert decision.approvers == () and (decision.sla, decision.escalate_to) == (2 * DAY, "jo")
    title = "Contacted agent"
    pipeline = make_pipeline("t-decision-contact", Review(criteria=TWO_CRITERIA), decision, contact="ana")
    job_id = await open_job(stack, monkeypatch, pipeline, title)
    candidate = await apply(stack, job_id)
    app_id = candidate.application_id
    assert (await scorecard(stack, app_id, {"communication": 3, "customer_focus": 4})).status_code == 201
    ana, jo = email_of("ana"), email_of("jo")

    await stack.env.sleep(timedelta(hours=23))
    await stack.mailbox.settle(0.5)
    assert stack.mailbox.to(ana) == []

    await stack.env.sleep(timedelta(hours=2))
    [reminder] = await stack.mailbox.wait_for(ana, 1)
    assert subject(reminder) == f"Decision waiting: {title} (application {app_id})"
    assert_names_no_candidate(reminder, candidate)
    assert stack.mailbox.to(jo) == []

    await stack.env.sleep(timedelta(days=1))
    [escalation] = await stack.mailbox.wait_for(jo, 1)
    assert subject(escalation) == f"Escalation: decision overdue on {title} (application {app_id})"

    response = await decide(stack, app_id, decision="reject", reason="We chose another candidate.")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected"
    assert response.json()["decision_reason_code"] == "not_a_fit"  # the first reject code by default
    mails = await stack.mailbox.wait_for(candidate.address, 3)
    assert subject(mails[2]) == f"Your application for {title}"
    assert "We chose another candidate." in mails[2].text
    await stack.mailbox.settle(0.3)
    assert len(stack.mailbox.to(ana)) == 1 and len(stack.mailbox.to(jo)) == 1


# ================================================================================ check-ins


async def test_check_ins_while_waiting_in_review_stop_once_decided(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    review = Review(criteria=TWO_CRITERIA, sla=10 * DAY, reminder_before_sla=DAY)
    # Onboarding after the decision keeps the workflow running, so a stray check-in would show.
    onboarding = Onboarding(modules=(Module("welcome", "Welcome", due=10 * DAY),))
    pipeline = make_pipeline(
        "t-check-in",
        review,
        Decision(sla=None),
        check_in=CheckIn(promised_response=2 * DAY, every=1 * DAY),
        after=(onboarding,),
    )
    title = "Patient candidate"
    update = f"An update on your application for {title}"
    job_id = await open_job(stack, monkeypatch, pipeline, title)
    candidate = await apply(stack, job_id)
    app_id = candidate.application_id
    submitted = await stack.mailbox.wait_for(candidate.address, 2)
    assert subject(submitted[1]) == f"We have received your answers for {title}"

    # Within the promised response time: no check-in.
    await stack.env.sleep(timedelta(days=2) - timedelta(hours=1))
    await stack.mailbox.settle(0.5)
    assert len(stack.mailbox.to(candidate.address)) == 2

    # At the promised response time, then every day.
    await stack.env.sleep(timedelta(hours=2))
    first = (await stack.mailbox.wait_for(candidate.address, 3))[2]
    assert subject(first) == update
    assert candidate.name in first.text and "You can expect news by" in first.text
    await stack.env.sleep(timedelta(days=1))
    second = (await stack.mailbox.wait_for(candidate.address, 4))[3]
    assert subject(second) == update

    scheduled = [e for e in await scheduled_emails(stack, app_id) if e.template == "check_in"]
    assert [e.key for e in scheduled] == [f"check-in-{review.id}-1", f"check-in-{review.id}-2"]
    review_started = next(e.at for e in await scheduled_emails(stack, app_id) if e.key == "submitted")
    assert abs(scheduled[0].at - (review_started + timedelta(days=2))) <= TOLERANCE
    assert abs(scheduled[1].at - (review_started + timedelta(days=3))) <= TOLERANCE

    # The review and the decision come in: the candidate hears the news, and no more check-ins.
    assert (await scorecard(stack, app_id, {"communication": 4, "customer_focus": 4})).status_code == 201
    decided = await decide(stack, app_id, decision="approve")
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "approved"
    mails = await stack.mailbox.wait_for(candidate.address, 6)
    assert subjects(mails)[4:] == [
        f"Good news about your application for {title}",
        f"Welcome aboard: your first steps ({title})",
    ]

    await stack.env.sleep(timedelta(days=5))
    await stack.mailbox.settle(1.0)
    assert (await state(stack, app_id)).stage == onboarding.id  # still running
    assert subjects(stack.mailbox.to(candidate.address)).count(update) == 2
    assert [e.key for e in await scheduled_emails(stack, app_id) if e.template == "check_in"] == [
        f"check-in-{review.id}-1",
        f"check-in-{review.id}-2",
    ]


async def test_check_ins_keep_their_rhythm_from_review_into_the_decision_wait(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    review = Review(criteria=TWO_CRITERIA, sla=10 * DAY, reminder_before_sla=DAY)
    pipeline = make_pipeline(
        "t-check-in-rhythm",
        review,
        Decision(sla=None),
        check_in=CheckIn(promised_response=2 * DAY, every=1 * DAY),
    )
    title = "Waiting candidate"
    update = f"An update on your application for {title}"
    job_id = await open_job(stack, monkeypatch, pipeline, title)
    candidate = await apply(stack, job_id)
    await stack.mailbox.wait_for(candidate.address, 2)

    # Days 2 and 3 in review: two check-ins; the second promises news within a day.
    await stack.env.sleep(timedelta(days=2, minutes=5))
    await stack.mailbox.wait_for(candidate.address, 3)
    await stack.env.sleep(timedelta(days=1))
    second = (await stack.mailbox.wait_for(candidate.address, 4))[3]
    assert subject(second) == update

    # Day 3.5: the review is done, the candidate still waits (now on the decision) and is not told.
    await stack.env.sleep(timedelta(hours=12))
    assert (
        await scorecard(stack, candidate.application_id, {"communication": 3, "customer_focus": 3})
    ).status_code == 201
    assert (await stack.application(candidate.application_id))["status"] == "awaiting_decision"

    # Day 4 and a bit: still waiting, a day after the last update: the next update is due.
    await stack.env.sleep(timedelta(hours=12, minutes=10))
    await stack.mailbox.settle(1.0)
    assert subjects(stack.mailbox.to(candidate.address)).count(update) == 3


# ================================================================================ scoring, directly


WEIGHTED = (
    Criterion("design", "Design", ("d1", "d2", "d3", "d4", "d5"), weight=2.0),
    Criterion("code", "Code", ("c1", "c2", "c3", "c4", "c5")),
    Criterion("team", "Team", ("t1", "t2", "t3", "t4", "t5"), weight=0.5),
)


def test_scorecard_score_is_the_weighted_mean_of_the_ratings() -> None:
    assert scorecard_score(WEIGHTED, {"design": 5, "code": 2, "team": 4}) == pytest.approx(
        (2 * 5 + 1 * 2 + 0.5 * 4) / 3.5
    )
    assert scorecard_score(WEIGHTED, {"design": 3, "code": 3, "team": 3}) == 3
    # Only the criteria count: an extra rating is ignored, weights decide.
    assert scorecard_score(WEIGHTED, {"design": 1, "code": 5, "team": 5, "other": 5}) == pytest.approx(
        (2 + 5 + 2.5) / 3.5
    )


def test_combined_score_by_weighted_mean_and_median() -> None:
    cards = [
        {"design": 5, "code": 2, "team": 4},  # 14/3.5 = 4.0
        {"design": 2, "code": 3, "team": 2},  # 8/3.5 = 2.2857
        {"design": 3, "code": 4, "team": 5},  # 12.5/3.5 = 3.5714
    ]
    mean_review = Review(criteria=WEIGHTED, combine="weighted_mean")
    median_review = dataclasses.replace(mean_review, combine="median")
    assert combined_score(mean_review, cards) == round((14 / 3.5 + 8 / 3.5 + 12.5 / 3.5) / 3, 2) == 3.29
    assert combined_score(median_review, cards) == round(12.5 / 3.5, 2) == 3.57
    # An even panel: the median is the mean of the two middle scores.
    assert combined_score(median_review, cards[:2]) == round((4.0 + 8 / 3.5) / 2, 2) == 3.14
    assert combined_score(mean_review, cards[:1]) == 4.0
    assert combined_score(median_review, [cards[1], cards[1], cards[0]]) == 2.29


def test_build_feedback_turns_panel_means_into_anchors() -> None:
    review = Review(
        criteria=(
            Criterion("clarity", "Clarity", ("Muddled.", "Vague.", "Clear.", "Crisp.", "Brilliant.")),
            Criterion("depth", "Depth", ("None", "Thin", "Adequate", "Deep", "Expert")),
            Criterion("care", "Care", ("Careless", "Hasty", "Careful", "Thorough", "Meticulous")),
            Criterion("speed", "Speed", ("Stalled", "Slow", "Steady", "Quick", "Fast")),
        )
    )
    cards = [
        {"clarity": 4, "depth": 2, "care": 3, "speed": 3},
        {"clarity": 4, "depth": 1, "care": 3, "speed": 4},
    ]  # means: clarity 4.0, depth 1.5, care 3.0, speed 3.5
    content = build_feedback(review, cards, "Apply again next year.")
    # >= 3.5 is a strength, <= 2.5 to develop, in between neither; one full stop per line.
    assert content.strengths == ["Clarity: Crisp.", "Speed: Quick."]
    assert content.to_develop == ["Depth: Thin."]
    assert content.next_steps == "Apply again next year."

    single = build_feedback(review, [{"clarity": 1, "depth": 5, "care": 2, "speed": 3}], "")
    assert single.strengths == ["Depth: Expert."]
    assert single.to_develop == ["Clarity: Muddled.", "Care: Hasty."]
    assert single.next_steps == ""
