"""The scheduling stage on the time-skipping server: slots offered, picked, confirmed with a calendar
attachment and reminded; the contact told when none are offered; a candidate who does not pick."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from pipelines.stages import DAY as DAY_SECONDS
from pipelines.stages import Decision, Scheduling
from tests.support.history import scheduled_emails
from tests.support.mail import calendar, ics_time, subject, subjects
from tests.support.stack import Stack, is_running
from tests.workflows.application.after_review import (
    CANDIDATE_NAME,
    DAY,
    GOOD_CARD,
    HOUR,
    TOLERANCE,
    candidate_view,
    clock,
    make_pipeline,
    post,
    register,
    score,
    skip,
    slot_at,
    to_review,
    to_scheduling,
    wait_stage,
    when,
)


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
    assert when(first) in choose.text
    assert when(second) in choose.text
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
    assert "50 minutes" in confirmed.text
    assert "Room 4, Level 2" in confirmed.text
    event = calendar(confirmed)
    assert ics_time(event["DTSTART"]) == first.astimezone(UTC)
    assert event["DTSTART"] == first.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    assert ics_time(event["DTEND"]) == first.astimezone(UTC) + timedelta(minutes=50)
    assert "Pairing session" in event["SUMMARY"]
    assert "Platform engineer" in event["SUMMARY"]
    assert event["METHOD"] == "REQUEST"
    view = await candidate_view(stack, applicant)
    assert view["slots"] == []
    assert datetime.fromisoformat(view["booked_slot"]) == first

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
    assert CANDIDATE_NAME not in nudge.text
    assert applicant.address not in nudge.text
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
    assert result.status == "expired"
    assert result.outcome == "expired"
    assert result.booked_slot is None

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
