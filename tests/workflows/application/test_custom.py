"""A custom stage inside a whole pipeline, on the time-skipping server: the senior backend engineer
pipeline from invite to approval, whose reference check (a custom child workflow) waits for the
recruiter's outcome, and whose hiring manager is told after the approval."""

from __future__ import annotations

from datetime import UTC, timedelta

from tests.support.mail import subject
from tests.support.samples import PDF, webm
from tests.support.stack import Stack
from tests.workflows.application.after_review import (
    CANDIDATE_NAME,
    DAY,
    _wait_subject,
    clock,
    decide,
    invite,
    post,
    reviewers,
    score,
    skip,
    slot_at,
    upload,
    wait_stage,
)


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
    assert len(panel) == 3, panel
    assert set(panel) <= {"kai", "ruth", "lee", "noor"}, panel
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
    assert second["status"] == "approved"
    assert second["decision_reason_code"] == "hire"

    [notice] = await _wait_subject(stack, "lee.park@example.org", "Approved: ")
    assert subject(notice) == f"Approved: a candidate for {title}"
    assert notice.recipients == ["lee.park@example.org"]
    for part in (subject(notice), notice.text, notice.html):
        assert CANDIDATE_NAME not in part
        assert "Katherine" not in part
        assert applicant.address not in part
    assert applicant.application_id in notice.text

    result = await stack.workflow(applicant.application_id).result()
    assert result.status == "approved"
    assert result.votes == {"kai": "approve", "noor": "approve"}
    application = await stack.application(applicant.application_id)
    assert application["status"] == "approved"
    assert application["stage"] == "closed"
    mails = await stack.mailbox.wait_for(applicant.address, 6)
    assert subject(mails[5]) == f"Good news about your application for {title}"
    await stack.mailbox.settle(0.5)
    assert (
        len([m for m in stack.mailbox.to("lee.park@example.org") if subject(m).startswith("Approved")]) == 1
    )
