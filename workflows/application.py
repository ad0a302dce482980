"""One workflow per application: invite -> interview -> review -> decision -> decision email.

Deterministic code only. Time comes from ``workflow.now()``, waiting from durable timers, and every
side effect (database, email) from an activity called by name, so that this module never imports
SQLModel, SMTP or the API.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from offhours.contracts import (
        CONFLICT,
        INVALID,
        AnswerInput,
        ApplicationInput,
        ApplicationState,
        DecisionInput,
        EmailRequest,
        EmailResult,
        LinkOpened,
        SaveAnswer,
        SaveDecision,
        SaveScorecard,
        ScorecardInput,
        StatusChange,
        WithdrawInput,
    )
    from offhours.states import ApplicationStatus, Decision, Recommendation

Status = ApplicationStatus

# Database writes: short, retried until the database is back (a lost write would lose the read model).
DB_TIMEOUT = timedelta(seconds=30)
DB_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
# Email: SMTP relays can be slow or down for a while; retried with backoff, never more than once sent.
EMAIL_TIMEOUT = timedelta(seconds=90)
EMAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=["PermanentEmailFailure"],
)

ACCEPTS_ANSWERS = (Status.invited, Status.in_progress)


def describe_duration(seconds: int) -> str:
    """'3 days', '1 day', '12 hours', '30 minutes': how a reminder says how long is left."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def conflict(message: str) -> ApplicationError:
    return ApplicationError(message, type=CONFLICT, non_retryable=True)


def invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type=INVALID, non_retryable=True)


@workflow.defn(name="Application")
class ApplicationWorkflow:
    @workflow.init
    def __init__(self, input: ApplicationInput) -> None:
        self._input = input
        self._pipeline = input.pipeline
        self._status = Status.invited
        self._stage = "invite"
        self._deadline: datetime | None = None
        self._answers: dict[str, AnswerInput] = {}
        self._saving = 0  # answers or a submission being written right now
        self._submitted = False
        self._scorecards: list[ScorecardInput] = []
        self._reviewing: set[str] = set()
        self._decision: DecisionInput | None = None
        self._decision_saved = False  # the decision email waits until the decision is stored
        self._withdrawal: WithdrawInput | None = None
        self._opened_at: datetime | None = None
        self._reminders_sent: list[str] = []
        self._emails_failed: list[str] = []

    # ----------------------------------------------------------------------------------- main path

    @workflow.run
    async def run(self, input: ApplicationInput) -> ApplicationState:
        invite = self._pipeline.invite
        self._deadline = workflow.now() + timedelta(seconds=invite.deadline_seconds)
        await self._record_status(Status.invited, "invite")
        await self._email("invite", "invite")
        self._stage = "interview"

        for offset in sorted(invite.reminders_before_deadline_seconds, reverse=True):
            remind_at = self._deadline - timedelta(seconds=offset)
            if await self._wait_until(remind_at, self._candidate_done):
                break
            key = f"reminder-{offset}"
            await self._email(key, "reminder", time_left=describe_duration(offset))
            self._reminders_sent.append(key)

        if not await self._wait_until(self._deadline, self._candidate_done):
            # Let an answer that is being saved right now finish before closing.
            await workflow.wait_condition(lambda: self._saving == 0)
            if not self._submitted and self._withdrawal is None:
                await self._record_status(Status.expired, "closed")
                await self._email("expired", "expired")
                return await self._finish()

        if self._withdrawal is not None:
            return await self._close_withdrawn()

        await self._email("submitted", "submitted")
        await self._record_status(Status.in_review, "review")
        await workflow.wait_condition(lambda: bool(self._scorecards) or self._withdrawal is not None)
        if self._withdrawal is not None and not self._scorecards:
            return await self._close_withdrawn()

        await workflow.wait_condition(lambda: self._decision_saved or self._withdrawal is not None)
        if self._decision is None:
            return await self._close_withdrawn()
        template = "approved" if self._decision.decision == Decision.approve else "rejected"
        await self._email("decision", template)
        return await self._finish()

    def _candidate_done(self) -> bool:
        return self._submitted or self._withdrawal is not None

    async def _wait_until(self, at: datetime, condition: Callable[[], bool]) -> bool:
        """Wait on a durable timer until `at`; True as soon as `condition` holds, False at `at`."""
        remaining = (at - workflow.now()).total_seconds()
        if remaining <= 0:
            return condition()
        try:
            await workflow.wait_condition(condition, timeout=remaining)
        except TimeoutError:
            return condition()
        return True

    async def _close_withdrawn(self) -> ApplicationState:
        await self._email("withdrawn", "withdrawn")
        return await self._finish()

    async def _finish(self) -> ApplicationState:
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state()

    # ----------------------------------------------------------------------------------- queries

    @workflow.query
    def state(self) -> ApplicationState:
        return ApplicationState(
            application_id=self._input.application_id,
            status=str(self._status),
            stage=self._stage,
            deadline=self._deadline,
            opened_at=self._opened_at,
            answered=sorted(self._answers),
            reminders_sent=list(self._reminders_sent),
            scorecards=len(self._scorecards),
            decision=self._decision.decision if self._decision else None,
        )

    # ----------------------------------------------------------------------------------- signals

    @workflow.signal
    async def link_opened(self) -> None:
        """Fire-and-forget: the candidate opened their link (the first time counts)."""
        if self._opened_at is not None:
            return
        self._opened_at = workflow.now()
        await workflow.execute_activity(
            "record_link_opened",
            LinkOpened(self._input.application_id, self._opened_at),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )

    # ----------------------------------------------------------------------------------- updates

    @workflow.update
    async def save_answer(self, answer: AnswerInput) -> ApplicationState:
        self._check_answer(answer)
        self._saving += 1
        try:
            await workflow.execute_activity(
                "save_answer",
                SaveAnswer(self._input.application_id, answer, workflow.now()),
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
            )
            self._answers[answer.question_id] = answer
            if self._status == Status.invited:
                await self._record_status(Status.in_progress, "interview")
        finally:
            self._saving -= 1
        return self.state()

    @save_answer.validator
    def _validate_answer(self, answer: AnswerInput) -> None:
        self._check_answer(answer)

    def _check_answer(self, answer: AnswerInput) -> None:
        self._check_accepting()
        question = self._pipeline.question(answer.question_id)
        if question is None:
            known = ", ".join(q.id for q in self._pipeline.interview.questions)
            raise invalid(f"unknown question_id '{answer.question_id}'; this interview asks: {known}")
        if answer.kind != question.type:
            raise invalid(f"question '{question.id}' takes a {question.type} answer, not {answer.kind}")
        if question.type == "text":
            if not answer.text or not answer.text.strip():
                raise invalid(f"question '{question.id}' needs a non-empty text answer")
            if len(answer.text) > question.max_length:
                raise invalid(f"answer to '{question.id}' exceeds {question.max_length} characters")
        elif not answer.file_sha256:
            raise invalid(f"question '{question.id}' needs a file")

    def _check_accepting(self) -> None:
        if self._submitted:
            raise conflict("the application has already been submitted")
        if self._status not in ACCEPTS_ANSWERS or self._withdrawal is not None:
            raise conflict(f"the application is {self._status} and takes no more answers")
        if self._deadline is not None and workflow.now() >= self._deadline:
            raise conflict(f"the deadline ({self._deadline.isoformat()}) has passed")

    @workflow.update
    async def submit(self) -> ApplicationState:
        self._check_submittable()
        self._saving += 1
        try:
            self._stage = "review"
            await self._record_status(Status.submitted, "review")
            self._submitted = True
        finally:
            self._saving -= 1
        return self.state()

    @submit.validator
    def _validate_submit(self) -> None:
        self._check_submittable()

    def _check_submittable(self) -> None:
        self._check_accepting()
        if self._saving:
            raise conflict("an answer or submission is being saved; try again in a moment")
        missing = [
            q.id for q in self._pipeline.interview.questions if q.required and q.id not in self._answers
        ]
        if missing:
            raise conflict(f"answer every required question before submitting; missing: {', '.join(missing)}")

    @workflow.update
    async def submit_scorecard(self, scorecard: ScorecardInput) -> ApplicationState:
        self._check_scorecard(scorecard)
        self._reviewing.add(scorecard.reviewer)
        await workflow.execute_activity(
            "save_scorecard",
            SaveScorecard(self._input.application_id, scorecard, workflow.now()),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        await self._record_status(Status.awaiting_decision, "decision")
        self._scorecards.append(scorecard)
        return self.state()

    @submit_scorecard.validator
    def _validate_scorecard(self, scorecard: ScorecardInput) -> None:
        self._check_scorecard(scorecard)

    def _check_scorecard(self, scorecard: ScorecardInput) -> None:
        if self._status != Status.in_review or self._reviewing:
            raise conflict(f"the application is {self._status}; it takes a scorecard only while in_review")
        if scorecard.overall_recommendation not in set(Recommendation):
            raise invalid(f"unknown overall_recommendation '{scorecard.overall_recommendation}'")
        criteria = set(self._pipeline.review.criteria)
        unknown = sorted(set(scorecard.ratings) - criteria)
        missing = sorted(criteria - set(scorecard.ratings))
        if unknown or missing:
            raise invalid(
                "ratings must rate exactly these criteria: "
                f"{', '.join(self._pipeline.review.criteria)}"
                + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                + (f"; missing: {', '.join(missing)}" if missing else "")
            )
        for criterion, rating in scorecard.ratings.items():
            if not 1 <= rating <= 5:
                raise invalid(f"rating for '{criterion}' must be between 1 and 5, got {rating}")

    @workflow.update
    async def decide(self, decision: DecisionInput) -> ApplicationState:
        self._check_decision(decision)
        self._decision = decision
        final = Status.approved if decision.decision == Decision.approve else Status.rejected
        self._stage = "closed"
        await workflow.execute_activity(
            "save_decision",
            SaveDecision(self._input.application_id, decision, workflow.now()),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        await self._record_status(final, "closed")
        self._decision_saved = True
        return self.state()

    @decide.validator
    def _validate_decision(self, decision: DecisionInput) -> None:
        self._check_decision(decision)

    def _check_decision(self, decision: DecisionInput) -> None:
        if self._decision is not None:
            raise conflict(f"a decision has already been made: {self._decision.decision}")
        if self._status != Status.awaiting_decision or self._withdrawal is not None:
            raise conflict(
                f"the application is {self._status}; a decision is possible only once it is "
                "awaiting_decision (after review)"
            )
        if decision.decision not in set(Decision):
            raise invalid(f"decision must be approve or reject, got '{decision.decision}'")

    @workflow.update
    async def withdraw(self, withdrawal: WithdrawInput) -> ApplicationState:
        self._check_withdrawal()
        self._withdrawal = withdrawal
        self._stage = "closed"
        await self._record_status(Status.withdrawn, "closed")
        return self.state()

    @withdraw.validator
    def _validate_withdrawal(self, withdrawal: WithdrawInput) -> None:
        self._check_withdrawal()

    def _check_withdrawal(self) -> None:
        if self._status.is_final or self._withdrawal is not None or self._decision is not None:
            raise conflict(f"the application is already {self._status}")

    # ----------------------------------------------------------------------------------- effects

    async def _record_status(self, status: Status, stage: str) -> None:
        self._status = status
        self._stage = stage
        await workflow.execute_activity(
            "record_status",
            StatusChange(self._input.application_id, str(status), stage, workflow.now(), self._deadline),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )

    async def _email(self, key: str, template: str, **extra: str) -> None:
        request = EmailRequest(self._input.application_id, key, template, self._deadline, dict(extra))
        try:
            await workflow.execute_activity(
                "send_email",
                request,
                result_type=EmailResult,
                start_to_close_timeout=EMAIL_TIMEOUT,
                retry_policy=EMAIL_RETRY,
            )
        except ActivityError as error:
            # A permanently refused address must not stop the application; it is recorded instead.
            workflow.logger.warning("email %s could not be delivered: %s", key, error.cause)
            self._emails_failed.append(key)


__all__ = ["ApplicationWorkflow"]
