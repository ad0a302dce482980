"""The baseline for bench_pipeline.py: a bare workflow with the product workflow's happy-path shape.

It runs the same number of activities, at the same points, as ``workflows.application`` does for one
application from invite to decision, and takes the same five updates (two answers, submit, scorecard,
decision). The activities do nothing and there is no API, database, email or reminder timer, so the
difference between the two runs is what the product adds on top of Temporal itself.

It lives in its own module (not in the benchmark script) so that the worker can load it in the
workflow sandbox, as it does the product workflow.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

TIMEOUT = timedelta(seconds=30)


# One no-op per kind of activity the product workflow runs.
@activity.defn(name="baseline_record_status")
async def record_status(_step: str) -> None:
    return None


@activity.defn(name="baseline_send_email")
async def send_email(_step: str) -> None:
    return None


@activity.defn(name="baseline_save_answer")
async def save_answer(_step: str) -> None:
    return None


@activity.defn(name="baseline_save_scorecard")
async def save_scorecard(_step: str) -> None:
    return None


@activity.defn(name="baseline_save_decision")
async def save_decision(_step: str) -> None:
    return None


@activity.defn(name="baseline_assign_reviewers")
async def assign_reviewers(_step: str) -> None:
    return None


@activity.defn(name="baseline_save_score")
async def save_score(_step: str) -> None:
    return None


@activity.defn(name="baseline_schedule_retention")
async def schedule_retention(_step: str) -> None:
    return None


ACTIVITIES = [
    record_status,
    send_email,
    save_answer,
    save_scorecard,
    save_decision,
    assign_reviewers,
    save_score,
    schedule_retention,
]


@workflow.defn(name="BenchBaselineTask")
class BaselineTaskWorkflow:
    """The reviewer's task: a child workflow with one email and a completion signal."""

    def __init__(self) -> None:
        self._done = False

    @workflow.run
    async def run(self, application_id: str) -> str:  # noqa: ARG002 (the workflow's input, also given to init)
        await workflow.execute_activity(
            "baseline_send_email", "review-assigned", start_to_close_timeout=TIMEOUT
        )
        await workflow.wait_condition(lambda: self._done)
        return "completed"

    @workflow.signal
    def complete(self) -> None:
        self._done = True


@workflow.defn(name="BenchBaseline")
class BaselineWorkflow:
    @workflow.init
    def __init__(self, application_id: str) -> None:  # noqa: ARG002 (the workflow's input, also given to init)
        self._status = "invited"
        self._answers: set[str] = set()
        self._submitted = False
        self._scored = False
        self._decision: str | None = None
        self._reviewed = False
        self._task: workflow.ChildWorkflowHandle[BaselineTaskWorkflow, str]

    @workflow.run
    async def run(self, application_id: str) -> str:
        await self._activity("baseline_record_status", "invited")
        await self._activity("baseline_send_email", "invite")
        await workflow.wait_condition(lambda: self._submitted)
        await self._activity("baseline_send_email", "submitted")
        await self._activity("baseline_assign_reviewers", "review")
        self._task = await workflow.start_child_workflow(
            BaselineTaskWorkflow.run, application_id, id=f"bench-task-{application_id}"
        )
        self._status = "in_review"
        await self._activity("baseline_record_status", "in_review")
        await workflow.wait_condition(lambda: self._scored)
        await self._task
        await self._activity("baseline_save_score", "review")
        self._status = "awaiting_decision"
        await self._activity("baseline_record_status", "awaiting_decision")
        self._reviewed = True
        await workflow.wait_condition(lambda: self._decision is not None)
        await self._activity("baseline_send_email", "decision")
        await self._activity("baseline_schedule_retention", "closed")  # the product's retention clock
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._status

    @workflow.query
    def status(self) -> str:
        return self._status

    @workflow.update
    async def save_answer(self, question_id: str) -> str:
        await self._activity("baseline_save_answer", question_id)
        self._answers.add(question_id)
        if self._status == "invited":
            self._status = "in_progress"
            await self._activity("baseline_record_status", "in_progress")
        return self._status

    @workflow.update
    async def submit(self) -> str:
        self._status = "submitted"
        await self._activity("baseline_record_status", "submitted")
        self._submitted = True
        return self._status

    @workflow.update
    async def submit_scorecard(self, recommendation: str) -> str:
        await self._activity("baseline_save_scorecard", recommendation)
        await self._task.signal(BaselineTaskWorkflow.complete)
        self._scored = True
        await workflow.wait_condition(lambda: self._reviewed)
        return self._status

    @workflow.update
    async def decide(self, decision: str) -> str:
        self._decision = decision
        await self._activity("baseline_save_decision", decision)
        self._status = "approved" if decision == "approve" else "rejected"
        await self._activity("baseline_record_status", self._status)
        return self._status

    async def _activity(self, name: str, step: str) -> None:
        await workflow.execute_activity(name, step, start_to_close_timeout=TIMEOUT)
