"""A custom stage: an activity or a child workflow registered by the deployment (a reference check,
a background check) whose outcome may reject."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from offhours import ids
    from offhours.contracts import CustomStageInput, DecisionInput
    from pipelines.stages import Custom

from ..base import DB_RETRY, ApplicationBase, Closed


class CustomStage(ApplicationBase):
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
            stage.workflow,
            given,
            id=ids.custom_stage_workflow(self._input.application_id, stage.id),
            result_type=str,
        )
        try:
            await self._wait(handle.done)
        except Closed:
            handle.cancel()  # the application ended: so does its custom stage
            raise
        try:
            outcome: str = handle.result()
        except Exception as error:  # noqa: BLE001 (a failed custom stage must not strand the application)
            workflow.logger.warning("custom stage %s failed: %s", stage.id, error)
            return "continue"
        return outcome
