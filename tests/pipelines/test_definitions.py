"""Pipelines as code: validation names the pipeline, stage and fix; snapshots round-trip; versions
follow content."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines import registry
from pipelines.base import Pipeline
from pipelines.registry import PIPELINES, PipelineError, pipeline_from_snapshot
from pipelines.stages import (
    DAY,
    Assessment,
    CheckIn,
    Criterion,
    Custom,
    Decision,
    Extensions,
    Feedback,
    GradedQuestion,
    Interview,
    Invite,
    Module,
    Onboarding,
    Question,
    ReasonCode,
    Reminders,
    Review,
)

ANCHORS = ("1", "2", "3", "4", "5")
CRITERION = Criterion("c", "C", ANCHORS)


def pipeline(*stages: object, **kwargs: object) -> Pipeline:
    default = (
        Invite(),
        Interview(questions=(Question("q", "Why?"),)),
        Review(criteria=(CRITERION,)),
        Decision(),
    )
    return Pipeline("backend-engineer", "Backend engineer", stages=tuple(stages) or default, **kwargs)  # type: ignore[arg-type]


def problems(p: Pipeline) -> list[str]:
    with pytest.raises(PipelineError) as error:
        registry.validate(p)
    return error.value.problems


def test_every_registered_pipeline_is_valid_and_has_the_examples() -> None:
    assert {"standard", "support-agent", "senior-backend-engineer", "internship"} <= set(PIPELINES)
    for p in PIPELINES.values():
        assert registry.validate(p) is p


def test_the_reviewer_count_is_checked_against_the_pool() -> None:
    p = pipeline(
        Invite(),
        Interview(questions=(Question("q", "Why?"),)),
        Review(pool="early-careers", reviewers=3, criteria=(CRITERION,)),
        Decision(),
    )
    assert problems(p) == [
        "pipeline 'backend-engineer', stage 3 (review): needs 3 reviewers but pool 'early-careers' has 2"
    ]


@pytest.mark.parametrize(
    ("stages", "expected"),
    [
        ((Interview(questions=(Question("q", "?"),)),), "the first stage must be invite, not interview"),
        (
            (Invite(), Review(criteria=(CRITERION,)), Interview(questions=(Question("q", "?"),))),
            "stage 2 (review): comes before anything to review",
        ),
        (
            (Invite(), Interview(questions=(Question("q", "?", "video", think_time=30, retakes=2),))),
            "limited think time allows one take; set retakes=0",
        ),
        (
            (Invite(), Interview(questions=(Question("q", "?", "choice", choices=("Only",)),))),
            "a choice question needs at least two different choices",
        ),
        (
            (Invite(), Interview(questions=(Question("q", "?"), Question("q", "Again?")))),
            "question id 'q' is used twice",
        ),
        (
            (
                Invite(deadline=DAY, reminders=Reminders(before_deadline=(2 * DAY,))),
                Interview(questions=(Question("q", "?"),)),
            ),
            "reminder 172800s before the deadline falls outside",
        ),
        (
            (
                Invite(extensions=Extensions(auto_grant=3 * DAY, max_total=DAY)),
                Interview(questions=(Question("q", "?"),)),
            ),
            "extensions: need 0 <= auto_grant <= max_total",
        ),
        (
            (
                Invite(),
                Assessment(questions=(GradedQuestion("a", "?", "choice", "Maybe", choices=("Yes", "No")),)),
            ),
            "the answer 'Maybe' is not one of its choices",
        ),
        (
            (Invite(), Assessment(questions=(GradedQuestion("a", "?", "numeric", "ten"),))),
            "a numeric answer must be a number",
        ),
        (
            (Invite(), Assessment(questions=(GradedQuestion("a", "?", "exact", "x"),), pass_mark=1.5)),
            "pass_mark is a share of the points between 0 and 1",
        ),
        (
            (
                Invite(),
                Interview(questions=(Question("q", "?"),)),
                Review(pool="nope", criteria=(CRITERION,)),
            ),
            "pool 'nope' does not exist; known pools:",
        ),
        (
            (
                Invite(),
                Interview(questions=(Question("q", "?"),)),
                Review(criteria=(Criterion("c", "C", ("1", "2", "", "4", "5")),)),
            ),
            "criterion 'c' needs a behavioural anchor for each level 1 to 5",
        ),
        (
            (
                Invite(),
                Interview(questions=(Question("q", "?"),)),
                Review(criteria=(CRITERION,), auto_advance_at=3, auto_reject_below=4),
            ),
            "auto_reject_below must not be above auto_advance_at",
        ),
        (
            (Invite(), Interview(questions=(Question("q", "?"),)), Feedback()),
            "stage 3 (feedback): needs a review before it",
        ),
        (
            (
                Invite(),
                Interview(questions=(Question("q", "?"),)),
                Decision(approvals_required=3, approvers=("kai", "ruth")),
            ),
            "needs 3 approvals but names 2 approvers",
        ),
        (
            (Invite(), Interview(questions=(Question("q", "?"),)), Decision(approvals_required=2)),
            "N-of-M approvals need the approvers named",
        ),
        (
            (Invite(), Interview(questions=(Question("q", "?"),)), Decision(approvers=("kai", "nobody"))),
            "approver 'nobody' is not in the staff directory",
        ),
        (
            (
                Invite(),
                Interview(questions=(Question("q", "?"),)),
                Decision(reason_codes=(ReasonCode("yes", "approve", "Yes", "approved"),)),
            ),
            "needs at least one reason code for reject",
        ),
        (
            (
                Invite(),
                Interview(questions=(Question("q", "?"),)),
                Decision(
                    reason_codes=(
                        ReasonCode("yes", "approve", "Yes", "approved"),
                        ReasonCode("no", "reject", "No", "no_such_template"),
                    )
                ),
            ),
            "email template 'no_such_template' does not exist",
        ),
        (
            (
                Invite(),
                Interview(questions=(Question("q", "?"),)),
                Onboarding(modules=(Module("m", "M", DAY),)),
            ),
            "onboarding follows a hire",
        ),
        (
            (Invite(), Interview(questions=(Question("q", "?"),)), Custom(activity="launch_rockets")),
            "activity 'launch_rockets' is not registered in pipelines/custom.py",
        ),
        ((Invite(),), "needs an interview or an assessment for the candidate to complete"),
    ],
)
def test_validation_names_the_stage_and_the_fix(stages: tuple[object, ...], expected: str) -> None:
    found = problems(pipeline(*stages))
    assert any(expected in p for p in found), found
    assert all(p.startswith("pipeline 'backend-engineer'") for p in found)


def test_all_problems_are_reported_at_once() -> None:
    p = pipeline(
        Invite(),
        Interview(questions=(Question("q", "?", "video", think_time=10, retakes=1),)),
        Review(pool="eng", reviewers=9, criteria=(CRITERION,)),
        Decision(escalate_to="nobody"),
        contact="ghost",
    )
    found = problems(p)
    assert len(found) == 4, found


def test_snapshots_round_trip_and_versions_follow_content() -> None:
    for p in PIPELINES.values():
        assert pipeline_from_snapshot(p.snapshot()) == p
        assert pipeline_from_snapshot(p.snapshot()).version == p.version
    standard = PIPELINES["standard"]
    longer = dataclasses.replace(
        standard, stages=(dataclasses.replace(standard.invite, deadline=8 * DAY), *standard.stages[1:])
    )
    assert longer.version != standard.version
    assert dataclasses.replace(standard, check_in=CheckIn()).version != standard.version


def test_cli_validates_a_file_and_names_each_problem(tmp_path: Path) -> None:
    bad = tmp_path / "backend.py"
    bad.write_text(
        "from pipelines.base import Pipeline\n"
        "from pipelines.stages import Criterion, Decision, Interview, Invite, Question, Review\n"
        "P = Pipeline('backend-engineer', 'Backend', stages=(Invite(), Interview(questions=(Question('q', '?'),)),\n"
        "    Review(pool='eng', reviewers=5, criteria=(Criterion('c', 'C', ('1','2','3','4','5')),)), Decision()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "tools.cli", "pipelines", "validate", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert (
        "pipeline 'backend-engineer', stage 3 (review): needs 5 reviewers but pool 'eng' has 4"
        in result.stderr
    )
    ok = subprocess.run(
        [sys.executable, "-m", "tools.cli", "pipelines", "validate"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0
    assert "ok  internship" in ok.stdout
    shown = subprocess.run(
        [sys.executable, "-m", "tools.cli", "pipelines", "show", "internship"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0
    assert PIPELINES["internship"].version in shown.stdout
