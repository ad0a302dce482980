"""Custom stages written as child workflows by ops (registered in pipelines/custom.py).

Each takes a CustomStageInput and returns "continue" or "reject". Deterministic code only, like every
workflow; side effects through activities.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from offhours.contracts import (
        CONFLICT,
        INVALID,
        CustomStageInput,
        EmailRequest,
        StageOutcome,
    )

from workflows.emails import send_email

REFERENCE_WINDOW = timedelta(days=14)
REFERENCE_EMAIL_RETRY = RetryPolicy(
    maximum_interval=timedelta(minutes=10), non_retryable_error_types=["PermanentEmailFailure"]
)


@workflow.defn(name="ReferenceCheck")
class ReferenceCheckWorkflow:
    """Asks the pipeline's contact person to take up references and waits for their outcome. No
    outcome within two weeks is no reason to reject: the application continues."""

    def __init__(self) -> None:
        self._outcome: StageOutcome | None = None

    @workflow.run
    async def run(self, stage: CustomStageInput) -> str:
        if stage.contact:
            request = EmailRequest(
                stage.application_id,
                f"reference-check-{stage.stage_id}",
                "reference_check",
                to_staff=stage.contact,
            )
            await send_email(request, retry_policy=REFERENCE_EMAIL_RETRY)
        try:
            await workflow.wait_condition(lambda: self._outcome is not None, timeout=REFERENCE_WINDOW)
        except TimeoutError:
            return "continue"
        assert self._outcome is not None
        return self._outcome.outcome

    @workflow.update(name="record_outcome")
    def record_outcome(self, outcome: StageOutcome) -> str:
        self._outcome = outcome
        return outcome.outcome

    @record_outcome.validator
    def _validate_outcome(self, outcome: StageOutcome) -> None:
        if self._outcome is not None:
            raise ApplicationError(
                f"the outcome has already been recorded: {self._outcome.outcome}",
                type=CONFLICT,
                non_retryable=True,
            )
        if outcome.outcome not in ("continue", "reject"):
            raise ApplicationError("outcome must be continue or reject", type=INVALID, non_retryable=True)
