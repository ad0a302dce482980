"""What every stage of the application workflow shares: its state, waiting, status, email and
database calls, the check-in rhythm and how an application ends with a decision.

Deterministic code only. Time comes from ``workflow.now()``, waiting from durable timers, and every
side effect (database, email, custom stages) from an activity called by name, so this package never
imports SQLModel, SMTP or the API.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from offhours.contracts import (
        CONFLICT,
        INVALID,
        ApplicationInput,
        ApplicationState,
        DecisionInput,
        EmailRequest,
        SaveDecision,
        StatusChange,
        WithdrawInput,
    )
    from offhours.states import ApplicationStatus, Decision
    from pipelines.base import pipeline_from_snapshot
    from pipelines.stages import CANDIDATE_STAGES
    from pipelines.stages import Decision as DecisionStage

from workflows.emails import send_email

from .state import (
    AssessmentState,
    DecisionState,
    ExtensionState,
    FeedbackState,
    InterviewState,
    InviteState,
    OnboardingState,
    ReviewState,
    SchedulingState,
)

Status = ApplicationStatus

# Database writes: short, retried until the database is back (a lost write would lose the read model).
DB_TIMEOUT = timedelta(seconds=30)
DB_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))

ACCEPTS_ANSWERS = (Status.invited, Status.in_progress)


def conflict(message: str) -> ApplicationError:
    return ApplicationError(message, type=CONFLICT, non_retryable=True)


def invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type=INVALID, non_retryable=True)


class Closed(Exception):
    """Raised inside a stage when the application has ended (withdrawn, expired, rejected)."""


class ApplicationBase:
    """State and helpers of one application. Stage mixins build on this; the workflow class
    composes them."""

    def __init__(self, input: ApplicationInput) -> None:
        self._input = input
        self._pipeline = pipeline_from_snapshot(input.pipeline)
        self._status = Status.invited
        self._stage = self._pipeline.stages[0].id
        self._stage_kind = "invite"
        self._deadline: datetime | None = None
        self._opened_at: datetime | None = None
        self._saving = 0  # answers or a submission being written right now
        self._next_check_in: datetime | None = None
        self._withdrawal: WithdrawInput | None = None
        self._outcome: str | None = None
        self._invite = InviteState()
        self._extensions = ExtensionState()
        self._interview = InterviewState()
        self._assessment = AssessmentState()
        self._review = ReviewState()
        self._decision = DecisionState()
        self._scheduling = SchedulingState()
        self._feedback = FeedbackState()
        self._onboarding = OnboardingState()

    def state(self) -> ApplicationState:
        """What the application looks like now: answered by the workflow class (its "state" query)."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------- where we are

    def _closed(self) -> bool:
        return self._withdrawal is not None

    def _index(self, stage_id: str) -> int:
        return next(i for i, s in enumerate(self._pipeline.stages) if s.id == stage_id)

    def _last_stage(self) -> bool:
        return self._pipeline.stages[-1].id == self._stage

    def _active_candidate_stage(self) -> object | None:
        """The candidate's current task: the first interview or assessment not yet done. Derived from
        what is done rather than from the main loop's position, which an update can overtake."""
        done = self._interview.done | self._assessment.done
        return next(
            (s for s in self._pipeline.stages if s.kind in CANDIDATE_STAGES and s.id not in done), None
        )

    def _candidate_phase_over(self) -> bool:
        kinds = [s for s in self._pipeline.stages if s.kind in CANDIDATE_STAGES]
        done = self._interview.done | self._assessment.done
        return all(s.id in done for s in kinds) or self._status.is_final or self._closed()

    def _is_last_candidate_stage(self, stage_id: str) -> bool:
        ids = [s.id for s in self._pipeline.stages if s.kind in CANDIDATE_STAGES]
        return ids[-1] == stage_id

    # ------------------------------------------------------------------------------------ waiting

    async def _wait(self, condition: Callable[[], bool], until: datetime | None = None) -> bool:
        """Wait until `condition` holds (True) or the durable timer reaches `until` (False). Raises
        Closed as soon as the application is withdrawn."""
        check = lambda: condition() or self._closed()  # noqa: E731
        if until is None:
            await workflow.wait_condition(check)
        else:
            remaining = (until - workflow.now()).total_seconds()
            if remaining > 0:
                with suppress(TimeoutError):
                    await workflow.wait_condition(check, timeout=remaining)
        if self._closed():
            raise Closed
        return condition()

    async def _wait_for_candidate(self, condition: Callable[[], bool]) -> None:
        """Wait for the candidate until the invite deadline, which an extension may move. At the
        deadline the application expires (an answer being saved right then is let finish)."""
        while True:
            deadline = self._deadline
            assert deadline is not None
            if await self._wait(lambda d=deadline: condition() or self._deadline != d, deadline):  # type: ignore[misc]
                if condition():
                    return
                continue  # the deadline moved; wait again
            if self._deadline != deadline:
                continue
            await workflow.wait_condition(lambda: self._saving == 0)
            if condition():
                return
            self._extensions.pending = None
            await self._record_status(Status.expired, "closed")
            await self._email("expired", "expired")
            raise Closed

    # ------------------------------------------------------------------------------------ check-ins

    @asynccontextmanager
    async def _checking_in(self, stage_id: str) -> AsyncIterator[None]:
        """While the candidate waits on the company longer than promised, send updates. The wait
        runs on across consecutive company stages (review, then decision) until the candidate hears
        news (a decision, slots, feedback), so the rhythm does not restart at each stage."""
        rule = self._pipeline.check_in
        if rule is None:
            yield
            return
        if self._next_check_in is None:
            self._next_check_in = workflow.now() + timedelta(seconds=rule.promised_response)
        stop = False

        async def keep_in_touch() -> None:
            count = 0
            while True:
                assert self._next_check_in is not None
                remaining = max((self._next_check_in - workflow.now()).total_seconds(), 0.001)
                try:
                    await workflow.wait_condition(lambda: stop, timeout=remaining)
                    return
                except TimeoutError:
                    pass
                count += 1
                expect_by = workflow.now() + timedelta(seconds=rule.every)
                await self._email(f"check-in-{stage_id}-{count}", "check_in", expect_by=expect_by.isoformat())
                self._next_check_in = workflow.now() + timedelta(seconds=rule.every)

        task = asyncio.create_task(keep_in_touch())
        try:
            yield
        finally:
            stop = True
            await task

    def _candidate_heard_news(self) -> None:
        """The company answered: the promised response time starts again from the next wait."""
        self._next_check_in = None

    # ------------------------------------------------------------------------------------ ending

    async def _conclude(
        self, decision: DecisionInput, stage: DecisionStage | None = None, *, send_email: bool = True
    ) -> None:
        """Record a final decision (from people, a threshold or a custom stage); unless the decision
        stage sends it itself, tell the candidate."""
        self._decision.made = decision
        final = Status.approved if decision.decision == Decision.approve else Status.rejected
        self._outcome = final
        await self._db("save_decision", SaveDecision(self._input.application_id, decision, workflow.now()))
        await self._record_status(final, "closed" if final == Status.rejected or self._last_stage() else None)
        self._decision.saved = True
        if send_email:
            await self._send_decision_email(stage, decision)

    async def _send_decision_email(self, stage: DecisionStage | None, decision: DecisionInput) -> None:
        self._candidate_heard_news()
        template = "approved" if decision.decision == Decision.approve else "rejected"
        if stage is not None and decision.reason_code:
            template = next(r.template for r in stage.reason_codes if r.code == decision.reason_code)
        await self._email("decision", template)

    # ------------------------------------------------------------------------------------ effects

    async def _db(self, activity: str, argument: object) -> None:
        """A write to the read model: short, retried until the database is back."""
        await workflow.execute_activity(
            activity, argument, start_to_close_timeout=DB_TIMEOUT, retry_policy=DB_RETRY
        )

    async def _record_status(self, status: Status, stage_id: str | None = None) -> None:
        if self._status.is_final and not status.is_final:
            return  # an application that has ended stays ended, whatever a stage still in flight says
        self._status = status
        if stage_id is not None:
            self._stage = stage_id
        await self._db(
            "record_status",
            StatusChange(
                self._input.application_id, str(status), self._stage, workflow.now(), self._deadline
            ),
        )

    async def _email(
        self,
        key: str,
        template: str,
        *,
        to_staff: str | None = None,
        attach_ics: bool = False,
        details: dict[str, str] | None = None,
        **extra: str,
    ) -> None:
        request = EmailRequest(
            self._input.application_id,
            key,
            template,
            self._deadline,
            {**(details or {}), **extra},
            to_staff,
            attach_ics,
        )
        await send_email(request)
