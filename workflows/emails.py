"""Sending an email from any workflow: the send_email activity, retried with backoff while the relay
is away, never sent twice (the activity keeps the outbox). A permanently refused address does not
stop the workflow: the activity records the failure on the email log, the workflow goes on."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from offhours.contracts import EmailRequest, EmailResult

# SMTP relays can be slow or down for a while.
EMAIL_TIMEOUT = timedelta(seconds=90)
EMAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=["PermanentEmailFailure"],
)


async def send_email(
    request: EmailRequest,
    *,
    retry_policy: RetryPolicy = EMAIL_RETRY,
    schedule_to_close_timeout: timedelta | None = None,
) -> bool:
    """True once the relay has the message (now or on an earlier attempt), False if it never will."""
    try:
        await workflow.execute_activity(
            "send_email",
            request,
            result_type=EmailResult,
            start_to_close_timeout=EMAIL_TIMEOUT,
            schedule_to_close_timeout=schedule_to_close_timeout,
            retry_policy=retry_policy,
        )
    except ActivityError as error:
        workflow.logger.warning("email %s could not be delivered: %s", request.message_key, error.cause)
        return False
    return True
