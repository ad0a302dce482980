"""The timed assessment: started by the candidate, answers saved one by one, submitted or ended by
its time limit, graded by ``pipelines.scoring.grade``; a fail may reject."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from offhours.contracts import ApplicationState, AssessmentAnswerInput, SaveAssessment
    from pipelines.scoring import grade
    from pipelines.stages import Assessment

from ..base import ACCEPTS_ANSWERS, ApplicationBase, Closed, Status, conflict, invalid


class AssessmentStage(ApplicationBase):
    async def _run_assessment(self, stage: Assessment) -> None:
        state = self._assessment
        if self._status == Status.invited:
            await self._record_status(Status.in_progress)
        else:
            await self._record_status(self._status)
        await self._wait_for_candidate(lambda: stage.id in state.started)
        ends_at = state.started[stage.id] + timedelta(seconds=stage.time_limit)
        if not await self._wait(lambda: stage.id in state.done, ends_at):
            state.done.add(stage.id)  # time is up: what was answered counts
            state.timed_out.add(stage.id)
        answers = dict(state.answers.get(stage.id, {}))
        result = grade(stage, answers)
        state.score = round(result.share, 4)
        state.passed = result.passed
        await self._db(
            "save_assessment",
            SaveAssessment(
                self._input.application_id,
                stage.id,
                answers,
                result.points,
                result.max_points,
                result.passed,
                state.started[stage.id],
                workflow.now(),
            ),
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

    def _assessment_ends_at(self) -> datetime | None:
        stage = self._current_assessment()
        if stage is None or stage.id not in self._assessment.started:
            return None
        return self._assessment.started[stage.id] + timedelta(seconds=stage.time_limit)

    def _open_assessment(self, must_be_started: bool) -> Assessment:
        """The assessment the candidate may act on now, or the refusal that says why not."""
        if self._closed() or self._status not in ACCEPTS_ANSWERS:
            raise conflict(f"the application is {self._status} and takes no more answers")
        stage = self._current_assessment()
        if stage is None:
            raise conflict("there is no assessment to take now; finish the interview first")
        started = self._assessment.started.get(stage.id)
        if must_be_started:
            if started is None:
                raise conflict("start the assessment first")
            if workflow.now() >= started + timedelta(seconds=stage.time_limit):
                raise conflict("the assessment's time limit has passed")
        elif started is not None:
            raise conflict("the assessment has already been started")
        return stage

    def _assessment_now(self) -> Assessment:
        """In a handler: the assessment its validator accepted the update for."""
        stage = self._current_assessment()
        assert stage is not None  # the validator refused the update otherwise
        return stage

    @workflow.update(name="start_assessment")
    async def start_assessment(self) -> ApplicationState:
        stage = self._assessment_now()
        self._assessment.started[stage.id] = workflow.now()
        self._assessment.answers[stage.id] = {}
        return self.state()

    @start_assessment.validator
    def _validate_start_assessment(self) -> None:
        self._open_assessment(must_be_started=False)
        if self._deadline is not None and workflow.now() >= self._deadline:
            raise conflict(f"the deadline ({self._deadline.isoformat()}) has passed")

    @workflow.update(name="save_assessment_answer")
    async def save_assessment_answer(self, answer: AssessmentAnswerInput) -> ApplicationState:
        stage = self._assessment_now()
        self._assessment.answers[stage.id][answer.question_id] = answer.value
        return self.state()

    @save_assessment_answer.validator
    def _validate_assessment_answer(self, answer: AssessmentAnswerInput) -> None:
        stage = self._open_assessment(must_be_started=True)
        if not any(q.id == answer.question_id for q in stage.questions):
            known = ", ".join(q.id for q in stage.questions)
            raise invalid(f"unknown question_id '{answer.question_id}'; this assessment asks: {known}")
        if not answer.value.strip() or len(answer.value) > 1000:
            raise invalid("an assessment answer must be between 1 and 1000 characters")

    @workflow.update(name="submit_assessment")
    async def submit_assessment(self) -> ApplicationState:
        stage = self._assessment_now()
        self._assessment.done.add(stage.id)
        return self.state()

    @submit_assessment.validator
    def _validate_submit_assessment(self) -> None:
        self._open_assessment(must_be_started=True)
