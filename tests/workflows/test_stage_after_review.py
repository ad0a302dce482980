"""The stages after review on the time-skipping server: scheduling a live interview, written
feedback (generated, held for edit, after a rejection), onboarding modules, a custom stage, and the
whole internship pipeline end to end through the HTTP API, with real SMTP and SQLite.

Days pass in milliseconds with `stack.env.sleep`. Workflow time runs ahead of the wall clock (the
test server is shared by the session), so every slot and due date is computed from the workflow's
clock, never from `datetime.now()`. `stack.workflow(id).result()` is awaited only once the workflow
has closed: it waits in real time."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus

from activities.email_text import format_deadline
from pipelines.registry import PIPELINES, Pipeline, validate
from pipelines.stages import DAY as DAY_SECONDS
from pipelines.stages import (
    Criterion,
    Decision,
    Feedback,
    Interview,
    Invite,
    Module,
    Onboarding,
    Question,
    Review,
    Scheduling,
    Stage,
)
from tests.conftest import STAFF, CaughtMail, Stack, token_from, unique_email
from tests.history import scheduled_emails
from tests.samples import PDF, upload_recording, webm

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

STARTED: list[str] = []  # every application these tests started, in order


@pytest.fixture(autouse=True)
async def end_idle(skipping_stack: Stack) -> AsyncIterator[None]:
    """Let each test's workflows finish what they are doing before the stack terminates them.

    The time-skipping test server is shared by the session. A workflow terminated while one of its
    activities is in flight leaves time skipping locked until that activity's timeout passes in real
    time, so the next test's `env.sleep` hangs instead of skipping days."""
    first = len(STARTED)
    yield
    for application_id in STARTED[first:]:
        with suppress(TimeoutError):  # a stuck workflow is the test's failure, reported already
            await wait_idle(skipping_stack, f"application-{application_id}")


async def wait_idle(stack: Stack, workflow_id: str, timeout: float = 20.0) -> None:
    """Wait until the workflow (and its children) has closed or has no activity or task in flight."""
    async with asyncio.timeout(timeout):
        while True:
            description = await stack.client.get_workflow_handle(workflow_id).describe()
            if description.status != WorkflowExecutionStatus.RUNNING:
                return
            raw = description.raw_description
            if not raw.pending_activities and not raw.HasField("pending_workflow_task"):
                for child in raw.pending_children:
                    await wait_idle(stack, child.workflow_id, timeout)
                return
            await asyncio.sleep(0.05)


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
    STARTED.append(application["id"])
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


async def is_running(stack: Stack, application_id: str) -> bool:
    description = await stack.workflow(application_id).describe()
    return bool(description.status == WorkflowExecutionStatus.RUNNING)


def subject(mail: CaughtMail) -> str:
    """The subject as a mail client shows it. Python's email package folds a long subject right after
    'Subject:' and keeps the leading space when parsing it back: the space is not the product's."""
    return " ".join(mail.subject.split())


def subjects(mails: list[CaughtMail]) -> list[str]:
    return [subject(mail) for mail in mails]


def when(moment: datetime) -> str:
    """How a time reads in the candidate's emails."""
    return format_deadline(moment, TIMEZONE)


def calendar(mail: CaughtMail) -> dict[str, str]:
    """The single text/calendar attachment of a message, as its iCalendar properties."""
    attachments = [
        part for part in mail.message.iter_attachments() if part.get_content_type() == "text/calendar"
    ]
    assert len(attachments) == 1, [part.get_content_type() for part in mail.message.iter_attachments()]
    [part] = attachments
    assert part.get_filename() == "interview.ics"
    content = part.get_content()
    text = content.decode() if isinstance(content, bytes) else str(content)
    unfolded = text.replace("\r\n ", "").replace("\r\n\t", "")
    lines = [line for line in unfolded.replace("\r\n", "\n").split("\n") if line]
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR", lines
    assert "BEGIN:VEVENT" in lines and "END:VEVENT" in lines, lines
    properties: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        properties[name.split(";")[0]] = value
    return properties


def ics_time(value: str) -> datetime:
    assert value.endswith("Z"), f"expected a UTC time, got {value}"
    return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def section(text: str, heading: str) -> list[str]:
    """The bullet lines under a heading of the feedback email ('What stood out:' ...)."""
    lines = text.splitlines()
    assert heading in [line.strip() for line in lines], f"no '{heading}' in:\n{text}"
    start = [line.strip() for line in lines].index(heading) + 1
    bullets: list[str] = []
    for line in lines[start:]:
        if not line.strip().startswith("- "):
            break
        bullets.append(line.strip().removeprefix("- "))
    return bullets


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


async def test_slots_are_offered_picked_confirmed_with_ics_and_reminded_then_the_pipeline_moves_on(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    applicant = await to_scheduling(stack, monkeypatch, "t-scheduling-happy", "Platform engineer")
    url = f"/api/v1/applications/{applicant.application_id}"

    now = await clock(stack, applicant)
    first, second = slot_at(now, 3 * DAY), slot_at(now, 4 * DAY + 2 * HOUR)
    offered = await post(
        stack, f"{url}/slots", {"slots": [second.isoformat(), first.isoformat()]}, staff=True
    )
    assert offered.status_code == 200, offered.text

    # The candidate is asked to choose, with both times in their own time zone.
    mails = await stack.mailbox.wait_for(applicant.address, 3)
    choose = mails[2]
    assert subject(choose) == "Choose a time for your Platform engineer interview"
    assert when(first) in choose.text and when(second) in choose.text
    assert choose.text.index(when(first)) < choose.text.index(when(second))  # in time order
    view = await candidate_view(stack, applicant)
    assert [datetime.fromisoformat(s) for s in view["slots"]] == [first, second]
    assert view["booked_slot"] is None

    # Offering a second time is refused; so is a slot that was not offered.
    again = await post(stack, f"{url}/slots", {"slots": [slot_at(now, 5 * DAY).isoformat()]}, staff=True)
    assert again.status_code == 409, again.text
    assert "already been offered" in again.json()["detail"]
    stray = await post(
        stack, f"/api/v1/candidate/{applicant.token}/slot", {"slot": slot_at(now, 5 * DAY).isoformat()}
    )
    assert stray.status_code == 422, stray.text
    assert "offered" in stray.json()["detail"]

    # The candidate picks the first slot, given in UTC this time: the same instant.
    picked = await post(
        stack, f"/api/v1/candidate/{applicant.token}/slot", {"slot": first.astimezone(UTC).isoformat()}
    )
    assert picked.status_code == 200, picked.text
    assert datetime.fromisoformat(picked.json()["booked_slot"]) == first

    mails = await stack.mailbox.wait_for(applicant.address, 4)
    confirmed = mails[3]
    assert subject(confirmed) == f"Confirmed: Pairing session for Platform engineer, {when(first)}"
    assert "50 minutes" in confirmed.text and "Room 4, Level 2" in confirmed.text
    event = calendar(confirmed)
    assert ics_time(event["DTSTART"]) == first.astimezone(UTC)
    assert event["DTSTART"] == first.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    assert ics_time(event["DTEND"]) == first.astimezone(UTC) + timedelta(minutes=50)
    assert "Pairing session" in event["SUMMARY"] and "Platform engineer" in event["SUMMARY"]
    assert event["METHOD"] == "REQUEST"
    view = await candidate_view(stack, applicant)
    assert view["slots"] == [] and datetime.fromisoformat(view["booked_slot"]) == first

    twice = await post(stack, f"/api/v1/candidate/{applicant.token}/slot", {"slot": second.isoformat()})
    assert twice.status_code == 409, twice.text
    assert "already booked" in twice.json()["detail"]

    # Up to an hour before the reminder is due: nothing more.
    remind_at = first.astimezone(UTC) - DAY
    await skip(stack, remind_at - await clock(stack, applicant) - HOUR)
    await stack.mailbox.settle(0.5)
    assert len(stack.mailbox.to(applicant.address)) == 4

    # The reminder, a day before the slot by the workflow's clock.
    await skip(stack, 2 * HOUR)
    mails = await stack.mailbox.wait_for(applicant.address, 5)
    assert subject(mails[4]) == f"Reminder: Pairing session for Platform engineer, {when(first)}"
    [reminder] = [
        e for e in await scheduled_emails(stack, applicant.application_id) if e.template == "slot_reminder"
    ]
    assert abs(reminder.at - remind_at) <= TOLERANCE, (reminder.at, remind_at)
    assert (await stack.application(applicant.application_id))["stage"] == "scheduling"

    # Once the interview is over (slot + 50 minutes) the pipeline moves on to the decision.
    await skip(stack, DAY - HOUR + timedelta(minutes=51))
    application = await wait_stage(stack, applicant, "decision")
    assert application["status"] == "awaiting_decision"
    await stack.mailbox.settle(0.5)
    assert subjects(stack.mailbox.to(applicant.address)) == [
        "Your interview for Platform engineer: answer when it suits you",
        "We have received your answers for Platform engineer",
        "Choose a time for your Platform engineer interview",
        f"Confirmed: Pairing session for Platform engineer, {when(first)}",
        f"Reminder: Pairing session for Platform engineer, {when(first)}",
    ]


async def test_the_contact_is_told_when_no_slots_are_offered_in_time(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    scheduling = Scheduling(offer_within=2 * DAY_SECONDS, pick_within=2 * DAY_SECONDS)
    pipeline = dataclasses.replace(
        make_pipeline("t-offer-within", scheduling, Decision(sla=None)), contact="jo"
    )
    applicant = await to_review(stack, "Platform engineer", register(monkeypatch, pipeline))
    await score(stack, applicant, GOOD_CARD)
    await wait_stage(stack, applicant, "scheduling")
    await skip(stack, 2 * DAY - HOUR)
    await stack.mailbox.settle(0.5)
    assert stack.mailbox.to("jo.brennan@example.org") == []
    await skip(stack, 2 * HOUR)
    [nudge] = await stack.mailbox.wait_for("jo.brennan@example.org", 1)
    assert subject(nudge) == f"Slots needed: Platform engineer (application {applicant.application_id})"
    assert CANDIDATE_NAME not in nudge.text and applicant.address not in nudge.text
    assert await is_running(stack, applicant.application_id), "the application keeps waiting for slots"


async def test_a_candidate_who_does_not_pick_in_time_is_expired(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    applicant = await to_scheduling(stack, monkeypatch, "t-scheduling-missed", "Site reliability engineer")
    url = f"/api/v1/applications/{applicant.application_id}"
    now = await clock(stack, applicant)
    slot = slot_at(now, 4 * DAY)
    offered = await post(stack, f"{url}/slots", {"slots": [slot.isoformat()]}, staff=True)
    assert offered.status_code == 200, offered.text
    await stack.mailbox.wait_for(applicant.address, 3)

    # An hour before pick_within (2 days) runs out the offer still stands.
    await skip(stack, 2 * DAY - HOUR)
    await stack.mailbox.settle(0.5)
    assert len(stack.mailbox.to(applicant.address)) == 3
    assert (await stack.application(applicant.application_id))["status"] == "in_review"

    await skip(stack, 2 * HOUR)
    await stack.wait_status(applicant.application_id, "expired")
    mails = await stack.mailbox.wait_for(applicant.address, 4)
    assert subject(mails[3]) == "Your interview for Site reliability engineer was not booked"
    result = await stack.workflow(applicant.application_id).result()
    assert result.status == "expired" and result.outcome == "expired" and result.booked_slot is None

    # Too late to pick now, although the slot itself is still in the future.
    late = await post(stack, f"/api/v1/candidate/{applicant.token}/slot", {"slot": slot.isoformat()})
    assert late.status_code == 409, late.text
    await stack.mailbox.settle(0.5)
    assert len(stack.mailbox.to(applicant.address)) == 4
    assert [e.template for e in await scheduled_emails(stack, applicant.application_id)] == [
        "invite",
        "submitted",
        "slots_offered",
        "scheduling_missed",
    ]


async def test_past_slots_picking_before_any_offer_and_picking_a_passed_slot_are_refused(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    applicant = await to_scheduling(stack, monkeypatch, "t-scheduling-refusals", "Database engineer")
    url = f"/api/v1/applications/{applicant.application_id}"
    now = await clock(stack, applicant)
    future = slot_at(now, 3 * DAY)

    early = await post(stack, f"/api/v1/candidate/{applicant.token}/slot", {"slot": future.isoformat()})
    assert early.status_code == 409, early.text
    assert "no slots are on offer" in early.json()["detail"]

    past = slot_at(now, -HOUR)
    for slots in ([past], [future, past]):
        refused = await post(stack, f"{url}/slots", {"slots": [s.isoformat() for s in slots]}, staff=True)
        assert refused.status_code == 422, refused.text
        assert "future" in refused.json()["detail"]
    naive = await post(
        stack, f"{url}/slots", {"slots": [future.replace(tzinfo=None).isoformat()]}, staff=True
    )
    assert naive.status_code == 422, naive.text

    # The refusals changed nothing: no slots on offer, no email, and a valid offer still works.
    assert (await candidate_view(stack, applicant))["slots"] == []
    await stack.mailbox.settle(0.5)
    assert len(stack.mailbox.to(applicant.address)) == 2
    soon = slot_at(now, 3 * HOUR)
    offered = await post(stack, f"{url}/slots", {"slots": [future.isoformat(), soon.isoformat()]}, staff=True)
    assert offered.status_code == 200, offered.text
    mails = await stack.mailbox.wait_for(applicant.address, 3)
    assert subject(mails[2]) == "Choose a time for your Database engineer interview"

    # An offered slot that has passed by the time the candidate picks it is refused; a later one is not.
    await skip(stack, 4 * HOUR)
    passed = await post(stack, f"/api/v1/candidate/{applicant.token}/slot", {"slot": soon.isoformat()})
    assert passed.status_code == 409, passed.text
    assert "passed" in passed.json()["detail"]
    picked = await post(stack, f"/api/v1/candidate/{applicant.token}/slot", {"slot": future.isoformat()})
    assert picked.status_code == 200, picked.text
    mails = await stack.mailbox.wait_for(applicant.address, 4)
    assert subject(mails[3]) == f"Confirmed: Pairing session for Database engineer, {when(future)}"


# --------------------------------------------------------------------------------------- feedback

NEXT_STEPS = "Try our open-source track next spring."


async def test_feedback_is_built_from_the_rubric_anchors(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    review = Review(pool="early-careers", reviewers=2, criteria=CRITERIA)
    pipeline = register(
        monkeypatch,
        make_pipeline(
            "t-feedback-anchors", Decision(sla=None), Feedback(next_steps=NEXT_STEPS), review=review
        ),
    )
    applicant = await to_review(stack, "Junior analyst", pipeline)
    # Both reviewers: clarity high, depth low, ownership in the middle (in neither list).
    await score(stack, applicant, {"clarity": 5, "depth": 1, "ownership": 3}, reviewer="ana")
    await score(stack, applicant, {"clarity": 5, "depth": 1, "ownership": 3}, reviewer="jo")
    await decide(stack, applicant, "approve")

    mails = await stack.mailbox.wait_for(applicant.address, 4)
    assert subjects(mails) == [
        "Your interview for Junior analyst: answer when it suits you",
        "We have received your answers for Junior analyst",
        "Good news about your application for Junior analyst",
        "Your feedback for Junior analyst",
    ]
    feedback = mails[3]
    assert section(feedback.text, "What stood out:") == ["Clarity: Crystal clear, adapted to the reader."]
    assert section(feedback.text, "What to develop:") == ["Technical depth: Surface only."]
    assert "Ownership" not in feedback.text
    assert f"Next steps: {NEXT_STEPS}" in " ".join(feedback.text.split())
    assert "Crystal clear" in feedback.html and "Surface only" in feedback.html

    result = await stack.workflow(applicant.application_id).result()
    assert result.status == "approved"
    view = await candidate_view(stack, applicant)
    assert view["feedback"] == {
        "text": None,
        "strengths": ["Clarity: Crystal clear, adapted to the reader."],
        "to_develop": ["Technical depth: Surface only."],
        "next_steps": NEXT_STEPS,
    }


async def test_held_feedback_goes_out_only_when_released_with_the_edited_text(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    onboarding = Onboarding(modules=(Module("intro", "Introductions", due=3 * DAY_SECONDS),))
    pipeline = register(
        monkeypatch,
        make_pipeline(
            "t-feedback-held",
            Decision(sla=None),
            Feedback(next_steps=NEXT_STEPS, hold_for_edit=True),
            onboarding,
        ),
    )
    applicant = await to_review(stack, "Design intern", pipeline)
    release_url = f"/api/v1/applications/{applicant.application_id}/feedback/release"
    await score(stack, applicant, {"clarity": 5, "depth": 2, "ownership": 4})
    await stack.wait_status(applicant.application_id, "awaiting_decision")

    # Nothing is held before the feedback stage.
    none_held = await post(stack, release_url, {"text": "Too early."}, staff=True)
    assert none_held.status_code == 409, none_held.text
    assert "no feedback is waiting" in none_held.json()["detail"]

    await decide(stack, applicant, "approve")
    await stack.mailbox.wait_for(applicant.address, 3)
    await wait_stage(stack, applicant, "feedback")  # held: the stage waits for the recruiter
    await skip(stack, 2 * DAY)  # days pass: held feedback waits for the recruiter
    await stack.mailbox.settle(0.5)
    assert (
        subjects(stack.mailbox.to(applicant.address))[-1]
        == "Good news about your application for Design intern"
    )
    assert len(stack.mailbox.to(applicant.address)) == 3
    assert (await candidate_view(stack, applicant))["feedback"] is None
    assert (await stack.application(applicant.application_id))["stage"] == "feedback"

    blank = await post(stack, release_url, {"text": "   "}, staff=True)
    assert blank.status_code == 422, blank.text

    edited = "Your portfolio was a joy to read.\n\nNext time, show us more of your process."
    released = await post(stack, release_url, {"text": edited}, staff=True)
    assert released.status_code == 200, released.text
    mails = await stack.mailbox.wait_for(applicant.address, 4)
    feedback = mails[3]
    assert subject(feedback) == "Your feedback for Design intern"
    assert "Your portfolio was a joy to read." in feedback.text
    assert "Next time, show us more of your process." in feedback.text
    assert "What stood out" not in feedback.text  # the edited text replaces the generated one

    twice = await post(stack, release_url, {"text": "Again."}, staff=True)
    assert twice.status_code == 409, twice.text
    assert "no feedback is waiting" in twice.json()["detail"]

    view = await candidate_view(stack, applicant)
    assert view["feedback"] is not None and view["feedback"]["text"] == edited
    # The pipeline went on to onboarding once the feedback was out.
    mails = await stack.mailbox.wait_for(applicant.address, 5)
    assert subject(mails[4]) == "Welcome aboard: your first steps (Design intern)"
    assert (
        len([m for m in stack.mailbox.to(applicant.address) if subject(m).startswith("Your feedback")]) == 1
    )


async def test_feedback_still_goes_out_after_a_rejection_but_onboarding_is_skipped(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    onboarding = Onboarding(modules=(Module("intro", "Introductions", due=3 * DAY_SECONDS),))
    pipeline = register(
        monkeypatch,
        make_pipeline("t-feedback-rejected", Decision(sla=None), Feedback(next_steps=NEXT_STEPS), onboarding),
    )
    applicant = await to_review(stack, "Support lead", pipeline)
    await score(stack, applicant, {"clarity": 4, "depth": 1, "ownership": 2})
    await decide(stack, applicant, "reject", reason="We chose a candidate with more depth.")

    mails = await stack.mailbox.wait_for(applicant.address, 4)
    result = await stack.workflow(applicant.application_id).result()
    await skip(stack, 4 * DAY)  # past any module due date: nothing may follow
    await stack.mailbox.settle(1.0)
    mails = stack.mailbox.to(applicant.address)
    assert subjects(mails) == [
        "Your interview for Support lead: answer when it suits you",
        "We have received your answers for Support lead",
        "Your application for Support lead",
        "Your feedback for Support lead",
    ]
    assert "We chose a candidate with more depth." in mails[2].text
    assert section(mails[3].text, "What stood out:") == ["Clarity: Crisp."]
    assert section(mails[3].text, "What to develop:") == [
        "Technical depth: Surface only.",
        "Ownership: Does what is asked.",
    ]
    assert result.status == "rejected" and result.outcome == "rejected" and result.modules_done == []
    assert [e.template for e in await scheduled_emails(stack, applicant.application_id)] == [
        "invite",
        "submitted",
        "rejected",
        "feedback",
    ]
    application = await stack.application(applicant.application_id)
    assert application["status"] == "rejected" and application["stage"] == "closed"
    assert (await candidate_view(stack, applicant))["modules"] is None


# --------------------------------------------------------------------------------------- onboarding


async def test_onboarding_modules_reminders_and_completion(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    onboarding = Onboarding(
        modules=(
            Module("handbook", "Read the handbook", due=2 * DAY_SECONDS),
            Module("laptop", "Set up your laptop", due=4 * DAY_SECONDS),
        ),
        reminder_before_due=1 * DAY_SECONDS,
    )
    pipeline = register(monkeypatch, make_pipeline("t-onboarding", Decision(sla=None), onboarding))
    applicant = await to_review(stack, "Backend apprentice", pipeline)
    module_url = f"/api/v1/candidate/{applicant.token}/modules"
    await score(stack, applicant, GOOD_CARD)
    await stack.wait_status(applicant.application_id, "awaiting_decision")

    early = await post(stack, f"{module_url}/handbook/complete")
    assert early.status_code == 409, early.text
    assert "not onboarding" in early.json()["detail"]

    await decide(stack, applicant, "approve")
    mails = await stack.mailbox.wait_for(applicant.address, 4)
    welcome = mails[3]
    assert subject(welcome) == "Welcome aboard: your first steps (Backend apprentice)"
    [scheduled] = [
        e
        for e in await scheduled_emails(stack, applicant.application_id)
        if e.template == "onboarding_welcome"
    ]
    started = scheduled.at
    text = " ".join(welcome.text.split())
    assert "Read the handbook, by " in text and "Set up your laptop, by " in text
    assert text.index("Read the handbook") < text.index("Set up your laptop")
    for due in (started + 2 * DAY, started + 4 * DAY):  # each due date, in the candidate's time zone
        assert any(when(due - timedelta(seconds=s)) in text for s in (0, 5)), (when(due), text)

    done = await post(stack, f"{module_url}/handbook/complete")
    assert done.status_code == 200, done.text
    assert done.json()["modules_done"] == ["handbook"]
    view = await candidate_view(stack, applicant)
    assert view["modules"] == [
        {"id": "handbook", "title": "Read the handbook", "done": True},
        {"id": "laptop", "title": "Set up your laptop", "done": False},
    ]

    unknown = await post(stack, f"{module_url}/karaoke/complete")
    assert unknown.status_code == 422, unknown.text
    assert "unknown module 'karaoke'" in unknown.json()["detail"]
    again = await post(stack, f"{module_url}/handbook/complete")
    assert again.status_code == 409, again.text
    assert "already complete" in again.json()["detail"]

    # The completed module gets no reminder (day 1); the open one gets one on day 3, not before.
    await skip(stack, started + 3 * DAY - HOUR - await clock(stack, applicant))
    await stack.mailbox.settle(0.5)
    assert len(stack.mailbox.to(applicant.address)) == 4
    await skip(stack, 2 * HOUR)
    mails = await stack.mailbox.wait_for(applicant.address, 5)
    assert subject(mails[4]).startswith('Reminder: "Set up your laptop" is due ')
    reminders = [
        e for e in await scheduled_emails(stack, applicant.application_id) if e.template == "module_reminder"
    ]
    assert [e.key for e in reminders] == ["module-reminder-laptop"]
    assert abs(reminders[0].at - (started + 3 * DAY)) <= TOLERANCE, (reminders[0].at, started)
    assert await is_running(stack, applicant.application_id)

    finished = await post(stack, f"{module_url}/laptop/complete")
    assert finished.status_code == 200, finished.text
    mails = await stack.mailbox.wait_for(applicant.address, 6)
    assert subject(mails[5]) == "You have completed your onboarding"
    result = await stack.workflow(applicant.application_id).result()
    assert result.status == "approved" and result.modules_done == ["handbook", "laptop"]
    application = await stack.application(applicant.application_id)
    assert application["status"] == "approved" and application["stage"] == "closed"
    await stack.mailbox.settle(0.5)
    assert len(stack.mailbox.to(applicant.address)) == 6


# --------------------------------------------------------------------------------------- custom


async def upload(stack: Stack, token: str, question_id: str, name: str, content: bytes, kind: str) -> None:
    response = await upload_recording(stack.http, token, question_id, content, kind)
    assert response.status_code == 200, response.text


async def test_senior_backend_engineer_tells_the_hiring_manager_after_approval(skipping_stack: Stack) -> None:
    stack = skipping_stack
    title = "Staff backend engineer"
    applicant = await invite(stack, title, "senior-backend-engineer")
    token = applicant.token
    url = f"/api/v1/applications/{applicant.application_id}"

    # Interview: a recording, a document, a text answer.
    await upload(stack, token, "incident", "incident.webm", webm(1.0), "video/webm")
    await upload(stack, token, "design_doc", "design.pdf", PDF, "application/pdf")
    text = await post(
        stack, f"/api/v1/candidate/{token}/answers", {"question_id": "tradeoff", "text": "Quorum reads."}
    )
    assert text.status_code == 200, text.text
    assert (await post(stack, f"/api/v1/candidate/{token}/submit")).status_code == 200

    # Assessment.
    assert (await post(stack, f"/api/v1/candidate/{token}/assessment/start")).status_code == 200
    for question_id, value in (("big_o", "20"), ("idempotent", "POST"), ("isolation", "Read Committed")):
        answer = await post(
            stack,
            f"/api/v1/candidate/{token}/assessment/answers",
            {"question_id": question_id, "value": value},
        )
        assert answer.status_code == 200, answer.text
    assert (await post(stack, f"/api/v1/candidate/{token}/assessment/submit")).status_code == 200
    await stack.wait_status(applicant.application_id, "in_review")

    # Three blind reviewers from the eng pool.
    panel = await reviewers(stack, applicant)
    assert len(panel) == 3 and set(panel) <= {"kai", "ruth", "lee", "noor"}, panel
    ratings = {"system_design": 4, "code_quality": 4, "collaboration": 5}
    for reviewer in panel:
        await score(stack, applicant, ratings, reviewer=reviewer)

    # The live interview.
    await wait_stage(stack, applicant, "scheduling")
    slot = slot_at(await clock(stack, applicant), 2 * DAY)
    assert (await post(stack, f"{url}/slots", {"slots": [slot.isoformat()]}, staff=True)).status_code == 200
    assert (
        await post(stack, f"/api/v1/candidate/{token}/slot", {"slot": slot.isoformat()})
    ).status_code == 200
    await stack.mailbox.wait_for(applicant.address, 4)  # invite, submitted, slots, confirmed
    await skip(stack, slot.astimezone(UTC) - await clock(stack, applicant) + timedelta(minutes=61))
    # The reference check (a custom child workflow) waits for the recruiter's outcome.
    await wait_stage(stack, applicant, "references")
    referenced = await post(stack, f"{url}/stages/references/outcome", {"outcome": "continue"}, staff=True)
    assert referenced.status_code == 200, referenced.text
    await wait_stage(stack, applicant, "decision")

    # Two of the three approvers.
    first = await decide(stack, applicant, "approve", approver_id="kai", reason_code="hire")
    assert first["status"] == "awaiting_decision"
    await stack.mailbox.settle(0.5)
    assert not [m for m in stack.mailbox.to("lee.park@example.org") if subject(m).startswith("Approved")]
    second = await decide(stack, applicant, "approve", approver_id="noor", reason_code="hire")
    assert second["status"] == "approved" and second["decision_reason_code"] == "hire"

    [notice] = await _wait_subject(stack, "lee.park@example.org", "Approved: ")
    assert subject(notice) == f"Approved: a candidate for {title}"
    assert notice.recipients == ["lee.park@example.org"]
    for part in (subject(notice), notice.text, notice.html):
        assert CANDIDATE_NAME not in part and "Katherine" not in part and applicant.address not in part
    assert applicant.application_id in notice.text

    result = await stack.workflow(applicant.application_id).result()
    assert result.status == "approved" and result.votes == {"kai": "approve", "noor": "approve"}
    application = await stack.application(applicant.application_id)
    assert application["status"] == "approved" and application["stage"] == "closed"
    mails = await stack.mailbox.wait_for(applicant.address, 6)
    assert subject(mails[5]) == f"Good news about your application for {title}"
    await stack.mailbox.settle(0.5)
    assert (
        len([m for m in stack.mailbox.to("lee.park@example.org") if subject(m).startswith("Approved")]) == 1
    )


async def _wait_subject(stack: Stack, recipient: str, prefix: str, timeout: float = 20.0) -> list[CaughtMail]:
    async with asyncio.timeout(timeout):
        while True:
            found = [m for m in stack.mailbox.to(recipient) if subject(m).startswith(prefix)]
            if found:
                return found
            await asyncio.sleep(0.05)


# --------------------------------------------------------------------------------------- internship


async def test_internship_end_to_end_from_invite_to_onboarding_complete(skipping_stack: Stack) -> None:
    stack = skipping_stack
    title = "Summer intern 2025"
    applicant = await invite(stack, title, "internship")
    token = applicant.token
    url = f"/api/v1/applications/{applicant.application_id}"

    await upload(stack, token, "hello", "hello.webm", webm(1.0), "video/webm")
    for question_id, answer in (
        ("learned", "I taught myself SQL with a library dataset."),
        ("field", "Design"),
    ):
        saved = await post(
            stack, f"/api/v1/candidate/{token}/answers", {"question_id": question_id, "text": answer}
        )
        assert saved.status_code == 200, saved.text
    assert (await post(stack, f"/api/v1/candidate/{token}/submit")).status_code == 200
    await stack.wait_status(applicant.application_id, "in_review")

    assert await reviewers(stack, applicant) == ["ana", "jo"]
    await score(stack, applicant, {"communication": 5, "learning": 2}, reviewer="ana")
    await score(stack, applicant, {"communication": 5, "learning": 2}, reviewer="jo")
    await stack.wait_status(applicant.application_id, "awaiting_decision")
    await decide(stack, applicant, "approve", reason="We loved your curiosity.")

    # The feedback is held for a recruiter; released unedited, the generated text goes out.
    await wait_stage(stack, applicant, "feedback")  # held: the stage waits for the recruiter
    await stack.mailbox.settle(0.5)
    assert len(stack.mailbox.to(applicant.address)) == 3
    released = await post(stack, f"{url}/feedback/release", {}, staff=True)
    assert released.status_code == 200, released.text

    mails = await stack.mailbox.wait_for(applicant.address, 5)
    assert section(mails[3].text, "What stood out:") == [
        "Communication: Clear, concise, adapted to the listener."
    ]
    assert section(mails[3].text, "What to develop:") == ["Learning: Learned when told."]
    assert "we run this programme every year" in " ".join(mails[3].text.split())
    assert all(m in mails[4].text for m in ("Welcome and how we work", "Security basics", "Your first task"))

    # Onboarding: the first module at once; the second only after its reminder (day 6 of 7).
    assert (await post(stack, f"/api/v1/candidate/{token}/modules/welcome/complete")).status_code == 200
    await skip(stack, 6 * DAY + timedelta(minutes=5))
    mails = await stack.mailbox.wait_for(applicant.address, 6)
    for module_id in ("security", "first-task"):
        done = await post(stack, f"/api/v1/candidate/{token}/modules/{module_id}/complete")
        assert done.status_code == 200, done.text
    await stack.mailbox.wait_for(applicant.address, 7)
    result = await stack.workflow(applicant.application_id).result()
    await stack.mailbox.settle(0.5)

    assert subjects(stack.mailbox.to(applicant.address)) == [
        f"Your interview for {title}: answer when it suits you",
        f"We have received your answers for {title}",
        f"Good news about your application for {title}",
        f"Your feedback for {title}",
        f"Welcome aboard: your first steps ({title})",
        subjects(mails)[5],
        "You have completed your onboarding",
    ]
    assert subjects(mails)[5].startswith('Reminder: "Security basics" is due ')
    assert "We loved your curiosity." in stack.mailbox.to(applicant.address)[2].text
    assert result.status == "approved" and result.outcome == "approved" and result.decision == "approve"
    assert result.modules_done == ["first-task", "security", "welcome"]
    assert result.feedback_held is False and result.combined_score == 3.5
    application = await stack.application(applicant.application_id)
    assert application["status"] == "approved" and application["stage"] == "closed"
    assert [e.key for e in await scheduled_emails(stack, applicant.application_id)] == [
        "invite",
        "submitted",
        "decision",
        "feedback-feedback",
        "onboarding-onboarding",
        "module-reminder-security",
        "onboarding-complete-onboarding",
    ]
