"""One privacy workflow per application (id ``privacy-<application id>``): retention and erasure.

It is started (signal-with-start) by whatever concerns the application's data first: the application
closing (its retention clock starts), an erasure request (from ops, or the candidate's own), or a
legal hold. Its durable timer erases the content when due, unless a legal hold is open: a hold
suspends retention and erasure alike, and its release resumes them where they were. No cron.

Deterministic code only: the erasure itself is an activity.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from offhours.contracts import (
        ClosedNotice,
        EmailRequest,
        EraseApplication,
        ErasureRequest,
        HoldChange,
        PrivacyInput,
    )

from workflows.emails import send_email

ERASE_TIMEOUT = timedelta(minutes=5)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
EMAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=20,
    non_retryable_error_types=["PermanentEmailFailure"],
)


@workflow.defn(name="Privacy")
class PrivacyWorkflow:
    @workflow.init
    def __init__(self, input: PrivacyInput) -> None:
        self._application_id = input.application_id
        self._closed: ClosedNotice | None = None
        self._holds: set[str] = set()
        self._erasure: ErasureRequest | None = None
        self._erased_at: datetime | None = None
        self._told_hold = False
        self._changed = 0

    @workflow.run
    async def run(self, input: PrivacyInput) -> str:
        while True:
            due, request = self._due()
            seen = self._changed
            changed = lambda seen=seen: self._changed != seen  # noqa: E731
            if due is None or self._holds:
                await workflow.wait_condition(changed)
                continue
            remaining = (due - workflow.now()).total_seconds()
            if remaining > 0:
                try:
                    await workflow.wait_condition(changed, timeout=remaining)
                    continue  # something changed (a hold, an earlier erasure): recompute
                except TimeoutError:
                    pass
            if self._holds:
                continue
            break
        await self._erase(input.application_id, request)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return "erased"

    def _due(self) -> tuple[datetime | None, ErasureRequest]:
        """When the content is to be erased, and on whose behalf: the earlier of the retention
        period's end and an erasure request's due date."""
        candidates: list[tuple[datetime, ErasureRequest]] = []
        if self._closed is not None:
            at = self._closed.closed_at + timedelta(days=self._closed.retention_days)
            candidates.append((at, ErasureRequest("system:retention", at, "retention")))
        if self._erasure is not None:
            candidates.append((self._erasure.due, self._erasure))
        if not candidates:
            return None, ErasureRequest("", workflow.now(), "")
        at, request = min(candidates, key=lambda c: c[0])
        return at, request

    async def _erase(self, application_id: str, request: ErasureRequest) -> None:
        if request.source == "candidate":
            # Told before the address itself is erased.
            await self._notify(application_id, "erasure_done", "erasure-done")
        await workflow.execute_activity(
            "erase_application",
            EraseApplication(
                application_id, request.requested_by, request.source, workflow.now(), request.reason_id
            ),
            start_to_close_timeout=ERASE_TIMEOUT,
            retry_policy=RETRY,
        )
        self._erased_at = workflow.now()

    async def _notify(self, application_id: str, template: str, key: str) -> None:
        # An undeliverable address must not stop the erasure.
        await send_email(EmailRequest(application_id, key, template), retry_policy=EMAIL_RETRY)

    # ------------------------------------------------------------------------------ signals

    @workflow.signal(name="closed")
    def closed(self, notice: ClosedNotice) -> None:
        if self._closed is None:
            self._closed = notice
            self._changed += 1

    @workflow.signal(name="hold")
    async def hold(self, change: HoldChange) -> None:
        if change.placed:
            self._holds.add(change.hold_id)
        else:
            self._holds.discard(change.hold_id)
        self._changed += 1
        candidate_asked = self._erasure is not None and self._erasure.source == "candidate"
        if change.placed and candidate_asked and not self._told_hold and self._erased_at is None:
            self._told_hold = True
            await self._notify(self._application_id, "erasure_on_hold", "erasure-on-hold")

    @workflow.signal(name="erase")
    def erase(self, request: ErasureRequest) -> None:
        """An erasure request. The earliest due date wins; ops may bring a candidate's forward."""
        if self._erasure is None or request.due < self._erasure.due:
            earlier_than_promised = self._erasure is not None and self._erasure.source == "candidate"
            self._erasure = ErasureRequest(
                request.requested_by,
                request.due,
                "candidate" if earlier_than_promised else request.source,
                request.reason_id,
                request.reason_sha256,
            )
            self._changed += 1

    @workflow.query(name="status")
    def status(self) -> dict[str, object]:
        due, request = self._due()
        return {
            "held": bool(self._holds),
            "due": due.isoformat() if due else None,
            "source": request.source or None,
            "erased_at": self._erased_at.isoformat() if self._erased_at else None,
        }


__all__ = ["PrivacyWorkflow"]
