"""Onboarding after an offer: modules with due dates, reminders before each, a welcome and a
completion email."""

from __future__ import annotations

import json
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from offhours.contracts import ApplicationState, ModuleCompletion, SaveModuleProgress
    from pipelines.stages import Onboarding

from ..base import ApplicationBase, conflict, invalid


class OnboardingStage(ApplicationBase):
    async def _run_onboarding(self, stage: Onboarding) -> None:
        done = self._onboarding.modules_done
        started = workflow.now()
        self._onboarding.started_at = started
        await self._record_status(self._status, stage_id=stage.id)
        modules = [
            {"id": m.id, "title": m.title, "due": (started + timedelta(seconds=m.due)).isoformat()}
            for m in stage.modules
        ]
        await self._email(f"onboarding-{stage.id}", "onboarding_welcome", modules=json.dumps(modules))
        all_done = lambda: all(m.id in done for m in stage.modules)  # noqa: E731
        for module in sorted(stage.modules, key=lambda m: m.due):
            remind_at = started + timedelta(seconds=module.due - stage.reminder_before_due)
            if await self._wait(lambda m=module: m.id in done, remind_at):  # type: ignore[misc]
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
        self._onboarding.modules_done.add(completion.module_id)
        await self._db(
            "save_module_progress",
            SaveModuleProgress(self._input.application_id, completion.module_id, workflow.now()),
        )
        return self.state()

    @complete_module.validator
    def _validate_module(self, completion: ModuleCompletion) -> None:
        stage = next((s for s in self._pipeline.stages if s.id == self._stage), None)
        if not isinstance(stage, Onboarding):
            raise conflict(f"the application is at the {self._stage_kind} stage, not onboarding")
        if completion.module_id not in {m.id for m in stage.modules}:
            raise invalid(
                f"unknown module '{completion.module_id}'; modules: {', '.join(m.id for m in stage.modules)}"
            )
        if completion.module_id in self._onboarding.modules_done:
            raise conflict(f"module '{completion.module_id}' is already complete")
