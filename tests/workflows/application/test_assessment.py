"""The timed auto-graded assessment on the time-skipping server (pass, fail and reject, fail and inform,
the time limit, refusals), and the pure grading functions."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from pipelines.scoring import grade, is_correct
from pipelines.stages import Assessment, GradedQuestion
from tests.support.actors import STAFF
from tests.support.mail import subject, subjects
from tests.support.samples import webm
from tests.support.stack import Stack, state
from tests.workflows.application.candidate import (
    A_DAY,
    GRADED,
    GRADED_IDS,
    SAM,
    SUPPORT_POOL,
    THREE_RIGHT,
    TOLERANCE,
    TWO_RIGHT,
    answer_assessment,
    candidate_post,
    detail_of,
    instant,
    invite,
    submit_interview,
    upload,
    wait_assessed,
)

# ================================================================================ assessment


async def test_a_passing_assessment_after_the_interview_moves_on_to_review(
    ts: Stack, pipelines: dict[str, str]
) -> None:
    stack = ts
    invited = await invite(stack, pipelines["reject"], "Quizzed agent")

    early = await candidate_post(stack, invited, "assessment/start")
    assert early.status_code == 409, early.text
    assert "finish the interview first" in detail_of(early)
    early_answer = await candidate_post(
        stack, invited, "assessment/answers", {"question_id": "refund", "value": "Yes"}
    )
    assert early_answer.status_code == 409, early_answer.text

    await submit_interview(stack, invited)
    started = await candidate_post(stack, invited, "assessment/start")
    assert started.status_code == 200, started.text
    assert started.json()["assessment_ends_at"] is not None

    # The candidate sees the questions, never the answers.
    async with asyncio.timeout(10):
        while (view := (await stack.http.get(f"/api/v1/candidate/{invited.token}")).json())[
            "assessment"
        ] is None:
            await asyncio.sleep(0.05)
    assert [q["id"] for q in view["assessment"]] == GRADED_IDS
    assert all("answer" not in q for q in view["assessment"])

    await answer_assessment(stack, invited, THREE_RIGHT)  # 3 of 4 at a pass mark of 0.75
    submitted = await candidate_post(stack, invited, "assessment/submit")
    assert submitted.status_code == 200, submitted.text

    application = await stack.wait_status(invited.application_id, "in_review")
    [result] = application["assessments"]
    assert result["stage_id"] == "assessment"
    assert (result["points"], result["max_points"], result["passed"]) == (3, 4, True)
    assert result["answers"] == THREE_RIGHT
    assert [a["reviewer"] for a in application["review_assignments"]] == ["sam"]
    current = await state(stack, invited.application_id)
    assert current.assessment_passed is True
    assert current.assessment_score == 0.75

    mails = await stack.mailbox.wait_for(invited.address, 2)
    assert subject(mails[1]) == f"We have received your answers for {invited.title}"
    [assigned] = await stack.mailbox.wait_for(SAM, 1)
    assert subject(assigned).startswith(f"New review: {invited.title}")

    # Done: no more answers and no second submission.
    late = await candidate_post(
        stack, invited, "assessment/answers", {"question_id": "first_reply", "value": "2"}
    )
    assert late.status_code == 409, late.text
    assert "takes no more answers" in detail_of(late)
    assert (await candidate_post(stack, invited, "assessment/submit")).status_code == 409
    assert (await stack.application(invited.application_id))["assessments"][0]["points"] == 3


@pytest.mark.usefixtures("pipelines")
async def test_a_failing_assessment_with_on_fail_reject_ends_the_application(ts: Stack) -> None:
    """The example support-agent pipeline: recorded, text and choice interview, then a quiz that
    rejects below 75%."""
    stack = ts
    invited = await invite(stack, "support-agent", "Support agent (quiz)")
    video = await upload(stack, invited, "angry_customer", webm(1.0), "video")
    assert video.status_code == 200, video.text
    # why_support is timed: its clock starts when it is opened.
    assert (await candidate_post(stack, invited, "questions/why_support/open")).status_code == 200
    for question_id, text in (("why_support", "I like solving problems for people."), ("shift", "Any")):
        answer = await candidate_post(stack, invited, "answers", {"question_id": question_id, "text": text})
        assert answer.status_code == 200, answer.text
    assert (await candidate_post(stack, invited, "submit")).status_code == 200

    assert (await candidate_post(stack, invited, "assessment/start")).status_code == 200
    answers = {
        "refund_window": "Yes",
        "tickets_per_hour": "7",
        "escalation_team": "sales",
        "first_reply": "10",
    }
    await answer_assessment(stack, invited, answers)  # 2 of 4: below the 0.75 pass mark
    assert (await candidate_post(stack, invited, "assessment/submit")).status_code == 200

    application = await stack.wait_status(invited.application_id, "rejected")
    [result] = application["assessments"]
    assert (result["points"], result["max_points"], result["passed"]) == (2, 4, False)
    assert result["answers"] == answers

    mails = await stack.mailbox.wait_for(invited.address, 2)
    assert subject(mails[1]) == f"Your application for {invited.title}"
    assert "did not reach the mark" in " ".join(mails[1].text.split())
    final = await stack.workflow(invited.application_id).result()
    assert final.status == "rejected"
    assert final.outcome == "rejected"
    assert final.reviewers == []
    assert final.assessment_passed is False

    # No reviewer is ever assigned, even days later.
    await stack.env.sleep(3 * A_DAY)
    await stack.mailbox.settle(1.0)
    application = await stack.application(invited.application_id)
    assert application["review_assignments"] == []
    assert application["scorecards"] == []
    for reviewer in SUPPORT_POOL:
        assert stack.mailbox.to(reviewer) == [], reviewer
    assert len(stack.mailbox.to(invited.address)) == 2


async def test_a_failing_assessment_with_on_fail_inform_still_goes_to_review(
    ts: Stack, pipelines: dict[str, str]
) -> None:
    stack = ts
    invited = await invite(stack, pipelines["inform"], "Informed agent")
    await submit_interview(stack, invited)
    assert (await candidate_post(stack, invited, "assessment/start")).status_code == 200
    await answer_assessment(stack, invited, TWO_RIGHT)
    assert (await candidate_post(stack, invited, "assessment/submit")).status_code == 200

    application = await stack.wait_status(invited.application_id, "in_review")
    [result] = application["assessments"]
    assert (result["points"], result["max_points"], result["passed"]) == (2, 4, False)
    assert [a["reviewer"] for a in application["review_assignments"]] == ["sam"]
    assert (await state(stack, invited.application_id)).assessment_passed is False
    mails = await stack.mailbox.wait_for(invited.address, 2)
    await stack.mailbox.settle(0.5)
    assert subjects(stack.mailbox.to(invited.address))[1:] == [
        f"We have received your answers for {invited.title}"
    ]
    assert subject(mails[1]) != f"Your application for {invited.title}"

    # The reviewer sees the result too.
    view = await stack.http.get(
        f"/api/v1/applications/{invited.application_id}/review", params={"reviewer_id": "sam"}, headers=STAFF
    )
    assert view.status_code == 200, view.text
    assert [(a["points"], a["passed"]) for a in view.json()["assessments"]] == [(2, False)]


async def test_at_the_time_limit_the_assessment_is_graded_with_what_was_answered(
    ts: Stack, pipelines: dict[str, str]
) -> None:
    stack = ts
    invited = await invite(stack, pipelines["inform"], "Slow agent")
    await submit_interview(stack, invited)
    started = await candidate_post(stack, invited, "assessment/start")
    assert started.status_code == 200, started.text
    ends_at = instant(started.json()["assessment_ends_at"])
    await answer_assessment(stack, invited, {"refund": "Yes"})

    # Just before the limit: still open.
    await stack.env.sleep(timedelta(minutes=19))
    await stack.mailbox.settle(0.5)
    assert (await stack.application(invited.application_id))["assessments"] == []
    assert (await state(stack, invited.application_id)).status == "in_progress"

    await stack.env.sleep(timedelta(minutes=2))
    application = await wait_assessed(stack, invited.application_id)
    [result] = application["assessments"]
    assert result["answers"] == {"refund": "Yes"}
    assert (result["points"], result["max_points"], result["passed"]) == (1, 4, False)
    finished, begun = instant(result["finished_at"]), instant(result["started_at"])
    assert abs(begun + timedelta(minutes=20) - ends_at) <= TOLERANCE
    assert timedelta(minutes=20) <= finished - begun <= timedelta(minutes=20) + TOLERANCE

    late = await candidate_post(
        stack, invited, "assessment/answers", {"question_id": "per_hour", "value": "7"}
    )
    assert late.status_code == 409, late.text
    assert "time limit" in detail_of(late) or "takes no more answers" in detail_of(late)
    assert (await candidate_post(stack, invited, "assessment/submit")).status_code == 409
    application = await stack.wait_status(invited.application_id, "in_review")  # on_fail="inform"
    assert application["assessments"][0]["answers"] == {"refund": "Yes"}


async def test_assessment_refusals_name_the_problem(ts: Stack, pipelines: dict[str, str]) -> None:
    stack = ts
    invited = await invite(stack, pipelines["inform"], "Careless agent")
    await submit_interview(stack, invited)

    before = await candidate_post(
        stack, invited, "assessment/answers", {"question_id": "refund", "value": "Yes"}
    )
    assert before.status_code == 409, before.text
    assert "start the assessment first" in detail_of(before)
    assert (await candidate_post(stack, invited, "assessment/submit")).status_code == 409

    assert (await candidate_post(stack, invited, "assessment/start")).status_code == 200
    twice = await candidate_post(stack, invited, "assessment/start")
    assert twice.status_code == 409, twice.text
    assert "already been started" in detail_of(twice)

    for unknown in ("nope", "intro"):  # "intro" is an interview question, not an assessment one
        response = await candidate_post(
            stack, invited, "assessment/answers", {"question_id": unknown, "value": "1"}
        )
        assert response.status_code == 422, response.text
        assert f"unknown question_id '{unknown}'" in detail_of(response)
        assert ", ".join(GRADED_IDS) in detail_of(response)
    blank = await candidate_post(
        stack, invited, "assessment/answers", {"question_id": "team", "value": "   "}
    )
    assert blank.status_code == 422, blank.text

    # None of that was recorded: the submitted assessment holds only the valid answer.
    await answer_assessment(stack, invited, {"team": "billing team"})
    assert (await candidate_post(stack, invited, "assessment/submit")).status_code == 200
    application = await wait_assessed(stack, invited.application_id)
    [result] = application["assessments"]
    assert result["answers"] == {"team": "billing team"}
    assert result["points"] == 1


# ================================================================================ grading


@pytest.mark.parametrize(
    ("given", "correct"),
    [
        ("7", True),
        ("7.5", True),
        ("6,5", True),
        (" 7.2 ", True),
        ("7.51", False),
        ("6.4", False),
        ("seven", False),
        ("", False),
        ("nan", False),
        ("inf", False),
    ],
)
def test_numeric_answers_are_accepted_within_the_tolerance(given: str, correct: bool) -> None:
    question = GradedQuestion("q", "Tickets per hour?", "numeric", "7", tolerance=0.5)
    assert is_correct(question, given) is correct


def test_numeric_answers_without_tolerance_must_be_exact() -> None:
    question = GradedQuestion("q", "Minutes?", "numeric", "2")
    assert is_correct(question, "2.0")
    assert is_correct(question, "2")
    assert not is_correct(question, "2.01")


@pytest.mark.parametrize(
    ("given", "correct"),
    [
        ("billing team", True),
        ("BILLING TEAM", True),
        ("  Billing   team  ", True),
        ("Billing\tteam", True),
        ("billingteam", False),
        ("billing", False),
        ("billing teams", False),
    ],
)
def test_exact_answers_ignore_case_and_spaces(given: str, correct: bool) -> None:
    question = GradedQuestion("q", "Which team?", "exact", "Billing Team")
    assert is_correct(question, given) is correct


def test_choice_answers_must_be_the_right_choice() -> None:
    question = GradedQuestion("q", "Refund?", "choice", "Yes", ("Yes", "No"))
    assert is_correct(question, "Yes")
    assert is_correct(question, " Yes ")
    assert not is_correct(question, "No")


@pytest.mark.parametrize(
    ("right", "pass_mark", "passed"),
    [(3, 0.75, True), (2, 0.75, False), (4, 0.75, True), (0, 0.75, False), (3, 0.7, True), (3, 0.8, False)],
)
def test_the_pass_mark_is_a_share_of_the_points(right: int, pass_mark: float, passed: bool) -> None:
    assessment = Assessment(questions=GRADED, pass_mark=pass_mark)
    right_answers = {"refund": "Yes", "per_hour": "7", "team": "billing team", "first_reply": "2"}
    answers = {q: (v if i < right else "wrong") for i, (q, v) in enumerate(right_answers.items())}
    result = grade(assessment, answers)
    assert (result.points, result.max_points, result.passed) == (right, 4, passed)
    assert result.correct == GRADED_IDS[:right]


def test_grading_weighs_points_and_ignores_unknown_or_missing_answers() -> None:
    questions = (
        GradedQuestion("big", "Worth three", "exact", "yes", points=3),
        GradedQuestion("small", "Worth one", "exact", "yes"),
    )
    assessment = Assessment(questions=questions, pass_mark=0.75)
    result = grade(assessment, {"big": "YES", "stray": "yes"})
    assert (result.points, result.max_points, result.passed, result.correct) == (3, 4, True, ["big"])
    assert result.share == 0.75
    nothing = grade(assessment, {})
    assert (nothing.points, nothing.passed, nothing.correct) == (0, False, [])
    # Floating point: 0.1 + 0.2 style shares still pass a mark equal to them.
    tenths = Assessment(
        questions=tuple(GradedQuestion(f"q{i}", "?", "exact", "a") for i in range(10)), pass_mark=0.1 * 3
    )
    assert grade(tenths, {"q0": "a", "q1": "a", "q2": "a"}).passed
