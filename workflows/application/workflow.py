"""One workflow per application: it runs the stages of the pipeline the candidate started under.

This class is the composition: the run loop over the pipeline's stages, the queries, withdrawal and
the end of an application. Each stage's behaviour (its runner, its updates and their validators)
lives in ``stages/<kind>.py``; what they share in ``base.py``; their state in ``state.py``. Stage
logic that computes (grading, scores, feedback) lives in ``pipelines.scoring`` as pure functions.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, assert_never

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from offhours.contracts import (
        ApplicationInput,
        ApplicationState,
        PortalState,
        RetentionNotice,
        WithdrawInput,
    )
    from pipelines.stages import (
        Assessment,
        Custom,
        Decision,
        Feedback,
        Interview,
        Invite,
        Onboarding,
        Review,
        Scheduling,
        Stage,
    )

from .base import ApplicationBase, Closed, Status, conflict
from .stages.assessment import AssessmentStage
from .stages.custom import CustomStage
from .stages.decision import DecisionStageMixin
from .stages.feedback import FeedbackStage
from .stages.interview import InterviewStage
from .stages.invite import InviteStage
from .stages.onboarding import OnboardingStage
from .stages.review import ReviewStage
from .stages.scheduling import SchedulingStage


@workflow.defn(name="Application")
class ApplicationWorkflow(
    InviteStage,
    InterviewStage,
    AssessmentStage,
    ReviewStage,
    DecisionStageMixin,
    SchedulingStage,
    FeedbackStage,
    OnboardingStage,
    CustomStage,
    ApplicationBase,
):
    @workflow.init
    def __init__(self, input: ApplicationInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: ApplicationInput) -> ApplicationState:  # noqa: ARG002 (the input is given to init too)
        try:
            for stage in self._pipeline.stages:
                if self._outcome == Status.rejected and not isinstance(stage, Feedback):
                    continue  # after a rejection only feedback still goes out
                self._stage = stage.id
                self._stage_kind = stage.kind
                await self._runner(stage)
        except Closed:
            pass
        await self._end_review_tasks()
        if self._withdrawal is not None:
            await self._email("withdrawn", "withdrawn")
        if self._outcome is None:
            self._outcome = str(self._status)
        await workflow.wait_condition(workflow.all_handlers_finished)
        if workflow.patched("retention-after-close"):
            # The retention clock starts: a privacy workflow of its own erases the content when due.
            await self._db("schedule_retention", RetentionNotice(self._input.application_id, workflow.now()))
        return self.state()

    def _runner(self, stage: Stage) -> Coroutine[Any, Any, None]:
        """The stage table: which mixin runs each kind of stage."""
        match stage:
            case Invite():
                return self._run_invite(stage)
            case Interview():
                return self._run_interview(stage)
            case Assessment():
                return self._run_assessment(stage)
            case Review():
                return self._run_review(stage)
            case Decision():
                return self._run_decision(stage)
            case Scheduling():
                return self._run_scheduling(stage)
            case Feedback():
                return self._run_feedback(stage)
            case Onboarding():
                return self._run_onboarding(stage)
            case Custom():
                return self._run_custom(stage)
            case _:
                assert_never(stage)

    # =================================================================================== queries

    @workflow.query(name="state")
    def state(self) -> ApplicationState:
        decision = self._decision
        pending = self._extensions.pending
        return ApplicationState(
            application_id=self._input.application_id,
            status=str(self._status),
            stage=self._stage,
            deadline=self._deadline,
            opened_at=self._opened_at,
            answered=sorted(self._interview.answers),
            reminders_sent=list(self._invite.reminders_sent),
            scorecards=len(self._review.scorecards),
            decision=decision.made.decision if decision.made else None,
            pending_extension_seconds=pending.seconds if pending else None,
            assessment_ends_at=self._assessment_ends_at(),
            assessment_score=self._assessment.score,
            assessment_passed=self._assessment.passed,
            reviewers=sorted(self._review.assigned),
            combined_score=self._review.combined,
            votes={k: v.decision for k, v in sorted(decision.votes.items())},
            slots=list(self._scheduling.slots),
            booked_slot=self._scheduling.booked,
            modules_done=sorted(self._onboarding.modules_done),
            feedback_held=self._feedback.held,
            outcome=self._outcome,
        )

    @workflow.query(name="portal")
    def portal(self) -> PortalState:
        interview = self._interview
        return PortalState(
            consent_at=interview.consent_at,
            takes={q: self._takes_used(q) for q in sorted({*interview.opened, *interview.takes})},
            open_takes=self._open_takes(),
            assessment_answers={k: dict(v) for k, v in sorted(self._assessment.answers.items())},
            assessment_timed_out=sorted(self._assessment.timed_out),
            onboarding_started_at=self._onboarding.started_at,
        )

    # =================================================================================== withdrawal

    @workflow.update(name="withdraw")
    async def withdraw(self, withdrawal: WithdrawInput) -> ApplicationState:
        self._withdrawal = withdrawal
        self._outcome = Status.withdrawn
        await self._record_status(Status.withdrawn, "closed")
        await self._cancel_open_reviews()
        return self.state()

    @withdraw.validator
    def _validate_withdrawal(self, withdrawal: WithdrawInput) -> None:  # noqa: ARG002 (a validator takes its update's arguments)
        if (
            self._status.is_final
            or self._withdrawal is not None
            or self._decision.made is not None
            or self._decision.deciding
        ):
            raise conflict(f"the application is already {self._status}")


__all__ = ["ApplicationWorkflow"]
