"""Emails that belong to no stage: a candidate's question to their contact, the contact's answer, a
deletion request's confirmation. A small workflow per notice gives them the same durable, retried,
exactly-once delivery as the stages' emails, also after the application's own workflow has closed."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from offhours.contracts import EmailRequest, EmailResult


@workflow.defn(name="Notice")
class NoticeWorkflow:
    @workflow.run
    async def run(self, emails: list[EmailRequest]) -> list[str]:
        """Send each email; return the message keys that could not be delivered."""
        failed = []
        for email in emails:
            try:
                await workflow.execute_activity(
                    "send_email",
                    email,
                    result_type=EmailResult,
                    start_to_close_timeout=timedelta(seconds=90),
                    # A message's row may be committed just after the notice starts; give up after a
                    # day (the API stores nothing when the notice could not start).
                    schedule_to_close_timeout=timedelta(days=1),
                    retry_policy=RetryPolicy(
                        initial_interval=timedelta(seconds=2),
                        maximum_interval=timedelta(minutes=10),
                        non_retryable_error_types=["PermanentEmailFailure"],
                    ),
                )
            except ActivityError as error:
                workflow.logger.warning(
                    "notice %s could not be delivered: %s", email.message_key, error.cause
                )
                failed.append(email.message_key)
        return failed
