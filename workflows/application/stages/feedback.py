"""Written feedback built from the panel's ratings (``pipelines.scoring.build_feedback``), sent at
once or held until a recruiter releases it, possibly edited."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from offhours.contracts import ApplicationState, FeedbackRelease, SaveFeedback
    from pipelines.scoring import build_feedback
    from pipelines.stages import Feedback, Review

from ..base import ApplicationBase, Status, conflict, invalid


class FeedbackStage(ApplicationBase):
    async def _run_feedback(self, stage: Feedback) -> None:
        state = self._feedback
        review = next(
            s for s in reversed(self._pipeline.stages[: self._index(stage.id)]) if isinstance(s, Review)
        )
        # The review the feedback follows: its own scorecards when it kept them apart.
        scorecards = self._review.by_stage.get(review.id, self._review.scorecards)
        cards = [scorecards[r].ratings for r in sorted(scorecards)]
        if not cards:
            return  # ended before review (an assessment fail): the decision email said it all
        content = build_feedback(review, cards, stage.next_steps)

        async def save(released: bool, text: str | None, text_id: str | None = None) -> None:
            await self._db(
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
            )

        await save(released=not stage.hold_for_edit, text=None)
        if stage.hold_for_edit:
            state.held = True
            await self._record_status(self._status, stage_id=stage.id)
            async with self._checking_in(stage.id):
                await self._wait(lambda: state.release is not None)
            assert state.release is not None
            state.held = False
            release = state.release
            await save(released=True, text=release.text, text_id=release.text_id)
        self._candidate_heard_news()
        await self._email(f"feedback-{stage.id}", "feedback")
        if self._outcome == Status.rejected or self._last_stage():
            await self._record_status(self._status, "closed")

    @workflow.update(name="release_feedback")
    async def release_feedback(self, release: FeedbackRelease) -> ApplicationState:
        self._feedback.release = release
        return self.state()

    @release_feedback.validator
    def _validate_release(self, release: FeedbackRelease) -> None:
        if not self._feedback.held or self._feedback.release is not None:
            raise conflict("no feedback is waiting to be released")
        if release.text is not None and not release.text.strip():
            raise invalid("edited feedback must not be empty")
