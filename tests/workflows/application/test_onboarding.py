"""The onboarding stage on the time-skipping server: modules, their reminders and completion; and the
internship pipeline from invite to onboarding complete."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pipelines.stages import DAY as DAY_SECONDS
from pipelines.stages import Decision, Module, Onboarding
from tests.support.history import scheduled_emails
from tests.support.mail import section, subject, subjects
from tests.support.samples import webm
from tests.support.stack import Stack, is_running
from tests.workflows.application.after_review import (
    DAY,
    GOOD_CARD,
    HOUR,
    TOLERANCE,
    candidate_view,
    clock,
    decide,
    invite,
    make_pipeline,
    post,
    register,
    reviewers,
    score,
    skip,
    to_review,
    upload,
    wait_stage,
    when,
)

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
    assert "Read the handbook, by " in text
    assert "Set up your laptop, by " in text
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
    assert result.status == "approved"
    assert result.modules_done == ["handbook", "laptop"]
    application = await stack.application(applicant.application_id)
    assert application["status"] == "approved"
    assert application["stage"] == "closed"
    await stack.mailbox.settle(0.5)
    assert len(stack.mailbox.to(applicant.address)) == 6


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
    assert result.status == "approved"
    assert result.outcome == "approved"
    assert result.decision == "approve"
    assert result.modules_done == ["first-task", "security", "welcome"]
    assert result.feedback_held is False
    assert result.combined_score == 3.5
    application = await stack.application(applicant.application_id)
    assert application["status"] == "approved"
    assert application["stage"] == "closed"
    assert [e.key for e in await scheduled_emails(stack, applicant.application_id)] == [
        "invite",
        "submitted",
        "decision",
        "feedback-feedback",
        "onboarding-onboarding",
        "module-reminder-security",
        "onboarding-complete-onboarding",
    ]
