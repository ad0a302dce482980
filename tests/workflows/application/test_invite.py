"""The invite stage on the time-skipping server: extension requests granted at once, left to the
recruiter, refused, and their emails.

Days pass in milliseconds with `stack.env.sleep`. `stack.workflow(id).result()` does not skip time, so
it is awaited only once the workflow has closed. Emails are checked as messages received over SMTP
(what) and, where timing matters, as activities scheduled in the workflow history (when)."""

from __future__ import annotations

from datetime import timedelta

from activities.email_text import format_deadline
from tests.support.mail import subject, subjects
from tests.support.stack import Stack, state
from tests.workflows.application.candidate import (
    A_DAY,
    ANA,
    CANDIDATE_NAME,
    HOURS,
    REMINDER_KEY,
    TIMEZONE,
    TOLERANCE,
    ask_for_time,
    decide_extension,
    detail_of,
    granted_subject,
    instant,
    invite,
    refused_subject,
    request_subject,
    scheduled_emails,
)

# ================================================================================ extensions


async def test_an_extension_within_auto_grant_moves_the_deadline_reminder_and_expiry(
    ts: Stack, pipelines: dict[str, str]
) -> None:
    stack = ts
    invited = await invite(stack, pipelines["extensions"], "Auto-extended agent")
    old_deadline = instant((await stack.application(invited.application_id))["deadline"])

    await stack.env.sleep(A_DAY)
    response = await ask_for_time(stack, invited, 48, "A family matter this week.")
    assert response.status_code == 200, response.text
    body = response.json()
    new_deadline = old_deadline + timedelta(hours=48)
    assert abs(instant(body["deadline"]) - new_deadline) <= TOLERANCE
    assert body["pending_extension_hours"] is None
    assert (
        abs(instant((await stack.application(invited.application_id))["deadline"]) - new_deadline)
        <= TOLERANCE
    )

    mails = await stack.mailbox.wait_for(invited.address, 2)
    assert subject(mails[1]) == granted_subject(invited.title)
    assert format_deadline(instant(body["deadline"]), TIMEZONE) in " ".join(mails[1].text.split())
    assert stack.mailbox.to(ANA) == []  # granted at once: nobody is asked

    # Past the old reminder (day 6) and the old deadline (day 7): no reminder, no expiry.
    await stack.env.sleep(6 * A_DAY + 12 * HOURS)  # day 7.5
    await stack.mailbox.settle(1.0)
    assert len(stack.mailbox.to(invited.address)) == 2
    assert (await stack.application(invited.application_id))["status"] == "invited"
    assert (await state(stack, invited.application_id)).reminders_sent == []

    # One day before the new deadline (day 8): the reminder, naming the new deadline.
    await stack.env.sleep(14 * HOURS)  # day 8 + 2 h
    mails = await stack.mailbox.wait_for(invited.address, 3)
    closes = format_deadline(instant(body["deadline"]), TIMEZONE)
    assert subject(mails[2]) == f"Reminder: your interview for {invited.title} closes {closes}"

    # The new deadline (day 9): the interview closes then.
    await stack.env.sleep(A_DAY)  # day 9 + 2 h
    mails = await stack.mailbox.wait_for(invited.address, 4)
    assert subject(mails[3]) == f"Your interview for {invited.title} has closed"
    result = await stack.workflow(invited.application_id).result()
    assert result.status == "expired"
    assert result.reminders_sent == [REMINDER_KEY]

    started, emails = await scheduled_emails(stack, invited.application_id)
    assert [key for _, key in emails] == ["invite", "extension-granted-1", REMINDER_KEY, "expired"]
    due = [started, started + A_DAY, started + 8 * A_DAY, started + 9 * A_DAY]
    for (at, key), expected in zip(emails, due, strict=True):
        assert abs(at - expected) <= TOLERANCE, (key, at, expected)


async def test_an_extension_beyond_auto_grant_waits_for_the_recruiter_who_grants_it(
    ts: Stack, pipelines: dict[str, str]
) -> None:
    stack = ts
    invited = await invite(stack, pipelines["extensions"], "Patient agent")
    old_deadline = instant((await stack.application(invited.application_id))["deadline"])

    response = await ask_for_time(stack, invited, 72, "My laptop broke.")
    assert response.status_code == 200, response.text
    assert response.json()["pending_extension_hours"] == 72
    assert abs(instant(response.json()["deadline"]) - old_deadline) <= TOLERANCE

    # The contact person is asked, by a staff email that does not name the candidate.
    [asked] = await stack.mailbox.wait_for(ANA, 1)
    assert subject(asked) == request_subject(invited)
    text = " ".join(asked.text.split())
    assert "3 days" in text
    assert "My laptop broke." in text
    assert CANDIDATE_NAME not in text
    assert invited.address not in text
    assert asked.recipients == [ANA]
    assert (await state(stack, invited.application_id)).pending_extension_seconds == 72 * 3600
    assert (
        abs(instant((await stack.application(invited.application_id))["deadline"]) - old_deadline)
        <= TOLERANCE
    )

    # Meanwhile another request is refused: one at a time.
    again = await ask_for_time(stack, invited, 24)
    assert again.status_code == 409, again.text
    assert "already waiting for the recruiter" in detail_of(again)
    await stack.mailbox.settle(0.5)
    assert len(stack.mailbox.to(invited.address)) == 1
    assert len(stack.mailbox.to(ANA)) == 1

    granted = await decide_extension(stack, invited, grant=True)
    assert granted.status_code == 200, granted.text
    new_deadline = old_deadline + timedelta(hours=72)
    assert abs(instant(granted.json()["deadline"]) - new_deadline) <= TOLERANCE
    mails = await stack.mailbox.wait_for(invited.address, 2)
    assert subject(mails[1]) == granted_subject(invited.title)
    assert format_deadline(instant(granted.json()["deadline"]), TIMEZONE) in " ".join(mails[1].text.split())
    assert (await state(stack, invited.application_id)).pending_extension_seconds is None

    again = await decide_extension(stack, invited, grant=True)
    assert again.status_code == 409, again.text
    assert "no extension request is waiting" in detail_of(again)

    # The granted time counts: still open a day after the old deadline.
    await stack.env.sleep(8 * A_DAY)
    await stack.mailbox.settle(0.5)
    assert (await stack.application(invited.application_id))["status"] == "invited"
    assert f"Your interview for {invited.title} has closed" not in subjects(stack.mailbox.to(invited.address))


async def test_an_extension_the_recruiter_refuses_leaves_the_deadline_unchanged(
    ts: Stack, pipelines: dict[str, str]
) -> None:
    stack = ts
    invited = await invite(stack, pipelines["extensions"], "Refused agent")
    old_deadline = instant((await stack.application(invited.application_id))["deadline"])

    response = await ask_for_time(stack, invited, 96)
    assert response.status_code == 200, response.text
    assert response.json()["pending_extension_hours"] == 96
    await stack.mailbox.wait_for(ANA, 1)

    refused = await decide_extension(stack, invited, grant=False)
    assert refused.status_code == 200, refused.text
    assert abs(instant(refused.json()["deadline"]) - old_deadline) <= TOLERANCE
    mails = await stack.mailbox.wait_for(invited.address, 2)
    assert subject(mails[1]) == refused_subject(invited.title)
    assert "Ana Lima" in mails[1].text  # the contact the candidate can reply to
    assert (await state(stack, invited.application_id)).pending_extension_seconds is None

    again = await decide_extension(stack, invited, grant=True)
    assert again.status_code == 409, again.text
    assert "no extension request is waiting" in detail_of(again)
    assert (
        abs(instant((await stack.application(invited.application_id))["deadline"]) - old_deadline)
        <= TOLERANCE
    )

    # The original deadline still holds.
    await stack.env.sleep(7 * A_DAY + timedelta(minutes=1))
    await stack.wait_status(invited.application_id, "expired")
    mails = await stack.mailbox.wait_for(invited.address, 4)
    result = await stack.workflow(invited.application_id).result()
    assert result.status == "expired"
    assert result.deadline is not None
    assert abs(result.deadline - old_deadline) <= TOLERANCE
    assert granted_subject(invited.title) not in subjects(mails)


async def test_each_new_extension_request_and_refusal_is_emailed(
    ts: Stack, pipelines: dict[str, str]
) -> None:
    """A candidate refused once may ask again; the contact must hear of the new request and the
    candidate of the new answer, even when the second request is for the same time."""
    stack = ts
    invited = await invite(stack, pipelines["extensions"], "Persistent agent")

    for attempt in (1, 2):
        response = await ask_for_time(stack, invited, 72, f"Attempt {attempt}")
        assert response.status_code == 200, response.text
        assert response.json()["pending_extension_hours"] == 72
        refused = await decide_extension(stack, invited, grant=False)
        assert refused.status_code == 200, refused.text

    await stack.mailbox.wait_for(invited.address, 2)
    await stack.mailbox.settle(1.5)
    assert subjects(stack.mailbox.to(ANA)) == [request_subject(invited)] * 2
    assert "Attempt 2" in stack.mailbox.to(ANA)[-1].text
    assert subjects(stack.mailbox.to(invited.address))[1:] == [refused_subject(invited.title)] * 2


async def test_an_extension_beyond_the_maximum_is_refused_at_once(
    ts: Stack, pipelines: dict[str, str]
) -> None:
    stack = ts
    invited = await invite(stack, pipelines["extensions"], "Greedy agent")
    old_deadline = instant((await stack.application(invited.application_id))["deadline"])

    too_much = await ask_for_time(stack, invited, 6 * 24)  # 6 days; the maximum is 5 in total
    assert too_much.status_code == 409, too_much.text
    assert "at most 5 days of extensions in total" in detail_of(too_much)

    # Two days granted at once; four more would exceed the total of five.
    first = await ask_for_time(stack, invited, 48)
    assert first.status_code == 200, first.text
    await stack.mailbox.wait_for(invited.address, 2)
    beyond = await ask_for_time(stack, invited, 4 * 24)
    assert beyond.status_code == 409, beyond.text
    assert "at most 5 days of extensions in total; 3 days left" in detail_of(beyond)

    await stack.mailbox.settle(1.0)
    application = await stack.application(invited.application_id)
    assert abs(instant(application["deadline"]) - (old_deadline + timedelta(hours=48))) <= TOLERANCE
    assert application["status"] == "invited"
    current = await state(stack, invited.application_id)
    assert current.pending_extension_seconds is None
    assert stack.mailbox.to(ANA) == []
    assert subjects(stack.mailbox.to(invited.address))[1:] == [granted_subject(invited.title)]


async def test_no_extension_after_the_deadline_even_one_asked_for_in_time(
    ts: Stack, pipelines: dict[str, str]
) -> None:
    stack = ts
    invited = await invite(stack, pipelines["extensions"], "Late agent")
    old_deadline = instant((await stack.application(invited.application_id))["deadline"])

    # Asked for on day 6.5; the recruiter has not answered by the deadline.
    await stack.env.sleep(6 * A_DAY + 12 * HOURS)
    pending = await ask_for_time(stack, invited, 72)
    assert pending.status_code == 200, pending.text
    await stack.mailbox.wait_for(ANA, 1)

    await stack.env.sleep(A_DAY)
    await stack.wait_status(invited.application_id, "expired")
    mails = await stack.mailbox.wait_for(invited.address, 3)
    assert subject(mails[-1]) == f"Your interview for {invited.title} has closed"

    late = await ask_for_time(stack, invited, 24)
    assert late.status_code == 409, late.text
    assert "expired" in detail_of(late)
    too_late = await decide_extension(stack, invited, grant=True)
    assert too_late.status_code == 409, too_late.text

    await stack.mailbox.settle(1.0)
    application = await stack.application(invited.application_id)
    assert application["status"] == "expired"
    assert abs(instant(application["deadline"]) - old_deadline) <= TOLERANCE
    assert granted_subject(invited.title) not in subjects(stack.mailbox.to(invited.address))
