"""The interview: consent to recording, questions opened (the clock of a timed take starts when the
candidate sees it), answers saved one by one, and the submission."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from offhours.contracts import (
        AnswerInput,
        ApplicationState,
        ConsentInput,
        OpenQuestion,
        QuestionTake,
        SaveAnswer,
        SaveConsent,
    )
    from pipelines.stages import RECORDED, Interview, Question

from ..base import ACCEPTS_ANSWERS, ApplicationBase, Status, conflict, invalid

# A timed answer may arrive this long after its limit: the upload of a recording takes a while.
ANSWER_GRACE = timedelta(seconds=60)
# A recording may last this much longer than its limit: browsers stop a fraction late, encoders round.
DURATION_TOLERANCE_SECONDS = 2.0
# At most this much of an upload's transfer time is forgiven (a slow connection, a large recording),
# and no more than its size explains at a slow mobile rate plus a fixed latency.
MAX_UPLOAD_CREDIT_SECONDS = 600.0
UPLOAD_MIN_BYTES_PER_SECOND = 32 * 1024
UPLOAD_LATENCY_SECONDS = 15.0


class InterviewStage(ApplicationBase):
    async def _run_interview(self, stage: Interview) -> None:
        await self._wait_for_candidate(lambda: stage.id in self._interview.done)
        if self._is_last_candidate_stage(stage.id):
            await self._email("submitted", "submitted")

    # ---------------------------------------------------------------------------- answers

    @workflow.update(name="save_answer")
    async def save_answer(self, answer: AnswerInput) -> ApplicationState:
        state = self._interview
        self._saving += 1
        question_id = answer.question_id
        # Claimed before the write, so that a second upload arriving meanwhile finds the take used
        # (state only, no command: histories recorded before this replay the same).
        if question_id in state.opened:
            state.answered_take[question_id] = len(state.opened[question_id])
        state.saving_takes[question_id] = state.saving_takes.get(question_id, 0) + 1
        try:
            await self._db("save_answer", SaveAnswer(self._input.application_id, answer, workflow.now()))
            state.answers[answer.question_id] = answer
            question = self._pipeline.question(answer.question_id)
            if question is not None and question.type in RECORDED:
                state.takes[answer.question_id] = state.takes.get(answer.question_id, 0) + 1
            if self._status == Status.invited:
                await self._record_status(Status.in_progress)
        finally:
            self._saving -= 1
            state.saving_takes[question_id] -= 1
        return self.state()

    @save_answer.validator
    def _validate_answer(self, answer: AnswerInput) -> None:
        self._check_answer(answer)
        self._check_answer_limits(answer)

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
        if (
            question.type in RECORDED
            and allowed is not None
            and self._interview.takes.get(question.id, 0) >= allowed
        ):
            raise conflict(f"question '{question.id}' allows {allowed} take(s); none left")

    def _check_answer_limits(self, answer: AnswerInput) -> None:
        """Consent, time limits and takes, which the browser also enforces but cannot be trusted
        with."""
        state = self._interview
        question = self._pipeline.question(answer.question_id)
        assert question is not None  # _check_answer has refused unknown questions
        if question.type in RECORDED and state.consent_at is None:
            raise conflict("give your consent to recording before sending a recorded answer")
        allowed = question.takes_allowed
        in_flight = state.takes.get(question.id, 0) + state.saving_takes.get(question.id, 0)
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
        if not state.opened.get(question.id):
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

    # ---------------------------------------------------------------------------- takes

    def _open_take(
        self, question: Question, at: datetime, grace: timedelta = ANSWER_GRACE
    ) -> QuestionTake | None:
        """The question's latest take if it is still open at `at`: opened and in time (plus `grace`),
        and for a recording not yet saved (one upload per take; a written answer can be corrected in
        time)."""
        opened = self._interview.opened.get(question.id, [])
        if not opened:
            return None
        if question.type in RECORDED and self._interview.answered_take.get(question.id) == len(opened):
            return None
        take = take_of(question, len(opened), opened[-1], question.takes_allowed)
        if take.answer_ends_at is not None and at > take.answer_ends_at + grace:
            return None
        return take

    @workflow.update(name="open_question")
    async def open_question(self, request: OpenQuestion) -> QuestionTake:
        """The candidate sees a question. For a timed or recorded question this starts a take (its
        clock runs from now); opening it again while that take is open returns the same take."""
        question = self._find_interview_question(request.question_id)
        assert question is not None  # the validator refused unknown questions
        now = workflow.now()
        current = self._open_take(question, now, grace=timedelta(0))  # over: a new take begins
        if current is not None:
            return current
        if not (question.timed or question.type in RECORDED):
            return take_of(question, 0, now, None)
        opened = self._interview.opened.setdefault(question.id, [])
        opened.append(now)
        return take_of(question, len(opened), now, question.takes_allowed)

    @open_question.validator
    def _validate_open(self, request: OpenQuestion) -> None:
        self._check_accepting()
        question = self._interview_question(request.question_id)
        if question.type in RECORDED and self._interview.consent_at is None:
            raise conflict("give your consent to recording before opening a recorded question")
        if self._open_take(question, workflow.now(), grace=timedelta(0)) is not None:
            return
        allowed = question.takes_allowed
        if allowed is not None and self._takes_used(question.id) >= allowed:
            raise conflict(f"question '{question.id}' allows {allowed} take(s); none left")

    def _takes_used(self, question_id: str) -> int:
        """Takes opened, or saved without opening (untimed answers sent straight to the API)."""
        return max(
            len(self._interview.opened.get(question_id, [])), self._interview.takes.get(question_id, 0)
        )

    def _open_takes(self) -> dict[str, QuestionTake]:
        now = workflow.now()
        takes = {}
        for question_id in sorted(self._interview.opened):
            question = self._pipeline.question(question_id)
            take = self._open_take(question, now) if question is not None else None
            if take is not None:
                takes[question_id] = take
        return takes

    # ---------------------------------------------------------------------------- consent

    @workflow.update(name="give_consent")
    async def give_consent(self, consent: ConsentInput) -> ApplicationState:
        """The candidate agrees to be recorded. The first consent counts; repeating it changes nothing."""
        if self._interview.consent_at is None:
            self._interview.consent_at = workflow.now()
            await self._db(
                "record_consent",
                SaveConsent(self._input.application_id, consent.version, self._interview.consent_at),
            )
        return self.state()

    @give_consent.validator
    def _validate_consent(self, consent: ConsentInput) -> None:
        self._check_accepting()
        if not consent.version:
            raise invalid("the consent must name the version of the wording the candidate saw")

    # ---------------------------------------------------------------------------- submission

    @workflow.update(name="submit")
    async def submit(self) -> ApplicationState:
        interview = self._current_interview()
        assert interview is not None  # the validator refused the update otherwise
        self._saving += 1
        try:
            if self._is_last_candidate_stage(interview.id):
                await self._record_status(Status.submitted, stage_id=interview.id)
            self._interview.done.add(interview.id)
        finally:
            self._saving -= 1
        return self.state()

    @submit.validator
    def _validate_submit(self) -> None:
        self._check_accepting()
        interview = self._current_interview()
        if interview is None:
            raise conflict("the interview has already been submitted")
        if self._saving:
            raise conflict("an answer or submission is being saved; try again in a moment")
        answers = self._interview.answers
        missing = [q.id for q in interview.questions if q.required and q.id not in answers]
        if missing:
            raise conflict(f"answer every required question before submitting; missing: {', '.join(missing)}")

    # ---------------------------------------------------------------------------- where we are

    def _find_interview_question(self, question_id: str) -> Question | None:
        interview = self._current_interview()
        if interview is None:
            return None
        return next((q for q in interview.questions if q.id == question_id), None)

    def _interview_question(self, question_id: str) -> Question:
        interview = self._current_interview()
        if interview is None:
            raise conflict("the interview is done; there is no interview question to answer now")
        question = self._find_interview_question(question_id)
        if question is None:
            known = ", ".join(q.id for q in interview.questions)
            raise invalid(f"unknown question_id '{question_id}'; this interview asks: {known}")
        return question

    def _current_interview(self) -> Interview | None:
        stage = self._active_candidate_stage()
        return stage if isinstance(stage, Interview) else None

    def _check_accepting(self) -> None:
        if self._closed() or self._status not in ACCEPTS_ANSWERS:
            raise conflict(f"the application is {self._status} and takes no more answers")
        if self._active_candidate_stage() is None:
            raise conflict("the application has already been submitted")
        if self._deadline is not None and workflow.now() >= self._deadline:
            raise conflict(f"the deadline ({self._deadline.isoformat()}) has passed")


def take_of(question: Question, number: int, opened_at: datetime, allowed: int | None) -> QuestionTake:
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
