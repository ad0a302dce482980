"""The feedback stage on the time-skipping server: feedback built from the rubric's anchors, held
until released, and sent after a rejection."""

from __future__ import annotations

import pytest

from pipelines.stages import DAY as DAY_SECONDS
from pipelines.stages import Decision, Feedback, Module, Onboarding, Review
from tests.support.history import scheduled_emails
from tests.support.mail import section, subject, subjects
from tests.support.stack import Stack
from tests.workflows.application.after_review import (
    CRITERIA,
    DAY,
    NEXT_STEPS,
    candidate_view,
    decide,
    make_pipeline,
    post,
    register,
    score,
    skip,
    to_review,
    wait_stage,
)


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
    assert "Crystal clear" in feedback.html
    assert "Surface only" in feedback.html

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
    assert view["feedback"] is not None
    assert view["feedback"]["text"] == edited
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
    assert result.status == "rejected"
    assert result.outcome == "rejected"
    assert result.modules_done == []
    assert [e.template for e in await scheduled_emails(stack, applicant.application_id)] == [
        "invite",
        "submitted",
        "rejected",
        "feedback",
    ]
    application = await stack.application(applicant.application_id)
    assert application["status"] == "rejected"
    assert application["stage"] == "closed"
    assert (await candidate_view(stack, applicant))["modules"] is None
