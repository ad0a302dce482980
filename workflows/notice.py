"""Emails that belong to no stage: a candidate's question to their contact, the contact's answer, a
deletion request's confirmation. A small workflow per notice gives them the same durable, retried,
exactly-once delivery as the stages' emails, also after the application's own workflow has closed."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from offhours.contracts import EmailRequest


from workflows.emails import send_email


@workflow.defn(name="Notice")
class NoticeWorkflow:
    @workflow.run
    async def run(self, emails: list[EmailRequest]) -> list[str]:
        """Send each email; return the message keys that could not be delivered."""
        failed = []
        for email in emails:
            # A message's row may be committed just after the notice starts; give up after a day
            # (the API stores nothing when the notice could not start).
            if not await send_email(email, schedule_to_close_timeout=timedelta(days=1)):
                failed.append(email.message_key)
        return failed
