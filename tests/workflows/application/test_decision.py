"""The decision stage on the time-skipping server: N of M approvers, reason codes, the SLA's reminders
and escalation, and the check-ins sent while a candidate waits in review and for the decision."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pipelines.stages import DAY, CheckIn, Decision, Module, Onboarding, ReasonCode, Review
from tests.support.actors import recorded_as
from tests.support.history import scheduled_emails
from tests.support.mail import subject, subjects
from tests.support.stack import Stack, state
from tests.workflows.application.panel import (
    SENIOR_DECISION,
    SUPPORT_DECISION,
    TOLERANCE,
    TWO_CRITERIA,
    apply,
    assert_names_no_candidate,
    decide,
    email_of,
    make_pipeline,
    open_job,
    review_ended_at,
    scorecard,
)

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
    assert "approver_id" in anonymous.json()["detail"]
    assert "kai, ruth, noor" in anonymous.json()["detail"]
    outsider = await decide(stack, app_id, decision="approve", approver_id="sam")
    assert outsider.status_code == 409, outsider.text
    assert "'sam' is not an approver" in outsider.json()["detail"]

    one = await decide(stack, app_id, decision="approve", approver_id="kai", reason="Strong design sense.")
    assert one.status_code == 200, one.text
    assert one.json()["status"] == "awaiting_decision"
    assert one.json()["decision"] is None
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
    assert body["decided_by"] == ruth
    assert body["decision_reason"] == "Let us meet."
    result = await stack.workflow(app_id).result()
    assert result.status == "approved"
    assert result.votes == {"kai": "approve", "ruth": "approve"}

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
    assert result.status == "rejected"
    assert result.votes == {
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
    assert "too_expensive" in detail
    assert "advance, not_a_fit, candidate_withdrew" in detail
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
    assert decision.approvers == ()
    assert (decision.sla, decision.escalate_to) == (2 * DAY, "jo")
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
    assert len(stack.mailbox.to(ana)) == 1
    assert len(stack.mailbox.to(jo)) == 1


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
    assert candidate.name in first.text
    assert "You can expect news by" in first.text
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
