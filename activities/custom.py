"""Custom stages registered by ops (their names are listed in pipelines/custom.py)."""

from __future__ import annotations

from temporalio import activity

from activities.email import EmailActivities
from offhours.contracts import CustomStageInput, EmailRequest
from offhours.db import session_scope
from offhours.models import Application
from pipelines.base import pipeline_from_snapshot
from pipelines.stages import Decision


class CustomStages:
    def __init__(self, email: EmailActivities) -> None:
        self.email = email

    @activity.defn(name="notify_hiring_manager")
    async def notify_hiring_manager(self, stage: CustomStageInput) -> str:
        """Tell the hiring manager (the decision stage's escalation contact, else the pipeline's
        contact) that an application was approved, so they can start the paperwork."""
        with session_scope(self.email.engine) as session:
            application = session.get(Application, stage.application_id)
            assert application is not None
            pipeline = pipeline_from_snapshot(application.pipeline_snapshot)
        decision = pipeline.first(Decision)
        manager = (decision.escalate_to if decision else None) or pipeline.contact
        if manager is not None and application.status == "approved":
            await self.email.send_email(
                EmailRequest(
                    stage.application_id,
                    f"custom-{stage.stage_id}",
                    "hiring_manager_notice",
                    to_staff=manager,
                )
            )
        return "continue"
