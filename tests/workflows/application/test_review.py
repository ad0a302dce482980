"""The review stage on the time-skipping server, through the HTTP API, with real SMTP: assignment
from the pool, the SLA, scorecards, how they combine, thresholds, and the reviewer's view.

Each test builds a small pipeline (invite, a one-question interview, a review, a decision), often from
the stages of the example pipelines, and registers it for the test only. Days pass with
`stack.env.sleep`; activities (database writes, emails) run in real time, so after each skip the test
waits for the email it expects."""

from __future__ import annotations

import dataclasses
import statistics
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from activities.applications import ApplicationActivities
from activities.email_text import format_deadline
from offhours.contracts import AssignReviewers, ScorecardInput
from pipelines.people import PEOPLE
from pipelines.stages import DAY, Review
from tests.support.actors import STAFF, unique_email
from tests.support.mail import subject
from tests.support.stack import Stack, state, wait_open_reviewers
from tests.workflows.application.panel import (
    ANSWER,
    SENIOR_REVIEW,
    SUPPORT_REVIEW,
    TWO_CRITERIA,
    apply,
    assert_names_no_candidate,
    assignments,
    email_of,
    make_pipeline,
    open_job,
    reviewer_view,
    scorecard,
)

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
    assert subject(reminder).startswith("Reminder: review due ")
    assert subject(reminder).endswith(f"({title})")
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
    assert "kai" in late.json()["detail"]
    assert "no open review" in late.json()["detail"]
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
    assert "reviewer_id" in unnamed.value.cause.message
    assert "kai, ruth" in unnamed.value.cause.message

    stranger = await scorecard(stack, app_id, good, "noor")  # in the pool, but not assigned here
    assert stranger.status_code == 409, stranger.text
    assert "noor" in stranger.json()["detail"]
    assert "kai, ruth" in stranger.json()["detail"]

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
    assert "kai" in twice.json()["detail"]
    assert "already scored" in twice.json()["detail"]

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
    assert detail["combined_score"] == expected
    assert detail["status"] == "awaiting_decision"
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
    assert detail["decision"] == "reject"
    assert detail["decided_by"] == "system:auto-reject"
    mails = await stack.mailbox.wait_for(low.address, 3)
    assert subject(mails[2]) == f"Your application for {title}"
    assert (await stack.workflow(low.application_id).result()).status == "rejected"

    # (4 + 2*5) / 3 = 4.67 >= 4.5: approved by the system, and told.
    high = await apply(stack, job_id, name="High Scorer")
    response = await scorecard(stack, high.application_id, {"communication": 4, "customer_focus": 5})
    assert response.status_code == 201, response.text
    detail = await stack.wait_status(high.application_id, "approved")
    assert detail["combined_score"] == 4.67
    assert detail["decision"] == "approve"
    assert detail["decided_by"] == "system:auto-advance"
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
    assert len(stack.mailbox.to(low.address)) == 3
    assert len(stack.mailbox.to(high.address)) == 3


# ================================================================================ review: reviewer view


async def test_blind_and_independent_reviewer_view(
    skipping_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = skipping_stack
    review = Review(pool="eng", reviewers=3, criteria=TWO_CRITERIA)
    assert review.blind
    assert review.independent
    job_id = await open_job(stack, monkeypatch, make_pipeline("t-blind", review), "Blind engineer")
    candidate = await apply(stack, job_id, name="Hedy Lamarr")
    app_id = candidate.application_id

    view = await reviewer_view(stack, app_id, "kai")
    assert view.status_code == 200, view.text
    body = view.json()
    assert body["blind"] is True
    assert body["candidate_name"] is None
    assert candidate.name not in view.text
    assert candidate.address not in view.text
    assert [a["text"] for a in body["answers"]] == [ANSWER]
    assert [c["id"] for c in body["criteria"]] == ["communication", "customer_focus"]
    assert (body["own_scorecard"], body["other_scorecards"], body["combined_score"]) == (None, None, None)

    # Ruth scores; kai, who has not, still sees nobody else's score.
    assert (
        await scorecard(stack, app_id, {"communication": 3, "customer_focus": 4}, "ruth")
    ).status_code == 201
    body = (await reviewer_view(stack, app_id, "kai")).json()
    assert body["own_scorecard"] is None
    assert body["other_scorecards"] is None
    assert body["combined_score"] is None
    ruth_view = (await reviewer_view(stack, app_id, "ruth")).json()
    assert ruth_view["own_scorecard"]["ratings"] == {"communication": 3, "customer_focus": 4}
    assert ruth_view["other_scorecards"] == []
    assert ruth_view["combined_score"] is None

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
        assert body["candidate_name"] is None
        assert candidate.name not in view.text

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
    assert body["blind"] is False
    assert body["candidate_name"] == "Katherine Johnson"
    assert body["other_scorecards"] == []
    assert body["combined_score"] is None

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
