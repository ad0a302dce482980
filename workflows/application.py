"""One workflow per application: it runs the stages of the pipeline the candidate started under.

Deterministic code only. Time comes from ``workflow.now()``, waiting from durable timers, and every
side effect (database, email, custom stages) from an activity called by name, so this module never
imports SQLModel, SMTP or the API. Stage logic that computes (grading, scores, feedback) lives in
``pipelines.scoring`` as pure functions.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from offhours import ids
    from offhours.contracts import (
        CONFLICT,
        INVALID,
        AnswerInput,
        ApplicationInput,
        ApplicationState,
        AssessmentAnswerInput,
        AssignReviewers,
        ConsentInput,
        CustomStageInput,
        DeadlineExtension,
        DecisionInput,
        EmailRequest,
        EmailResult,
        ExtensionDecision,
        ExtensionRequest,
        FeedbackRelease,
        LinkOpened,
        ModuleCompletion,
        OpenQuestion,
        PortalState,
        QuestionTake,
        ReleaseAssignment,
        RetentionNotice,
        ReviewTaskInput,
        SaveAnswer,
        SaveAssessment,
        SaveBooking,
        SaveConsent,
        SaveDecision,
        SaveFeedback,
        SaveModuleProgress,
        SaveScore,
        SaveScorecard,
        ScorecardInput,
        SlotOffer,
        SlotPick,
        StatusChange,
        WithdrawInput,
    )
    from offhours.durations import in_words
    from offhours.states import ApplicationStatus, Decision, Recommendation
    from pipelines.base import pipeline_from_snapshot
    from pipelines.scoring import build_feedback, combined_score, grade
    from pipelines.stages import (
        CANDIDATE_STAGES,
        RECORDED,
        Assessment,
        Custom,
        Feedback,
        Interview,
        Onboarding,
        Question,
        Review,
        Scheduling,
    )
    from pipelines.stages import Decision as DecisionStage
    from workflows.review_task import ReviewTaskWorkflow

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
# A timed answer may arrive this long after its limit: the upload of a recording takes a while.
ANSWER_GRACE = timedelta(seconds=60)
# A recording may last this much longer than its limit: browsers stop a fraction late, encoders round.
DURATION_TOLERANCE_SECONDS = 2.0
# At most this much of an upload's transfer time is forgiven (a slow connection, a large recording),
# and no more than its size explains at a slow mobile rate plus a fixed latency.
MAX_UPLOAD_CREDIT_SECONDS = 600.0
UPLOAD_MIN_BYTES_PER_SECOND = 32 * 1024
UPLOAD_LATENCY_SECONDS = 15.0


def conflict(message: str) -> ApplicationError:
    return ApplicationError(message, type=CONFLICT, non_retryable=True)


def invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type=INVALID, non_retryable=True)


class Closed(Exception):
    """Raised inside a stage when the application has ended (withdrawn, expired, rejected)."""


@workflow.defn(name="Application")
class ApplicationWorkflow:
    @workflow.init
    def __init__(self, input: ApplicationInput) -> None:
        self._input = input
        self._pipeline = pipeline_from_snapshot(input.pipeline)
        self._status = Status.invited
        self._stage = self._pipeline.stages[0].id
        self._stage_kind = "invite"
        self._invited_at: datetime | None = None
        self._deadline: datetime | None = None
        self._opened_at: datetime | None = None
        self._saving = 0  # answers or a submission being written right now
        # interview
        self._answers: dict[str, AnswerInput] = {}
        self._takes: dict[str, int] = {}
        self._interview_done: set[str] = set()
        self._reminders_sent: list[str] = []
        self._consent_at: datetime | None = None
        self._opened: dict[str, list[datetime]] = {}  # when each take of a question was opened
        self._answered_take: dict[str, int] = {}  # which take each saved answer came from
        self._saving_takes: dict[str, int] = {}  # recordings being written right now, per question
        # extensions
        self._extended = 0
        self._extension_requests = 0  # numbers each request's messages, granted or not
        self._pending_extension: ExtensionRequest | None = None
        # assessment
        self._assessment_started: dict[str, datetime] = {}
        self._assessment_answers: dict[str, dict[str, str]] = {}
        self._assessment_done: set[str] = set()
        self._assessment_score: float | None = None
        self._assessment_passed: bool | None = None
        # review
        self._assigned: dict[str, str] = {}  # reviewer -> child workflow id, open assignments
        self._reviewers_seen: list[str] = []
        self._task_seq = 0
        self._review_tasks: dict[str, workflow.ChildWorkflowHandle[Any, str]] = {}
        self._starting = 0  # review tasks whose start has not been confirmed yet
        self._assigning = asyncio.Lock()  # reassignments one at a time: never the same person twice
        self._scorecards: dict[str, ScorecardInput] = {}
        self._reviewing: set[str] = set()
        self._combined: float | None = None
        self._reviews_done: set[str] = set()
        self._auto_decision: str | None = None
        # decision
        self._votes: dict[str, DecisionInput] = {}
        self._deciding = False
        self._decision: DecisionInput | None = None
        self._decision_saved = False  # the decision email waits until the decision is stored
        # scheduling
        self._slots: list[datetime] = []
        self._booked: datetime | None = None
        # feedback
        self._feedback_held = False
        self._feedback_release: FeedbackRelease | None = None
        # check-ins
        self._next_check_in: datetime | None = None
        # onboarding
        self._modules_done: set[str] = set()
        # ending
        self._withdrawal: WithdrawInput | None = None
        self._outcome: str | None = None
        self._emails_failed: list[str] = []

    # =================================================================================== main path

    @workflow.run
    async def run(self, input: ApplicationInput) -> ApplicationState:
        try:
            for stage in self._pipeline.stages:
                if self._outcome == Status.rejected and not isinstance(stage, Feedback):
                    continue  # after a rejection only feedback still goes out
                self._stage = stage.id
                self._stage_kind = stage.kind
                runner: Callable[..., object] = getattr(self, f"_run_{stage.kind}")
                await runner(stage)  # type: ignore[misc]
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
            await workflow.execute_activity(
                "schedule_retention",
                RetentionNotice(self._input.application_id, workflow.now()),
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
            )
        return self.state()

    def _closed(self) -> bool:
        return self._withdrawal is not None

    async def _end_review_tasks(self) -> None:
        """No review task outlives its application: cancel those still open and wait for them."""
        await workflow.wait_condition(lambda: self._starting == 0)
        for child_id, handle in list(self._review_tasks.items()):
            await self._cancel_review_task(child_id, handle)
        await workflow.wait_condition(lambda: not self._review_tasks)

    async def _cancel_review_task(
        self, child_id: str, handle: workflow.ChildWorkflowHandle[Any, str]
    ) -> None:
        try:
            await handle.signal(ReviewTaskWorkflow.cancel)
        except Exception:  # it ended on its own meanwhile
            workflow.logger.info("review task %s had already ended", child_id)

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
            self._pending_extension = None
            await self._record_status(Status.expired, "closed")
            await self._email("expired", "expired")
            raise Closed

    # =================================================================================== invite

    async def _run_invite(self, stage: object) -> None:
        invite = self._pipeline.invite
        self._invited_at = workflow.now()
        self._deadline = self._invited_at + timedelta(seconds=invite.deadline)
        await self._record_status(Status.invited, stage_id=invite.id)
        await self._email("invite", "invite")
        self._reminder_task = asyncio.create_task(self._remind_candidate())

    def _candidate_phase_over(self) -> bool:
        kinds = [s for s in self._pipeline.stages if s.kind in CANDIDATE_STAGES]
        done = self._interview_done | self._assessment_done
        return all(s.id in done for s in kinds) or self._status.is_final or self._closed()

    async def _remind_candidate(self) -> None:
        """Reminders while the candidate has not finished: before the (possibly extended) deadline
        and after the invitation. Each reminder goes out at most once."""
        reminders = self._pipeline.invite.reminders
        assert self._invited_at is not None
        while not self._candidate_phase_over():
            deadline = self._deadline
            assert deadline is not None
            now = workflow.now()
            due: list[tuple[datetime, str, int]] = []
            for offset in reminders.before_deadline:
                due.append((deadline - timedelta(seconds=offset), f"reminder-{offset}", offset))
            for offset in reminders.after_invite:
                at = self._invited_at + timedelta(seconds=offset)
                due.append((at, f"reminder-after-{offset}", int((deadline - at).total_seconds())))
            upcoming = sorted(d for d in due if d[1] not in self._reminders_sent and d[0] > now)
            if not upcoming:
                await workflow.wait_condition(
                    lambda d=deadline: self._candidate_phase_over() or self._deadline != d  # type: ignore[misc]
                )
                continue
            at, key, left = upcoming[0]
            try:
                await workflow.wait_condition(
                    lambda d=deadline: self._candidate_phase_over() or self._deadline != d,  # type: ignore[misc]
                    timeout=(at - now).total_seconds(),
                )
                continue  # finished, or the deadline moved: recompute
            except TimeoutError:
                pass
            await self._email(key, "reminder", time_left=in_words(max(left, 0)))
            self._reminders_sent.append(key)

    # ---------------------------------------------------------------------------- extensions

    @workflow.update(name="request_extension")
    async def request_extension(self, request: ExtensionRequest) -> ApplicationState:
        self._check_extension_request(request)
        self._extension_requests += 1
        rules = self._pipeline.invite.extensions
        if self._extended + request.seconds <= rules.auto_grant:
            await self._grant(request.seconds, decided_by="auto")
        else:
            self._pending_extension = request
            contact = self._pipeline.contact
            if contact:
                await self._email(
                    f"extension-request-{self._extension_requests}",
                    "extension_requested",
                    to_staff=contact,
                    requested=in_words(request.seconds),
                    reason=request.reason or "",
                    reason_id=request.reason_id or "",
                )
        return self.state()

    @request_extension.validator
    def _validate_extension_request(self, request: ExtensionRequest) -> None:
        self._check_extension_request(request)

    def _check_extension_request(self, request: ExtensionRequest) -> None:
        if request.seconds <= 0:
            raise invalid("an extension must be a positive number of seconds")
        if self._candidate_phase_over() or self._status not in ACCEPTS_ANSWERS:
            raise conflict(f"the application is {self._status}; extensions apply before submitting")
        if self._deadline is not None and workflow.now() >= self._deadline:
            raise conflict("the deadline has already passed")
        if self._pending_extension is not None:
            raise conflict("an extension request is already waiting for the recruiter")
        rules = self._pipeline.invite.extensions
        if self._extended + request.seconds > rules.max_total:
            left = max(rules.max_total - self._extended, 0)
            raise conflict(
                f"this pipeline allows at most {in_words(rules.max_total)} of extensions in total; "
                f"{in_words(left) if left else 'none'} left"
            )

    @workflow.update(name="decide_extension")
    async def decide_extension(self, decision: ExtensionDecision) -> ApplicationState:
        if self._pending_extension is None:
            raise conflict("no extension request is waiting")
        request = self._pending_extension
        self._pending_extension = None
        if decision.grant:
            await self._grant(request.seconds, decided_by=decision.decided_by)
        else:
            await self._email(f"extension-refused-{self._extension_requests}", "extension_refused")
        return self.state()

    @decide_extension.validator
    def _validate_decide_extension(self, decision: ExtensionDecision) -> None:
        if self._pending_extension is None:
            raise conflict("no extension request is waiting")

    @workflow.update(name="extend_deadline")
    async def extend_deadline(self, extension: DeadlineExtension) -> ApplicationState:
        """A recruiter gives more time without being asked (or beyond what the pipeline lets a
        candidate ask for). A request still waiting is answered by it."""
        self._check_extend(extension)
        self._extension_requests += 1  # numbers the email, like a request's
        self._pending_extension = None
        await self._grant(extension.seconds, decided_by=extension.decided_by)
        return self.state()

    @extend_deadline.validator
    def _validate_extend(self, extension: DeadlineExtension) -> None:
        self._check_extend(extension)

    def _check_extend(self, extension: DeadlineExtension) -> None:
        if not 3600 <= extension.seconds <= 30 * 86400:
            raise invalid("extend by at least one hour and at most 30 days")
        if self._closed() or self._status not in ACCEPTS_ANSWERS or self._candidate_phase_over():
            raise conflict(f"the application is {self._status}: there is no candidate deadline to extend")

    async def _grant(self, seconds: int, decided_by: str) -> None:
        assert self._deadline is not None
        self._extended += seconds
        self._deadline = self._deadline + timedelta(seconds=seconds)
        await self._record_status(self._status)
        await self._email(
            f"extension-granted-{self._extension_requests}", "extension_granted", decided_by=decided_by
        )

    # =================================================================================== interview

    async def _run_interview(self, stage: Interview) -> None:
        await self._wait_for_candidate(lambda: stage.id in self._interview_done)
        if self._is_last_candidate_stage(stage.id):
            await self._email("submitted", "submitted")

    @workflow.update(name="save_answer")
    async def save_answer(self, answer: AnswerInput) -> ApplicationState:
        self._check_answer(answer)
        self._saving += 1
        question_id = answer.question_id
        # Claimed before the write, so that a second upload arriving meanwhile finds the take used
        # (state only, no command: histories recorded before this replay the same).
        if question_id in self._opened:
            self._answered_take[question_id] = len(self._opened[question_id])
        self._saving_takes[question_id] = self._saving_takes.get(question_id, 0) + 1
        try:
            await workflow.execute_activity(
                "save_answer",
                SaveAnswer(self._input.application_id, answer, workflow.now()),
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
            )
            self._answers[answer.question_id] = answer
            question = self._pipeline.question(answer.question_id)
            if question is not None and question.type in RECORDED:
                self._takes[answer.question_id] = self._takes.get(answer.question_id, 0) + 1
            if self._status == Status.invited:
                await self._record_status(Status.in_progress)
        finally:
            self._saving -= 1
            self._saving_takes[question_id] -= 1
        return self.state()

    @save_answer.validator
    def _validate_answer(self, answer: AnswerInput) -> None:
        self._check_answer(answer)
        self._check_answer_limits(answer)

    def _check_answer_limits(self, answer: AnswerInput) -> None:
        """Consent, time limits and takes, which the browser also enforces but cannot be trusted
        with. Validator only: validators do not run on replay, so histories recorded before these
        rules existed replay unchanged."""
        question = self._pipeline.question(answer.question_id)
        assert question is not None  # _check_answer has refused unknown questions
        if question.type in RECORDED and self._consent_at is None:
            raise conflict("give your consent to recording before sending a recorded answer")
        allowed = question.takes_allowed
        in_flight = self._takes.get(question.id, 0) + self._saving_takes.get(question.id, 0)
        if question.type in RECORDED and allowed is not None and in_flight >= allowed:
            raise conflict(f"question '{question.id}' allows {allowed} take(s); none left")
        limit = question.answer_time_limit
        duration = answer.duration_seconds or 0.0
        if question.type in RECORDED and limit is not None and duration > limit + DURATION_TOLERANCE_SECONDS:
            raise conflict(f"the recording lasts {duration:.0f} s; question '{question.id}' allows {limit} s")
        if not question.timed:
            return
        # Judged at the moment the upload began: its transfer time (measured by the API) is forgiven,
        # but only as much as the bytes sent explain, so a slow trickle does not buy answering time.
        plausible = (answer.size or 0) / UPLOAD_MIN_BYTES_PER_SECOND + UPLOAD_LATENCY_SECONDS
        credit = min(max(answer.upload_seconds or 0.0, 0.0), plausible, MAX_UPLOAD_CREDIT_SECONDS)
        at = workflow.now() - timedelta(seconds=credit)
        if not self._opened.get(question.id):
            raise conflict(f"open question '{question.id}' first: its clock starts when you see it")
        take = self._open_take(question, at)
        if take is None:
            raise conflict(
                f"the time for question '{question.id}' has run out and no take is left; "
                "you can still answer the other questions"
            )
        # The recording must have started by the end of the thinking time (a minute allowed to watch
        # the take back before sending it): thinking longer does not come out of the answer time.
        if question.type in RECORDED and take.think_ends_at is not None:
            started = at - timedelta(seconds=duration)
            if started > take.think_ends_at + ANSWER_GRACE:
                raise conflict(
                    f"the recording for question '{question.id}' started after its thinking time ended"
                )

    def _open_take(
        self, question: Question, at: datetime, grace: timedelta = ANSWER_GRACE
    ) -> QuestionTake | None:
        """The question's latest take if it is still open at `at`: opened and in time (plus `grace`),
        and for a recording not yet saved (one upload per take; a written answer can be corrected in
        time)."""
        opened = self._opened.get(question.id, [])
        if not opened:
            return None
        if question.type in RECORDED and self._answered_take.get(question.id) == len(opened):
            return None
        take = _take(question, len(opened), opened[-1], question.takes_allowed)
        if take.answer_ends_at is not None and at > take.answer_ends_at + grace:
            return None
        return take

    @workflow.update(name="open_question")
    async def open_question(self, request: OpenQuestion) -> QuestionTake:
        """The candidate sees a question. For a timed or recorded question this starts a take (its
        clock runs from now); opening it again while that take is open returns the same take."""
        question = self._check_open(request)
        now = workflow.now()
        current = self._open_take(question, now, grace=timedelta(0))  # over: a new take begins
        if current is not None:
            return current
        if not (question.timed or question.type in RECORDED):
            return _take(question, 0, now, None)
        self._opened.setdefault(question.id, []).append(now)
        return _take(question, len(self._opened[question.id]), now, question.takes_allowed)

    @open_question.validator
    def _validate_open(self, request: OpenQuestion) -> None:
        self._check_open(request)

    def _check_open(self, request: OpenQuestion) -> Question:
        self._check_accepting()
        question = self._interview_question(request.question_id)
        if question.type in RECORDED and self._consent_at is None:
            raise conflict("give your consent to recording before opening a recorded question")
        if self._open_take(question, workflow.now(), grace=timedelta(0)) is not None:
            return question
        allowed = question.takes_allowed
        if allowed is not None and self._takes_used(question.id) >= allowed:
            raise conflict(f"question '{question.id}' allows {allowed} take(s); none left")
        return question

    def _takes_used(self, question_id: str) -> int:
        """Takes opened, or saved without opening (untimed answers sent straight to the API)."""
        return max(len(self._opened.get(question_id, [])), self._takes.get(question_id, 0))

    @workflow.update(name="give_consent")
    async def give_consent(self, consent: ConsentInput) -> ApplicationState:
        """The candidate agrees to be recorded. The first consent counts; repeating it changes nothing."""
        self._check_accepting()
        if self._consent_at is None:
            self._consent_at = workflow.now()
            await workflow.execute_activity(
                "record_consent",
                SaveConsent(self._input.application_id, consent.version, self._consent_at),
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
            )
        return self.state()

    @give_consent.validator
    def _validate_consent(self, consent: ConsentInput) -> None:
        self._check_accepting()
        if not consent.version:
            raise invalid("the consent must name the version of the wording the candidate saw")

    def _interview_question(self, question_id: str) -> Question:
        interview = self._current_interview()
        if interview is None:
            raise conflict("the interview is done; there is no interview question to answer now")
        question = next((q for q in interview.questions if q.id == question_id), None)
        if question is None:
            known = ", ".join(q.id for q in interview.questions)
            raise invalid(f"unknown question_id '{question_id}'; this interview asks: {known}")
        return question

    def _active_candidate_stage(self) -> object | None:
        """The candidate's current task: the first interview or assessment not yet done. Derived from
        what is done rather than from the main loop's position, which an update can overtake."""
        done = self._interview_done | self._assessment_done
        return next(
            (s for s in self._pipeline.stages if s.kind in CANDIDATE_STAGES and s.id not in done), None
        )

    def _current_interview(self) -> Interview | None:
        stage = self._active_candidate_stage()
        return stage if isinstance(stage, Interview) else None

    def _check_answer(self, answer: AnswerInput) -> None:
        self._check_accepting()
        question = self._interview_question(answer.question_id)
        uploaded = question.type in ("file", *RECORDED)
        if uploaded != (answer.kind == "file"):
            wanted = "an uploaded file or recording" if uploaded else f"a {question.type} answer as text"
            raise invalid(f"question '{question.id}' takes {wanted}")
        if question.type == "text" and answer.text_id is not None:
            # Stored by reference (the API checked the text; the workflow keeps its digest and length).
            if not answer.text_sha256 or not answer.text_length:
                raise invalid(f"question '{question.id}' needs a non-empty answer")
            if answer.text_length > question.max_length:
                raise invalid(f"answer to '{question.id}' exceeds {question.max_length} characters")
        elif question.type in ("text", "choice"):
            if not answer.text or not answer.text.strip():
                raise invalid(f"question '{question.id}' needs a non-empty answer")
            if len(answer.text) > question.max_length:
                raise invalid(f"answer to '{question.id}' exceeds {question.max_length} characters")
            if question.type == "choice" and answer.text not in question.choices:
                raise invalid(f"answer to '{question.id}' must be one of: {', '.join(question.choices)}")
        elif not answer.file_sha256:
            raise invalid(f"question '{question.id}' needs a file")
        if question.max_bytes is not None and (answer.size or 0) > question.max_bytes:
            raise invalid(f"question '{question.id}' accepts files up to {question.max_bytes} bytes")
        allowed = question.takes_allowed
        if question.type in RECORDED and allowed is not None and self._takes.get(question.id, 0) >= allowed:
            raise conflict(f"question '{question.id}' allows {allowed} take(s); none left")

    def _check_accepting(self) -> None:
        if self._closed() or self._status not in ACCEPTS_ANSWERS:
            raise conflict(f"the application is {self._status} and takes no more answers")
        if self._active_candidate_stage() is None:
            raise conflict("the application has already been submitted")
        if self._deadline is not None and workflow.now() >= self._deadline:
            raise conflict(f"the deadline ({self._deadline.isoformat()}) has passed")

    @workflow.update(name="submit")
    async def submit(self) -> ApplicationState:
        self._check_submittable()
        interview = self._current_interview()
        assert interview is not None
        self._saving += 1
        try:
            if self._is_last_candidate_stage(interview.id):
                await self._record_status(Status.submitted, stage_id=interview.id)
            self._interview_done.add(interview.id)
        finally:
            self._saving -= 1
        return self.state()

    @submit.validator
    def _validate_submit(self) -> None:
        self._check_submittable()

    def _check_submittable(self) -> None:
        self._check_accepting()
        interview = self._current_interview()
        if interview is None:
            raise conflict("the interview has already been submitted")
        if self._saving:
            raise conflict("an answer or submission is being saved; try again in a moment")
        missing = [q.id for q in interview.questions if q.required and q.id not in self._answers]
        if missing:
            raise conflict(f"answer every required question before submitting; missing: {', '.join(missing)}")

    def _is_last_candidate_stage(self, stage_id: str) -> bool:
        ids = [s.id for s in self._pipeline.stages if s.kind in CANDIDATE_STAGES]
        return ids[-1] == stage_id

    # =================================================================================== assessment

    async def _run_assessment(self, stage: Assessment) -> None:
        if self._status == Status.invited:
            await self._record_status(Status.in_progress)
        else:
            await self._record_status(self._status)
        await self._wait_for_candidate(lambda: stage.id in self._assessment_started)
        ends_at = self._assessment_started[stage.id] + timedelta(seconds=stage.time_limit)
        if not await self._wait(lambda: stage.id in self._assessment_done, ends_at):
            self._assessment_done.add(stage.id)  # time is up: what was answered counts
        answers = dict(self._assessment_answers.get(stage.id, {}))
        result = grade(stage, answers)
        self._assessment_score = round(result.share, 4)
        self._assessment_passed = result.passed
        await workflow.execute_activity(
            "save_assessment",
            SaveAssessment(
                self._input.application_id,
                stage.id,
                answers,
                result.points,
                result.max_points,
                result.passed,
                self._assessment_started[stage.id],
                workflow.now(),
            ),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        if not result.passed and stage.on_fail == "reject":
            self._outcome = Status.rejected
            await self._record_status(Status.rejected, "closed")
            await self._email("assessment-failed", "assessment_failed")
            raise Closed
        if self._is_last_candidate_stage(stage.id):
            await self._record_status(Status.submitted)
            await self._email("submitted", "submitted")

    def _current_assessment(self) -> Assessment | None:
        stage = self._active_candidate_stage()
        return stage if isinstance(stage, Assessment) else None

    def _open_assessment(self, must_be_started: bool) -> Assessment:
        self._check_accepting_assessment()
        stage = self._current_assessment()
        if stage is None:
            raise conflict("there is no assessment to take now; finish the interview first")
        started = self._assessment_started.get(stage.id)
        if must_be_started:
            if started is None:
                raise conflict("start the assessment first")
            if workflow.now() >= started + timedelta(seconds=stage.time_limit):
                raise conflict("the assessment's time limit has passed")
        elif started is not None:
            raise conflict("the assessment has already been started")
        return stage

    def _check_accepting_assessment(self) -> None:
        if self._closed() or self._status not in ACCEPTS_ANSWERS:
            raise conflict(f"the application is {self._status} and takes no more answers")

    @workflow.update(name="start_assessment")
    async def start_assessment(self) -> ApplicationState:
        stage = self._open_assessment(must_be_started=False)
        if self._deadline is not None and workflow.now() >= self._deadline:
            raise conflict(f"the deadline ({self._deadline.isoformat()}) has passed")
        self._assessment_started[stage.id] = workflow.now()
        self._assessment_answers[stage.id] = {}
        return self.state()

    @start_assessment.validator
    def _validate_start_assessment(self) -> None:
        self._open_assessment(must_be_started=False)
        if self._deadline is not None and workflow.now() >= self._deadline:
            raise conflict(f"the deadline ({self._deadline.isoformat()}) has passed")

    @workflow.update(name="save_assessment_answer")
    async def save_assessment_answer(self, answer: AssessmentAnswerInput) -> ApplicationState:
        stage = self._check_assessment_answer(answer)
        self._assessment_answers[stage.id][answer.question_id] = answer.value
        return self.state()

    @save_assessment_answer.validator
    def _validate_assessment_answer(self, answer: AssessmentAnswerInput) -> None:
        self._check_assessment_answer(answer)

    def _check_assessment_answer(self, answer: AssessmentAnswerInput) -> Assessment:
        stage = self._open_assessment(must_be_started=True)
        if not any(q.id == answer.question_id for q in stage.questions):
            known = ", ".join(q.id for q in stage.questions)
            raise invalid(f"unknown question_id '{answer.question_id}'; this assessment asks: {known}")
        if not answer.value.strip() or len(answer.value) > 1000:
            raise invalid("an assessment answer must be between 1 and 1000 characters")
        return stage

    @workflow.update(name="submit_assessment")
    async def submit_assessment(self) -> ApplicationState:
        stage = self._open_assessment(must_be_started=True)
        self._assessment_done.add(stage.id)
        return self.state()

    @submit_assessment.validator
    def _validate_submit_assessment(self) -> None:
        self._open_assessment(must_be_started=True)

    # =================================================================================== review

    async def _run_review(self, stage: Review) -> None:
        async with self._checking_in(stage.id):
            chosen = await self._assign(stage, stage.reviewers)
            tasks = [asyncio.create_task(self._review_task(stage, reviewer)) for reviewer in chosen]
            # Scorecards are taken once every reviewer's task has started.
            await self._wait(lambda: all(r in self._assigned for r in chosen))
            await self._record_status(Status.in_review, stage_id=stage.id)
            await self._wait(lambda: len(self._scorecards) >= stage.reviewers)
            await asyncio.gather(*tasks)
        cards = [self._scorecards[r].ratings for r in sorted(self._scorecards)]
        self._combined = combined_score(stage, cards)
        await workflow.execute_activity(
            "save_score",
            SaveScore(self._input.application_id, self._combined, workflow.now()),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        if stage.auto_reject_below is not None and self._combined < stage.auto_reject_below:
            await self._conclude(DecisionInput("reject", "system:auto-reject", None, None, None))
        elif stage.auto_advance_at is not None and self._combined >= stage.auto_advance_at:
            self._auto_decision = "approve"
        else:
            # Straight into a decision: one write names both the status and the stage. Any other
            # stage that follows records its own.
            following = self._pipeline.stages[self._index(stage.id) + 1 :]
            if following and isinstance(following[0], DecisionStage):
                await self._record_status(Status.awaiting_decision, stage_id=following[0].id)
        self._reviews_done.add(stage.id)

    async def _assign(self, stage: Review, count: int) -> list[str]:
        async with self._assigning:
            return await self._assign_locked(stage, count)

    async def _assign_locked(self, stage: Review, count: int) -> list[str]:
        chosen: list[str] = await workflow.execute_activity(
            "assign_reviewers",
            AssignReviewers(
                self._input.application_id,
                stage.id,
                stage.pool,
                count,
                list(self._reviewers_seen),
                workflow.now() + timedelta(seconds=stage.sla),
                workflow.now(),
            ),
            result_type=list[str],
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        self._reviewers_seen.extend(r for r in chosen if r not in self._reviewers_seen)
        return chosen

    async def _review_task(self, stage: Review, reviewer: str) -> None:
        """One reviewer's task as a child workflow. Overdue: reassigned to another pool member (the
        same one again when the pool has nobody else), up to max_reassignments; after that the
        assignment simply stays open."""
        reassignments = 0
        while not self._scored(reviewer) and not self._closed():
            self._task_seq += 1
            child_id = ids.review_task_workflow(self._input.application_id, stage.id, self._task_seq)
            self._starting += 1
            try:
                handle = await workflow.start_child_workflow(
                    ReviewTaskWorkflow.run,
                    ReviewTaskInput(
                        self._input.application_id, stage.id, reviewer, stage.sla, stage.reminder_before_sla
                    ),
                    id=child_id,
                )
            finally:
                self._starting -= 1
            self._assigned[reviewer] = child_id
            self._review_tasks[child_id] = handle
            if self._closed():  # the application ended while the task was starting
                await self._cancel_review_task(child_id, handle)
            try:
                outcome = await handle
            finally:
                self._review_tasks.pop(child_id, None)
            if outcome != "overdue" or self._scored(reviewer) or self._closed():
                return
            if reassignments >= stage.max_reassignments:
                return
            reassignments += 1
            # Decided in this same step: from here the overdue reviewer's scorecard is refused.
            self._assigned.pop(reviewer, None)
            replacement = await self._assign(stage, 1)
            if replacement:
                await workflow.execute_activity(
                    "release_assignment",
                    ReleaseAssignment(
                        self._input.application_id, stage.id, reviewer, "reassigned", workflow.now()
                    ),
                    start_to_close_timeout=DB_TIMEOUT,
                    retry_policy=DB_RETRY,
                )
                reviewer = replacement[0]

    def _scored(self, reviewer: str) -> bool:
        return reviewer in self._scorecards or reviewer in self._reviewing

    @workflow.update(name="submit_scorecard")
    async def submit_scorecard(self, scorecard: ScorecardInput) -> ApplicationState:
        reviewer = self._check_scorecard(scorecard)
        review = self._current_review()
        assert review is not None
        card = ScorecardInput(
            reviewer,
            scorecard.overall_recommendation,
            scorecard.ratings,
            scorecard.notes,
            scorecard.submitted_by,
            scorecard.notes_id,
            scorecard.notes_sha256,
        )
        self._reviewing.add(reviewer)
        await workflow.execute_activity(
            "save_scorecard",
            SaveScorecard(self._input.application_id, card, workflow.now(), self._stage),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        child = self._assigned.pop(reviewer, None)
        self._scorecards[reviewer] = card
        if child is not None:
            try:
                await workflow.get_external_workflow_handle(child).signal(ReviewTaskWorkflow.complete)
            except Exception:  # the task had already ended (overdue): the scorecard still counts
                workflow.logger.info("review task %s had already ended", child)
        if len(self._scorecards) >= review.reviewers:
            # The last scorecard: answer once the panel's score and what follows are settled.
            await workflow.wait_condition(lambda: review.id in self._reviews_done or self._closed())
        return self.state()

    @submit_scorecard.validator
    def _validate_scorecard(self, scorecard: ScorecardInput) -> None:
        self._check_scorecard(scorecard)

    def _current_review(self) -> Review | None:
        stage = next((s for s in self._pipeline.stages if s.id == self._stage), None)
        return stage if isinstance(stage, Review) else None

    def _check_scorecard(self, scorecard: ScorecardInput) -> str:
        review = self._current_review()
        if review is None or self._status != Status.in_review or self._closed():
            raise conflict(f"the application is {self._status}; it takes a scorecard only while in_review")
        open_assignments = sorted(r for r in self._assigned if r not in self._reviewing)
        reviewer = scorecard.reviewer
        if not reviewer:
            if len(open_assignments) != 1:
                listed = ", ".join(open_assignments) or "none"
                raise invalid(f"name the reviewer (reviewer_id); open assignments: {listed}")
            reviewer = open_assignments[0]
        if reviewer in self._scorecards or reviewer in self._reviewing:
            raise conflict(f"reviewer '{reviewer}' has already scored this application")
        if reviewer not in open_assignments:
            listed = ", ".join(open_assignments) or "none"
            raise conflict(f"reviewer '{reviewer}' has no open review of this application (open: {listed})")
        if scorecard.overall_recommendation not in set(Recommendation):
            raise invalid(f"unknown overall_recommendation '{scorecard.overall_recommendation}'")
        criteria = [c.id for c in review.criteria]
        unknown = sorted(set(scorecard.ratings) - set(criteria))
        missing = sorted(set(criteria) - set(scorecard.ratings))
        if unknown or missing:
            raise invalid(
                f"ratings must rate exactly these criteria: {', '.join(criteria)}"
                + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                + (f"; missing: {', '.join(missing)}" if missing else "")
            )
        for criterion, rating in scorecard.ratings.items():
            if not 1 <= rating <= 5:
                raise invalid(f"rating for '{criterion}' must be between 1 and 5, got {rating}")
        return reviewer

    # =================================================================================== decision

    async def _run_decision(self, stage: DecisionStage) -> None:
        if self._auto_decision is not None:
            code = next(r.code for r in stage.reason_codes if r.decision == self._auto_decision)
            auto = DecisionInput(self._auto_decision, "system:auto-advance", None, code, None)
            self._auto_decision = None
            await self._conclude(auto, stage)
            return
        if self._status != Status.awaiting_decision or self._stage != stage.id:
            await self._record_status(Status.awaiting_decision, stage_id=stage.id)
        async with self._checking_in(stage.id):
            waiting_since = workflow.now()
            if stage.sla is not None:
                remind_at = waiting_since + timedelta(seconds=stage.sla - stage.reminder_before_sla)
                if not await self._wait(lambda: self._decision_saved, remind_at):
                    for person in self._pending_approvers(stage):
                        await self._email(
                            f"decision-reminder-{stage.id}-{person}", "decision_reminder", to_staff=person
                        )
                    escalate_at = waiting_since + timedelta(seconds=stage.sla)
                    if not await self._wait(lambda: self._decision_saved, escalate_at) and stage.escalate_to:
                        await self._email(
                            f"decision-escalation-{stage.id}",
                            "decision_escalation",
                            to_staff=stage.escalate_to,
                            waiting=in_words(stage.sla),
                        )
            await self._wait(lambda: self._decision_saved)
        assert self._decision is not None
        await self._send_decision_email(stage, self._decision)

    def _pending_approvers(self, stage: DecisionStage) -> list[str]:
        if stage.approvers:
            return [a for a in stage.approvers if a not in self._votes]
        return [self._pipeline.contact] if self._pipeline.contact else []

    async def _conclude(
        self, decision: DecisionInput, stage: DecisionStage | None = None, *, send_email: bool = True
    ) -> None:
        """Record a final decision (from people, a threshold or a custom stage); unless the decision
        stage sends it itself, tell the candidate."""
        self._decision = decision
        final = Status.approved if decision.decision == Decision.approve else Status.rejected
        self._outcome = final
        await workflow.execute_activity(
            "save_decision",
            SaveDecision(self._input.application_id, decision, workflow.now()),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        await self._record_status(final, "closed" if final == Status.rejected or self._last_stage() else None)
        self._decision_saved = True
        if send_email:
            await self._send_decision_email(stage, decision)

    async def _send_decision_email(self, stage: DecisionStage | None, decision: DecisionInput) -> None:
        self._candidate_heard_news()
        template = "approved" if decision.decision == Decision.approve else "rejected"
        if stage is not None and decision.reason_code:
            template = next(r.template for r in stage.reason_codes if r.code == decision.reason_code)
        await self._email("decision", template)

    def _last_stage(self) -> bool:
        return self._pipeline.stages[-1].id == self._stage

    @workflow.update(name="decide")
    async def decide(self, decision: DecisionInput) -> ApplicationState:
        stage, voter = self._check_decision(decision)
        decision = DecisionInput(
            decision.decision,
            decision.decided_by,
            decision.reason,
            decision.reason_code
            or next(r.code for r in stage.reason_codes if r.decision == decision.decision),
            voter,
            decision.reason_id,
            decision.reason_sha256,
        )
        self._votes[voter] = decision
        approvals = [v for v in self._votes.values() if v.decision == Decision.approve]
        rejections = [v for v in self._votes.values() if v.decision == Decision.reject]
        possible = len(stage.approvers) if stage.approvers else 1
        final: DecisionInput | None = None
        if len(approvals) >= stage.approvals_required:
            final = decision if decision.decision == Decision.approve else approvals[-1]
        elif possible - len(rejections) < stage.approvals_required:
            final = decision
        if final is not None:
            self._deciding = True
            await self._conclude(final, send_email=False)  # the decision stage sends it
        return self.state()

    @decide.validator
    def _validate_decision(self, decision: DecisionInput) -> None:
        self._check_decision(decision)

    def _check_decision(self, decision: DecisionInput) -> tuple[DecisionStage, str]:
        if self._decision is not None or self._deciding:
            made = self._decision.decision if self._decision else "in progress"
            raise conflict(f"a decision has already been made: {made}")
        stage = next((s for s in self._pipeline.stages if s.id == self._stage), None)
        if not isinstance(stage, DecisionStage) or self._status != Status.awaiting_decision or self._closed():
            raise conflict(
                f"the application is {self._status}; a decision is possible only once it is "
                "awaiting_decision (after review)"
            )
        if decision.decision not in set(Decision):
            raise invalid(f"decision must be approve or reject, got '{decision.decision}'")
        if decision.reason_code is not None:
            reason = next((r for r in stage.reason_codes if r.code == decision.reason_code), None)
            if reason is None:
                codes = ", ".join(r.code for r in stage.reason_codes)
                raise invalid(f"unknown reason_code '{decision.reason_code}'; this pipeline uses: {codes}")
            if reason.decision != decision.decision:
                raise invalid(
                    f"reason_code '{reason.code}' is for {reason.decision}, not {decision.decision}"
                )
        if stage.approvers:
            if not decision.approver:
                raise invalid(f"name the approver (approver_id): one of {', '.join(stage.approvers)}")
            if decision.approver not in stage.approvers:
                raise conflict(f"'{decision.approver}' is not an approver here: {', '.join(stage.approvers)}")
            if decision.approver in self._votes:
                raise conflict(f"'{decision.approver}' has already voted")
            return stage, decision.approver
        return stage, decision.decided_by

    # =================================================================================== scheduling

    async def _run_scheduling(self, stage: Scheduling) -> None:
        await self._record_status(Status.in_review, stage_id=stage.id)
        async with self._checking_in(stage.id):
            offer_by = workflow.now() + timedelta(seconds=stage.offer_within)
            if not await self._wait(lambda: bool(self._slots), offer_by) and self._pipeline.contact:
                await self._email(
                    f"slots-needed-{stage.id}",
                    "slots_needed",
                    to_staff=self._pipeline.contact,
                    waiting=in_words(stage.offer_within),
                )
            await self._wait(lambda: bool(self._slots))
        self._candidate_heard_news()
        await self._email(
            f"slots-offered-{stage.id}",
            "slots_offered",
            slots=json.dumps([s.isoformat() for s in self._slots]),
        )
        pick_by = workflow.now() + timedelta(seconds=stage.pick_within)
        if not await self._wait(lambda: self._booked is not None, pick_by):
            self._outcome = Status.expired
            await self._record_status(Status.expired, "closed")
            await self._email(f"scheduling-missed-{stage.id}", "scheduling_missed")
            raise Closed
        assert self._booked is not None
        slot = self._booked
        await workflow.execute_activity(
            "save_booking",
            SaveBooking(self._input.application_id, stage.id, slot, stage.duration_minutes, workflow.now()),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        details = {
            "slot": slot.isoformat(),
            "title": stage.title,
            "duration_minutes": str(stage.duration_minutes),
            "location": stage.location,
        }
        await self._email(f"slot-confirmed-{stage.id}", "slot_confirmed", attach_ics=True, details=details)
        remind_at = slot - timedelta(seconds=stage.reminder_before_slot)
        if remind_at > workflow.now():
            await self._wait(lambda: False, remind_at)
            await self._email(f"slot-reminder-{stage.id}", "slot_reminder", details=details)
        await self._wait(lambda: False, slot + timedelta(minutes=stage.duration_minutes))

    def _current_scheduling(self) -> Scheduling | None:
        stage = next((s for s in self._pipeline.stages if s.id == self._stage), None)
        return stage if isinstance(stage, Scheduling) else None

    @workflow.update(name="offer_slots")
    async def offer_slots(self, offer: SlotOffer) -> ApplicationState:
        self._check_offer(offer)
        self._slots = sorted(offer.slots)
        return self.state()

    @offer_slots.validator
    def _validate_offer(self, offer: SlotOffer) -> None:
        self._check_offer(offer)

    def _check_offer(self, offer: SlotOffer) -> None:
        if self._current_scheduling() is None or self._closed():
            raise conflict(f"the application is at the {self._stage_kind} stage, not scheduling")
        if self._slots:
            raise conflict("slots have already been offered")
        if not 1 <= len(offer.slots) <= 20 or len(set(offer.slots)) != len(offer.slots):
            raise invalid("offer between 1 and 20 different slots")
        if any(s <= workflow.now() for s in offer.slots):
            raise invalid("every slot must be in the future")

    @workflow.update(name="pick_slot")
    async def pick_slot(self, pick: SlotPick) -> ApplicationState:
        self._check_pick(pick)
        self._booked = pick.slot
        return self.state()

    @pick_slot.validator
    def _validate_pick(self, pick: SlotPick) -> None:
        self._check_pick(pick)

    def _check_pick(self, pick: SlotPick) -> None:
        if self._current_scheduling() is None or not self._slots or self._closed():
            raise conflict("no slots are on offer")
        if self._booked is not None:
            raise conflict(f"a slot is already booked: {self._booked.isoformat()}")
        if pick.slot not in self._slots:
            raise invalid("pick one of the offered slots")
        if pick.slot <= workflow.now():
            raise conflict("that slot has passed; pick a later one")

    # =================================================================================== feedback

    async def _run_feedback(self, stage: Feedback) -> None:
        review = next(
            s for s in reversed(self._pipeline.stages[: self._index(stage.id)]) if isinstance(s, Review)
        )
        cards = [self._scorecards[r].ratings for r in sorted(self._scorecards)]
        if not cards:
            return  # ended before review (an assessment fail): the decision email said it all
        content = build_feedback(review, cards, stage.next_steps)

        async def save(released: bool, text: str | None, text_id: str | None = None) -> None:
            await workflow.execute_activity(
                "save_feedback",
                SaveFeedback(
                    self._input.application_id,
                    stage.id,
                    content.strengths,
                    content.to_develop,
                    content.next_steps,
                    text,
                    released,
                    workflow.now(),
                    text_id,
                ),
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
            )

        await save(released=not stage.hold_for_edit, text=None)
        if stage.hold_for_edit:
            self._feedback_held = True
            await self._record_status(self._status, stage_id=stage.id)
            async with self._checking_in(stage.id):
                await self._wait(lambda: self._feedback_release is not None)
            assert self._feedback_release is not None
            self._feedback_held = False
            release = self._feedback_release
            await save(released=True, text=release.text, text_id=release.text_id)
        self._candidate_heard_news()
        await self._email(f"feedback-{stage.id}", "feedback")
        if self._outcome == Status.rejected or self._last_stage():
            await self._record_status(self._status, "closed")

    def _index(self, stage_id: str) -> int:
        return next(i for i, s in enumerate(self._pipeline.stages) if s.id == stage_id)

    @workflow.update(name="release_feedback")
    async def release_feedback(self, release: FeedbackRelease) -> ApplicationState:
        self._check_release(release)
        self._feedback_release = release
        return self.state()

    @release_feedback.validator
    def _validate_release(self, release: FeedbackRelease) -> None:
        self._check_release(release)

    def _check_release(self, release: FeedbackRelease) -> None:
        if not self._feedback_held or self._feedback_release is not None:
            raise conflict("no feedback is waiting to be released")
        if release.text is not None and not release.text.strip():
            raise invalid("edited feedback must not be empty")

    # =================================================================================== onboarding

    async def _run_onboarding(self, stage: Onboarding) -> None:
        started = workflow.now()
        await self._record_status(self._status, stage_id=stage.id)
        modules = [
            {"id": m.id, "title": m.title, "due": (started + timedelta(seconds=m.due)).isoformat()}
            for m in stage.modules
        ]
        await self._email(f"onboarding-{stage.id}", "onboarding_welcome", modules=json.dumps(modules))
        all_done = lambda: all(m.id in self._modules_done for m in stage.modules)  # noqa: E731
        for module in sorted(stage.modules, key=lambda m: m.due):
            remind_at = started + timedelta(seconds=module.due - stage.reminder_before_due)
            if await self._wait(lambda m=module: m.id in self._modules_done, remind_at):  # type: ignore[misc]
                continue
            await self._email(
                f"module-reminder-{module.id}",
                "module_reminder",
                module_title=module.title,
                module_due=(started + timedelta(seconds=module.due)).isoformat(),
            )
        last_due = started + timedelta(seconds=max(m.due for m in stage.modules) + stage.grace_after_last_due)
        if await self._wait(all_done, last_due):
            await self._email(f"onboarding-complete-{stage.id}", "onboarding_complete")
        if self._last_stage():
            await self._record_status(self._status, "closed")

    @workflow.update(name="complete_module")
    async def complete_module(self, completion: ModuleCompletion) -> ApplicationState:
        self._check_module(completion)
        self._modules_done.add(completion.module_id)
        await workflow.execute_activity(
            "save_module_progress",
            SaveModuleProgress(self._input.application_id, completion.module_id, workflow.now()),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        return self.state()

    @complete_module.validator
    def _validate_module(self, completion: ModuleCompletion) -> None:
        self._check_module(completion)

    def _check_module(self, completion: ModuleCompletion) -> None:
        stage = next((s for s in self._pipeline.stages if s.id == self._stage), None)
        if not isinstance(stage, Onboarding):
            raise conflict(f"the application is at the {self._stage_kind} stage, not onboarding")
        if completion.module_id not in {m.id for m in stage.modules}:
            raise invalid(
                f"unknown module '{completion.module_id}'; modules: {', '.join(m.id for m in stage.modules)}"
            )
        if completion.module_id in self._modules_done:
            raise conflict(f"module '{completion.module_id}' is already complete")

    # =================================================================================== custom

    async def _run_custom(self, stage: Custom) -> None:
        if not self._status.is_final:
            await self._record_status(self._status, stage_id=stage.id)
        given = CustomStageInput(self._input.application_id, stage.id, self._outcome, self._pipeline.contact)
        if stage.workflow:
            outcome = await self._custom_workflow(stage, given)
        else:
            outcome = await workflow.execute_activity(
                stage.activity,
                given,
                result_type=str,
                start_to_close_timeout=timedelta(seconds=stage.timeout),
                retry_policy=DB_RETRY,
            )
        if outcome == "reject":
            await self._conclude(
                DecisionInput("reject", f"custom:{stage.activity or stage.workflow}", None, None, None)
            )
        elif self._last_stage():
            await self._record_status(self._status, "closed")

    async def _custom_workflow(self, stage: Custom, given: CustomStageInput) -> str:
        handle = await workflow.start_child_workflow(
            stage.workflow, given, id=f"custom-{self._input.application_id}-{stage.id}", result_type=str
        )
        try:
            await self._wait(handle.done)
        except Closed:
            handle.cancel()  # the application ended: so does its custom stage
            raise
        try:
            outcome: str = handle.result()
        except Exception as error:  # a failed custom stage must not strand the application
            workflow.logger.warning("custom stage %s failed: %s", stage.id, error)
            return "continue"
        return outcome

    # =================================================================================== check-ins

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

    # =================================================================================== queries

    @workflow.query(name="state")
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
            pending_extension_seconds=self._pending_extension.seconds if self._pending_extension else None,
            assessment_ends_at=self._assessment_ends_at(),
            assessment_score=self._assessment_score,
            assessment_passed=self._assessment_passed,
            reviewers=sorted(self._assigned),
            combined_score=self._combined,
            votes={k: v.decision for k, v in sorted(self._votes.items())},
            slots=list(self._slots),
            booked_slot=self._booked,
            modules_done=sorted(self._modules_done),
            feedback_held=self._feedback_held,
            outcome=self._outcome,
        )

    @workflow.query(name="portal")
    def portal(self) -> PortalState:
        return PortalState(
            consent_at=self._consent_at,
            takes={q: self._takes_used(q) for q in sorted({*self._opened, *self._takes})},
            open_takes=self._open_takes(),
        )

    def _open_takes(self) -> dict[str, QuestionTake]:
        now = workflow.now()
        takes = {}
        for question_id in sorted(self._opened):
            question = self._pipeline.question(question_id)
            take = self._open_take(question, now) if question is not None else None
            if take is not None:
                takes[question_id] = take
        return takes

    def _assessment_ends_at(self) -> datetime | None:
        stage = self._current_assessment()
        if stage is None or stage.id not in self._assessment_started:
            return None
        return self._assessment_started[stage.id] + timedelta(seconds=stage.time_limit)

    # =================================================================================== signals

    @workflow.signal(name="link_opened")
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

    # =================================================================================== withdrawal

    @workflow.update(name="withdraw")
    async def withdraw(self, withdrawal: WithdrawInput) -> ApplicationState:
        self._check_withdrawal()
        self._withdrawal = withdrawal
        self._outcome = Status.withdrawn
        await self._record_status(Status.withdrawn, "closed")
        for child in list(self._assigned.values()):
            try:
                await workflow.get_external_workflow_handle(child).signal(ReviewTaskWorkflow.cancel)
            except Exception:  # the task already ended: nothing to cancel
                workflow.logger.info("review task %s had already ended", child)
        return self.state()

    @withdraw.validator
    def _validate_withdrawal(self, withdrawal: WithdrawInput) -> None:
        self._check_withdrawal()

    def _check_withdrawal(self) -> None:
        if (
            self._status.is_final
            or self._withdrawal is not None
            or self._decision is not None
            or self._deciding
        ):
            raise conflict(f"the application is already {self._status}")

    # =================================================================================== effects

    async def _record_status(self, status: Status, stage_id: str | None = None) -> None:
        if self._status.is_final and not status.is_final:
            return  # an application that has ended stays ended, whatever a stage still in flight says
        self._status = status
        if stage_id is not None:
            self._stage = stage_id
        await workflow.execute_activity(
            "record_status",
            StatusChange(
                self._input.application_id, str(status), self._stage, workflow.now(), self._deadline
            ),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
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


def _take(question: Question, number: int, opened_at: datetime, allowed: int | None) -> QuestionTake:
    think = question.think_time or 0
    limit = question.answer_time_limit
    return QuestionTake(
        question_id=question.id,
        take=number,
        opened_at=opened_at,
        think_ends_at=opened_at + timedelta(seconds=think) if question.think_time is not None else None,
        answer_ends_at=opened_at + timedelta(seconds=think + limit) if limit is not None else None,
        takes_allowed=allowed,
    )


__all__ = ["ApplicationWorkflow"]
