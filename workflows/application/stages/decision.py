"""The decision: one recruiter, or a panel of approvers voting until enough approve (or too many
reject); reminders and an escalation when it waits past its SLA; a decision reached by threshold
after review is taken here without waiting."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from offhours.contracts import ApplicationState, DecisionInput
    from offhours.durations import in_words
    from offhours.states import Decision
    from pipelines.stages import Decision as DecisionStage

from ..base import ApplicationBase, Status, conflict, invalid


class DecisionStageMixin(ApplicationBase):
    async def _run_decision(self, stage: DecisionStage) -> None:
        state = self._decision
        auto_decision = self._review.auto_decision
        if auto_decision is not None:
            code = next(r.code for r in stage.reason_codes if r.decision == auto_decision)
            auto = DecisionInput(auto_decision, "system:auto-advance", None, code, None)
            self._review.auto_decision = None
            await self._conclude(auto, stage)
            return
        if self._status != Status.awaiting_decision or self._stage != stage.id:
            await self._record_status(Status.awaiting_decision, stage_id=stage.id)
        async with self._checking_in(stage.id):
            waiting_since = workflow.now()
            if stage.sla is not None:
                remind_at = waiting_since + timedelta(seconds=stage.sla - stage.reminder_before_sla)
                if not await self._wait(lambda: state.saved, remind_at):
                    for person in self._pending_approvers(stage):
                        await self._email(
                            f"decision-reminder-{stage.id}-{person}", "decision_reminder", to_staff=person
                        )
                    escalate_at = waiting_since + timedelta(seconds=stage.sla)
                    if not await self._wait(lambda: state.saved, escalate_at) and stage.escalate_to:
                        await self._email(
                            f"decision-escalation-{stage.id}",
                            "decision_escalation",
                            to_staff=stage.escalate_to,
                            waiting=in_words(stage.sla),
                        )
            await self._wait(lambda: state.saved)
        assert state.made is not None
        await self._send_decision_email(stage, state.made)

    def _pending_approvers(self, stage: DecisionStage) -> list[str]:
        if stage.approvers:
            return [a for a in stage.approvers if a not in self._decision.votes]
        return [self._pipeline.contact] if self._pipeline.contact else []

    def _current_decision_stage(self) -> DecisionStage | None:
        stage = next((s for s in self._pipeline.stages if s.id == self._stage), None)
        return stage if isinstance(stage, DecisionStage) else None

    @workflow.update(name="decide")
    async def decide(self, decision: DecisionInput) -> ApplicationState:
        state = self._decision
        stage = self._current_decision_stage()
        assert stage is not None  # the validator refused the update otherwise
        voter = decision.approver if stage.approvers and decision.approver else decision.decided_by
        decision = DecisionInput(
            decision.decision,
            decision.decided_by,
            decision.reason,
            decision.reason_code
            or next(r.code for r in stage.reason_codes if r.decision == decision.decision),
            voter,
            decision.reason_id,
            decision.reason_sha256,
        )
        state.votes[voter] = decision
        approvals = [v for v in state.votes.values() if v.decision == Decision.approve]
        rejections = [v for v in state.votes.values() if v.decision == Decision.reject]
        possible = len(stage.approvers) if stage.approvers else 1
        final: DecisionInput | None = None
        if len(approvals) >= stage.approvals_required:
            final = decision if decision.decision == Decision.approve else approvals[-1]
        elif possible - len(rejections) < stage.approvals_required:
            final = decision
        if final is not None:
            state.deciding = True
            await self._conclude(final, send_email=False)  # the decision stage sends it
        return self.state()

    @decide.validator
    def _validate_decision(self, decision: DecisionInput) -> None:
        state = self._decision
        if state.made is not None or state.deciding:
            made = state.made.decision if state.made else "in progress"
            raise conflict(f"a decision has already been made: {made}")
        stage = self._current_decision_stage()
        if stage is None or self._status != Status.awaiting_decision or self._closed():
            raise conflict(
                f"the application is {self._status}; a decision is possible only once it is "
                "awaiting_decision (after review)"
            )
        if decision.decision not in set(Decision):
            raise invalid(f"decision must be approve or reject, got '{decision.decision}'")
        if decision.reason_code is not None:
            reason = next((r for r in stage.reason_codes if r.code == decision.reason_code), None)
            if reason is None:
                codes = ", ".join(r.code for r in stage.reason_codes)
                raise invalid(f"unknown reason_code '{decision.reason_code}'; this pipeline uses: {codes}")
            if reason.decision != decision.decision:
                raise invalid(
                    f"reason_code '{reason.code}' is for {reason.decision}, not {decision.decision}"
                )
        if stage.approvers:
            if not decision.approver:
                raise invalid(f"name the approver (approver_id): one of {', '.join(stage.approvers)}")
            if decision.approver not in stage.approvers:
                raise conflict(f"'{decision.approver}' is not an approver here: {', '.join(stage.approvers)}")
            if decision.approver in state.votes:
                raise conflict(f"'{decision.approver}' has already voted")
