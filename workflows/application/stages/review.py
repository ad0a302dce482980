"""Review: reviewers drawn from the stage's pool, one review task (a child workflow) each, overdue
tasks reassigned, scorecards taken, the panel's combined score and what it decides by threshold."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from offhours import ids
    from offhours.contracts import (
        ApplicationState,
        AssignReviewers,
        DecisionInput,
        ReleaseAssignment,
        ReviewTaskInput,
        SaveScore,
        SaveScorecard,
        ScorecardInput,
    )
    from offhours.states import Recommendation
    from pipelines.scoring import combined_score
    from pipelines.stages import Decision as DecisionStage
    from pipelines.stages import Review
    from workflows.review_task import ReviewTaskWorkflow

from ..base import DB_RETRY, DB_TIMEOUT, ApplicationBase, Status, conflict, invalid


class ReviewStage(ApplicationBase):
    async def _run_review(self, stage: Review) -> None:
        state = self._review
        if workflow.patched("scorecards-per-review-stage"):
            # This stage counts and scores its own scorecards only. Before, a second review stage
            # counted the first one's as its own and scored them on its own criteria.
            state.by_stage[stage.id] = {}
        async with self._checking_in(stage.id):
            chosen = await self._assign(stage, stage.reviewers)
            tasks = [asyncio.create_task(self._review_task(stage, reviewer)) for reviewer in chosen]
            # Scorecards are taken once every reviewer's task has started.
            await self._wait(lambda: all(r in state.assigned for r in chosen))
            await self._record_status(Status.in_review, stage_id=stage.id)
            await self._wait(lambda: len(self._scorecards_of(stage.id)) >= stage.reviewers)
            await asyncio.gather(*tasks)
        scorecards = self._scorecards_of(stage.id)
        cards = [scorecards[r].ratings for r in sorted(scorecards)]
        combined = state.combined = combined_score(stage, cards)
        await self._db("save_score", SaveScore(self._input.application_id, combined, workflow.now()))
        if stage.auto_reject_below is not None and combined < stage.auto_reject_below:
            await self._conclude(DecisionInput("reject", "system:auto-reject", None, None, None))
        elif stage.auto_advance_at is not None and combined >= stage.auto_advance_at:
            state.auto_decision = "approve"
        else:
            # Straight into a decision: one write names both the status and the stage. Any other
            # stage that follows records its own.
            following = self._pipeline.stages[self._index(stage.id) + 1 :]
            if following and isinstance(following[0], DecisionStage):
                await self._record_status(Status.awaiting_decision, stage_id=following[0].id)
        state.done.add(stage.id)

    async def _assign(self, stage: Review, count: int) -> list[str]:
        async with self._review.assigning:
            return await self._assign_locked(stage, count)

    async def _assign_locked(self, stage: Review, count: int) -> list[str]:
        seen = self._review.reviewers_seen
        chosen: list[str] = await workflow.execute_activity(
            "assign_reviewers",
            AssignReviewers(
                self._input.application_id,
                stage.id,
                stage.pool,
                count,
                list(seen),
                workflow.now() + timedelta(seconds=stage.sla),
                workflow.now(),
            ),
            result_type=list[str],
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        seen.extend(r for r in chosen if r not in seen)
        return chosen

    async def _review_task(self, stage: Review, reviewer: str) -> None:
        """One reviewer's task as a child workflow. Overdue: reassigned to another pool member (the
        same one again when the pool has nobody else), up to max_reassignments; after that the
        assignment simply stays open."""
        state = self._review
        reassignments = 0
        while not self._scored(reviewer) and not self._closed():
            state.task_seq += 1
            child_id = ids.review_task_workflow(self._input.application_id, stage.id, state.task_seq)
            state.starting += 1
            try:
                handle = await workflow.start_child_workflow(
                    ReviewTaskWorkflow.run,
                    ReviewTaskInput(
                        self._input.application_id, stage.id, reviewer, stage.sla, stage.reminder_before_sla
                    ),
                    id=child_id,
                )
            finally:
                state.starting -= 1
            state.assigned[reviewer] = child_id
            state.tasks[child_id] = handle
            if self._closed():  # the application ended while the task was starting
                await self._cancel_review_task(child_id, handle)
            try:
                outcome = await handle
            finally:
                state.tasks.pop(child_id, None)
            if outcome != "overdue" or self._scored(reviewer) or self._closed():
                return
            if reassignments >= stage.max_reassignments:
                return
            reassignments += 1
            # Decided in this same step: from here the overdue reviewer's scorecard is refused.
            state.assigned.pop(reviewer, None)
            replacement = await self._assign(stage, 1)
            if replacement:
                await self._db(
                    "release_assignment",
                    ReleaseAssignment(
                        self._input.application_id, stage.id, reviewer, "reassigned", workflow.now()
                    ),
                )
                reviewer = replacement[0]

    def _scorecards_of(self, stage_id: str) -> dict[str, ScorecardInput]:
        """The scorecards a review stage counts and scores: its own (or, in applications started
        before each stage kept its own, every stage's)."""
        return self._review.by_stage.get(stage_id, self._review.scorecards)

    def _scored(self, reviewer: str) -> bool:
        return reviewer in self._review.scorecards or reviewer in self._review.reviewing

    async def _end_review_tasks(self) -> None:
        """No review task outlives its application: cancel those still open and wait for them."""
        state = self._review
        await workflow.wait_condition(lambda: state.starting == 0)
        for child_id, handle in list(state.tasks.items()):
            await self._cancel_review_task(child_id, handle)
        await workflow.wait_condition(lambda: not state.tasks)

    async def _cancel_review_task(
        self, child_id: str, handle: workflow.ChildWorkflowHandle[Any, str]
    ) -> None:
        try:
            await handle.signal(ReviewTaskWorkflow.cancel)
        except Exception:  # noqa: BLE001 (it ended on its own meanwhile)
            workflow.logger.info("review task %s had already ended", child_id)

    async def _cancel_open_reviews(self) -> None:
        """The application ended (withdrawn): every open assignment's task is told so."""
        for child in list(self._review.assigned.values()):
            try:
                await workflow.get_external_workflow_handle(child).signal(ReviewTaskWorkflow.cancel)
            except Exception:  # noqa: BLE001 (the task already ended: nothing to cancel)
                workflow.logger.info("review task %s had already ended", child)

    # ---------------------------------------------------------------------------- scorecards

    @workflow.update(name="submit_scorecard")
    async def submit_scorecard(self, scorecard: ScorecardInput) -> ApplicationState:
        state = self._review
        reviewer = scorecard.reviewer or self._open_assignments()[0]  # the validator named one
        review = self._current_review()
        assert review is not None  # the validator refused the update otherwise
        card = ScorecardInput(
            reviewer,
            scorecard.overall_recommendation,
            scorecard.ratings,
            scorecard.notes,
            scorecard.submitted_by,
            scorecard.notes_id,
            scorecard.notes_sha256,
        )
        state.reviewing.add(reviewer)
        await self._db(
            "save_scorecard", SaveScorecard(self._input.application_id, card, workflow.now(), self._stage)
        )
        child = state.assigned.pop(reviewer, None)
        state.scorecards[reviewer] = card
        if review.id in state.by_stage:
            state.by_stage[review.id][reviewer] = card
        if child is not None:
            try:
                await workflow.get_external_workflow_handle(child).signal(ReviewTaskWorkflow.complete)
            except Exception:  # noqa: BLE001 (the task had already ended (overdue): the scorecard still counts)
                workflow.logger.info("review task %s had already ended", child)
        if len(self._scorecards_of(review.id)) >= review.reviewers:
            # The last scorecard: answer once the panel's score and what follows are settled.
            await workflow.wait_condition(lambda: review.id in state.done or self._closed())
        return self.state()

    @submit_scorecard.validator
    def _validate_scorecard(self, scorecard: ScorecardInput) -> None:
        review = self._current_review()
        if review is None or self._status != Status.in_review or self._closed():
            raise conflict(f"the application is {self._status}; it takes a scorecard only while in_review")
        open_assignments = self._open_assignments()
        reviewer = scorecard.reviewer
        if not reviewer:
            if len(open_assignments) != 1:
                listed = ", ".join(open_assignments) or "none"
                raise invalid(f"name the reviewer (reviewer_id); open assignments: {listed}")
            reviewer = open_assignments[0]
        if self._scored(reviewer):
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

    def _open_assignments(self) -> list[str]:
        return sorted(r for r in self._review.assigned if r not in self._review.reviewing)

    def _current_review(self) -> Review | None:
        stage = next((s for s in self._pipeline.stages if s.id == self._stage), None)
        return stage if isinstance(stage, Review) else None
