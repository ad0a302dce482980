"""One reviewer's task: its own lifecycle, as a child of the application's workflow.

Emails the reviewer, reminds them before the SLA, and ends "completed" when the parent signals that
the scorecard is in, "overdue" when the SLA passes first (the parent then reassigns), or "cancelled"
when the application ends.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from offhours import ids
    from offhours.contracts import EmailRequest, ReviewTaskInput

from workflows.emails import send_email


@workflow.defn(name="ReviewTask")
class ReviewTaskWorkflow:
    def __init__(self) -> None:
        self._done = False
        self._cancelled = False

    @workflow.run
    async def run(self, task: ReviewTaskInput) -> str:
        started = workflow.now()
        due = started + timedelta(seconds=task.sla_seconds)
        # The outbox keys messages per application, so the task's own suffix is unique enough.
        task_key = workflow.info().workflow_id.removeprefix(ids.review_task_prefix(task.application_id))
        await self._email(task, f"review-assigned-{task_key}", "review_assigned", due=due.isoformat())
        remind_at = task.sla_seconds - task.reminder_before_sla_seconds
        if not await self._wait(remind_at):
            await self._email(task, f"review-reminder-{task_key}", "review_reminder", due=due.isoformat())
            if not await self._wait(task.sla_seconds - remind_at):
                return "overdue"
        return "cancelled" if self._cancelled else "completed"

    async def _wait(self, seconds: float) -> bool:
        try:
            await workflow.wait_condition(lambda: self._done or self._cancelled, timeout=seconds)
        except TimeoutError:
            return False
        return True

    @workflow.signal(name="complete")
    def complete(self) -> None:
        self._done = True

    @workflow.signal(name="cancel")
    def cancel(self) -> None:
        self._cancelled = True

    async def _email(self, task: ReviewTaskInput, key: str, template: str, **extra: str) -> None:
        request = EmailRequest(task.application_id, key, template, None, dict(extra), to_staff=task.reviewer)
        await send_email(request)
