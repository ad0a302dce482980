"""Durable timers of the application workflow on the time-skipping server: reminders, the deadline,
and the paths that must stop them (submission, withdrawal), with real SMTP, SQLite and the HTTP API.

Days pass in milliseconds: `stack.env.sleep` skips workflow time. `stack.workflow(id).result()` does
not (the handle comes from `get_workflow_handle`, not `start_workflow`), so it is awaited only once the
workflow has closed. Every email is checked twice: as an activity scheduled in the workflow history
(when) and as a message received by the SMTP server (what)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import EventType

from activities.email_text import format_deadline
from tests.support.actors import STAFF, unique_email
from tests.support.history import payload_json
from tests.support.mail import subjects, token_from
from tests.support.stack import Stack, is_running, state

DAY = timedelta(days=1)
TOLERANCE = timedelta(seconds=5)
FIRST_REMINDER = "reminder-259200"  # 3 days before the 7-day deadline: day 4
SECOND_REMINDER = "reminder-86400"  # 1 day before the deadline: day 6
TIMEZONE = "Europe/Paris"  # the candidate's timezone set by Stack.invite

SCORECARD = {
    "overall_recommendation": "yes",
    "ratings": {"communication": 4, "relevant_experience": 4, "motivation": 5},
    "notes": "Thoughtful answers.",
}


@dataclass
class Invited:
    application_id: str
    address: str
    token: str
    title: str


@dataclass
class ScheduledActivity:
    event_id: int
    at: datetime
    name: str
    key: str | None  # the message_key of a send_email
    completed_event_id: int | None = None


# --------------------------------------------------------------------------------------- helpers


async def invite_candidate(stack: Stack, title: str) -> Invited:
    job = await stack.create_job(title)
    address = unique_email()
    application = await stack.invite(job["id"], address)
    [invite] = await stack.mailbox.wait_for(address, 1)
    assert invite.subject == f"Your interview for {title}: answer when it suits you"
    return Invited(application["id"], address, token_from(invite.link()), title)


async def answer_required(stack: Stack, token: str) -> None:
    for question_id in ("motivation", "experience"):
        response = await stack.http.post(
            f"/api/v1/candidate/{token}/answers",
            json={"question_id": question_id, "text": f"My {question_id}, at length."},
        )
        assert response.status_code == 200, response.text


async def answer_and_submit(stack: Stack, invited: Invited) -> None:
    await answer_required(stack, invited.token)
    response = await stack.http.post(f"/api/v1/candidate/{invited.token}/submit")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "submitted"
    await stack.wait_status(invited.application_id, "in_review")


async def activity_history(stack: Stack, application_id: str) -> tuple[datetime, list[ScheduledActivity]]:
    """The workflow's start time and every activity it scheduled, in order, with its completion."""
    history = await stack.workflow(application_id).fetch_history()
    started: datetime | None = None
    activities: dict[int, ScheduledActivity] = {}
    for event in history.events:
        at = event.event_time.ToDatetime(tzinfo=UTC)
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            started = at
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            name = attributes.activity_type.name
            key = (
                payload_json(stack, attributes.input.payloads[0])["message_key"]
                if name == "send_email"
                else None
            )
            activities[event.event_id] = ScheduledActivity(event.event_id, at, name, key)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            scheduled = event.activity_task_completed_event_attributes.scheduled_event_id
            activities[scheduled].completed_event_id = event.event_id
    assert started is not None, "no WorkflowExecutionStarted event in the history"
    return started, list(activities.values())


async def email_history(stack: Stack, application_id: str) -> tuple[datetime, list[ScheduledActivity]]:
    """The workflow's start time and every send_email activity it scheduled, in order."""
    started, activities = await activity_history(stack, application_id)
    return started, [a for a in activities if a.name == "send_email"]


async def email_keys(stack: Stack, application_id: str) -> list[str | None]:
    return [email.key for email in (await email_history(stack, application_id))[1]]


def reminder_subject(title: str, deadline: datetime) -> str:
    return f"Reminder: your interview for {title} closes {format_deadline(deadline, TIMEZONE)}"


# --------------------------------------------------------------------------------------- tests


async def test_reminders_fire_on_days_four_and_six_and_the_interview_expires_on_day_seven(
    skipping_stack: Stack,
) -> None:
    stack = skipping_stack
    invited = await invite_candidate(stack, "Timer engineer")

    # Day 4 + a little: the first reminder, and nothing else, has been sent.
    await stack.env.sleep(4 * DAY + timedelta(minutes=5))
    await stack.mailbox.wait_for(invited.address, 2)
    await stack.mailbox.settle(0.5)
    assert len(stack.mailbox.to(invited.address)) == 2
    assert (await stack.application(invited.application_id))["status"] == "invited"

    # Day 6 + a little: the second reminder.
    await stack.env.sleep(2 * DAY)
    await stack.mailbox.wait_for(invited.address, 3)

    # Past day 7: the interview closes.
    await stack.env.sleep(DAY)
    await stack.mailbox.wait_for(invited.address, 4)
    result = await stack.workflow(invited.application_id).result()
    await stack.mailbox.settle(0.5)
    mails = stack.mailbox.to(invited.address)

    assert result.status == "expired"
    assert result.reminders_sent == [FIRST_REMINDER, SECOND_REMINDER]
    assert (await stack.application(invited.application_id))["status"] == "expired"

    # When: each email activity was scheduled at its due time, measured on the workflow's clock.
    started, emails = await email_history(stack, invited.application_id)
    assert [e.key for e in emails] == ["invite", FIRST_REMINDER, SECOND_REMINDER, "expired"]
    due = {"invite": started, FIRST_REMINDER: started + 4 * DAY, SECOND_REMINDER: started + 6 * DAY}
    due["expired"] = started + 7 * DAY
    for scheduled in emails:
        assert scheduled.key is not None
        assert abs(scheduled.at - due[scheduled.key]) <= TOLERANCE, (scheduled, due[scheduled.key])
    assert result.deadline is not None
    assert abs(result.deadline - (started + 7 * DAY)) <= TOLERANCE

    # What: exactly four messages reached the candidate over SMTP, in order.
    title = invited.title
    assert subjects(mails) == [
        f"Your interview for {title}: answer when it suits you",
        reminder_subject(title, result.deadline),
        reminder_subject(title, result.deadline),
        f"Your interview for {title} has closed",
    ]
    assert "about 3 days from now" in " ".join(mails[1].text.split())
    assert "about 1 day from now" in " ".join(mails[2].text.split())
    assert all(mail.recipients == [invited.address] for mail in mails)


async def test_nothing_but_the_invite_is_sent_before_the_first_reminder_is_due(skipping_stack: Stack) -> None:
    stack = skipping_stack
    invited = await invite_candidate(stack, "Patient engineer")

    await stack.env.sleep(3 * DAY + timedelta(hours=23))
    await stack.mailbox.settle(1.0)
    assert len(stack.mailbox.to(invited.address)) == 1
    assert await email_keys(stack, invited.application_id) == ["invite"]
    assert (await state(stack, invited.application_id)).reminders_sent == []

    # And the reminder is indeed only an hour away: the check above was not vacuous.
    await stack.env.sleep(timedelta(hours=2))
    mails = await stack.mailbox.wait_for(invited.address, 2)
    assert mails[1].subject.startswith(f"Reminder: your interview for {invited.title} closes ")
    assert await email_keys(stack, invited.application_id) == ["invite", FIRST_REMINDER]


async def test_no_reminder_or_expiry_after_submission(skipping_stack: Stack) -> None:
    stack = skipping_stack
    invited = await invite_candidate(stack, "Prompt engineer")

    await stack.env.sleep(DAY)
    await answer_and_submit(stack, invited)
    await stack.mailbox.wait_for(invited.address, 2)

    await stack.env.sleep(8 * DAY)
    await stack.mailbox.settle(1.0)

    assert subjects(stack.mailbox.to(invited.address)) == [
        f"Your interview for {invited.title}: answer when it suits you",
        f"We have received your answers for {invited.title}",
    ]
    assert await email_keys(stack, invited.application_id) == ["invite", "submitted"]
    assert (await stack.application(invited.application_id))["status"] == "in_review"
    current = await state(stack, invited.application_id)
    assert current.status == "in_review"
    assert current.reminders_sent == []
    assert await is_running(stack, invited.application_id)


async def test_submission_between_the_reminders_stops_the_second_one(skipping_stack: Stack) -> None:
    stack = skipping_stack
    invited = await invite_candidate(stack, "Late engineer")

    await stack.env.sleep(5 * DAY)
    mails = await stack.mailbox.wait_for(invited.address, 2)
    assert mails[1].subject.startswith(f"Reminder: your interview for {invited.title} closes ")

    await answer_and_submit(stack, invited)
    await stack.mailbox.wait_for(invited.address, 3)

    await stack.env.sleep(3 * DAY)  # past the second reminder (day 6) and the deadline (day 7)
    await stack.mailbox.settle(1.0)

    current = await state(stack, invited.application_id)
    assert current.deadline is not None
    assert subjects(stack.mailbox.to(invited.address)) == [
        f"Your interview for {invited.title}: answer when it suits you",
        reminder_subject(invited.title, current.deadline),
        f"We have received your answers for {invited.title}",
    ]
    assert await email_keys(stack, invited.application_id) == ["invite", FIRST_REMINDER, "submitted"]
    assert current.status == "in_review"
    assert current.reminders_sent == [FIRST_REMINDER]
    assert (await stack.application(invited.application_id))["status"] == "in_review"


async def test_review_and_approval_under_time_skipping(skipping_stack: Stack) -> None:
    stack = skipping_stack
    invited = await invite_candidate(stack, "Reviewed engineer")
    await stack.env.sleep(2 * DAY)
    await answer_and_submit(stack, invited)

    card = await stack.http.post(
        f"/api/v1/applications/{invited.application_id}/scorecards",
        json=SCORECARD,
        headers=await stack.as_reviewer(invited.application_id),
    )
    assert card.status_code == 201, card.text
    assert card.json()["status"] == "awaiting_decision"
    decision = await stack.http.post(
        f"/api/v1/applications/{invited.application_id}/decision",
        json={"decision": "approve", "reason": "Let us meet."},
        headers=STAFF,
    )
    assert decision.status_code == 200, decision.text
    assert decision.json()["status"] == "approved"

    result = await stack.workflow(invited.application_id).result()
    assert result.status == "approved"
    assert result.decision == "approve"
    mails = await stack.mailbox.wait_for(invited.address, 3)
    await stack.mailbox.settle(0.5)
    assert subjects(stack.mailbox.to(invited.address)) == [
        f"Your interview for {invited.title}: answer when it suits you",
        f"We have received your answers for {invited.title}",
        f"Good news about your application for {invited.title}",
    ]
    assert mails[2].recipients == [invited.address]
    assert "Let us meet." in mails[2].text
    # The email reads the reason from the database: it is scheduled only once save_decision completed.
    _, activities = await activity_history(stack, invited.application_id)
    [saved] = [a for a in activities if a.name == "save_decision"]
    [email] = [a for a in activities if a.key == "decision"]
    assert saved.completed_event_id is not None
    assert email.event_id > saved.completed_event_id
    assert await email_keys(stack, invited.application_id) == ["invite", "submitted", "decision"]
    assert (await stack.application(invited.application_id))["status"] == "approved"


async def test_weeks_waiting_for_review_and_decision_change_nothing(skipping_stack: Stack) -> None:
    stack = skipping_stack
    invited = await invite_candidate(stack, "Waiting engineer")
    await answer_and_submit(stack, invited)
    await stack.mailbox.wait_for(invited.address, 2)

    # Thirty days in review, far past the interview deadline: no expiry, no reminder, no change.
    await stack.env.sleep(30 * DAY)
    await stack.mailbox.settle(1.0)
    assert (await stack.application(invited.application_id))["status"] == "in_review"
    assert (await state(stack, invited.application_id)).status == "in_review"
    assert await is_running(stack, invited.application_id)
    assert len(stack.mailbox.to(invited.address)) == 2

    card = await stack.http.post(
        f"/api/v1/applications/{invited.application_id}/scorecards",
        json=SCORECARD,
        headers=await stack.as_reviewer(invited.application_id),
    )
    assert card.status_code == 201, card.text

    # Thirty more days awaiting the decision: still waiting, and the decision is still possible.
    await stack.env.sleep(30 * DAY)
    await stack.mailbox.settle(1.0)
    assert (await stack.application(invited.application_id))["status"] == "awaiting_decision"
    assert await is_running(stack, invited.application_id)
    assert len(stack.mailbox.to(invited.address)) == 2

    decision = await stack.http.post(
        f"/api/v1/applications/{invited.application_id}/decision",
        json={"decision": "reject"},
        headers=STAFF,
    )
    assert decision.status_code == 200, decision.text
    assert (await stack.workflow(invited.application_id).result()).status == "rejected"
    mails = await stack.mailbox.wait_for(invited.address, 3)
    assert mails[2].subject == f"Your application for {invited.title}"
    assert await email_keys(stack, invited.application_id) == ["invite", "submitted", "decision"]


async def test_an_answer_after_the_deadline_is_refused_and_not_saved(skipping_stack: Stack) -> None:
    stack = skipping_stack
    invited = await invite_candidate(stack, "Closed engineer")

    await stack.env.sleep(7 * DAY + timedelta(minutes=1))
    await stack.wait_status(invited.application_id, "expired")
    await stack.mailbox.wait_for(invited.address, 4)

    response = await stack.http.post(
        f"/api/v1/candidate/{invited.token}/answers",
        json={"question_id": "motivation", "text": "Sorry I am late."},
    )
    assert response.status_code == 409, response.text
    detail = response.json()["detail"]
    assert "deadline" in detail or "expired" in detail, detail

    submit = await stack.http.post(f"/api/v1/candidate/{invited.token}/submit")
    assert submit.status_code == 409, submit.text

    application = await stack.application(invited.application_id)
    assert application["status"] == "expired"
    assert application["answers"] == []
    result = await stack.workflow(invited.application_id).result()
    assert result.status == "expired"
    assert result.answered == []
    _, activities = await activity_history(stack, invited.application_id)
    assert "save_answer" not in {a.name for a in activities}
    view = (await stack.http.get(f"/api/v1/candidate/{invited.token}")).json()
    assert view["accepting_answers"] is False
    assert view["progress"]["answered"] == 0


async def test_withdrawal_during_the_interview_stops_the_reminders(skipping_stack: Stack) -> None:
    stack = skipping_stack
    invited = await invite_candidate(stack, "Withdrawn engineer")

    # The first reminder (day 4) goes out; the candidate withdraws on day 5.
    await stack.env.sleep(5 * DAY)
    await stack.mailbox.wait_for(invited.address, 2)
    response = await stack.http.post(
        f"/api/v1/applications/{invited.application_id}/withdraw", json={}, headers=STAFF
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "withdrawn"

    mails = await stack.mailbox.wait_for(invited.address, 3)
    assert mails[2].subject == f"Your application for {invited.title} has been withdrawn"
    result = await stack.workflow(invited.application_id).result()
    assert result.status == "withdrawn"
    assert result.reminders_sent == [FIRST_REMINDER]

    # Past the second reminder and the deadline: nothing more is sent.
    await stack.env.sleep(3 * DAY)
    await stack.mailbox.settle(1.0)
    assert result.deadline is not None
    assert subjects(stack.mailbox.to(invited.address)) == [
        f"Your interview for {invited.title}: answer when it suits you",
        reminder_subject(invited.title, result.deadline),
        f"Your application for {invited.title} has been withdrawn",
    ]
    assert await email_keys(stack, invited.application_id) == ["invite", FIRST_REMINDER, "withdrawn"]
    assert (await stack.application(invited.application_id))["status"] == "withdrawn"
